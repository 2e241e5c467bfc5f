"""Steering an agreement from the CLI: pause, resume, skip, move, charge now, cancel."""
from __future__ import annotations

from datetime import datetime, timedelta

from tests.integration.conftest import Configured
from tests.integration.test_charge_faults import gateway_charges, later, travel
from tests.waiting import wait_for


def active_agreement(configured: Configured) -> int:
    _, [agreement_id] = configured.subscribe([(configured.subscription_product, 1)])
    return agreement_id


def next_charge(configured: Configured, agreement_id: int) -> datetime:
    return datetime.fromisoformat(configured.agreement(agreement_id)["next_charge_at"])


def test_a_paused_agreement_is_not_charged_until_resumed(configured: Configured):
    agreement_id = active_agreement(configured)
    cli = configured.abonne.cli
    assert cli("agreements", "pause", str(agreement_id)).exit_code == 0
    travel(configured, next_charge(configured, agreement_id) + timedelta(days=2))
    later(configured, timedelta(minutes=1))
    assert gateway_charges(configured) == []
    again = cli("agreements", "pause", str(agreement_id))
    assert again.exit_code == 1 and "paused cannot take paused" in again.output
    resumed = cli("agreements", "resume", str(agreement_id))
    assert resumed.exit_code == 0 and "overdue cycle is charged" in resumed.output
    wait_for(lambda: configured.agreement(agreement_id)["cycles_paid"] == 2, what="the overdue cycle")
    assert len(gateway_charges(configured)) == 1


def test_skip_next_and_set_next_date_move_the_schedule_and_later_dates_follow(configured: Configured):
    agreement_id = active_agreement(configured)  # paid 31 Jan 2027, next 28 Feb
    cli = configured.abonne.cli
    skipped = cli("agreements", "skip-next", str(agreement_id))
    assert skipped.exit_code == 0 and "skipped to 2027-03-31" in skipped.output
    moved = cli("agreements", "set-next-date", str(agreement_id), "2027-04-15T08:00")
    assert moved.exit_code == 0 and "2027-04-15 08:00" in moved.output
    travel(configured, next_charge(configured, agreement_id))
    wait_for(lambda: configured.agreement(agreement_id)["cycles_paid"] == 2, what="the moved cycle")
    assert configured.agreement(agreement_id)["next_charge_at"] == "2027-05-15T08:00:00+00:00"
    past = cli("agreements", "set-next-date", str(agreement_id), "2027-01-01")
    assert past.exit_code == 1 and "must be in the future" in past.output
    garbage = cli("agreements", "set-next-date", str(agreement_id), "next tuesday")
    assert garbage.exit_code == 1 and "WHEN must be a date" in garbage.output


def test_charge_now_charges_the_next_cycle_at_once(configured: Configured):
    agreement_id = active_agreement(configured)
    result = configured.abonne.cli("agreements", "charge-now", str(agreement_id))
    assert result.exit_code == 0 and "cycle 2" in result.output
    wait_for(lambda: configured.agreement(agreement_id)["cycles_paid"] == 2, what="cycle 2")
    assert configured.agreement(agreement_id)["next_charge_at"] == "2027-03-31T09:00:00+00:00"


def test_cancel_at_period_end_charges_nothing_more_and_ends_on_the_due_date(configured: Configured):
    agreement_id = active_agreement(configured)
    cli = configured.abonne.cli
    result = cli("agreements", "cancel", str(agreement_id), "--at-period-end")
    assert result.exit_code == 0 and "2027-02-28" in result.output
    assert configured.agreement(agreement_id)["state"] == "active"
    travel(configured, next_charge(configured, agreement_id))
    wait_for(lambda: configured.agreement(agreement_id)["state"] == "cancelled", what="the cancel")
    assert gateway_charges(configured) == []


def test_cancel_now_and_actions_on_missing_or_ended_agreements(configured: Configured):
    agreement_id = active_agreement(configured)
    cli = configured.abonne.cli
    assert cli("agreements", "cancel", str(agreement_id)).exit_code == 0
    assert configured.agreement(agreement_id)["state"] == "cancelled"
    for action in ("pause", "resume", "charge-now", "skip-next", "cancel"):
        refused = cli("agreements", action, str(agreement_id))
        assert refused.exit_code == 1 and "cancelled" in refused.output, action
    missing = cli("agreements", "pause", "999")
    assert missing.exit_code == 1 and "there is no agreement 999" in missing.output
    later(configured, timedelta(days=60))
    assert gateway_charges(configured) == []
