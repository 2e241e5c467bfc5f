"""Reading agreements for people and scripts."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bridge.context import Bridge
from bridge.domain.money import Money
from bridge.store.tables import Agreement, Charge, EventRecord


def describe(agreement: Agreement) -> dict[str, Any]:
    every = agreement.period_every
    return {
        "id": agreement.id,
        "state": agreement.state,
        "plan": agreement.plan_name,
        "product": agreement.product_name,
        "amount": str(Money(agreement.amount_minor, agreement.currency).amount),
        "currency": agreement.currency,
        "period": f"every {every} {agreement.period_unit}{'s' if every != 1 else ''}",
        "cycles": agreement.cycles,
        "cycles_paid": agreement.cycles_paid,
        "next_charge_at": agreement.next_charge_at.isoformat() if agreement.next_charge_at else None,
        "card_last4": agreement.card_last4 or None,
        "card_expiry": f"{agreement.card_exp[2:]}/{agreement.card_exp[:2]}" if agreement.card_exp else None,
        "customer": agreement.customer_name,
        "customer_email": agreement.customer_email,
        "shop_id": agreement.shop_id,
        "shop_order_id": agreement.order_id,
        "created_at": agreement.created_at.isoformat(),
    }


def list_agreements(bridge: Bridge, state: str | None = None, shop_id: int | None = None) -> list[dict[str, Any]]:
    query = select(Agreement).order_by(Agreement.id)
    if state:
        query = query.where(Agreement.state == state)
    if shop_id:
        query = query.where(Agreement.shop_id == shop_id)
    with bridge.uow() as uow:
        return [describe(a) for a in uow.session.scalars(query)]


def show_agreement(bridge: Bridge, agreement_id: int) -> dict[str, Any] | None:
    with bridge.uow() as uow:
        agreement = uow.session.get(Agreement, agreement_id)
        if agreement is None:
            return None
        data = describe(agreement)
        data["charges"] = [{"cycle": c.cycle, "state": c.state, "source": c.source,
                            "amount": str(Money(c.amount_minor, c.currency).amount), "currency": c.currency,
                            "transaction_ref": c.transaction_ref, "at": c.created_at.isoformat()}
                           for c in uow.session.scalars(select(Charge).where(Charge.agreement_id == agreement_id)
                                                        .order_by(Charge.id))]
        data["events"] = [{"at": e.at.isoformat(), "kind": e.kind, "message": e.message}
                          for e in uow.session.scalars(select(EventRecord).where(
                              EventRecord.agreement_id == agreement_id).order_by(EventRecord.id))]
        return data
