"""Four real `abonne worker` processes race over 2,000 due agreements in one PostgreSQL (I2, I7).

Each agreement must be charged exactly once: the stand-in myPOS receives exactly one IPCIAPurchase per agreement and
its ledger holds exactly 2,000 paid ones, the charges table one succeeded charge per agreement and no other attempt.
Then the shop (down while they charged) comes back, the workers push renewal orders, racing too, and are killed
with SIGKILL once some have been pushed: every renewal order reached the stand-in shop at most once.

The agreements are written straight into the database (already active, card tokens registered in the stand-in
myPOS, due a minute ago), with their parent orders in the stand-in shop. To show that the workers really raced,
the test's throw-away database stamps each charge row with the PostgreSQL application_name of the session that
inserted it (a column default the code does not know about), and each worker connects under its own name.
"""
from __future__ import annotations

import os
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, Sequence

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import make_url

from adapters.mypos.standin import MyPosStandin
from adapters.woocommerce.standin import WooCommerceStandin
from bridge.app import build_bridge
from bridge.cli import main as cli_main
from bridge.config import Settings
from bridge.context import Bridge
from bridge.store.db import migrate
from bridge.store.tables import Agreement, Charge, Checkout, OutboxMessage, Shop, ShopOrderRecord
from tests.fixture_files import MYPOS
from tests.integration.conftest import BILLING, CK, CS, POSTGRES_SETTING, VISA
from tests.integration.test_kill_drills import WorkerProcess

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get(POSTGRES_SETTING), reason=(
        f"workers race only on PostgreSQL (SQLite has a single writer, so there is nothing to race): set "
        f"{POSTGRES_SETTING}, as CI does, to run it")),
]

AGREEMENTS = 2000
WORKERS = 4
PUSHED = 200  # renewal orders the workers push (racing too) before they are killed
PRICE_MINOR = 1990  # 19.90 EUR: an amount the stand-in myPOS approves


def seed_due_agreements(bridge: Bridge, shop_id: int, product_id: str, card_tokens: Sequence[str],
                        parent_order_ids: Sequence[str], due_at: datetime, net_minor: int = PRICE_MINOR) -> list[int]:
    """Active monthly agreements, one per card token, whose second cycle is due at `due_at`, written straight into
    the database as the pay flow would have left them (shop order record, paid checkout, agreement). Returns their
    ids. For load: the harness's customer flow makes one agreement at a time. `net_minor`: the line's price before
    the shop's tax (19.90 everywhere, tax 0, unless the shop adds tax to it)."""
    anchor = due_at - timedelta(days=30)
    address = {field: BILLING.get(field, "") for field in ("first_name", "last_name", "company", "address_1",
                                                           "address_2", "city", "state", "postcode", "country",
                                                           "email", "phone")}
    line = {"line_id": "1", "product_id": product_id, "variation_id": None, "sku": "COFFEE-CLUB-M",
            "name": "Coffee Club Monthly", "quantity": 1, "total_minor": PRICE_MINOR, "tax_minor": 0,
            "subtotal_minor": PRICE_MINOR}
    with bridge.db.engine.begin() as connection:
        records = connection.execute(insert(ShopOrderRecord).returning(ShopOrderRecord.id,
                                                                        sort_by_parameter_order=True), [
            {"shop_id": shop_id, "order_id": order_id, "number": order_id, "status": "processing", "state": "open",
             "paid": True, "currency": "EUR", "total_minor": PRICE_MINOR, "updated_at": anchor,
             "data": {"customer_id": None, "billing": address, "shipping": address, "lines": [line]}}
            for order_id in parent_order_ids]).scalars().all()
        checkouts = connection.execute(insert(Checkout).returning(Checkout.id, sort_by_parameter_order=True), [
            {"shop_order_pk": record, "gateway_order_id": f"seed-{secrets.token_hex(8)}", "state": "paid",
             "mode": "pay_and_store", "amount_minor": PRICE_MINOR, "currency": "EUR", "created_at": anchor,
             "paid_at": anchor} for record in records]).scalars().all()
        return connection.execute(insert(Agreement).returning(Agreement.id, sort_by_parameter_order=True), [
            {"shop_id": shop_id, "order_id": order_id, "line_id": "1", "shop_order_pk": record,
             "checkout_id": checkout, "plan_name": "Coffee Club Monthly", "product_id": product_id,
             "product_name": "Coffee Club Monthly", "quantity": 1, "currency": "EUR", "amount_minor": PRICE_MINOR,
             "net_minor": net_minor, "period_unit": "month", "period_every": 1, "state": "active",
             "cycles_paid": 1, "started_at": anchor, "anchor_at": anchor, "anchor_cycle": 1,
             "next_charge_at": due_at, "card_token_encrypted": bridge.vault.encrypt(token), "card_last4": VISA[-4:],
             "card_exp": "3012", "card_type": "3", "customer_email": BILLING["email"],
             "customer_name": f"{BILLING['first_name']} {BILLING['last_name']}", "created_at": anchor,
             "updated_at": anchor}
            for order_id, record, checkout, token in zip(parent_order_ids, records, checkouts, card_tokens)
        ]).scalars().all()


def connect_gateway_and_shop(env: dict[str, str], mypos: MyPosStandin, woo: WooCommerceStandin,
                             work: Path) -> int:
    """The owner's setup through the CLI; returns the shop id."""
    certificate = work / "mypos-standin.pem"
    certificate.write_text(mypos.certificate_pem)
    runner = CliRunner()
    result = runner.invoke(cli_main, ["gateway", "set", "--sid", "000000000000010", "--wallet-number",
                                      "61938166610", "--key-index", "1", "--private-key",
                                      str(MYPOS / "test-merchant-private-key.pem"), "--certificate",
                                      str(certificate), "--endpoint", mypos.endpoint], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli_main, ["shop", "add", "--platform", "woocommerce", "--url", woo.url,
                                      "--consumer-key", CK, "--consumer-secret", CS, "--webhook-secret", "s"], env=env)
    assert result.exit_code == 0, result.output
    return int(re.search(r"shop (\d+) added", result.output).group(1))


@dataclass
class Race:
    bridge: Bridge
    env: dict[str, str]
    mypos: MyPosStandin
    woo: WooCommerceStandin
    agreement_ids: list[int]
    tmp_path: Path

    def scalar(self, sql: str) -> int:
        with self.bridge.db.engine.connect() as connection:
            return connection.execute(text(sql)).scalar()


@pytest.fixture
def race(postgres_url: str, tmp_path: Path) -> Iterator[Race]:
    env = {"ABONNE_DATABASE_URL": postgres_url, "ABONNE_SECRET_KEY": secrets.token_urlsafe(32),
           "ABONNE_PUBLIC_URL": "http://127.0.0.1:9", "ABONNE_INSTANCE_PATH": str(tmp_path / "instance")}
    migrate(postgres_url)
    bridge = build_bridge(Settings.from_env(env))
    mypos = MyPosStandin.start(threads=16)
    woo = WooCommerceStandin(delivery_delay_s=0.01)
    woo.start(CK, CS)
    try:
        shop_id = connect_gateway_and_shop(env, mypos, woo, tmp_path)
        product = woo.add_product("Coffee Club Monthly", "19.90", "COFFEE-CLUB-M",
                                  meta={"_subscription_period": "month", "_subscription_period_interval": "1"})
        parents = [str(woo.place_order(customer=BILLING, lines=[(product, 1)], payment_method="mypos", paid=True))
                   for _ in range(AGREEMENTS)]
        tokens = [mypos.register_card(VISA, "3012") for _ in range(AGREEMENTS)]
        now = datetime.now(timezone.utc)
        ids = seed_due_agreements(bridge, shop_id, str(product), tokens, parents, now - timedelta(minutes=1))
        with bridge.db.engine.begin() as connection:
            # Polling the shop for missed orders is not what races here: it was reconciled just now.
            connection.execute(update(Shop).values(reconciled_until=now, reconcile_due_at=now + timedelta(days=1)))
            connection.execute(text("ALTER TABLE charges ADD COLUMN claimed_by text "
                                    "DEFAULT current_setting('application_name')"))
        yield Race(bridge, env, mypos, woo, ids, tmp_path)
    finally:
        bridge.db.dispose()
        woo.stop()
        mypos.stop()


def test_four_workers_racing_on_one_postgresql_charge_each_of_2000_agreements_exactly_once(race: Race):
    url = make_url(race.env["ABONNE_DATABASE_URL"])
    # The shop is down while the workers charge (its REST API is CPU-bound here, on the same cores): every push
    # fails at once and is retried later, as with a real shop that is down. It comes back for the push phase.
    race.woo.refuse_connections()
    workers = [WorkerProcess({**race.env, "ABONNE_DATABASE_URL": url.update_query_dict(
        {"application_name": f"abonne-worker-{n}"}).render_as_string(hide_password=False)},
        race.tmp_path / f"worker-{n}.log") for n in range(WORKERS)]
    started = time.monotonic()
    try:
        workers[0].wait_for(lambda: race.scalar("SELECT count(*) FROM charges WHERE state <> 'pending'")
                            >= AGREEMENTS, what=f"{AGREEMENTS} charges to be settled", timeout=120)
        charging_s = time.monotonic() - started
        race.woo.accept_connections()
        with race.bridge.db.engine.begin() as connection:  # as if the retry delay had passed
            connection.execute(update(OutboxMessage).where(OutboxMessage.state == "pending")
                               .values(next_attempt_at=datetime.now(timezone.utc)))
        workers[0].wait_for(lambda: race.scalar("SELECT count(*) FROM outbox WHERE state = 'done'") >= PUSHED,
                            what=f"{PUSHED} renewal orders to be pushed", timeout=60)
        for worker in workers:  # mid-push, most likely: what was created must still have been created once
            worker.kill()
    finally:
        for worker in workers:
            worker.stop()
    print(f"\n{AGREEMENTS} agreements charged by {WORKERS} workers in {charging_s:.1f} s; "
          f"{time.monotonic() - started:.1f} s with the push phase")

    # The gateway: one call and one paid transaction per agreement, never a second order id for an agreement.
    sent = [order_id for method, order_id in race.mypos.calls if method == "IPCIAPurchase"]
    assert len(sent) == len(set(sent)) == AGREEMENTS
    paid = [t for t in race.mypos.ledger if t.method == "IPCIAPurchase" and t.status == "paid"]
    assert len(paid) == AGREEMENTS and len({t.trnref for t in paid}) == AGREEMENTS

    # abonne: one succeeded charge per agreement for cycle 2, no other attempt, every agreement advanced.
    with race.bridge.uow() as uow:
        rows = uow.session.execute(select(Charge.agreement_id, Charge.cycle, Charge.state, Charge.gateway_order_id,
                                          Charge.transaction_ref)).all()
        assert len(rows) == AGREEMENTS and {(r.cycle, r.state) for r in rows} == {(2, "succeeded")}
        assert sorted(r.agreement_id for r in rows) == sorted(race.agreement_ids)
        # ...and the gateway's paid transactions are exactly those charges: one per agreement
        assert {r.gateway_order_id: r.transaction_ref for r in rows} == {t.order_id: t.trnref for t in paid}
        assert set(uow.session.scalars(select(Agreement.cycles_paid))) == {2}
    with race.bridge.db.engine.connect() as connection:
        by_worker = dict(connection.execute(text("SELECT claimed_by, count(*) FROM charges GROUP BY claimed_by")).all())
    print(f"charges claimed per worker: {by_worker}")
    assert set(by_worker) == {f"abonne-worker-{n}" for n in range(WORKERS)}, "not every worker took part"

    # The shop: renewal orders pushed meanwhile, at most one per cycle; every push recorded as done is in the shop.
    renewals = [o for o in race.woo.orders() if o["parent_id"]]
    keys = Counter(next(m["value"] for m in o["meta_data"] if m["key"] == "_bridge_renewal_key") for o in renewals)
    assert not [key for key, count in keys.items() if count > 1], "a renewal order was created twice"
    with race.bridge.uow() as uow:
        messages = list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "renewal_order")))
        assert len(messages) == AGREEMENTS
        done = {m.payload["renewal"]["key"] for m in messages if m.state == "done"}
        assert done <= set(keys)
        pushed = dict(uow.session.execute(select(Charge.id, Charge.shop_order_id)).all())
    assert {pushed[m.payload["charge_id"]] for m in messages if m.state == "done"} <= {str(o["id"]) for o in renewals}
    print(f"renewal orders pushed: {len(keys)} (done in the outbox: {len(done)})")
