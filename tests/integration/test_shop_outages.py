"""Shops go down and webhooks get lost: every renewal order still lands once, every order still becomes an
agreement."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bridge.clock import SettableClock
from bridge.services import outbox
from bridge.store.tables import OutboxMessage
from tests.integration.conftest import BILLING, Configured
from tests.integration.test_charge_faults import later, travel
from tests.waiting import wait_for


@pytest.fixture
def clock() -> SettableClock:
    """Reconciliation compares the shop's modification times with abonne's notion of when the shop was connected,
    so here abonne's clock starts where the stand-in shop's real clock is."""
    return SettableClock(datetime.now(timezone.utc).replace(microsecond=0))


def renewal_messages(configured: Configured) -> list[OutboxMessage]:
    with configured.abonne.bridge.uow() as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "renewal_order")))


@pytest.mark.parametrize("outage", ["503", "refused"])
def test_renewal_orders_wait_out_a_shop_outage_and_land_once_each(configured: Configured, outage):
    woo, abonne = configured.woo, configured.abonne
    subscribed = [configured.subscribe([(configured.subscription_product, 1)]) for _ in range(3)]
    wait_for(lambda: abonne.scalar("SELECT count(*) FROM outbox WHERE state = 'pending'") == 0,
             what="notes and paid marks to reach the shop")
    woo.answer(503) if outage == "503" else woo.refuse_connections()
    travel(configured, max(datetime.fromisoformat(configured.agreement(a)["next_charge_at"])
                           for _, [a] in subscribed))  # every cycle 2 is due
    wait_for(lambda: abonne.scalar("SELECT count(*) FROM charges WHERE cycle = 2 AND state = 'succeeded'") == 3,
             what="three renewals charged")
    abonne.stop_worker()  # from here each round of pushes is driven by hand, one drain per clock step
    for _ in range(6):  # six rounds of backoff while the shop stays down
        later(configured, timedelta(minutes=20))  # past any backoff so far and past a claim's lease
        report = outbox.drain(abonne.bridge)
        assert report.sent == 0 and report.dead == 0
    assert min(m.attempts for m in renewal_messages(configured)) >= 6
    assert all(m.state == "pending" for m in renewal_messages(configured))
    woo.behave_normally()
    later(configured, timedelta(hours=1))
    assert outbox.drain(abonne.bridge).sent == 3
    for order_id, _ in subscribed:
        renewals = [o for o in woo.orders() if o["parent_id"] == order_id]
        assert len(renewals) == 1 and renewals[0]["date_paid_gmt"]


def test_orders_placed_while_every_webhook_failed_are_found_and_the_webhooks_repaired(configured: Configured):
    woo, abonne = configured.woo, configured.abonne
    # The worker polls a new shop at once, then every ABONNE_RECONCILE_MINUTES (the clock stands still here):
    # after its first look, only the `abonne reconcile` below looks again.
    wait_for(lambda: abonne.scalar("SELECT reconcile_due_at FROM shops"), what="the worker's first poll")
    abonne.go_offline()
    placed = [woo.place_order(customer=BILLING, lines=[(configured.subscription_product, 1)],
                              payment_method="mypos") for _ in range(8)]
    woo.flush_deliveries()
    ours = [d for d in woo.deliveries if d.topic != "ping"]
    assert ours and not any(d.succeeded for d in ours)
    hooks = [woo.webhook(w) for w in {d.webhook_id for d in ours}]
    assert {h["status"] for h in hooks} == {"disabled"}  # WooCommerce gave up after 7 failures; it never retries
    assert abonne.scalar("SELECT count(*) FROM agreements") == 0

    abonne.come_back()
    result = abonne.cli("reconcile")
    assert result.exit_code == 0, result.output
    assert "8 agreements created from missed webhooks" in result.output
    assert {woo.webhook(h["id"])["status"] for h in hooks} == {"active"}
    assert sorted(int(r["order_id"]) for r in abonne.rows("SELECT order_id FROM agreements")) == sorted(placed)
    for order_id in placed:
        configured.customer_note_link(order_id)  # each customer still gets the pay link
    assert abonne.cli("reconcile").exit_code == 0  # a second look changes nothing
    assert abonne.scalar("SELECT count(*) FROM agreements") == 8

    later_order = woo.place_order(customer=BILLING, lines=[(configured.subscription_product, 1)],
                                  payment_method="mypos")
    wait_for(lambda: configured.agreements(later_order), what="the next order to come by webhook again")
