"""10,000 forged, malformed, oversized and replayed requests against abonne serving on a real database, with a
WooCommerce, a PrestaShop and an OpenCart shop and the myPOS gateway configured: not one answer 5xx, and not one
row written beyond what the valid originals wrote before the run (their faithful replays are answered as
duplicates and only count on the stored delivery)."""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select, text

from adapters.module_events import signed_headers
from adapters.mypos.standin import _self_signed_certificate
from bridge.app import build_bridge, create_app
from bridge.clock import SettableClock
from bridge.config import Settings
from bridge.serving import serve_in_thread
from bridge.services import setup
from bridge.store.db import migrate
from bridge.context import Bridge
from bridge.store.tables import Base, Delivery, Shop
from tests.fixture_files import MYPOS, woo_delivery
from tests.fuzz.bad_requests import Original, Targets, probes, send_all
from tests.integration.conftest import database_url, postgres_url, sqlite_url  # noqa: F401 - fixtures
from tests.unit.test_module_events import order_event

# The full run on SQLite; on PostgreSQL the same mix, shorter, to keep CI's time (the figures come from SQLite).
REQUESTS = {"sqlite": 10_000, "postgresql": 2_000}
SEED = 20271125


def _module_event(platform: str) -> bytes:
    event = json.loads(order_event())
    event["platform"] = platform
    return json.dumps(event).encode()


def _as_sent(captured: dict[str, str]) -> dict[str, str]:
    """A captured delivery's own headers, without those of its connection (length, host, close)."""
    return {name: value for name, value in captured.items()
            if name.lower() not in ("host", "connection", "content-length")}


def _row_counts(bridge) -> dict[str, int]:
    with bridge.db.read_engine.connect() as connection:
        return {table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                for table in Base.metadata.sorted_tables}


def _deliveries(bridge) -> dict[str, tuple]:
    with bridge.db.read_engine.connect() as connection:
        return {row.business_key: (row.id, row.body, row.state, row.duplicates) for row in connection.execute(
            select(Delivery.business_key, Delivery.id, Delivery.body, Delivery.state, Delivery.duplicates))}


@dataclass
class Served:
    bridge: Bridge
    url: str
    clock: SettableClock
    woo: Shop
    prestashop: Shop
    opencart: Shop
    mypos_key: rsa.RSAPrivateKey


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:  # noqa: F811
    """abonne serving its endpoints (as `abonne serve --no-worker`: nothing processes what is stored) with a
    WooCommerce, a PrestaShop and an OpenCart shop and the myPOS gateway configured, on a clock held still."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    clock = SettableClock(now)
    env = {"ABONNE_DATABASE_URL": database_url, "ABONNE_SECRET_KEY": secrets.token_urlsafe(32),
           "ABONNE_PUBLIC_URL": "http://127.0.0.1:9", "ABONNE_INSTANCE_PATH": str(tmp_path / "instance")}
    migrate(database_url)
    bridge = build_bridge(Settings.from_env(env), clock)
    server = serve_in_thread(create_app(bridge), threads=8)
    try:
        mypos_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        setup.set_gateway(bridge, {
            "sid": "000000000000010", "wallet_number": "61938166610", "key_index": "1",
            "private_key_pem": (MYPOS / "test-merchant-private-key.pem").read_text(),
            "certificate_pem": _self_signed_certificate(mypos_key, now),
            "endpoint": "https://mypos.example.com/vmp/checkout-test"})
        woo = setup.add_shop(bridge, "woocommerce", {"url": "http://127.0.0.1:9", "consumer_key": "ck_" + "a" * 40,
                                                     "consumer_secret": "cs_" + "b" * 40,
                                                     "webhook_secret": woo_delivery("0004_order-created").secret})
        presta = setup.add_shop(bridge, "prestashop", {"url": "http://127.0.0.1:9", "webservice_key": "K" * 32,
                                                       "webhook_secret": "prestashop-module-secret"})
        opencart = setup.add_shop(bridge, "opencart", {"url": "http://127.0.0.1:9", "api_username": "Default",
                                                       "api_key": "k" * 64, "webhook_secret": "opencart-secret"})
        yield Served(bridge, server.url, clock, woo, presta, opencart, mypos_key)
    finally:
        server.stop()
        bridge.db.dispose()


def test_ten_thousand_bad_requests_get_no_5xx_and_write_no_row(served: Served, database_url: str,  # noqa: F811
                                                                tmp_path: Path):
    bridge, woo, presta, opencart = served.bridge, served.woo, served.prestashop, served.opencart
    stamp = int(served.clock.now().timestamp())
    order, ping = woo_delivery("0004_order-created"), woo_delivery("0001_ping")
    order_headers, ping_headers = _as_sent(order.header_map), _as_sent(ping.header_map)
    originals = [
        Original("woocommerce order.created", f"/webhooks/woocommerce/{woo.id}", order_headers, order.body,
                 "woocommerce", order.secret),
        Original("woocommerce ping", f"/webhooks/woocommerce/{woo.id}", ping_headers, ping.body, "ping", ""),
    ]
    for platform, shop, secret in (("prestashop", presta, "prestashop-module-secret"),
                                   ("opencart", opencart, "opencart-secret")):
        body = _module_event(platform)
        originals.append(Original(f"{platform} order.created", f"/webhooks/{platform}/{shop.id}",
                                  signed_headers(secret, stamp, body, "evt-original"), body, platform, secret))
    for original in originals:  # the valid deliveries, once: they are what may be in the database
        answer = requests.post(served.url + original.path, headers=original.headers, data=original.body, timeout=10)
        assert answer.status_code == 200 and answer.json()["status"] in ("stored", "ping"), answer.text
    rows_before, deliveries_before = _row_counts(bridge), _deliveries(bridge)
    assert len(deliveries_before) == 3
    targets = Targets(woo.id, presta.id, opencart.id, originals, served.mypos_key,
                      rsa.generate_private_key(public_exponent=65537, key_size=2048), stamp,
                      bridge.links.sign("pay", {"c": 424242}, issued_at=stamp))

    count = REQUESTS["sqlite" if database_url.startswith("sqlite") else "postgresql"]
    figures = send_all(served.url, probes(targets, count, SEED), threads=4)

    report = figures.text()
    print(f"\n{report}")
    (tmp_path / "bad_requests.txt").write_text(report + "\n")
    assert figures.requests == count
    assert figures.errors == []  # no 5xx, and no request left unanswered
    assert _row_counts(bridge) == rows_before
    for original in originals:  # every faithful replay of a stored delivery was answered as a duplicate
        if original.platform != "ping":
            assert figures.replays[original.name] == figures.replays_sent[original.name] > 0
    after = _deliveries(bridge)
    for key, (row_id, body, state, duplicates) in deliveries_before.items():
        assert after[key][:3] == (row_id, body, state)  # the stored deliveries themselves are untouched...
    assert sum(row[3] - deliveries_before[key][3] for key, row in after.items()) == \
        figures.duplicates  # ...but for counting each replay (junk around a valid delivery is still one)


def test_a_flood_of_unsigned_pings_records_one_event_a_minute(served: Served):
    """Found by the run: every unsigned WooCommerce ping wrote an event row."""
    path = f"{served.url}/webhooks/woocommerce/{served.woo.id}"
    with requests.Session() as session:
        for webhook_id in range(50):
            assert session.post(path, data=f"webhook_id={webhook_id}").json()["status"] == "ping"
        served.clock.advance(timedelta(seconds=61))
        assert session.post(path, data="webhook_id=1").status_code == 200
    with served.bridge.db.read_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM events WHERE kind = 'webhook_ping'")).scalar() == 2


def test_a_shop_id_past_any_database_integer_is_an_unknown_shop(served: Served):
    """Found by the run: /webhooks/woocommerce/<60 nines> overflowed the database driver: a 500."""
    for shop_id in ("9" * 60, str(2**31), str(2**63)):
        answer = requests.post(f"{served.url}/webhooks/woocommerce/{shop_id}", data=b"{}", timeout=10)
        assert answer.status_code == 404 and answer.headers["Content-Type"] == "application/json"
