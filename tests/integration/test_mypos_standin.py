"""The myPOS gateway against the myPOS stand-in, over real HTTP: hosted payments with their callbacks, stored-card
charges, status queries and the faults the exactly-once logic has to survive."""
from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, request

from adapters.mypos import messages
from adapters.mypos.gateway import MyPosGateway
from adapters.mypos.signing import load_private_key, parse_json, parse_xml, sign_fields
from adapters.mypos.standin import (
    MyPosStandin, customer_cancels, customer_pays, submit_auto_form,
)
from bridge.domain.money import Money
from bridge.ports import (
    CallbackKind, CallbackRejected, CartItem, ChargeOutcome, ChargeRequest, Customer, DeclineKind,
    GatewayCallback, GatewayConfigError, GatewayUnavailable, HostedMode, HostedPaymentRequest,
)
from bridge.serving import serve_in_thread
from tests.waiting import wait_for

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mypos"
MERCHANT_KEY = (FIXTURES / "test-merchant-private-key.pem").read_text()
VECTOR_3 = json.loads((FIXTURES / "signature-vectors.json").read_text())["vectors"][2]
GOOD_CARD, GOOD_EXP = "4006090000000007", "12/30"
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)

_order_numbers = itertools.count(1)


def new_order_id() -> str:
    return f"T-{time.time_ns()}-{next(_order_numbers)}"




@dataclass
class Receiver:
    """The shop side of the callbacks: verifies each with the gateway and answers as told."""

    gateway: MyPosGateway
    notify_answer: str = "OK"
    callbacks: list[GatewayCallback] = field(default_factory=list)
    url: str = ""

    def app(self) -> Flask:
        app = Flask("receiver")

        def receive() -> tuple[str, int] | str:
            try:
                callback = self.gateway.verify_callback(
                    parse_qsl(request.get_data(as_text=True), keep_blank_values=True))
            except CallbackRejected as rejected:
                return rejected.code, 400
            self.callbacks.append(callback)
            return self.notify_answer if request.path == "/notify" else "back at the shop"

        for path in ("/notify", "/ok", "/cancel"):
            app.add_url_rule(path, path, receive, methods=["POST"])
        return app

    def of(self, order_id: str, kind: CallbackKind) -> list[GatewayCallback]:
        return [c for c in self.callbacks if c.gateway_order_id == order_id and c.kind is kind]


@pytest.fixture(scope="module")
def standin():
    running = MyPosStandin.start(clock=lambda: NOW, notify_timeout=3.0, hang_seconds=5.0)
    yield running
    running.stop()


def make_gateway(standin: MyPosStandin, private_key_pem: str = MERCHANT_KEY, timeout: float = 2.0) -> MyPosGateway:
    return MyPosGateway(sid="000000000000010", wallet_number="61938166610", key_index="1",
                        private_key_pem=private_key_pem, certificate_pem=standin.certificate_pem,
                        endpoint=standin.endpoint, timeout=timeout, source="abonne-test")


@pytest.fixture(scope="module")
def gateway(standin):
    return make_gateway(standin, timeout=0.5)


@pytest.fixture(scope="module")
def shop_server(gateway):
    shop = Receiver(gateway)
    server = serve_in_thread(shop.app())
    shop.url = server.url
    yield shop
    server.stop()


@pytest.fixture
def receiver(shop_server):
    shop_server.notify_answer = "OK"
    return shop_server


def hosted(receiver: Receiver, mode: HostedMode = HostedMode.PAY_AND_STORE, order_id: str = "") -> HostedPaymentRequest:
    pays = mode is HostedMode.PAY_AND_STORE
    items = (CartItem("Coffee subscription", 1, Money.parse("19.90", "EUR")),) if pays else ()
    return HostedPaymentRequest(
        gateway_order_id=order_id or new_order_id(), mode=mode, currency="EUR", items=items,
        customer=Customer(email="ana@example.com", first_name="Ana", last_name="Ivanova", country="BG"),
        url_ok=f"{receiver.url}/ok", url_cancel=f"{receiver.url}/cancel", url_notify=f"{receiver.url}/notify",
    )


def charge(gateway: MyPosGateway, token: str, amount: str = "19.90", order_id: str = "") -> tuple[str, object]:
    order_id = order_id or new_order_id()
    money = Money.parse(amount, "EUR")
    return order_id, gateway.charge_stored_card(
        ChargeRequest(gateway_order_id=order_id, card_token=token, amount=money,
                      items=(CartItem("Coffee subscription", 1, money),)))


def ledger_of(standin: MyPosStandin, order_id: str):
    return [row for row in standin.ledger if row.order_id == order_id]


# --------------------------------------------------------------------------------------------- hosted page

def test_a_paying_customer_stores_a_card_and_the_shop_gets_a_verified_notify(standin, gateway, receiver):
    request_ = hosted(receiver)
    page = customer_pays(gateway.hosted_payment_form(request_), GOOD_CARD, GOOD_EXP, "123")

    paid = wait_for(lambda: receiver.of(request_.gateway_order_id, CallbackKind.PAID))[0]
    assert paid.amount == Money.parse("19.90", "EUR")
    assert paid.card.last4 == "0007" and paid.card.exp_yymm == "3012" and paid.card.card_type == "VISA"
    assert len(paid.card.token) == 40
    [row] = ledger_of(standin, request_.gateway_order_id)
    assert (row.status, row.amount, row.trnref, row.token) == ("paid", "19.90", paid.transaction_ref, paid.card.token)

    back = submit_auto_form(page)
    assert back.status_code == 200
    returned = receiver.of(request_.gateway_order_id, CallbackKind.RETURNED)
    assert returned and returned[0].transaction_ref == paid.transaction_ref

    status = gateway.transaction_status(request_.gateway_order_id)
    assert status.known and status.paid and status.transaction_ref == paid.transaction_ref


def test_a_stored_only_card_comes_without_amount_and_can_be_charged(standin, gateway, receiver):
    request_ = hosted(receiver, HostedMode.STORE_ONLY)
    customer_pays(gateway.hosted_payment_form(request_), "5326100000000004", "01/28")

    stored = wait_for(lambda: receiver.of(request_.gateway_order_id, CallbackKind.PAID))[0]
    assert stored.amount is None
    assert stored.card.last4 == "0004" and stored.card.exp_yymm == "2801" and stored.card.card_type == "MasterCard"
    assert ledger_of(standin, request_.gateway_order_id)[0].status == "stored"

    _, result = charge(gateway, stored.card.token)
    assert result.outcome is ChargeOutcome.SUCCEEDED


def test_a_notify_answered_with_ok_and_a_space_is_rolled_back(standin, gateway, receiver):
    receiver.notify_answer = "OK "
    request_ = hosted(receiver)
    page = customer_pays(gateway.hosted_payment_form(request_), GOOD_CARD, GOOD_EXP)

    rolled_back = wait_for(lambda: receiver.of(request_.gateway_order_id, CallbackKind.ROLLED_BACK))[0]
    assert rolled_back.amount == Money.parse("19.90", "EUR")
    assert "reversed" in page.text
    [row] = ledger_of(standin, request_.gateway_order_id)
    assert row.status == "reversed"
    status = gateway.transaction_status(request_.gateway_order_id)
    assert status.known and not status.paid

    token = receiver.of(request_.gateway_order_id, CallbackKind.PAID)[0].card.token
    _, result = charge(gateway, token)
    assert result.outcome is ChargeOutcome.DECLINED and result.status_code == "14"


def test_an_unreachable_notify_url_reverses_the_payment(standin, gateway, receiver):
    request_ = hosted(receiver)
    unreachable = replace(request_, url_notify="http://127.0.0.1:9/notify")
    customer_pays(gateway.hosted_payment_form(unreachable), GOOD_CARD, GOOD_EXP)
    assert wait_for(lambda: ledger_of(standin, request_.gateway_order_id))[0].status == "reversed"
    assert [d.method for d in standin.deliveries if d.url == "http://127.0.0.1:9/notify"][-2:] == [
        "IPCPurchaseNotify", "IPCPurchaseRollback"]


def test_a_customer_who_cancels_is_sent_back_with_a_signed_cancel(standin, gateway, receiver):
    request_ = hosted(receiver)
    page = customer_cancels(gateway.hosted_payment_form(request_))
    submit_auto_form(page)

    cancelled = wait_for(lambda: receiver.of(request_.gateway_order_id, CallbackKind.CANCELLED))[0]
    assert cancelled.amount == Money.parse("19.90", "EUR")
    assert not receiver.of(request_.gateway_order_id, CallbackKind.PAID)
    assert not ledger_of(standin, request_.gateway_order_id)
    status = gateway.transaction_status(request_.gateway_order_id)
    assert status.known and not status.paid


@pytest.mark.parametrize("card", ["67032000000000001", "4877000000000002"])
def test_a_declined_card_on_the_page_sends_no_notify(standin, gateway, receiver, card):
    request_ = hosted(receiver)
    page = customer_pays(gateway.hosted_payment_form(request_), card, GOOD_EXP)
    assert "declined" in page.text
    assert [row.status for row in ledger_of(standin, request_.gateway_order_id)] == ["declined"]
    assert not [c for c in receiver.callbacks if c.gateway_order_id == request_.gateway_order_id]


def test_an_expired_card_is_refused_on_the_page(standin, gateway, receiver):
    request_ = hosted(receiver)
    page = customer_pays(gateway.hosted_payment_form(request_), GOOD_CARD, "10/26")
    assert "expired" in page.text
    assert not ledger_of(standin, request_.gateway_order_id)


def test_a_form_signed_with_another_key_gets_the_cart_error_page(standin, receiver):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    form = make_gateway(standin, other_key).hosted_payment_form(hosted(receiver))
    page = requests.post(form.action, data=list(form.fields), timeout=5)
    assert "shopping cart with errors" in page.text and 'id="status">2<' in page.text


# --------------------------------------------------------------------------------------------- stored-card charges

@pytest.fixture
def token(standin):
    return standin.register_card(GOOD_CARD, "3012")


def test_a_stored_card_is_charged_once(standin, gateway, token):
    order_id, result = charge(gateway, token)
    assert result.outcome is ChargeOutcome.SUCCEEDED
    [row] = ledger_of(standin, order_id)
    assert (row.method, row.amount, row.status) == ("IPCIAPurchase", "19.90", "paid")
    assert row.trnref == result.transaction_ref
    status = gateway.transaction_status(order_id)
    assert status.paid and status.transaction_ref == result.transaction_ref
    assert status.amount == Money.parse("19.90", "EUR")


@pytest.mark.parametrize("amount, code, kind", [
    ("10.13", "13", DeclineKind.SOFT),
    ("10.15", "15", DeclineKind.SOFT),
    ("10.19", "19", DeclineKind.SOFT),
    ("10.21", "21", DeclineKind.HARD),
])
def test_amount_triggers_decline_with_the_right_kind(standin, gateway, token, amount, code, kind):
    order_id, result = charge(gateway, token, amount)
    assert (result.outcome, result.status_code, result.decline) == (ChargeOutcome.DECLINED, code, kind)
    status = gateway.transaction_status(order_id)
    assert status.known and not status.paid


def test_an_unknown_token_is_a_hard_decline(gateway):
    _, result = charge(gateway, "0" * 40)
    assert (result.outcome, result.status_code, result.decline) == (ChargeOutcome.DECLINED, "14", DeclineKind.HARD)


def test_an_expired_stored_card_is_a_hard_decline(standin, gateway):
    expired = standin.register_card(GOOD_CARD, "2609")
    _, result = charge(gateway, expired)
    assert (result.outcome, result.status_code, result.decline) == (ChargeOutcome.DECLINED, "22", DeclineKind.HARD)


def test_a_second_charge_with_the_same_order_id_is_unknown_and_charges_nothing(standin, gateway, token):
    order_id, first = charge(gateway, token)
    _, second = charge(gateway, token, order_id=order_id)
    assert first.outcome is ChargeOutcome.SUCCEEDED
    assert (second.outcome, second.status_code) == (ChargeOutcome.UNKNOWN, "20")
    assert [row.status for row in ledger_of(standin, order_id)] == ["paid"]


@pytest.mark.parametrize("fault, charged", [
    ("timeout_after_charge", True),
    ("timeout_before_charge", False),
    ("http_500", False),
    ("http_500_after_charge", True),
    ("garbled", True),
    ("unsigned", True),
    ("bad_signature", True),
])
def test_an_unreadable_answer_is_unknown_and_the_status_query_settles_it(standin, gateway, token, fault, charged):
    standin.inject(fault)
    order_id, result = charge(gateway, token)
    assert result.outcome is ChargeOutcome.UNKNOWN
    status = gateway.transaction_status(order_id)
    assert status.paid is charged and status.known is charged
    assert len([row for row in ledger_of(standin, order_id) if row.status == "paid"]) == int(charged)


@pytest.mark.parametrize("fault", ["timeout_before_charge", "http_500", "garbled", "unsigned", "bad_signature"])
def test_an_unreadable_status_answer_is_unavailable(standin, gateway, token, fault):
    order_id, _ = charge(gateway, token)
    standin.inject(fault, method="IPCGetTxnStatus")
    with pytest.raises(GatewayUnavailable):
        gateway.transaction_status(order_id)
    assert gateway.transaction_status(order_id).paid


def test_an_order_id_the_stand_in_never_saw_is_unknown(gateway):
    status = gateway.transaction_status(new_order_id())
    assert not status.known and not status.paid


def test_a_refused_signature_is_a_configuration_error_and_charges_nothing(standin, token):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    order_id = new_order_id()
    with pytest.raises(GatewayConfigError, match="status 2"):
        charge(make_gateway(standin, other_key), token, order_id=order_id)
    assert not ledger_of(standin, order_id)
    with pytest.raises(GatewayConfigError, match="status 2"):
        make_gateway(standin, other_key).transaction_status(order_id)


def test_an_unreachable_gateway_is_unknown_not_declined(standin, token):
    offline = MyPosGateway(sid="000000000000010", wallet_number="61938166610", key_index="1",
                           private_key_pem=MERCHANT_KEY, certificate_pem=standin.certificate_pem,
                           endpoint="http://127.0.0.1:9/vmp/checkout-test", timeout=0.5)
    _, result = charge(offline, token)
    assert result.outcome is ChargeOutcome.UNKNOWN


# --------------------------------------------------------------------------------------------- wire shape

def raw_call(standin: MyPosStandin, fields: list[tuple[str, str]]) -> requests.Response:
    signed = sign_fields(fields, load_private_key(MERCHANT_KEY))
    return requests.post(standin.endpoint, data=list(signed), timeout=5, headers={"User-Agent": "test"})


STORE = messages.Store(sid="000000000000010", wallet_number="61938166610", key_index="1")


def keys(document) -> list:
    return [(name, keys(value)) if isinstance(value, tuple) else name for name, value in document]


def test_the_status_answer_has_the_layout_of_the_real_capture(standin, gateway, receiver):
    receiver.notify_answer = "not ok"
    request_ = hosted(receiver)
    customer_pays(gateway.hosted_payment_form(request_), GOOD_CARD, GOOD_EXP)
    wait_for(lambda: receiver.of(request_.gateway_order_id, CallbackKind.ROLLED_BACK))

    answer = raw_call(standin, messages.txn_status(STORE, request_.gateway_order_id))
    assert answer.headers["Content-Type"].startswith("application/json")
    assert keys(parse_json(answer.text)) == keys(parse_json(VECTOR_3["json"]))
    raw = json.loads(answer.text)
    assert raw["Status"] == 0 and isinstance(raw["OrderStatus"]["Amount"], str)


def test_the_charge_answer_in_xml_has_the_layout_of_the_specification(standin, token):
    money = Money.parse("19.90", "EUR")
    fields = messages.ia_purchase(STORE, ChargeRequest(new_order_id(), token, money, ()), output_format="xml")
    answer = raw_call(standin, fields)
    assert "<IPC_response>" in answer.text
    assert keys(parse_xml(answer.text)) == ["IPCmethod", "IPC_Trnref", "Amount", "Currency", "Status", "StatusMsg",
                                            "Signature"]


@pytest.mark.parametrize("change, status", [
    (lambda f: [(n, "IPCNoSuchCall" if n == "IPCmethod" else v) for n, v in f], 10),
    (lambda f: [(n, v) for n, v in f if n != "OrderID"], 1),
    (lambda f: [(n, "000000000000099" if n == "SID" else v) for n, v in f], 4),
    (lambda f: [(n, "7" if n == "KeyIndex" else v) for n, v in f], 3),
    (lambda f: [(n, "61938166611" if n == "WalletNumber" else v) for n, v in f], 4),
])
def test_the_stand_in_validates_in_the_documented_order(standin, change, status):
    answer = raw_call(standin, change(messages.txn_status(STORE, "X-1")))
    assert json.loads(answer.text)["Status"] == status


def test_a_lower_case_request_is_understood(standin, token):
    money = Money.parse("19.90", "EUR")
    fields = messages.ia_purchase(STORE, ChargeRequest(new_order_id(), token, money, ()))
    answer = raw_call(standin, [(name.lower(), value) for name, value in fields])
    assert json.loads(answer.text)["Status"] == 0
