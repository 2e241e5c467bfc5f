"""The key ring: the key file's format, its atomic rewrite followed by a running process, link keys by date."""
from __future__ import annotations

import pytest

from bridge.config import ConfigError, Settings
from bridge.keyring import KeyFile, KeyFileError, Keys, StaticKeys, parse_key_file, write_key_file
from bridge.vault import LinkError, LinkSigner, Vault


def test_the_key_file_round_trips_and_a_single_line_file_is_a_current_key(tmp_path):
    path = tmp_path / "secret_key"
    keys = Keys("current-key", ("previous-key",), ((1800000000, "retired-key"),))
    write_key_file(path, keys)
    assert parse_key_file(path.read_text(), path) == keys
    assert parse_key_file("only-key\n", path) == Keys("only-key")
    assert oct(path.stat().st_mode & 0o777) == "0o600" and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("text", ["", "two words\n", "key\nprevious\n", "key\nlinks-until soon other\n",
                                  "key\nsomething else\n"])
def test_a_malformed_key_file_names_the_file(tmp_path, text):
    with pytest.raises(KeyFileError, match="secret_key"):
        parse_key_file(text, tmp_path / "secret_key")


def test_a_running_vault_follows_a_rewritten_key_file(tmp_path):
    path = tmp_path / "secret_key"
    write_key_file(path, Keys("first-key"))
    vault = Vault(KeyFile(path))
    old_token = vault.encrypt("card")
    write_key_file(path, Keys("second-key", ("first-key",)))
    new_token = vault.encrypt("card")
    assert vault.decrypt(old_token) == "card" and Vault("second-key").decrypt(new_token) == "card"


def test_a_retired_key_verifies_links_until_its_date_only():
    link = LinkSigner("old-key").sign("pay", {"checkout": 7}, issued_at=1000)
    signer = LinkSigner(StaticKeys(Keys("new-key", (), ((5000, "old-key"),))))
    assert signer.load("pay", link, now=4999, max_age_seconds=10**6)["checkout"] == 7
    with pytest.raises(LinkError):
        signer.load("pay", link, now=5001, max_age_seconds=10**6)


def test_previous_keys_in_the_environment_need_the_key_in_the_environment(tmp_path):
    with pytest.raises(ConfigError, match="ABONNE_PREVIOUS_SECRET_KEYS goes with ABONNE_SECRET_KEY"):
        Settings.from_env({"ABONNE_INSTANCE_PATH": str(tmp_path), "ABONNE_PREVIOUS_SECRET_KEYS": "old"})
    settings = Settings.from_env({"ABONNE_SECRET_KEY": "new", "ABONNE_PREVIOUS_SECRET_KEYS": "old, older"})
    assert settings.previous_secret_keys == ("old", "older") and settings.secret_key_file is None
