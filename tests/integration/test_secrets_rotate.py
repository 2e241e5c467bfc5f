"""`abonne secrets rotate` through the real CLI on a real database (SQLite and PostgreSQL): every stored secret
(shop keys, webhook secrets, the gateway's private key, card tokens) re-encrypted under a new key in one
transaction; the old key accepted until the rotation finished; an interrupted rotation leaves everything readable."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.fernet import InvalidToken
from sqlalchemy import text

from bridge.app import build_bridge
from bridge.cli import main as cli_main
from bridge.config import Settings
from bridge.context import Bridge
from bridge.keyring import KeyFile, parse_key_file
from bridge.services.secrets_rotation import encrypted_columns
from bridge.store.db import migrate
from bridge.vault import LinkError, fernet_for
from tests.fixture_files import MYPOS
from tests.integration.test_worker_race import seed_due_agreements

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=timezone.utc)


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli_main, list(args), env=env)


def set_up(database_url: str, env: dict[str, str], cards: int) -> Bridge:
    """A shop and the gateway connected through the CLI, and `cards` agreements with an encrypted card token."""
    migrate(database_url)
    assert run(env, "shop", "add", "--platform", "woocommerce", "--url", "http://127.0.0.1:9", "--consumer-key",
               "ck_rotation", "--consumer-secret", "cs_rotation", "--webhook-secret", "hook & secret",
               "--skip-check").exit_code == 0
    result = run(env, "gateway", "set", "--sid", "000000000000010", "--wallet-number", "61938166610", "--key-index",
                 "1", "--private-key", str(MYPOS / "test-merchant-private-key.pem"), "--certificate",
                 str(MYPOS / "mypos-test-certificate-2018.pem"))
    assert result.exit_code == 0, result.output
    bridge = build_bridge(Settings.from_env(env))
    seed_due_agreements(bridge, 1, "20", [f"card-token-{n}" for n in range(cards)],
                        [str(1000 + n) for n in range(cards)], NOW)
    return bridge


def stored(bridge: Bridge) -> dict[str, str]:
    """Every encrypted value in the database, by "table row"."""
    values = {}
    with bridge.db.read_engine.connect() as connection:
        for table, column in encrypted_columns():
            (key,) = table.primary_key.columns
            for row_id, token in connection.execute(table.select().with_only_columns(key, column)):
                if token:
                    values[f"{table.name} {row_id}"] = token
    return values


def decrypted(values: dict[str, str], *keys: str) -> dict[str, str]:
    fernet = fernet_for(keys)
    return {where: fernet.decrypt(token.encode()).decode() for where, token in values.items()}


def unreadable_with(values: dict[str, str], key: str) -> list[str]:
    fernet, found = fernet_for((key,)), []
    for where, token in values.items():
        try:
            fernet.decrypt(token.encode())
        except InvalidToken:
            found.append(where)
    return found


@pytest.fixture
def file_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The key generated into the instance folder, as `make run` keeps it."""
    return {"ABONNE_DATABASE_URL": database_url, "ABONNE_INSTANCE_PATH": str(tmp_path / "instance"),
            "ABONNE_SECRET_KEY": "", "ABONNE_PREVIOUS_SECRET_KEYS": ""}


def test_rotation_re_encrypts_every_secret_under_a_new_key_that_alone_reads_them(database_url, file_env, tmp_path):
    bridge = set_up(database_url, file_env, cards=30)  # also a process running through the rotation
    key_file = tmp_path / "instance" / "secret_key"
    old_key = parse_key_file(key_file.read_text(), key_file).current
    before = stored(bridge)
    plain = decrypted(before, old_key)
    assert len(before) == 32 and plain["agreements 30"] == "card-token-29"
    today = int(time.time())  # the CLI keeps real time: the old key verifies links for ABONNE_PAY_LINK_DAYS from now
    link = bridge.links.sign("pay", {"checkout": 1}, issued_at=today)

    result = run(file_env, "secrets", "rotate")

    assert result.exit_code == 0, result.output
    assert "32 secrets re-encrypted" in result.output and "agreements.card_token_encrypted: 30" in result.output
    keys = parse_key_file(key_file.read_text(), key_file)
    assert keys.current != old_key and keys.previous == () and [key for _, key in keys.link_only] == [old_key]
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    after = stored(bridge)
    assert decrypted(after, keys.current) == plain  # the new key alone reads everything...
    assert sorted(unreadable_with(after, old_key)) == sorted(before)  # ...and the old one nothing
    # The process that was running picked up the new key: it reads, writes under the new key, and the customer
    # link it sent before still opens (the old key verifies links until they expire).
    assert bridge.vault.decrypt(after["agreements 1"]) == "card-token-0"
    assert fernet_for((keys.current,)).decrypt(bridge.vault.encrypt("new card").encode()) == b"new card"
    assert bridge.links.load("pay", link, now=today + 60, max_age_seconds=86400)["checkout"] == 1
    # The next rotation's --revoke-links drops the old key from links too.
    assert run(file_env, "secrets", "rotate", "--revoke-links").exit_code == 0
    with pytest.raises(LinkError):
        bridge.links.load("pay", link, now=today + 60, max_age_seconds=86400)
    assert parse_key_file(key_file.read_text(), key_file).link_only == ()
    bridge.db.dispose()


def test_keys_from_the_environment_rotate_in_the_steps_the_command_prints(database_url, tmp_path):
    old_key, new_key = "old-environment-key-" * 3, "new-environment-key-" * 3
    env = {"ABONNE_DATABASE_URL": database_url, "ABONNE_INSTANCE_PATH": str(tmp_path / "instance"),
           "ABONNE_SECRET_KEY": old_key, "ABONNE_PREVIOUS_SECRET_KEYS": ""}
    bridge = set_up(database_url, env, cards=5)
    before = stored(bridge)
    plain = decrypted(before, old_key)

    told = run(env, "secrets", "rotate")  # the environment cannot be changed from here: it says what to set
    assert told.exit_code == 1 and "ABONNE_PREVIOUS_SECRET_KEYS to the current ABONNE_SECRET_KEY" in told.output
    assert stored(bridge) == before

    wrong = run({**env, "ABONNE_SECRET_KEY": new_key, "ABONNE_PREVIOUS_SECRET_KEYS": "not-the-old-key"},
                "secrets", "rotate")
    assert wrong.exit_code == 1
    assert "cannot be decrypted with ABONNE_SECRET_KEY or ABONNE_PREVIOUS_SECRET_KEYS" in wrong.output
    assert "nothing was changed" in wrong.output and stored(bridge) == before

    # Step 2 of the printed steps: web and workers restarted with both keys read the old secrets.
    both = {**env, "ABONNE_SECRET_KEY": new_key, "ABONNE_PREVIOUS_SECRET_KEYS": old_key}
    running = build_bridge(Settings.from_env(both))
    assert running.vault.decrypt(before["agreements 1"]) == "card-token-0"

    done = run(both, "secrets", "rotate")
    assert done.exit_code == 0 and "remove ABONNE_PREVIOUS_SECRET_KEYS" in done.output, done.output
    assert decrypted(stored(bridge), new_key) == plain
    assert run({**env, "ABONNE_SECRET_KEY": new_key}, "shop", "list").exit_code == 0
    running.db.dispose()
    bridge.db.dispose()


def test_a_lost_key_file_is_a_clear_error_and_nothing_changes(database_url, file_env, tmp_path):
    bridge = set_up(database_url, file_env, cards=3)
    before = stored(bridge)
    (tmp_path / "instance" / "secret_key").unlink()  # the next command generates an unrelated key

    result = run(file_env, "secrets", "rotate")

    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cannot be decrypted with the keys in" in result.output and "nothing was changed" in result.output
    assert stored(bridge) == before
    bridge.db.dispose()


def _refuse_updates_of(bridge: Bridge, agreement_id: int) -> None:
    """A database error in the middle of the rotation's transaction: the update of one late row is refused."""
    with bridge.db.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.execute(text(
                "CREATE TRIGGER refuse BEFORE UPDATE OF card_token_encrypted ON agreements "
                f"WHEN NEW.id = {agreement_id} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"))
        else:
            connection.execute(text(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'refused by the test'; END $$"))
            connection.execute(text(
                "CREATE TRIGGER refuse BEFORE UPDATE OF card_token_encrypted ON agreements "
                f"FOR EACH ROW WHEN (NEW.id = {agreement_id}) EXECUTE FUNCTION refuse()"))


def test_a_rotation_the_database_refuses_half_way_writes_nothing_and_a_second_run_finishes_it(
        database_url, file_env, tmp_path):
    bridge = set_up(database_url, file_env, cards=1200)  # more than two batches before the refused row
    key_file = tmp_path / "instance" / "secret_key"
    old_key = KeyFile(key_file).keys().current
    before = stored(bridge)
    _refuse_updates_of(bridge, 1150)

    result = run(file_env, "secrets", "rotate")

    assert result.exit_code == 1 and "rolled back" in result.output and "Traceback" not in result.output
    assert stored(bridge) == before  # not one row re-encrypted: shops, gateway and 1,149 cards included
    keys = KeyFile(key_file).keys()
    assert keys.previous == (old_key,)  # the new key is current, the old one still accepted...
    # ...so a running process reads every old value, and what it writes now is under the new key.
    assert [bridge.vault.decrypt(token) for token in before.values()] == list(decrypted(before, old_key).values())
    assert unreadable_with({"new": bridge.vault.encrypt("x")}, keys.current) == []

    with bridge.db.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER refuse" if connection.dialect.name == "sqlite"
                                else "DROP TRIGGER refuse ON agreements"))
    again = run(file_env, "secrets", "rotate")
    assert again.exit_code == 0 and "finished a rotation" in again.output, again.output
    finished = KeyFile(key_file).keys()
    assert finished.current == keys.current and finished.previous == ()
    assert decrypted(stored(bridge), finished.current) == decrypted(before, old_key)
    bridge.db.dispose()


def test_a_rotation_killed_mid_way_leaves_every_secret_readable(database_url, file_env, tmp_path):
    bridge = set_up(database_url, file_env, cards=5000)
    key_file = tmp_path / "instance" / "secret_key"
    old_key = KeyFile(key_file).keys().current
    before = stored(bridge)
    process = subprocess.Popen([sys.executable, "-m", "bridge.cli", "secrets", "rotate"],
                               env={**os.environ, **file_env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while "previous " not in key_file.read_text() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)  # the new key is written: the re-encryption transaction is under way
    process.send_signal(signal.SIGKILL)
    process.wait()
    output = process.stdout.read().decode() if process.stdout else ""

    after = stored(bridge)
    changed = [where for where in before if after[where] != before[where]]
    assert len(changed) in (0, len(before)), f"a rotation was half-written: {len(changed)} of {len(before)}"
    keys = KeyFile(key_file).keys()
    assert old_key in keys.decryption_keys() or not changed, output  # nothing left only under a dropped key
    assert decrypted(after, *keys.decryption_keys()) == decrypted(before, old_key)
    assert run(file_env, "secrets", "rotate").exit_code == 0
    assert decrypted(stored(bridge), KeyFile(key_file).keys().current) == decrypted(before, old_key)
    bridge.db.dispose()
