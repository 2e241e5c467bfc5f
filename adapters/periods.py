"""Billing periods named in words by shop owners (a PrestaShop feature value, an OpenCart option or attribute)."""
from __future__ import annotations

import re

from bridge.ports import SubscriptionTerms

_PERIOD = re.compile(r"^\s*(?:every\s+)?(\d+)?\s*(day|week|month|year)s?\s*$", re.IGNORECASE)
_ADJECTIVES = {"daily": "day", "weekly": "week", "monthly": "month", "yearly": "year", "annual": "year"}


def parse_period(value: str) -> SubscriptionTerms | None:
    """"1 month", "every 2 weeks", "monthly" as terms; None if the text names no period."""
    word = value.strip().lower()
    if word in _ADJECTIVES:
        return SubscriptionTerms(unit=_ADJECTIVES[word], every=1)
    match = _PERIOD.match(word)
    if not match:
        return None
    return SubscriptionTerms(unit=match.group(2).lower(), every=int(match.group(1) or 1))
