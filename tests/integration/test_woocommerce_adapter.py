"""WooCommerceShop against the WooCommerce stand-in over real HTTP: renewal orders, finding an earlier attempt,
reconciliation polling, webhook repair and how failures surface as ShopError."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import random
import pytest

from adapters.woocommerce import WooCommerceShop
from adapters.woocommerce.standin import WooCommerceStandin
from bridge.domain.money import Money
from bridge.ports import Address, RenewalLine, RenewalOrder, ShopError
from bridge.serving import serve_in_thread
from tests.waiting import wait_for

CK = "ck_f9e4731437e9d43d89a65d490b0c167a6e00b1c9"
CS = "cs_a97fc6d7dc88f0d6fadd29da2d5d47baba6fbb47"
HOOK_URL = "http://127.0.0.1:8080/bridge/woo"
JANE_BILLING = Address(first_name="Jane", last_name="Doe", address_1="12 Vitosha Blvd", city="Sofia",
                       postcode="1000", country="BG", email="jane@example.com", phone="+359888000002")
JANE_SHIPPING = Address(first_name="John", last_name="Doe", address_1="3 Rakovski St", city="Plovdiv",
                        postcode="4000", country="BG", email="ignored@example.com")


class ShopClock:
    """Real time plus an offset the test moves, to spread order changes over seconds (OAuth allows 15 min)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset


@pytest.fixture
def clock() -> ShopClock:
    return ShopClock()


@pytest.fixture
def standin(clock: ShopClock):
    shop = WooCommerceStandin(delivery_delay_s=0.01)
    shop.start(CK, CS, clock=clock)
    yield shop
    shop.stop()


def adapter_for(standin: WooCommerceStandin, timeout: float = 5.0) -> WooCommerceShop:
    return WooCommerceShop({"url": standin.url}, {"consumer_key": CK, "consumer_secret": CS, "webhook_secret": "x"},
                           timeout=timeout)


@pytest.fixture
def shop(standin: WooCommerceStandin) -> WooCommerceShop:
    return adapter_for(standin)


@pytest.fixture
def first_order(standin: WooCommerceStandin) -> dict:
    """Jane's first order of the Coffee Club (19.90) and a 500 g Flex bag (variation), paid by card."""
    club = standin.add_product("Coffee Club Monthly", "19.90", "COFFEE-CLUB-M",
                               meta={"_subscription_period": "month", "_subscription_period_interval": "1"})
    flex = standin.add_product("Coffee Club Flex", sku="COFFEE-CLUB-FLEX", type="variable",
                               attributes={"Bag size": ["250 g", "500 g"]})
    bag = standin.add_variation(flex, "14.00", "COFFEE-CLUB-FLEX-500", {"Bag size": "500 g"})
    jane = standin.add_customer("jane@example.com", "Jane", "Doe", username="jane")
    order_id = standin.place_order(customer=jane, lines=[(club, 1), (flex, 2, bag)], payment_method="mypos",
                                   paid=True, transaction_id="MYPOS-TX-1000")
    return {"order_id": order_id, "club": club, "flex": flex, "bag": bag, "customer": jane}


def renewal_of(first: dict, cycle: int = 2, transaction_id: str | None = None, agreement_id: int = 7,
               club_total: str = "19.90", charged: str = "47.90") -> RenewalOrder:
    return RenewalOrder(
        key=f"{agreement_id}:{cycle}",
        parent_order_id=str(first["order_id"]),
        customer_id=str(first["customer"]),
        billing=JANE_BILLING,
        shipping=JANE_SHIPPING,
        lines=(RenewalLine(str(first["club"]), None, "Coffee Club Monthly", 1, Money.parse(club_total, "EUR")),
               RenewalLine(str(first["flex"]), str(first["bag"]), "Coffee Club Flex - 500 g", 2,
                           Money.parse("28.00", "EUR"))),
        charged=Money.parse(charged, "EUR"),
        transaction_id=transaction_id or f"MYPOS-TX-{agreement_id}-{cycle}",
        agreement_id=agreement_id,
        cycle=cycle,
    )


def meta_of(order: dict) -> dict:
    return {m["key"]: m["value"] for m in order["meta_data"]}


# ---------------------------------------------------------------------------------------------- creating renewals

def test_a_renewal_order_is_paid_and_keeps_the_agreed_lines_addresses_and_marker(standin, shop, first_order):
    with standin.shop.lock:  # the owner raised the price since the sign-up; the renewal keeps the agreed one
        standin.shop.products[first_order["club"]].regular_price = "24.90"

    created = shop.create_renewal_order(renewal_of(first_order, club_total="19.90"))

    order = standin.order(int(created.order_id))
    assert created.total == Money.parse("47.90", "EUR")
    assert (order["customer_id"], order["parent_id"]) == (first_order["customer"], first_order["order_id"])
    assert order["billing"]["email"] == "jane@example.com" and order["billing"]["phone"] == "+359888000002"
    assert (order["shipping"]["first_name"], order["shipping"]["city"]) == ("John", "Plovdiv")
    assert "email" not in order["shipping"]
    lines = [(li["product_id"], li["variation_id"], li["quantity"], li["subtotal"], li["total"])
             for li in order["line_items"]]
    assert lines == [(first_order["club"], 0, 1, "19.90", "19.90"),
                     (first_order["flex"], first_order["bag"], 2, "28.00", "28.00")]
    assert (order["status"], order["transaction_id"], order["total"]) == ("processing", "MYPOS-TX-7-2", "47.90")
    assert order["date_paid_gmt"] and order["needs_payment"] is False
    assert (order["payment_method"], order["payment_method_title"], order["created_via"]) == \
        ("abonne", "Card on file (myPOS)", "abonne")
    assert meta_of(order) == {"_bridge_renewal_of": str(first_order["order_id"]), "_bridge_renewal_key": "7:2",
                              "_bridge_agreement": "7", "_bridge_cycle": "2"}
    # One call: the order carries its transaction and marker, so no note is added, and nothing is mailed.
    assert not [n for n in standin.notes(int(created.order_id)) if n.note.startswith("abonne:")]
    assert not [m for m in standin.mails if m.order_id == int(created.order_id)]


def test_the_renewal_comes_back_from_the_shop_as_the_bridges_own_order(standin, shop, first_order):
    standin.add_webhook("order.created", HOOK_URL, "x")  # unreachable receiver: the body is what counts
    created = shop.create_renewal_order(renewal_of(first_order))
    assert standin.flush_deliveries()

    echo = next(d for d in standin.deliveries if d.topic == "order.created" and d.resource_id == int(created.order_id))
    parsed = shop.parse_order(echo.body)
    assert parsed.own_renewal and parsed.paid and parsed.transaction_id == "MYPOS-TX-7-2"
    assert shop.get_order(created.order_id).own_renewal


def test_nonsense_the_shop_would_accept_is_refused_before_anything_is_sent(standin, shop, first_order):
    before = len(standin.orders())
    good = renewal_of(first_order)
    zero = RenewalLine("12", None, "Coffee Club Monthly", 0, Money.parse("19.90", "EUR"))
    negative = RenewalLine("12", None, "Coffee Club Monthly", 1, Money(-100, "EUR"))
    unknown = RenewalLine("not-a-product", None, "?", 1, Money.parse("19.90", "EUR"))
    for lines, why in (((zero,), "quantity 0"), ((negative,), "negative total"), ((unknown,), "valid product"),
                       ((), "no lines")):
        with pytest.raises(ShopError) as refused:
            shop.create_renewal_order(replace(good, lines=lines))
        assert why in refused.value.detail and not refused.value.retryable
    assert len(standin.orders()) == before


def test_a_parent_order_deleted_since_does_not_keep_the_paid_renewal_out_of_the_shop(standin, shop, first_order):
    standin.shop.force_delete_order(standin.shop.orders[first_order["order_id"]])

    created = shop.create_renewal_order(renewal_of(first_order))

    order = standin.order(int(created.order_id))
    assert order["parent_id"] == 0 and order["date_paid_gmt"]
    assert meta_of(order)["_bridge_renewal_key"] == "7:2"
    note = next(n.note for n in standin.notes(int(created.order_id)) if n.note.startswith("abonne:"))
    assert f"no longer knows parent id {first_order['order_id']}" in note
    assert shop.find_renewal_order(renewal_of(first_order)) == created  # found through its transaction id


# ---------------------------------------------------------------------------------------------- finding an attempt

def test_an_earlier_attempt_is_found_by_its_key_and_no_other(standin, shop, first_order):
    created = shop.create_renewal_order(renewal_of(first_order, cycle=2, transaction_id="MYPOS-TX-1001-20"))

    assert shop.find_renewal_order(renewal_of(first_order, cycle=2, transaction_id="MYPOS-TX-1001-20")) == created
    # "MYPOS-TX-1001-2" is a prefix of the other charge's reference and the parent is the same: no match.
    assert shop.find_renewal_order(renewal_of(first_order, cycle=3, transaction_id="MYPOS-TX-1001-2")) is None
    assert shop.find_renewal_order(renewal_of(first_order, cycle=2, agreement_id=8)) is None


def test_another_installs_order_with_the_same_key_is_not_taken_for_this_attempt(standin, shop, first_order):
    """A fresh abonne database numbers agreements from 1 again: its key "7:2" may already be on another customer's
    order in the shop, under a transaction id that the partial search matches."""
    other = shop.create_renewal_order(renewal_of(first_order, transaction_id="MYPOS-TX-7-2-OTHER"))
    with standin.shop.lock:
        standin.shop.orders[int(other.order_id)].parent_id = 0

    assert shop.find_renewal_order(renewal_of(first_order, transaction_id="MYPOS-TX-7-2")) is None


def test_an_attempt_is_found_through_the_parent_when_the_search_misses_it(standin, shop, first_order):
    created = shop.create_renewal_order(renewal_of(first_order))
    with standin.shop.lock:  # e.g. a shop whose order search does not cover transaction ids (no HPOS)
        standin.shop.orders[int(created.order_id)].transaction_id = "EDITED-BY-OWNER"

    assert shop.find_renewal_order(renewal_of(first_order)) == created


def test_a_trashed_renewal_still_counts_as_created(standin, shop, first_order):
    created = shop.create_renewal_order(renewal_of(first_order))
    standin.trash_order(int(created.order_id))

    assert shop.find_renewal_order(renewal_of(first_order)) == created


def test_a_create_that_times_out_is_retryable_and_the_order_it_made_is_found_afterwards(standin, first_order):
    impatient = adapter_for(standin, timeout=0.3)
    standin.slow_down(0.6)  # the shop takes longer than the adapter waits, then creates the order anyway
    before = {o["id"] for o in standin.orders()}

    with pytest.raises(ShopError) as timed_out:
        impatient.create_renewal_order(renewal_of(first_order))
    assert timed_out.value.retryable and "did not answer in time" in timed_out.value.detail

    standin.slow_down(0)
    made = wait_for(lambda: [o for o in standin.orders() if o["id"] not in before], timeout=3,
                    what="the timed-out create to finish in the shop")
    found = impatient.find_renewal_order(renewal_of(first_order))
    assert found is not None and found.order_id == str(made[0]["id"])
    assert found.total == Money.parse("47.90", "EUR")


# ---------------------------------------------------------------------------------------------- failures

def test_an_unavailable_or_unreachable_shop_is_a_retryable_error(standin, shop, first_order):
    standin.answer(503)
    with pytest.raises(ShopError) as unavailable:
        shop.create_renewal_order(renewal_of(first_order))
    assert unavailable.value.retryable and unavailable.value.status == 503

    standin.behave_normally()
    standin.refuse_connections()
    with pytest.raises(ShopError) as refused:
        shop.find_renewal_order(renewal_of(first_order))
    assert refused.value.retryable and "cannot be reached" in refused.value.detail

    standin.accept_connections()
    assert shop.find_renewal_order(renewal_of(first_order)) is None


def test_a_refused_create_is_not_retryable_and_names_the_shops_error(standin, shop, first_order):
    bad_email = replace(renewal_of(first_order), billing=Address(first_name="Jane", email="not an address"))
    with pytest.raises(ShopError) as refused:
        shop.create_renewal_order(bad_email)
    assert not refused.value.retryable and refused.value.status == 400
    assert "rest_invalid_param" in refused.value.detail


# ---------------------------------------------------------------------------------------------- reconciliation

def test_orders_modified_since_reads_every_page_oldest_change_first(standin, shop, clock, first_order):
    clock.offset = timedelta(seconds=5)
    since = clock()
    placed = []
    for n in range(230):
        if n >= 120:  # the first 120 share one second (paged by offset), the rest spread over seconds
            clock.offset += timedelta(seconds=1) if n % 3 == 0 else timedelta(0)
        placed.append(standin.place_order(customer=first_order["customer"], lines=[(first_order["club"], 1)],
                                          payment_method="bacs"))
    clock.offset += timedelta(seconds=1)
    standin.set_order_status(first_order["order_id"], "completed")  # an old order changed last

    changed = shop.orders_modified_since(since)

    assert [o.order_id for o in changed] == [str(i) for i in placed] + [str(first_order["order_id"])]
    assert all(a.modified_at <= b.modified_at for a, b in zip(changed, changed[1:]))
    assert changed[-1].status == "completed"
    assert shop.orders_modified_since(clock() + timedelta(seconds=2)) == []


# ---------------------------------------------------------------------------------------------- webhook health

def test_repair_re_enables_a_webhook_disabled_after_failures_and_leaves_a_paused_one(standin, shop, first_order):
    def receiver_down(environ, start_response):
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"down"]

    failing = serve_in_thread(receiver_down)
    try:
        url = failing.url + "/bridge/woo"
        created = standin.add_webhook("order.created", url, "x")
        updated = standin.add_webhook("order.updated", url, "x", status="paused")
        standin.add_webhook("order.deleted", url, "x")
        other = standin.add_webhook("order.created", "http://127.0.0.1:8080/someone-else", "y")
        standin.set_webhook_status(other, "disabled")
        for _ in range(7):
            standin.place_order(customer=first_order["customer"], lines=[(first_order["club"], 1)],
                                payment_method="bacs")
            assert standin.flush_deliveries()
        assert standin.webhook(created)["status"] == "disabled"

        repairs = shop.repair_webhooks(url)
    finally:
        failing.stop()

    assert standin.webhook(created)["status"] == "active"
    assert standin.webhook(updated)["status"] == "paused"
    assert standin.webhook(other)["status"] == "disabled"
    assert [r.repaired for r in repairs].count(True) == 1
    assert any(f"webhook {created} (order.created) was disabled" in r.detail and r.repaired for r in repairs)
    assert any(f"webhook {updated} (order.updated) is paused" in r.detail and not r.repaired for r in repairs)
    assert len(repairs) == 3
    assert shop.repair_webhooks(url) and all(not r.repaired for r in shop.repair_webhooks(url))


def test_repair_reports_topics_no_webhook_delivers(standin, shop):
    standin.add_webhook("order.created", HOOK_URL, "x")
    details = [r.detail for r in shop.repair_webhooks(HOOK_URL)]
    assert any("order.updated" in d and "register" in d for d in details)
    assert any("order.deleted" in d and "register" in d for d in details)


def test_a_request_refused_for_a_reused_oauth_nonce_is_signed_afresh_and_sent_again(standin, shop):
    # The woocommerce client draws its nonce from the shared `random`: the same seed repeats it, as chance does.
    random.seed(20261125)
    assert shop.test_connection().ok
    random.seed(20261125)
    report = shop.test_connection()
    assert report.ok, report.detail
