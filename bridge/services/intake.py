"""Shop webhooks in: verify and store first (I8), then turn subscription lines into agreements (I1)."""
from __future__ import annotations

import enum
import logging
import secrets
import threading
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Mapping

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bridge.context import Bridge
from bridge.domain.agreement import LIVE_STATES, AgreementEvent, AgreementState, next_state
from bridge.domain.money import Money, MoneyError
from bridge.domain.schedule import BillingPeriod, PeriodUnit, TermsError
from bridge.ports import OrderState, ShopAdapter, ShopError, ShopOrder, WebhookKind, WebhookRejected
from bridge.services import events, outbox
from bridge.services.catalog import LineTerms, resolve_terms
from bridge.store.db import UnitOfWork, claim_due
from bridge.store.tables import Agreement, Charge, Checkout, Delivery, EventRecord, Shop, ShopOrderRecord

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
LEASE = timedelta(minutes=5)
PING_EVENT_EVERY = timedelta(minutes=1)
_ENDED = (OrderState.CANCELLED, OrderState.REFUNDED, OrderState.TRASHED)


class IntakeOutcome(enum.Enum):
    PING = "ping"
    STORED = "stored"
    DUPLICATE = "duplicate"


def receive_webhook(bridge: Bridge, shop: Shop, adapter: ShopAdapter, headers: Mapping[str, str],
                    raw_body: bytes) -> IntakeOutcome:
    """Verify on the raw body, then store. Raises WebhookRejected; an unverified request writes nothing."""
    hook = adapter.verify_webhook(headers, raw_body)
    now = bridge.clock.now()
    with bridge.uow() as uow:
        if hook.kind is WebhookKind.PING:
            # WooCommerce's ping is unsigned, so anyone can send it: one event per shop and minute, never a row per
            # request. Registering webhooks still sees the first ping of the new ones.
            if uow.session.scalar(select(EventRecord.id).where(
                    EventRecord.shop_id == shop.id, EventRecord.kind == "webhook_ping",
                    EventRecord.at > now - PING_EVENT_EVERY).limit(1)) is None:
                events.record(uow, now, "webhook_ping", "the shop pinged its webhook URL", shop_id=shop.id)
                uow.commit()
            return IntakeOutcome.PING
        uow.session.add(Delivery(shop_id=shop.id, topic=hook.topic, kind=hook.kind.value, order_id=hook.order_id,
                                 business_key=hook.business_key, body=raw_body, received_at=now,
                                 next_attempt_at=now))
        try:
            uow.commit()
            return IntakeOutcome.STORED
        except IntegrityError:  # the unique business key: this news is already stored
            uow.rollback()
    with bridge.uow() as uow:
        uow.session.execute(update(Delivery).where(Delivery.shop_id == shop.id,
                                                   Delivery.business_key == hook.business_key)
                            .values(duplicates=Delivery.duplicates + 1))
        uow.commit()
    return IntakeOutcome.DUPLICATE


def process_pending(bridge: Bridge, limit: int = 20, stop: threading.Event | None = None) -> int:
    """Process stored deliveries; once `stop` is set, the rest of the claim waits for its lease to end."""
    processed = 0
    for delivery_id in _claim(bridge, limit):
        if stop is not None and stop.is_set():
            break
        process_delivery(bridge, delivery_id)
        processed += 1
    return processed


def _claim(bridge: Bridge, limit: int) -> list[int]:
    rows = claim_due(bridge.db, Delivery, Delivery.state == "received", now=bridge.clock.now(), lease=LEASE,
                     limit=limit)
    return [row.id for row in rows]


def process_delivery(bridge: Bridge, delivery_id: int) -> str:
    with bridge.uow() as uow:
        delivery = uow.session.get(Delivery, delivery_id)
        shop = uow.session.get(Shop, delivery.shop_id)
        adapter = bridge.shop_adapter(shop)
        kind, body, order_id, attempts = delivery.kind, delivery.body, delivery.order_id, delivery.attempts
    try:
        if kind == WebhookKind.DELETED.value:
            return _order_gone(bridge, delivery_id, shop.id, order_id or "")
        return take_order(bridge, shop.id, adapter, adapter.parse_order(body), delivery_id)
    except ShopError as error:
        if error.retryable and attempts < MAX_ATTEMPTS:
            return _finish(bridge, delivery_id, "received", "retry_later", error.detail,
                           retry_at=bridge.clock.now() + outbox.backoff(attempts))
        return _finish(bridge, delivery_id, "failed", "shop_error", error.detail)
    except WebhookRejected as error:
        return _finish(bridge, delivery_id, "failed", error.code, error.detail)
    except Exception as error:  # a bug must not stop the worker; the delivery keeps its body for a replay
        if isinstance(error, IntegrityError) and attempts < MAX_ATTEMPTS:
            # Another worker wrote news of the same order between our read and our write (several workers on
            # PostgreSQL): taken again at once, the delivery finds what the other wrote and goes on from there.
            return _finish(bridge, delivery_id, "received", "retry_later", "another worker was writing this order",
                           retry_at=bridge.clock.now())
        log.exception("delivery %s could not be processed", delivery_id, extra={"shop_id": shop.id})
        return _finish(bridge, delivery_id, "failed", "internal_error", type(error).__name__)


def _finish(bridge: Bridge, delivery_id: int, state: str, outcome: str, error: str = "",
            retry_at: datetime | None = None, uow: UnitOfWork | None = None) -> str:
    def apply(work: UnitOfWork) -> None:
        delivery = work.session.get(Delivery, delivery_id)
        delivery.state, delivery.outcome, delivery.last_error = state, outcome, error
        if retry_at is not None:
            delivery.next_attempt_at = retry_at
    if uow is not None:
        apply(uow)
        return outcome
    with bridge.uow() as work:
        apply(work)
        work.commit()
    return outcome


def _record_renewal_order_ended(bridge: Bridge, shop_id: int, order_id: str, status: str,
                                delivery_id: int | None) -> str:
    """A renewal order abonne created was refunded, cancelled or trashed in the shop: the charge stands (the
    owner refunds money in myPOS), but the agreement's timeline shows it."""
    now = bridge.clock.now()
    with bridge.uow() as uow:
        charge = uow.session.scalar(select(Charge).join(Agreement, Agreement.id == Charge.agreement_id).where(
            Agreement.shop_id == shop_id, Charge.shop_order_id == order_id))
        if charge is None:
            return "ignored_own_renewal"
        status = "trashed" if status == "trash" else status
        outcome = f"renewal_order_{status}"
        seen = uow.session.scalar(select(EventRecord.id).where(
            EventRecord.kind == "renewal_order_ended", EventRecord.order_id == order_id,
            EventRecord.data["status"].as_string() == status).limit(1))
        if seen is None:  # the trash comes both as order.updated (status trash) and as order.deleted
            events.record(uow, now, "renewal_order_ended", f"renewal order {order_id} (cycle {charge.cycle}) is "
                          f"{status} in the shop; the card payment stands until it is refunded in myPOS",
                          shop_id=shop_id,
                          agreement_id=charge.agreement_id, order_id=order_id, status=status)
        if delivery_id:
            _finish(bridge, delivery_id, "processed", outcome, uow=uow)
        uow.commit()
    return outcome


def _order_gone(bridge: Bridge, delivery_id: int, shop_id: int, order_id: str) -> str:
    if _is_renewal_order(bridge, shop_id, order_id):
        return _record_renewal_order_ended(bridge, shop_id, order_id, "trashed", delivery_id)
    now = bridge.clock.now()
    with bridge.uow() as uow:
        cancelled = _cancel_live_agreements(uow, now, shop_id, order_id, "the order was moved to the trash")
        outcome = f"cancelled_{cancelled}" if cancelled else "nothing_to_cancel"
        _finish(bridge, delivery_id, "processed", outcome, uow=uow)
        uow.commit()
    return outcome


def _is_renewal_order(bridge: Bridge, shop_id: int, order_id: str) -> bool:
    with bridge.uow() as uow:
        return uow.session.scalar(select(Charge.id).join(Agreement, Agreement.id == Charge.agreement_id).where(
            Agreement.shop_id == shop_id, Charge.shop_order_id == order_id).limit(1)) is not None


def take_order(bridge: Bridge, shop_id: int, adapter: ShopAdapter, order: ShopOrder,
               delivery_id: int | None = None) -> str:
    """Bring abonne's picture of one shop order up to date: new agreements, cancellations. Idempotent, so a
    webhook, its duplicate and a reconciliation poll may all bring the same order. Raises ShopError."""
    def done(outcome: str, uow: UnitOfWork | None = None) -> str:
        return _finish(bridge, delivery_id, "processed", outcome, uow=uow) if delivery_id else outcome

    if order.own_renewal:
        if order.state in _ENDED:
            return done(_record_renewal_order_ended(bridge, shop_id, order.order_id, order.status, delivery_id))
        return done("ignored_own_renewal")
    with bridge.uow() as uow:
        known = uow.session.scalar(select(ShopOrderRecord.id).where(ShopOrderRecord.shop_id == shop_id,
                                                                    ShopOrderRecord.order_id == order.order_id))
    if known is None and order.state is not OrderState.OPEN:
        return done(f"ignored_{order.state.value}_order")
    terms = resolve_terms(bridge, shop_id, adapter, order.lines) if order.state is OrderState.OPEN else {}
    if known is None and not terms:
        return done("no_subscription")
    now = bridge.clock.now()
    with bridge.uow() as uow:
        record = _upsert_order(uow, now, shop_id, order)
        if order.state in _ENDED:
            cancelled = _cancel_live_agreements(uow, now, shop_id, order.order_id, f"the order is {order.status}")
            outcome = f"cancelled_{cancelled}" if cancelled else "order_updated"
        else:
            created = _create_agreements(bridge, uow, now, shop_id, record, order, terms)
            outcome = f"created_{created}" if created else "order_updated"
        done(outcome, uow)
        uow.commit()
    return outcome


def _upsert_order(uow: UnitOfWork, now: datetime, shop_id: int, order: ShopOrder) -> ShopOrderRecord:
    record = uow.session.scalar(select(ShopOrderRecord).where(ShopOrderRecord.shop_id == shop_id,
                                                              ShopOrderRecord.order_id == order.order_id))
    if record is None:
        record = ShopOrderRecord(shop_id=shop_id, order_id=order.order_id)
        uow.session.add(record)
    record.number, record.status, record.state, record.paid = order.number, order.status, order.state.value, order.paid
    record.currency, record.total_minor, record.updated_at = order.currency, order.total.minor, now
    record.data = {
        "customer_id": order.customer_id,
        "billing": asdict(order.billing),
        "shipping": asdict(order.shipping),
        "lines": [{"line_id": line.line_id, "product_id": line.product_id, "variation_id": line.variation_id,
                   "sku": line.sku, "name": line.name, "quantity": line.quantity, "total_minor": line.total.minor,
                   "tax_minor": line.total_tax.minor, "subtotal_minor": line.subtotal.minor}
                  for line in order.lines],
    }
    uow.session.flush()
    return record


def _create_agreements(bridge: Bridge, uow: UnitOfWork, now: datetime, shop_id: int, record: ShopOrderRecord,
                       order: ShopOrder, terms: dict[str, LineTerms]) -> int:
    existing = set(uow.session.scalars(select(Agreement.line_id).where(Agreement.shop_id == shop_id,
                                                                       Agreement.order_id == order.order_id)))
    checkout = uow.session.scalar(select(Checkout).where(Checkout.shop_order_pk == record.id))
    created = 0
    for line in order.lines:
        line_terms = terms.get(line.line_id)
        if line_terms is None or line.line_id in existing:
            continue
        problem = _unbillable(line_terms, line.total + line.total_tax)
        if problem:
            events.record(uow, now, "line_not_billable", f"line {line.line_id} ({line.name}) is a subscription "
                          f"but cannot be billed: {problem}", shop_id=shop_id, order_id=order.order_id)
            continue
        if checkout is None:
            checkout = Checkout(shop_order_pk=record.id, gateway_order_id=new_gateway_order_id(),
                                currency=order.currency, created_at=now)
            uow.session.add(checkout)
            uow.session.flush()
        t = line_terms.terms
        agreement = Agreement(
            shop_id=shop_id, order_id=order.order_id, line_id=line.line_id, shop_order_pk=record.id,
            checkout_id=checkout.id, plan_id=line_terms.plan_id, plan_name=line_terms.plan_name,
            product_id=line.product_id, product_name=line.name, quantity=line.quantity, currency=order.currency,
            amount_minor=(line.total + line.total_tax).minor, net_minor=line.total.minor,
            period_unit=t.unit, period_every=t.every, trial_unit=t.trial_unit, trial_length=t.trial_length,
            signup_fee_minor=Money.parse(t.signup_fee, order.currency).minor, cycles=t.cycles,
            state=AgreementState.AWAITING_CARD.value, customer_email=order.billing.email,
            customer_name=f"{order.billing.first_name} {order.billing.last_name}".strip(),
            created_at=now, updated_at=now)
        uow.session.add(agreement)
        uow.session.flush()  # I1 holds here: a concurrent twin fails on the unique constraint and is retried
        events.record(uow, now, "agreement_created", f"agreement for {line.name} ({line_terms.plan_name}) created "
                      "from the shop order; waiting for the customer's card", shop_id=shop_id,
                      agreement_id=agreement.id, order_id=order.order_id)
        created += 1
    if created and checkout is not None and checkout.state == "open":
        link = pay_link(bridge, checkout.id, now)
        days = bridge.settings.pay_link_days
        text = (f"To start your subscription, please complete the payment and save your card securely with myPOS: "
                f"{link} (this link is valid for {days} days).")
        if order.paid:
            text = (f"Thank you for your order. To renew your subscription automatically, please save your card "
                    f"securely with myPOS: {link} (this link is valid for {days} days; nothing is charged now).")
        outbox.enqueue(uow, now, shop_id, "customer_note", f"pay-link:{checkout.id}",
                       {"order_id": order.order_id, "text": text})
    return created


def _unbillable(line_terms: LineTerms, price: Money) -> str:
    t = line_terms.terms
    if t.unsupported:
        return t.unsupported
    try:
        BillingPeriod(PeriodUnit(t.unit), t.every)
        Money.parse(t.signup_fee, price.currency)
    except (ValueError, TermsError, MoneyError) as error:
        return str(error)
    if not price.is_positive():
        return "the line's total is zero, so there is no recurring price to charge"
    return ""


def _cancel_live_agreements(uow: UnitOfWork, now: datetime, shop_id: int, order_id: str, reason: str) -> int:
    agreements = uow.session.scalars(select(Agreement).where(
        Agreement.shop_id == shop_id, Agreement.order_id == order_id,
        Agreement.state.in_([s.value for s in LIVE_STATES])))
    count = 0
    for agreement in agreements:
        agreement.state = next_state(AgreementState(agreement.state), AgreementEvent.CANCELLED).value
        agreement.next_charge_at, agreement.updated_at = None, now
        events.record(uow, now, "agreement_cancelled", f"agreement cancelled: {reason}", shop_id=shop_id,
                      agreement_id=agreement.id, order_id=order_id)
        count += 1
    return count


def new_gateway_order_id() -> str:
    # Unique across every abonne that ever talks to the same myPOS store (the test store is shared).
    return f"ab-{secrets.token_hex(10)}"


def pay_link(bridge: Bridge, checkout_id: int, now: datetime) -> str:
    token = bridge.links.sign("pay", {"c": checkout_id}, int(now.timestamp()))
    return bridge.public_url(f"/pay/{token}")
