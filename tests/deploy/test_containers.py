"""deploy/Dockerfile and deploy/compose.yaml, checked without a container daemon (none runs here): the files are
read as Docker reads them and held against the systemd units, gunicorn.conf.py and the CLI."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bridge.cli import main
from tests.deploy.deploy_files import DEPLOY, commands, read_unit
from tests.shops.abonne_process import free_port

REPOSITORY = DEPLOY.parent
COMPOSE_ENV = {"POSTGRES_PASSWORD": "pw", "ABONNE_PUBLIC_URL": "https://abonne.example.com",
               "ABONNE_SECRET_KEY": "a-test-key"}
needs_docker_compose = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not "
                                          "installed: `make deploy-tools` installs Debian's")


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments left out."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in (DEPLOY / "Dockerfile").read_text().splitlines()
                                            if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in joined.splitlines()
            if line.strip()]


def instructions(name: str) -> list[str]:
    return [arguments for instruction, arguments in dockerfile() if instruction == name]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for arguments in instructions("ENV"):
        env.update(pair.split("=", 1) for pair in shlex.split(arguments))
    return env


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_the_image_is_slim_python_3_11_and_runs_as_a_user_of_its_own():
    assert instructions("FROM") == ["python:3.11-slim"]
    user = instructions("USER")
    assert user == ["abonne"]
    order = [instruction for instruction, _ in dockerfile()]
    assert order.index("USER") < order.index("CMD") and order.index("USER") > max(
        i for i, instruction in enumerate(order) if instruction == "RUN")  # nothing runs as root after install
    assert any("useradd" in run and "--uid 10001" in run for run in instructions("RUN"))


def test_the_image_serves_gunicorn_with_the_deploy_config_it_copies():
    [cmd] = instructions("CMD")
    command = json.loads(cmd)
    [copied] = [c for c in instructions("COPY") if c.startswith("deploy/gunicorn.conf.py ")]
    assert command == ["gunicorn", "--config", copied.split()[1]]
    # the same command as the web unit's, which names the same file under /etc/abonne
    assert commands("abonne.service")[-1] == ["/opt/abonne/venv/bin/gunicorn", *command[1:]]


def test_the_health_check_asks_healthz_where_gunicorn_listens():
    [check] = instructions("HEALTHCHECK")
    port = image_env()["ABONNE_WEB_BIND"].rsplit(":", 1)[1]
    assert f"http://127.0.0.1:{port}/healthz" in check and "urllib.request.urlopen" in check
    assert instructions("EXPOSE") == [port]
    probe = json.loads(check.split("CMD", 1)[1])
    assert probe[:2] == ["python", "-c"]
    compile(probe[2], "HEALTHCHECK", "exec")  # the probe is valid Python


def test_every_file_the_image_copies_exists_and_is_in_the_build_context():
    allowed = [line[1:].rstrip("/") for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
               if line.startswith("!")]
    for arguments in instructions("COPY"):
        *sources, _ = arguments.split()
        for source in sources:
            assert (REPOSITORY / source).exists(), source
            assert source.rstrip("/") in allowed, f"{source} is left out of the build by Dockerfile.dockerignore"


def test_compose_runs_web_workers_and_postgresql_with_a_volume():
    services = compose()["services"]
    assert set(services) == {"db", "migrate", "web", "worker"}
    assert services["db"]["image"] == "postgres:15"
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"] and "pgdata" in compose()["volumes"]
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    for name in ("web", "worker"):
        assert services[name]["depends_on"] == {"db": {"condition": "service_healthy"},
                                                "migrate": {"condition": "service_completed_successfully"}}
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}


def test_compose_commands_are_the_units_commands():
    services = compose()["services"]
    unit_pre, unit_web = commands("abonne.service")
    [unit_worker] = commands("abonne-worker.service")
    assert ["abonne", *unit_pre[1:]] == services["migrate"]["command"]
    assert ["abonne", *unit_worker[1:]] == services["worker"]["command"]
    assert "command" not in services["web"]  # the image's CMD: the web unit's gunicorn command
    for service in ("migrate", "worker"):
        done = CliRunner().invoke(main, [*services[service]["command"][1:], "--help"])
        assert done.exit_code == 0, done.output


def test_compose_gives_every_abonne_service_the_same_settings_on_postgresql():
    services = compose()["services"]
    envs = [services[name]["environment"] for name in ("migrate", "web", "worker")]
    assert envs[0] == envs[1] == envs[2]
    assert envs[0]["ABONNE_DATABASE_URL"].startswith("postgresql://abonne:") and "@db:5432/abonne" in envs[0][
        "ABONNE_DATABASE_URL"]
    assert envs[0]["ABONNE_TRUSTED_PROXIES"] == "1"  # nginx on the host, as deploy/nginx.conf


def test_compose_lets_a_worker_finish_its_gateway_calls_as_the_unit_does():
    grace = compose()["services"]["worker"]["stop_grace_period"]
    assert grace == f"{read_unit('abonne-worker.service')['Service']['TimeoutStopSec']}s"


def test_the_metrics_folder_is_shared_by_web_and_workers():
    folder = image_env()["PROMETHEUS_MULTIPROC_DIR"]
    services = compose()["services"]
    assert f"metrics:{folder}" in services["web"]["volumes"] and f"metrics:{folder}" in services["worker"]["volumes"]
    assert compose()["volumes"]["metrics"]["driver_opts"]["type"] == "tmpfs"
    assert any(f"-o abonne -g abonne -m 0700 {folder}" in run for run in instructions("RUN"))


def docker_compose_config(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Debian's docker-compose checks the file against the Compose schema and resolves it; it needs no daemon.
    # Settings come from `env` only: an empty env file stands in for a deploy/.env an operator may have written.
    (folder / "empty.env").write_text("")
    return subprocess.run(["docker-compose", "--env-file", str(folder / "empty.env"), "-f",
                           str(DEPLOY / "compose.yaml"), "config"], capture_output=True, text=True, timeout=60,
                          cwd=folder, env={"PATH": "/usr/bin:/bin", **env})


@needs_docker_compose
def test_docker_compose_accepts_the_file(tmp_path):
    done = docker_compose_config(tmp_path, COMPOSE_ENV)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert resolved["services"]["web"]["environment"]["ABONNE_PUBLIC_URL"] == "https://abonne.example.com"
    assert resolved["services"]["web"]["build"]["context"] == str(REPOSITORY)


@needs_docker_compose
def test_compose_refuses_to_start_without_the_secret_key(tmp_path):
    env = {k: v for k, v in COMPOSE_ENV.items() if k != "ABONNE_SECRET_KEY"}
    done = docker_compose_config(tmp_path, env)
    assert done.returncode != 0 and "set ABONNE_SECRET_KEY" in done.stderr


def test_the_health_probe_passes_while_gunicorn_answers_and_fails_when_nothing_does(behind_proxy):
    [check] = instructions("HEALTHCHECK")
    program, flag, code = json.loads(check.split("CMD", 1)[1])
    assert program == "python"  # the image's own; here this virtualenv's
    image_port = image_env()["ABONNE_WEB_BIND"].rsplit(":", 1)[1]

    def probe(port: int) -> int:
        return subprocess.run([sys.executable, flag, code.replace(f":{image_port}/", f":{port}/")],
                              capture_output=True, timeout=30).returncode
    assert probe(behind_proxy.port) == 0
    assert probe(free_port()) != 0
