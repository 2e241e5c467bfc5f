"""Reading agreements for people and scripts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select

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
    return search_agreements(bridge, state=state, shop_id=shop_id, per_page=None).items


@dataclass
class Page:
    items: list[dict[str, Any]]
    total: int
    page: int
    per_page: int | None

    @property
    def pages(self) -> int:
        return 1 if not self.per_page else max(1, -(-self.total // self.per_page))


def search_agreements(bridge: Bridge, text: str = "", state: str | None = None, shop_id: int | None = None,
                      plan: str | None = None, page: int = 1, per_page: int | None = 25) -> Page:
    """Agreements matching every given filter, newest first; `text` matches customer name or e-mail, the
    product, or the shop order id."""
    query = select(Agreement)
    if state:
        query = query.where(Agreement.state == state)
    if shop_id:
        query = query.where(Agreement.shop_id == shop_id)
    if plan:
        query = query.where(Agreement.plan_name == plan)
    if text.strip():
        pattern = f"%{text.strip().lower()}%"
        query = query.where(or_(func.lower(Agreement.customer_name).like(pattern),
                                func.lower(Agreement.customer_email).like(pattern),
                                func.lower(Agreement.product_name).like(pattern), Agreement.order_id == text.strip()))
    page = max(1, page)
    with bridge.uow() as uow:
        total = uow.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        query = query.order_by(Agreement.id.desc())
        if per_page:
            query = query.offset((page - 1) * per_page).limit(per_page)
        return Page([describe(a) for a in uow.session.scalars(query)], total, page, per_page)


def show_agreement(bridge: Bridge, agreement_id: int) -> dict[str, Any] | None:
    with bridge.uow() as uow:
        agreement = uow.session.get(Agreement, agreement_id)
        if agreement is None:
            return None
        data = describe(agreement)
        data["charges"] = [{"id": c.id, "cycle": c.cycle, "attempt": c.attempt, "state": c.state, "source": c.source,
                            "status_code": c.status_code, "message": c.message, "shop_order_id": c.shop_order_id,
                            "amount": str(Money(c.amount_minor, c.currency).amount), "currency": c.currency,
                            "transaction_ref": c.transaction_ref, "at": c.created_at.isoformat()}
                           for c in uow.session.scalars(select(Charge).where(Charge.agreement_id == agreement_id)
                                                        .order_by(Charge.id))]
        data["events"] = [{"at": e.at.isoformat(), "kind": e.kind, "message": e.message, "order_id": e.order_id}
                          for e in uow.session.scalars(select(EventRecord).where(
                              EventRecord.agreement_id == agreement_id).order_by(EventRecord.id))]
        return data
