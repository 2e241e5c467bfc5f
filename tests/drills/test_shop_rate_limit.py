"""Drill: the shop (or the host in front of it) answers 429 Too Many Requests with Retry-After.

abonne must leave that shop alone at least that long: the renewal order that got the 429 waits until then, not
for its usual backoff (30 s), and so does every other push to the shop, even one queued during the wait; no
poll for missed orders reaches it either. The clock travels (abonne in one process, its worker's passes run one
by one here), so an hour's wait takes no time, and each pass is known to have run before the shop is looked at.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bridge.store.tables import OutboxMessage
from bridge.worker import run_once
from tests.drills.invariants import assert_exactly_once, tally
from tests.integration.conftest import Configured
from tests.waiting import wait_for

RETRY_AFTER = timedelta(hours=1)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def pushes(configured: Configured) -> int:
    return len([call for call in configured.woo.api_calls if "/orders" in call[1]])


def test_a_shop_answering_429_gets_no_push_before_its_retry_after(configured: Configured):
    abonne, woo = configured.abonne, configured.woo
    _, [first] = configured.subscribe([(configured.subscription_product, 1)])
    _, [second] = configured.subscribe([(configured.subscription_product, 1)])
    wait_for(lambda: abonne.scalar("SELECT count(*) FROM outbox WHERE state = 'pending'") == 0,
             what="the pay flow's shop updates to be sent")
    abonne.stop_worker()
    bridge = abonne.bridge
    due = datetime.fromisoformat(configured.agreement(first)["next_charge_at"])
    second_due = due + timedelta(minutes=10)  # the second agreement falls due during the wait
    assert abonne.cli("agreements", "set-next-date", str(second), second_due.isoformat()).exit_code == 0

    woo.answer(429, b'{"code":"too_many_requests","message":"Slow down"}', "application/json",
               headers={"Retry-After": str(int(RETRY_AFTER.total_seconds()))})
    abonne.clock.set(due)
    limited_at = due
    report = run_once(bridge)
    assert (report.renewals.charged, report.retried) == (1, 1)
    calls_at_429 = pushes(configured)
    with bridge.uow() as uow:
        [message] = uow.session.query(OutboxMessage).filter_by(kind="renewal_order").all()
        assert message.next_attempt_at >= limited_at + RETRY_AFTER  # not the 30 s backoff
        assert "429" in message.last_error

    abonne.clock.set(second_due)
    assert run_once(bridge).renewals.charged == 1  # charged during the wait; its renewal order waits too
    for later in (timedelta(minutes=11), timedelta(minutes=30), RETRY_AFTER - timedelta(seconds=1)):
        abonne.clock.set(limited_at + later)
        run_once(bridge)
    assert pushes(configured) == calls_at_429, "abonne called the shop before its Retry-After"
    assert abonne.scalar("SELECT count(*) FROM outbox WHERE state = 'pending'") == 2

    woo.behave_normally()
    abonne.clock.set(limited_at + RETRY_AFTER)
    assert run_once(bridge).sent == 2
    assert "shop_asked_to_wait" in [row["kind"] for row in abonne.rows("SELECT kind FROM events")]
    woo.flush_deliveries()
    assert_exactly_once(tally(bridge.db.read_engine, woo, configured.mypos), cycles=4, renewals=2)
