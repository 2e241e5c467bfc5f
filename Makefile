# abonne: `make run` to start it, `make test` to test it, `make demo` to see it. All create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run demo browser php deploy-tools postgres-server modules test test-real test-unit bench migrate clean

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

# The browser tests drive Debian's chromium through Playwright (never `playwright install`: no browser downloads).
# Idempotent: installs only what is missing. CI runs as root; elsewhere sudo is used when present.
browser: $(BIN)/abonne
	@test -x /usr/bin/chromium || { SUDO=$$( [ "$$(id -u)" -ne 0 ] && command -v sudo ); \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
	@$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/pip install --quiet playwright

# The PrestaShop module's tests run its PHP (php -l, its pure classes and its curl sender under the php CLI):
# Debian's php-cli and php-curl, installed when missing; the PHP versions this machine lacks are checked by parsing
# with php-parser (npm, pinned in tests/modules/php_syntax/package-lock.json).
php:
	@php -m 2>/dev/null | grep -qx curl || { SUDO=$$( [ "$$(id -u)" -ne 0 ] && command -v sudo ); \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y php-cli php-curl; }
	@command -v npm >/dev/null || { SUDO=$$( [ "$$(id -u)" -ne 0 ] && command -v sudo ); \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm; }
	@test -d tests/modules/php_syntax/node_modules/php-parser || \
		npm ci --silent --no-audit --no-fund --prefix tests/modules/php_syntax

# tests/deploy checks deploy/nginx.conf with `nginx -t` and serves through it (their own nginx on free ports), and
# deploy/compose.yaml with `docker-compose config` (no container daemon needed): Debian's nginx and docker-compose,
# installed when missing.
deploy-tools:
	@test -x /usr/sbin/nginx && command -v docker-compose >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" -ne 0 ] && command -v sudo ); \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends nginx docker-compose; }

# tests/drills/ stops and starts a PostgreSQL server of its own (initdb in a temporary folder, a free port), never the
# shared one: Debian's postgresql server binaries, installed when missing.
postgres-server:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" -ne 0 ] && command -v sudo ); \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; }

test: $(BIN)/abonne browser php deploy-tools postgres-server
	$(BIN)/python -m pytest -q

# The shop-side modules as shops install them: dist/abonne-prestashop.zip (Modules > Upload a module) and
# dist/opencart-3/abonne.ocmod.zip, dist/opencart-4/abonne.ocmod.zip (Extensions > Installer; keep the file name).
modules: $(BIN)/abonne
	$(BIN)/python adapters/prestashop/module/build.py
	$(BIN)/python adapters/opencart/extension/build.py

# The shop scenarios against the real shops named by ABONNE_REAL_* settings (README, "Real shops"); none is an error.
test-real: $(BIN)/abonne
	$(BIN)/python -m tests.shops.targets
	$(BIN)/python -m pytest -q -m real_shop tests/shops

test-unit: $(BIN)/abonne
	$(BIN)/python -m pytest -q tests/unit

# The figures of bench/RESULTS.md in one run (bench/suite.py, under 10 minutes): needs PostgreSQL
# (ABONNE_TEST_DATABASE_URL, as for the tests) and Debian's wrk, installed when missing.
bench: $(BIN)/abonne
	@command -v wrk >/dev/null || { SUDO=$$( [ "$$(id -u)" -ne 0 ] && command -v sudo ); \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; }
	ABONNE_TEST_DATABASE_URL=$${ABONNE_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
		$(BIN)/python bench/suite.py

clean:
	rm -rf $(VENV) instance .pytest_cache
