"""Captured WooCommerce 10.0.2 deliveries, replayed byte for byte through the real endpoint."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Iterator

import pytest
import requests

from adapters.woocommerce.standin import WooCommerceStandin
from adapters.woocommerce.webhook import signature
from bridge.services import setup
from tests.fixture_files import (WOO, WOO_QUIRK_SECRET_AS_STORED, WOO_QUIRK_SECRET_AS_TYPED, WOO_SECRET,
                                 CapturedDelivery, woo_delivery)
from tests.integration.conftest import CK, CS, BridgeUnderTest
from tests.waiting import wait_for

MORE = WOO / "more" / "webhooks"


@pytest.fixture
def captured_shop() -> Iterator[WooCommerceStandin]:
    """A stand-in whose product ids match the captures: 12 Coffee Club Monthly, 13 Coffee Mug."""
    woo = WooCommerceStandin(delivery_delay_s=0.01, first_post_id=11)  # the next post id is 12
    woo.start(CK, CS)
    assert woo.add_product("Coffee Club Monthly", "19.90", "COFFEE-CLUB-M",
                           meta={"_subscription_period": "month", "_subscription_period_interval": "1"}) == 12
    assert woo.add_product("Coffee Mug", "12.50", "MUG-1") == 13
    yield woo
    woo.stop()


def add_shop(abonne: BridgeUnderTest, woo: WooCommerceStandin, secret: str = WOO_SECRET) -> int:
    shop = setup.add_shop(abonne.bridge, "woocommerce", {"url": woo.url, "consumer_key": CK, "consumer_secret": CS,
                                                         "webhook_secret": secret})
    return shop.id


def replay(abonne: BridgeUnderTest, shop_id: int, delivery: CapturedDelivery) -> requests.Response:
    headers = {k: v for k, v in delivery.headers if k.lower() not in ("host", "content-length", "connection")}
    return requests.post(f"{abonne.url}/webhooks/woocommerce/{shop_id}", data=delivery.body, headers=headers,
                         timeout=10)


def note_texts(abonne: BridgeUnderTest) -> list[str]:
    rows = abonne.rows("SELECT payload FROM outbox WHERE kind = 'customer_note' ORDER BY id")
    return [(json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"])["text"] for r in rows]


def processed(abonne: BridgeUnderTest) -> list:
    return wait_for(lambda: (rows := abonne.rows("SELECT outcome, state, duplicates FROM deliveries ORDER BY id"))
                    and all(r["state"] != "received" for r in rows) and rows, what="the worker to process deliveries")


def test_the_ping_is_answered_200_and_stores_no_delivery(abonne, captured_shop):
    shop_id = add_shop(abonne, captured_shop)
    answer = replay(abonne, shop_id, woo_delivery("0001_ping"))
    assert answer.status_code == 200
    assert abonne.scalar("SELECT count(*) FROM deliveries") == 0
    assert abonne.scalar("SELECT count(*) FROM events WHERE kind = 'webhook_ping'") == 1


def test_a_captured_subscription_order_creates_one_agreement_however_often_it_arrives(abonne, captured_shop):
    shop_id = add_shop(abonne, captured_shop)
    created, updated = woo_delivery("0005_order-created"), woo_delivery("0006_order-updated")
    assert replay(abonne, shop_id, created).json()["status"] == "stored"
    assert replay(abonne, shop_id, updated).json()["status"] == "duplicate"  # same bytes, other webhook
    assert replay(abonne, shop_id, created).json()["status"] == "duplicate"  # a plain redelivery
    [row] = processed(abonne)
    assert (row["outcome"], row["duplicates"]) == ("created_1", 2)
    [agreement] = abonne.rows("SELECT order_id, line_id, state, amount_minor, currency FROM agreements")
    assert dict(agreement) == {"order_id": "14", "line_id": "1", "state": "awaiting_card", "amount_minor": 1990,
                               "currency": "EUR"}
    # the order was paid in the shop, so the note only asks for the card
    [text] = note_texts(abonne)
    assert "nothing is charged now" in text


@pytest.mark.parametrize("secret", [WOO_QUIRK_SECRET_AS_STORED, WOO_QUIRK_SECRET_AS_TYPED])
def test_the_quirk_secret_is_accepted_as_typed_or_as_stored(abonne, captured_shop, secret):
    shop_id = add_shop(abonne, captured_shop, secret=secret)
    assert replay(abonne, shop_id, woo_delivery("0004_order-created")).status_code == 200
    assert [r["outcome"] for r in processed(abonne)] == ["created_1"]


def test_a_delivery_signed_with_another_secret_is_refused_and_nothing_is_stored(abonne, captured_shop):
    shop_id = add_shop(abonne, captured_shop)
    answer = replay(abonne, shop_id, woo_delivery("0004_order-created"))  # webhook 3 signs with the quirk secret
    assert answer.status_code == 401
    assert answer.json()["error"] == "signature_mismatch" and "X-WC-Webhook-Signature" in answer.json()["detail"]
    assert abonne.scalar("SELECT count(*) FROM deliveries") == 0
    assert abonne.scalar("SELECT count(*) FROM events") == 0


def test_the_bridges_own_renewal_orders_coming_back_are_ignored(abonne, captured_shop):
    shop_id = add_shop(abonne, captured_shop)
    for name in ("0042_order-created", "0043_order-updated", "0045_order-created"):
        assert replay(abonne, shop_id, woo_delivery(name)).status_code == 200
    assert {r["outcome"] for r in processed(abonne)} == {"ignored_own_renewal"}
    assert abonne.scalar("SELECT count(*) FROM agreements") == 0


def test_store_api_order_updated_arriving_before_order_created_makes_one_agreement(abonne, captured_shop):
    shop_id = add_shop(abonne, captured_shop)
    assert replay(abonne, shop_id, woo_delivery("0005_order-updated", MORE)).json()["status"] == "stored"
    assert replay(abonne, shop_id, woo_delivery("0006_order-created", MORE)).json()["status"] == "duplicate"
    assert [r["outcome"] for r in processed(abonne)] == ["created_1"]
    # cash on delivery: processing but unpaid, so the customer is asked to pay
    [text] = note_texts(abonne)
    assert "complete the payment" in text


def test_a_refund_and_a_trash_cancel_the_agreement(abonne, captured_shop):
    shop_id = add_shop(abonne, captured_shop)
    replay(abonne, shop_id, woo_delivery("0005_order-updated", MORE))  # order 15, COD, Coffee Club
    processed(abonne)
    replay(abonne, shop_id, woo_delivery("0024_order-updated", MORE))  # order 15 refunded in full
    assert [r["outcome"] for r in processed(abonne)] == ["created_1", "cancelled_1"]
    assert abonne.scalar("SELECT state FROM agreements") == "cancelled"


def test_a_mixed_cart_makes_an_agreement_only_for_the_subscription_line(abonne, captured_shop):
    shop_id = add_shop(abonne, captured_shop)
    replay(abonne, shop_id, woo_delivery("0013_order-updated", MORE))  # order 19: Coffee Club + Mug
    assert [r["outcome"] for r in processed(abonne)] == ["created_1"]
    assert abonne.scalar("SELECT product_id FROM agreements") == "12"


def test_a_delivery_is_kept_and_retried_while_the_shop_cannot_be_reached(abonne, captured_shop, clock):
    shop_id = add_shop(abonne, captured_shop)
    captured_shop.refuse_connections()
    assert replay(abonne, shop_id, woo_delivery("0005_order-created")).status_code == 200
    wait_for(lambda: abonne.scalar("SELECT outcome FROM deliveries") == "retry_later",
             what="the product lookup to fail")
    assert abonne.scalar("SELECT count(*) FROM agreements") == 0
    captured_shop.accept_connections()
    clock.advance(timedelta(minutes=5))
    abonne.bridge.wake_worker.set()
    assert [r["outcome"] for r in processed(abonne)] == ["created_1"]


# --------------------------------------------------------------------------------------------- bad input

def signed_post(abonne: BridgeUnderTest, shop_id: int, body: bytes, secret: str = WOO_SECRET,
                topic: str = "order.created") -> requests.Response:
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Topic": topic,
               "X-WC-Webhook-Signature": signature(secret, body)}
    return requests.post(f"{abonne.url}/webhooks/woocommerce/{shop_id}", data=body, headers=headers, timeout=10)


@pytest.mark.parametrize("body, code", [
    (b"{not json", "malformed_body"),
    (b"[1, 2, 3]", "malformed_body"),
    (b'{"id": "14"}', "malformed_body"),
    (b'{"id": 14, "status": "processing"}', "malformed_order"),
])
def test_a_signed_but_malformed_body_is_a_400_naming_the_problem(abonne, captured_shop, body, code):
    shop_id = add_shop(abonne, captured_shop)
    answer = signed_post(abonne, shop_id, body)
    assert answer.status_code == 400 and answer.json()["error"] == code
    assert abonne.scalar("SELECT count(*) FROM deliveries") == 0


def test_forged_unsigned_oversized_and_misaddressed_requests_change_nothing(abonne, captured_shop):
    shop_id = add_shop(abonne, captured_shop)
    delivery = woo_delivery("0005_order-created")
    url = f"{abonne.url}/webhooks/woocommerce/{shop_id}"

    forged = requests.post(url, data=delivery.body.replace(b'"19.90"', b'"0.01"'), headers=delivery.header_map)
    assert forged.status_code == 401 and forged.json()["error"] == "signature_mismatch"
    unsigned = requests.post(url, data=delivery.body, headers={"X-WC-Webhook-Topic": "order.created"})
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "signature_missing"
    huge = b'{"id": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}'
    oversized = signed_post(abonne, shop_id, huge)
    assert oversized.status_code == 413 and "larger than" in oversized.json()["detail"]
    unknown = signed_post(abonne, shop_id + 100, delivery.body)
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_shop"
    other_platform = requests.post(f"{abonne.url}/webhooks/prestashop/{shop_id}", data=delivery.body,
                                   headers=delivery.header_map)
    assert other_platform.status_code == 404
    wrong_method = requests.get(url)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"
    product_topic = signed_post(abonne, shop_id, b'{"id": 12}', topic="product.updated")
    assert product_topic.status_code == 400 and product_topic.json()["error"] == "unsupported_topic"

    assert abonne.scalar("SELECT count(*) FROM deliveries") == 0
    assert abonne.scalar("SELECT count(*) FROM events") == 0
