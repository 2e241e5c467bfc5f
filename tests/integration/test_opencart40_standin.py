"""The stand-in OpenCart 4.0 against real 4.0.2.3 API traffic (tests/fixtures/opencart-4.0.2.3, its README): each
captured request replayed in order gets the captured status and body, and abonne's adapter makes renewal orders,
notes and the paid status through it."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from adapters.opencart import OpenCartShop
from adapters.opencart.standin import OpenCartStandin
from bridge.clock import SettableClock
from bridge.domain.money import Money
from bridge.ports import RenewalLine, RenewalOrder, ShopError

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "opencart-4.0.2.3"
SECRET = "extension-signing-secret"
VOLATILE = {"api_token", "order_id"}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def captured_key() -> str:
    return dict(load(CAPTURES / "flow" / "01_login.json")["request"]["form"])["key"]


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(datetime(2026, 11, 25, 18, 45, tzinfo=timezone.utc))


@pytest.fixture
def oc40(clock):
    """The captured shop: Jane (customer 1, New York), product 100 at 19.90 without tax, Free Shipping enabled."""
    standin = OpenCartStandin(event_timeout_s=1.0)
    standin.start(version="4.0", api_key=captured_key(), clock=clock)
    jane = standin.add_customer("jane@example.com", "Jane", "Roaster", customer_id=1)
    standin.add_address(jane, "1 Bean Street", "New York", "10001")
    standin.add_product("Coffee Club Monthly", "19.90", "COFFEE-M", product_id=100)
    standin.enable_free_shipping()
    standin.connect_extension("http://127.0.0.1:9", 1, SECRET)  # nothing listens: events wait in the queue
    yield standin
    standin.stop()


def replay(standin: OpenCartStandin, clock: SettableClock, capture: dict, tokens: dict[str, str]) -> requests.Response:
    request = capture["request"]
    query = [(k, tokens.get(v, v) if k == "api_token" else v) for k, v in parse_qsl(urlsplit(request["url"]).query)]
    clock.set(parsedate_to_datetime(dict(capture["response"]["headers"])["Date"]))
    response = requests.request(request["method"], standin.url + "index.php", params=query,
                                data=[tuple(pair) for pair in request["form"]] or None, timeout=10)
    expected = capture["response"]["json"]
    if isinstance(expected, dict) and "api_token" in expected:
        tokens[expected["api_token"]] = response.json()["api_token"]
    return response


def without_volatile(value):
    if isinstance(value, dict):
        return {k: f"<{type(v).__name__}>" if k in VOLATILE else without_volatile(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("folder", ["flow", "payment"])
def test_40_captures_replay_with_the_captured_status_and_bodies(oc40, clock, folder):
    """The captured shop had no abonne extension: its payment method is not offered there."""
    oc40.set_extension_installed(False)
    tokens: dict[str, str] = {}
    for path in sorted((CAPTURES / folder).glob("[0-9]*.json")):
        capture = load(path)
        response = replay(oc40, clock, capture, tokens)
        expected = capture["response"]
        assert response.status_code == expected["status"], path.name
        assert response.headers["Content-Type"] == dict(expected["headers"])["Content-Type"], path.name
        assert without_volatile(response.json()) == without_volatile(expected["json"]), path.name
        if not VOLATILE & set(expected["json"]):
            assert response.text == expected["body"], path.name  # byte for byte


@pytest.mark.parametrize("name", ["01_login_wrong_key", "03_login_missing_key", "04_login_only_key",
                                  "14_call_without_api_token", "15_call_with_unknown_api_token",
                                  "16_call_with_malformed_api_token", "19_unknown_route", "21_confirm_on_empty_session",
                                  "22_customer_unknown_id", "24_cart_add_unknown_product"])
def test_40_error_answers_are_the_captured_ones(oc40, clock, name):
    tokens: dict[str, str] = {}
    logins = sorted(path for path in (CAPTURES / "errors").glob("*_login_ok*.json") if path.stem < name)
    replay(oc40, clock, load(logins[-1] if logins else CAPTURES / "errors" / "06_login_ok.json"), tokens)
    capture = load(CAPTURES / "errors" / f"{name}.json")
    response = replay(oc40, clock, capture, tokens)
    expected = capture["response"]
    assert response.status_code == expected["status"]
    if expected["json"] is None:
        assert "json" not in response.headers["Content-Type"]
        assert ("Typed property" in response.text) == ("Typed property" in expected["body"])
    else:
        assert response.json() == expected["json"]


def test_a_second_confirm_in_one_session_edits_the_order_and_two_sessions_make_two(oc40, clock):
    base = oc40.url + "index.php"

    def session() -> str:
        return requests.post(base, params={"route": "api/account/login"},
                             data={"username": "Default", "key": captured_key()}, timeout=10).json()["api_token"]

    def call(token: str, route: str, **form: str) -> dict:
        return requests.post(base, params={"route": route, "api_token": token}, data=form, timeout=10).json()

    def order(token: str) -> int:
        call(token, "api/sale/customer", customer_id="1", firstname="Jane", lastname="Roaster",
             email="jane@example.com", telephone="5551234567")
        call(token, "api/sale/cart.add", product_id="100", quantity="1")
        call(token, "api/sale/shipping_address", shipping_address_id="0", firstname="Jane", lastname="Roaster",
             address_1="1 Bean Street", city="New York", postcode="10001", country_id="223", zone_id="3655")
        call(token, "api/sale/shipping_method")
        call(token, "api/sale/shipping_method.save", shipping_method="free.free")
        call(token, "api/sale/payment_method")
        call(token, "api/sale/payment_method.save", payment_method="cod.cod")
        return call(token, "api/sale/order.confirm", order_status_id="1")["order_id"]

    first = session()
    order_id = order(first)
    again = call(first, "api/sale/order.confirm", order_status_id="1")["order_id"]
    assert again == order_id
    assert [row["order_status_id"] for row in oc40.order_history(order_id)] == [1, 0, 1]
    assert order(session()) != order_id  # nothing is idempotent across sessions


def renewal(order_id: int, transaction: str) -> RenewalOrder:
    return RenewalOrder(key="7:2", parent_order_id=str(order_id), customer_id="1", billing=None, shipping=None,
                        lines=(RenewalLine("100", None, "Coffee Club Monthly", 1, Money.parse("19.90", "USD")),),
                        charged=Money.parse("19.90", "USD"), transaction_id=transaction, agreement_id=7, cycle=2)


def test_abonne_renews_notes_and_marks_paid_through_40s_session_api(oc40, clock):
    first = oc40.place_order(1, [(100, 1)], payment_code="cod", status_id=1)
    shop = OpenCartShop({"url": oc40.url, "api_username": "Default"},
                        {"api_key": captured_key(), "webhook_secret": SECRET}, clock=clock.now)
    assert shop.version() == "4.0" and shop.test_connection().ok
    paid = renewal(first, "MYPOS-4242")
    assert shop.find_renewal_order(paid) is None
    created = shop.create_renewal_order(paid)
    assert shop.find_renewal_order(paid) == created and created.total == Money.parse("19.90", "USD")
    stored = oc40.order(int(created.order_id))
    assert stored["payment_method"] == {"name": "Card on file, myPOS", "code": "abonne.card"}
    assert int(stored["order_status_id"]) == 2 and "abonne:MYPOS-4242" in stored["comment"]
    assert shop.get_order(created.order_id).own_renewal

    shop.add_customer_note(str(first), "Pay here: https://shop.example/pay/a.b?c=1&d=2")
    shop.mark_paid(str(first), "MYPOS-1")
    history = oc40.order_history(first)
    assert [(row["order_status_id"], row["notify"]) for row in history[-2:]] == [(1, 1), (2, 1)]
    assert history[-2]["comment"] == "Pay here: https://shop.example/pay/a.b?c=1&amp;d=2"  # stored escaped


def test_without_abonnes_payment_method_a_40_renewal_creates_nothing_and_names_the_fix(oc40, clock):
    first = oc40.place_order(1, [(100, 1)], payment_code="cod", status_id=1)
    oc40.set_payment_method_enabled(False)
    shop = OpenCartShop({"url": oc40.url, "api_username": "Default", "oc_version": "4.0"},
                        {"api_key": captured_key(), "webhook_secret": SECRET}, clock=clock.now)
    before = len(oc40.shop.orders)
    with pytest.raises(ShopError, match="Extensions > Payments"):
        shop.create_renewal_order(renewal(first, "MYPOS-7"))
    assert len(oc40.shop.orders) == before
