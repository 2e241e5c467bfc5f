"""Drill: SIGTERM (systemd's stop, `docker stop`) to an `abonne worker` with gateway calls in flight.

The worker finishes the calls it sent and records their outcomes, sends none of the charges it had claimed but not
yet sent (they are recorded as not charged, so the next worker charges them at once instead of waiting for the
janitor), and exits 0. Nothing is left pending, nothing is half-written. The same with a renewal order's push in
flight: that push is finished, the renewal orders claimed with it are handed back unsent (their first attempt
still to come), and the next worker pushes them.
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
        rig.mypos.latency_s = 3.0  # every charge call takes this long: two are in flight when the signal comes
        rig.make_due(agreements)
        worker = rig.abonne.worker
        charge_calls = lambda: [order_id for method, order_id in rig.mypos.calls if method == "IPCIAPurchase"]
        rig.abonne.wait_for(lambda: len(charge_calls()) >= 2, "two charge calls to reach the gateway")
        worker.process.send_signal(signal.SIGTERM)

        assert worker.process.wait(timeout=60) == 0
        worker.stop()
        assert "abonne worker stopped" in worker.tail()
        sent = len(charge_calls())  # 2, unless this machine was too slow to signal within the gateway's 3 s
        assert 2 <= sent < CUSTOMERS, "the worker went on charging after SIGTERM"
        states = sorted(row["state"] for row in rig.abonne.rows(
            "SELECT state FROM charges WHERE source = 'stored_card'"))
        assert states == ["not_charged"] * (CUSTOMERS - sent) + ["succeeded"] * sent  # none pending or unknown
        assert len([t for t in rig.mypos.ledger if t.method == "IPCIAPurchase" and t.status == "paid"]) == sent

        # The next worker (what systemd's restart starts) charges the rest at once, then pushes the renewal orders
        # one at a time into a slow shop; it too is stopped, with a push in flight.
        rig.mypos.latency_s = 0.0
        rig.woo.slow_down(1.5)
        rig.abonne.env["ABONNE_SHOP_CONCURRENCY"] = "1"
        rig.abonne.start_worker()
        worker = rig.abonne.worker
        creates = lambda: [call for call in rig.woo.api_calls if call == ("POST", "/wp-json/wc/v3/orders")]
        rig.abonne.wait_for(creates, "the first renewal order to reach the shop")
        worker.process.send_signal(signal.SIGTERM)

        assert worker.process.wait(timeout=60) == 0
        worker.stop()
        pushed = len(creates())  # 1, unless this machine was too slow to signal within the shop's 1.5 s
        assert 1 <= pushed < CUSTOMERS, "the worker went on pushing after SIGTERM"
        assert rig.abonne.scalar("SELECT count(*) FROM agreements WHERE cycles_paid = 2") == CUSTOMERS
        outbox = sorted((row["state"], row["attempts"]) for row in rig.abonne.rows(
            "SELECT state, attempts FROM outbox WHERE kind = 'renewal_order'"))
        assert outbox == [("done", 1)] * pushed + [("pending", 0)] * (CUSTOMERS - pushed)  # handed back unsent

        rig.woo.behave_normally()
        rig.abonne.start_worker()
        rig.abonne.wait_for(rig.settled, "every renewal order to be pushed")
        assert_exactly_once(rig.tally(), cycles=2 * CUSTOMERS, renewals=CUSTOMERS)
