"""abonne over real HTTP with a real database, next to the stand-in shop and the stand-in myPOS."""
from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from adapters.mypos.standin import MyPosStandin, customer_pays, read_form, submit_auto_form
from adapters.woocommerce.standin import WooCommerceStandin
from bridge.app import build_bridge, create_app
from bridge.cli import main as cli_main
from bridge.clock import SettableClock
from bridge.config import Settings
from bridge.context import Bridge
from bridge.ports import HostedForm
from bridge.serving import RunningServer, serve_in_thread
from bridge.store.db import migrate
from bridge.worker import start_in_thread
from tests.fixture_files import MYPOS
from tests.waiting import wait_for

CK = "ck_f9e4731437e9d43d89a65d490b0c167a6e00b1c9"
CS = "cs_a97fc6d7dc88f0d6fadd29da2d5d47baba6fbb47"
START = datetime(2027, 1, 31, 9, 0, tzinfo=timezone.utc)
VISA = "4006090000000007"
POSTGRES_SETTING = "ABONNE_TEST_DATABASE_URL"




@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'abonne.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    admin_url = os.environ.get(POSTGRES_SETTING)
    if not admin_url:
        pytest.skip(f"set {POSTGRES_SETTING} (CI sets it to the local PostgreSQL) to run the PostgreSQL tests")
    url = make_url(admin_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    name = f"abonne_test_{secrets.token_hex(6)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


class _LateApp:
    """The server must listen before the app exists: its port is the public URL the app hands out."""

    app: Any = None

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        return self.app(environ, start_response)


@dataclass
class BridgeUnderTest:
    bridge: Bridge
    server: RunningServer
    env: dict[str, str]
    clock: SettableClock
    app: Any = None
    worker_thread: Any = None
    worker_stop: Any = None

    def stop_worker(self) -> None:
        """Stop the embedded worker (the web server keeps serving), e.g. so that another worker process is the
        only one that renews."""
        self.worker_stop.set()
        self.bridge.wake_worker.set()
        self.worker_thread.join(timeout=30)

    def go_offline(self) -> None:
        """Stop answering HTTP (the worker keeps running), as when abonne's host is down for shops."""
        self.server.stop()

    def come_back(self) -> None:
        self.server = serve_in_thread(self.app, port=self.server.port)

    @property
    def url(self) -> str:
        return self.server.url

    def cli(self, *args: str) -> Result:
        """An `abonne` command on this bridge: same database, same travelling clock."""
        return CliRunner().invoke(cli_main, list(args), env=self.env, obj=self.bridge, catch_exceptions=False)

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.bridge.db.read_engine.connect() as connection:  # polls must not take the write lock
            return connection.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.bridge.db.read_engine.connect() as connection:
            return list(connection.execute(text(sql), params).mappings())


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(START)


@pytest.fixture
def abonne(database_url: str, tmp_path: Path, clock: SettableClock) -> Iterator[BridgeUnderTest]:
    """abonne as `abonne serve` runs it: the web app on waitress and the embedded worker, one database."""
    late = _LateApp()
    server = serve_in_thread(late)
    env = {"ABONNE_DATABASE_URL": database_url, "ABONNE_SECRET_KEY": secrets.token_urlsafe(32),
           "ABONNE_PUBLIC_URL": server.url, "ABONNE_INSTANCE_PATH": str(tmp_path / "instance")}
    # A short gateway timeout, so the stand-in's hanging faults are real client timeouts in a second.
    settings = replace(Settings.from_env(env), worker_interval_seconds=0.05, gateway_timeout_seconds=1.0)
    migrate(database_url)
    bridge = build_bridge(settings, clock)
    late.app = create_app(bridge)
    thread, stop = start_in_thread(bridge)
    try:
        under_test = BridgeUnderTest(bridge, server, env, clock, late, thread, stop)
        yield under_test
    finally:
        stop.set()
        bridge.wake_worker.set()
        under_test.server.stop()
        bridge.db.dispose()


@pytest.fixture
def woo() -> Iterator[WooCommerceStandin]:
    # The shop keeps real time, as a real one does (OAuth refuses timestamps 15 minutes off); abonne travels.
    standin = WooCommerceStandin(delivery_delay_s=0.01)
    standin.start(CK, CS)
    yield standin
    standin.stop()


@pytest.fixture
def mypos(clock: SettableClock) -> Iterator[MyPosStandin]:
    standin = MyPosStandin.start(clock=clock.now, hang_seconds=3.0)
    yield standin
    standin.stop()


@pytest.fixture
def configured(abonne: BridgeUnderTest, woo: WooCommerceStandin, mypos: MyPosStandin,
               tmp_path: Path) -> "Configured":
    """A shop connected through the CLI with its webhooks registered, and the gateway pointing at the stand-in."""
    certificate = tmp_path / "mypos-standin.pem"
    certificate.write_text(mypos.certificate_pem)
    result = abonne.cli("gateway", "set", "--sid", "000000000000010", "--wallet-number", "61938166610",
                        "--key-index", "1", "--private-key", str(MYPOS / "test-merchant-private-key.pem"),
                        "--certificate", str(certificate), "--endpoint", mypos.endpoint)
    assert result.exit_code == 0, result.output
    result = abonne.cli("shop", "add", "--platform", "woocommerce", "--url", woo.url, "--consumer-key", CK,
                        "--consumer-secret", CS, "--webhook-secret", "hook-secret-1", "--register-webhooks")
    assert result.exit_code == 0, result.output
    shop_id = int(re.search(r"shop (\d+) added", result.output).group(1))
    subscription = woo.add_product("Coffee Club Monthly", "19.90", "COFFEE-CLUB-M",
                                   meta={"_subscription_period": "month", "_subscription_period_interval": "1"})
    mug = woo.add_product("Coffee Mug", "12.50", "MUG-1")
    return Configured(abonne, woo, mypos, shop_id, subscription, mug)


@dataclass
class Configured:
    abonne: BridgeUnderTest
    woo: WooCommerceStandin
    mypos: MyPosStandin
    shop_id: int
    subscription_product: int
    mug_product: int

    def customer_note_link(self, order_id: int) -> str:
        def link() -> str | None:
            for note in self.woo.notes(order_id):
                if note.customer_note and "/pay/" in note.note:
                    return re.search(r"(http://\S+/pay/\S+?)\s", note.note + " ").group(1)
            return None
        return wait_for(link, what=f"a customer note with a pay link on order {order_id}")

    def agreements(self, order_id: int) -> list[Any]:
        return self.abonne.rows("SELECT * FROM agreements WHERE order_id = :o ORDER BY id", o=str(order_id))

    def subscribe(self, lines: list[tuple[int, int]], card: str = VISA, exp: str = "12/30",
                  **order: Any) -> tuple[int, list[int]]:
        """A customer orders, opens the pay link from the shop's note, pays on the hosted page. Returns the shop
        order id and the ids of its agreements, once they are active."""
        order_id = self.woo.place_order(customer=BILLING, lines=lines, payment_method="mypos", **order)
        page = requests.get(self.customer_note_link(order_id), timeout=10)
        action, fields = read_form(page.text)
        submit_auto_form(customer_pays(HostedForm(action, tuple(fields)), card=card, exp=exp))
        rows = wait_for(lambda: (found := self.agreements(order_id)) and all(a["state"] != "awaiting_card"
                                                                               for a in found) and found,
                        what=f"the agreements of order {order_id} to activate")
        return order_id, [row["id"] for row in rows]

    def agreement(self, agreement_id: int) -> dict[str, Any]:
        return json.loads(self.abonne.cli("agreements", "show", str(agreement_id), "--json").output)


BILLING = {"first_name": "Maria", "last_name": "Ivanova", "address_1": "12 Vitosha Blvd", "city": "Sofia",
           "postcode": "1000", "country": "BG", "email": "maria.ivanova@example.test", "phone": "+359888123456"}


def http() -> requests.Session:
    return requests.Session()
