"""The PrestaShop path end to end, with abonne in real processes and abonne's module in the shop (the stand-in's, or
the real one): a storefront order paid by bank wire becomes an agreement through the module's signed event, the
customer gets the pay link as a message on the order and pays, the order becomes "Payment accepted" with the
myPOS transaction, a renewal becomes an order of module abonne, and the owner's "Refunded" ends the agreement."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
import requests

from adapters.mypos.standin import MyPosStandin, customer_pays, read_form, submit_auto_form
from bridge.ports import HostedForm
from tests.fixture_files import MYPOS
from tests.shops.abonne_process import AbonneProcesses
from tests.shops.conftest import VISA
from tests.shops.prestashop_target import PrestaShopTarget, real_prestashop, standin_prestashop
from tests.shops.proxy import ForwardProxy
from tests.shops.targets import REAL_PRESTASHOP, Customer, missing_real_settings

PRICE = "12.50"


@pytest.fixture(params=["stand-in", pytest.param("real", marks=pytest.mark.real_shop)])
def prestashop(request: pytest.FixtureRequest) -> Iterator[PrestaShopTarget]:
    if request.param == "real":
        missing = missing_real_settings("prestashop")
        if missing:
            pytest.skip(f"no real PrestaShop to run against: set {', '.join(REAL_PRESTASHOP)} "
                        f"(missing: {', '.join(missing)})")
        target = real_prestashop()
    else:
        target = standin_prestashop()
    yield target
    target.close()


@pytest.fixture
def abonne_for_prestashop(tmp_path: Path, proxy: ForwardProxy, prestashop: PrestaShopTarget
                          ) -> Iterator[AbonneProcesses]:
    processes = AbonneProcesses(tmp_path, f"sqlite:///{tmp_path / 'abonne.db'}", proxy.url,
                                port=prestashop.bridge_port)
    yield processes
    processes.dispose()


def test_a_storefront_order_becomes_an_agreement_renewed_in_the_shop_and_ended_by_a_refund(
        abonne_for_prestashop: AbonneProcesses, prestashop: PrestaShopTarget, mypos: MyPosStandin, tmp_path: Path):
    abonne, shop = abonne_for_prestashop, prestashop
    abonne.start_web()
    certificate = tmp_path / "mypos-standin.pem"
    certificate.write_text(mypos.certificate_pem)
    abonne.cli("gateway", "set", "--sid", "000000000000010", "--wallet-number", "61938166610", "--key-index", "1",
               "--private-key", str(MYPOS / "test-merchant-private-key.pem"), "--certificate", str(certificate),
               "--endpoint", mypos.endpoint)
    added = abonne.cli("shop", "add", *shop.shop_add_args(""))
    shop_id = int(re.search(r"shop (\d+) added", added.stdout).group(1))
    assert "Install the abonne module" in added.stdout
    shop.connect_module(abonne.url, shop_id)
    product_id = shop.create_product("Coffee Club Monthly", PRICE)
    abonne.cli("plan", "add", "Monthly coffee", "--every", "1", "--unit", "month")
    abonne.cli("plan", "map", "Monthly coffee", "--shop", str(shop_id), "--product", str(product_id))
    abonne.start_worker()
    customer = Customer.new("Ivan", "Petrov")

    order_id = shop.place_order([(product_id, 1)], customer)
    agreements = abonne.wait_for(lambda: abonne.rows("SELECT * FROM agreements WHERE order_id = :o",
                                                     o=str(order_id)), f"an agreement for order {order_id}", timeout=180)
    assert len(agreements) == 1 and agreements[0]["amount_minor"] == 1250
    assert (agreements[0]["state"], agreements[0]["customer_email"]) == ("awaiting_card", customer.email)
    link = abonne.wait_for(lambda: next((found.group(1) for m in shop.messages(order_id) if m["private"] == "0"
                                         and (found := re.search(r"(https?://\S+/pay/[\w.\-~]+)", m["message"]))),
                                        None), f"a message with the pay link on order {order_id}", timeout=90)
    page = requests.get(link, timeout=30)
    action, fields = read_form(page.text)
    submit_auto_form(customer_pays(HostedForm(action, tuple(fields)), card=VISA, exp="12/30"))
    agreement_id = agreements[0]["id"]
    abonne.wait_for(lambda: abonne.scalar("SELECT state FROM agreements WHERE id = :a", a=agreement_id) == "active",
                    "the agreement to activate")
    first_ref = abonne.scalar("SELECT transaction_ref FROM charges WHERE agreement_id = :a AND cycle = 1",
                              a=agreement_id)
    paid_state = shop.state_id("PS_OS_PAYMENT")
    abonne.wait_for(lambda: shop.order(order_id)["current_state"] == paid_state and
                    [(p.get("transaction_id"), p["payment_method"]) for p in shop.payments(order_id)]
                    == [(first_ref, "Card, myPOS")], "the first order to be paid by card with the transaction")

    first = shop.order(order_id)
    abonne.make_due(agreement_id)
    renewals = abonne.wait_for(lambda: shop.renewal_orders(first["id_customer"]), "the renewal order", timeout=90)
    abonne.wait_for(lambda: abonne.scalar("SELECT state FROM outbox WHERE dedupe_key = :k",
                                          k=f"renewal:{agreement_id}:2") == "done", "abonne to record it")
    renewals = shop.renewal_orders(first["id_customer"])
    renewal_ref = abonne.scalar("SELECT transaction_ref FROM charges WHERE agreement_id = :a AND cycle = 2",
                                a=agreement_id)
    assert len(renewals) == 1
    renewal = renewals[0]
    assert (renewal["current_state"], renewal["valid"]) == (paid_state, "1")
    assert (renewal["id_address_delivery"], renewal["id_address_invoice"]) == \
        (first["id_address_delivery"], first["id_address_invoice"])
    assert float(renewal["total_paid"]) == float(PRICE) and renewal["payment"].endswith(renewal_ref)
    assert [(row["product_id"], row["product_quantity"]) for row in renewal["associations"]["order_rows"]] == \
        [(str(product_id), "1")]
    assert renewal_ref in [p.get("transaction_id") for p in shop.payments(int(renewal["id"]))]
    assert [a["order_id"] for a in abonne.rows("SELECT order_id FROM agreements")] == [str(order_id)]  # none for the renewal

    shop.set_state(order_id, shop.state_id("PS_OS_REFUND"))
    abonne.wait_for(lambda: abonne.scalar("SELECT state FROM agreements WHERE id = :a", a=agreement_id)
                    == "cancelled", "the refund to cancel the agreement", timeout=90)
