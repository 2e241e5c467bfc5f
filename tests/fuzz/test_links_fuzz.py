"""Customer links (/pay/<token>, /card/<token>) under fuzzing: any token that abonne did not sign, or signed for
another purpose, is refused with LinkError; a signed one opens until it expires, and no one-character change does."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.vault import LinkError, LinkSigner
from tests.fuzz.strategies import FUZZ

SIGNER = LinkSigner("link-secret-" * 4)
ISSUED = 1_800_000_000
TOKEN = SIGNER.sign("pay", {"checkout": 42}, issued_at=ISSUED)
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."


def load(token: str, purpose: str = "pay", now: int = ISSUED + 60) -> dict | LinkError:
    try:
        return SIGNER.load(purpose, token, now=now, max_age_seconds=30 * 86400)
    except LinkError as error:
        assert error.code in ("invalid_link", "expired_link") and error.detail
        return error


@FUZZ
@given(st.text(max_size=300) | st.text(alphabet=ALPHABET, max_size=300))
def test_arbitrary_tokens_are_refused(token):
    assert isinstance(load(token), LinkError)


@FUZZ
@given(st.integers(min_value=0), st.sampled_from(ALPHABET))
def test_a_signed_link_opens_and_no_one_character_change_does(position, replacement):
    assert load(TOKEN) == {"checkout": 42, "iat": ISSUED}
    index = position % len(TOKEN)
    outcome = load(TOKEN[:index] + replacement + TOKEN[index + 1:])
    # The last character of a base64 segment carries unused bits: a change there may decode to the same bytes.
    segment_end = index + 1 == len(TOKEN) or TOKEN[index + 1] == "."
    assert isinstance(outcome, LinkError) or replacement == TOKEN[index] or (segment_end and outcome == load(TOKEN))
    assert load(TOKEN, purpose="card").code == "invalid_link"  # a pay link is no card link
    assert load(TOKEN, now=ISSUED + 30 * 86400 + 1).code == "expired_link"
