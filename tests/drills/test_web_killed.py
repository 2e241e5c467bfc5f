"""Drill: the web process (`abonne serve --no-worker`) is killed with SIGKILL while it stores a webhook.

The drill holds the deliveries table locked, so the web process's INSERT of the shop's delivery waits inside its
transaction, sees it waiting in pg_stat_activity, and kills the process there. PostgreSQL rolls the transaction
back: nothing half-written, and the shop got no 2xx, so nothing was promised. WooCommerce does not resend a
failed delivery; the worker's next poll of the shop (its 10 minutes simulated) finds the order, which then becomes
one agreement like any other, paid, renewed and pushed once.
"""
from __future__ import annotations

import signal
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text, update

from bridge.store.tables import Shop
from tests.drills.conftest import BILLING, running_rig
from tests.drills.invariants import assert_exactly_once

pytestmark = pytest.mark.postgres


def test_a_web_process_killed_while_storing_a_webhook_writes_nothing_and_the_order_is_still_found(
        postgres_url: str, tmp_path: Path):
    with running_rig(tmp_path, postgres_url) as rig:
        [before] = rig.subscribe(1)
        lock = rig.abonne.engine.connect()
        lock.begin()
        lock.execute(text("LOCK TABLE deliveries IN EXCLUSIVE MODE"))  # reads go on, inserts wait
        order_id = rig.woo.place_order(customer=BILLING, lines=[(rig.product_id, 1)], payment_method="mypos")
        rig.abonne.wait_for(lambda: rig.abonne.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'INSERT INTO deliveries%'"), "the web process to be storing the delivery")
        rig.abonne.web.process.send_signal(signal.SIGKILL)
        rig.abonne.web.process.wait(timeout=10)
        lock.rollback()
        lock.close()

        rig.woo.flush_deliveries()
        assert not [d for d in rig.woo.deliveries if d.resource_id == order_id and d.succeeded]
        assert rig.abonne.scalar("SELECT count(*) FROM deliveries WHERE order_id = :o", o=str(order_id)) == 0
        rig.abonne.start_web()
        with rig.abonne.engine.begin() as connection:  # the worker's next poll of the shop is due
            connection.execute(update(Shop).values(reconcile_due_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
        rig.abonne.wait_for(lambda: rig.abonne.rows("SELECT id FROM agreements WHERE order_id = :o",
                                                    o=str(order_id)), "the poll to find the order")
        [after] = rig.subscribe_existing([order_id])

        rig.make_due([before, after])
        rig.abonne.wait_for(lambda: rig.abonne.scalar("SELECT count(*) FROM agreements WHERE cycles_paid = 2") == 2
                            and rig.settled(), "both agreements to be renewed and pushed")
        assert_exactly_once(rig.tally(), cycles=4, renewals=2)
