"""The OpenCart adapter against the stand-in shop with abonne's extension: reads through the extension's signed
endpoint, history and renewal orders through the shop's own API (4.1 signed; 3.0 login)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest

from adapters.opencart import OpenCartShop
from adapters.opencart.standin import OpenCartStandin
from bridge.clock import SettableClock
from bridge.domain.money import Money
from bridge.ports import OrderState, RenewalLine, RenewalOrder, ShopError

SECRET = "extension secret & ~ü"


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(datetime.now(timezone.utc).replace(microsecond=0))


def started(version: str, clock: SettableClock) -> OpenCartStandin:
    standin = OpenCartStandin()
    standin.start(version=version, clock=clock)
    standin.connect_extension("http://127.0.0.1:9", 1, SECRET)  # nothing listens: events wait in the queue
    return standin


@pytest.fixture
def oc41(clock) -> Iterator[OpenCartStandin]:
    standin = started("4.1", clock)
    yield standin
    standin.stop()


@pytest.fixture
def oc30(clock) -> Iterator[OpenCartStandin]:
    standin = started("3.0", clock)
    yield standin
    standin.stop()


def adapter(standin: OpenCartStandin, clock: SettableClock, key: str | None = None, **settings: str) -> OpenCartShop:
    return OpenCartShop({"url": standin.url, "api_username": "Default", **settings},
                        {"api_key": key or standin._key, "webhook_secret": SECRET}, clock=clock.now)


def first_order(standin: OpenCartStandin) -> tuple[int, int]:
    customer = standin.add_customer("jane@example.com", "Jane", "Roaster")
    standin.add_address(customer, "1 Bean Street", "New York", "10001")
    product = standin.add_product("Coffee Club Monthly", "19.90", "COFFEE-M")
    return standin.place_order(customer, [(product, 1)], payment_code="cod", status_id=1), product


def renewal_of(order_id: int, product: int, transaction: str = "MYPOS-4242") -> RenewalOrder:
    return RenewalOrder(key="7:2", parent_order_id=str(order_id), customer_id="1", billing=None, shipping=None,
                        lines=(RenewalLine(str(product), None, "Coffee Club Monthly", 1, Money.parse("19.90", "USD")),),
                        charged=Money.parse("19.90", "USD"), transaction_id=transaction, agreement_id=7, cycle=2)


def test_the_version_is_asked_from_the_extension_and_the_connection_checked(oc41, oc30, clock):
    assert adapter(oc41, clock).version() == "4.1" and adapter(oc30, clock).version() == "3.0"
    assert adapter(oc41, clock).test_connection().ok and adapter(oc30, clock).test_connection().ok
    refused = adapter(oc41, clock, key="not-the-key").test_connection()
    assert not refused.ok and "403" in refused.detail
    wrong30 = adapter(oc30, clock, key="not-the-key").test_connection()
    assert not wrong30.ok and "empty list" in wrong30.detail
    other_secret = OpenCartShop({"url": oc41.url}, {"api_key": oc41._key, "webhook_secret": "another"},
                                clock=clock.now).test_connection()
    assert not other_secret.ok and "neither" in other_secret.detail


def test_orders_are_read_through_the_extension(oc41, clock):
    order_id, product = first_order(oc41)
    shop = adapter(oc41, clock)
    order = shop.get_order(str(order_id))
    assert (order.order_id, order.state, order.billing.country, order.lines[0].product_id) == \
        (str(order_id), OrderState.OPEN, "US", str(product))
    assert [o.order_id for o in shop.orders_modified_since(clock.now() - timedelta(minutes=1))] == [str(order_id)]


def test_a_41_renewal_is_one_confirm_and_one_history_and_is_found_again(oc41, clock):
    order_id, product = first_order(oc41)
    shop = adapter(oc41, clock)
    renewal = renewal_of(order_id, product)
    assert shop.find_renewal_order(renewal) is None

    created = shop.create_renewal_order(renewal)

    order = oc41.order(int(created.order_id))
    assert created.total == Money.parse("19.90", "USD")  # a zero-cost shipping line with no tax class: no tax
    assert (order["payment_method"]["code"], str(order["order_status_id"])) == ("abonne.card", "2")
    assert "abonne:MYPOS-4242" in order["comment"]
    assert [str(h["order_status_id"]) for h in oc41.order_history(int(created.order_id))][-1] == "2"
    assert shop.find_renewal_order(renewal) == created
    assert shop.get_order(created.order_id).own_renewal is True
    assert shop.find_renewal_order(renewal_of(order_id, product, "MYPOS-4243")) is None


def test_notes_reach_the_customer_and_a_first_order_is_marked_paid_unless_it_was_ended(oc41, clock):
    order_id, product = first_order(oc41)
    shop = adapter(oc41, clock)
    shop.add_customer_note(str(order_id), "Pay here: http://abonne.test/pay/abc")
    note = oc41.order_history(order_id)[-1]
    assert (note["comment"], str(note["notify"]), str(note["order_status_id"])) == \
        ("Pay here: http://abonne.test/pay/abc", "1", "1")
    shop.mark_paid(str(order_id), "MYPOS-1")
    assert str(oc41.order(order_id)["order_status_id"]) == "2"

    ended, _ = first_order(oc41)
    oc41.set_order_status(ended, 7)
    shop.mark_paid(str(ended), "MYPOS-2")
    assert str(oc41.order(ended)["order_status_id"]) == "7"
    assert "MYPOS-2" in oc41.order_history(ended)[-1]["comment"]


def test_a_30_shop_is_read_and_noted(oc30, clock):
    order_id, product = first_order(oc30)
    shop = adapter(oc30, clock)
    order = shop.get_order(str(order_id))
    # 19.90 and flat-rate shipping 5.00 (3.0 taxes by the posted address: none for the US)
    assert (order.total, order.lines[0].product_id, order.billing.city) == \
        (Money.parse("24.90", "USD"), str(product), "New York")
    shop.add_customer_note(str(order_id), "Pay here: http://abonne.test/pay/abc")
    assert oc30.order_history(order_id)[-1]["comment"] == "Pay here: http://abonne.test/pay/abc"


def test_a_30_renewal_is_built_in_its_own_api_session_with_free_shipping_and_abonnes_payment(oc30, clock):
    order_id, product = first_order(oc30)
    shop = adapter(oc30, clock)
    with pytest.raises(ShopError, match="Free Shipping"):
        shop.create_renewal_order(renewal_of(order_id, product))
    oc30.enable_free_shipping()
    renewal = renewal_of(order_id, product)

    created = shop.create_renewal_order(renewal)

    order = oc30.order(int(created.order_id))
    assert created.total == Money.parse("19.90", "USD")
    assert (order["payment_code"], order["shipping_code"], str(order["order_status_id"])) == \
        ("abonne.card", "free.free", "2")
    assert shop.find_renewal_order(renewal) == created and shop.get_order(created.order_id).own_renewal is True


def test_a_shop_set_to_40_whose_api_does_not_speak_40_creates_nothing_and_says_why(oc41, clock):
    """4.0's path (its session API) is proven on a real 4.0 shop (tests/shops/test_opencart_api_wire.py); here: a
    shop set to 4.0 that is not one fails at the login, before anything is written."""
    order_id, product = first_order(oc41)
    before = len(oc41.shop.orders)
    with pytest.raises(ShopError, match="API login"):
        adapter(oc41, clock, oc_version="4.0").create_renewal_order(renewal_of(order_id, product))
    assert len(oc41.shop.orders) == before


def test_one_unreadable_order_does_not_hide_the_others_from_reconciliation(oc41, clock):
    order_id, product = first_order(oc41)
    customer = oc41.order(order_id)["customer_id"]
    other = oc41.place_order(int(customer), [(product, 1)], payment_code="cod", status_id=1)
    oc41.shop.orders[order_id]["products"][0]["quantity"] = 0  # a line abonne cannot read
    found = adapter(oc41, clock).orders_modified_since(datetime.now(timezone.utc) - timedelta(days=1))
    assert [order.order_id for order in found] == [str(other)]


PLAN = {"subscription_plan_id": 5, "plan_name": "Monthly", "frequency": "month", "cycle": 1, "duration": 0,
        "price": "19.9000", "tax": "0.0000", "trial_status": 0}


@pytest.mark.parametrize("version", ["4.1", "4.0", "3.0"])
def test_a_renewal_carries_the_options_and_the_plan_the_first_order_was_bought_with(clock, version):
    """A required option or a product sold with plans is refused without them (real 4.1 and 4.0); 3.0 took the
    line without them and lost the customer's choice. 3.0 has no subscription plans."""
    standin = started(version, clock)
    try:
        if version != "4.1":
            standin.enable_free_shipping()
        customer = standin.add_customer("jane@example.com", "Jane", "Roaster")
        standin.add_address(customer, "1 Bean Street", "New York", "10001")
        product = standin.add_product("Coffee Club Monthly", "19.90", "COFFEE-M")
        grind = standin.add_product_option(product, "Grind", ["Whole bean", "Espresso"])
        chosen = {"options": [("Grind", "Espresso")]} | ({"subscription": PLAN} if version != "3.0" else {})
        order_id = standin.place_order(customer, [(product, 1)], payment_code="cod", status_id=1,
                                       chosen={product: chosen})
        shop = adapter(standin, clock)
        line = shop.get_order(str(order_id)).lines[0]
        assert line.variation_id == f"{product}:{grind['Espresso']}"
        renewal = RenewalOrder(key="7:2", parent_order_id=str(order_id), customer_id=str(customer), billing=None,
                               shipping=None, lines=(RenewalLine(str(product), line.variation_id, line.name, 1,
                                                                 Money.parse("19.90", "USD")),),
                               charged=Money.parse("19.90", "USD"), transaction_id="MYPOS-9", agreement_id=7, cycle=2)
        created = shop.create_renewal_order(renewal)
        [renewed] = standin.shop.orders[int(created.order_id)]["products"]
        assert [(o["name"], o["value"], o["product_option_value_id"]) for o in renewed["options"]] == \
            [("Grind", "Espresso", grind["Espresso"])]
        assert (renewed["subscription"] or {}).get("subscription_plan_id") == (5 if version != "3.0" else None)
    finally:
        standin.stop()
