"""A shop that is down when a renewal is paid: the charge stands, the renewal order waits in the outbox with the
shop's failure on it, and lands exactly once when the shop is back."""
from __future__ import annotations

import pytest

from tests.shops.conftest import Scenario
from tests.shops.targets import Customer


@pytest.mark.parametrize("outage", ["refused", "503"])
def test_a_renewal_paid_while_the_shop_is_down_is_pushed_once_when_it_is_back(scenario: Scenario, outage: str):
    abonne, shop, proxy = scenario.abonne, scenario.shop, scenario.proxy
    order_id, agreement_id = scenario.subscribe(Customer.new())
    key = f"renewal:{agreement_id}:2"
    if outage == "refused":
        proxy.refuse(shop.netloc)
    else:
        proxy.answer(shop.netloc, 503)

    abonne.make_due(agreement_id)
    failed = abonne.wait_for(lambda: (rows := abonne.rows("SELECT * FROM outbox WHERE dedupe_key = :k", k=key))
                             and rows[0]["last_error"] and rows[0], "the push to fail against the broken shop")
    assert failed["state"] == "pending" and failed["attempts"] == 1
    assert abonne.scalar("SELECT state FROM charges WHERE agreement_id = :a AND cycle = 2", a=agreement_id) \
        == "succeeded"
    assert shop.child_orders(order_id) == []

    proxy.heal(shop.netloc)
    abonne.retry_now(key)
    abonne.wait_for(lambda: abonne.scalar("SELECT state FROM outbox WHERE dedupe_key = :k", k=key) == "done",
                    "the renewal order to land once the shop is back")
    renewals = shop.child_orders(order_id)
    assert len(renewals) == 1 and renewals[0]["transaction_id"] == abonne.scalar(
        "SELECT transaction_ref FROM charges WHERE agreement_id = :a AND cycle = 2", a=agreement_id)
