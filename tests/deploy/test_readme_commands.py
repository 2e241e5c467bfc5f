"""The commands README's "Going to production" and "Running N workers" give, run here with this machine's paths
in place of the server's (/var/lib/abonne, /etc/abonne, /opt/abonne/venv)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from bridge.cli import main
from tests.deploy.deploy_files import DEPLOY, INSTALLED_BIN, README, VENV_BIN, readme_command
from tests.integration.conftest import postgres_url  # noqa: F401  (a fixture)
from tests.shops.abonne_process import abonne_command


def run(command: str, **replace: str) -> subprocess.CompletedProcess[str]:
    for old, new in replace.items():
        assert old in command, f"the README's command no longer names {old}: {command}"
        command = command.replace(old, new)
    return subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 command is not installed (Debian: sqlite3)")
def test_the_sqlite_backup_is_a_whole_database_abonne_can_use_taken_while_web_and_worker_run(installation, tmp_path):
    live = installation.home / "abonne.db"
    done = run(readme_command("sqlite3 "), **{"/var/lib/abonne/abonne.db": str(live),
                                              "/var/backups/abonne/": f"{tmp_path}/"})
    assert done.returncode == 0, done.stderr
    assert installation.web.running and installation.worker.running
    backup = create_engine(f"sqlite:///{tmp_path / 'abonne.db'}")
    with backup.connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        assert connection.execute(text("SELECT id, url FROM shops")).all() == [
            tuple(row.values()) for row in installation.rows("SELECT id, url FROM shops")]
    backup.dispose()
    listed = subprocess.run([*abonne_command(), "shop", "list"], capture_output=True, text=True, timeout=60,
                            env={**installation.env, "ABONNE_DATABASE_URL": f"sqlite:///{tmp_path / 'abonne.db'}"})
    assert listed.returncode == 0 and installation.rows("SELECT url FROM shops")[0]["url"] in listed.stdout, \
        listed.stderr


@pytest.mark.postgres
def test_the_postgresql_dump_restores_into_an_empty_database_abonne_can_use(postgres_url, tmp_path):  # noqa: F811
    from bridge.store.db import migrate
    migrate(postgres_url)
    source = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    admin = create_engine(postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    restored_name = source.rsplit("/", 1)[1] + "_restored"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{restored_name}"'))
    try:
        added = CliRunner().invoke(main, ["plan", "add", "Coffee monthly", "--every", "1", "--unit", "month"],
                                   env={"ABONNE_DATABASE_URL": postgres_url, "ABONNE_SECRET_KEY": "k" * 40})
        assert added.exit_code == 0, added.output
        dump = run(readme_command("pg_dump "), **{"/var/backups/abonne/": f"{tmp_path}/",
                                                  "postgresql://abonne@127.0.0.1:5432/abonne": source})
        assert dump.returncode == 0, dump.stderr
        restore = run(readme_command("pg_restore "), **{
            "/var/backups/abonne/": f"{tmp_path}/",
            "postgresql://abonne@127.0.0.1:5432/abonne_restored": source.rsplit("/", 1)[0] + "/" + restored_name})
        assert restore.returncode == 0, restore.stderr
        restored = create_engine(postgres_url.rsplit("/", 1)[0] + "/" + restored_name)
        with restored.connect() as connection:
            assert connection.execute(text("SELECT name FROM plans")).scalars().all() == ["Coffee monthly"]
        from bridge.store.db import migrations_current
        assert migrations_current(restored)
        restored.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)'))
        admin.dispose()


def test_a_command_run_with_the_environment_file_reads_the_units_settings(tmp_path):
    env_file = tmp_path / "abonne.env"
    database = tmp_path / "state" / "abonne.db"
    example = (DEPLOY / "abonne.env.example").read_text()
    example = re.sub(r"^ABONNE_DATABASE_URL=.*$", f"ABONNE_DATABASE_URL=sqlite:///{database}", example,
                     flags=re.MULTILINE)
    env_file.write_text(re.sub(r"^ABONNE_INSTANCE_PATH=.*$", f"ABONNE_INSTANCE_PATH={tmp_path / 'state'}", example,
                               flags=re.MULTILINE))
    line = re.search(r"`sudo -u abonne (sh -c '[^']+')`", README.read_text()).group(1)
    done = run(line.replace("agreements list", "migrate"), **{"/etc/abonne/abonne.env": str(env_file),
                                                              INSTALLED_BIN: str(VENV_BIN)})
    assert done.returncode == 0, done.stderr
    assert database.exists() and f"sqlite:///{database}" in done.stdout
