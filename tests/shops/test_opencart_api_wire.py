"""OpenCart's order API as abonne's clients speak it, on real shops: 4.1's HMAC signature (exact Host, the cleaned
POST, the time) and 3.0's login. The stand-in implements the same rules from the captures; this is the check that
the two did not share a misunderstanding."""
from __future__ import annotations

import os

import pytest

from adapters.opencart.api import Api30, Api41, as_pairs
from bridge.ports import ShopError
from tests.shops.targets import REAL_SETTINGS, missing_real_settings

CUSTOMER = {"customer_id": "1", "customer_group_id": "1", "firstname": ' J"&<ü€~+ ', "lastname": "Roaster",
            "email": "jane@example.com", "telephone": "5551234567"}


def settings(platform: str) -> tuple[str, str, str]:
    missing = missing_real_settings(platform)
    if missing:
        pytest.skip(f"no real shop to run against: set {', '.join(REAL_SETTINGS[platform])} "
                    f"(missing: {', '.join(missing)})")
    url, username, key = (os.environ[name] for name in REAL_SETTINGS[platform])
    return url, username, key


@pytest.mark.real_shop
def test_a_signed_41_call_with_awkward_characters_is_accepted_and_a_wrong_key_refused():
    url, username, key = settings("opencart")
    assert Api41(url, username, key).call("customer", as_pairs(CUSTOMER)) == {
        "success": "You have successfully modified customers"}
    with pytest.raises(ShopError, match="refused the API call \\(403\\)"):
        Api41(url, username, "not-the-key").call("customer", as_pairs(CUSTOMER))


@pytest.mark.real_shop
def test_a_30_login_gives_a_token_and_a_wrong_key_gets_the_empty_list():
    url, username, key = settings("opencart30")
    assert len(Api30(url, username, key).login()) >= 20
    with pytest.raises(ShopError, match="empty list"):
        Api30(url, username, "not-the-key").login()
