"""The PrestaShop module in adapters/prestashop/module/abonne: its files follow PrestaShop's conventions, it builds
into the zip a shop owner uploads, and the events its own PHP code signs and builds are ones abonne's side of the
contract (adapters.module_events) verifies and reads. The PHP runs for real under the php CLI, without a PrestaShop.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
import zipfile
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.module_events import parse_event_order, sign_event, verify_event
from adapters.prestashop.module.build import build, module_files
from bridge.ports import OrderState, WebhookKind, WebhookRejected
from tests.modules.abonne_listener import Listener, listening

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "adapters" / "prestashop" / "module" / "abonne"
HARNESS = Path(__file__).with_name("prestashop_harness.php")
FIXTURES = ROOT / "tests" / "fixtures" / "prestashop-module"
PHP = shutil.which("php")
needs_php = pytest.mark.skipif(PHP is None, reason="the php CLI is not installed (apt-get install php-cli php-curl)")

# Address 7 of the captured shop (PRESTASHOP.md: customer 3, Dublin), as PrestaShop's Address object holds it.
DUBLIN = {"id": 7, "firstname": "Bridget", "lastname": "Tester", "company": "", "address1": "1 Main St",
          "address2": "", "city": "Dublin", "postcode": "D02", "phone": "", "phone_mobile": "+353 1 555 0100",
          "country_iso": "IE", "state_name": ""}


def php(request: dict) -> dict:
    done = subprocess.run([PHP, str(HARNESS), str(MODULE / "classes")], input=json.dumps(request),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def snapshot_from_hook_dump(name: str = "hook_dump_order_8_actionValidateOrderAfter.json") -> dict:
    """What AbonneOrderReader collects, taken from a real order as a module saw it at actionValidateOrderAfter."""
    dump = json.loads((FIXTURES / name).read_text())
    status = dump["orderStatus"]
    return {
        "order": dump["order"], "products": list(dump["order_products"].values()), "payments": dump["order_payments"],
        "status": {"id": status["id"], "name": status["name"]["1"], "paid": status["paid"]}, "old_status": None,
        "refund_state_id": 7, "cancel_state_id": 6, "customer": dump["customer"],
        "invoice_address": DUBLIN, "delivery_address": DUBLIN,
        "currency": {"iso_code": dump["currency"]["iso_code"], "precision": 2}, "timezone": "Europe/Dublin",
    }


def module_body(event: str, snapshot: dict | None) -> bytes:
    request = {"op": "body", "event": event, "module_version": "1.0.0"}
    if snapshot is not None:
        request["snapshot"] = snapshot
    return php(request)["body"].encode()


def signed(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    signature = php({"op": "sign", "secret": secret, "timestamp": timestamp, "body": body.decode()})["signature"]
    return {"Content-Type": "application/json", "X-Abonne-Timestamp": str(timestamp),
            "X-Abonne-Event-Id": "test", "X-Abonne-Signature": signature}


# --- conventions and packaging ---------------------------------------------------------------------------------

def php_files() -> list[Path]:
    return sorted([*MODULE.rglob("*.php"), HARNESS])


@needs_php
@pytest.mark.parametrize("path", php_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_php_file_passes_php_lint(path):
    done = subprocess.run([PHP, "-l", str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_folder_has_an_index_php_guard():
    folders = [MODULE, *(path for path in MODULE.rglob("*") if path.is_dir())]
    assert [str(f.relative_to(MODULE)) for f in folders if not (f / "index.php").is_file()] == []


def test_every_php_file_but_the_folder_guards_exits_outside_prestashop():
    for path in MODULE.rglob("*.php"):
        if path.name != "index.php":
            assert "if (!defined('_PS_VERSION_')) {\n    exit;\n}" in path.read_text(), path


def test_config_xml_names_the_module_and_version_the_php_class_declares():
    config = ElementTree.parse(MODULE / "config.xml").getroot()
    source = (MODULE / "abonne.php").read_text()
    declared = dict(re.findall(r"\$this->(name|version|tab|author) = '([^']*)';", source))
    assert config.findtext("name") == declared["name"] == "abonne"
    assert config.findtext("version") == declared["version"] == "1.0.0"
    assert config.findtext("tab") == declared["tab"] == "payments_gateways"
    assert config.findtext("author") == declared["author"]
    assert config.findtext("displayName") == "Card on file, myPOS (abonne)"
    assert "$this->trans('Card on file, myPOS (abonne)'" in source
    assert re.search(r"class Abonne extends PaymentModule\b", source)


def test_the_zip_has_abonne_at_the_top_and_is_the_same_bytes_every_build(tmp_path):
    first, second = build(tmp_path / "one.zip"), build(tmp_path / "two.zip")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        assert {name.split("/")[0] for name in names} == {"abonne"}
        for required in ("abonne/abonne.php", "abonne/config.xml", "abonne/logo.png", "abonne/index.php",
                         "abonne/controllers/front/cron.php", "abonne/config/services.yml",
                         "abonne/vendor/autoload.php", "abonne/src/Command/ResendEventsCommand.php"):
            assert required in names
        assert len([n for n in names if not n.endswith("/")]) == len(module_files())
        assert archive.read("abonne/logo.png")[:8] == b"\x89PNG\r\n\x1a\n"


# --- the module's own PHP, run for real --------------------------------------------------------------------------

@needs_php
def test_a_signature_made_by_the_module_verifies_with_abonnes_verifier():
    body = module_body("ping", None)
    now = datetime.now(timezone.utc)
    headers = signed("s3cret-ü", body, int(now.timestamp()))
    assert headers["X-Abonne-Signature"] == sign_event("s3cret-ü", int(now.timestamp()), body)
    assert verify_event("s3cret-ü", headers, body, now).kind is WebhookKind.PING
    with pytest.raises(WebhookRejected) as rejected:
        verify_event("another secret", headers, body, now)
    assert rejected.value.code == "signature_mismatch"


@needs_php
def test_the_order_created_body_built_from_a_real_hook_dump_parses_as_the_order():
    body = module_body("order.created", snapshot_from_hook_dump())
    now = datetime.now(timezone.utc)
    hook = verify_event("k", signed("k", body, int(now.timestamp())), body, now)
    assert (hook.kind, hook.topic, hook.order_id) == (WebhookKind.ORDER, "order.created", "8")

    order = parse_event_order(body)
    assert (order.order_id, order.number, order.currency, str(order.total.amount)) == ("8", "LDWBOROAL", "EUR", "28.51")
    assert (order.state, order.paid, order.own_renewal, order.created_via) == (OrderState.OPEN, True, False, "ps_wirepayment")
    assert order.status == "Remote payment accepted"
    assert (order.billing.country, order.billing.city, order.billing.phone) == ("IE", "Dublin", "+353 1 555 0100")
    assert order.billing.email == "bridget.tester@example.com"
    [line] = order.lines
    assert (line.line_id, line.product_id, line.variation_id, line.sku, line.quantity) == ("10", "20", None, "COFFEE-CLUB-M", 1)
    assert (str(line.total.amount), str(line.total_tax.amount)) == ("16.18", "3.72")
    assert order.modified_at == datetime(2026, 11, 24, 19, 2, 42, tzinfo=timezone.utc)

    raw = json.loads(body)
    assert raw["platform"] == "prestashop" and raw["platform_version"] == "8.2.0" and raw["module_version"] == "1.0.0"
    assert raw["order"]["old_status"] is None
    assert raw["order"]["status"] == {"id": "11", "name": "Remote payment accepted", "paid": True, "refunded": False,
                                      "cancelled": False}
    assert raw["order"]["totals"] == {"products": "19.90", "shipping": "8.61", "discounts": "0.00", "total": "28.51",
                                      "total_net": "23.18", "refunded": "0.00"}
    assert raw["order"]["lines"][0] | {"name": None} == {
        "id": "10", "product_id": "20", "variant_id": "0", "reference": "COFFEE-CLUB-M", "name": None, "quantity": 1,
        "unit_price": "19.90", "unit_price_net": "16.18", "total": "19.90", "total_net": "16.18", "tax_rate": "23.000"}
    assert raw["order"]["created_at"] == "2026-11-24T19:02:42+00:00"


@needs_php
def test_a_renewal_created_by_abonne_is_marked_and_carries_its_transaction_id():
    snapshot = snapshot_from_hook_dump()
    snapshot["order"] |= {"module": "abonne", "payment": "Card on file, myPOS"}
    snapshot["payments"] = [{"transaction_id": ""}, {"transaction_id": "MYPOS-TXN-42"}]
    order = parse_event_order(module_body("order.created", snapshot))
    assert (order.own_renewal, order.transaction_id, order.created_via) == (True, "MYPOS-TXN-42", "abonne")


@needs_php
def test_a_status_change_to_refunded_or_cancelled_says_so():
    for state, name, expected in ((7, "Refunded", OrderState.REFUNDED), (6, "Canceled", OrderState.CANCELLED)):
        snapshot = snapshot_from_hook_dump()
        snapshot["status"] = {"id": state, "name": name, "paid": "0"}
        snapshot["old_status"] = {"id": 2, "name": "Payment accepted", "paid": "1"}
        body = module_body("order.status_changed", snapshot)
        raw = json.loads(body)["order"]
        assert raw["old_status"] == {"id": "2", "name": "Payment accepted", "paid": True, "refunded": False, "cancelled": False}
        assert parse_event_order(body).state is expected


@needs_php
def test_credit_slips_that_refund_everything_make_the_order_refunded():
    partial, full = snapshot_from_hook_dump(), snapshot_from_hook_dump()
    partial["refund"] = {"id": 3, "amount": 19.9, "shipping": 0, "total_refunded": 19.9}
    full["refund"] = {"id": 4, "amount": 8.61, "shipping": 8.61, "total_refunded": 28.51}
    partial_body = module_body("order.refunded", partial)
    assert json.loads(partial_body)["order"]["refund"] == {"id": "3", "amount": "19.90", "shipping": "0.00",
                                                           "total_refunded": "19.90"}
    assert parse_event_order(partial_body).state is OrderState.OPEN
    assert parse_event_order(module_body("order.refunded", full)).state is OrderState.REFUNDED


@needs_php
def test_money_is_rounded_half_up_to_the_currency_precision():
    values = [["16.178862", 2], ["0.005", 2], ["28.514999", 2], ["1234.5", 0], [None, 2], ["2.5", 3]]
    assert php({"op": "money", "values": values})["values"] == ["16.18", "0.01", "28.51", "1235", "0.00", "2.500"]


@needs_php
def test_the_backoff_is_1_5_30_minutes_2_hours_then_6_hours_for_3_days():
    created = 1_800_000_000
    attempts = [{"failed": n, "now": created} for n in (1, 2, 3, 4, 5, 9)]
    attempts.append({"failed": 15, "now": created + 3 * 86400 - 3600})  # the next try would be after the 3 days
    attempts.append({"failed": 14, "now": created + 3 * 86400 - 6 * 3600})  # exactly at the end: still tried
    next_at = php({"op": "backoff", "created_at": created, "attempts": attempts})["next"]
    assert [n - created if n else None for n in next_at] == [60, 300, 1800, 7200, 21600, 21600, None, 3 * 86400]


@pytest.fixture
def abonne_listener():
    with listening("prestashop") as url:
        yield url


@needs_php
def test_the_module_delivers_over_http_and_reports_abonnes_answer_in_plain_words(abonne_listener):
    body = module_body("order.created", snapshot_from_hook_dump()).decode()
    request = {"op": "deliver", "url": abonne_listener, "body": body, "event_id": "evt-1",
               "connect_timeout": 2, "timeout": 3}
    assert php(request | {"secret": "listener-secret"}) == {
        "delivered": True, "status": 200, "message": "the connection to abonne works"}
    [(headers, raw)] = Listener.received
    assert raw == body.encode() and headers["X-Abonne-Event-Id"] == "evt-1"
    assert parse_event_order(raw).order_id == "8"

    refused = php(request | {"secret": "wrong"})
    assert refused["delivered"] is False and refused["status"] == 401
    assert refused["message"].startswith("abonne answered HTTP 401: signature_mismatch: X-Abonne-Signature does not match")
    assert "wrong" not in refused["message"]


@needs_php
def test_no_answer_is_a_failed_delivery_naming_the_address_without_credentials():
    result = php({"op": "deliver", "url": "http://user:pw@127.0.0.1:1/webhooks/prestashop/1", "secret": "s",
                  "body": "{}", "event_id": "e", "connect_timeout": 1, "timeout": 1})
    assert result["delivered"] is False and result["status"] == 0
    assert result["message"].startswith("no answer from abonne at http://127.0.0.1:1/webhooks/prestashop/1: ")
    assert "pw" not in result["message"]


@needs_php
def test_an_answer_without_json_is_quoted_briefly():
    result = php({"op": "describe", "status": 502, "answer": "<html><body>Bad gateway</body></html>"})
    assert result == {"delivered": False, "status": 502, "message": "abonne answered HTTP 502: Bad gateway"}


# --- events captured from a real PrestaShop 8.2.0 with this module installed ----------------------------------

def captured_events() -> list[Path]:
    return sorted(FIXTURES.glob("real_*.json"))


@pytest.mark.parametrize("path", captured_events(), ids=lambda path: path.stem)
def test_events_captured_from_a_real_shop_verify_and_parse(path):
    capture = json.loads(path.read_text())
    raw = capture["body"].encode()
    signed_at = datetime.fromtimestamp(int(capture["headers"]["X-Abonne-Timestamp"]), timezone.utc)
    hook = verify_event(capture["secret"], capture["headers"], raw, signed_at)
    body = json.loads(raw)
    assert hook.topic == body["event"] and body["platform"] == "prestashop"
    if body["event"] in ("order.created", "order.status_changed", "order.refunded"):
        order = parse_event_order(raw)
        assert order.order_id == body["order"]["id"]
        assert order.total.amount == Decimal(body["order"]["totals"]["total"])
        assert hashlib.sha256(raw).hexdigest() in hook.business_key
