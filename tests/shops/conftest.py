"""Shop scenarios: abonne in real processes, the stand-in myPOS, and a shop target (stand-in or real)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from adapters.mypos.standin import MyPosStandin, customer_pays, read_form, submit_auto_form
from bridge.ports import HostedForm
from tests.shops.abonne_process import AbonneProcesses
from tests.shops.proxy import ForwardProxy
from tests.shops.targets import (
    REAL_WOOCOMMERCE, Customer, WooCommerceTarget, missing_real_settings, real_woocommerce, standin_woocommerce,
)

VISA = "4006090000000007"
WEBHOOK_SECRET = "scenario-secret-&-<quotes\">"
PRICE = "12.50"


@pytest.fixture(params=["stand-in", pytest.param("real", marks=pytest.mark.real_shop)])
def woocommerce(request: pytest.FixtureRequest) -> Iterator[WooCommerceTarget]:
    if request.param == "real":
        missing = missing_real_settings("woocommerce")
        if missing:
            pytest.skip(f"no real WooCommerce to run against: set {', '.join(REAL_WOOCOMMERCE)} "
                        f"(missing: {', '.join(missing)})")
        target = real_woocommerce()
    else:
        target = standin_woocommerce()
    yield target
    target.close()


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    forward = ForwardProxy()
    yield forward
    forward.stop()


@pytest.fixture
def mypos() -> Iterator[MyPosStandin]:
    standin = MyPosStandin.start(hang_seconds=3.0)
    yield standin
    standin.stop()


@pytest.fixture
def abonne(tmp_path: Path, proxy: ForwardProxy) -> Iterator[AbonneProcesses]:
    processes = AbonneProcesses(tmp_path, f"sqlite:///{tmp_path / 'abonne.db'}", proxy.url)
    yield processes
    processes.dispose()


@dataclass
class Scenario:
    """A shop connected to abonne (webhooks registered through the shop's REST API) with a plan mapped to a
    product, the gateway on the stand-in myPOS, and abonne's web and worker processes running."""

    abonne: AbonneProcesses
    shop: WooCommerceTarget
    mypos: MyPosStandin
    proxy: ForwardProxy
    shop_id: int
    product_id: int

    def agreements(self, order_id: int) -> list[Any]:
        return self.abonne.rows("SELECT * FROM agreements WHERE shop_id = :s AND order_id = :o ORDER BY id",
                                s=self.shop_id, o=str(order_id))

    def agreement(self, agreement_id: int) -> Any:
        return self.abonne.rows("SELECT * FROM agreements WHERE id = :id", id=agreement_id)[0]

    def mypos_paid_renewals(self) -> list[Any]:
        """Stored-card charges that moved money, as myPOS's ledger shows them."""
        return [t for t in self.mypos.ledger if t.method == "IPCIAPurchase" and t.status == "paid"]

    def pay_link(self, order_id: int) -> str:
        def link() -> str | None:
            for note in self.shop.notes(order_id):
                found = re.search(r"(https?://\S+/pay/[\w.\-~]+)", note["note"])
                if note["customer_note"] and found:
                    return found.group(1)
            return None
        return self.abonne.wait_for(link, f"a customer note with the pay link on order {order_id}", timeout=90)

    def pay(self, order_id: int, card: str = VISA) -> None:
        """The customer opens the link from the note and pays on the hosted page."""
        page = requests.get(self.pay_link(order_id), timeout=30)
        assert page.status_code == 200, page.text[:300]
        action, fields = read_form(page.text)
        submit_auto_form(customer_pays(HostedForm(action, tuple(fields)), card=card, exp="12/30"))

    def subscribe(self, customer: Customer) -> tuple[int, int]:
        """Order the subscription product at the storefront and pay: (order id, active agreement id)."""
        order_id = self.shop.place_order([(self.product_id, 1)], customer)
        agreement = self.abonne.wait_for(lambda: self.agreements(order_id),
                                         f"an agreement for order {order_id}", timeout=90)[0]
        self.pay(order_id)
        self.abonne.wait_for(lambda: self.agreement(agreement["id"])["state"] == "active",
                             f"agreement {agreement['id']} to become active")
        return order_id, agreement["id"]


@pytest.fixture
def scenario(abonne: AbonneProcesses, woocommerce: WooCommerceTarget, mypos: MyPosStandin, proxy: ForwardProxy,
             tmp_path: Path) -> Scenario:
    woocommerce.abonne_urls.append(abonne.url)
    abonne.start_web()  # the shop pings the webhook URL when the webhooks are registered
    abonne.set_gateway(mypos)
    added = abonne.cli("shop", "add", *woocommerce.shop_add_args(WEBHOOK_SECRET), "--register-webhooks")
    shop_id = int(re.search(r"shop (\d+) added", added.stdout).group(1))
    product_id = woocommerce.create_product("Coffee Club Monthly", PRICE)
    abonne.cli("plan", "add", "Monthly coffee", "--every", "1", "--unit", "month")
    abonne.cli("plan", "map", "Monthly coffee", "--shop", str(shop_id), "--product", str(product_id))
    abonne.start_worker()
    return Scenario(abonne, woocommerce, mypos, proxy, shop_id, product_id)
