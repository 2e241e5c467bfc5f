# abonne: `make run` to start it, `make test` to test it, `make demo` to see it. All create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run demo test test-unit migrate clean

$(BIN)/abonne: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/abonne
	$(BIN)/abonne migrate
	$(BIN)/abonne serve --host $(HOST) --port $(PORT)

demo: $(BIN)/abonne
	$(BIN)/abonne demo --port $(PORT) $(DEMO_FLAGS)

migrate: $(BIN)/abonne
	$(BIN)/abonne migrate

test: $(BIN)/abonne
	$(BIN)/python -m pytest -q

test-unit: $(BIN)/abonne
	$(BIN)/python -m pytest -q tests/unit

clean:
	rm -rf $(VENV) instance .pytest_cache
