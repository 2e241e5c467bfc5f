from datetime import datetime, timezone

import pytest

from bridge.domain.money import Money
from bridge.domain.schedule import BillingPeriod, PeriodUnit, Terms, TermsError

UTC = timezone.utc
MONTHLY = BillingPeriod(PeriodUnit.MONTH)


def at(y, m, d, h=10):
    return datetime(y, m, d, h, tzinfo=UTC)


def test_month_end_anchor_clamps_and_comes_back():
    anchor = at(2027, 1, 31)
    dates = [MONTHLY.nth_after(anchor, n) for n in range(4)]
    assert dates == [at(2027, 1, 31), at(2027, 2, 28), at(2027, 3, 31), at(2027, 4, 30)]


def test_leap_years_give_february_29th():
    assert MONTHLY.nth_after(at(2028, 1, 31), 1) == at(2028, 2, 29)
    assert BillingPeriod(PeriodUnit.YEAR).nth_after(at(2028, 2, 29), 1) == at(2029, 2, 28)
    assert BillingPeriod(PeriodUnit.YEAR).nth_after(at(2028, 2, 29), 4) == at(2032, 2, 29)


def test_days_weeks_and_multiples():
    assert BillingPeriod(PeriodUnit.DAY, 10).nth_after(at(2027, 1, 25), 1) == at(2027, 2, 4)
    assert BillingPeriod(PeriodUnit.WEEK, 2).nth_after(at(2027, 1, 1), 2) == at(2027, 1, 29)
    assert BillingPeriod(PeriodUnit.MONTH, 3).nth_after(at(2027, 11, 30), 1) == at(2028, 2, 29)


def test_a_period_needs_at_least_one_unit():
    with pytest.raises(TermsError):
        BillingPeriod(PeriodUnit.MONTH, 0)


def test_without_trial_cycle_one_is_the_signup_payment():
    terms = Terms(MONTHLY, Money(1990, "EUR"))
    start = at(2027, 1, 31)
    anchor = terms.first_anchor(start)
    assert anchor == start and terms.due_date(anchor, 1, 1) == start
    assert terms.next_due(anchor, 1, cycles_paid=1) == at(2027, 2, 28)
    assert terms.next_due(anchor, 1, cycles_paid=2) == at(2027, 3, 31)


def test_a_trial_moves_the_first_charge_and_the_anchor():
    terms = Terms(MONTHLY, Money(1990, "EUR"), trial=BillingPeriod(PeriodUnit.DAY, 14))
    start = at(2027, 1, 17)
    anchor = terms.first_anchor(start)
    assert not terms.first_cycle_at_signup
    assert terms.next_due(anchor, 1, cycles_paid=0) == at(2027, 1, 31)
    assert terms.next_due(anchor, 1, cycles_paid=1) == at(2027, 2, 28)


def test_a_moved_anchor_keeps_later_dates_in_step():
    terms = Terms(MONTHLY, Money(1990, "EUR"))
    # cycle 4 moved to 15 May: cycles 5 and 6 follow on the 15th
    assert terms.next_due(at(2027, 5, 15), 4, cycles_paid=4) == at(2027, 6, 15)
    assert terms.next_due(at(2027, 5, 15), 4, cycles_paid=5) == at(2027, 7, 15)


def test_fixed_length_has_nothing_left_after_the_last_cycle():
    terms = Terms(MONTHLY, Money(1990, "EUR"), cycles=3)
    start = at(2027, 1, 1)
    assert terms.next_due(start, 1, 2) == at(2027, 3, 1)
    assert terms.next_due(start, 1, 3) is None


def test_terms_refuse_unbillable_values():
    with pytest.raises(TermsError):
        Terms(MONTHLY, Money(0, "EUR"))
    with pytest.raises(TermsError):
        Terms(MONTHLY, Money(100, "EUR"), cycles=0)
    with pytest.raises(TermsError):
        Terms(MONTHLY, Money(100, "EUR"), signup_fee=Money(100, "USD"))
