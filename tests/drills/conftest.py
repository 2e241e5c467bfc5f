"""Fault drills: abonne in real processes (`abonne serve --no-worker`, `abonne worker`) next to the stand-in shop and
the stand-in myPOS, or in one process with a travelling clock where the drill is about time; each ends on the same
three numbers (tests/drills/invariants.py)."""
from __future__ import annotations

import re
import secrets
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import update

from adapters.mypos.standin import MyPosStandin, customer_pays, read_form, submit_auto_form
from adapters.woocommerce.standin import WooCommerceStandin
from bridge.cli import main as cli_main
from bridge.ports import HostedForm
from bridge.services import janitor
from bridge.store.tables import Charge, Delivery, OutboxMessage
from tests.drills.invariants import Tally, tally
from tests.integration.conftest import (  # noqa: F401  the in-process fixtures, for the drills about time
    BILLING, CK, CS, VISA, abonne, clock, configured, database_url, mypos, postgres_url, sqlite_url, woo,
)
from tests.shops.abonne_process import AbonneProcesses
from tests.shops.proxy import ForwardProxy

WEBHOOK_SECRET = "drill-secret"
PAY_LINK = re.compile(r"(http://\S+/pay/\S+?)\s")


@dataclass
class Rig:
    """One abonne installation in real processes, its shop connected with webhooks and its gateway set."""

    abonne: AbonneProcesses
    woo: WooCommerceStandin
    mypos: MyPosStandin
    shop_id: int
    product_id: int

    def pay_link(self, order_id: int) -> str:
        links = lambda: [found.group(1) for note in self.woo.notes(order_id) if note.customer_note
                         for found in [PAY_LINK.search(note.note + " ")] if found]
        return self.abonne.wait_for(links, f"a customer note with the pay link on order {order_id}")[0]

    def subscribe(self, customers: int) -> list[int]:
        """`customers` customers order the subscription and pay on the hosted page; their agreements' ids, active."""
        return self.subscribe_existing([
            self.woo.place_order(customer={**BILLING, "email": f"drill{n}@example.test"},
                                 lines=[(self.product_id, 1)], payment_method="mypos") for n in range(customers)])

    def subscribe_existing(self, orders: list[int]) -> list[int]:
        """The customers of these shop orders pay from the link in their order's note; the agreements, active."""
        customers = len(orders)
        for order_id in orders:
            page = requests.get(self.pay_link(order_id), timeout=10)
            action, fields = read_form(page.text)
            submit_auto_form(customer_pays(HostedForm(action, tuple(fields)), card=VISA, exp="12/30"))
        placeholders = ", ".join(f"'{order_id}'" for order_id in orders)
        return self.abonne.wait_for(
            lambda: (rows := self.abonne.rows(f"SELECT id, state FROM agreements WHERE order_id IN ({placeholders}) "
                                              "ORDER BY id")) and len(rows) == customers
            and all(row["state"] == "active" for row in rows) and [row["id"] for row in rows],
            f"{customers} agreements to become active")

    def make_due(self, agreement_ids: list[int]) -> None:
        for agreement_id in agreement_ids:
            self.abonne.make_due(agreement_id)

    def settled(self) -> bool:
        """Nothing open: no charge pending or unknown, nothing left in the outbox, no delivery unprocessed."""
        return self.abonne.scalar(
            "SELECT (SELECT count(*) FROM charges WHERE state IN ('pending', 'unknown')) + "
            "(SELECT count(*) FROM outbox WHERE state = 'pending') + "
            "(SELECT count(*) FROM deliveries WHERE state = 'received')") == 0

    def tally(self) -> Tally:
        self.woo.flush_deliveries()
        return tally(self.abonne.engine, self.woo, self.mypos)

    # Time the recovery would have to wait for, simulated by moving the rows' own timestamps (what waiting changes).

    def query_unknown_charges_now(self) -> None:
        """As if the janitor's next status query of every unknown charge were due."""
        with self.abonne.engine.begin() as connection:
            connection.execute(update(Charge).where(Charge.state == "unknown")
                               .values(next_check_at=datetime.now(timezone.utc) - timedelta(seconds=1)))

    def abandon_pending_charges(self) -> None:
        """As if janitor.NEVER_SEEN_AFTER had passed since the pending charges were written ahead."""
        with self.abonne.engine.begin() as connection:
            connection.execute(update(Charge).where(Charge.state == "pending")
                               .values(created_at=datetime.now(timezone.utc) - janitor.NEVER_SEEN_AFTER
                                       - timedelta(minutes=1)))

    def end_leases(self) -> None:
        """As if every lease had ended: outbox messages and deliveries claimed by a pass that failed half-way."""
        now = datetime.now(timezone.utc) - timedelta(seconds=1)
        with self.abonne.engine.begin() as connection:
            connection.execute(update(OutboxMessage).where(OutboxMessage.state == "pending",
                                                           OutboxMessage.next_attempt_at > now)
                               .values(next_attempt_at=now))
            connection.execute(update(Delivery).where(Delivery.state == "received", Delivery.next_attempt_at > now)
                               .values(next_attempt_at=now))


class DrillProcesses(AbonneProcesses):
    """The web and worker are real processes; the setup commands (`abonne migrate`, `gateway set`, `shop add`) run
    in the test's process, on the same settings, because starting an interpreter for each costs seconds here."""

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = CliRunner().invoke(cli_main, list(args), env=self.env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, f"abonne {' '.join(args)} exited {result.exit_code}:\n{result.output}"
        return subprocess.CompletedProcess(["abonne", *args], result.exit_code, result.output, "")


@contextmanager
def running_rig(home: Path, database_url: str, **env: str) -> Iterator[Rig]:
    """Stand-ins, abonne's web and worker processes (with `env` added), gateway and shop set up through the CLI."""
    proxy = ForwardProxy()
    mypos = MyPosStandin.start(hang_seconds=3.0, threads=16)
    woo = WooCommerceStandin(delivery_delay_s=0.01)
    woo.start(CK, CS)
    processes = DrillProcesses(home, database_url, proxy.url)
    processes.env.update({"ABONNE_SECRET_KEY": secrets.token_urlsafe(32), **env})
    try:
        processes.start_web()
        processes.set_gateway(mypos)
        added = processes.cli("shop", "add", "--platform", "woocommerce", "--url", woo.url, "--consumer-key", CK,
                              "--consumer-secret", CS, "--webhook-secret", WEBHOOK_SECRET, "--register-webhooks")
        shop_id = int(re.search(r"shop (\d+) added", added.stdout).group(1))
        product_id = woo.add_product("Coffee Club Monthly", "19.90", "COFFEE-CLUB-M",
                                     meta={"_subscription_period": "month", "_subscription_period_interval": "1"})
        processes.start_worker()
        yield Rig(processes, woo, mypos, shop_id, product_id)
    finally:
        processes.dispose()
        woo.stop()
        mypos.stop()
        proxy.stop()
