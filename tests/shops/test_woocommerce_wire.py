"""What a WooCommerce answers, asked the same way on every target: each check passed on a real WooCommerce 10.0.2
(WordPress 6.8.8, HPOS) first, and each one the stand-in once failed is a difference that was fixed in it."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Iterator

import pytest
import requests

from tests.shops.targets import Customer, WooCommerceTarget


@pytest.fixture
def receiver() -> Iterator[str]:
    """A webhook receiver that answers 200 to everything."""
    class Answer200(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Answer200)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


@pytest.fixture
def order(woocommerce: WooCommerceTarget) -> int:
    product = woocommerce.create_product("Wire check", "5.00")
    return woocommerce.place_order([(product, 1)], Customer.new())


def error_of(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["message"]


def test_webhooks_with_an_unknown_topic_or_a_bad_url_are_refused_with_the_shops_codes(woocommerce):
    bad_topic = woocommerce.api.post("webhooks", {"topic": "order.nonsense", "delivery_url": "http://127.0.0.1:9/"})
    bad_url = woocommerce.api.post("webhooks", {"topic": "order.created", "delivery_url": "not a url"})
    assert error_of(bad_topic)[:2] == (400, "woocommerce_rest_shop_webhook_invalid_topic")
    assert error_of(bad_url)[:2] == (400, "woocommerce_rest_shop_webhook_invalid_delivery_url")


def test_a_webhook_is_modified_by_its_first_ping(woocommerce, receiver):
    created = woocommerce.api.post("webhooks", {"name": "wire", "topic": "order.created", "delivery_url": receiver,
                                                "secret": "s"}).json()
    woocommerce.abonne_urls.append(receiver)
    assert (created["status"], created["date_modified"]) == ("active", None)
    assert woocommerce.api.get(f"webhooks/{created['id']}").json()["date_modified"] == created["date_created"]


def test_an_order_read_alone_has_its_meta_sorted_by_key(woocommerce, order):
    """Lists have no fixed meta order (the captured shop listed rows in id order, the real one here by key), so
    abonne reads meta by key, never by position."""
    updated = woocommerce.api.put(f"orders/{order}", {"meta_data": [{"key": "zz", "value": "1"},
                                                                     {"key": "aa", "value": "2"}]}).json()
    alone = [m["key"] for m in woocommerce.api.get(f"orders/{order}").json()["meta_data"]]
    assert [m["key"] for m in updated["meta_data"]] == alone == sorted(alone)
    assert {"aa", "zz", "_shipping_hash"} <= set(alone)


def test_a_refund_above_the_total_is_a_500_with_a_bare_status_as_data(woocommerce, order):
    response = woocommerce.api.post(f"orders/{order}/refunds", {"amount": "999.00", "api_refund": False})
    assert response.status_code == 500
    assert response.json() == {"code": "woocommerce_rest_cannot_create_order_refund",
                               "message": "Invalid refund amount.", "data": 500}


def test_force_must_be_a_boolean(woocommerce, order):
    response = woocommerce.api.delete(f"orders/{order}", params={"force": "maybe"})
    assert error_of(response) == (400, "rest_invalid_param", "Invalid parameter(s): force")
    assert response.json()["data"]["details"]["force"]["code"] == "rest_invalid_type"
    assert woocommerce.api.get(f"orders/{order}").json()["status"] == "processing"


def test_trashing_answers_with_the_order_as_it_was_and_marks_it_with_trash_meta(woocommerce, order):
    answer = woocommerce.api.delete(f"orders/{order}")
    trashed = woocommerce.api.get(f"orders/{order}").json()
    assert (answer.status_code, answer.json()["status"]) == (200, "processing")
    meta = {m["key"]: m["value"] for m in trashed["meta_data"]}
    assert trashed["status"] == "trash"
    assert meta["_wp_trash_meta_status"] == "wc-processing" and meta["_wp_trash_meta_time"].isdigit()
    again = woocommerce.api.delete(f"orders/{order}")
    assert error_of(again)[:2] == (410, "woocommerce_rest_already_trashed")


def test_a_product_read_has_no_edit_context_fields(woocommerce):
    created = woocommerce.api.post("products", {"name": "Wire product", "regular_price": "3.00"}).json()
    woocommerce.products.append(created["id"])
    read = woocommerce.api.get(f"products/{created['id']}").json()
    assert {"permalink_template", "generated_slug"} <= set(created)
    assert not {"permalink_template", "generated_slug"} & set(read)
    assert set(read) == set(created) - {"permalink_template", "generated_slug"}


def test_the_store_api_wants_a_session_a_known_product_and_a_full_cart(woocommerce):
    store = woocommerce.url + "/wp-json/wc/store/v1/"
    product = woocommerce.create_product("Wire cart", "4.00")
    no_session = requests.post(store + "cart/add-item", json={"id": product, "quantity": 1}, timeout=30)
    assert error_of(no_session)[:2] == (401, "woocommerce_rest_missing_nonce")
    browser = requests.Session()
    cart = browser.get(store + "cart", timeout=30)
    token_only = {"Cart-Token": cart.headers["Cart-Token"]}
    unknown = browser.post(store + "cart/add-item", json={"id": 99999999, "quantity": 1}, headers=token_only,
                           timeout=30)
    assert error_of(unknown) == (400, "woocommerce_rest_cart_invalid_product", "Product with ID &quot;99999999&quot; "
                                 "was not found and cannot be added to the cart.")
    empty = browser.post(store + "checkout", headers=token_only, timeout=30, json={
        "billing_address": {**Customer.new().address(), "email": "wire@example.test"}, "payment_method": "cod"})
    assert error_of(empty) == (409, "woocommerce_rest_cart_empty", "Cannot place an order, your cart is empty.")
    assert browser.post(store + "cart/add-item", json={"id": product, "quantity": 1}, headers=token_only,
                        timeout=30).status_code == 201
