"""What needs the owner's eye: charges nobody knows the outcome of, shop updates that failed, webhook health."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bridge.context import Bridge
from bridge.domain.money import Money
from bridge.services import events
from bridge.store.tables import Charge, Delivery, EventRecord, OutboxMessage, Shop


class OperationError(ValueError):
    """The action does not apply; the message says why."""


def unknown_charges(bridge: Bridge) -> list[dict[str, Any]]:
    with bridge.uow() as uow:
        rows = uow.session.scalars(select(Charge).where(Charge.state.in_(("unknown", "pending")))
                                   .order_by(Charge.created_at))
        return [{"id": c.id, "agreement_id": c.agreement_id, "cycle": c.cycle, "attempt": c.attempt,
                 "state": c.state, "amount": str(Money(c.amount_minor, c.currency).amount), "currency": c.currency,
                 "gateway_order_id": c.gateway_order_id, "since": c.created_at.isoformat(), "checks": c.checks,
                 "next_check_at": c.next_check_at.isoformat() if c.next_check_at else None, "why": c.message}
                for c in rows]


def outbox_messages(bridge: Bridge, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if state:
        query = query.where(OutboxMessage.state == state)
    with bridge.uow() as uow:
        return [{"id": m.id, "shop_id": m.shop_id, "kind": m.kind, "state": m.state, "attempts": m.attempts,
                 "order_id": str(m.payload.get("order_id") or m.payload.get("renewal", {}).get("parent_order_id", "")),
                 "next_attempt_at": m.next_attempt_at.isoformat(), "last_error": m.last_error,
                 "created_at": m.created_at.isoformat()} for m in uow.session.scalars(query)]


def retry_message(bridge: Bridge, message_id: int) -> str:
    """Send a dead letter again (after the owner fixed what the shop refused)."""
    now = bridge.clock.now()
    with bridge.uow() as uow:
        message = uow.session.get(OutboxMessage, message_id, with_for_update=True)
        if message is None:
            raise OperationError(f"there is no outbox message {message_id}")
        if message.state != "dead":
            raise OperationError(f"message {message_id} is {message.state}, not dead: it needs no retry")
        message.state, message.attempts, message.next_attempt_at = "pending", 0, now
        events.record(uow, now, "outbox_retried", f"{message.kind} {message_id} is sent again by the owner",
                      shop_id=message.shop_id)
        uow.commit()
    bridge.wake_worker.set()
    return f"{message.kind} {message_id} will be sent again on the next pass"


@dataclass
class WebhookHealth:
    shop_id: int
    shop: str
    platform: str
    last_delivery_at: datetime | None
    deliveries_24h: int
    failed_24h: int  # stored but not processable
    last_missed_order_at: datetime | None  # an order found by polling: a webhook did not bring it
    last_repair: str


def webhook_health(bridge: Bridge) -> list[WebhookHealth]:
    since = bridge.clock.now() - timedelta(hours=24)
    health = []
    with bridge.uow() as uow:
        for shop in uow.session.scalars(select(Shop).order_by(Shop.id)):
            last = uow.session.scalar(select(func.max(Delivery.received_at)).where(Delivery.shop_id == shop.id))
            recent = uow.session.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.shop_id == shop.id, Delivery.received_at >= since)) or 0
            failed = uow.session.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.shop_id == shop.id, Delivery.received_at >= since, Delivery.state == "failed")) or 0
            missed = uow.session.scalar(select(func.max(EventRecord.at)).where(
                EventRecord.shop_id == shop.id, EventRecord.kind == "missed_order_found"))
            repair = uow.session.scalar(select(EventRecord).where(
                EventRecord.shop_id == shop.id, EventRecord.kind == "webhook_repaired").order_by(
                EventRecord.id.desc()).limit(1))
            health.append(WebhookHealth(shop.id, shop.name, shop.platform, last, recent, failed, missed,
                                        f"{repair.at:%Y-%m-%d %H:%M}: {repair.message}" if repair else ""))
    return health
