"""The walking skeleton end to end, over loopback HTTP: a shop order becomes a tokenized, active agreement."""
from __future__ import annotations

import json

import requests

from adapters.mypos.standin import customer_cancels, customer_pays, read_form, submit_auto_form
from bridge.ports import HostedForm
from tests.integration.conftest import BILLING, VISA, Configured
from tests.waiting import wait_for


def open_pay_link(link: str) -> tuple[requests.Response, HostedForm]:
    page = requests.get(link, timeout=10)
    assert page.status_code == 200, page.text
    action, fields = read_form(page.text)
    return page, HostedForm(action, tuple(fields))


def test_an_unpaid_subscription_order_is_paid_and_tokenized_on_the_hosted_page(configured: Configured):
    woo, mypos, abonne = configured.woo, configured.mypos, configured.abonne
    pings = [d for d in woo.deliveries if d.topic == "ping"]
    assert pings and all(d.status == 200 for d in pings)  # the receiver was live and answered exactly 200

    order_id = woo.place_order(customer=BILLING, lines=[(configured.subscription_product, 1),
                                                        (configured.mug_product, 1)],
                               payment_method="mypos", via="store-api")
    link = configured.customer_note_link(order_id)
    [agreement] = configured.agreements(order_id)
    assert agreement["state"] == "awaiting_card" and agreement["amount_minor"] == 1990
    assert any(mail.to == BILLING["email"] for mail in woo.mails if link in mail.text)  # WooCommerce e-mails customer notes

    page, form = open_pay_link(link)
    fields = dict(form.fields)
    assert form.action == mypos.endpoint
    assert fields["CardTokenRequest"] == "2" and fields["Amount"] == "32.40"
    assert fields["URL_Notify"] == f"{abonne.url}/gateway/mypos/notify"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]

    answer = customer_pays(form, card=VISA, exp="12/30")
    back = submit_auto_form(answer)
    assert back.status_code == 200 and "Thank you" in back.text

    [payment] = [t for t in mypos.ledger if t.method == "IPCPurchase"]
    assert payment.status == "paid" and payment.amount == "32.40"
    [notify] = [d for d in mypos.deliveries if ("IPCmethod", "IPCPurchaseNotify") in d.fields]
    assert (notify.http_status, notify.body) == (200, "OK")

    agreement = wait_for(lambda: next((a for a in configured.agreements(order_id) if a["state"] == "active"), None),
                         what="the agreement to become active")
    assert (agreement["card_last4"], agreement["card_exp"]) == ("0007", "3012")
    shown = json.loads(abonne.cli("agreements", "show", str(agreement["id"]), "--json").output)
    assert shown["next_charge_at"] == "2027-02-28T09:00:00+00:00"  # paid 31 Jan: the next cycle is clamped
    assert (shown["card_last4"], shown["card_expiry"], shown["state"]) == ("0007", "12/30", "active")
    assert payment.token not in json.dumps([dict(r) for r in abonne.rows("SELECT * FROM agreements")], default=str)
    charges = abonne.rows("SELECT cycle, state, amount_minor, source, transaction_ref FROM charges")
    assert [dict(c) for c in charges] == [{"cycle": 1, "state": "succeeded", "amount_minor": 1990,
                                           "source": "hosted_page", "transaction_ref": payment.trnref}]

    shop_order = wait_for(lambda: (o := woo.order(order_id)) and o["date_paid_gmt"] and o,
                          what="the shop order to be marked paid")
    assert shop_order["transaction_id"] == payment.trnref and shop_order["status"] == "processing"

    listed = json.loads(abonne.cli("agreements", "list", "--json").output)
    assert [(a["state"], a["card_last4"], a["shop_order_id"], a["amount"]) for a in listed] == [
        ("active", "0007", str(order_id), "19.90")]


def test_a_cash_on_delivery_order_paid_by_card_counts_as_paid_in_the_shop(configured: Configured):
    """A real WooCommerce 10.0.2 ignores set_paid on a processing, unpaid (COD) order: the shop must still end up
    with the payment recorded, or the owner collects cash a second time."""
    woo, mypos = configured.woo, configured.mypos
    order_id = woo.place_order(customer=BILLING, lines=[(configured.subscription_product, 1)], payment_method="cod")
    assert woo.order(order_id)["status"] == "processing" and woo.order(order_id)["date_paid_gmt"] is None
    _, form = open_pay_link(configured.customer_note_link(order_id))
    assert dict(form.fields)["CardTokenRequest"] == "2"
    submit_auto_form(customer_pays(form, card=VISA, exp="12/30"))
    [payment] = [t for t in mypos.ledger if t.method == "IPCIAPurchase" or t.method == "IPCPurchase"]
    paid = wait_for(lambda: (o := woo.order(order_id)) and o["date_paid_gmt"] and o, what="the payment in the shop")
    assert (paid["status"], paid["transaction_id"], paid["payment_method"]) == ("processing", payment.trnref, "abonne")


def test_an_already_paid_order_only_stores_the_card_and_counts_the_first_cycle_as_paid(configured: Configured):
    woo, mypos, abonne = configured.woo, configured.mypos, configured.abonne
    order_id = woo.place_order(customer=BILLING, lines=[(configured.subscription_product, 2)],
                               payment_method="othergateway", paid=True, transaction_id="SHOP-TX-1")
    link = configured.customer_note_link(order_id)
    _, form = open_pay_link(link)
    fields = dict(form.fields)
    assert fields["CardTokenRequest"] == "1" and "Amount" not in fields

    submit_auto_form(customer_pays(form, card=VISA, exp="12/30"))
    agreement = wait_for(lambda: next((a for a in configured.agreements(order_id) if a["state"] == "active"), None),
                         what="the agreement to become active")
    assert agreement["amount_minor"] == 3980 and agreement["quantity"] == 2
    [stored] = [t for t in mypos.ledger if t.method == "IPCPurchase"]
    assert stored.status == "stored" and stored.amount is None  # no money moved on the hosted page
    charge = abonne.rows("SELECT cycle, state, source FROM charges")
    assert [dict(c) for c in charge] == [{"cycle": 1, "state": "succeeded", "source": "shop"}]
    assert woo.order(order_id)["transaction_id"] == "SHOP-TX-1"  # the shop's own payment record stays
    assert abonne.scalar("SELECT count(*) FROM outbox WHERE kind = 'mark_paid'") == 0


def test_a_replayed_notify_changes_nothing_and_a_forged_one_is_refused(configured: Configured):
    woo, mypos, abonne = configured.woo, configured.mypos, configured.abonne
    order_id = woo.place_order(customer=BILLING, lines=[(configured.subscription_product, 1)],
                               payment_method="mypos")
    _, form = open_pay_link(configured.customer_note_link(order_id))
    submit_auto_form(customer_pays(form, card=VISA, exp="12/30"))
    wait_for(lambda: abonne.scalar("SELECT count(*) FROM outbox WHERE state = 'done'") == 2,
             what="the note and the paid mark to reach the shop")
    [notify] = [d for d in mypos.deliveries if ("IPCmethod", "IPCPurchaseNotify") in d.fields]
    before = [dict(r) for r in abonne.rows("SELECT id, state, cycles_paid, next_charge_at FROM agreements")]
    counts = lambda: [abonne.scalar(f"SELECT count(*) FROM {t}") for t in ("charges", "outbox", "events")]
    counted = counts()

    replay = requests.post(f"{abonne.url}/gateway/mypos/notify", data=list(notify.fields), timeout=10)
    assert (replay.status_code, replay.text) == (200, "OK")
    forged_fields = [(k, "9999" if k == "CardToken" else v) for k, v in notify.fields]
    forged = requests.post(f"{abonne.url}/gateway/mypos/notify", data=forged_fields, timeout=10)
    assert forged.status_code == 400 and forged.json()["error"] == "signature_mismatch"
    unsigned = requests.post(f"{abonne.url}/gateway/mypos/notify", data=list(notify.fields)[:-1], timeout=10)
    assert unsigned.status_code == 400 and "Signature" in unsigned.json()["detail"]

    assert [dict(r) for r in abonne.rows("SELECT id, state, cycles_paid, next_charge_at FROM agreements")] == before
    assert counts() == counted


def test_a_customer_who_cancels_on_the_hosted_page_can_use_the_link_again(configured: Configured):
    woo, abonne = configured.woo, configured.abonne
    order_id = woo.place_order(customer=BILLING, lines=[(configured.subscription_product, 1)],
                               payment_method="mypos")
    link = configured.customer_note_link(order_id)
    _, form = open_pay_link(link)
    back = submit_auto_form(customer_cancels(form))
    assert back.status_code == 200 and "cancelled" in back.text.lower()
    assert configured.agreements(order_id)[0]["state"] == "awaiting_card"
    assert abonne.scalar("SELECT count(*) FROM events WHERE kind = 'payment_cancelled'") == 1

    _, form = open_pay_link(link)
    submit_auto_form(customer_pays(form, card=VISA, exp="12/30"))
    wait_for(lambda: configured.agreements(order_id)[0]["state"] == "active", what="activation after a cancel")


def test_a_payment_for_a_cancelled_subscription_is_refused_so_the_gateway_reverses_it(configured: Configured):
    woo, mypos, abonne = configured.woo, configured.mypos, configured.abonne
    order_id = woo.place_order(customer=BILLING, lines=[(configured.subscription_product, 1)],
                               payment_method="mypos")
    _, form = open_pay_link(configured.customer_note_link(order_id))  # rendered while the agreement lived
    woo.set_order_status(order_id, "cancelled")
    wait_for(lambda: configured.agreements(order_id)[0]["state"] == "cancelled", what="the cancel to arrive")

    customer_pays(form, card=VISA, exp="12/30")
    [payment] = [t for t in mypos.ledger if t.method == "IPCPurchase"]
    assert payment.status == "reversed"  # abonne did not answer OK, so myPOS took the money back
    rollbacks = [d for d in mypos.deliveries if ("IPCmethod", "IPCPurchaseRollback") in d.fields]
    assert rollbacks and rollbacks[0].body == "OK"
    assert abonne.scalar("SELECT count(*) FROM charges") == 0
    assert configured.agreements(order_id)[0]["state"] == "cancelled"
