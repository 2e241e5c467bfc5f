from datetime import datetime, timedelta, timezone

import pytest

from bridge.domain.dunning import DunningAction, DunningPolicy

NOW = datetime(2027, 3, 1, 6, tzinfo=timezone.utc)


def test_soft_declines_follow_the_default_schedule_then_suspend():
    policy = DunningPolicy()
    waits = [policy.after_decline(False, n, NOW) for n in range(1, 6)]
    assert [s.at - NOW for s in waits] == [timedelta(hours=12), timedelta(hours=12), timedelta(days=1),
                                           timedelta(days=2), timedelta(days=3)]
    assert all(s.action is DunningAction.RETRY for s in waits)
    assert [s.ask_for_card for s in waits] == [True, False, False, False, False]
    last = policy.after_decline(False, 6, NOW)
    assert last.action is DunningAction.SUSPEND and last.ask_for_card and last.at == NOW + timedelta(days=14)


def test_a_hard_decline_asks_for_a_card_at_once():
    step = DunningPolicy().after_decline(True, 1, NOW)
    assert step.action is DunningAction.SUSPEND and step.ask_for_card


def test_the_schedule_is_configurable_and_bad_settings_are_named():
    policy = DunningPolicy.parse("30m, 2h,1d", grace_days=3)
    assert policy.retries == (timedelta(minutes=30), timedelta(hours=2), timedelta(days=1))
    assert policy.grace == timedelta(days=3)
    with pytest.raises(ValueError, match="'2w'"):
        DunningPolicy.parse("12h,2w", 3)
    assert DunningPolicy.parse("", 3).after_decline(False, 1, NOW).action is DunningAction.SUSPEND
