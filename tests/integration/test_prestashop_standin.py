"""The PrestaShop stand-in against real PrestaShop 8.2.0 webservice traffic (tests/fixtures/prestashop-8.2.0).

Fidelity tests replay captured requests and compare status, content type and body: byte for byte where the body
carries no ids or times (schemas, the api root, errors), by shape (element and attribute names, JSON keys and
types) where it does. Behaviour tests run the renewal sequence of PRESTASHOP.md §3 over HTTP with `requests`, the
error cases of §5 an adapter can hit, and the module's signed events with their queue and backoff.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from adapters.module_events import parse_event_order, sign_read, verify_event
from adapters.prestashop import PrestaShopShop
from adapters.prestashop.standin import PrestaShopStandin
from bridge.clock import SettableClock
from bridge.domain.money import Money
from bridge.ports import Address, OrderState, RenewalLine, RenewalOrder, ShopError
from tests.integration.standin_helpers import Receiver

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "prestashop-8.2.0"
CAPTURED_BASE = "http://127.0.0.1:8095"
KEY = "BRIDGE0KEY0FULL0ACCESS0123456789"
READONLY = "BRIDGE0KEY0READONLY0ORDERS012345"
SECRET = "module-signing-secret"
START = datetime(2026, 11, 24, 19, 2, 42, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------------------- helpers

def capture(name: str) -> dict:
    found = list(FIXTURES.glob(f"{name}_*.json")) or list(FIXTURES.glob(f"{name}.json"))
    data = json.loads(found[0].read_text())
    response = data["response"]
    response.setdefault("raw_body", response.get("body_raw"))
    return data


def shape(value):
    """Keys in order and value types, recursively; lists by their first element."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def xml_shape(text: str) -> list:
    """Every element's tag and attribute names, in document order (values and texts left out)."""
    return [(e.tag, sorted(e.attrib)) for e in ET.fromstring(text.encode()).iter()]


def content_type(headers) -> str:
    return headers.get("Content-Type", "")


@pytest.fixture
def clock():
    return SettableClock(START)


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def standin(clock):
    s = PrestaShopStandin(shop_name="Coffee Club Test Shop", event_timeout_s=1.0)
    s.start(KEY, clock=clock)
    s.add_key(READONLY, {"orders": {"GET"}, "order_histories": {"GET"}})
    yield s
    s.stop()


@pytest.fixture
def bridget(standin):
    """Customer, address and product 20's twin, as in the captured shop."""
    customer = standin.add_customer("bridget.tester@example.com", "Bridget", "Tester")
    address = standin.add_address(customer, "1 Grafton Street", "Dublin", "D02 XY45", phone="+353100000000")
    product = standin.add_product("Coffee Club Monthly", "19.90", "COFFEE-CLUB-M", features={"Subscription": "monthly"})
    return customer, address, product


def api(standin, path: str, method: str = "GET", key: str = KEY, **kwargs) -> requests.Response:
    return requests.request(method, standin.url + "api/" + path, auth=(key, ""), timeout=10, **kwargs)


def local(standin, text: str) -> str:
    return text.replace(CAPTURED_BASE, standin.url.rstrip("/"))


def cart_xml(customer: int, address: int, product: int, delivery_option: bool = True, quantity: int = 1) -> str:
    option = f'<delivery_option>{{"{address}":"2,"}}</delivery_option>' if delivery_option else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<prestashop><cart><id_customer>{customer}</id_customer>'
            f"<id_address_delivery>{address}</id_address_delivery><id_address_invoice>{address}</id_address_invoice>"
            f"<id_currency>1</id_currency><id_lang>1</id_lang><id_carrier>2</id_carrier>{option}"
            f"<associations><cart_rows><cart_row><id_product>{product}</id_product>"
            f"<id_product_attribute>0</id_product_attribute><id_address_delivery>{address}</id_address_delivery>"
            f"<quantity>{quantity}</quantity></cart_row></cart_rows></associations></cart></prestashop>")


def order_xml(cart: int, customer: int, address: int, total: str = "28.51", module: str = "ps_wirepayment",
              payment: str = "Subscription renewal sub_0001 2026-12") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<prestashop><order>'
            f"<id_address_delivery>{address}</id_address_delivery><id_address_invoice>{address}</id_address_invoice>"
            f"<id_cart>{cart}</id_cart><id_currency>1</id_currency><id_lang>1</id_lang>"
            f"<id_customer>{customer}</id_customer><id_carrier>2</id_carrier><module>{module}</module>"
            f"<payment>{payment}</payment><total_paid>{total}</total_paid><total_paid_real>{total}</total_paid_real>"
            f"<total_products>0</total_products><total_products_wt>0</total_products_wt>"
            f"<conversion_rate>1</conversion_rate></order></prestashop>")


def new_cart(standin, bridget, delivery_option: bool = True) -> int:
    customer, address, product = bridget
    response = api(standin, "carts?output_format=JSON", "POST", data=cart_xml(customer, address, product,
                                                                              delivery_option))
    assert response.status_code == 201
    return int(response.json()["cart"]["id"])


def new_order(standin, bridget, total: str = "28.51", **kwargs) -> int:
    customer, address, _ = bridget
    cart = new_cart(standin, bridget)
    response = api(standin, "orders", "POST", data=order_xml(cart, customer, address, total, **kwargs))
    assert response.status_code == 201, response.text
    return int(ET.fromstring(response.content).findtext("order/id"))


# ---------------------------------------------------------------------------------------------- byte for byte

@pytest.mark.parametrize("name,path", [
    ("02", "customers?schema=blank"), ("03", "customers?schema=synopsis"), ("05", "addresses?schema=blank"),
    ("07", "products?schema=blank"), ("15", "carts?schema=blank"), ("16", "orders?schema=blank"),
    ("17", "orders?schema=synopsis"), ("18", "order_histories?schema=blank"), ("87", "messages?schema=blank"),
    ("90", "order_payments?schema=blank"),
])
def test_schemas_are_the_captured_documents(standin, name, path):
    captured = capture(name)["response"]
    response = api(standin, path)
    assert response.status_code == captured["status"] == 200
    assert response.headers["Content-Type"] == "text/xml;charset=utf-8"
    assert response.text == local(standin, captured["raw_body"])


@pytest.mark.parametrize("path", ["carts?schema=synopsis", "order_histories?schema=synopsis",
                                  "customer_threads?schema=blank", "customer_threads?schema=synopsis",
                                  "customer_messages?schema=blank", "customer_messages?schema=synopsis"])
def test_uncaptured_schemas_are_well_formed_and_name_their_rules(standin, path):
    response = api(standin, path)
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    fields = {e.tag: e.attrib for e in root[0]}
    if "synopsis" in path:
        assert "id" not in fields and any(a.get("required") == "true" for a in fields.values())
    else:
        assert "id" in fields and all(not a for a in fields.values())


def test_the_api_root_lists_the_keys_resources_as_captured(standin):
    captured = capture("01")["response"]
    response = api(standin, "")
    assert response.status_code == 200
    assert response.text == local(standin, captured["raw_body"])
    assert response.headers["Content-Sha1"] == __import__("hashlib").sha1(response.content).hexdigest()


def test_a_limited_key_sees_only_its_resources_and_methods(standin):
    root = ET.fromstring(api(standin, "", key=READONLY).content)
    orders = root.find("api/orders")
    assert [e.tag for e in root.find("api")] == ["order_histories", "orders"]
    assert orders.get("get") == "true" and orders.get("post") == "false"


@pytest.mark.parametrize("name", ["32", "33", "36", "37"])
def test_auth_errors_are_the_captured_documents(standin, name):
    captured = capture(name)
    request, expected = captured["request"], captured["response"]
    path = "api/carts" if name == "37" else "api/orders"
    response = requests.request(request["method"], standin.url + path,
                                headers={"Authorization": request["headers"]["Authorization"],
                                         "Content-Type": "application/xml"},
                                data=request["body"], timeout=10)
    assert response.status_code == expected["status"]
    assert response.text == expected["raw_body"]
    assert response.headers["Content-Type"] == "text/xml;charset=utf-8"
    assert response.headers.get("WWW-Authenticate") == expected["headers"].get("WWW-Authenticate")


def test_no_credentials_get_the_dispatchers_html_401(standin):
    expected = capture("34")["response"]
    response = requests.get(standin.url + "api/orders", timeout=10)
    assert (response.status_code, response.text) == (401, expected["raw_body"])
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["WWW-Authenticate"] == expected["headers"]["WWW-Authenticate"]


def test_the_key_works_as_ws_key_in_the_query(standin, bridget):
    new_order(standin, bridget)
    response = requests.get(standin.url + f"api/orders?output_format=JSON&limit=1&ws_key={KEY}", timeout=10)
    assert response.status_code == 200
    assert shape(response.json()) == shape(json.loads(capture("35")["response"]["raw_body"]))


@pytest.mark.parametrize("name,path", [
    ("65", "nosuchresource"), ("78", "orders?display=[id,nosuchfield]"), ("79", "orders?filter[nosuchfield]=[1]"),
])
def test_unknown_resources_and_fields_give_the_captured_errors(standin, name, path):
    expected = capture(name)["response"]
    response = api(standin, path)
    assert response.status_code == expected["status"]
    assert response.text == expected["raw_body"]


def test_date_filters_need_date_1(standin):
    expected = capture("68")["response"]
    response = api(standin, "orders?display=[id,date_upd]&filter[date_upd]=[2026-01-01 00:00:00,2030-12-31 23:59:59]"
                            "&output_format=JSON")
    assert response.status_code == 500 and content_type(response.headers) == "application/json"
    # The capture's PHP file path escaped the rewrite to /var/www/prestashop inside JSON (\/tmp\/realps\/shop).
    assert response.text == expected["raw_body"].replace("\\/tmp\\/realps\\/shop", "\\/var\\/www\\/prestashop")


def test_json_and_malformed_bodies_give_simplexmls_errors(standin):
    for name, path in (("56", "carts"), ("57", "carts?io_format=JSON"), ("59", "carts")):
        captured = capture(name)
        response = api(standin, path, "POST", data=captured["request"]["body"],
                       headers={"Content-Type": captured["request"]["headers"]["Content-Type"]})
        expected = captured["response"]["raw_body"].replace("\\/tmp\\/realps\\/shop", "\\/var\\/www\\/prestashop")
        assert (response.status_code, response.text) == (500, expected), name


def test_an_id_in_a_post_is_refused(standin, bridget):
    customer, address, product = bridget
    body = cart_xml(customer, address, product).replace("<cart>", "<cart><id>5</id>")
    response = api(standin, "carts", "POST", data=body)
    assert (response.status_code, response.text) == (400, capture("60")["response"]["raw_body"])


# ---------------------------------------------------------------------------------------------- the renewal, §3

def test_the_captured_renewal_sequence_end_to_end(standin, bridget, clock):
    customer, address, product = bridget
    marker = "renewal:sub_0001:2026-12"
    lookup = f"orders?filter[note]=[{marker}]&display=[id,reference,current_state,id_cart]&output_format=JSON"

    response = api(standin, lookup)  # 19
    assert (response.status_code, response.text) == (200, "[]")

    response = api(standin, "carts", "POST", data=cart_xml(customer, address, product))  # 20
    assert response.status_code == 201
    assert xml_shape(response.text) == xml_shape(capture("20")["response"]["raw_body"])
    cart = int(ET.fromstring(response.content).findtext("cart/id"))

    response = api(standin, "orders", "POST", data=order_xml(cart, customer, address))  # 21
    assert response.status_code == 201 and response.headers["Set-Cookie"].startswith("PrestaShop-")
    assert xml_shape(response.text) == xml_shape(capture("21")["response"]["raw_body"])
    echoed = ET.fromstring(response.content).find("order")
    assert echoed.findtext("current_state") == "" and echoed.findtext("reference") == ""
    order_id = int(echoed.findtext("id"))

    response = api(standin, f"orders/{order_id}", "PATCH",  # 22
                   data=f"<prestashop><order><id>{order_id}</id><note>{marker}</note></order></prestashop>")
    assert response.status_code == 200
    assert xml_shape(response.text) == xml_shape(capture("22")["response"]["raw_body"])

    clock.advance(timedelta(seconds=1))
    response = api(standin, "order_histories", "POST", data=(  # 23
        f"<prestashop><order_history><id_order>{order_id}</id_order><id_order_state>2</id_order_state>"
        "</order_history></prestashop>"))
    assert response.status_code == 201
    assert xml_shape(response.text) == xml_shape(capture("23")["response"]["raw_body"])

    order = api(standin, f"orders/{order_id}?output_format=JSON").json()  # 24
    assert shape(order) == shape(json.loads(capture("24")["response"]["raw_body"]))
    expected = json.loads(capture("24")["response"]["raw_body"])["order"]
    for field in ("current_state", "id_carrier", "total_paid", "total_paid_tax_excl", "total_shipping",
                  "total_products_wt", "valid", "note", "payment", "module"):
        assert order["order"][field] == expected[field], field
    assert len(order["order"]["reference"]) == 9 and order["order"]["reference"].isupper()
    reference = order["order"]["reference"]

    xml = api(standin, f"orders/{order_id}")  # 25
    assert xml.headers["Content-Type"] == "text/xml;charset=utf-8"
    assert xml_shape(xml.text) == xml_shape(capture("25")["response"]["raw_body"])
    full = api(standin, f"orders/{order_id}?display=full&output_format=JSON").json()  # 26
    assert shape(full) == shape(json.loads(capture("26")["response"]["raw_body"]))

    for name, path in (("27", f"order_histories?filter[id_order]=[{order_id}]&display=full&output_format=JSON"),
                       ("28", f"order_payments?filter[order_reference]=[{reference}]&display=full&output_format=JSON"),
                       ("29", f"order_carriers?filter[id_order]=[{order_id}]&display=full&output_format=JSON"),
                       ("30", f"order_details?filter[id_order]=[{order_id}]&display=full&output_format=JSON")):
        got, want = api(standin, path).json(), json.loads(capture(name)["response"]["raw_body"])
        assert shape(got) == shape(want), name
        assert len(next(iter(got.values()))) == len(next(iter(want.values()))), name
    payments = api(standin, f"order_payments?filter[order_reference]=[{reference}]&display=full&output_format=JSON")
    assert payments.json()["order_payments"][0]["amount"] == "28.510000"  # no second payment for 11 -> 2

    response = api(standin, lookup)  # 31: the retry finds the order
    assert response.json() == {"orders": [{"id": order_id, "id_cart": str(cart), "current_state": "2",
                                           "reference": reference}]}
    assert standin.mails[0].template == "order_conf"


def test_json_answers_to_writes_leave_out_empty_fields(standin, bridget):
    customer, address, product = bridget
    response = api(standin, "carts?output_format=JSON", "POST", data=cart_xml(customer, address, product))
    assert response.status_code == 201 and content_type(response.headers) == "application/json"
    assert shape(response.json()) == shape(json.loads(capture("58")["response"]["raw_body"]))
    order_id = new_order(standin, bridget)
    response = api(standin, "order_histories?output_format=JSON", "POST", data=(
        f"<prestashop><order_history><id_order>{order_id}</id_order><id_order_state>2</id_order_state>"
        "</order_history></prestashop>"))
    captured = FIXTURES / "refunds" / "54_api_order14_order_histories_POST_state_2.json"
    assert shape(response.json()) == shape(json.loads(json.loads(captured.read_text())["response"]["body_raw"]))


# ---------------------------------------------------------------------------------------------- §5 errors

def test_a_wrong_total_still_creates_the_order_in_payment_error_with_its_payment(standin, bridget):
    order_id = new_order(standin, bridget, total="19.90", payment="Subscription renewal sub_0001 WRONG-TOTAL")
    order = api(standin, f"orders/{order_id}?output_format=JSON").json()
    assert shape(order) == shape(json.loads(capture("40")["response"]["raw_body"]))
    assert (order["order"]["current_state"], order["order"]["total_paid"], order["order"]["total_paid_real"]) == \
        ("8", "28.510000", "19.900000")
    assert "valid" not in order["order"]  # "0": left out like every empty field
    payments = api(standin, f"order_payments?filter[order_reference]=[{order['order']['reference']}]"
                            "&display=full&output_format=JSON").json()
    assert [p["amount"] for p in payments["order_payments"]] == ["19.900000"]


@pytest.mark.parametrize("total,state", [("28.5149", "11"), ("28.505", "11"), ("28.50", "8"), ("28.52", "8")])
def test_the_total_is_compared_after_rounding_to_two_decimals(standin, bridget, total, state):
    order_id = new_order(standin, bridget, total=total)
    assert api(standin, f"orders/{order_id}?output_format=JSON").json()["order"]["current_state"] == state


def test_a_cart_without_delivery_option_uses_the_free_default_carrier(standin, bridget):
    customer, address, _ = bridget
    cart = new_cart(standin, bridget, delivery_option=False)
    response = api(standin, "orders", "POST", data=order_xml(cart, customer, address))
    assert response.status_code == 201
    order_id = ET.fromstring(response.content).findtext("order/id")
    got = api(standin, f"orders/{order_id}?display=[id,id_carrier,current_state,total_paid,total_paid_real,"
                       "total_shipping]&output_format=JSON").json()
    expected = json.loads(capture("86")["response"]["raw_body"])
    assert {k: v for k, v in got["orders"][0].items() if k != "id"} == \
        {k: v for k, v in expected["orders"][0].items() if k != "id"}


def test_one_cart_gives_one_order(standin, bridget):
    customer, address, _ = bridget
    cart = new_cart(standin, bridget)
    assert api(standin, "orders", "POST", data=order_xml(cart, customer, address)).status_code == 201
    second = api(standin, "orders", "POST", data=order_xml(cart, customer, address, payment="DUP"))
    expected = capture("42")["response"]
    assert (second.status_code, second.text) == (500, expected["raw_body"])
    assert second.headers["Content-Type"] == "text/html; charset=utf-8"
    unknown = api(standin, "orders", "POST", data=order_xml(999999, customer, address))
    assert (unknown.status_code, unknown.text) == (500, capture("52")["response"]["raw_body"])
    found = api(standin, f"orders?display=[id,reference,id_cart]&filter[id_cart]=[{cart}]&output_format=JSON").json()
    assert len(found["orders"]) == 1


@pytest.mark.parametrize("module,name", [("ps_doesnotexist", "43"), ("ps_banner", "44")])
def test_a_module_that_cannot_take_payments_is_a_fatal_with_an_empty_body(standin, bridget, module, name):
    customer, address, _ = bridget
    cart = new_cart(standin, bridget)
    response = api(standin, "orders", "POST", data=order_xml(cart, customer, address, module=module, payment="x"))
    assert (response.status_code, response.text) == (500, capture(name)["response"]["raw_body"])
    assert standin.rows("orders") == []


def test_a_disabled_module_is_refused_and_works_again_once_enabled(standin, bridget):
    customer, address, _ = bridget
    standin.set_module_active("ps_checkpayment", False)
    cart = new_cart(standin, bridget)
    response = api(standin, "orders", "POST", data=order_xml(cart, customer, address, module="ps_checkpayment"))
    assert (response.status_code, response.text) == (500, capture("45")["response"]["raw_body"])
    standin.set_module_active("ps_checkpayment", True)
    response = api(standin, "orders", "POST", data=order_xml(cart, customer, address, module="ps_checkpayment",
                                                             payment="Check renewal"))
    assert response.status_code == 201


def test_abonnes_own_module_is_installed(standin, bridget):
    order_id = new_order(standin, bridget, module="abonne", payment="Card on file, myPOS sub_0001 2026-12")
    assert api(standin, f"orders/{order_id}?output_format=JSON").json()["order"]["current_state"] == "11"


def test_validation_errors(standin, bridget):
    customer, address, _ = bridget
    cart = new_cart(standin, bridget)
    label = api(standin, "orders", "POST", data=order_xml(cart, customer, address, payment="bad &lt;label&gt; {x}"))
    assert (label.status_code, label.text) == (400, capture("47")["response"]["raw_body"])
    no_module = api(standin, "orders", "POST", data=order_xml(cart, customer, address).replace(
        "<module>ps_wirepayment</module>", ""))
    assert (no_module.status_code, no_module.text) == (400, capture("48")["response"]["raw_body"])


def test_carts_store_what_they_are_given_and_orders_then_fail(standin, bridget):
    customer, address, _ = bridget
    response = api(standin, "carts", "POST", data=cart_xml(customer, address, 999999).replace(
        "<id_carrier>", "<x>ignored</x><id_carrier>"))
    assert response.status_code == 201  # 49 and 55: unknown product stored, unknown element ignored
    cart = ET.fromstring(response.content).findtext("cart/id")
    assert api(standin, f"carts/{cart}?output_format=JSON").json()["cart"]["associations"]["cart_rows"][0][
        "id_product"] == "999999"
    failed = api(standin, "orders", "POST", data=order_xml(int(cart), customer, address))
    assert (failed.status_code, failed.text) == (500, "")  # 50
    empty = api(standin, "carts", "POST", data=f"<prestashop><cart><id_customer>{customer}</id_customer>"
                                              "<id_currency>1</id_currency><id_lang>1</id_lang></cart></prestashop>")
    assert "<cart_rows nodeType=\"cart_row\" virtualEntity=\"true\"/>" in empty.text  # 53
    cart = ET.fromstring(empty.content).findtext("cart/id")
    failed = api(standin, "orders", "POST", data=order_xml(int(cart), customer, address))
    assert (failed.status_code, failed.text) == (500, capture("54")["response"]["raw_body"])


def test_order_histories_for_unknown_orders_or_states_are_fatals(standin, bridget):
    order_id = new_order(standin, bridget)
    for name, order, state in (("61", 999999, 2), ("62", order_id, 999)):
        response = api(standin, "order_histories", "POST", data=(
            f"<prestashop><order_history><id_order>{order}</id_order><id_order_state>{state}</id_order_state>"
            "</order_history></prestashop>"))
        assert (response.status_code, response.text) == (500, capture(name)["response"]["raw_body"])


def test_an_unknown_order_is_a_404_without_body_or_content_type(standin):
    for name, path in (("63", "orders/999999"), ("64", "orders/999999?output_format=JSON")):
        response = api(standin, path)
        assert (response.status_code, response.content) == (404, b"")
        assert "Content-Type" not in response.headers


def test_delete_removes_only_the_order_row(standin, bridget):
    order_id = new_order(standin, bridget)
    response = api(standin, f"orders/{order_id}", "DELETE")
    assert (response.status_code, response.content) == (200, b"") and "Content-Type" not in response.headers
    assert api(standin, f"orders/{order_id}").status_code == 404
    orphans = api(standin, f"order_histories?filter[id_order]=[{order_id}]&output_format=JSON").json()
    assert len(orphans["order_histories"]) == 1


def test_the_webservice_can_be_switched_off(standin):
    standin.set_webservice_enabled(False)
    response = api(standin, "orders")
    assert response.status_code == 503
    assert ET.fromstring(response.content).findtext("errors/error/code") == "22"
    standin.behave_normally()
    assert api(standin, "orders").status_code == 200


# ---------------------------------------------------------------------------------------------- reads

def test_list_filters_sorts_and_limits(standin, bridget, clock):
    ids = []
    for total in ("28.51", "19.90", "28.51"):
        ids.append(new_order(standin, bridget, total=total, payment=f"Subscription renewal sub_0001 T{len(ids)}"))
        clock.advance(timedelta(minutes=1))
    latest = api(standin, "orders?display=[id,reference,current_state,date_upd]&filter[date_upd]="
                          "[2026-01-01 00:00:00,2030-12-31 23:59:59]&date=1&sort=[date_upd_DESC]&limit=0,2"
                          "&output_format=JSON").json()
    assert shape(latest) == shape(json.loads(capture("67")["response"]["raw_body"]))
    assert [o["id"] for o in latest["orders"]] == [ids[2], ids[1]]
    after = api(standin, "orders?display=[id,date_upd]&filter[date_upd]=>[2026-11-24 19:03:00]&date=1"
                         "&output_format=JSON").json()
    assert [o["id"] for o in after["orders"]] == ids[1:]
    either = api(standin, "orders?display=[id,reference,current_state]&filter[current_state]=[2|11]"
                          "&sort=[id_DESC]&output_format=JSON").json()
    assert [o["id"] for o in either["orders"]] == [ids[2], ids[0]]
    between = api(standin, f"orders?display=[id,reference]&filter[id]=[{ids[1]},{ids[2]}]&output_format=JSON")
    assert [o["id"] for o in between.json()["orders"]] == ids[1:]
    contains = api(standin, "orders?display=[id,reference,payment]&filter[payment]=%[sub_0001 T1]%"
                            "&output_format=JSON").json()
    assert shape(contains) == shape(json.loads(capture("74")["response"]["raw_body"]))
    assert [o["id"] for o in contains["orders"]] == [ids[1]]
    full = api(standin, "orders?display=full&limit=2&sort=[id_DESC]&output_format=JSON").json()
    assert shape(full) == shape(json.loads(capture("72")["response"]["raw_body"]))
    xml = api(standin, "orders?display=full&limit=1&sort=[id_DESC]")
    assert xml_shape(xml.text) == xml_shape(capture("73")["response"]["raw_body"])
    header = requests.get(standin.url + "api/orders?limit=1&sort=[id_DESC]", auth=(KEY, ""),
                          headers={"Output-Format": "JSON"}, timeout=10)
    assert header.json() == {"orders": [{"id": ids[2]}]}
    head = requests.head(standin.url + f"api/orders/{ids[0]}", auth=(KEY, ""), timeout=10)
    assert (head.status_code, head.content, head.headers["Content-Type"]) == (200, b"", "text/xml;charset=utf-8")
    nothing = api(standin, "orders?display=[id,reference]&filter[reference]=[NOPE]")
    assert nothing.text == capture("77")["response"]["raw_body"]


def test_order_states_and_configuration(standin):
    states = api(standin, "order_states?display=[id,name,paid,logable]&output_format=JSON")
    assert states.text == capture("82")["response"]["raw_body"]
    config = api(standin, "configurations?filter[name]=[PS_OS_PAYMENT|PS_OS_REFUND|PS_OS_CANCELED|PS_OS_ERROR"
                          "|PS_OS_WS_PAYMENT|PS_TIMEZONE]&display=[name,value]&output_format=JSON").json()
    assert {c["name"]: c["value"] for c in config["configurations"]} == {
        "PS_OS_PAYMENT": "2", "PS_OS_REFUND": "7", "PS_OS_CANCELED": "6", "PS_OS_ERROR": "8",
        "PS_OS_WS_PAYMENT": "11", "PS_TIMEZONE": "Europe/Dublin"}
    currency = api(standin, "currencies/1?output_format=JSON").json()
    assert currency["currency"]["iso_code"] == "EUR"


def test_products_carry_their_features_and_prices(standin, bridget):
    _, _, product = bridget
    got = api(standin, f"products/{product}?output_format=JSON&price[final][use_tax]=1&price[final_excl][use_tax]=0")
    expected = json.loads(capture("14")["response"]["raw_body"])["product"]
    body = got.json()["product"]
    assert [k for k in expected if k in body] == [k for k in body if k in expected]  # the captured order
    assert set(expected) - set(body) == {"description_short"}  # the stand-in's product has none
    assert (body["price"], body["final"], body["final_excl"]) == ("16.178862", "19.900000", "16.180000")
    feature = body["associations"]["product_features"][0]
    assert api(standin, f"product_features/{feature['id']}?output_format=JSON").json()["product_feature"]["name"] \
        == "Subscription"
    value = api(standin, f"product_feature_values/{feature['id_feature_value']}?output_format=JSON").json()
    assert value["product_feature_value"]["value"] == "monthly"


def test_a_transaction_id_can_be_written_on_the_payment(standin, bridget):
    order_id = new_order(standin, bridget)
    reference = api(standin, f"orders/{order_id}?output_format=JSON").json()["order"]["reference"]
    payment = api(standin, f"order_payments?filter[order_reference]=[{reference}]&display=full&output_format=JSON")
    payment_id = payment.json()["order_payments"][0]["id"]
    response = api(standin, f"order_payments/{payment_id}", "PATCH", data=(
        f"<prestashop><order_payment><id>{payment_id}</id><transaction_id>mypos-123</transaction_id>"
        "</order_payment></prestashop>"))
    assert response.status_code == 200
    found = api(standin, "order_payments?filter[transaction_id]=[mypos-123]&display=[id,amount]&output_format=JSON")
    assert found.json() == {"order_payments": [{"id": payment_id, "amount": "28.510000"}]}
    full = api(standin, f"order_payments?filter[order_reference]=[{reference}]&display=full&output_format=JSON")
    assert [(p["id"], p["transaction_id"], p["amount"]) for p in full.json()["order_payments"]] == [
        (payment_id, "mypos-123", "28.510000")]


def post_thread(standin, customer: int, order_id: int) -> str:
    thread = api(standin, "customer_threads?output_format=JSON", "POST", data=(
        f"<prestashop><customer_thread><id_customer>{customer}</id_customer><id_order>{order_id}</id_order>"
        "<id_contact>0</id_contact><id_lang>1</id_lang><email>bridget.tester@example.com</email>"
        "<status>open</status><token>a1b2c3d4e5f6</token></customer_thread></prestashop>"))
    assert thread.status_code == 201
    return thread.json()["customer_thread"]["id"]


def post_message(standin, thread_id: str, text: str, private: int) -> requests.Response:
    return api(standin, "customer_messages", "POST", data=(
        f"<prestashop><customer_message><id_customer_thread>{thread_id}</id_customer_thread>"
        f"<id_employee>0</id_employee><message>{text}</message><private>{private}</private>"
        "</customer_message></prestashop>"))


def test_a_public_message_on_the_order_is_shown_to_the_customer_and_mailed_by_abonnes_module(standin, bridget):
    customer, _, _ = bridget
    order_id = new_order(standin, bridget)
    reference = api(standin, f"orders/{order_id}?output_format=JSON").json()["order"]["reference"]
    mails_before = len(standin.mails)
    thread_id = post_thread(standin, customer, order_id)
    assert post_message(standin, thread_id, "Pay here: https://abonne.example/pay/abc", 0).status_code == 201
    assert post_message(standin, thread_id, "abonne: internal note", 1).status_code == 201

    assert standin.order_messages(order_id) == ["Pay here: https://abonne.example/pay/abc"]
    mailed = standin.mails[mails_before:]
    assert [(m.to, m.template, m.subject, m.order_id) for m in mailed] == [
        ("bridget.tester@example.com", "reply_msg", f"About your order {reference}", order_id)]  # not the private one
    listed = api(standin, f"customer_threads?filter[id_order]=[{order_id}]&display=full&output_format=JSON").json()
    assert listed["customer_threads"][0]["associations"]["customer_messages"] == [{"id": "1"}, {"id": "2"}]
    messages = api(standin, f"customer_messages?filter[id_customer_thread]=[{thread_id}]&display=full"
                            "&output_format=JSON").json()["customer_messages"]
    assert [(m["message"], m["private"], m["id_employee"]) for m in messages] == [
        ("Pay here: https://abonne.example/pay/abc", "0", "0"), ("abonne: internal note", "1", "0")]


def test_without_abonnes_module_active_a_webservice_message_mails_nobody(standin, bridget):
    customer, _, _ = bridget
    order_id = new_order(standin, bridget)
    standin.set_module_active("abonne", False)
    mails_before = len(standin.mails)
    assert post_message(standin, post_thread(standin, customer, order_id), "Hello", 0).status_code == 201
    assert standin.order_messages(order_id) == ["Hello"] and len(standin.mails) == mails_before


def test_credit_slips_show_in_order_slip(standin, bridget):
    order_id = new_order(standin, bridget)
    standin.add_credit_slip(order_id, "19.90", shipping="8.61")
    slips = api(standin, f"order_slip?filter[id_order]=[{order_id}]&display=full&output_format=JSON").json()
    captured = json.loads((FIXTURES / "refunds" / "06_api_order6_order_slip_after_partial_refunds.json").read_text())
    assert shape(slips) == shape(json.loads(captured["response"]["body_raw"]))
    slip = slips["order_slips"][0]
    assert (slip["amount"], slip["shipping_cost_amount"], slip["order_slip_type"]) == ("19.900000", "8.610000", "2")
    assert api(standin, f"orders/{order_id}?output_format=JSON").json()["order"]["current_state"] == "11"


# ---------------------------------------------------------------------------------------------- module events

def _verified(receiver, clock, index):
    return receiver.verified(index, SECRET, clock.now())


def test_module_events_are_signed_and_carry_the_order(standin, bridget, receiver, clock):
    customer, _, product = bridget
    standin.connect_module(receiver.url, 1, SECRET)
    order_id = standin.place_order(customer, [(product, 1)])
    assert standin.flush_events()
    event, raw = _verified(receiver, clock, 0)
    assert event["event"] == "order.created" and event["order"]["old_status"] is None
    assert event["order"]["status"] == {"id": "10", "name": "Awaiting bank wire payment", "paid": False,
                                        "refunded": False, "cancelled": False}
    order = parse_event_order(raw)
    assert (order.order_id, str(order.total.amount), order.own_renewal, order.paid) == (str(order_id), "28.51",
                                                                                       False, False)
    assert order.lines[0].sku == "COFFEE-CLUB-M" and order.billing.country == "IE"

    standin.set_order_state(order_id, 2)
    standin.add_credit_slip(order_id, "19.90")
    api(standin, f"orders/{order_id}", "DELETE")
    assert standin.flush_events()
    kinds = [json.loads(body)["event"] for _, body in receiver.requests]
    assert kinds == ["order.created", "order.status_changed", "order.refunded", "order.deleted"]
    changed, raw = _verified(receiver, clock, 1)
    assert (changed["order"]["old_status"]["id"], changed["order"]["status"]["id"]) == ("10", "2")
    assert parse_event_order(raw).paid
    refunded, _ = _verified(receiver, clock, 2)
    assert refunded["order"]["refund"]["amount"] == "19.90"
    assert [e.status for e in standin.events] == [200, 200, 200, 200]


def test_webservice_state_changes_and_renewals_send_events(standin, bridget, receiver, clock):
    standin.connect_module(receiver.url, 1, SECRET)
    order_id = new_order(standin, bridget, module="abonne", payment="Card on file, myPOS sub_0001 2026-12")
    api(standin, "order_histories", "POST", data=(
        f"<prestashop><order_history><id_order>{order_id}</id_order><id_order_state>7</id_order_state>"
        "</order_history></prestashop>"))
    assert standin.flush_events()
    created, raw = _verified(receiver, clock, 0)
    assert created["order"]["renewal"] is True and parse_event_order(raw).own_renewal
    refunded, raw = _verified(receiver, clock, 1)
    assert refunded["order"]["status"]["refunded"] is True
    assert parse_event_order(raw).state is OrderState.REFUNDED


def test_failed_events_wait_in_the_queue_with_the_modules_backoff(standin, bridget, clock):
    customer, _, product = bridget
    with Receiver(status=503) as receiver:
        standin.connect_module(receiver.url, 1, SECRET)
        standin.place_order(customer, [(product, 1)])
        assert standin.flush_events()
        assert [e.status for e in standin.events] == [503]
        assert standin.resend_due() == []  # not due yet
        clock.advance(timedelta(seconds=59))
        assert standin.resend_due() == []
        clock.advance(timedelta(seconds=1))
        assert [e.status for e in standin.resend_due()] == [503]  # after 1 min
        clock.advance(timedelta(minutes=4))
        assert standin.resend_due() == []
        clock.advance(timedelta(minutes=1))
        assert [e.attempt for e in standin.resend_due()] == [3]  # after 5 more min
        receiver.status = 200
        clock.advance(timedelta(minutes=30))
        resent = standin.resend_due()
        assert [e.status for e in resent] == [200] and standin.queued_events == []
        headers, body = receiver.requests[-1]
        verify_event(SECRET, headers, body, clock.now())  # signed again with the new time
        assert len({h["X-Abonne-Event-Id"] for h, _ in receiver.requests}) == 1


def test_an_unreachable_bridge_is_retried_on_the_next_event_and_given_up_after_three_days(standin, bridget, clock):
    customer, _, product = bridget
    receiver = Receiver()
    url = receiver.url
    receiver.stop()  # nothing listens there now
    standin.connect_module(url, 1, SECRET)
    order_id = standin.place_order(customer, [(product, 1)])
    assert standin.flush_events()
    assert standin.events[0].status is None and standin.events[0].error
    clock.advance(timedelta(minutes=2))
    standin.set_order_state(order_id, 2)  # a later event also sends what has fallen due
    assert standin.flush_events()
    assert sorted(e.event for e in standin.events[1:]) == ["order.created", "order.status_changed"]
    for _ in range(20):
        clock.advance(timedelta(hours=6))
        standin.resend_due()
    assert standin.queued_events == []
    assert {e["event"] for e in standin.given_up_events} == {"order.created", "order.status_changed"}


# ---------------------------------------------------------------------------------------------- renewal pieces

def price_xml(cart: int, product: int, price: str, customer: int = 0, reduction: str = "0",
              reduction_type: str = "amount") -> str:
    return ("<prestashop><specific_price><id_shop>1</id_shop>"
            f"<id_cart>{cart}</id_cart><id_product>{product}</id_product><id_product_attribute>0</id_product_attribute>"
            "<id_currency>0</id_currency><id_country>0</id_country><id_group>0</id_group>"
            f"<id_customer>{customer}</id_customer><price>{price}</price><from_quantity>1</from_quantity>"
            f"<reduction>{reduction}</reduction><reduction_tax>1</reduction_tax>"
            f"<reduction_type>{reduction_type}</reduction_type><from>0000-00-00 00:00:00</from>"
            "<to>0000-00-00 00:00:00</to></specific_price></prestashop>")


def cart_read(standin, cart, secret: str = SECRET, stamp: int | None = None, signature: str | None = None,
              headers: dict | None = None) -> requests.Response:
    """abonne's signed read of a cart's total, as adapters/prestashop asks for it."""
    stamp = int(standin.shop.clock().timestamp()) if stamp is None else stamp
    if signature is None:
        signature = sign_read(secret, int(stamp), "cart", {"id_cart": cart})
    sent = {"X-Abonne-Timestamp": str(stamp), "X-Abonne-Signature": signature} if headers is None else headers
    return requests.get(standin.url + "index.php", params={"fc": "module", "module": "abonne", "controller": "cart",
                                                           "id_cart": cart}, headers=sent, timeout=10)


def test_a_specific_price_for_one_cart_sets_its_total_and_is_removed_by_the_order(standin, bridget):
    customer, address, product = bridget
    standin.connect_module("http://127.0.0.1:9", 1, SECRET)
    cart = new_cart(standin, bridget)  # carrier 2: 8.61
    created = api(standin, "specific_prices?output_format=JSON", "POST", data=price_xml(cart, product, "10.16",
                                                                                        customer))
    assert created.status_code == 201
    price_id = created.json()["specific_price"]["id"]
    stored = api(standin, f"specific_prices/{price_id}?output_format=JSON").json()["specific_price"]
    assert (stored["id_cart"], stored["id_product"], stored["price"], stored["reduction_type"]) == \
        (str(cart), str(product), "10.160000", "amount")
    # 10.16 + 23 % = 12.4968 a unit, 12.50 the line, + 8.61 shipping
    assert cart_read(standin, cart).json() == {"ok": True, "id_cart": str(cart), "currency": "EUR",
                                               "products": "12.50", "shipping": "8.61", "total": "21.11"}
    assert cart_read(standin, new_cart(standin, bridget)).json()["products"] == "19.90"  # other carts: the catalog's

    response = api(standin, "orders", "POST", data=order_xml(cart, customer, address, total="21.11"))
    order_id = int(ET.fromstring(response.content).findtext("order/id"))
    order = api(standin, f"orders/{order_id}?display=full&output_format=JSON").json()["orders"][0]
    assert (order["current_state"], order["total_paid"], order["total_products"], order["total_products_wt"]) == \
        ("11", "21.110000", "10.160000", "12.500000")  # not Payment error: the pinned price was used
    row = order["associations"]["order_rows"][0]
    assert (row["unit_price_tax_excl"], row["unit_price_tax_incl"]) == ("10.160000", "12.496800")

    gone = api(standin, f"specific_prices/{price_id}", "DELETE")
    assert gone.status_code == 404 and content_type(gone.headers) == "text/xml;charset=utf-8"
    assert [(e.findtext("code"), e.findtext("message")) for e in ET.fromstring(gone.content).iter("error")] == [
        ("87", f"Id(s) not exists: {price_id}")]
    as_json = api(standin, f"specific_prices/{price_id}?output_format=JSON", "DELETE")
    assert as_json.json() == {"errors": [{"code": 87, "message": f"Id(s) not exists: {price_id}"}]}


def test_a_specific_price_can_be_deleted_and_can_keep_the_catalog_price_with_a_reduction(standin, bridget):
    customer, _, product = bridget
    standin.connect_module("http://127.0.0.1:9", 1, SECRET)
    cart = new_cart(standin, bridget)
    price_id = ET.fromstring(api(standin, "specific_prices", "POST", data=price_xml(cart, product, "9")).content
                             ).findtext("specific_price/id")
    assert cart_read(standin, cart).json()["products"] == "11.07"
    deleted = api(standin, f"specific_prices/{price_id}", "DELETE")
    assert (deleted.status_code, deleted.content) == (200, b"")
    assert api(standin, f"specific_prices/{price_id}").status_code == 404
    assert cart_read(standin, cart).json()["products"] == "19.90"
    # -1 keeps the catalog price; a 10 % reduction comes off the price with tax: 19.90 * 0.9
    api(standin, "specific_prices", "POST", data=price_xml(cart, product, "-1", reduction="0.1",
                                                           reduction_type="percentage"))
    assert cart_read(standin, cart).json()["products"] == "17.91"
    refused = api(standin, "specific_prices", "POST", data=price_xml(cart, product, "5", reduction_type="free"))
    assert refused.status_code == 400 and "reduction_type" in refused.text


def test_the_modules_cart_read_answers_like_cart_php(standin, bridget, clock):
    cart = new_cart(standin, bridget)
    assert cart_read(standin, cart).json()["error"] == "signature_missing"  # not configured: no secret yet
    standin.connect_module("http://127.0.0.1:9", 1, SECRET)
    ok = cart_read(standin, cart)
    assert ok.status_code == 200 and ok.headers["Content-Type"] == "application/json"
    assert ok.text == (f'{{"ok":true,"id_cart":"{cart}","currency":"EUR","products":"19.90","shipping":"8.61",'
                       '"total":"28.51"}\n')
    now = int(clock.now().timestamp())
    for response, status, error in (
            (cart_read(standin, cart, headers={}), 401, "signature_missing"),
            (cart_read(standin, cart, headers={"X-Abonne-Timestamp": "soon", "X-Abonne-Signature": "v1=00"}), 401,
             "signature_missing"),
            (cart_read(standin, cart, secret="another-secret"), 401, "signature_mismatch"),
            (cart_read(standin, cart, signature="v1=" + "0" * 64), 401, "signature_mismatch"),
            (cart_read(standin, cart, stamp=now - 301), 401, "timestamp_out_of_window"),
            (cart_read(standin, 999999), 404, "cart_unknown")):
        body = response.json()
        assert (response.status_code, body["ok"], body["error"]) == (status, False, error), body
        assert body["detail"]
    assert cart_read(standin, cart, stamp=now - 300).status_code == 200  # the window is 300 s on the shop's clock
    clock.advance(timedelta(minutes=10))
    assert cart_read(standin, cart, stamp=now).json()["error"] == "timestamp_out_of_window"
    standin.set_module_active("abonne", False)
    assert cart_read(standin, cart).status_code == 404


def test_countries_are_listed_and_read_with_the_ids_addresses_use(standin, bridget):
    _, address, _ = bridget
    found = api(standin, "countries?filter[iso_code]=[BG]&display=[id,iso_code]&output_format=JSON").json()
    assert found == {"countries": [{"id": 236, "iso_code": "BG"}]}
    ireland = api(standin, "countries/26?output_format=JSON").json()["country"]
    assert (ireland["iso_code"], ireland["name"], ireland["active"]) == ("IE", "Ireland", "1")
    xml = ET.fromstring(api(standin, "countries/236").content)
    assert xml.findtext("country/name/language") == "Bulgaria"
    home = api(standin, f"addresses/{address}?output_format=JSON").json()["address"]
    assert home["id_country"] == "26"
    sofia = standin.add_address(bridget[0], "1 Vitosha Blvd", "Sofia", "1000", country="BG")
    assert api(standin, f"addresses/{sofia}?output_format=JSON").json()["address"]["id_country"] == "236"
    with pytest.raises(ValueError, match="no country 'XX'"):
        standin.add_address(bridget[0], "Nowhere 1", "Nowhere", country="XX")


def test_a_state_change_with_sendemail_mails_the_customer_and_a_failed_mail_is_a_500_after_saving(standin, bridget):
    order_id = new_order(standin, bridget)

    def history(state: int) -> requests.Response:
        return api(standin, "order_histories?sendemail=1&output_format=JSON", "POST", data=(
            f"<prestashop><order_history><id_order>{order_id}</id_order><id_order_state>{state}</id_order_state>"
            "</order_history></prestashop>"))

    assert history(2).status_code == 201
    assert [(m.template, m.order_id) for m in standin.mails][-1] == ("payment", order_id)
    mails = len(standin.mails)
    standin.fail_mails(True)
    failed = history(4)
    assert failed.status_code == 500
    assert failed.json() == {"errors": [{"code": 46, "message": "Unable to save resource"}]}
    assert api(standin, f"orders/{order_id}?output_format=JSON").json()["order"]["current_state"] == "4"
    states = api(standin, f"order_histories?filter[id_order]=[{order_id}]&display=[id_order_state]"
                          "&output_format=JSON").json()["order_histories"]
    assert [h["id_order_state"] for h in states] == ["11", "2", "4"]
    assert len(standin.mails) == mails
    assert history(5).status_code == 201  # "Delivered" has no mail to fail


def test_orders_can_be_found_by_module_payment_label_and_customer_and_read_in_pages_by_change(standin, bridget,
                                                                                             clock):
    customer, _, _ = bridget
    other = standin.add_customer("other@example.com", "Other", "Person")
    standin.add_address(other, "2 Main St", "Cork")
    first = new_order(standin, bridget, module="abonne", payment="Card on file, myPOS 111")
    clock.advance(timedelta(minutes=1))
    second = new_order(standin, bridget, module="abonne", payment="Card on file, myPOS 222")
    clock.advance(timedelta(minutes=1))
    wire = new_order(standin, bridget)
    club = bridget[2]
    theirs = standin.place_order(other, [(club, 1)])
    found = api(standin, "orders?filter[module]=[abonne]&filter[payment]=[Card on file, myPOS 222]"
                         "&display=[id,payment]&output_format=JSON").json()
    assert found == {"orders": [{"id": second, "payment": "Card on file, myPOS 222"}]}
    mine = api(standin, f"orders?filter[module]=[abonne]&filter[id_customer]=[{customer}]&display=full"
                        "&sort=[id_ASC]&output_format=JSON").json()["orders"]
    assert [o["id"] for o in mine] == [first, second]
    assert [(r["product_id"], r["product_quantity"]) for r in mine[0]["associations"]["order_rows"]] == \
        [(str(club), "1")]
    assert theirs not in [o["id"] for o in mine] and wire not in [o["id"] for o in mine]

    since = (START + timedelta(seconds=30)).strftime("%Y-%m-%d %H:%M:%S")
    pages = [api(standin, f"orders?filter[date_upd]=>[{since}]&date=1&display=full&sort=[date_upd_ASC]"
                          f"&limit={offset},2&output_format=JSON").json() for offset in (0, 2, 4)]
    assert [[o["id"] for o in page["orders"]] if page else [] for page in pages] == [[second, wire], [theirs], []]


# ---------------------------------------------------------------------------------------------- the adapter

BG_PRICE = "12.30"  # 10.00 + 23 %


@pytest.fixture
def now_clock():
    return SettableClock(datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
def ps(now_clock):
    standin = PrestaShopStandin(shop_name="Coffee Club Test Shop", event_timeout_s=1.0)
    standin.start(KEY, clock=now_clock)
    standin.connect_module("http://127.0.0.1:9", 1, SECRET)  # nothing listens: events wait in the queue
    yield standin
    standin.stop()


@pytest.fixture
def ivan(ps):
    customer = ps.add_customer("ivan.petrov@example.com", "Ivan", "Petrov")
    ps.add_address(customer, "1 Vitosha Blvd", "Sofia", "1000", country="BG", phone="+359888000000")
    product = ps.add_product("Coffee Club Monthly", BG_PRICE, "COFFEE-CLUB-M")
    return customer, product


def adapter(standin, clock, key: str = KEY) -> PrestaShopShop:
    return PrestaShopShop({"url": standin.url}, {"webservice_key": key, "webhook_secret": SECRET}, clock=clock.now)


def renewal_of(order_id: int, product: int, transaction: str, charged: str = BG_PRICE, net: str = "10.00",
               cycle: int = 2) -> RenewalOrder:
    return RenewalOrder(key=f"7:{cycle}", parent_order_id=str(order_id), customer_id=None, billing=Address(),
                        shipping=Address(), lines=(RenewalLine(str(product), None, "Coffee Club Monthly", 1,
                                                               Money.parse(net, "EUR")),),
                        charged=Money.parse(charged, "EUR"), transaction_id=transaction, agreement_id=7, cycle=cycle)


def test_the_adapter_records_a_renewal_as_a_paid_order_of_module_abonne(ps, ivan, now_clock):
    customer, product = ivan
    first = ps.place_order(customer, [(product, 1)], carrier_id=1)
    shop = adapter(ps, now_clock)
    renewal = renewal_of(first, product, "MYPOS-0002")
    assert shop.find_renewal_order(renewal) is None

    created = shop.create_renewal_order(renewal)
    assert created.total == Money.parse(BG_PRICE, "EUR")
    order = ps.order(int(created.order_id))
    assert (order["module"], order["current_state"], order["total_paid"], order["payment"]) == \
        ("abonne", "2", "12.300000", "Card on file, myPOS MYPOS-0002")
    assert (order["id_address_delivery"], order["id_carrier"]) == (ps.order(first)["id_address_delivery"], "1")
    payments = [p for p in ps.rows("order_payments") if p["order_reference"] == order["reference"]]
    assert [(p["amount"], p["transaction_id"]) for p in payments] == [("12.300000", "MYPOS-0002")]
    assert ps.order_messages(int(created.order_id)) == []  # nothing the customer sees
    notes = ps.order_messages(int(created.order_id), include_private=True)
    assert len(notes) == 1 and "MYPOS-0002" in notes[0] and "cycle 2" in notes[0]
    assert ps.rows("specific_prices") == []  # validateOrder took the cart's pinned price away
    assert [m.template for m in ps.mails if m.order_id == int(created.order_id)] == ["order_conf", "payment"]

    assert shop.find_renewal_order(renewal) == created
    assert shop.find_renewal_order(renewal_of(first, product, "MYPOS-0003", cycle=3)) is None


def test_a_renewal_whose_charge_differs_from_the_cart_leaves_no_order_and_no_pinned_price(ps, ivan, now_clock):
    customer, product = ivan
    first = ps.place_order(customer, [(product, 1)], carrier_id=1)
    shop = adapter(ps, now_clock)
    with pytest.raises(ShopError) as raised:
        shop.create_renewal_order(renewal_of(first, product, "MYPOS-0002", charged="12.00"))
    assert "12.30 EUR" in raised.value.detail and "12.00 EUR" in raised.value.detail
    assert [o["id"] for o in ps.rows("orders")] == [first]
    assert ps.rows("specific_prices") == []


def test_the_adapter_marks_a_first_order_paid_and_writes_to_the_customer(ps, ivan, now_clock):
    customer, product = ivan
    first = ps.place_order(customer, [(product, 1)], carrier_id=1)  # bank wire: awaiting payment
    shop = adapter(ps, now_clock)
    shop.mark_paid(str(first), "MYPOS-0001")
    assert ps.order(first)["current_state"] == "2"
    reference = ps.order(first)["reference"]
    assert [p["transaction_id"] for p in ps.rows("order_payments") if p["order_reference"] == reference] == \
        ["MYPOS-0001"]
    assert [(m.template, m.to) for m in ps.mails if m.order_id == first][-1] == ("payment", "ivan.petrov@example.com")

    second = ps.place_order(customer, [(product, 1)], carrier_id=1)
    ps.fail_mails(True)
    shop.mark_paid(str(second), "MYPOS-0009")  # the shop's 500 is read back: the state was saved
    assert ps.order(second)["current_state"] == "2"
    ps.fail_mails(False)

    shop.add_customer_note(str(first), "Your subscription is active: https://abonne.example/pay/abc")
    assert ps.order_messages(first) == ["Your subscription is active: https://abonne.example/pay/abc"]
    assert (ps.mails[-1].template, ps.mails[-1].to, ps.mails[-1].order_id) == \
        ("reply_msg", "ivan.petrov@example.com", first)


def test_the_adapter_reads_orders_back_as_shop_orders(ps, ivan, now_clock):
    customer, product = ivan
    first = ps.place_order(customer, [(product, 1)], carrier_id=1)
    shop = adapter(ps, now_clock)
    now_clock.advance(timedelta(minutes=5))
    shop.mark_paid(str(first), "MYPOS-0001")
    renewal = shop.create_renewal_order(renewal_of(first, product, "MYPOS-0002"))

    order = shop.get_order(str(first))
    assert (order.order_id, order.paid, order.state, order.total, order.own_renewal) == \
        (str(first), True, OrderState.OPEN, Money.parse(BG_PRICE, "EUR"), False)
    assert (order.billing.country, order.billing.city, order.billing.email) == ("BG", "Sofia",
                                                                                "ivan.petrov@example.com")
    assert [(line.product_id, line.quantity, line.total) for line in order.lines] == \
        [(str(product), 1, Money.parse("10.00", "EUR"))]
    assert order.modified_at == now_clock.now()

    changed = shop.orders_modified_since(now_clock.now() - timedelta(minutes=1))
    assert [(o.order_id, o.own_renewal) for o in changed] == [(str(first), False), (renewal.order_id, True)]
    assert shop.orders_modified_since(now_clock.now() + timedelta(minutes=1)) == []


def test_the_adapters_connection_test_names_what_the_key_lacks(ps, now_clock):
    assert adapter(ps, now_clock).test_connection().ok
    limited = "LIMITED0KEY0ORDERS0ONLY012345678"
    ps.add_key(limited, {"orders": {"GET", "POST"}, "specific_prices": {"POST"}})
    report = adapter(ps, now_clock, limited).test_connection()
    assert not report.ok
    assert "specific_prices (DELETE)" in report.detail and "countries (GET)" in report.detail
    assert "orders (" not in report.detail
    ps.set_webservice_enabled(False)
    report = adapter(ps, now_clock).test_connection()
    assert not report.ok and "disabled" in report.detail


# ---------------------------------------------------------------------------------------------- adapter: fixed bugs

def test_an_order_whose_net_unit_price_has_six_decimals_can_be_read(ps, now_clock):
    customer = ps.add_customer("bridget.tester@example.com", "Bridget", "Tester")
    ps.add_address(customer, "1 Grafton Street", "Dublin", "D02 XY45")
    order_id = ps.place_order(customer, [(ps.add_product("Coffee Club Monthly", "19.90"), 1)])
    assert adapter(ps, now_clock).get_order(str(order_id)).total == Money.parse("28.51", "EUR")


def test_an_order_changed_in_the_very_second_asked_for_is_returned(ps, ivan, now_clock):
    customer, product = ivan
    order_id = ps.place_order(customer, [(product, 1)], carrier_id=1)
    changed = adapter(ps, now_clock).orders_modified_since(now_clock.now())
    assert [o.order_id for o in changed] == [str(order_id)]


def test_a_renewal_is_recorded_when_abonne_and_the_shop_share_a_moved_clock(standin, clock):
    standin.connect_module("http://127.0.0.1:9", 1, SECRET)
    customer = standin.add_customer("ivan.petrov@example.com", "Ivan", "Petrov")
    standin.add_address(customer, "1 Vitosha Blvd", "Sofia", "1000", country="BG")
    product = standin.add_product("Coffee Club Monthly", BG_PRICE)
    first = standin.place_order(customer, [(product, 1)], carrier_id=1)
    created = adapter(standin, clock).create_renewal_order(renewal_of(first, product, "MYPOS-0002"))
    assert created.total == Money.parse(BG_PRICE, "EUR")


def test_listing_many_orders_reads_each_customer_and_address_once(ps, ivan, now_clock):
    """A real shop with 850 orders of a day took abonne's starting poll 6 minutes: six reads per order."""
    customer, product = ivan
    placed = [ps.place_order(customer, [(product, 1)], carrier_id=1) for _ in range(12)]
    shop = adapter(ps, now_clock)
    reads: list[str] = []
    shop._ws._session.hooks["response"].append(lambda response, **_: reads.append(response.request.path_url))
    changed = shop.orders_modified_since(now_clock.now() - timedelta(minutes=1))
    assert [o.order_id for o in changed] == [str(order_id) for order_id in placed]
    lookups = [path for path in reads if path.split("?")[0].rsplit("/", 2)[-2] in
               ("customers", "addresses", "countries", "currencies")]
    assert len(lookups) == len(set(lookups)) <= 4, lookups  # one customer, one address, its country, the currency
