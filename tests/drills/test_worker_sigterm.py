"""Drill: SIGTERM (systemd's stop, `docker stop`) to an `abonne worker` with gateway calls in flight.

The worker finishes the calls it sent and records their outcomes, sends none of the charges it had claimed but not
yet sent (they are recorded as not charged, so the next worker charges them at once instead of waiting for the
janitor), and exits 0. Nothing is left pending, nothing is half-written.
"""
from __future__ import annotations

import signal
from pathlib import Path

from tests.drills.conftest import running_rig
from tests.drills.invariants import assert_exactly_once

CUSTOMERS = 6


def test_sigterm_lets_the_calls_in_flight_finish_sends_nothing_more_and_exits_0(tmp_path: Path):
    with running_rig(tmp_path, f"sqlite:///{tmp_path / 'abonne.db'}", ABONNE_GATEWAY_CONCURRENCY="2") as rig:
        agreements = rig.subscribe(CUSTOMERS)
        rig.abonne.wait_for(rig.settled, "the pay flow's shop updates to be sent")
        rig.mypos.latency_s = 1.5  # every charge call takes this long: two are in flight when the signal comes
        rig.make_due(agreements)
        worker = rig.abonne.worker
        charge_calls = lambda: [order_id for method, order_id in rig.mypos.calls if method == "IPCIAPurchase"]
        rig.abonne.wait_for(lambda: len(charge_calls()) == 2, "two charge calls to reach the gateway")
        worker.process.send_signal(signal.SIGTERM)

        assert worker.process.wait(timeout=60) == 0
        worker.stop()
        assert len(charge_calls()) == 2  # nothing was sent after the signal
        states = sorted(row["state"] for row in rig.abonne.rows(
            "SELECT state FROM charges WHERE source = 'stored_card'"))
        assert states == ["not_charged"] * (CUSTOMERS - 2) + ["succeeded"] * 2  # none pending, none unknown
        assert len([t for t in rig.mypos.ledger if t.method == "IPCIAPurchase" and t.status == "paid"]) == 2

        rig.mypos.latency_s = 0.0
        rig.abonne.start_worker()  # what systemd's restart does: the next worker charges the rest at once
        rig.abonne.wait_for(lambda: rig.abonne.scalar("SELECT count(*) FROM agreements WHERE cycles_paid = 2")
                            == CUSTOMERS and rig.settled(), "every second cycle to be charged and pushed")
        assert_exactly_once(rig.tally(), cycles=2 * CUSTOMERS, renewals=CUSTOMERS, webhooks=None)
