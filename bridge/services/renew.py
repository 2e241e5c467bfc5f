"""Charge every due agreement once: claim, write ahead (I3), call the gateway with many calls in flight, settle.

Exactly once rests on the database, not on this code's care: one open attempt per agreement and one success per
cycle are unique indexes (I2); the claim locks rows with SKIP LOCKED on PostgreSQL and holds SQLite's single write
lock (I7), so any number of workers can run this at once.
"""
from __future__ import annotations

import logging
import secrets
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError

from bridge.context import Bridge, NotConfigured
from bridge.domain.agreement import AgreementEvent, AgreementState, next_state
from bridge.domain.money import Money
from bridge.ports import (CartItem, ChargeOutcome, ChargeRequest, ChargeResult, DeclineKind, GatewayConfigError,
                          PaymentGateway)
from bridge.services import billing, events
from bridge.store.db import any_due, is_postgresql
from bridge.store.tables import Agreement, Charge, ShopOrderRecord

log = logging.getLogger(__name__)

CHARGEABLE = (AgreementState.ACTIVE.value, AgreementState.PAST_DUE.value)


@dataclass
class RenewReport:
    charged: int = 0
    declined: int = 0
    unknown: int = 0
    not_charged: int = 0
    cancelled_at_period_end: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return self.charged + self.declined + self.unknown + self.not_charged

    def add(self, other: RenewReport) -> None:
        self.charged += other.charged
        self.declined += other.declined
        self.unknown += other.unknown
        self.not_charged += other.not_charged
        self.problems += other.problems

    def summary(self) -> str:
        text = (f"charged {self.charged}, declined {self.declined}, unknown {self.unknown} (the janitor will ask), "
                f"not charged {self.not_charged}, cancelled at period end {self.cancelled_at_period_end}")
        return "; ".join([text, *self.problems])


@dataclass(frozen=True)
class Attempt:
    charge_id: int
    agreement_id: int
    request: ChargeRequest


def renew_due(bridge: Bridge, limit: int = 200, stop: threading.Event | None = None) -> RenewReport:
    """Charge what is due. Once `stop` is set, calls already sent are finished and recorded; the claimed ones not
    yet sent are never sent, and recorded as not charged so that the next worker charges them at once."""
    report = RenewReport()
    try:
        gateway = bridge.current_gateway()
    except NotConfigured:
        return report  # nothing can be charged before the gateway is set up; agreements cannot be active either
    attempts = claim(bridge, limit, report)
    if not attempts:
        return report
    with ThreadPoolExecutor(max_workers=min(bridge.settings.gateway_concurrency, len(attempts))) as pool:
        calls = {pool.submit(_charge, gateway, attempt.request, stop): attempt for attempt in attempts}
        while calls:
            # Every answer in by now is recorded in one transaction: one commit (one disk flush) for many charges
            # instead of one each, which bounded a renewal run (bench/renewals_e2e.py).
            done, _ = wait(calls, return_when=FIRST_COMPLETED)
            settle_together(bridge, [(calls.pop(future), future.result()) for future in done], report)
    return report


def claim(bridge: Bridge, limit: int, report: RenewReport) -> list[Attempt]:
    """Write one pending charge per due agreement and commit before any gateway call."""
    now = bridge.clock.now()
    open_attempt = exists().where(Charge.agreement_id == Agreement.id, Charge.state.in_(billing.OPEN_STATES))
    query = (select(Agreement).where(Agreement.state.in_(CHARGEABLE), Agreement.next_charge_at <= now, ~open_attempt)
             .order_by(Agreement.next_charge_at, Agreement.id).limit(limit))
    if not any_due(bridge.db, query.with_only_columns(Agreement.id)):
        return []
    if is_postgresql(bridge.db.engine):
        query = query.with_for_update(skip_locked=True, of=Agreement)
    attempts: list[tuple[Charge, Agreement, str]] = []
    with bridge.uow() as uow:
        due = list(uow.session.scalars(query))
        # Earlier attempts at each agreement's next cycle (declined, or never taken by the gateway), in one query.
        tried = {(agreement_id, cycle): attempts for agreement_id, cycle, attempts in uow.session.execute(
            select(Charge.agreement_id, Charge.cycle, func.max(Charge.attempt))
            .where(Charge.agreement_id.in_([agreement.id for agreement in due]))
            .group_by(Charge.agreement_id, Charge.cycle))}
        for agreement in due:
            if agreement.cancel_at_period_end:
                _cancel_at_period_end(uow, agreement, now)
                report.cancelled_at_period_end += 1
                continue
            cycle = agreement.cycles_paid + 1
            attempt = 1 + (tried.get((agreement.id, cycle)) or 0)
            charge = Charge(agreement_id=agreement.id, cycle=cycle, attempt=attempt, source="stored_card",
                            gateway_order_id=f"ab-{agreement.id}-{cycle}-{attempt}-{secrets.token_hex(4)}",
                            amount_minor=agreement.amount_minor, currency=agreement.currency, state="pending",
                            created_at=now)
            try:
                with uow.session.begin_nested():
                    uow.session.add(charge)
            except IntegrityError:
                # Another worker opened an attempt for it between our read and our insert (PostgreSQL does not
                # re-check the NOT EXISTS for rows we only locked): the unique index said no; skip just this one.
                continue
            attempts.append((charge, agreement, bridge.vault.decrypt(agreement.card_token_encrypted)))
        uow.commit()
    return [Attempt(charge.id, agreement.id, ChargeRequest(
        gateway_order_id=charge.gateway_order_id, card_token=token, amount=Money(charge.amount_minor, charge.currency),
        items=(CartItem(f"{agreement.product_name} (renewal {charge.cycle})", 1,
                        Money(charge.amount_minor, charge.currency)),),
        note=f"Subscription {agreement.id}, cycle {charge.cycle}")) for charge, agreement, token in attempts]


def _cancel_at_period_end(uow, agreement: Agreement, now) -> None:
    agreement.state = next_state(AgreementState(agreement.state), AgreementEvent.CANCELLED).value
    agreement.next_charge_at, agreement.updated_at = None, now
    events.record(uow, now, "agreement_cancelled", "the paid period ended and the agreement was set to cancel then",
                  shop_id=agreement.shop_id, agreement_id=agreement.id, order_id=agreement.order_id)


def _charge(gateway: PaymentGateway, request: ChargeRequest,
            stop: threading.Event | None) -> ChargeResult | GatewayConfigError | None:
    """The gateway's answer; None when the call was never sent because the worker is stopping."""
    if stop is not None and stop.is_set():
        return None
    try:
        return gateway.charge_stored_card(request)
    except GatewayConfigError as error:
        return error
    except Exception:  # whatever went wrong, the card may have been charged: only the gateway can say (I4)
        log.exception("charging %s failed unexpectedly", request.gateway_order_id)
        return ChargeResult(ChargeOutcome.UNKNOWN, message="the charge call failed unexpectedly")


Answer = ChargeResult | GatewayConfigError | None


def settle_together(bridge: Bridge, answers: list[tuple[Attempt, Answer]], report: RenewReport) -> None:
    """Record several gateway answers in one transaction. Each charge still settles with its agreement and its
    renewal order (I5); if the transaction fails, each answer is recorded in its own, so one bad row holds back no
    other, and one that still fails stays pending for the janitor (I3)."""
    together = RenewReport()
    try:
        with bridge.uow() as uow:
            loaded = _load(uow, [attempt for attempt, _ in answers])  # held: the session keeps rows weakly
            # No flush per charge: the rows of all of them go out at the commit, in a few batched statements.
            # The outbox's dedupe look-up cannot miss a row of this batch: its keys hold the agreement and cycle.
            with uow.session.no_autoflush:
                for attempt, answer in answers:
                    _record(bridge, uow, attempt, answer, together)
            uow.commit()
            del loaded
    except Exception:
        log.warning("recording %d charges together failed; recording each on its own", len(answers), exc_info=True)
        for attempt, answer in answers:
            try:
                settle(bridge, attempt, answer, report)
            except Exception:  # the charge stays pending; the janitor settles it by asking the gateway (I3)
                log.exception("settling charge %s failed; the janitor will settle it", attempt.charge_id)
                report.problems.append(f"charge {attempt.charge_id} could not be recorded; the janitor will")
        return
    report.add(together)


def _load(uow, attempts: list[Attempt]) -> list[Any]:
    """The rows settling reads, in three queries: while they are held, Session.get finds them without asking the
    database."""
    agreements = uow.session.scalars(select(Agreement).where(
        Agreement.id.in_([attempt.agreement_id for attempt in attempts]))).all()
    charges = uow.session.scalars(select(Charge).where(
        Charge.id.in_([attempt.charge_id for attempt in attempts]))).all()
    records = uow.session.scalars(select(ShopOrderRecord).where(
        ShopOrderRecord.id.in_({agreement.shop_order_pk for agreement in agreements}))).all()
    return [*agreements, *charges, *records]


def settle(bridge: Bridge, attempt: Attempt, result: Answer, report: RenewReport) -> None:
    """Record one gateway answer in its own transaction."""
    with bridge.uow() as uow:
        _record(bridge, uow, attempt, result, report)
        uow.commit()


def _record(bridge: Bridge, uow, attempt: Attempt, result: Answer, report: RenewReport) -> None:
    now = bridge.clock.now()
    charge = uow.session.get(Charge, attempt.charge_id)
    agreement = uow.session.get(Agreement, attempt.agreement_id)
    if charge.state != "pending":  # the janitor got there first (this call outlived the claim)
        return
    if result is None:
        billing.record_not_charged(uow, agreement, charge, "the worker stopped before sending it", now)
        report.not_charged += 1
    elif isinstance(result, GatewayConfigError):
        billing.record_not_charged(uow, agreement, charge, f"the gateway refused our settings: {result}", now)
        report.not_charged += 1
        report.problems.append(f"gateway settings refused: {result}")
    elif result.outcome is ChargeOutcome.SUCCEEDED:
        billing.record_success(bridge, uow, agreement, charge, result.transaction_ref, now)
        report.charged += 1
    elif result.outcome is ChargeOutcome.DECLINED:
        billing.record_decline(bridge, uow, agreement, charge, result.status_code, result.message,
                               result.decline is DeclineKind.HARD, now)
        report.declined += 1
    else:
        from bridge.services.janitor import mark_unknown
        mark_unknown(uow, agreement, charge, result.message or f"status {result.status_code}", now)
        report.unknown += 1
