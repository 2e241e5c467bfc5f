"""The customer's pay link: signed, expiring, and honest when it cannot be used."""
from __future__ import annotations

import re
from datetime import timedelta

import requests

from adapters.mypos.standin import customer_pays, submit_auto_form
from tests.integration.conftest import BILLING, CK, CS, Configured
from tests.integration.test_whole_path import VISA, open_pay_link
from tests.waiting import wait_for


def new_order_link(configured: Configured) -> tuple[int, str]:
    order_id = configured.woo.place_order(customer=BILLING, lines=[(configured.subscription_product, 1)],
                                          payment_method="mypos")
    return order_id, configured.customer_note_link(order_id)


def test_a_made_up_or_altered_link_is_not_valid(configured: Configured):
    _, link = new_order_link(configured)
    made_up = requests.get(f"{configured.abonne.url}/pay/not-a-real-token", timeout=10)
    assert made_up.status_code == 404 and "This link cannot be used" in made_up.text
    token = link.rsplit("/", 1)[1]
    altered = requests.get(f"{configured.abonne.url}/pay/{token[:-3]}xyz", timeout=10)
    assert altered.status_code == 404 and "not valid" in altered.text
    assert configured.mypos.ledger == []


def test_an_expired_link_says_so(configured: Configured):
    _, link = new_order_link(configured)
    configured.abonne.clock.advance(timedelta(days=30, seconds=1))
    expired = requests.get(link, timeout=10)
    assert expired.status_code == 410 and "expired" in expired.text


def test_a_used_link_says_there_is_nothing_left_to_do(configured: Configured):
    order_id, link = new_order_link(configured)
    _, form = open_pay_link(link)
    submit_auto_form(customer_pays(form, card=VISA, exp="12/30"))
    wait_for(lambda: configured.agreements(order_id)[0]["state"] == "active", what="activation")
    again = requests.get(link, timeout=10)
    assert again.status_code == 409 and "already saved" in again.text


def test_a_link_of_a_cancelled_subscription_cannot_be_used(configured: Configured):
    order_id, link = new_order_link(configured)
    configured.woo.set_order_status(order_id, "cancelled")
    wait_for(lambda: configured.agreements(order_id)[0]["state"] == "cancelled", what="the cancel")
    answer = requests.get(link, timeout=10)
    assert answer.status_code == 410 and "cancelled" in answer.text


def test_an_order_cancelled_by_the_owner_stays_cancelled_when_the_payment_is_recorded_after(
        configured: Configured):
    order_id, link = new_order_link(configured)
    _, form = open_pay_link(link)
    configured.abonne.stop_worker()  # the mark-paid waits in the outbox ...
    submit_auto_form(customer_pays(form, card=VISA, exp="12/30"))
    configured.woo.set_order_status(order_id, "cancelled")  # ... while the owner cancels the order
    from bridge.worker import run_once
    wait_for(lambda: run_once(configured.abonne.bridge) and not configured.abonne.scalar(
        "SELECT count(*) FROM outbox WHERE state = 'pending'"), what="the outbox to drain")
    order = configured.woo.order(order_id)
    assert order["status"] == "cancelled" and order["date_paid_gmt"] is None
    assert any("after this order was cancelled" in n.note for n in configured.woo.notes(order_id))


def test_a_paid_link_of_a_subscription_cancelled_later_says_cancelled(configured: Configured):
    order_id, link = new_order_link(configured)
    _, form = open_pay_link(link)
    submit_auto_form(customer_pays(form, card=VISA, exp="12/30"))
    wait_for(lambda: configured.agreements(order_id)[0]["state"] == "active", what="activation")
    configured.woo.set_order_status(order_id, "cancelled")
    wait_for(lambda: configured.agreements(order_id)[0]["state"] == "cancelled", what="the cancel")
    answer = requests.get(link, timeout=10)
    assert answer.status_code == 410 and "cancelled" in answer.text and "active" not in answer.text


def test_without_gateway_settings_the_customer_is_told_to_come_back(abonne, woo):
    result = abonne.cli("shop", "add", "--platform", "woocommerce", "--url", woo.url, "--consumer-key", CK,
                        "--consumer-secret", CS, "--webhook-secret", "s", "--register-webhooks")
    assert result.exit_code == 0, result.output
    product = woo.add_product("Coffee Club", "19.90", meta={"_subscription_period": "week"})
    order_id = woo.place_order(customer=BILLING, lines=[(product, 1)], payment_method="mypos")
    note = wait_for(lambda: [n.note for n in woo.notes(order_id) if n.customer_note], what="the pay-link note")
    link = re.search(r"(http://\S+/pay/\S+?)\s", note[0]).group(1)
    answer = requests.get(link, timeout=10)
    assert answer.status_code == 503 and "payment settings are incomplete" in answer.text
    assert abonne.scalar("SELECT state FROM agreements") == "awaiting_card"


def test_the_notify_endpoint_refuses_what_is_not_a_signed_callback(abonne):
    url = f"{abonne.url}/gateway/mypos/notify"
    empty = requests.post(url, data=b"", timeout=10)
    assert empty.status_code == 400 and empty.json()["error"] == "malformed_body"
    garbage = requests.post(url, data=b"\xff\xfe\x00", headers={"Content-Type": "application/x-www-form-urlencoded"},
                            timeout=10)
    assert garbage.status_code == 400
    huge = requests.post(url, data=b"a=" + b"x" * (1024 * 1024 + 10), timeout=10)
    assert huge.status_code == 413
    unconfigured = requests.post(url, data={"IPCmethod": "IPCPurchaseNotify", "OrderID": "x", "Signature": "y"},
                                 timeout=10)
    assert unconfigured.status_code == 503 and unconfigured.json()["error"] == "gateway_not_configured"
    assert abonne.scalar("SELECT count(*) FROM gateway_callbacks") == 0
