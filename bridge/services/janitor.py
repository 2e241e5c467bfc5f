"""Settle charges whose outcome nobody knows, by asking the gateway; never by guessing (I4).

A charge is unknown after a timeout, a connection error, a 5xx, an unverifiable answer or a duplicate order id;
a charge still pending long after its worker claimed it belonged to a worker that died. While one is open the
agreement gets no new attempt (a unique index says so), so asking can take as long as it takes.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from bridge import metrics
from bridge.context import Bridge, NotConfigured
from bridge.ports import GatewayConfigError, GatewayUnavailable
from bridge.services import billing, events
from bridge.store.db import UnitOfWork, any_due, is_postgresql
from bridge.store.tables import Agreement, Charge

CHECK_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(hours=1))  # then daily
ABANDONED_AFTER = timedelta(minutes=2)  # far beyond the gateway call's timeout: its worker is gone
NEVER_SEEN_AFTER = timedelta(minutes=5)  # an order id the gateway still does not know by then was never sent
LEASE = timedelta(minutes=2)


def check_delay(checks: int) -> timedelta:
    return CHECK_DELAYS[checks] if checks < len(CHECK_DELAYS) else timedelta(days=1)


def mark_unknown(uow: UnitOfWork, agreement: Agreement, charge: Charge, reason: str, now: datetime) -> None:
    charge.state, charge.message, charge.checks = "unknown", reason, 0
    charge.next_check_at = now + check_delay(0)
    metrics.charge_recorded(charge, agreement.shop_id)
    events.record(uow, now, "charge_unknown", f"cycle {charge.cycle}: the gateway's answer is unknown ({reason}); "
                  "nothing more is charged until a status query settles it", shop_id=agreement.shop_id,
                  agreement_id=agreement.id, order_id=agreement.order_id, charge_id=charge.id)


@dataclass
class JanitorReport:
    settled: int = 0
    still_unknown: int = 0


def resolve(bridge: Bridge, limit: int = 50, stop: threading.Event | None = None) -> JanitorReport:
    """Ask the gateway about open charges that are due a query; once `stop` is set the rest waits for its lease."""
    report = JanitorReport()
    try:
        gateway = bridge.current_gateway()
    except NotConfigured:
        return report
    for charge_id in _claim(bridge, limit):
        if stop is not None and stop.is_set():
            break
        with bridge.uow() as uow:
            gateway_order_id = uow.session.get(Charge, charge_id).gateway_order_id
        try:
            status = gateway.transaction_status(gateway_order_id)
        except (GatewayUnavailable, GatewayConfigError) as error:
            _ask_again(bridge, charge_id, str(error) or type(error).__name__)
            report.still_unknown += 1
            continue
        now = bridge.clock.now()
        with bridge.uow() as uow:
            charge = uow.session.get(Charge, charge_id)
            agreement = uow.session.get(Agreement, charge.agreement_id)
            if charge.state not in billing.OPEN_STATES:
                continue
            if status.paid:
                billing.record_success(bridge, uow, agreement, charge, status.transaction_ref, now)
            elif status.known:
                billing.record_decline(bridge, uow, agreement, charge, "status", status.detail or
                                       "the status query says it was not paid", False, now)
            elif now - charge.created_at >= NEVER_SEEN_AFTER:
                billing.record_not_charged(uow, agreement, charge, "the gateway has no record of this order id", now)
            else:
                _schedule(charge, now, "the gateway has no record of it yet")
                report.still_unknown += 1
                uow.commit()
                continue
            report.settled += 1
            uow.commit()
    return report


def _claim(bridge: Bridge, limit: int) -> list[int]:
    now = bridge.clock.now()
    query = (select(Charge).where(or_(
        (Charge.state == "unknown") & (Charge.next_check_at <= now),
        (Charge.state == "pending") & (Charge.created_at <= now - ABANDONED_AFTER)
        & ((Charge.next_check_at.is_(None)) | (Charge.next_check_at <= now)),
    )).order_by(Charge.id).limit(limit))
    if not any_due(bridge.db, query.with_only_columns(Charge.id)):
        return []
    if is_postgresql(bridge.db.engine):
        query = query.with_for_update(skip_locked=True)
    with bridge.uow() as uow:
        charges = list(uow.session.scalars(query))
        for charge in charges:
            charge.next_check_at = now + LEASE  # another janitor skips it meanwhile
        uow.commit()
        return [c.id for c in charges]


def _schedule(charge: Charge, now: datetime, why: str) -> None:
    charge.checks += 1
    charge.state = "unknown"
    charge.message = why
    charge.next_check_at = now + check_delay(charge.checks)


def _ask_again(bridge: Bridge, charge_id: int, why: str) -> None:
    now = bridge.clock.now()
    with bridge.uow() as uow:
        charge = uow.session.get(Charge, charge_id)
        if charge.state in billing.OPEN_STATES:
            _schedule(charge, now, f"status query failed: {why}")
            uow.commit()
