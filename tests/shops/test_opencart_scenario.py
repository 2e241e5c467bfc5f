"""The OpenCart path end to end (4.1, 4.0 and 3.0), with abonne in real processes and abonne's extension in the shop (the
stand-in's, or the real one): an order becomes an agreement through the extension's signed event, the pay link
reaches the customer as order history (mailed: notify), the customer pays, the order gets the paid status with the
myPOS transaction, a renewal becomes an order of payment abonne.card, and the owner's "Refunded" ends the
agreement."""
from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import pytest
import requests

from adapters.mypos.standin import MyPosStandin, customer_pays, read_form, submit_auto_form
from bridge.ports import HostedForm
from tests.shops.abonne_process import AbonneProcesses
from tests.shops.conftest import VISA
from tests.shops.opencart_target import REFUNDED, OpenCartTarget, real_opencart, real_settings, standin_opencart
from tests.shops.proxy import ForwardProxy


@pytest.fixture(params=[("stand-in", "4.1"), ("stand-in", "4.0"), ("stand-in", "3.0"),
                        pytest.param(("real", "4.1"), marks=pytest.mark.real_shop),
                        pytest.param(("real", "4.0"), marks=pytest.mark.real_shop),
                        pytest.param(("real", "3.0"), marks=pytest.mark.real_shop)],
                ids=lambda p: f"{p[0]}-{p[1]}")
def opencart(request: pytest.FixtureRequest) -> Iterator[OpenCartTarget]:
    kind, version = request.param
    if kind == "real":
        wanted = real_settings(version)
        missing = [name for name in wanted if not os.environ.get(name)]
        if missing:
            pytest.skip(f"no real OpenCart {version} to run against: set {', '.join(wanted)} "
                        f"(missing: {', '.join(missing)})")
        target = real_opencart(version)
    else:
        target = standin_opencart(version)
    yield target
    target.close()


@pytest.fixture
def abonne_for_opencart(tmp_path: Path, proxy: ForwardProxy, opencart: OpenCartTarget) -> Iterator[AbonneProcesses]:
    processes = AbonneProcesses(tmp_path, f"sqlite:///{tmp_path / 'abonne.db'}", proxy.url, port=opencart.bridge_port)
    yield processes
    processes.dispose()


def test_an_order_becomes_an_agreement_renewed_in_the_shop_and_ended_by_a_refund(
        abonne_for_opencart: AbonneProcesses, opencart: OpenCartTarget, mypos: MyPosStandin, tmp_path: Path):
    abonne, shop = abonne_for_opencart, opencart
    abonne.start_web()
    abonne.set_gateway(mypos)
    added = abonne.cli("shop", "add", *shop.shop_add_args())
    shop_id = int(re.search(r"shop (\d+) added", added.stdout).group(1))
    shop.connect_extension(abonne.url, shop_id)
    product_id = shop.subscription_product()
    abonne.cli("plan", "add", "Monthly coffee", "--every", "1", "--unit", "month")
    abonne.cli("plan", "map", "Monthly coffee", "--shop", str(shop_id), "--product", str(product_id))
    abonne.start_worker()

    order_id = shop.place_order(product_id)
    agreements = abonne.wait_for(lambda: abonne.rows("SELECT * FROM agreements WHERE order_id = :o",
                                                     o=str(order_id)), f"an agreement for order {order_id}", timeout=180)
    assert len(agreements) == 1 and agreements[0]["state"] == "awaiting_card"
    link = abonne.wait_for(lambda: next((found.group(1) for h in shop.history(order_id) if h["notify"] == "1"
                                         and (found := re.search(r"(https?://\S+/pay/[\w.\-~]+)", h["comment"]))),
                                        None), f"the pay link in the history of order {order_id}", timeout=90)
    page = requests.get(link, timeout=30)
    action, fields = read_form(page.text)
    submit_auto_form(customer_pays(HostedForm(action, tuple(fields)), card=VISA, exp="12/30"))
    agreement_id = agreements[0]["id"]
    abonne.wait_for(lambda: abonne.scalar("SELECT state FROM agreements WHERE id = :a", a=agreement_id) == "active",
                    "the agreement to activate")
    first_ref = abonne.scalar("SELECT transaction_ref FROM charges WHERE agreement_id = :a AND cycle = 1",
                              a=agreement_id)
    abonne.wait_for(lambda: (last := shop.history(order_id)[-1])["status"] == "2" and first_ref in last["comment"],
                    "the first order to get the paid status with the transaction")

    last_order = order_id
    abonne.make_due(agreement_id)
    renewals = abonne.wait_for(lambda: shop.renewal_orders(last_order), "the renewal order", timeout=90)
    abonne.wait_for(lambda: abonne.scalar("SELECT state FROM outbox WHERE dedupe_key = :k",
                                          k=f"renewal:{agreement_id}:2") == "done", "abonne to record it")
    renewal_ref = abonne.scalar("SELECT transaction_ref FROM charges WHERE agreement_id = :a AND cycle = 2",
                                a=agreement_id)
    renewals = shop.renewal_orders(last_order)
    assert len(renewals) == 1
    assert renewals[0]["status"] == "2" and Decimal(renewals[0]["total"]) == Decimal("19.90")
    assert f"abonne:{renewal_ref}" in renewals[0]["comment"]
    # The renewal's own event made no agreement (older orders of the mapped product, which the starting worker's
    # reconciliation finds in a real shop, may have theirs).
    assert renewals[0]["order_id"] not in [a["order_id"] for a in abonne.rows("SELECT order_id FROM agreements")]

    shop.set_status(order_id, REFUNDED)
    abonne.wait_for(lambda: abonne.scalar("SELECT state FROM agreements WHERE id = :a", a=agreement_id)
                    == "cancelled", "the refund to cancel the agreement", timeout=90)
