"""WooCommerce deliveries under fuzzing: verify_webhook and parse_order answer arbitrary input with a named
WebhookRejected or a result, never another exception; a signature holds for its exact body and secret only."""
from __future__ import annotations

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from adapters.woocommerce.webhook import parse_order, parse_order_body, signature, verify_webhook
from bridge.ports import ShopOrder, ShopWebhook, WebhookRejected
from tests.fixture_files import woo_delivery
from tests.fuzz.strategies import FUZZ, broken, every_part_replaced, header_maps, json_values, one_byte_changed

DELIVERY = woo_delivery("0004_order-created")
ORDER = json.loads(DELIVERY.body)
SECRET = DELIVERY.secret
NAMES = ["X-WC-Webhook-Signature", "X-WC-Webhook-Topic", "X-WC-Webhook-ID", "X-WC-Webhook-Delivery-ID",
         "x-wc-webhook-signature", "Content-Type"]


def verify(headers: dict[str, str], body: bytes) -> ShopWebhook | WebhookRejected:
    try:
        return verify_webhook(SECRET, headers, body)
    except WebhookRejected as rejected:
        assert rejected.code and rejected.detail and rejected.status in (400, 401)
        return rejected


def signed(body: bytes, topic: str = "order.created") -> dict[str, str]:
    return {"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Signature": signature(SECRET, body)}


@FUZZ
@given(header_maps(NAMES), st.binary(max_size=3000) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_requests_are_refused_by_name_and_unsigned_ones_never_pass(headers, body):
    outcome = verify(headers, body)
    if isinstance(outcome, ShopWebhook):  # only the unsigned ping passes without the secret
        assert outcome.topic == "ping"


@FUZZ
@given(st.sampled_from(["order.created", "order.updated", "order.deleted", "order.restored", "product.created",
                        "", "order."]), json_values | broken(ORDER))
def test_a_correctly_signed_body_of_any_shape_is_stored_or_refused_as_unreadable_never_crashes(topic, document):
    body = json.dumps(document).encode()
    outcome = verify(signed(body, topic), body)
    if isinstance(outcome, WebhookRejected):
        assert outcome.status == 400  # the signature was right: what is refused is the content
    else:
        assert outcome.order_id and outcome.business_key.endswith(__import__("hashlib").sha256(body).hexdigest())


@FUZZ
@given(broken(ORDER, times=4))
def test_the_order_parser_reads_or_names_the_problem(document):
    try:
        order = parse_order(document) if isinstance(document, dict) else parse_order_body(json.dumps(document).encode())
    except WebhookRejected as rejected:
        assert rejected.code in ("malformed_order", "malformed_body") and rejected.detail
    else:
        assert isinstance(order, ShopOrder) and order.total.currency == order.currency


@FUZZ
@given(st.data())
def test_a_valid_signature_verifies_and_any_one_byte_change_fails(data):
    headers = dict(DELIVERY.headers)
    assert verify_webhook(SECRET, headers, DELIVERY.body).order_id == str(ORDER["id"])
    body = data.draw(one_byte_changed(DELIVERY.body))
    assert verify(headers, body).code == "signature_mismatch"
    raw_signature = base64.b64decode(headers["X-WC-Webhook-Signature"])
    forged = base64.b64encode(data.draw(one_byte_changed(raw_signature))).decode()
    assert verify({**headers, "X-WC-Webhook-Signature": forged}, DELIVERY.body).code == "signature_mismatch"
    other_secret = data.draw(st.text(min_size=1, max_size=40).filter(lambda s: s != SECRET))
    with_other = {**headers, "X-WC-Webhook-Signature": signature(other_secret, DELIVERY.body)}
    if signature(other_secret, DELIVERY.body) != signature(SECRET, DELIVERY.body):  # WordPress-escaped twins match
        assert verify(with_other, DELIVERY.body).code == "signature_mismatch"


def test_every_part_of_a_real_order_replaced_by_a_nasty_value_is_read_or_refused_by_name():
    crashes = []
    for document in every_part_replaced(ORDER):
        try:
            parse_order(document)
        except WebhookRejected:
            pass
        except Exception as error:  # noqa: BLE001 - collected, so one run names every crash
            crashes.append(f"{type(error).__name__}: {error}")
    assert crashes == []


def test_a_signed_body_nested_deeper_than_python_recurses_is_refused_as_not_json():
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        assert verify(signed(body), body).code == "malformed_body"
