"""The OpenCart path end to end (4.1, 4.0 and 3.0), with abonne in real processes and abonne's extension in the shop (the
stand-in's, or the real one): an order becomes an agreement through the extension's signed event, the pay link
reaches the customer as order history (mailed: notify), the customer pays, the order gets the paid status with the
myPOS transaction, three renewals become orders of payment abonne.card at the agreed price (the third with the worker
SIGKILLed after the shop created it and before abonne heard back: no duplicate), 4.1's storefront cart stays clean,
and the owner's "Refunded" ends the agreement; an order placed while abonne is down arrives from the extension's
queue."""
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
from tests.shops.opencart_target import (
    CREATING_CALL, REFUNDED, OpenCartTarget, real_opencart, real_settings, standin_opencart,
)
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
        abonne_for_opencart: AbonneProcesses, opencart: OpenCartTarget, mypos: MyPosStandin, proxy: ForwardProxy,
        tmp_path: Path):
    abonne, shop = abonne_for_opencart, opencart
    product_id = connected(abonne, shop, mypos)

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

    for cycle in (2, 3, 4):  # the third with a kill between the shop's create and abonne hearing back
        hold = proxy.hold(shop.netloc, "POST", r"/index\.php$", CREATING_CALL[shop.version]) if cycle == 4 else None
        abonne.renew(agreement_id, cycle, hold)
        assert len(shop.renewal_orders(order_id)) == cycle - 1, "a renewal order was created twice"

    refs = [row["transaction_ref"] for row in abonne.rows(
        "SELECT transaction_ref FROM charges WHERE agreement_id = :a AND state = 'succeeded' AND cycle > 1 "
        "ORDER BY cycle", a=agreement_id)]
    renewals = shop.renewal_orders(order_id)
    assert len(set(refs)) == 3 and [next(ref for ref in refs if f"abonne:{ref}" in r["comment"]) for r in renewals] \
        == refs, "each renewal order carries its own charge's marker, in order"
    for renewal in renewals:  # the agreed price, a zero-cost shipping line and no tax: no total surprise (S1)
        assert renewal["status"] == "2" and Decimal(renewal["total"]) == Decimal("19.90")
        assert shop.customer_of(int(renewal["order_id"])) == shop.customer_of(order_id)
    if shop.version == "4.1":  # S2: abonne's API calls left nothing in the customer's storefront cart
        assert shop.storefront_cart(shop.customer_of(order_id)) == []
    # The renewals' own events made no agreement (older orders of the mapped product, which the starting worker's
    # reconciliation finds in a real shop, may have theirs).
    assert not {r["order_id"] for r in renewals} & {a["order_id"] for a in abonne.rows("SELECT order_id FROM agreements")}

    shop.set_status(order_id, REFUNDED)
    abonne.wait_for(lambda: abonne.scalar("SELECT state FROM agreements WHERE id = :a", a=agreement_id)
                    == "cancelled", "the refund to cancel the agreement", timeout=90)


def test_an_order_placed_while_abonne_is_down_arrives_from_the_extensions_queue(
        abonne_for_opencart: AbonneProcesses, opencart: OpenCartTarget, mypos: MyPosStandin):
    abonne, shop = abonne_for_opencart, opencart
    product_id = connected(abonne, shop, mypos)
    abonne.stop()

    order_id = shop.place_order(product_id)  # the extension's send fails fast: the order is taken anyway
    # Only the web process first: a starting worker polls every shop, which would find the order without the queue.
    abonne.start_web()
    shop.run_extension_cron()
    abonne.wait_for(lambda: abonne.scalar("SELECT count(*) FROM deliveries WHERE order_id = :o", o=str(order_id)),
                    f"the extension's queued event of order {order_id} (resent a minute after the failure)",
                    timeout=180)
    abonne.start_worker()
    agreements = abonne.wait_for(lambda: abonne.rows("SELECT * FROM agreements WHERE order_id = :o", o=str(order_id)),
                                 f"the queued event of order {order_id} to make its agreement", timeout=120)
    assert len(agreements) == 1 and agreements[0]["state"] == "awaiting_card"
    assert abonne.scalar("SELECT count(*) FROM events WHERE kind = 'missed_order_found' AND order_id = :o",
                         o=str(order_id)) == 0, "the order came by polling, not from the extension's queue"


def connected(abonne: AbonneProcesses, shop: OpenCartTarget, mypos: MyPosStandin) -> int:
    """abonne serving, the gateway set, the shop added and its extension pointed at abonne, a product mapped to a
    monthly plan, the worker running: the product's id."""
    abonne.start_web()
    abonne.set_gateway(mypos)
    added = abonne.cli("shop", "add", *shop.shop_add_args())
    shop_id = int(re.search(r"shop (\d+) added", added.stdout).group(1))
    shop.connect_extension(abonne.url, shop_id)
    product_id = shop.subscription_product()
    abonne.cli("plan", "add", "Monthly coffee", "--every", "1", "--unit", "month")
    abonne.cli("plan", "map", "Monthly coffee", "--shop", str(shop_id), "--product", str(product_id))
    abonne.start_worker()
    return product_id
