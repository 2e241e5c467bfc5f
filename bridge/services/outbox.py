"""Work for shops, queued in the transaction that causes it and sent at least once by the worker."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bridge.context import Bridge
from bridge.ports import ShopError
from bridge.services import events
from bridge.store.db import UnitOfWork, is_postgresql
from bridge.store.tables import OutboxMessage, Shop

MAX_ATTEMPTS = 12
LEASE = timedelta(minutes=5)  # a claimed message is retried after this if its worker died mid-send


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at 6 h."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), timedelta(hours=6))


def enqueue(uow: UnitOfWork, now: datetime, shop_id: int, kind: str, dedupe_key: str, payload: dict[str, Any]) -> None:
    """Queue a message once per dedupe_key (a second enqueue with the same key is a no-op)."""
    existing = uow.session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key))
    if existing is None:
        uow.session.add(OutboxMessage(shop_id=shop_id, kind=kind, dedupe_key=dedupe_key, payload=payload,
                                      next_attempt_at=now, created_at=now))


@dataclass
class DrainReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0


def drain(bridge: Bridge, limit: int = 20) -> DrainReport:
    report = DrainReport()
    for message_id in _claim(bridge, limit):
        _send(bridge, message_id, report)
    return report


def _claim(bridge: Bridge, limit: int) -> list[int]:
    now = bridge.clock.now()
    with bridge.uow() as uow:
        query = (select(OutboxMessage).where(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= now)
                 .order_by(OutboxMessage.id).limit(limit))
        if is_postgresql(bridge.db.engine):
            query = query.with_for_update(skip_locked=True)
        messages = list(uow.session.scalars(query))
        for message in messages:
            message.attempts += 1
            message.next_attempt_at = now + LEASE
        uow.commit()
        return [m.id for m in messages]


def _send(bridge: Bridge, message_id: int, report: DrainReport) -> None:
    with bridge.uow() as uow:
        message = uow.session.get(OutboxMessage, message_id)
        shop = uow.session.get(Shop, message.shop_id)
        adapter = bridge.shop_adapter(shop)
        kind, payload, attempts = message.kind, dict(message.payload), message.attempts
    try:
        if kind == "customer_note":
            adapter.add_customer_note(payload["order_id"], payload["text"])
        elif kind == "mark_paid":
            adapter.mark_paid(payload["order_id"], payload["transaction_id"])
        else:
            raise ShopError(f"unknown outbox message kind {kind!r}")
        error = None
    except ShopError as failure:
        error = failure
    now = bridge.clock.now()
    with bridge.uow() as uow:
        message = uow.session.get(OutboxMessage, message_id)
        if error is None:
            message.state, message.done_at, message.last_error = "done", now, ""
            report.sent += 1
        elif error.retryable and attempts < MAX_ATTEMPTS:
            message.next_attempt_at = now + backoff(attempts)
            message.last_error = error.detail
            report.retried += 1
        else:
            message.state, message.last_error = "dead", error.detail
            events.record(uow, now, "outbox_dead", f"{kind} for order {payload.get('order_id')} gave up after "
                          f"{attempts} attempts: {error.detail}", shop_id=message.shop_id,
                          order_id=str(payload.get("order_id", "")))
            report.dead += 1
        try:
            uow.commit()
        except IntegrityError:
            uow.rollback()
