"""OpenCart's order API as abonne's clients speak it, on real shops: 4.1's HMAC signature (exact Host, the cleaned
POST, the time), 3.0's login, and 4.0's session API through a whole renewal (no stand-in speaks 4.0: this is where
abonne's 4.0 path is proven, against the captures in the README's OpenCart section). The stand-in implements the same rules from the captures; this is the check that
the two did not share a misunderstanding."""
from __future__ import annotations

import os

import pytest

import secrets

from adapters.opencart import OpenCartShop
from adapters.opencart.api import Api30, Api40, Api41, as_pairs
from bridge.domain.money import Money
from bridge.ports import RenewalLine, RenewalOrder
from bridge.ports import ShopError
from tests.shops.targets import REAL_SETTINGS, missing_real_settings

CUSTOMER = {"customer_id": "1", "customer_group_id": "1", "firstname": ' J"&<ü€~+ ', "lastname": "Roaster",
            "email": "jane@example.com", "telephone": "5551234567"}


def settings(platform: str) -> tuple[str, ...]:
    missing = missing_real_settings(platform)
    if missing:
        pytest.skip(f"no real shop to run against: set {', '.join(REAL_SETTINGS[platform])} "
                    f"(missing: {', '.join(missing)})")
    return tuple(os.environ[name] for name in REAL_SETTINGS[platform])


@pytest.mark.real_shop
def test_a_signed_41_call_with_awkward_characters_is_accepted_and_a_wrong_key_refused():
    url, username, key = settings("opencart")[:3]
    assert Api41(url, username, key).call("customer", as_pairs(CUSTOMER)) == {
        "success": "You have successfully modified customers"}
    with pytest.raises(ShopError, match="refused the API call \\(403\\)"):
        Api41(url, username, "not-the-key").call("customer", as_pairs(CUSTOMER))


@pytest.mark.real_shop
def test_a_30_login_gives_a_token_and_a_wrong_key_gets_the_empty_list():
    url, username, key = settings("opencart30")[:3]
    assert len(Api30(url, username, key).login()) >= 20
    with pytest.raises(ShopError, match="empty list"):
        Api30(url, username, "not-the-key").login()


@pytest.mark.real_shop
def test_40_logs_in_builds_a_renewal_in_its_session_finds_it_again_and_adds_history():
    """On OpenCart 4.0 with abonne's extension (and its payment method enabled): a paid renewal of an existing
    order (ABONNE_REAL_OPENCART40_ORDER_ID) through the session API, found again by its marker; a customer note
    and the paid status on the first order through order history."""
    url, username, key, secret, order_id = settings("opencart40")
    with pytest.raises(ShopError, match="refused the API login"):
        Api40(url, username, "not-the-key").login()
    shop = OpenCartShop({"url": url, "api_username": username}, {"api_key": key, "webhook_secret": secret})
    assert shop.version() == "4.0" and shop.test_connection().ok
    first = shop.get_order(order_id)
    line = first.lines[0]
    transaction = f"MYPOS-{secrets.token_hex(4)}"
    renewal = RenewalOrder(key=f"{order_id}:2", parent_order_id=order_id, customer_id=first.customer_id or "0",
                           billing=None, shipping=None,
                           lines=(RenewalLine(line.product_id, None, line.name, 1, line.total),),
                           charged=line.total + line.total_tax, transaction_id=transaction, agreement_id=1, cycle=2)
    assert shop.find_renewal_order(renewal) is None
    created = shop.create_renewal_order(renewal)
    assert shop.find_renewal_order(renewal) == created
    order = shop.get_order(created.order_id)
    assert (order.own_renewal, order.paid, order.customer_id, [l.product_id for l in order.lines]) == \
        (True, True, first.customer_id, [line.product_id])
    assert created.total == Money.parse(str(order.total.amount), order.currency)
    shop.add_customer_note(created.order_id, "Your card link: https://x.example/card/a.b~c?d=1&e=2")
    shop.mark_paid(order_id, transaction)
    assert shop.get_order(order_id).paid
