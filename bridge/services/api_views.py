"""Look-ups the admin API needs that the other use cases do not offer: telling "unknown id" (404) apart from
"does not apply now" (409) before an action, and finding a plan by its name."""
from __future__ import annotations

from sqlalchemy import select

from bridge.context import Bridge
from bridge.store.tables import Agreement, OutboxMessage, Plan


def agreement_exists(bridge: Bridge, agreement_id: int) -> bool:
    with bridge.uow() as uow:
        return uow.session.get(Agreement, agreement_id) is not None


def outbox_message_exists(bridge: Bridge, message_id: int) -> bool:
    with bridge.uow() as uow:
        return uow.session.get(OutboxMessage, message_id) is not None


def plan_named(bridge: Bridge, name: str) -> Plan | None:
    with bridge.uow() as uow:
        return uow.session.scalar(select(Plan).where(Plan.name == name))
