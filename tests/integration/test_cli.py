"""The `abonne` commands: clear errors with a non-zero exit, nothing half-written, --json for scripts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from bridge.cli import main as cli_main
from bridge.serving import serve_in_thread
from tests.fixture_files import MYPOS
from tests.integration.conftest import CK, CS, BridgeUnderTest


def counts(abonne: BridgeUnderTest) -> list[int]:
    return [abonne.scalar(f"SELECT count(*) FROM {t}") for t in ("shops", "plans", "product_plans",
                                                                  "gateway_account")]


def add_woo(abonne: BridgeUnderTest, url: str, secret: str = CS, *extra: str):
    return abonne.cli("shop", "add", "--platform", "woocommerce", "--url", url, "--consumer-key", CK,
                      "--consumer-secret", secret, "--webhook-secret", "hook", *extra)


def test_shop_add_prints_the_id_and_the_webhook_url_and_keeps_secrets_encrypted(abonne, woo):
    result = add_woo(abonne, woo.url)
    assert result.exit_code == 0
    assert "shop 1 added" in result.output and f"{abonne.url}/webhooks/woocommerce/1" in result.output
    stored = abonne.rows("SELECT * FROM shops")[0]
    assert CS not in json.dumps(dict(stored), default=str) and "hook" not in str(stored["secrets_encrypted"])
    listed = json.loads(abonne.cli("shop", "list", "--json").output)
    assert listed == [{"id": 1, "platform": "woocommerce", "name": woo.url.rstrip("/"), "url": woo.url.rstrip("/"),
                       "webhook_url": f"{abonne.url}/webhooks/woocommerce/1",
                       "created_at": listed[0]["created_at"]}]
    assert CS not in abonne.cli("shop", "list").output


@pytest.mark.parametrize("args, message", [
    (["--platform", "woocommerce", "--url", "http://shop.test", "--consumer-key", CK, "--webhook-secret", "s"],
     "consumer-secret is required"),
    (["--platform", "woocommerce", "--url", "shop.test", "--consumer-key", CK, "--consumer-secret", CS,
      "--webhook-secret", "s"], "url must be an http:// or https:// URL"),
    (["--platform", "shopify", "--url", "http://shop.test"], "platform must be one of opencart, prestashop, woocommerce"),
])
def test_shop_add_refuses_bad_input_and_writes_nothing(abonne, args, message):
    result = abonne.cli("shop", "add", *args)
    assert result.exit_code == 1 and message in result.output
    assert counts(abonne) == [0, 0, 0, 0]


def test_a_shop_whose_keys_fail_is_not_saved_unless_asked(abonne, woo):
    refused = add_woo(abonne, woo.url, "cs_wrong")
    assert refused.exit_code == 1 and "not saved" in refused.output and "401" in refused.output
    assert "cs_wrong" not in refused.output
    assert counts(abonne) == [0, 0, 0, 0]
    assert add_woo(abonne, woo.url, "cs_wrong", "--skip-check").exit_code == 0
    assert counts(abonne) == [1, 0, 0, 0]


def test_registering_webhooks_says_when_the_shops_ping_never_arrived(abonne, woo):
    elsewhere = {**abonne.env, "ABONNE_PUBLIC_URL": "http://127.0.0.1:9"}  # nothing listens there
    result = CliRunner().invoke(cli_main, ["shop", "add", "--platform", "woocommerce", "--url", woo.url,
                                           "--consumer-key", CK, "--consumer-secret", CS, "--webhook-secret", "s",
                                           "--register-webhooks"], env=elsewhere)
    assert result.exit_code == 1 and "ping never reached abonne at http://127.0.0.1:9" in result.output
    registered = abonne.cli("shop", "register-webhooks", "1")  # at the real address: updated, pinged before
    assert registered.exit_code == 0, registered.output


def test_shop_test_says_plainly_what_is_wrong(abonne, woo):
    assert add_woo(abonne, woo.url).exit_code == 0
    ok = abonne.cli("shop", "test", "1")
    assert ok.exit_code == 0 and "connected to WooCommerce" in ok.output

    assert add_woo(abonne, woo.url, "cs_wrong", "--skip-check").exit_code == 0
    refused = abonne.cli("shop", "test", "2")
    assert refused.exit_code == 1 and "401" in refused.output and "consumer key or secret is wrong" in refused.output
    assert "cs_wrong" not in refused.output

    plain = Flask("not-a-shop")
    plain.get("/")(lambda: "<html>hello</html>")
    other = serve_in_thread(plain)
    try:
        assert add_woo(abonne, other.url, CS, "--skip-check").exit_code == 0
        not_woo = abonne.cli("shop", "test", "3")
        assert not_woo.exit_code == 1 and "not a WooCommerce site" in not_woo.output
    finally:
        other.stop()
    assert add_woo(abonne, other.url, CS, "--skip-check").exit_code == 0  # the same port, nobody listens now
    unreachable = abonne.cli("shop", "test", "4")
    assert unreachable.exit_code == 1 and "cannot be reached" in unreachable.output

    missing = abonne.cli("shop", "test", "99")
    assert missing.exit_code == 1 and "there is no shop 99" in missing.output


def test_plans_are_added_listed_and_mapped(abonne, woo):
    add_woo(abonne, woo.url)
    added = abonne.cli("plan", "add", "Coffee monthly", "--every", "1", "--unit", "month", "--trial-days", "14",
                       "--signup-fee", "4.90", "--cycles", "12")
    assert added.exit_code == 0, added.output
    mapped = abonne.cli("plan", "map", "Coffee monthly", "--shop", "1", "--product", "COFFEE-CLUB-M")
    assert mapped.exit_code == 0, mapped.output
    assert json.loads(abonne.cli("plan", "list", "--json").output) == [
        {"id": 1, "name": "Coffee monthly", "every": 1, "unit": "month", "trial_days": 14, "signup_fee": "4.90",
         "cycles": 12, "products": [{"shop_id": 1, "product": "COFFEE-CLUB-M"}]}]


@pytest.mark.parametrize("args, message, code", [
    (["Bad", "--every", "0", "--unit", "month"], "every: a billing period needs", 1),
    (["Bad", "--every", "1", "--unit", "fortnight"], "Invalid value for '--unit'", 2),
    (["Bad", "--every", "1", "--unit", "day", "--signup-fee", "abc"], "signup-fee must be a decimal amount", 1),
    (["Bad", "--every", "1", "--unit", "day", "--signup-fee", "-1"], "signup-fee must be zero or more", 1),
    (["Bad", "--every", "1", "--unit", "day", "--cycles", "0"], "cycles must be at least 1", 1),
    (["Bad", "--every", "1", "--unit", "day", "--trial-days", "-3"], "trial-days must not be negative", 1),
])
def test_plan_add_refuses_bad_input(abonne, args, message, code):
    result = abonne.cli("plan", "add", *args)
    assert result.exit_code == code and message in result.output
    assert counts(abonne) == [0, 0, 0, 0]


def test_plan_names_and_mappings_are_unique_and_must_exist(abonne, woo):
    add_woo(abonne, woo.url)
    abonne.cli("plan", "add", "P", "--every", "1", "--unit", "week")
    twice = abonne.cli("plan", "add", "P", "--every", "2", "--unit", "week")
    assert twice.exit_code == 1 and "exists already" in twice.output
    abonne.cli("plan", "map", "P", "--shop", "1", "--product", "12")
    again = abonne.cli("plan", "map", "P", "--shop", "1", "--product", "12")
    assert again.exit_code == 1 and "already mapped" in again.output
    no_plan = abonne.cli("plan", "map", "Q", "--shop", "1", "--product", "13")
    assert no_plan.exit_code == 1 and "no plan named 'Q'" in no_plan.output
    no_shop = abonne.cli("plan", "map", "P", "--shop", "7", "--product", "13")
    assert no_shop.exit_code == 1 and "there is no shop 7" in no_shop.output
    assert counts(abonne) == [1, 1, 1, 0]


def gateway_args(certificate: Path, key: Path = MYPOS / "test-merchant-private-key.pem") -> list[str]:
    return ["gateway", "set", "--sid", "000000000000010", "--wallet-number", "61938166610", "--key-index", "1",
            "--private-key", str(key), "--certificate", str(certificate)]


def test_the_unparseable_2013_certificate_is_a_clear_error_and_nothing_is_saved(abonne):
    result = abonne.cli(*gateway_args(MYPOS / "mypos-test-certificate-2013-unparseable.pem"))
    assert result.exit_code == 1 and "certificate" in result.output and "2018" in result.output
    assert "Traceback" not in result.output
    assert counts(abonne) == [0, 0, 0, 0]


def test_a_key_that_is_not_a_private_key_is_refused(abonne):
    result = abonne.cli(*gateway_args(MYPOS / "mypos-test-certificate-2018.pem",
                                      key=MYPOS / "test-merchant-public-key.pem"))
    assert result.exit_code == 1 and "private key" in result.output
    assert counts(abonne) == [0, 0, 0, 0]


def test_the_gateway_is_saved_shown_without_its_key_and_checked(abonne):
    saved = abonne.cli(*gateway_args(MYPOS / "mypos-test-certificate-2018.pem"), "--mode", "test")
    assert saved.exit_code == 0, saved.output
    shown = json.loads(abonne.cli("gateway", "show", "--json").output)
    assert shown == {"sid": "000000000000010", "wallet_number": "61938166610", "key_index": "1",
                     "endpoint": "https://www.mypos.com/vmp/checkout-test", "private_key": "set"}
    assert "PRIVATE KEY" not in json.dumps([dict(r) for r in abonne.rows("SELECT * FROM gateway_account")],
                                           default=str)
    checked = abonne.cli("gateway", "check")
    assert checked.exit_code == 0 and "000000000000010" in checked.output


def test_agreement_commands_answer_for_missing_agreements(abonne):
    assert json.loads(abonne.cli("agreements", "list", "--json").output) == []
    missing = abonne.cli("agreements", "show", "42")
    assert missing.exit_code == 1 and "there is no agreement 42" in missing.output


def test_commands_on_an_unmigrated_database_say_to_migrate(tmp_path):
    env = {"ABONNE_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}", "ABONNE_SECRET_KEY": "k" * 40}
    result = CliRunner().invoke(cli_main, ["shop", "list"], env=env)
    assert result.exit_code == 1 and "run `abonne migrate` first" in result.output
    migrated = CliRunner().invoke(cli_main, ["migrate"], env=env)
    assert migrated.exit_code == 0 and "up to date" in migrated.output
    assert CliRunner().invoke(cli_main, ["shop", "list"], env=env).exit_code == 0


def test_the_secret_key_is_generated_into_the_instance_folder_once(tmp_path):
    env = {"ABONNE_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}", "ABONNE_INSTANCE_PATH": str(tmp_path / "inst"),
           "ABONNE_SECRET_KEY": ""}
    assert CliRunner().invoke(cli_main, ["migrate"], env=env).exit_code == 0
    key_file = tmp_path / "inst" / "secret_key"
    first = key_file.read_text()
    assert CliRunner().invoke(cli_main, ["migrate"], env=env).exit_code == 0
    assert key_file.read_text() == first and oct(key_file.stat().st_mode & 0o777) == "0o600"
