import pytest

from bridge.vault import LinkError, LinkSigner, Vault, VaultError


def test_secrets_round_trip_and_are_not_stored_in_clear():
    vault = Vault("k1" * 20)
    token = vault.encrypt_json({"consumer_secret": "cs_abc"})
    assert "cs_abc" not in token
    assert vault.decrypt_json(token) == {"consumer_secret": "cs_abc"}


def test_another_key_cannot_read_them_and_says_why():
    token = Vault("one key" * 5).encrypt("secret")
    with pytest.raises(VaultError, match="ABONNE_SECRET_KEY"):
        Vault("another key" * 5).decrypt(token)


def test_an_old_key_still_reads_during_a_rotation():
    token = Vault("old" * 10).encrypt("secret")
    assert Vault("new" * 10, old_secret_keys=("old" * 10,)).decrypt(token) == "secret"


def test_links_expire_on_the_injected_clock():
    signer = LinkSigner("s" * 40)
    token = signer.sign("pay", {"c": 7}, issued_at=1_000_000)
    assert signer.load("pay", token, now=1_000_000 + 10, max_age_seconds=60)["c"] == 7
    with pytest.raises(LinkError) as expired:
        signer.load("pay", token, now=1_000_000 + 61, max_age_seconds=60)
    assert expired.value.code == "expired_link"


def test_links_are_bound_to_their_purpose_and_cannot_be_altered():
    signer = LinkSigner("s" * 40)
    token = signer.sign("pay", {"c": 7}, issued_at=1)
    with pytest.raises(LinkError):
        signer.load("card", token, now=2, max_age_seconds=60)
    with pytest.raises(LinkError):
        signer.load("pay", token[:-2] + ("AA" if not token.endswith("AA") else "BB"), now=2, max_age_seconds=60)
