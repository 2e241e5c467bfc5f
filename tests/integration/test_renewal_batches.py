"""Gateway answers are recorded together, in one transaction (one commit for many renewals); one charge that cannot
be recorded must not hold back the others it was batched with."""
from __future__ import annotations

import contextlib
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import select, update

from adapters.mypos.standin import MyPosStandin
from adapters.woocommerce.standin import WooCommerceStandin
from bridge.app import build_bridge
from bridge.config import Settings
from bridge.context import Bridge
from bridge.services import renew
from bridge.store.db import migrate
from bridge.store.tables import Charge, OutboxMessage, Shop
from tests.integration.conftest import BILLING, CK, CS, VISA
from tests.integration.test_worker_race import connect_gateway_and_shop, seed_due_agreements


def sqlite_bridge(tmp_path: Path) -> tuple[Bridge, dict[str, str]]:
    url = f"sqlite:///{tmp_path / 'abonne.db'}"
    migrate(url)
    env = {"ABONNE_DATABASE_URL": url, "ABONNE_SECRET_KEY": secrets.token_urlsafe(32),
           "ABONNE_PUBLIC_URL": "http://127.0.0.1:9", "ABONNE_INSTANCE_PATH": str(tmp_path / "instance")}
    return build_bridge(Settings.from_env(env)), env


@pytest.fixture
def due_three(tmp_path: Path) -> Iterator[tuple[Bridge, MyPosStandin]]:
    """Three active agreements due now, their cards in the stand-in myPOS, their parent orders in the shop."""
    bridge, env = sqlite_bridge(tmp_path)
    with contextlib.ExitStack() as stack:
        stack.callback(bridge.db.dispose)
        mypos = MyPosStandin.start(threads=4)
        stack.callback(mypos.stop)
        woo = WooCommerceStandin(delivery_delay_s=0.01)
        woo.start(CK, CS)
        stack.callback(woo.stop)
        shop_id = connect_gateway_and_shop(env, mypos, woo, tmp_path)
        product = woo.add_product("Coffee Club Monthly", "19.90", "COFFEE-CLUB-M",
                                  meta={"_subscription_period": "month"})
        now = datetime.now(timezone.utc)
        seed_due_agreements(bridge, shop_id, str(product), [mypos.register_card(VISA, "3012") for _ in range(3)],
                            [str(woo.place_order(customer=BILLING, lines=[(product, 1)], payment_method="mypos",
                                                 paid=True)) for _ in range(3)], now - timedelta(minutes=1))
        with bridge.db.engine.begin() as connection:  # the shop's poll is not what this is about
            connection.execute(update(Shop).values(reconciled_until=now, reconcile_due_at=now + timedelta(days=1)))
        yield bridge, mypos


def test_a_charge_that_cannot_be_recorded_holds_back_no_other_renewal_of_its_batch(due_three):
    bridge, mypos = due_three
    attempts = renew.claim(bridge, 10, renew.RenewReport())
    assert len(attempts) == 3
    stuck = attempts[0]
    # Something else already recorded a success for the first one's cycle, so recording this one breaks the
    # one-success-per-cycle rule (I2) and fails the batch's transaction.
    with bridge.uow() as uow:
        pending = uow.session.get(Charge, stuck.charge_id)
        uow.session.add(Charge(agreement_id=stuck.agreement_id, cycle=pending.cycle, attempt=99, source="stored_card",
                               gateway_order_id=f"elsewhere-{secrets.token_hex(4)}", amount_minor=1990,
                               currency="EUR", state="succeeded", created_at=datetime.now(timezone.utc)))
        uow.commit()
    gateway = bridge.current_gateway()
    answers = [(attempt, gateway.charge_stored_card(attempt.request)) for attempt in attempts]
    assert all(answer.outcome.value == "succeeded" for _, answer in answers)

    report = renew.RenewReport()
    renew.settle_together(bridge, answers, report)

    with bridge.db.read() as uow:
        states = {charge.id: charge.state for charge in uow.session.scalars(
            select(Charge).where(Charge.id.in_([attempt.charge_id for attempt in attempts])))}
        queued = uow.session.scalars(select(OutboxMessage.dedupe_key).where(
            OutboxMessage.kind == "renewal_order")).all()
    others = attempts[1:]
    assert states[stuck.charge_id] == "pending"  # left to the janitor, which asks the gateway (I3)
    assert all(states[attempt.charge_id] == "succeeded" for attempt in others)
    assert sorted(queued) == sorted(f"renewal:{attempt.agreement_id}:2" for attempt in others)
    assert report.charged == 2
    assert report.problems == [f"charge {stuck.charge_id} could not be recorded; the janitor will"]
