"""myPOS's signed callbacks and answers under fuzzing: read_callback answers any form with a named
CallbackRejected or a callback; parse_json/parse_xml with MalformedResponse; an RSA signature holds for its exact
values in their order, and any one changed byte of a value or of the signature fails."""
from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from adapters.mypos.callbacks import read_callback
from adapters.mypos.signing import (MalformedResponse, load_private_key, load_public_key, parse_json, parse_xml,
                                    sign_fields, to_json, to_xml, verify_document)
from bridge.ports import CallbackRejected, GatewayCallback
from tests.fixture_files import MYPOS
from tests.fuzz.strategies import FUZZ, json_values, one_byte_changed

PRIVATE = load_private_key((MYPOS / "test-merchant-private-key.pem").read_bytes())
PUBLIC = load_public_key((MYPOS / "test-merchant-public-key.pem").read_bytes())
NOTIFY = (("IPCmethod", "IPCPurchaseNotify"), ("SID", "000000000000010"), ("Amount", "19.90"), ("Currency", "EUR"),
          ("OrderID", "abn-7f3a"), ("IPC_Trnref", "12873491"), ("RequestSTAN", "000123"),
          ("RequestDateTime", "2027-01-31 09:00:00"), ("CardToken", "A1B2C3D4E5F6"), ("PAN", "0007"),
          ("ExpDate", "3012"), ("CardType", "3"))
NAMES = [name for name, _ in NOTIFY] + ["Signature", "signature", "ipcmethod", "amount", "currency"]


def read(form) -> GatewayCallback | CallbackRejected:
    try:
        return read_callback(form, PUBLIC)
    except CallbackRejected as rejected:
        assert rejected.code and rejected.detail
        return rejected


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=12), st.text(max_size=60)), max_size=16))
def test_any_form_is_refused_by_name_unless_myPOS_signed_it(form):
    assert isinstance(read(form), CallbackRejected)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=12), st.text(max_size=60)), max_size=16))
def test_any_form_signed_with_the_key_is_read_or_refused_by_name(form):
    read(list(sign_fields(form, PRIVATE)))


@FUZZ
@given(st.data())
def test_a_signed_notify_verifies_and_any_one_byte_change_fails(data):
    signed = list(sign_fields(NOTIFY, PRIVATE))
    assert read(signed).gateway_order_id == "abn-7f3a"
    index = data.draw(st.integers(min_value=0, max_value=len(NOTIFY) - 1))
    name, value = signed[index]
    changed = data.draw(one_byte_changed(value.encode())).decode("latin-1")
    assert read(signed[:index] + [(name, changed)] + signed[index + 1:]).code == "signature_mismatch"
    raw = base64.b64decode(signed[-1][1])
    forged = base64.b64encode(data.draw(one_byte_changed(raw))).decode()
    assert read(signed[:-1] + [("Signature", forged)]).code == "signature_mismatch"
    assert read(signed[:-1] + [("Signature", data.draw(st.text(min_size=1, max_size=400)))]).code in (
        "signature_mismatch", "missing_signature")
    swapped = data.draw(st.permutations(signed[:-1]))
    if [value for _, value in swapped] != [value for _, value in signed[:-1]]:
        assert read(list(swapped) + [signed[-1]]).code == "signature_mismatch"  # order is part of what is signed


@FUZZ
@given(st.text(max_size=2000) | json_values.map(str) | st.sampled_from(["[" * 100_000, "{\"a\":" * 100_000]))
def test_answers_that_are_not_json_objects_are_malformed(text):
    try:
        document = parse_json(text)
    except MalformedResponse:
        return
    assert isinstance(document, tuple) and isinstance(verify_document(document, PUBLIC), bool)


@FUZZ
@given(st.text(max_size=2000) | st.sampled_from(["<a>" * 100_000, "<a>" * 50_000 + "</a>" * 50_000,
                                                   "<!DOCTYPE x [<!ENTITY e 'x'>]><a>&e;</a>",
                                                   "<IPC_response><Status>0</Status></IPC_response>"]))
def test_answers_that_are_not_xml_are_malformed(text):
    try:
        document = parse_xml(text)
    except MalformedResponse:
        return
    assert isinstance(verify_document(document, PUBLIC), bool)


def test_a_signed_answer_round_trips_through_json_and_xml():
    answer = sign_fields((("Status", "0"), ("StatusMsg", "Success"), ("OrderID", "abn-1")), PRIVATE)
    assert verify_document(parse_json(to_json(answer)), PUBLIC) and verify_document(parse_xml(to_xml(answer)), PUBLIC)
