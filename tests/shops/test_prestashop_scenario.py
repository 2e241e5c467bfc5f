"""The PrestaShop path end to end, with abonne in real processes and abonne's module in the shop (the stand-in's, or
the real one): a storefront order paid by bank wire becomes an agreement through the module's signed event, the
customer gets the pay link as a message on the order and pays, the order becomes "Payment accepted" with the
myPOS transaction, three renewals become orders of module abonne (the third with the worker SIGKILLed after the
shop created it and before abonne heard back: the restarted worker finds it and finishes it, no duplicate), and
the owner's "Refunded" ends the agreement."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

import pytest
import requests

from adapters.mypos.standin import MyPosStandin, customer_pays, read_form, submit_auto_form
from bridge.ports import HostedForm
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
        if os.environ.get("ABONNE_REAL_PRESTASHOP_MODULES_DIR"):  # run against the module just built
            target.update_module(os.environ["ABONNE_REAL_PRESTASHOP_MODULES_DIR"])
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
        abonne_for_prestashop: AbonneProcesses, prestashop: PrestaShopTarget, mypos: MyPosStandin, proxy: ForwardProxy,
        tmp_path: Path):
    abonne, shop = abonne_for_prestashop, prestashop
    product_id = connected(abonne, shop, mypos, tmp_path)
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
    for cycle in (2, 3, 4):  # the third with a kill between the shop's create and abonne hearing back
        hold = proxy.hold(shop.netloc, "POST", r"/api/orders/?$") if cycle == 4 else None
        abonne.renew(agreement_id, cycle, hold)
        assert len(shop.renewal_orders(first["id_customer"])) == cycle - 1, "a renewal order was created twice"

    refs = [row["transaction_ref"] for row in abonne.rows(
        "SELECT transaction_ref FROM charges WHERE agreement_id = :a AND state = 'succeeded' AND cycle > 1 "
        "ORDER BY cycle", a=agreement_id)]
    renewals = shop.renewal_orders(first["id_customer"])
    assert [r["payment"].rsplit(" ", 1)[1] for r in renewals] == refs and len(set(refs)) == 3
    for renewal, ref in zip(renewals, refs):
        assert (renewal["current_state"], renewal["valid"]) == (paid_state, "1")  # the killed attempt finished too
        assert (renewal["id_address_delivery"], renewal["id_address_invoice"]) == \
            (first["id_address_delivery"], first["id_address_invoice"])
        assert float(renewal["total_paid"]) == float(PRICE)
        assert [(row["product_id"], row["product_quantity"]) for row in renewal["associations"]["order_rows"]] == \
            [(str(product_id), "1")]
        assert ref in [p.get("transaction_id") for p in shop.payments(int(renewal["id"]))]
    # The renewals' own events made no agreement (a real shop's older orders of other products may be polled).
    assert not {r["id"] for r in renewals} & {int(a["order_id"]) for a in abonne.rows("SELECT order_id FROM agreements")}

    shop.set_state(order_id, shop.state_id("PS_OS_REFUND"))
    abonne.wait_for(lambda: abonne.scalar("SELECT state FROM agreements WHERE id = :a", a=agreement_id)
                    == "cancelled", "the refund to cancel the agreement", timeout=90)


def test_an_order_placed_while_abonne_is_down_arrives_from_the_modules_queue(
        abonne_for_prestashop: AbonneProcesses, prestashop: PrestaShopTarget, mypos: MyPosStandin, tmp_path: Path):
    abonne, shop = abonne_for_prestashop, prestashop
    product_id = connected(abonne, shop, mypos, tmp_path)
    abonne.stop()

    order_id = shop.place_order([(product_id, 1)], Customer.new("Petra", "Down"))  # checkout is not slowed down
    # Only the web process first: a starting worker polls every shop, which would find the order without the queue.
    abonne.start_web()
    shop.run_module_cron()
    abonne.wait_for(lambda: abonne.scalar("SELECT count(*) FROM deliveries WHERE order_id = :o", o=str(order_id)),
                    f"the module's queued event of order {order_id} (resent a minute after the failure)", timeout=180)
    abonne.start_worker()

    agreements = abonne.wait_for(lambda: abonne.rows("SELECT * FROM agreements WHERE order_id = :o", o=str(order_id)),
                                 f"the queued event of order {order_id} to make its agreement", timeout=120)
    assert len(agreements) == 1 and agreements[0]["state"] == "awaiting_card"
    assert abonne.scalar("SELECT count(*) FROM events WHERE kind = 'missed_order_found' AND order_id = :o",
                         o=str(order_id)) == 0, "the order came by polling, not from the module's queue"


def connected(abonne: AbonneProcesses, shop: PrestaShopTarget, mypos: MyPosStandin, tmp_path: Path) -> int:
    """abonne serving, the gateway set, the shop added and its module pointed at abonne, a product mapped to a
    monthly plan, the worker running: the product's id."""
    abonne.start_web()
    abonne.set_gateway(mypos)
    added = abonne.cli("shop", "add", *shop.shop_add_args(""))
    shop_id = int(re.search(r"shop (\d+) added", added.stdout).group(1))
    assert "Install the abonne module" in added.stdout
    shop.connect_module(abonne.url, shop_id)
    product_id = shop.create_product("Coffee Club Monthly", PRICE)
    abonne.cli("plan", "add", "Monthly coffee", "--every", "1", "--unit", "month")
    abonne.cli("plan", "map", "Monthly coffee", "--shop", str(shop_id), "--product", str(product_id))
    abonne.start_worker()
    return product_id
