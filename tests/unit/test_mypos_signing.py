"""myPOS signatures, hosted form and callbacks, checked against what myPOS itself signed."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from adapters.mypos import messages
from adapters.mypos.gateway import PRODUCTION_ENDPOINT, TEST_ENDPOINT, MyPosGateway
from adapters.mypos.signing import (
    certificate_public_key, document_values, load_certificate, load_private_key, load_public_key, parse_json,
    parse_xml, sign, sign_fields, verify, verify_document, verify_form,
)
from bridge.domain.money import Money
from bridge.ports import (
    CallbackKind, CallbackRejected, CartItem, Customer, GatewayConfigError, HostedMode, HostedPaymentRequest,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mypos"
VECTORS = json.loads((FIXTURES / "signature-vectors.json").read_text())["vectors"]
CERT_2018 = (FIXTURES / "mypos-test-certificate-2018.pem").read_text()
CERT_2013 = (FIXTURES / "mypos-test-certificate-2013-unparseable.pem").read_text()
MERCHANT_KEY = (FIXTURES / "test-merchant-private-key.pem").read_text()
MERCHANT_PUBLIC = (FIXTURES / "test-merchant-public-key.pem").read_text()


@pytest.fixture(scope="module")
def mypos_key():
    return certificate_public_key(load_certificate(CERT_2018))


@pytest.fixture(scope="module")
def fake_mypos():
    """A key pair and certificate playing myPOS, to sign callbacks the real one never sent."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "test myPOS")])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    return key, certificate.public_bytes(serialization.Encoding.PEM).decode()


def gateway(certificate_pem: str = CERT_2018) -> MyPosGateway:
    return MyPosGateway(sid="000000000000010", wallet_number="61938166610", key_index="1",
                        private_key_pem=MERCHANT_KEY, certificate_pem=certificate_pem, endpoint=TEST_ENDPOINT,
                        source="abonne-test")


# --------------------------------------------------------------------------------------------- vectors

@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_every_mypos_signed_vector_verifies_with_the_2018_certificate(index, mypos_key):
    vector = VECTORS[index]
    assert verify(vector["values"], vector["signature"], mypos_key)


def test_the_xml_answer_of_vector_2_is_read_in_document_order_and_verifies(mypos_key):
    document = parse_xml(VECTORS[1]["xml"])
    assert document_values(document) == VECTORS[1]["values"]
    assert verify_document(document, mypos_key)


def test_the_real_get_txn_status_answer_verifies_with_the_nested_signature_included(mypos_key):
    document = parse_json(VECTORS[2]["json"])
    assert document_values(document) == VECTORS[2]["values"]
    assert verify_document(document, mypos_key)
    inner = dict(document)["OrderStatus"]
    assert verify_document(inner, mypos_key)
    assert document_values(inner) == VECTORS[3]["values"]


def test_the_outer_signature_fails_without_the_inner_signature(mypos_key):
    values = [value for value in VECTORS[2]["values"] if value != VECTORS[3]["signature"]]
    assert len(values) == len(VECTORS[2]["values"]) - 1
    assert not verify(values, VECTORS[2]["signature"], mypos_key)


def test_json_numbers_keep_their_literal_text():
    document = parse_json('{"Amount":164.50,"Status":0,"Flag":true,"Empty":null,"Signature":"x"}')
    assert document_values(document) == ["164.50", "0", "1", ""]


def test_the_request_of_vector_5_signs_byte_identically_with_the_test_merchant_key():
    key = load_private_key(MERCHANT_KEY)
    assert sign(VECTORS[4]["values"], key) == VECTORS[4]["signature"]
    assert verify(VECTORS[4]["values"], VECTORS[4]["signature"], load_public_key(MERCHANT_PUBLIC))


def test_the_status_request_the_gateway_builds_is_vector_5():
    store = messages.Store(sid="000000000000010", wallet_number="61938166610", key_index="1", source="x")
    fields = sign_fields(messages.txn_status(store, "TEST-ORDER-0001"), load_private_key(MERCHANT_KEY))
    assert [value for _, value in fields[:-1]] == VECTORS[4]["values"]
    assert fields[-1] == ("Signature", VECTORS[4]["signature"])


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_a_tampered_value_fails(index, mypos_key):
    values = list(VECTORS[index]["values"])
    values[-1] += "1"
    assert not verify(values, VECTORS[index]["signature"], mypos_key)


def test_garbage_signatures_are_false_not_errors(mypos_key):
    assert not verify(VECTORS[0]["values"], "not base64!", mypos_key)
    assert not verify(VECTORS[0]["values"], "", mypos_key)


# --------------------------------------------------------------------------------------------- key material

def test_the_2013_certificate_gives_a_clear_configuration_error():
    with pytest.raises(GatewayConfigError) as error:
        load_certificate(CERT_2013)
    message = str(error.value)
    assert "cannot be parsed" in message and "2018" in message


def test_check_configuration_names_the_unparseable_certificate():
    with pytest.raises(GatewayConfigError, match="certificate cannot be parsed"):
        gateway(CERT_2013).check_configuration()


def test_check_configuration_summarises_good_settings():
    summary = gateway().check_configuration()
    assert "000000000000010" in summary and "key index 1" in summary
    assert "O=myPOS,C=BG" in summary and "2028-10-09" in summary
    assert "PRIVATE KEY" not in summary


@pytest.mark.parametrize("pem, problem", [
    ("", "empty"),
    ("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "cannot be read"),
])
def test_a_broken_private_key_is_a_configuration_error(pem, problem):
    broken = MyPosGateway(sid="000000000000010", wallet_number="61938166610", key_index="1", private_key_pem=pem,
                          certificate_pem=CERT_2018)
    with pytest.raises(GatewayConfigError, match=problem):
        broken.check_configuration()


def test_a_certificate_instead_of_a_private_key_is_refused():
    broken = MyPosGateway(sid="000000000000010", wallet_number="61938166610", key_index="1",
                          private_key_pem=CERT_2018, certificate_pem=CERT_2018)
    with pytest.raises(GatewayConfigError, match="private key"):
        broken.check_configuration()


def test_the_settings_offer_both_endpoints_and_keep_the_key_secret():
    fields = {f.name: f for f in MyPosGateway.settings_fields}
    assert set(fields) == {"sid", "wallet_number", "key_index", "private_key_pem", "certificate_pem", "endpoint"}
    assert fields["private_key_pem"].secret
    assert fields["endpoint"].url and fields["endpoint"].suggestions == (TEST_ENDPOINT, PRODUCTION_ENDPOINT)


# --------------------------------------------------------------------------------------------- hosted form

def hosted_request(mode: HostedMode, customer: Customer | None = None) -> HostedPaymentRequest:
    items = (CartItem("Coffee box", 2, Money.parse("9.95", "EUR")), CartItem("Shipping", 1, Money.parse("4.50", "EUR")))
    return HostedPaymentRequest(
        gateway_order_id="A-1001-1", mode=mode, currency="EUR",
        items=items if mode is HostedMode.PAY_AND_STORE else (),
        customer=customer or Customer(email="ana@example.com", first_name="Ana", last_name="Ivanova",
                                      country="BG", city="Sofia", postcode="1000", address="1 Vitosha"),
        url_ok="https://shop.example/ok", url_cancel="https://shop.example/cancel",
        url_notify="https://bridge.example/mypos/notify", note="subscription 7",
    )


def test_a_pay_and_store_form_has_the_sdk_order_and_the_cart():
    form = gateway().hosted_payment_form(hosted_request(HostedMode.PAY_AND_STORE))
    assert form.action == TEST_ENDPOINT
    names = [name for name, _ in form.fields]
    assert names == [
        "IPCmethod", "IPCVersion", "IPCLanguage", "SID", "WalletNumber", "KeyIndex", "Source", "Currency", "Amount",
        "OrderID", "URL_OK", "URL_Cancel", "URL_Notify", "Note", "CustomerEmail", "CustomerPhone",
        "CustomerFirstNames", "CustomerFamilyName", "CustomerCountry", "CustomerCity", "CustomerZIPCode",
        "CustomerAddress", "CartItems",
        "Article_1", "Quantity_1", "Price_1", "Amount_1", "Currency_1",
        "Article_2", "Quantity_2", "Price_2", "Amount_2", "Currency_2",
        "CardTokenRequest", "PaymentParametersRequired", "PaymentMethod", "Signature",
    ]
    fields = dict(form.fields)
    assert fields["IPCmethod"] == "IPCPurchase" and fields["IPCVersion"] == "1.4"
    assert fields["Amount"] == "24.40" and fields["CartItems"] == "2"
    assert (fields["Price_1"], fields["Amount_1"], fields["Quantity_1"]) == ("9.95", "19.90", "2")
    assert fields["CardTokenRequest"] == "2" and fields["PaymentParametersRequired"] == "1"
    assert fields["CustomerCountry"] == "BGR"
    assert verify_form(form.fields, load_public_key(MERCHANT_PUBLIC))


def test_a_store_only_form_sends_no_amount_and_no_cart():
    form = gateway().hosted_payment_form(hosted_request(HostedMode.STORE_ONLY))
    names = [name for name, _ in form.fields]
    assert "Amount" not in names and "CartItems" not in names and not any(n.startswith("Article") for n in names)
    assert dict(form.fields)["CardTokenRequest"] == "1"
    assert names[-1] == "Signature"
    assert verify_form(form.fields, load_public_key(MERCHANT_PUBLIC))


def test_without_the_customer_names_the_page_asks_for_them():
    form = gateway().hosted_payment_form(hosted_request(HostedMode.STORE_ONLY, Customer(email="a@example.com")))
    fields = dict(form.fields)
    assert fields["PaymentParametersRequired"] == "2"
    assert fields["CustomerCountry"] == ""


def test_amounts_use_the_currencys_decimals():
    assert messages.format_amount(Money.parse("19.9", "EUR")) == "19.90"
    assert messages.format_amount(Money.parse("1990", "JPY")) == "1990"


# --------------------------------------------------------------------------------------------- callbacks

VECTOR_1_FORM = list(zip(
    ["IPCmethod", "SID", "Amount", "Currency", "OrderID", "IPC_Trnref", "RequestSTAN", "RequestDateTime"],
    VECTORS[0]["values"])) + [("Signature", VECTORS[0]["signature"])]


def test_the_notify_from_the_specification_is_a_payment():
    callback = gateway().verify_callback(VECTOR_1_FORM)
    assert callback.kind is CallbackKind.PAID
    assert callback.gateway_order_id == "1440146333"
    assert callback.amount == Money.parse("50", "EUR")
    assert callback.transaction_ref == "813705"
    assert callback.card is None


def test_callback_field_names_are_case_insensitive():
    lowered = [(name.lower(), value) for name, value in VECTOR_1_FORM]
    assert gateway().verify_callback(lowered).gateway_order_id == "1440146333"


def signed(fake_mypos, fields):
    key, _ = fake_mypos
    return list(sign_fields(fields, key))


def test_a_notify_with_a_token_carries_the_card(fake_mypos):
    form = signed(fake_mypos, [
        ("IPCmethod", "IPCPurchaseNotify"), ("SID", "000000000000010"), ("Amount", "24.40"), ("Currency", "EUR"),
        ("OrderID", "A-1001-1"), ("IPC_Trnref", "1000001"), ("RequestSTAN", "000001"),
        ("RequestDateTime", "2026-11-20 10:00:00"), ("CardToken", "70B2214C43814A99F66266C1F1F1E5EC4A8E2A01"),
        ("PAN", "0007"), ("ExpDate", "3012"), ("CardType", "3"), ("CustomerEmail", "ana@example.com"),
    ])
    callback = gateway(fake_mypos[1]).verify_callback(form)
    assert callback.kind is CallbackKind.PAID
    assert callback.amount == Money(2440, "EUR")
    assert (callback.card.token, callback.card.last4, callback.card.exp_yymm, callback.card.card_type) == (
        "70B2214C43814A99F66266C1F1F1E5EC4A8E2A01", "0007", "3012", "VISA")  # CardType 3, named


def test_a_store_only_notify_has_no_amount(fake_mypos):
    form = signed(fake_mypos, [
        ("IPCmethod", "IPCPurchaseNotify"), ("SID", "000000000000010"), ("Currency", "EUR"), ("OrderID", "S-1"),
        ("IPC_Trnref", "1000002"), ("RequestSTAN", "000002"), ("RequestDateTime", "2026-11-20 10:00:00"),
        ("CardToken", "AB" * 20), ("PAN", "4242"), ("ExpDate", "2801"), ("CardType", "3"),
    ])
    callback = gateway(fake_mypos[1]).verify_callback(form)
    assert callback.amount is None and callback.card.last4 == "4242"


@pytest.mark.parametrize("method, kind", [
    ("IPCPurchaseRollback", CallbackKind.ROLLED_BACK),
    ("IPCPurchaseCancel", CallbackKind.CANCELLED),
    ("IPCPurchaseOK", CallbackKind.RETURNED),
])
def test_the_other_callbacks_are_classified(fake_mypos, method, kind):
    form = signed(fake_mypos, [("IPCmethod", method), ("SID", "000000000000010"), ("Amount", "24.40"),
                               ("Currency", "EUR"), ("OrderID", "A-1001-1")])
    callback = gateway(fake_mypos[1]).verify_callback(form)
    assert callback.kind is kind and callback.gateway_order_id == "A-1001-1"


def test_a_callback_without_signature_is_rejected():
    with pytest.raises(CallbackRejected) as error:
        gateway().verify_callback(VECTOR_1_FORM[:-1])
    assert error.value.code == "missing_signature"


def test_a_callback_with_a_changed_amount_is_rejected():
    tampered = [(name, "5000" if name == "Amount" else value) for name, value in VECTOR_1_FORM]
    with pytest.raises(CallbackRejected) as error:
        gateway().verify_callback(tampered)
    assert error.value.code == "signature_mismatch"


def test_a_callback_signed_by_someone_else_is_rejected(fake_mypos):
    with pytest.raises(CallbackRejected) as error:
        gateway(fake_mypos[1]).verify_callback(VECTOR_1_FORM)
    assert error.value.code == "signature_mismatch"


def test_an_unknown_method_is_rejected(fake_mypos):
    form = signed(fake_mypos, [("IPCmethod", "IPCSignatureVerify"), ("OrderID", "A-1")])
    with pytest.raises(CallbackRejected) as error:
        gateway(fake_mypos[1]).verify_callback(form)
    assert error.value.code == "unknown_method"


def test_a_callback_without_order_id_is_rejected(fake_mypos):
    form = signed(fake_mypos, [("IPCmethod", "IPCPurchaseNotify"), ("SID", "000000000000010"), ("Amount", "1"),
                               ("Currency", "EUR")])
    with pytest.raises(CallbackRejected) as error:
        gateway(fake_mypos[1]).verify_callback(form)
    assert error.value.code == "missing_order_id"
