"""What happens after a declined renewal: retry later, or ask the customer for a new card. Pure."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_RETRIES = (timedelta(hours=12), timedelta(hours=12), timedelta(days=1), timedelta(days=2), timedelta(days=3))
DEFAULT_GRACE = timedelta(days=14)


class DunningAction(enum.Enum):
    RETRY = "retry"  # charge the same cycle again at `at`
    SUSPEND = "suspend"  # stop charging; wait for a new card until `at`, then cancel


@dataclass(frozen=True)
class DunningStep:
    action: DunningAction
    at: datetime
    ask_for_card: bool  # the customer must act: send the card-update link


@dataclass(frozen=True)
class DunningPolicy:
    """Soft declines (insufficient funds, limits) are retried on the schedule, like WooCommerce Subscriptions'
    default rules; hard declines (expired, refused by the card, unknown token) go straight to asking for a card."""

    retries: tuple[timedelta, ...] = DEFAULT_RETRIES
    grace: timedelta = DEFAULT_GRACE

    def after_decline(self, hard: bool, declines_this_cycle: int, now: datetime) -> DunningStep:
        """`declines_this_cycle` counts the decline just received."""
        if hard or declines_this_cycle > len(self.retries):
            return DunningStep(DunningAction.SUSPEND, now + self.grace, ask_for_card=True)
        return DunningStep(DunningAction.RETRY, now + self.retries[declines_this_cycle - 1],
                           ask_for_card=declines_this_cycle == 1)

    @classmethod
    def parse(cls, retries: str, grace_days: int) -> DunningPolicy:
        """From settings such as "12h,12h,1d,2d,3d"."""
        units = {"m": "minutes", "h": "hours", "d": "days"}
        delays = []
        for part in (p.strip() for p in retries.split(",") if p.strip()):
            number, unit = part[:-1], part[-1:]
            if unit not in units or not number.isdigit() or int(number) == 0:
                raise ValueError(f"retry delay {part!r} is not a number followed by m, h or d (e.g. 12h)")
            delays.append(timedelta(**{units[unit]: int(number)}))
        if grace_days < 0:
            raise ValueError("the grace period must not be negative")
        return cls(tuple(delays), timedelta(days=grace_days))
