"""Drill: PostgreSQL is stopped (fast shutdown: every session ends, open transactions roll back) in the middle of a
renewal run, a webhook arrives while it is down, and it is started again.

The server is the drill's own (tests/drills/private_postgres.py), so the machine's shared PostgreSQL is left alone.
abonne's web and worker processes keep running throughout: the worker's passes fail while the database is gone and
go on afterwards. Charges that myPOS answered while the database was down could not be recorded: they stay pending
(written ahead, I3) and are settled by the janitor's status query; the webhook the web process could not store was answered with an error, so the order
is found by the next poll of the shop. Waits the recovery needs (the janitor's 5 minutes, the poll's 10, leases)
are simulated by moving the rows' own timestamps.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
import requests
from sqlalchemy import update

from bridge.store.tables import Shop
from tests.drills.conftest import BILLING, running_rig
from tests.drills.invariants import assert_exactly_once
from tests.drills.private_postgres import SERVER_PACKAGE, PrivatePostgres, server_binaries

CUSTOMERS = 6

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(server_binaries() is None, reason=f"needs PostgreSQL's initdb: install Debian's "
                                                           f"{SERVER_PACKAGE} (`make test` does)"),
]


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    yield server
    server.destroy()


def test_postgresql_restarted_mid_run_loses_nothing_and_charges_nothing_twice(postgres: PrivatePostgres,
                                                                                tmp_path: Path):
    with running_rig(tmp_path, postgres.url, ABONNE_GATEWAY_CONCURRENCY="4") as rig:
        agreements = rig.subscribe(CUSTOMERS)
        rig.abonne.wait_for(rig.settled, "the pay flow's shop updates to be sent")
        rig.mypos.latency_s = 2.0  # wide enough for the database to be down before the answers come
        rig.make_due(agreements)
        charge_calls = lambda: [call for call in rig.mypos.calls if call[0] == "IPCIAPurchase"]
        rig.abonne.wait_for(lambda: len(charge_calls()) >= 4, "the first charges to be in flight")

        postgres.stop("fast")
        order_while_down = rig.woo.place_order(customer=BILLING, lines=[(rig.product_id, 1)],
                                               payment_method="mypos")
        rig.woo.flush_deliveries()
        refused = [d for d in rig.woo.deliveries if d.resource_id == order_while_down]
        assert refused and not [d for d in refused if d.succeeded]  # abonne could not store them, and said so
        rig.abonne.wait_for(lambda: "the janitor will settle it" in rig.abonne.worker.tail(400),
                            "a charge answered by myPOS while the database is down")
        ready = requests.get(rig.abonne.url + "/readyz", timeout=10)
        assert ready.status_code == 503 and "database unreachable" in ready.json()["reason"]
        postgres.start()
        rig.abonne.engine.dispose()  # the drill's own connections to the database died too

        assert rig.abonne.web.running and rig.abonne.worker.running
        paid = lambda: [t for t in rig.mypos.ledger if t.method == "IPCIAPurchase" and t.status == "paid"]
        rig.abonne.wait_for(lambda: len(paid()) == CUSTOMERS, "every due agreement to be charged")
        unrecorded = {row["gateway_order_id"] for row in rig.abonne.rows(
            "SELECT gateway_order_id FROM charges WHERE state = 'pending'")}
        assert unrecorded and unrecorded <= {t.order_id for t in paid()}  # charged, written ahead, not yet settled
        # Once the database is back, the janitor (after its waits) settles what could not be recorded, and the poll
        # of the shop finds the order whose webhook failed.
        rig.abandon_pending_charges()
        rig.end_leases()
        with rig.abonne.engine.begin() as connection:
            connection.execute(update(Shop).values(reconcile_due_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
        rig.abonne.wait_for(lambda: rig.abonne.scalar("SELECT count(*) FROM agreements WHERE cycles_paid = 2")
                            == CUSTOMERS and rig.settled()
                            and rig.abonne.scalar("SELECT count(*) FROM agreements WHERE order_id = :o",
                                                  o=str(order_while_down)) == 1,
                            "every charge to be settled and pushed, and the missed order found")
        assert rig.abonne.web.running and rig.abonne.worker.running  # neither needed a restart
        assert requests.get(rig.abonne.url + "/readyz", timeout=10).json()["ready"] is True
        assert len(charge_calls()) == CUSTOMERS  # no cycle was sent twice
        assert_exactly_once(rig.tally(), cycles=2 * CUSTOMERS, renewals=CUSTOMERS)
