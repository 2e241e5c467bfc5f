"""The numbers on the owner's dashboard: what runs, what it earns, what comes, what failed and recovered."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, select

from bridge.context import Bridge
from bridge.domain.agreement import AgreementState
from bridge.domain.money import Money
from bridge.store.tables import Agreement, Charge

# Cycles per month for each period unit: MRR counts what one month of each agreement is worth.
_PER_MONTH = {"day": Decimal("365") / 12, "week": Decimal("52") / 12, "month": Decimal(1), "year": Decimal(1) / 12}


@dataclass
class Dashboard:
    active: int
    past_due: int
    suspended: int
    paused: int
    awaiting_card: int
    mrr: dict[str, str]  # currency -> decimal amount
    due_30_days: int
    due_30_days_amount: dict[str, str]
    failed_30_days: int
    recovered_30_days: int
    charged_per_day: list[tuple[date, int]] = field(default_factory=list)  # the last 30 days, for the chart


def build(bridge: Bridge) -> Dashboard:
    now = bridge.clock.now()
    month_ago, in_30_days = now - timedelta(days=30), now + timedelta(days=30)
    with bridge.uow() as uow:
        counts = dict(uow.session.execute(select(Agreement.state, func.count()).group_by(Agreement.state)).all())
        mrr: dict[str, Decimal] = defaultdict(Decimal)
        for amount, currency, unit, every in uow.session.execute(select(
                Agreement.amount_minor, Agreement.currency, Agreement.period_unit, Agreement.period_every).where(
                Agreement.state.in_([AgreementState.ACTIVE.value, AgreementState.PAST_DUE.value]))):
            mrr[currency] += Money(amount, currency).amount * _PER_MONTH[unit] / every
        due: dict[str, int] = defaultdict(int)
        due_count = 0
        for amount, currency in uow.session.execute(select(Agreement.amount_minor, Agreement.currency).where(
                Agreement.state.in_([AgreementState.ACTIVE.value, AgreementState.PAST_DUE.value]),
                Agreement.next_charge_at <= in_30_days)):
            due[currency] += amount
            due_count += 1
        failed = uow.session.scalar(select(func.count()).select_from(Charge).where(
            Charge.state == "declined", Charge.created_at >= month_ago)) or 0
        # A cycle is recovered when it succeeded after at least one declined attempt.
        declined = select(Charge.agreement_id, Charge.cycle).where(Charge.state == "declined").subquery()
        recovered = uow.session.scalar(select(func.count()).select_from(Charge).join(declined, and_(
            declined.c.agreement_id == Charge.agreement_id, declined.c.cycle == Charge.cycle)).where(
            Charge.state == "succeeded", Charge.settled_at >= month_ago)) or 0
        per_day: dict[date, int] = defaultdict(int)
        for (settled,) in uow.session.execute(select(Charge.settled_at).where(
                Charge.state == "succeeded", Charge.settled_at >= month_ago)):
            per_day[settled.date()] += 1
    days = [(now - timedelta(days=n)).date() for n in range(29, -1, -1)]
    return Dashboard(
        active=counts.get(AgreementState.ACTIVE.value, 0), past_due=counts.get(AgreementState.PAST_DUE.value, 0),
        suspended=counts.get(AgreementState.SUSPENDED.value, 0), paused=counts.get(AgreementState.PAUSED.value, 0),
        awaiting_card=counts.get(AgreementState.AWAITING_CARD.value, 0),
        mrr={c: str(v.quantize(Decimal("0.01"))) for c, v in sorted(mrr.items())},
        due_30_days=due_count, due_30_days_amount={c: str(Money(v, c).amount) for c, v in sorted(due.items())},
        failed_30_days=failed, recovered_30_days=recovered,
        charged_per_day=[(day, per_day.get(day, 0)) for day in days])
