"""Billing periods and due dates. Pure: the caller passes every time in (UTC, aware)."""
from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.domain.money import Money


class PeriodUnit(enum.Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class TermsError(ValueError):
    """Billing terms that cannot be billed."""


@dataclass(frozen=True)
class BillingPeriod:
    unit: PeriodUnit
    every: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.every, int) or self.every < 1:
            raise TermsError(f"a billing period needs a whole number of units of at least 1, got {self.every!r}")

    def nth_after(self, anchor: datetime, n: int) -> datetime:
        """The date n periods after anchor. Months and years keep the anchor's day and clamp it to the month's
        end (31 Jan -> 28/29 Feb -> 31 Mar), so a short month never shifts later dates."""
        if n < 0:
            raise ValueError("n must not be negative")
        if self.unit is PeriodUnit.DAY:
            return anchor + timedelta(days=self.every * n)
        if self.unit is PeriodUnit.WEEK:
            return anchor + timedelta(weeks=self.every * n)
        months = self.every * n * (12 if self.unit is PeriodUnit.YEAR else 1)
        month_index = anchor.month - 1 + months
        year, month = anchor.year + month_index // 12, month_index % 12 + 1
        day = min(anchor.day, calendar.monthrange(year, month)[1])
        return anchor.replace(year=year, month=month, day=day)

    def describe(self) -> str:
        word = self.unit.value
        return f"every {word}" if self.every == 1 else f"every {self.every} {word}s"


@dataclass(frozen=True)
class Terms:
    """What a subscriber agreed to: the recurring price, how often, for how long."""

    period: BillingPeriod
    price: Money  # per cycle, what the card is charged (tax included)
    trial: BillingPeriod | None = None
    signup_fee: Money | None = None
    cycles: int | None = None  # None: until cancelled

    def __post_init__(self) -> None:
        if self.cycles is not None and self.cycles < 1:
            raise TermsError("a fixed number of cycles must be at least 1")
        if not self.price.is_positive():
            raise TermsError("the recurring price must be more than zero")
        if self.signup_fee is not None and self.signup_fee.currency != self.price.currency:
            raise TermsError("the sign-up fee must be in the price's currency")

    def first_anchor(self, started_at: datetime) -> datetime:
        """Where the schedule is anchored when an agreement starts: the trial's end, or the start itself.

        Without a trial, cycle 1 is the sign-up payment and is due at the anchor; with a trial, cycle 1 is due
        when the trial ends."""
        return self.trial.nth_after(started_at, 1) if self.trial else started_at

    def due_date(self, anchor_at: datetime, anchor_cycle: int, cycle: int) -> datetime:
        """When `cycle` is due, counting periods from the anchor (which cycle `anchor_cycle` fell on). Moving
        the anchor is how "skip next" and "change the next date" keep every later date in step."""
        if cycle < anchor_cycle:
            raise ValueError(f"cycle {cycle} comes before the anchor's cycle {anchor_cycle}")
        return self.period.nth_after(anchor_at, cycle - anchor_cycle)

    def next_due(self, anchor_at: datetime, anchor_cycle: int, cycles_paid: int) -> datetime | None:
        """The next cycle's due date, or None when a fixed-length agreement has nothing left to charge."""
        if self.cycles is not None and cycles_paid >= self.cycles:
            return None
        return self.due_date(anchor_at, anchor_cycle, cycles_paid + 1)

    @property
    def first_cycle_at_signup(self) -> bool:
        return self.trial is None
