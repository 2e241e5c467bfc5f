"""Months of renewals by time travel: every cycle charged once, on its date, and pushed to the shop once."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.integration.conftest import Configured
from tests.waiting import wait_for


def renew_through(configured: Configured, agreement_id: int, cycles: int) -> list[str]:
    """Travel to each next charge date in turn and let the worker charge it; returns the dates charged."""
    abonne = configured.abonne
    charged_on = []
    for _ in range(cycles):
        before = configured.agreement(agreement_id)
        due = datetime.fromisoformat(before["next_charge_at"])
        abonne.clock.set(due)
        abonne.bridge.wake_worker.set()
        wait_for(lambda: configured.agreement(agreement_id)["cycles_paid"] == before["cycles_paid"] + 1,
                 what=f"cycle {before['cycles_paid'] + 1} to be charged")
        charged_on.append(f"{due:%Y-%m-%d}")
    return charged_on


def renewal_orders(configured: Configured, parent: int) -> list[dict]:
    return [o for o in configured.woo.orders() if o["parent_id"] == parent]


def test_thirteen_monthly_renewals_keep_the_month_end_and_each_is_charged_and_pushed_once(configured: Configured):
    order_id, [agreement_id] = configured.subscribe([(configured.subscription_product, 1)])
    dates = renew_through(configured, agreement_id, 13)
    assert dates == ["2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31", "2027-06-30", "2027-07-31",
                     "2027-08-31", "2027-09-30", "2027-10-31", "2027-11-30", "2027-12-31", "2028-01-31",
                     "2028-02-29"]
    charges = [t for t in configured.mypos.ledger if t.method == "IPCIAPurchase"]
    assert [t.status for t in charges] == ["paid"] * 13 and {t.amount for t in charges} == {"19.90"}
    orders = wait_for(lambda: len(found := renewal_orders(configured, order_id)) == 13 and found,
                      what="13 renewal orders in the shop")
    assert sorted(o["transaction_id"] for o in orders) == sorted(t.trnref for t in charges)
    for order in orders:
        assert order["status"] == "processing" and order["date_paid_gmt"]
        assert order["billing"]["email"] == "maria.ivanova@example.test"
        assert [(line["product_id"], line["quantity"], line["total"]) for line in order["line_items"]] == [
            (configured.subscription_product, 1, "19.90")]
        assert {m["key"] for m in order["meta_data"]} >= {"_bridge_renewal_of", "_bridge_renewal_key"}
    shown = configured.agreement(agreement_id)
    assert shown["state"] == "active" and shown["cycles_paid"] == 14
    assert configured.abonne.scalar("SELECT count(*) FROM charges WHERE state = 'succeeded'") == 14
    # the shop's echoes of abonne's own renewal orders made no new agreement
    wait_for(lambda: configured.abonne.scalar("SELECT count(*) FROM deliveries WHERE state = 'received'") == 0,
             what="the echoes to be processed")
    assert configured.abonne.scalar("SELECT count(*) FROM agreements") == 1


@pytest.mark.parametrize("plan, args, expected", [
    ("yearly", ["--every", "1", "--unit", "year"], ["2028-01-31", "2029-01-31"]),
    ("fortnightly", ["--every", "2", "--unit", "week"], ["2027-02-14", "2027-02-28", "2027-03-14", "2027-03-28"]),
    ("trial", ["--every", "1", "--unit", "month", "--trial-days", "14"],
     ["2027-02-14", "2027-03-14", "2027-04-14"]),
    ("three payments", ["--every", "1", "--unit", "month", "--cycles", "3"], ["2027-02-28", "2027-03-31"]),
])
def test_plans_mapped_by_the_owner_renew_on_their_own_schedule(configured: Configured, plan, args, expected):
    abonne = configured.abonne
    product = configured.woo.add_product(f"Tea {plan}", "12.00", f"TEA-{len(plan)}")
    assert abonne.cli("plan", "add", plan, *args).exit_code == 0
    assert abonne.cli("plan", "map", plan, "--shop", str(configured.shop_id), "--product", str(product)).exit_code == 0
    _, [agreement_id] = configured.subscribe([(product, 1)])
    assert renew_through(configured, agreement_id, len(expected)) == expected
    shown = configured.agreement(agreement_id)
    if plan == "three payments":
        assert shown["state"] == "expired" and shown["next_charge_at"] is None
    else:
        assert shown["state"] == "active"
    paid = [t for t in configured.mypos.ledger if t.method == "IPCIAPurchase" and t.status == "paid"]
    assert len(paid) == len(expected)


def test_a_renewal_order_refunded_or_trashed_in_the_shop_is_recorded_and_cancels_nothing(configured: Configured):
    order_id, [agreement_id] = configured.subscribe([(configured.subscription_product, 1)])
    renew_through(configured, agreement_id, 2)
    first, second = wait_for(lambda: len(found := renewal_orders(configured, order_id)) == 2 and found,
                             what="two renewal orders")
    configured.woo.set_order_status(first["id"], "refunded")
    configured.woo.trash_order(second["id"])

    def recorded() -> list[str]:
        return [e["message"] for e in configured.agreement(agreement_id)["events"] if "in the shop;" in e["message"]]
    wait_for(lambda: len(recorded()) == 2, what="both shop-side changes on the timeline")
    configured.woo.flush_deliveries()
    wait_for(lambda: configured.abonne.scalar("SELECT count(*) FROM deliveries WHERE state = 'received'") == 0,
             what="every delivery processed")
    assert sorted(recorded()) == [
        f"renewal order {first['id']} (cycle 2) is refunded in the shop; the card payment stands until it is "
        "refunded in myPOS",
        f"renewal order {second['id']} (cycle 3) is trashed in the shop; the card payment stands until it is "
        "refunded in myPOS"]
    assert configured.agreement(agreement_id)["state"] == "active"


def test_the_signup_fee_is_paid_once_with_the_first_payment_and_never_renewed(configured: Configured):
    abonne, woo = configured.abonne, configured.woo
    product = woo.add_product("Wine club", "12.00", "WINE-CLUB")
    assert abonne.cli("plan", "add", "wine", "--every", "1", "--unit", "month", "--signup-fee", "4.90").exit_code == 0
    assert abonne.cli("plan", "map", "wine", "--shop", str(configured.shop_id), "--product", "WINE-CLUB").exit_code == 0
    _, [agreement_id] = configured.subscribe([(product, 1)])
    [first] = [t for t in configured.mypos.ledger if t.method == "IPCPurchase"]
    assert first.amount == "16.90"  # the order's 12.00 and the sign-up fee, as its own cart row
    renew_through(configured, agreement_id, 2)
    assert [t.amount for t in configured.mypos.ledger if t.method == "IPCIAPurchase"] == ["12.00", "12.00"]
