"""Drill: the web process (`abonne serve --no-worker`) is killed with SIGKILL while it stores a webhook.

The drill stops the web process's transaction at a chosen moment with PostgreSQL itself, sees it stopped there in
pg_stat_activity, and kills the process:
- `inserting`: the deliveries table is locked, so the INSERT waits. PostgreSQL rolls the transaction back: nothing
  is half-written, and the shop got no 2xx, so nothing was promised. WooCommerce does not resend a failed delivery;
  the worker's next poll of the shop (its 10 minutes simulated) finds the order.
- `committing`: a deferred trigger of the drill's (this throw-away database only) sleeps inside COMMIT. The commit
  completes after the process is gone: the delivery is stored though the shop never heard so, and the poll brings
  the same order a second time.
Either way the order becomes exactly one agreement, paid, renewed and pushed once.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text, update

from bridge.store.tables import Shop
from tests.drills.conftest import BILLING, Rig, running_rig
from tests.drills.invariants import assert_exactly_once

pytestmark = pytest.mark.postgres

HOLD_COMMIT = """
CREATE FUNCTION drill_hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER drill_hold_commit AFTER INSERT ON deliveries DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION drill_hold_commit();
"""


def waiting(rig: Rig, condition: str) -> None:
    rig.abonne.wait_for(lambda: rig.abonne.scalar(f"SELECT count(*) FROM pg_stat_activity WHERE {condition}"),
                        f"the web process to be stopped where the drill wants it ({condition})")


def order(rig: Rig) -> int:
    return rig.woo.place_order(customer=BILLING, lines=[(rig.product_id, 1)], payment_method="mypos")


def kill_while_inserting(rig: Rig) -> int:
    with rig.abonne.engine.connect() as lock:
        lock.execute(text("LOCK TABLE deliveries IN EXCLUSIVE MODE"))  # reads go on, inserts wait
        order_id = order(rig)
        waiting(rig, "wait_event_type = 'Lock' AND query LIKE 'INSERT INTO deliveries%'")
        rig.abonne.web.kill()
        lock.rollback()
    return order_id


def kill_while_committing(rig: Rig) -> int:
    with rig.abonne.engine.begin() as connection:
        connection.execute(text(HOLD_COMMIT))
    order_id = order(rig)
    waiting(rig, "wait_event = 'PgSleep' AND query = 'COMMIT'")
    rig.abonne.web.kill()
    rig.abonne.wait_for(lambda: rig.abonne.scalar("SELECT count(*) FROM pg_stat_activity WHERE "
                                                  "wait_event = 'PgSleep'") == 0, "the commit to end")
    with rig.abonne.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER drill_hold_commit ON deliveries"))
    return order_id


@pytest.mark.parametrize("moment, stored", [("inserting", 0), ("committing", 1)])
def test_a_web_process_killed_while_storing_a_webhook_leaves_one_agreement_for_the_order(
        postgres_url: str, tmp_path: Path, moment: str, stored: int):
    with running_rig(tmp_path, postgres_url) as rig:
        [before] = rig.subscribe(1)
        order_id = kill_while_inserting(rig) if moment == "inserting" else kill_while_committing(rig)

        rig.woo.flush_deliveries()
        assert not [d for d in rig.woo.deliveries if d.resource_id == order_id and d.succeeded]
        assert rig.abonne.scalar("SELECT count(*) FROM deliveries WHERE order_id = :o", o=str(order_id)) == stored
        rig.abonne.start_web()
        with rig.abonne.engine.begin() as connection:  # the worker's next poll of the shop is due
            connection.execute(update(Shop).values(reconcile_due_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
        rig.abonne.wait_for(lambda: rig.abonne.rows("SELECT id FROM shops WHERE reconcile_due_at > :now",
                                                    now=datetime.now(timezone.utc)), "the poll of the shop")
        [after] = rig.subscribe_existing([order_id])

        rig.make_due([before, after])
        rig.abonne.wait_for(lambda: rig.abonne.scalar("SELECT count(*) FROM agreements WHERE cycles_paid = 2") == 2
                            and rig.settled(), "both agreements to be renewed and pushed")
        assert rig.abonne.scalar("SELECT count(*) FROM agreements WHERE order_id = :o", o=str(order_id)) == 1
        assert_exactly_once(rig.tally(), cycles=4, renewals=2)
