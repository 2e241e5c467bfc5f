"""The OpenCart extension in adapters/opencart/extension: its two trees build into the zips OpenCart 3.0 and 4.x
install, and the events and reads its own PHP code signs and builds are ones abonne's side of the contract
(adapters.module_events) verifies and reads. The PHP runs for real under the php CLI, without an OpenCart.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zipfile
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.module_events import parse_event_order, sign_event, sign_read, verify_event
from adapters.opencart.extension.build import ZIP_NAME, build, tree_files
from bridge.ports import OrderState, WebhookKind, WebhookRejected
from tests.modules.abonne_listener import Listener, listening

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "adapters" / "opencart" / "extension"
OC3 = EXTENSION / "opencart-3"
OC4 = EXTENSION / "opencart-4"
LIBRARY = EXTENSION / "library"
FIXTURES = ROOT / "tests" / "fixtures" / "opencart-extension"
PHP = shutil.which("php")
needs_php = pytest.mark.skipif(PHP is None, reason="the php CLI is not installed (apt-get install php-cli php-curl)")

# Runs the extension's pure classes under a bare php CLI: one JSON request on stdin, one JSON answer on stdout.
HARNESS = r"""<?php
define('VERSION', getenv('ABONNE_TEST_OC_VERSION') ?: '4.1.0.4');
foreach (['event_signer', 'backoff', 'event_body', 'delivery', 'read_signature'] as $file) {
    require_once $argv[1] . '/' . $file . '.php';
}
$request = json_decode(stream_get_contents(STDIN), true);
switch ($request['op']) {
    case 'sign':
        $answer = ['signature' => AbonneOcEventSigner::signature($request['secret'], $request['timestamp'], $request['body'])];
        break;
    case 'body':
        $order = isset($request['snapshot']) ? AbonneOcEventBody::order($request['snapshot']) : null;
        $answer = ['body' => AbonneOcEventSigner::encode(AbonneOcEventBody::envelope($request['event'], VERSION, '1.0.0', $order))];
        break;
    case 'backoff':
        $answer = ['next' => array_map(function ($attempt) use ($request) {
            return AbonneOcBackoff::nextAttemptAt($attempt['failed'], $request['created_at'], $attempt['now']);
        }, $request['attempts'])];
        break;
    case 'read_sign':
        $answer = ['signature' => AbonneOcReadSignature::signature($request['secret'], $request['timestamp'], $request['call'], $request['params'])];
        break;
    case 'read_verify':
        $answer = ['refused' => AbonneOcReadSignature::verify($request['secret'], $request['stamp'], $request['signature'],
            $request['call'], $request['params'], $request['now'])];
        break;
    case 'deliver':
        $delivery = new AbonneOcDelivery($request['url'], $request['secret'], $request['connect_timeout'], $request['timeout']);
        $answer = $delivery->send($request['body'], $request['event_id']);
        break;
    case 'describe':
        $answer = AbonneOcDelivery::describe($request['status'], $request['answer']);
        break;
    default:
        fwrite(STDERR, 'unknown op ' . $request['op'] . "\n");
        exit(2);
}
echo json_encode($answer, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
"""

STOCK_STATUSES = {"paid_status_ids": ["2", "3", "5", "15"], "refunded_status_ids": ["11"],
                  "cancelled_status_ids": ["7"]}


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("opencart-harness") / "harness.php"
    path.write_text(HARNESS)
    return path


@pytest.fixture
def php(harness):
    def run(request: dict, version: str = "4.1.0.4") -> dict:
        done = subprocess.run([PHP, str(harness), str(LIBRARY)], input=json.dumps(request), capture_output=True,
                              text=True, timeout=30, env={"ABONNE_TEST_OC_VERSION": version, "PATH": "/usr/bin:/bin"})
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)
    return run


def snapshot_41(**order_changes) -> dict:
    """What AbonneOcOrderReader collects, taken from the real 4.1.0.4 getOrder() dump of OPENCART.md (order 23)."""
    dump = json.loads((FIXTURES / "getOrder_dump_4.1.0.4.json").read_text())
    order = {k: v for k, v in dump["order"].items() if k not in ("products", "totals")} | order_changes
    return {"order": order, "status": {"id": order["order_status_id"], "name": order["order_status"]},
            "old_status": None, "products": [p | {"options": []} for p in dump["products"]], "totals": dump["totals"],
            "decimal_place": 2, "timezone": "UTC"} | STOCK_STATUSES


def snapshot_30(**order_changes) -> dict:
    """The same from the real 3.0.5.1 dump (order 7): payment_method is a title, payment_code the code."""
    dump = json.loads((FIXTURES / "getOrder_dump_3.0.5.1.json").read_text())
    order = dump["order"] | order_changes
    return {"order": order, "status": {"id": order["order_status_id"], "name": order["order_status"]},
            "old_status": None, "products": [p | {"options": []} for p in dump["products"]], "totals": dump["totals"],
            "decimal_place": 2, "timezone": "America/New_York"} | STOCK_STATUSES


def body(php, event: str, snapshot: dict | None, version: str = "4.1.0.4") -> bytes:
    request = {"op": "body", "event": event} | ({"snapshot": snapshot} if snapshot is not None else {})
    return php(request, version)["body"].encode()


def signed(php, secret: str, raw: bytes, timestamp: int) -> dict[str, str]:
    signature = php({"op": "sign", "secret": secret, "timestamp": timestamp, "body": raw.decode()})["signature"]
    return {"Content-Type": "application/json", "X-Abonne-Timestamp": str(timestamp), "X-Abonne-Event-Id": "test",
            "X-Abonne-Signature": signature}


# --- files and packaging ---------------------------------------------------------------------------------------

def php_files() -> list[Path]:
    return sorted(EXTENSION.rglob("*.php"))


@needs_php
@pytest.mark.parametrize("path", php_files(), ids=lambda path: str(path.relative_to(EXTENSION)))
def test_every_php_file_passes_php_lint(path):
    done = subprocess.run([PHP, "-l", str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def test_both_zips_carry_the_one_shared_library_where_their_autoloader_looks(tmp_path):
    built = build(tmp_path)
    for name, place in (("opencart-3", "upload/system/library/abonne"), ("opencart-4", "system/library/abonne")):
        with zipfile.ZipFile(built[name]) as archive:
            for path in LIBRARY.glob("*.php"):
                assert archive.read(f"{place}/{path.name}") == path.read_bytes(), (name, path.name)


def test_every_library_file_exits_outside_opencart():
    for path in LIBRARY.glob("*.php"):
        assert "if (!defined('VERSION')) {\n    exit;\n}" in path.read_text(), path


def test_the_opencart_4_zip_is_named_for_the_extension_code_with_install_json_at_the_top(tmp_path):
    first, second = build(tmp_path / "one"), build(tmp_path / "two")
    assert first["opencart-4"].name == first["opencart-3"].name == ZIP_NAME == "abonne.ocmod.zip"
    assert first["opencart-4"].parent.name == "opencart-4" and first["opencart-3"].parent.name == "opencart-3"
    for name in ("opencart-3", "opencart-4"):
        assert first[name].read_bytes() == second[name].read_bytes(), f"{name} is not built deterministically"
    with zipfile.ZipFile(first["opencart-4"]) as archive:
        names = archive.namelist()
        assert {name.split("/")[0] for name in names} == {"install.json", "admin", "catalog", "system"}
        install = json.loads(archive.read("install.json"))
        assert install["name"] == "abonne" and install["version"] == "1.0.0"
        # 4.0.2.3's installer refuses the upload unless name, version, author and link are 3 to 128 characters.
        assert all(3 <= len(install[field]) <= 128 for field in ("name", "version", "author", "link")), install
        for required in ("admin/controller/module/abonne.php", "admin/language/en-gb/module/abonne.php",
                         "admin/view/template/module/abonne.twig", "catalog/controller/module/abonne.php",
                         "system/library/abonne/bridge.php", "admin/controller/payment/abonne.php",
                         "catalog/model/payment/abonne.php", "catalog/language/en-gb/payment/abonne.php"):
            assert required in names
        assert len(names) == len(tree_files(OC4)) + len(tree_files(LIBRARY))
        # The 4.x installer extracts the zip root into extension/abonne/: the namespaces must match that folder.
        assert "namespace Opencart\\Admin\\Controller\\Extension\\Abonne\\Module;" in archive.read(
            "admin/controller/module/abonne.php").decode()
        assert "namespace Opencart\\Catalog\\Controller\\Extension\\Abonne\\Module;" in archive.read(
            "catalog/controller/module/abonne.php").decode()
        assert "namespace Opencart\\Catalog\\Model\\Extension\\Abonne\\Payment;" in archive.read(
            "catalog/model/payment/abonne.php").decode()


def test_the_opencart_3_zip_has_only_an_upload_folder_with_allowed_paths(tmp_path):
    # The 3.0 installer refuses the whole zip when one file is outside these (admin/controller/marketplace/install.php).
    allowed = ("admin/controller/extension/", "admin/language/", "admin/view/template/extension/",
               "catalog/controller/extension/", "catalog/language/", "catalog/model/extension/", "system/library/")
    with zipfile.ZipFile(build(tmp_path)["opencart-3"]) as archive:
        names = archive.namelist()
    assert names and all(name.startswith("upload/") for name in names)
    assert [name for name in names if not name.removeprefix("upload/").startswith(allowed)] == []
    assert "upload/catalog/controller/extension/module/abonne.php" in names
    assert "upload/admin/controller/extension/module/abonne.php" in names


def test_the_opencart_3_zip_carries_the_payment_method_renewal_orders_are_created_with(tmp_path):
    # 3.0's api/payment/method accepts only a method an enabled payment extension's getMethod() offers.
    with zipfile.ZipFile(build(tmp_path)["opencart-3"]) as archive:
        names = set(archive.namelist())
        module = archive.read("upload/admin/controller/extension/module/abonne.php").decode()
    assert {"upload/catalog/model/extension/payment/abonne.php",
            "upload/catalog/language/en-gb/extension/payment/abonne.php",
            "upload/admin/controller/extension/payment/abonne.php",
            "upload/admin/language/en-gb/extension/payment/abonne.php",
            "upload/admin/view/template/extension/payment/abonne.twig"} <= names
    # Installing the module installs and enables the payment extension; uninstalling it removes it.
    assert "ControllerExtensionPaymentAbonne::enable($this->registry);" in module
    assert "ControllerExtensionPaymentAbonne::remove($this->registry);" in module


# OpenCart 3.0's Model with only what the payment model uses: the session, the loader, the language and the config.
PAYMENT_MODEL_HARNESS = r"""<?php
define('VERSION', '3.0.5.1');
define('DIR_SYSTEM', $argv[1] . '/');
class Model
{
    public $session, $load, $language, $config;
}
require $argv[2];
$model = new ModelExtensionPaymentAbonne();
$model->session = (object) ['data' => json_decode($argv[3], true)];
$model->load = new class { public function language($route) { } };
$model->language = new class { public function get($key) { return $key === 'text_title' ? 'Card on file, myPOS' : $key; } };
$model->config = new class { public function get($key) { return $key === 'payment_abonne_sort_order' ? '0' : null; } };
echo json_encode($model->getMethod(['country_id' => '223', 'zone_id' => '3655'], 19.9));
"""


@needs_php
def test_the_30_payment_method_is_offered_to_api_sessions_only_with_the_renewal_code(tmp_path):
    system = tmp_path / "system"
    (system / "library").mkdir(parents=True)
    (system / "library" / "abonne").symlink_to(LIBRARY)
    harness = tmp_path / "payment_model.php"
    harness.write_text(PAYMENT_MODEL_HARNESS)
    model = OC3 / "upload" / "catalog" / "model" / "extension" / "payment" / "abonne.php"

    def offered(session: dict):
        done = subprocess.run([PHP, str(harness), str(system), str(model), json.dumps(session)],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    # api/payment/methods keys the list by the extension code (abonne sends payment_method=abonne); api/order/add
    # stores this 'code' as the order's payment_code, the one the events mark as a renewal.
    assert offered({"api_id": "1", "customer_id": "1"}) == {
        "code": "abonne.card", "title": "Card on file, myPOS", "terms": "", "sort_order": "0"}
    assert offered({"customer_id": "1", "payment_address": {"country_id": "223"}}) == []


def test_each_version_registers_its_own_history_trigger():
    oc3 = (OC3 / "upload" / "admin" / "controller" / "extension" / "module" / "abonne.php").read_text()
    assert "'catalog/model/checkout/order/addOrderHistory/before'" in oc3
    assert "'catalog/model/checkout/order/addOrderHistory/after'" in oc3
    oc4 = (OC4 / "admin" / "controller" / "module" / "abonne.php").read_text()
    assert "'catalog/model/checkout/order.addHistory' : 'catalog/model/checkout/order/addHistory'" in oc4
    assert "'catalog/controller/api/order/after'" in oc4


# --- the extension's own PHP, run for real ------------------------------------------------------------------------

@needs_php
def test_a_signature_made_by_the_extension_verifies_with_abonnes_verifier(php):
    raw = body(php, "ping", None)
    now = datetime.now(timezone.utc)
    headers = signed(php, "s3cret-ü", raw, int(now.timestamp()))
    assert headers["X-Abonne-Signature"] == sign_event("s3cret-ü", int(now.timestamp()), raw)
    assert verify_event("s3cret-ü", headers, raw, now).kind is WebhookKind.PING
    assert json.loads(raw) == {"event": "ping", "platform": "opencart", "platform_version": "4.1.0.4",
                               "module_version": "1.0.0"}
    with pytest.raises(WebhookRejected) as rejected:
        verify_event("another secret", headers, raw, now)
    assert rejected.value.code == "signature_mismatch"


@needs_php
def test_the_order_created_body_built_from_a_real_41_getorder_dump_parses_as_the_order(php):
    raw = body(php, "order.created", snapshot_41())
    now = datetime.now(timezone.utc)
    hook = verify_event("k", signed(php, "k", raw, int(now.timestamp())), raw, now)
    assert (hook.kind, hook.topic, hook.order_id) == (WebhookKind.ORDER, "order.created", "23")

    order = parse_event_order(raw)
    assert (order.order_id, order.number, order.currency, str(order.total.amount)) == ("23", "23", "USD", "27.90")
    assert (order.state, order.paid, order.own_renewal, order.created_via) == (OrderState.OPEN, True, False, "cod.cod")
    assert (order.billing.country, order.billing.city, order.billing.state) == ("US", "New York", "New York")
    assert (order.billing.email, order.billing.phone) == ("jane@example.com", "5551234567")
    [line] = order.lines
    assert (line.line_id, line.product_id, line.variation_id, line.sku, line.quantity) == ("25", "100", None, "COFFEE-M", 1)
    assert (str(line.total.amount), str(line.total_tax.amount)) == ("19.90", "0.00")
    assert order.modified_at == datetime(2026, 11, 24, 18, 56, 41, tzinfo=timezone.utc)

    raw_order = json.loads(raw)["order"]
    assert raw_order["status"] == {"id": "2", "name": "Processing", "paid": True, "refunded": False, "cancelled": False}
    assert raw_order["old_status"] is None and raw_order["renewal"] is False
    assert (raw_order["payment_module"], raw_order["payment"], raw_order["transaction_id"]) == ("cod.cod", "Cash On Delivery", "")
    # Sub-total 19.90 + flat shipping 5.00 + Eco Tax 2.00 + VAT 1.00 (OPENCART.md S1) = 27.90.
    assert raw_order["totals"] == {"products": "19.90", "shipping": "5.00", "discounts": "0.00", "total": "27.90",
                                   "total_net": "24.90", "refunded": "0.00"}
    assert raw_order["lines"] == [{
        "id": "25", "product_id": "100", "variant_id": "0", "reference": "COFFEE-M", "name": "Coffee Club Monthly",
        "quantity": 1, "unit_price": "19.90", "unit_price_net": "19.90", "total": "19.90", "total_net": "19.90",
        "tax_rate": "0.000", "options": [], "subscription": None}]
    assert raw_order["created_at"] == "2026-11-24T18:56:41+00:00"
    assert raw_order["shipping_address"]["id"] == "1" and raw_order["customer"]["id"] == "1"


@needs_php
def test_the_status_changed_body_built_from_a_real_30_getorder_dump_parses_as_the_order(php):
    snapshot = snapshot_30()
    snapshot["old_status"] = {"id": "1", "name": "Pending"}
    raw = body(php, "order.status_changed", snapshot, version="3.0.5.1")
    now = datetime.now(timezone.utc)
    assert verify_event("k", signed(php, "k", raw, int(now.timestamp())), raw, now).topic == "order.status_changed"
    order = parse_event_order(raw)
    assert (order.order_id, str(order.total.amount), order.created_via, order.paid) == ("7", "24.90", "cod", True)
    assert [(line.line_id, line.product_id, line.quantity) for line in order.lines] == [("8", "100", 1)]
    raw_body = json.loads(raw)
    assert raw_body["platform_version"] == "3.0.5.1"
    assert raw_body["order"]["old_status"] == {"id": "1", "name": "Pending", "paid": False, "refunded": False,
                                               "cancelled": False}
    assert raw_body["order"]["payment"] == "Cash On Delivery"
    assert raw_body["order"]["totals"] | {"refunded": None} == {
        "products": "19.90", "shipping": "5.00", "discounts": "0.00", "total": "24.90", "total_net": "24.90",
        "refunded": None}
    # 3.0 stores local time; the offset is the server's zone's on that day.
    assert raw_body["order"]["created_at"] == "2026-11-24T18:58:41-05:00"


@needs_php
def test_amounts_are_converted_to_the_orders_currency_and_rounded_to_its_decimals(php):
    snapshot = snapshot_41(currency_code="EUR", currency_value="0.78460002")
    raw_order = json.loads(body(php, "order.created", snapshot))["order"]
    assert raw_order["currency"] == "EUR"
    assert raw_order["totals"]["total"] == "21.89"  # 27.90 * 0.7846
    assert raw_order["lines"][0]["unit_price"] == "15.61"  # 19.90 * 0.7846
    snapshot["decimal_place"] = 0
    assert json.loads(body(php, "order.created", snapshot))["order"]["totals"]["total"] == "22"


@needs_php
def test_a_line_with_tax_and_an_option_names_its_variant_and_its_net_amounts(php):
    snapshot = snapshot_41()
    snapshot["products"][0] |= {"quantity": "2", "price": "10.0000", "tax": "2.0000", "total": "20.0000",
                                "name": "Coffee &amp; Cream",
                                "options": [{"product_option_id": "8", "product_option_value_id": "0", "name": "Note",
                                             "value": "a note", "type": "text"},
                                            {"product_option_id": "9", "product_option_value_id": "47", "name": "Size",
                                             "value": "Large", "type": "select"}]}
    raw = body(php, "order.created", snapshot)
    [line] = json.loads(raw)["order"]["lines"]
    assert line | {"id": None} == {"id": None, "product_id": "100", "variant_id": "47", "reference": "COFFEE-M",
                                   "name": "Coffee & Cream", "quantity": 2, "unit_price": "12.00",
                                   "unit_price_net": "10.00", "total": "24.00", "total_net": "20.00",
                                   "tax_rate": "20.000", "subscription": None,
                                   "options": [{"name": "Note", "value": "a note", "type": "text", "product_option_id": "8",
                                                "product_option_value_id": "0"},
                                               {"name": "Size", "value": "Large", "type": "select",
                                                "product_option_id": "9", "product_option_value_id": "47"}]}
    [parsed] = parse_event_order(raw).lines
    assert (parsed.variation_id, str(parsed.total.amount), str(parsed.total_tax.amount)) == ("100:47", "20.00", "4.00")
    assert (parsed.options, parsed.terms) == ((("Note", "a note"), ("Size", "Large")), None)


PLAN_ROW = {"subscription_plan_id": "3", "plan_name": "Monthly &amp; more", "frequency": "month", "cycle": "1",
            "duration": "12", "price": "19.9000", "tax": "0.0000", "trial_status": "0", "trial_frequency": "day",
            "trial_cycle": "1", "trial_duration": "0", "trial_price": "0.0000", "trial_tax": "0.0000"}


@needs_php
@pytest.mark.parametrize("changes, terms, unsupported", [
    ({}, ("month", 1, 12), ""),
    ({"frequency": "week", "cycle": "2", "duration": "0"}, ("week", 2, None), ""),
    ({"frequency": "semi_month"}, ("month", 1, 12), "bills every 1 semi_month"),
    ({"trial_status": "1", "trial_cycle": "7", "trial_duration": "1"}, ("month", 1, 12), "starts with a trial"),
    ({"cycle": "0"}, ("month", 1, 12), "which is no period"),  # the admin saves such a plan without a word
])
def test_opencart_4s_own_plan_on_a_line_becomes_its_terms_or_says_why_not(php, changes, terms, unsupported):
    """A 4.x order_subscription row (OpenCart's own subscription plan) rides on its line."""
    snapshot = snapshot_41()
    snapshot["products"][0]["subscription"] = PLAN_ROW | changes
    raw = body(php, "order.created", snapshot)
    plan = json.loads(raw)["order"]["lines"][0]["subscription"]
    assert (plan["name"], plan["price"]) == ("Monthly & more", "19.90")
    [line] = parse_event_order(raw).lines
    assert (line.terms.unit, line.terms.every, line.terms.cycles) == terms
    assert unsupported in line.terms.unsupported and bool(line.terms.unsupported) == bool(unsupported)


@needs_php
def test_a_renewal_abonne_created_is_marked_in_both_versions(php):
    renewal_41 = snapshot_41(payment_method={"name": "Card on file, myPOS", "code": "abonne.card"},
                             transaction_id="MYPOS-TXN-42")
    order = parse_event_order(body(php, "order.created", renewal_41))
    assert (order.own_renewal, order.transaction_id, order.created_via) == (True, "MYPOS-TXN-42", "abonne.card")
    renewal_30 = snapshot_30(payment_method="Card on file, myPOS", payment_code="abonne.card")
    assert parse_event_order(body(php, "order.created", renewal_30, version="3.0.5.1")).own_renewal is True


@needs_php
def test_the_statuses_the_owner_chose_as_refunded_or_cancelled_end_the_order(php):
    for status, name, expected in (("11", "Refunded", OrderState.REFUNDED), ("7", "Canceled", OrderState.CANCELLED),
                                   ("13", "Chargeback", OrderState.OPEN)):
        snapshot = snapshot_41(order_status_id=status, order_status=name)
        snapshot["old_status"] = {"id": "2", "name": "Processing"}
        raw = body(php, "order.status_changed", snapshot)
        assert json.loads(raw)["order"]["status"]["paid"] is False
        assert parse_event_order(raw).state is expected
    snapshot = snapshot_41(order_status_id="13", order_status="Chargeback")
    snapshot["refunded_status_ids"] = ["11", "13"]
    assert parse_event_order(body(php, "order.status_changed", snapshot)).state is OrderState.REFUNDED


@needs_php
def test_the_backoff_is_1_5_30_minutes_2_hours_then_6_hours_for_3_days(php):
    created = 1_800_000_000
    attempts = [{"failed": n, "now": created} for n in (1, 2, 3, 4, 5, 9)]
    attempts.append({"failed": 15, "now": created + 3 * 86400 - 3600})  # the next try would be after the 3 days
    attempts.append({"failed": 14, "now": created + 3 * 86400 - 6 * 3600})  # exactly at the end: still tried
    next_at = php({"op": "backoff", "created_at": created, "attempts": attempts})["next"]
    assert [n - created if n else None for n in next_at] == [60, 300, 1800, 7200, 21600, 21600, None, 3 * 86400]


# --- abonne's signed reads ------------------------------------------------------------------------------------------

READS = [
    ("order", {"order_id": "23"}),
    ("orders", {"modified_since": "2026-11-24T18:56:41+00:00", "after_id": "22", "limit": "100"}),
    ("find", {"marker": "abonne renewal #A-12 & co/ü"}),
    ("orders", {}),
]


@needs_php
@pytest.mark.parametrize("call,params", READS)
def test_the_read_signature_is_the_one_abonne_makes(php, call, params):
    ours = sign_read("read-secret", 1_800_000_000, call, params)
    # OpenCart's own routing parameter and the call are not signed.
    given = params | {"route": "extension/abonne/module/abonne.read", "call": call}
    assert php({"op": "read_sign", "secret": "read-secret", "timestamp": 1_800_000_000, "call": call,
                "params": given})["signature"] == ours
    assert php({"op": "read_verify", "secret": "read-secret", "stamp": "1800000000", "signature": ours, "call": call,
                "params": given, "now": 1_800_000_100})["refused"] is None


@needs_php
def test_a_tilde_signed_by_python_verifies_although_php_encodes_it(php):
    # urlencode leaves "~" as it is; http_build_query writes %7E. Both sides must still agree.
    params = {"marker": "renewal~7"}
    ours = sign_read("s", 1_800_000_000, "find", params)
    assert php({"op": "read_verify", "secret": "s", "stamp": "1800000000", "signature": ours, "call": "find",
                "params": params, "now": 1_800_000_000})["refused"] is None


@needs_php
def test_reads_that_are_not_signed_right_are_refused_with_401(php):
    params = {"order_id": "23"}
    good = sign_read("the-read-secret", 1_800_000_000, "order", params)
    cases = [
        ({"signature": good, "secret": "other-secret"}, "signature_mismatch"),
        ({"signature": good, "params": {"order_id": "24"}}, "signature_mismatch"),
        ({"signature": good, "call": "orders"}, "signature_mismatch"),
        ({"signature": good, "now": 1_800_000_000 + 301}, "timestamp_out_of_window"),
        ({"signature": "", "stamp": ""}, "signature_missing"),
        ({"signature": good, "stamp": "18e8"}, "timestamp_invalid"),
        ({"signature": good, "secret": ""}, "not_configured"),
    ]
    for changes, error in cases:
        request = {"op": "read_verify", "secret": "the-read-secret", "stamp": "1800000000", "call": "order",
                   "params": params, "now": 1_800_000_000} | changes
        status, code, detail = php(request)["refused"]
        assert (status, code) == (401, error)
        assert request["secret"] == "" or request["secret"] not in detail


# --- delivery over HTTP ---------------------------------------------------------------------------------------------

@pytest.fixture
def abonne_listener():
    with listening("opencart") as url:
        yield url


@needs_php
def test_the_extension_delivers_over_http_and_reports_abonnes_answer_in_plain_words(php, abonne_listener):
    raw = body(php, "order.created", snapshot_41()).decode()
    request = {"op": "deliver", "url": abonne_listener, "body": raw, "event_id": "evt-1", "connect_timeout": 2,
               "timeout": 3}
    assert php(request | {"secret": "listener-secret"}) == {
        "delivered": True, "status": 200, "message": "the connection to abonne works"}
    [(headers, received)] = Listener.received
    assert received == raw.encode() and headers["X-Abonne-Event-Id"] == "evt-1"
    assert headers["User-Agent"] == "abonne-opencart-extension"
    assert parse_event_order(received).order_id == "23"

    refused = php(request | {"secret": "wrong"})
    assert refused["delivered"] is False and refused["status"] == 401
    assert refused["message"].startswith("abonne answered HTTP 401: signature_mismatch: X-Abonne-Signature does not match")
    assert "wrong" not in refused["message"]


@needs_php
def test_no_answer_is_a_failed_delivery_naming_the_address_without_credentials(php):
    result = php({"op": "deliver", "url": "http://user:pw@127.0.0.1:1/webhooks/opencart/1", "secret": "s",
                  "body": "{}", "event_id": "e", "connect_timeout": 1, "timeout": 1})
    assert result["delivered"] is False and result["status"] == 0
    assert result["message"].startswith("no answer from abonne at http://127.0.0.1:1/webhooks/opencart/1: ")
    assert "pw" not in result["message"]


@needs_php
def test_an_answer_without_json_is_quoted_briefly(php):
    result = php({"op": "describe", "status": 502, "answer": "<html><body>Bad gateway</body></html>"})
    assert result == {"delivered": False, "status": 502, "message": "abonne answered HTTP 502: Bad gateway"}


# --- events captured from the real OpenCart 4.1.0.4 and 3.0.5.1 shops with this extension installed ------------------

def captured_events() -> list[Path]:
    return sorted(FIXTURES.glob("real_*.json"))


@pytest.mark.parametrize("path", captured_events(), ids=lambda path: path.stem)
def test_events_captured_from_a_real_shop_verify_and_parse(path):
    capture = json.loads(path.read_text())
    raw = capture["body"].encode()
    signed_at = datetime.fromtimestamp(int(capture["headers"]["X-Abonne-Timestamp"]), timezone.utc)
    hook = verify_event(capture["secret"], capture["headers"], raw, signed_at)
    sent = json.loads(raw)
    assert hook.topic == sent["event"] and sent["platform"] == "opencart"
    assert sent["platform_version"] == capture["platform_version"]
    if sent["event"] in ("order.created", "order.status_changed"):
        order = parse_event_order(raw)
        assert order.order_id == sent["order"]["id"]
        assert order.total.amount == Decimal(sent["order"]["totals"]["total"])
        assert order.lines and hashlib.sha256(raw).hexdigest() in hook.business_key
