"""README, "Running N workers": several `abonne worker` processes on one PostgreSQL behind gunicorn, and a race
between two of them that the database must settle."""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterator, TypeVar

import pytest
import requests
from sqlalchemy import create_engine, text

from adapters.woocommerce.standin import WooCommerceStandin
from bridge.app import build_bridge
from bridge.config import Settings
from bridge.context import Bridge
from bridge.domain.money import Money
from bridge.ports import OrderLine
from bridge.services import catalog, intake, setup
from bridge.store.db import migrate
from bridge.store.tables import Shop
from tests.deploy.conftest import GunicornInstallation
from tests.fixture_files import WOO, WOO_SECRET, woo_delivery
from tests.integration.conftest import CK, CS, postgres_url  # noqa: F401  (postgres_url: a fixture)
from tests.shops.abonne_process import AbonneProcess
from tests.waiting import wait_for

T = TypeVar("T")
WOO_MORE = WOO / "more" / "webhooks"
pytestmark = pytest.mark.postgres


def test_on_postgresql_two_worker_processes_make_one_agreement_per_order(postgres_url, shop, tmp_path):
    installation = GunicornInstallation(tmp_path, database_url=postgres_url)
    installation.cli("shop", "add", "--platform", "woocommerce", "--url", shop.url, "--consumer-key", CK,
                     "--consumer-secret", CS, "--webhook-secret", WOO_SECRET)
    installation.start_worker()  # the workers boot while gunicorn does
    second_worker = AbonneProcess("worker 2", ["worker"], installation.env, tmp_path / "worker-2.log")
    try:
        installation.start_web()
        # order 14 once; order 15 twice (WooCommerce's Store API sends updated, then created, with the same body)
        for name, folder in (("0005_order-created", WOO / "webhooks"), ("0005_order-updated", WOO_MORE),
                             ("0006_order-created", WOO_MORE)):
            delivery = woo_delivery(name, folder)
            headers = {k: v for k, v in delivery.headers if k.lower() not in ("host", "content-length", "connection")}
            answer = requests.post(f"{installation.url}/webhooks/woocommerce/1", data=delivery.body, headers=headers,
                                   timeout=10)
            assert answer.status_code == 200, answer.text
        installation.wait_for(lambda: installation.scalar(
            "SELECT count(*) FROM deliveries WHERE state = 'received'") == 0 and installation.scalar(
            "SELECT count(*) FROM agreements") == 2, "both orders' agreements")
        assert [r["order_id"] for r in installation.rows("SELECT order_id FROM agreements ORDER BY order_id")] == [
            "14", "15"]
        assert installation.worker.running and second_worker.running
    finally:
        second_worker.stop()
        installation.dispose()


@pytest.fixture
def one_shop(postgres_url: str, shop: WooCommerceStandin) -> Iterator[tuple[Bridge, Shop]]:
    """This worker: abonne in this process on a fresh PostgreSQL database, with the stand-in shop connected."""
    migrate(postgres_url)
    bridge = build_bridge(Settings.from_env({"ABONNE_DATABASE_URL": postgres_url, "ABONNE_SECRET_KEY": "k" * 40}))
    yield bridge, setup.add_shop(bridge, "woocommerce", {"url": shop.url, "consumer_key": CK, "consumer_secret": CS,
                                                          "webhook_secret": WOO_SECRET})
    bridge.db.dispose()


def while_another_worker_writes(database_url: str, insert: str, params: dict[str, Any], work: Callable[[], T]) -> T:
    """Run `work` while another connection holds `insert` uncommitted, and commit that once `work` waits on it:
    the moment two workers write the same unique key. Returns what `work` returned, or raises what it raised."""
    result: dict[str, Any] = {}

    def this_worker() -> None:
        try:
            result["value"] = work()
        except Exception as error:  # noqa: BLE001  (raised again below, in the test's thread)
            result["error"] = error
    other = create_engine(database_url)
    try:
        with other.connect() as connection:
            pending = connection.begin()
            connection.execute(text(insert), params)
            thread = threading.Thread(target=this_worker)
            thread.start()
            with other.connect() as watcher:
                wait_for(lambda: watcher.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = "
                    "current_database()")).scalar() == 1, timeout=30, what="this worker's write to wait")
            pending.commit()
            thread.join(timeout=30)
    finally:
        other.dispose()
    if "error" in result:
        raise result["error"]
    return result["value"]


def test_two_workers_reading_the_same_new_product_at_once_both_go_on(postgres_url, one_shop):
    """Two orders of one product, taken by two workers at the same moment: both read the product from the shop and
    cache it. The second insert meets the first's unique key; it must not fail the order it belongs to."""
    bridge, shop_row = one_shop
    price = Money(1990, "EUR")
    line = OrderLine("1", "12", None, "COFFEE-CLUB-M", "Coffee Club Monthly", 1, price, price, Money.zero("EUR"))
    found = while_another_worker_writes(
        postgres_url, "INSERT INTO product_cache (shop_id, product_id, sku, name, fetched_at) "
        "VALUES (:shop, '12', 'COFFEE-CLUB-M', 'Coffee Club Monthly', now())", {"shop": shop_row.id},
        lambda: catalog.resolve_terms(bridge, shop_row.id, bridge.shop_adapter(shop_row), (line,)))
    [terms] = found.values()
    assert (terms.terms.unit, terms.terms.every) == ("month", 1)


def test_two_workers_taking_news_of_the_same_order_at_once_lose_none_of_it(postgres_url, one_shop):
    """WooCommerce sends order.created and order.updated at checkout, often with different bodies: two stored
    deliveries of one order, which two workers may take at the same moment. The one that writes the order second
    meets the first's unique key; its delivery must be taken again, not given up."""
    bridge, shop_row = one_shop
    delivery = woo_delivery("0005_order-created")  # order 14, one subscription line
    intake.receive_webhook(bridge, shop_row, bridge.shop_adapter(shop_row), delivery.header_map, delivery.body)
    processed = while_another_worker_writes(
        postgres_url, "INSERT INTO shop_orders (shop_id, order_id, number, status, state, paid, currency, "
        "total_minor, data, updated_at) VALUES (:shop, '14', '14', 'processing', 'open', true, 'EUR', 1990, '{}', "
        "now())", {"shop": shop_row.id}, lambda: intake.process_pending(bridge))
    with bridge.db.read() as uow:
        [delivery_row] = uow.session.execute(text("SELECT state, outcome FROM deliveries")).all()
    assert processed == 1 and tuple(delivery_row) == ("received", "retry_later")
    assert intake.process_pending(bridge) == 1  # the next pass
    with bridge.db.read() as uow:
        assert uow.session.execute(text("SELECT count(*) FROM agreements WHERE order_id = '14'")).scalar() == 1
