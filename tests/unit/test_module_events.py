"""The shop-side module contract (README, "Events from shop-side modules"), on abonne's side."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from adapters.module_events import parse_event_order, sign_event, signed_headers, verify_event
from bridge.domain.money import Money
from bridge.ports import OrderState, WebhookKind, WebhookRejected

SECRET = "module-secret-&<"
NOW = datetime(2027, 1, 31, 9, 0, tzinfo=timezone.utc)
STAMP = int(NOW.timestamp())


def order_event(event="order.created", **order):
    body = {"event": event, "platform": "prestashop", "platform_version": "8.2.0", "module_version": "1.0.0",
            "order": {"id": "8", "reference": "LDWBOROAL", "cart_id": "8",
                      "status": {"id": "10", "name": "Awaiting bank wire payment", "paid": False, "refunded": False,
                                 "cancelled": False},
                      "old_status": None, "renewal": False, "payment_module": "ps_wirepayment", "payment": "Bank wire",
                      "customer": {"id": "3", "email": "jane@example.com", "first_name": "Jane", "last_name": "Doe"},
                      "billing_address": {"id": "7", "first_name": "Jane", "last_name": "Doe", "address_1": "1 Main St",
                                          "city": "Dublin", "postcode": "D02", "country": "ie", "phone": "+3531"},
                      "currency": "EUR",
                      "lines": [{"id": "12", "product_id": "20", "variant_id": "0", "reference": "CLUB-M",
                                 "name": "Coffee Club Monthly", "quantity": 1, "unit_price": "19.900000",
                                 "unit_price_net": "16.180000", "total": "19.900000", "total_net": "16.180000",
                                 "tax_rate": "23.000"}],
                      "totals": {"products": "19.90", "shipping": "8.61", "discounts": "0.00", "total": "28.51",
                                 "total_net": "23.18"},
                      "created_at": "2027-01-31T09:00:00+00:00", "modified_at": "2027-01-31T09:00:01+00:00",
                      **order}}
    return json.dumps(body).encode()


def headers(body, stamp=STAMP, secret=SECRET):
    return signed_headers(secret, stamp, body, "evt-1")


def test_a_signed_order_event_is_accepted_and_keyed_by_order_and_body():
    body = order_event()
    webhook = verify_event(SECRET, headers(body), body, NOW)
    assert (webhook.kind, webhook.topic, webhook.order_id) == (WebhookKind.ORDER, "order.created", "8")
    resent = verify_event(SECRET, headers(body, STAMP + 60), body, NOW)
    assert resent.business_key == webhook.business_key  # a resend signs again: same news, same key


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    assert sign_event("k", 1700000000, b"{}") == \
        "v1=" + __import__("hmac").new(b"k", b"1700000000.{}", "sha256").hexdigest()


def test_any_of_several_signatures_may_match_during_a_rotation():
    body = order_event()
    rotated = {**headers(body), "X-Abonne-Signature": f"v1={'0' * 64}, {sign_event(SECRET, STAMP, body)}"}
    assert verify_event(SECRET, rotated, body, NOW).kind is WebhookKind.ORDER


@pytest.mark.parametrize("change, code", [
    (lambda h, b: ({**h, "X-Abonne-Signature": "v1=" + "0" * 64}, b), "signature_mismatch"),
    (lambda h, b: (h, b + b" "), "signature_mismatch"),
    (lambda h, b: ({k: v for k, v in h.items() if k != "X-Abonne-Signature"}, b), "signature_missing"),
    (lambda h, b: ({**h, "X-Abonne-Timestamp": "yesterday"}, b), "timestamp_invalid"),
])
def test_a_forged_or_unsigned_event_is_refused(change, code):
    body = order_event()
    changed_headers, changed_body = change(headers(body), body)
    with pytest.raises(WebhookRejected) as refused:
        verify_event(SECRET, changed_headers, changed_body, NOW)
    assert (refused.value.status, refused.value.code) == (401, code)


def test_an_event_signed_more_than_five_minutes_away_is_refused_and_says_so():
    body = order_event()
    assert verify_event(SECRET, headers(body, STAMP - 299), body, NOW)
    with pytest.raises(WebhookRejected, match="301 s away from abonne's clock") as refused:
        verify_event(SECRET, headers(body, STAMP + 301), body, NOW)
    assert refused.value.code == "timestamp_out_of_window"


def test_a_ping_and_a_deletion_are_recognised():
    ping = json.dumps({"event": "ping", "platform": "prestashop"}).encode()
    assert verify_event(SECRET, headers(ping), ping, NOW).kind is WebhookKind.PING
    deleted = order_event("order.deleted")
    assert verify_event(SECRET, headers(deleted), deleted, NOW).kind is WebhookKind.DELETED


@pytest.mark.parametrize("body, code", [
    (b"not json", "body_not_json"),
    (b"[]", "body_not_object"),
    (json.dumps({"event": "order.exploded"}).encode(), "event_unknown"),
    (json.dumps({"event": "order.created"}).encode(), "order_missing"),
    (order_event(currency="EURO"), "order_unreadable"),
    (order_event(lines=[]), "order_unreadable"),
])
def test_a_signed_but_unreadable_event_is_a_400_naming_the_problem(body, code):
    with pytest.raises(WebhookRejected) as refused:
        verify_event(SECRET, headers(body), body, NOW)
    assert (refused.value.status, refused.value.code) == (400, code)


def test_the_order_is_normalized_with_net_lines_and_the_paid_flag_from_the_status():
    order = parse_event_order(order_event())
    assert (order.order_id, order.number, order.state, order.paid) == ("8", "LDWBOROAL", OrderState.OPEN, False)
    assert order.total == Money.parse("28.51", "EUR")
    line = order.lines[0]
    assert (line.product_id, line.variation_id, line.quantity, line.total, line.total_tax) == \
        ("20", None, 1, Money.parse("16.18", "EUR"), Money.parse("3.72", "EUR"))
    assert (order.billing.country, order.billing.email, order.shipping.city) == ("IE", "jane@example.com", "Dublin")
    assert order.modified_at == NOW + timedelta(seconds=1)


def test_refunds_and_cancellations_end_the_order_and_renewals_are_marked():
    cancelled = parse_event_order(order_event("order.status_changed", status={"id": "6", "name": "Canceled",
                                                                             "paid": False, "cancelled": True}))
    assert cancelled.state is OrderState.CANCELLED
    partial = parse_event_order(order_event("order.refunded", refund={"id": "1", "amount": "10.00",
                                                                      "shipping": "0.00", "total_refunded": "10.00"}))
    whole = parse_event_order(order_event("order.refunded", refund={"id": "2", "amount": "18.51", "shipping": "8.61",
                                                                    "total_refunded": "28.51"}))
    assert (partial.state, whole.state) == (OrderState.OPEN, OrderState.REFUNDED)
    assert parse_event_order(order_event(renewal=True)).own_renewal is True


def test_a_variant_is_named_with_its_product_so_it_cannot_pass_for_another_product():
    """PrestaShop numbers combinations apart from products: combination 28 of product 16 is not product 28."""
    line = json.loads(order_event())["order"]["lines"][0] | {"product_id": "16", "variant_id": "28"}
    order = parse_event_order(order_event(lines=[line]))
    assert (order.lines[0].product_id, order.lines[0].variation_id) == ("16", "16:28")
