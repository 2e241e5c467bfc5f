"""A shop's Retry-After header, as every shop adapter reads it."""
from __future__ import annotations

from adapters.retry_after import MAX_SECONDS, retry_after_seconds


def test_seconds_are_taken_as_given():
    assert retry_after_seconds({"Retry-After": "120"}) == 120.0


def test_a_date_is_measured_against_the_answers_own_date_not_our_clock():
    headers = {"Date": "Wed, 25 Nov 2026 18:00:00 GMT", "Retry-After": "Wed, 25 Nov 2026 18:02:30 GMT"}
    assert retry_after_seconds(headers) == 150.0


def test_a_date_in_the_past_means_now():
    headers = {"Date": "Wed, 25 Nov 2026 18:00:00 GMT", "Retry-After": "Wed, 25 Nov 2026 17:00:00 GMT"}
    assert retry_after_seconds(headers) == 0.0


def test_no_header_or_one_that_cannot_be_read_asks_nothing():
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({"Retry-After": "-5"}) is None
    assert retry_after_seconds({"Retry-After": "Wed, 25 Nov 2026 18:02:30 GMT"}) is None  # no Date to measure by


def test_more_than_a_day_is_capped():
    assert retry_after_seconds({"Retry-After": "9999999"}) == MAX_SECONDS
