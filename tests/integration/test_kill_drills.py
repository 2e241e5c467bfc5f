"""Kill drills: a real `abonne worker` process killed with SIGKILL at each step of a renewal, then restarted.

Whatever step the worker dies at, the restarted worker ends with the due cycle charged exactly once (the stand-in
myPOS ledger holds one paid IPCIAPurchase for it) and pushed exactly once (the stand-in shop holds one renewal
order for it): I2 (one success per cycle), I3 (write-ahead pending charge, settled by the janitor's status query),
I5 (success, advance and outbox row in one transaction) and I6 (look before every create).

How the drills are arranged:
- The agreement is made by the harness (order in the stand-in shop, pay link, hosted page, notify) with the test
  clock. The worker under test is another process, so it keeps real time: the agreement is made due at real time by
  setting its next_charge_at to a minute ago. The in-process abonne that served the pay flow keeps running (it
  receives the shop's webhooks) but its embedded worker is stopped, so the process under test is the only one
  that renews.
- The worker is stopped at a precise point by making a stand-in hold the call that follows that point: a myPOS fault
  that hangs before or after charging, or a slow shop. The drill polls (with a deadline) until the step is
  observably reached, then sends SIGKILL.
- Time the recovery would have to wait for (the janitor treats a pending charge as abandoned after
  janitor.ABANDONED_AFTER and as never taken after janitor.NEVER_SEEN_AFTER; a claimed outbox row is leased for
  outbox.LEASE) is simulated by moving the row's own timestamp back by that much, which is exactly what waiting
  would change: the code compares those timestamps with now.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

import pytest
from sqlalchemy import select

from bridge.services import janitor, outbox
from bridge.store.tables import Agreement, Charge, OutboxMessage
from tests.integration.conftest import Configured
from tests.shops.abonne_process import AbonneProcess
from tests.waiting import wait_for

T = TypeVar("T")


class WorkerProcess(AbonneProcess):
    """A real `abonne worker` process (real clock, its own database connections)."""

    def __init__(self, env: Mapping[str, str], log: Path, *args: str):
        super().__init__("worker", list(args or ("worker",)), {**os.environ, **env, "PYTHONUNBUFFERED": "1"}, log)

    def wait_for(self, condition: Callable[[], T], what: str, timeout: float = 30.0) -> T:
        try:
            return wait_for(condition, timeout=timeout, what=what)
        except AssertionError as error:
            alive = "running" if self.process.poll() is None else f"exited with {self.process.returncode}"
            raise AssertionError(f"{error}; the worker is {alive}; its log ends with:\n{self.tail()}") from None


@dataclass
class Due:
    """One agreement whose second cycle is due now, in real time."""

    configured: Configured
    order_id: int
    agreement_id: int
    tmp_path: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    def worker(self, name: str) -> WorkerProcess:
        self.workers.append(WorkerProcess(self.configured.abonne.env, self.tmp_path / f"{name}.log"))
        return self.workers[-1]

    def charges(self) -> list[Charge]:
        with self.configured.abonne.bridge.uow() as uow:
            return list(uow.session.scalars(select(Charge).where(Charge.agreement_id == self.agreement_id,
                                                                 Charge.cycle == 2).order_by(Charge.id)))

    def renewal_message(self) -> OutboxMessage | None:
        with self.configured.abonne.bridge.uow() as uow:
            return uow.session.scalar(select(OutboxMessage).where(
                OutboxMessage.dedupe_key == f"renewal:{self.agreement_id}:2"))

    def renewal_orders(self) -> list[dict[str, Any]]:
        return [order for order in self.configured.woo.orders() if order["parent_id"] == self.order_id]

    def paid_charges_in_ledger(self) -> list[Any]:
        return [t for t in self.configured.mypos.ledger if t.method == "IPCIAPurchase" and t.status == "paid"]

    def age_charge(self, charge_id: int, by: timedelta) -> None:
        """As if `by` had passed since the worker wrote the charge ahead of its gateway call."""
        with self.configured.abonne.bridge.uow() as uow:
            charge = uow.session.get(Charge, charge_id)
            charge.created_at -= by
            uow.commit()

    def expire_renewal_lease(self) -> None:
        """As if outbox.LEASE had passed since the killed worker claimed the renewal order's message."""
        with self.configured.abonne.bridge.uow() as uow:
            message = uow.session.scalar(select(OutboxMessage).where(
                OutboxMessage.dedupe_key == f"renewal:{self.agreement_id}:2"))
            message.next_attempt_at -= outbox.LEASE
            uow.commit()

    def finished(self) -> bool:
        message = self.renewal_message()
        return message is not None and message.state == "done"


@pytest.fixture
def due(configured: Configured, tmp_path: Path) -> Iterator[Due]:
    abonne = configured.abonne
    order_id, [agreement_id] = configured.subscribe([(configured.subscription_product, 1)])
    wait_for(lambda: abonne.scalar("SELECT count(*) FROM outbox WHERE state = 'pending'") == 0,
             what="the pay flow's shop updates to be sent")
    now = datetime.now(timezone.utc)
    abonne.stop_worker()  # from here the worker processes under test are the only ones that renew
    with abonne.bridge.uow() as uow:
        agreement = uow.session.get(Agreement, agreement_id)
        assert agreement.state == "active" and agreement.cycles_paid == 1
        agreement.next_charge_at = now - timedelta(minutes=1)
        uow.commit()
    drill = Due(configured, order_id, agreement_id, tmp_path)
    yield drill
    for worker in drill.workers:  # a drill that failed half-way leaves no worker behind
        if worker.process.poll() is None:
            worker.kill()


def restart_and_finish(due: Due) -> WorkerProcess:
    worker = due.worker("restarted")
    try:
        worker.wait_for(due.finished, what="the restarted worker to charge and push the due cycle")
    finally:
        worker.stop()
    return worker


def assert_charged_once_and_pushed_once(due: Due) -> None:
    [paid] = due.paid_charges_in_ledger()
    assert paid.amount == "19.90"
    charges = due.charges()
    succeeded = [c for c in charges if c.state == "succeeded"]
    assert len(succeeded) == 1 and succeeded[0].gateway_order_id == paid.order_id
    assert succeeded[0].transaction_ref == paid.trnref
    assert not [c for c in charges if c.state in ("pending", "unknown")]
    [order] = due.renewal_orders()
    assert order["transaction_id"] == paid.trnref and order["status"] == "processing"
    assert {m["key"]: m["value"] for m in order["meta_data"]}["_bridge_renewal_key"] == f"{due.agreement_id}:2"
    assert succeeded[0].shop_order_id == str(order["id"])
    with due.configured.abonne.bridge.uow() as uow:
        agreement = uow.session.get(Agreement, due.agreement_id)
        assert agreement.cycles_paid == 2 and agreement.state == "active"
        assert agreement.next_charge_at > datetime.now(timezone.utc)


def test_a_worker_killed_before_the_gateway_call_is_charged_once_after_the_janitor_learns_nothing_was_taken(
        due: Due):
    mypos = due.configured.mypos
    mypos.inject("timeout_before_charge")  # holds the call; nothing is charged
    worker = due.worker("killed")
    [pending] = worker.wait_for(lambda: due.charges(), what="the pending charge written ahead")
    worker.wait_for(lambda: ("IPCIAPurchase", pending.gateway_order_id) in mypos.calls,
                    what="the charge call to reach the gateway")
    worker.kill()

    assert [c.state for c in due.charges()] == ["pending"]
    assert due.paid_charges_in_ledger() == []
    due.age_charge(pending.id, janitor.NEVER_SEEN_AFTER + timedelta(minutes=1))
    restart_and_finish(due)

    assert ("IPCGetTxnStatus", pending.gateway_order_id) in mypos.calls
    first, second = due.charges()
    assert (first.attempt, first.state, second.attempt, second.state) == (1, "not_charged", 2, "succeeded")
    assert_charged_once_and_pushed_once(due)


def test_a_worker_killed_after_the_gateway_charged_but_before_it_committed_is_settled_by_the_status_query(
        due: Due):
    mypos = due.configured.mypos
    mypos.inject("timeout_after_charge")  # charges, then holds the answer
    worker = due.worker("killed")
    worker.wait_for(due.paid_charges_in_ledger, what="the gateway to charge the card")
    worker.kill()

    [pending] = due.charges()
    assert pending.state == "pending" and due.renewal_message() is None
    due.age_charge(pending.id, janitor.ABANDONED_AFTER + timedelta(minutes=1))
    restart_and_finish(due)

    assert ("IPCGetTxnStatus", pending.gateway_order_id) in mypos.calls
    assert [c.gateway_order_id for c in due.charges()] == [pending.gateway_order_id]  # no second attempt
    assert_charged_once_and_pushed_once(due)


def test_a_worker_killed_after_the_commit_but_before_the_push_pushes_the_renewal_order_on_restart(due: Due):
    woo = due.configured.woo
    woo.slow_down(3)  # every shop call waits 3 s first: the push cannot reach the shop before the kill
    worker = due.worker("killed")
    worker.wait_for(lambda: [c for c in due.charges() if c.state == "succeeded"], what="the charge to be committed")
    worker.kill()

    assert due.renewal_message().state == "pending" and due.renewal_orders() == []
    woo.behave_normally()
    due.expire_renewal_lease()
    restart_and_finish(due)

    assert_charged_once_and_pushed_once(due)


def test_a_worker_killed_after_the_shop_created_the_renewal_order_does_not_create_it_again(due: Due):
    woo = due.configured.woo
    woo.answer_late(2.0)  # the order exists as soon as the create arrives; abonne hears of it 2 s later
    worker = due.worker("killed")
    worker.wait_for(due.renewal_orders, what="the shop to create the renewal order")
    worker.kill()

    assert due.renewal_message().state == "pending", "the drill missed its window: the push was already recorded"
    woo.behave_normally()
    due.expire_renewal_lease()
    restart_and_finish(due)

    assert due.renewal_message().attempts == 2  # the restarted worker looked, found the order and created none
    assert_charged_once_and_pushed_once(due)
