import pytest

from adapters.woocommerce.webhook import parse_order_body, signature, verify_webhook, wp_specialchars_decode
from bridge.ports import OrderState, WebhookKind, WebhookRejected
from tests.fixture_files import (WOO, WOO_QUIRK_SECRET_AS_STORED, WOO_QUIRK_SECRET_AS_TYPED, woo_deliveries,
                                 woo_delivery)

ALL = woo_deliveries() + woo_deliveries(WOO / "more" / "webhooks")
SIGNED = [d for d in ALL if d.topic]


def test_every_captured_signed_delivery_verifies_on_its_raw_bytes():
    assert len(SIGNED) == 97  # 63 + 34 signed deliveries; the 7 pings carry no signature
    for delivery in SIGNED:
        hook = verify_webhook(delivery.secret, delivery.header_map, delivery.body)
        assert hook.kind in (WebhookKind.ORDER, WebhookKind.DELETED), delivery.name


def test_the_quirk_secret_verifies_typed_or_as_wordpress_stored_it():
    delivery = woo_delivery("0004_order-created")
    for secret in (WOO_QUIRK_SECRET_AS_STORED, WOO_QUIRK_SECRET_AS_TYPED):
        assert verify_webhook(secret, delivery.header_map, delivery.body).order_id == "14"
    assert wp_specialchars_decode(WOO_QUIRK_SECRET_AS_STORED) == WOO_QUIRK_SECRET_AS_TYPED
    assert wp_specialchars_decode("&#039;&#x27;&quot;&lt;&gt;&amp;amp;") == "''\"<>&amp;"


def test_a_changed_byte_or_another_secret_is_refused():
    delivery = woo_delivery("0005_order-created")
    with pytest.raises(WebhookRejected) as rejected:
        verify_webhook(delivery.secret, delivery.header_map, delivery.body.replace(b"19.90", b"10.90"))
    assert (rejected.value.status, rejected.value.code) == (401, "signature_mismatch")
    with pytest.raises(WebhookRejected):
        verify_webhook("another-secret", delivery.header_map, delivery.body)


def test_an_unsigned_order_body_is_refused():
    delivery = woo_delivery("0005_order-created")
    headers = {k: v for k, v in delivery.headers if k != "X-WC-Webhook-Signature"}
    with pytest.raises(WebhookRejected) as rejected:
        verify_webhook(delivery.secret, headers, delivery.body)
    assert (rejected.value.status, rejected.value.code) == (401, "signature_missing")


def test_the_ping_is_recognized_without_a_signature():
    ping = woo_delivery("0001_ping")
    assert verify_webhook("whatever", ping.header_map, ping.body).kind is WebhookKind.PING


def test_a_signed_body_that_is_not_an_order_is_malformed():
    headers = {"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Signature": signature("s", b"[1, 2]")}
    with pytest.raises(WebhookRejected) as rejected:
        verify_webhook("s", headers, b"[1, 2]")
    assert rejected.value.status == 400
    body = b'{"id": 5, "status": "processing"}'
    headers["X-WC-Webhook-Signature"] = signature("s", body)
    with pytest.raises(WebhookRejected, match="cannot be read"):
        verify_webhook("s", headers, body)


def test_store_api_created_and_updated_with_the_same_bytes_share_one_business_key():
    folder = WOO / "more" / "webhooks"
    updated, created = woo_delivery("0005_order-updated", folder), woo_delivery("0006_order-created", folder)
    assert updated.body == created.body
    keys = {verify_webhook(d.secret, d.header_map, d.body).business_key for d in (updated, created)}
    assert len(keys) == 1


def test_cash_on_delivery_arrives_processing_but_unpaid():
    order = parse_order_body(woo_delivery("0006_order-created", WOO / "more" / "webhooks").body)
    assert order.status == "processing" and order.paid is False


def test_a_gateway_paid_order_is_paid():
    order = parse_order_body(woo_delivery("0005_order-created").body)
    assert order.paid and order.total.minor == 1990 and order.lines[0].product_id == "12"


def test_variation_lines_point_at_the_parent_product():
    order = parse_order_body(woo_delivery("0032_order-created", WOO / "more" / "webhooks").body)
    line = order.lines[0]
    assert (line.product_id, line.variation_id, line.sku) == ("24", "26", "COFFEE-CLUB-FLEX-500")


def test_the_bridges_own_renewal_orders_are_recognized():
    order = parse_order_body(woo_delivery("0042_order-created").body)
    assert order.own_renewal


def test_refunds_and_trash_map_to_ended_states():
    folder = WOO / "more" / "webhooks"
    assert parse_order_body(woo_delivery("0024_order-updated", folder).body).state is OrderState.REFUNDED
    assert parse_order_body(woo_delivery("0019_order-updated", folder).body).state is OrderState.CANCELLED
    trashed = woo_delivery("0026_order-deleted", folder)
    assert verify_webhook(trashed.secret, trashed.header_map, trashed.body).kind is WebhookKind.DELETED
