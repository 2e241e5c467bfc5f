"""Events from the shop-side modules (PrestaShop, OpenCart) under fuzzing: verify_event and parse_event_order
answer arbitrary input with a named WebhookRejected or a result; a signature holds for its exact timestamp and body,
and a timestamp outside the 5-minute window fails even when signed."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from adapters.module_events import (EVENT_ID, SIGNATURE, TIMESTAMP, parse_event_order, sign_event, signed_headers,
                                    verify_event)
from bridge.ports import ShopOrder, ShopWebhook, WebhookRejected
from tests.fuzz.strategies import FUZZ, broken, every_part_replaced, header_maps, json_values, one_byte_changed
from tests.unit.test_module_events import order_event

SECRET = "module-secret-&<"
NOW = datetime(2027, 1, 31, 9, 0, tzinfo=timezone.utc)
STAMP = int(NOW.timestamp())
EVENT = json.loads(order_event())
BODY = json.dumps(EVENT).encode()


def verify(headers: dict[str, str], body: bytes) -> ShopWebhook | WebhookRejected:
    try:
        return verify_event(SECRET, headers, body, NOW)
    except WebhookRejected as rejected:
        assert rejected.code and rejected.detail and rejected.status in (400, 401)
        return rejected


def signed(body: bytes, stamp: int = STAMP) -> dict[str, str]:
    return signed_headers(SECRET, stamp, body, "evt-fuzz")


@FUZZ
@given(header_maps([TIMESTAMP, SIGNATURE, EVENT_ID, "Content-Type"]),
       st.binary(max_size=3000) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_requests_are_refused_by_name_without_the_secret(headers, body):
    outcome = verify(headers, body)
    assert isinstance(outcome, WebhookRejected) and outcome.status == 401


@FUZZ
@given(json_values | broken(EVENT, times=4))
def test_a_correctly_signed_body_of_any_shape_is_stored_or_refused_as_unreadable_never_crashes(document):
    body = json.dumps(document).encode()
    outcome = verify(signed(body), body)
    if isinstance(outcome, WebhookRejected):
        assert outcome.status == 400  # the signature and time were right: what is refused is the content
    elif outcome.topic != "ping":
        assert outcome.business_key.endswith(hashlib.sha256(body).hexdigest())


@FUZZ
@given(broken(EVENT, times=4))
def test_the_order_parser_reads_or_names_the_problem(document):
    try:
        order = parse_event_order(json.dumps(document).encode())
    except WebhookRejected as rejected:
        assert rejected.status == 400 and rejected.detail
    else:
        assert isinstance(order, ShopOrder) and order.total.currency == order.currency


def test_every_part_of_an_event_replaced_by_a_nasty_value_is_read_or_refused_by_name():
    crashes = []
    for document in every_part_replaced(EVENT):
        body = json.dumps(document).encode()
        for read in (lambda: verify_event(SECRET, signed(body), body, NOW), lambda: parse_event_order(body)):
            try:
                read()
            except WebhookRejected:
                pass
            except Exception as error:  # noqa: BLE001 - collected, so one run names every crash
                crashes.append(f"{type(error).__name__}: {error}")
    assert crashes == []


@FUZZ
@given(st.data())
def test_a_valid_signature_verifies_and_any_one_byte_change_fails(data):
    assert verify(signed(BODY), BODY).order_id == "8"
    assert verify(signed(BODY), data.draw(one_byte_changed(BODY))).code == "signature_mismatch"
    signature = signed(BODY)[SIGNATURE]
    forged = data.draw(one_byte_changed(signature.encode())).decode("latin-1")
    assert verify({**signed(BODY), SIGNATURE: forged}, BODY).code in ("signature_mismatch",)
    other_stamp = data.draw(st.integers(min_value=-(10**20), max_value=10**20).filter(lambda s: s != STAMP))
    # The signature covers the timestamp: another one with the old signature fails...
    assert verify({**signed(BODY), TIMESTAMP: str(other_stamp)}, BODY).code == "signature_mismatch"


@FUZZ
@given(st.integers(min_value=-(10**400), max_value=10**400) | st.integers(min_value=STAMP - 600, max_value=STAMP + 600))
def test_a_signed_timestamp_counts_only_within_five_minutes(stamp):
    outcome = verify(signed(BODY, stamp), BODY)
    if abs(stamp - STAMP) <= 300:
        assert isinstance(outcome, ShopWebhook)
    else:
        assert outcome.code == "timestamp_out_of_window"


def test_signature_and_window_at_their_edges():
    assert isinstance(verify(signed(BODY, STAMP - 300), BODY), ShopWebhook)
    assert verify(signed(BODY, STAMP + 301), BODY).code == "timestamp_out_of_window"
    assert sign_event(SECRET, STAMP, BODY) in signed(BODY)[SIGNATURE]


def test_a_signed_body_nested_deeper_than_python_recurses_is_refused_as_not_json():
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        assert verify(signed(body), body).code == "body_not_json"
