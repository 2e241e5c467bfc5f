"""Drill: myPOS answers the renewal charges only after 30 s, while abonne waits 5 (ABONNE_GATEWAY_TIMEOUT_SECONDS).

abonne gives up on each call at its timeout and records the charge as unknown, never as declined (I4), and sends no
second attempt while the first one's fate is open; the gateway then charges the cards at 30 s, and the janitor's
status query settles each charge as paid, once. The janitor's first query (a minute later) is made due at once.
"""
from __future__ import annotations

from pathlib import Path

import requests

from tests.drills.conftest import running_rig
from tests.drills.invariants import assert_exactly_once

CUSTOMERS = 2
GATEWAY_TAKES_S = 30.0


def test_a_gateway_answering_after_30_s_leaves_unknown_charges_that_the_janitor_settles_once(tmp_path: Path):
    with running_rig(tmp_path, f"sqlite:///{tmp_path / 'abonne.db'}", ABONNE_GATEWAY_TIMEOUT_SECONDS="5") as rig:
        agreements = rig.subscribe(CUSTOMERS)
        rig.abonne.wait_for(rig.settled, "the pay flow's shop updates to be sent")
        rig.mypos.latency_s = GATEWAY_TAKES_S
        rig.make_due(agreements)
        paid = lambda: [t for t in rig.mypos.ledger if t.method == "IPCIAPurchase" and t.status == "paid"]

        rig.abonne.wait_for(lambda: rig.abonne.scalar("SELECT count(*) FROM charges WHERE state = 'unknown'")
                            == CUSTOMERS, "the charges to time out as unknown")
        assert paid() == []  # abonne gave up before the gateway did anything
        scraped = requests.get(rig.abonne.url + "/metrics", timeout=10).text
        assert f'abonne_open_charges{{state="unknown"}} {float(CUSTOMERS)}' in scraped  # the operator sees them
        rig.abonne.wait_for(lambda: len(paid()) == CUSTOMERS, "the slow gateway to charge the cards", timeout=60)
        assert rig.abonne.scalar("SELECT count(*) FROM charges WHERE state IN ('declined', 'succeeded') "
                                 "AND source = 'stored_card'") == 0
        assert len([call for call in rig.mypos.calls if call[0] == "IPCIAPurchase"]) == CUSTOMERS  # no retry

        rig.mypos.latency_s = 0.0
        rig.query_unknown_charges_now()
        rig.abonne.wait_for(lambda: rig.abonne.scalar("SELECT count(*) FROM agreements WHERE cycles_paid = 2")
                            == CUSTOMERS and rig.settled(), "the janitor to settle the charges and push them")
        assert_exactly_once(rig.tally(), cycles=2 * CUSTOMERS, renewals=CUSTOMERS)
