"""A shop's Retry-After header (RFC 9110 section 10.2.3), read the same way by every shop adapter."""
from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Mapping

MAX_SECONDS = 24 * 3600  # a shop asking for more than a day is misconfigured; the outbox's own backoff takes over


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, or None when the answer asks nothing (no header, or one that cannot be read).

    The header is either delta-seconds or an HTTP date. A date is measured against the same answer's Date header,
    the shop's own clock, so a skew between the shop's clock and ours changes nothing."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(min(int(value), MAX_SECONDS))
    try:
        until = parsedate_to_datetime(value)
        sent = parsedate_to_datetime(headers.get("Date") or "")
    except (TypeError, ValueError):
        return None
    if until.tzinfo is None or sent.tzinfo is None:
        return None
    return min(max((until - sent).total_seconds(), 0.0), float(MAX_SECONDS))
