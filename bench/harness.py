"""What the end-to-end benchmarks share: a fresh PostgreSQL database, the stand-in myPOS and WooCommerce each in a
child process, the owner's setup through the CLI, due agreements written in bulk, and `abonne worker` processes.

Run as a script only by bench.child.Child (`--serve-standin shop`): the stand-in WooCommerce in its own process,
so it does not share the benchmark's or the workers' interpreter lock.
"""
from __future__ import annotations

import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.child import Child  # noqa: E402
from bench.renewals import Database, Standin, postgres_admin_url  # noqa: E402
from bench.results import record  # noqa: E402

ABONNE = str(ROOT / ".venv/bin/abonne")


def serve_shop() -> None:
    """Child process: the stand-in WooCommerce, one JSON line per command."""
    from adapters.woocommerce.standin import WooCommerceStandin
    from tests.integration.conftest import BILLING, CK, CS
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    standin = WooCommerceStandin(first_post_id=11)
    standin.start(CK, CS)
    print(json.dumps({"url": standin.url}), flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "product":
            reply: Any = standin.add_product("Coffee Club Monthly", "19.90", f"CLUB-{secrets.token_hex(3)}")
        elif command == "parents":
            product, count = map(int, argument.split())
            reply = [standin.place_order(customer=BILLING, lines=[(product, 1)], payment_method="cod")
                     for _ in range(count)]
        elif command == "renewals":  # renewal orders abonne created (they name a parent)
            with standin.shop.lock:
                reply = sum(1 for order in standin.shop.orders.values() if order.parent_id)
        else:
            reply = f"unknown command {command!r}"
        print(json.dumps(reply), flush=True)
    standin.stop()


class ShopChild(Child):
    def __init__(self) -> None:
        super().__init__(__file__, "shop")
        self.url = self.hello["url"]


@dataclass
class Setup:
    """One fresh database with the gateway and a shop connected, and the environment a worker process needs."""
    database: Database
    env: dict[str, str]
    shop_id: int
    bridge: Any = None

    def drop(self) -> None:
        if self.bridge is not None:
            self.bridge.db.dispose()
        self.database.drop()


def connect(admin_url: str, work: Path, mypos: Standin, shop: ShopChild, extra_env: dict[str, str]) -> Setup:
    """A fresh database; the gateway and the shop connected through the CLI as the owner connects them."""
    from bridge.app import build_bridge
    from bridge.config import Settings
    from bridge.store.db import migrate
    from tests.integration.test_worker_race import connect_gateway_and_shop

    database = Database("postgresql", work, admin_url)
    env = {"ABONNE_DATABASE_URL": database.url, "ABONNE_SECRET_KEY": secrets.token_urlsafe(32),
           "ABONNE_PUBLIC_URL": "http://127.0.0.1:9", "ABONNE_INSTANCE_PATH": str(work / "instance"), **extra_env}
    migrate(database.url)
    shop_id = connect_gateway_and_shop(env, mypos, shop, work)  # duck-typed: endpoint and certificate, url
    setup = Setup(database, env, shop_id)
    setup.bridge = build_bridge(Settings.from_env(env))
    return setup


def seed(setup: Setup, mypos: Standin, shop: ShopChild, count: int) -> None:
    """`count` active agreements, each with its own card in the stand-in myPOS and its own paid parent order in the
    stand-in shop, due far in the future: `make_due` starts the clock once the workers are idle."""
    from sqlalchemy import update

    from bridge.store.tables import Shop
    from tests.integration.test_worker_race import seed_due_agreements
    product = shop.ask("product")
    parents: list[int] = []
    tokens: list[str] = []
    for start in range(0, count, 5000):
        size = min(5000, count - start)
        parents += shop.ask(f"parents {product} {size}")
        tokens += mypos.ask(f"cards {size}")
        seed_due_agreements(setup.bridge, setup.shop_id, str(product), tokens[start:start + size],
                            [str(p) for p in parents[start:start + size]],
                            datetime.now(timezone.utc) + timedelta(days=3650))
    # abonne saw the parent orders long ago (their agreements exist): the starting workers' reconcile poll, which
    # is not what is measured, starts after them.
    now = datetime.now(timezone.utc)
    with setup.bridge.db.engine.begin() as connection:
        connection.execute(update(Shop).values(reconciled_until=now + timedelta(seconds=1),
                                               reconcile_due_at=now + timedelta(days=1)))


def make_due(setup: Setup) -> None:
    from sqlalchemy import update

    from bridge.store.tables import Agreement
    with setup.bridge.db.engine.begin() as connection:
        connection.execute(update(Agreement).values(next_charge_at=datetime.now(timezone.utc) - timedelta(minutes=1)))


def progress(setup: Setup) -> tuple[int, int]:
    """(renewal charges succeeded, renewal orders pushed into the shop)."""
    from sqlalchemy import func, select

    from bridge.store.tables import Charge, OutboxMessage
    with setup.bridge.db.read() as uow:
        charged = uow.session.scalar(select(func.count()).select_from(Charge).where(
            Charge.state == "succeeded", Charge.cycle > 1))
        pushed = uow.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == "renewal_order", OutboxMessage.state == "done"))
    return charged, pushed


@dataclass
class Workers:
    """`abonne worker` processes, as an operator runs them."""
    processes: list[subprocess.Popen] = field(default_factory=list)

    @classmethod
    def start(cls, count: int, env: dict[str, str]) -> Workers:
        workers = cls([subprocess.Popen([ABONNE, "worker"], env={**os.environ, **env}, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True) for _ in range(count)])
        for process in workers.processes:
            line = process.stdout.readline()
            assert "worker running" in line, f"a worker did not start: {line!r}"
        return workers

    def rss_kib(self) -> list[int]:
        sizes = []
        for process in self.processes:
            status = Path(f"/proc/{process.pid}/status").read_text()
            sizes.append(int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)))
        return sizes

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(process.pid) for process in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_pushed(setup: Setup, count: int, started: float, timeout_s: float,
                      on_sample: Any = None) -> list[tuple[float, int, int]]:
    """Samples (seconds since start, charged, pushed) every quarter second until `count` renewal orders are pushed."""
    samples = []
    while True:
        charged, pushed = progress(setup)
        now = time.perf_counter() - started
        samples.append((round(now, 2), charged, pushed))
        if on_sample is not None:
            on_sample(now)
        if pushed >= count:
            return samples
        if now > timeout_s:
            raise TimeoutError(f"{pushed} of {count} renewal orders pushed after {timeout_s:.0f} s "
                               f"({charged} charged)")
        time.sleep(0.25)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_cpu_seconds(database_url: str | None) -> float:
    """CPU time used so far by the PostgreSQL backends connected to this database (other than this look)."""
    if database_url is None:
        return 0.0
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            pids = connection.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :name AND pid <> "
                                           "pg_backend_pid()"), {"name": make_url(database_url).database}).scalars()
            return sum(cpu_seconds(pid) for pid in pids)
    finally:
        engine.dispose()


def finish(title: str, setup_text: str, figures: dict[str, Any], load_before: float) -> None:
    """Print the figures and record them in bench/RESULTS.md, with the load the shared machine carried."""
    figures["load average (1 min) before / after"] = f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    record(title, setup_text, figures)


def admin_url_or_exit() -> str:
    url = postgres_admin_url(None)
    if url is None:
        raise SystemExit("these benchmarks need PostgreSQL: set ABONNE_TEST_DATABASE_URL "
                         "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    return url


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve-standin", "shop"]:
        serve_shop()
    else:
        raise SystemExit("bench/harness.py is a library; it runs as a script only as the stand-in shop's process")
