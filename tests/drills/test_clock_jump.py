"""Drill: the clock jumps a month ahead (a host clock corrected, a VM resumed, a worker that was down for a month).

Every cycle that fell due meanwhile is owed: DESIGN's I2 says one successful charge per (agreement, cycle) and I10
that billing dates keep their anchor. So the worker charges each missed cycle once, in order, each with its own
renewal order, and the next charge lands back on the anchor's schedule; it never charges one cycle twice, and never
moves the schedule to "now". abonne runs in one process with its embedded worker on a clock the test moves.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.drills.invariants import assert_exactly_once, tally
from tests.integration.conftest import START, Configured
from tests.waiting import wait_for


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def test_a_month_long_jump_charges_each_missed_cycle_once_and_keeps_the_schedule(configured: Configured):
    abonne, woo = configured.abonne, configured.woo
    weekly_product = woo.add_product("Coffee Club Weekly", "9.90", "COFFEE-CLUB-W",
                                     meta={"_subscription_period": "week", "_subscription_period_interval": "1"})
    _, [monthly] = configured.subscribe([(configured.subscription_product, 1)])
    _, [weekly] = configured.subscribe([(weekly_product, 1)])
    assert abonne.clock.now() == START  # 31 January 2027, 09:00

    abonne.clock.set(datetime(2027, 3, 3, 9, 0, tzinfo=timezone.utc))  # monthly due 28 Feb; weekly 7, 14, 21, 28 Feb
    abonne.bridge.wake_worker.set()
    wait_for(lambda: configured.agreement(monthly)["cycles_paid"] == 2
             and configured.agreement(weekly)["cycles_paid"] == 5
             and abonne.scalar("SELECT count(*) FROM outbox WHERE state = 'pending'") == 0,
             what="every missed cycle to be charged and pushed")

    assert configured.agreement(monthly)["next_charge_at"].startswith("2027-03-31T09:00")  # the 31st, kept
    assert configured.agreement(weekly)["next_charge_at"].startswith("2027-03-07T09:00")
    weekly_cycles = [row["cycle"] for row in abonne.rows(
        "SELECT cycle FROM charges WHERE agreement_id = :a AND source = 'stored_card' ORDER BY id", a=weekly)]
    assert weekly_cycles == [2, 3, 4, 5]  # one attempt per cycle, in order, none declined or repeated
    woo.flush_deliveries()
    assert_exactly_once(tally(abonne.bridge.db.read_engine, woo, configured.mypos), cycles=7, renewals=5)
