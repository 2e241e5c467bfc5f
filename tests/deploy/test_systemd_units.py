"""deploy/abonne.service and deploy/abonne-worker.service, checked by systemd's own tools and against the CLI."""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.store.db import migrate
from tests.deploy.deploy_files import (DEPLOY, INSTALLED_BIN, VENV_BIN, commands, gunicorn_settings,
                                       read_unit, readme_command)
from tests.shops.abonne_process import free_port

UNITS = ("abonne.service", "abonne-worker.service")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
needs_systemd_analyze = pytest.mark.skipif(not Path(SYSTEMD_ANALYZE).exists(),
                                           reason="systemd-analyze is not installed (Debian package systemd)")


def as_here(name: str, folder: Path) -> Path:
    """The unit with its commands pointing at this checkout's virtualenv instead of /opt/abonne/venv."""
    text = (DEPLOY / name).read_text()
    assert INSTALLED_BIN in text
    copy = folder / name
    copy.write_text(text.replace(INSTALLED_BIN, str(VENV_BIN)))
    return copy


@needs_systemd_analyze
@pytest.mark.parametrize("name", UNITS)
def test_systemd_finds_nothing_to_say_about_the_unit(name, tmp_path):
    done = subprocess.run([SYSTEMD_ANALYZE, "verify", str(as_here(name, tmp_path))], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    # verify exits 0 even for unknown keys and bad values, which it only reports: any line about the unit fails
    assert done.returncode == 0 and name not in done.stdout + done.stderr, done.stdout + done.stderr


@needs_systemd_analyze
@pytest.mark.parametrize("name", UNITS)
def test_systemd_rates_the_units_sandbox_well_exposed_below_2_of_10(name, tmp_path):
    done = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=true", "--threshold=20",
                           str(as_here(name, tmp_path))], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-400:] + done.stderr


@pytest.mark.parametrize("name", UNITS)
def test_the_unit_runs_as_its_own_user_in_a_read_only_system(name):
    service = read_unit(name)["Service"]
    assert service["User"] == service["Group"] == "abonne"
    assert service["ProtectSystem"] == "strict" and service["ReadWritePaths"] == "/var/lib/abonne"
    assert service["NoNewPrivileges"] == service["PrivateTmp"] == service["ProtectHome"] == "yes"
    assert service["EnvironmentFile"] == "/etc/abonne/abonne.env"
    assert service["Restart"] == "on-failure" and int(service["RestartSec"]) > 0
    assert service["KillSignal"] == "SIGTERM"


def test_both_units_share_one_metrics_folder_that_systemd_creates_and_keeps():
    folders = set()
    for name in UNITS:
        service = read_unit(name)["Service"]
        folder = service["Environment"].removeprefix("PROMETHEUS_MULTIPROC_DIR=")
        assert folder in {f"/run/{d}" for d in service["RuntimeDirectory"].split()}
        assert service["RuntimeDirectoryPreserve"] == "yes"  # one unit stopping leaves the other's counts
        folders.add(folder)
    assert len(folders) == 1


def test_the_worker_gets_longer_to_stop_than_a_gateway_call_may_take():
    from bridge.config import Settings
    stop = read_unit("abonne-worker.service")["Service"]["TimeoutStopSec"]
    assert int(stop) > Settings.gateway_timeout_seconds


def test_the_web_unit_waits_for_gunicorns_graceful_stop():
    graceful = gunicorn_settings()["graceful_timeout"]
    assert int(read_unit("abonne.service")["Service"]["TimeoutStopSec"]) > graceful


def test_the_units_commands_are_abonnes_own():
    assert commands("abonne.service") == [[f"{INSTALLED_BIN}/abonne", "migrate"],
                                          [f"{INSTALLED_BIN}/gunicorn", "--config", "/etc/abonne/gunicorn.conf.py"]]
    assert commands("abonne-worker.service") == [[f"{INSTALLED_BIN}/abonne", "worker"]]
    for name in UNITS:
        for command in commands(name):
            if Path(command[0]).name == "abonne":  # the subcommand exists and takes these arguments
                done = CliRunner().invoke(main, [*command[1:], "--help"])
                assert done.exit_code == 0 and f"Usage: main {command[1]}" in done.output, done.output


def test_gunicorn_reads_the_config_file_the_web_unit_names(tmp_path):
    # gunicorn --check-config loads deploy/gunicorn.conf.py (the file copied to /etc/abonne) and the app it names
    database = tmp_path / "abonne.db"
    done = subprocess.run([str(VENV_BIN / "gunicorn"), "--config", str(DEPLOY / "gunicorn.conf.py"),
                           "--check-config"], capture_output=True, text=True, timeout=60,
                          env={"PATH": str(VENV_BIN), "ABONNE_DATABASE_URL": f"sqlite:///{database}",
                               "ABONNE_INSTANCE_PATH": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr


def env_example() -> tuple[dict[str, str], set[str]]:
    """deploy/abonne.env.example: the values it sets, and every name it mentions (set or shown commented out)."""
    text = (DEPLOY / "abonne.env.example").read_text()
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", text, re.MULTILINE))
    named = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))
    return values, named


def names_read_by(*paths: Path) -> set[str]:
    return {name for path in paths for name in re.findall(r"\"([A-Z][A-Z0-9_]+)\"", path.read_text())}


def test_the_environment_file_names_only_settings_that_abonne_or_gunicorn_conf_reads():
    _, named = env_example()
    read = names_read_by(*(DEPLOY.parent / "bridge").rglob("*.py"), DEPLOY / "gunicorn.conf.py")
    assert named - read == set()


def test_the_environment_file_names_every_setting_of_bridge_config():
    _, named = env_example()
    config = names_read_by(DEPLOY.parent / "bridge" / "config.py")
    assert {name for name in config if name.startswith("ABONNE_")} - named == set()


def test_the_environment_files_values_are_accepted_by_abonne_and_gunicorn(tmp_path, monkeypatch):
    from bridge.config import Settings
    values, _ = env_example()
    settings = Settings.from_env({**values, "ABONNE_INSTANCE_PATH": str(tmp_path)})
    assert settings.public_url.startswith("https://") and settings.trusted_proxies == 1
    assert settings.database_url.startswith("postgresql://")
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    assert gunicorn_settings()["bind"] == [values["ABONNE_WEB_BIND"]]


@needs_systemd_analyze
def test_the_worker_unit_made_a_template_as_the_readme_says_verifies_for_each_instance(tmp_path):
    as_here("abonne-worker.service", tmp_path)
    command = readme_command("cp /etc/systemd/system/abonne-worker.service ")
    copied = subprocess.run(command.replace("/etc/systemd/system/", f"{tmp_path}/"), shell=True,
                            capture_output=True, text=True, timeout=30)
    assert copied.returncode == 0, copied.stderr
    done = subprocess.run([SYSTEMD_ANALYZE, "verify", str(tmp_path / "abonne-worker@2.service")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0 and "abonne-worker@" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_gunicorn_tells_systemd_it_is_ready_as_the_web_units_type_notify_expects(tmp_path):
    assert read_unit("abonne.service")["Service"]["Type"] == "notify"
    migrate(f"sqlite:///{tmp_path / 'abonne.db'}")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(tmp_path / "notify"))
        notify.settimeout(60)
        env = {"PATH": str(VENV_BIN), "NOTIFY_SOCKET": str(tmp_path / "notify"),
               "ABONNE_DATABASE_URL": f"sqlite:///{tmp_path / 'abonne.db'}", "ABONNE_INSTANCE_PATH": str(tmp_path),
               "ABONNE_WEB_BIND": f"127.0.0.1:{free_port()}", "ABONNE_WEB_WORKERS": "1"}
        web = subprocess.Popen([str(VENV_BIN / "gunicorn"), "--config", str(DEPLOY / "gunicorn.conf.py")], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            messages = []
            while not any("READY=1" in message for message in messages):
                messages.append(notify.recv(4096).decode())  # a timeout here: systemd would never see it start
        finally:
            web.terminate()
            web.wait(timeout=60)
