"""Where time comes from. The domain never reads a clock; services are handed `now` from one of these."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Callable, Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class SettableClock:
    """A clock tests (and `abonne demo`) move by hand to travel through months of renewals."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("the clock needs an aware UTC time")
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment.astimezone(timezone.utc)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now


def now_function(clock: Clock | Callable[[], datetime] | None) -> Callable[[], datetime]:
    """What the stand-ins take as their clock: None (real time), a Clock, or a function returning aware UTC time."""
    if clock is None:
        return SystemClock().now
    if hasattr(clock, "now"):
        return clock.now
    if callable(clock):
        return clock
    raise TypeError("clock must be a callable returning an aware datetime, or an object with .now()")
