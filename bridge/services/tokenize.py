"""The customer's first payment on the gateway's hosted page, which stores the card for renewals."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from bridge import metrics
from bridge.context import Bridge
from bridge.domain.agreement import LIVE_STATES, AgreementEvent, AgreementState, next_state
from bridge.domain.money import Money
from bridge.domain.schedule import BillingPeriod, PeriodUnit, Terms
from bridge.ports import (CallbackKind, CartItem, Customer, GatewayCallback, HostedForm, HostedMode,
                          HostedPaymentRequest)
from bridge.services import events, outbox
from bridge.services.intake import new_gateway_order_id
from bridge.store.db import UnitOfWork
from bridge.services.callbacks import CallbackOutcome, CallbackRefused
from bridge.store.tables import Agreement, Charge, Checkout, ShopOrderRecord
from bridge.vault import LinkError


class PayLinkError(Exception):
    """The pay link cannot be used; `status` is the HTTP status to show, `detail` the sentence for the customer."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def load_link(bridge: Bridge, purpose: str, token: str) -> dict:
    """A customer link's payload; a broken or expired link is a PayLinkError with the page's status."""
    try:
        return bridge.links.load(purpose, token, int(bridge.clock.now().timestamp()),
                                 bridge.settings.pay_link_days * 86400)
    except LinkError as error:
        raise PayLinkError(410 if error.code == "expired_link" else 404, error.code, error.detail) from None


def terms_of(agreement: Agreement) -> Terms:
    trial = (BillingPeriod(PeriodUnit(agreement.trial_unit), agreement.trial_length)
             if agreement.trial_length else None)
    fee = Money(agreement.signup_fee_minor, agreement.currency) if agreement.signup_fee_minor else None
    return Terms(period=BillingPeriod(PeriodUnit(agreement.period_unit), agreement.period_every),
                 price=Money(agreement.amount_minor, agreement.currency), trial=trial, signup_fee=fee,
                 cycles=agreement.cycles)


def pay_form(bridge: Bridge, token: str) -> HostedForm:
    """The signed form for the hosted page. Decides, from what abonne last heard of the shop order, whether the
    customer pays now (order unpaid) or only stores the card (order already paid). Raises PayLinkError."""
    payload = load_link(bridge, "pay", token)
    gateway = bridge.current_gateway()  # before the transaction: loading it opens one of its own
    with bridge.uow() as uow:
        checkout = uow.session.get(Checkout, payload.get("c"))
        if checkout is None:
            raise PayLinkError(404, "invalid_link", "this link is not valid")
        live = uow.session.scalar(select(func.count()).select_from(Agreement).where(
            Agreement.checkout_id == checkout.id, Agreement.state.in_([s.value for s in LIVE_STATES])))
        if not live:
            raise PayLinkError(410, "cancelled", "this subscription was cancelled; please contact the shop")
        if checkout.state == "paid":
            raise PayLinkError(409, "already_done", "your card is already saved and your subscription is active; "
                                                    "there is nothing more to do")
        agreements = _awaiting(uow, checkout.id)
        order = uow.session.get(ShopOrderRecord, checkout.shop_order_pk)
        items = [] if order.paid else _cart(order, agreements)
        mode = HostedMode.PAY_AND_STORE
        if not items or sum(item.amount.minor for item in items) <= 0:
            mode, items = HostedMode.STORE_ONLY, []
        request = HostedPaymentRequest(
            gateway_order_id=checkout.gateway_order_id, mode=mode, currency=order.currency, items=tuple(items),
            customer=customer_of(order.data.get("billing") or {}),
            url_ok=bridge.public_url("/gateway/mypos/ok"), url_cancel=bridge.public_url("/gateway/mypos/cancel"),
            url_notify=bridge.public_url("/gateway/mypos/notify"), note=f"Order {order.number}")
        form = gateway.hosted_payment_form(request)
        checkout.mode = mode.value
        checkout.amount_minor = request.amount.minor if mode is HostedMode.PAY_AND_STORE else None
        uow.commit()
        return form


def _awaiting(uow: UnitOfWork, checkout_id: int) -> list[Agreement]:
    return list(uow.session.scalars(select(Agreement).where(
        Agreement.checkout_id == checkout_id, Agreement.state == AgreementState.AWAITING_CARD.value)
        .order_by(Agreement.id)))


def _cart(order: ShopOrderRecord, agreements: list[Agreement]) -> list[CartItem]:
    """The order's lines as the customer saw them, plus what the order total holds beyond them (shipping, fees,
    discounts), plus the sign-up fees the shop did not charge. The rows add up to exactly what is paid."""
    currency = order.currency
    items = []
    for line in order.data.get("lines", []):
        gross = line["total_minor"] + line["tax_minor"]
        quantity = line["quantity"]
        if quantity > 0 and gross % quantity == 0:
            items.append(CartItem(line["name"] or "Item", quantity, Money(gross // quantity, currency)))
        else:
            items.append(CartItem(f"{quantity} x {line['name']}", 1, Money(gross, currency)))
    rest = order.total_minor - sum(item.amount.minor for item in items)
    if rest:
        items.append(CartItem("Shipping, fees and discounts", 1, Money(rest, currency)))
    for agreement in agreements:
        if agreement.signup_fee_minor:
            items.append(CartItem(f"Sign-up fee: {agreement.product_name}", 1,
                                  Money(agreement.signup_fee_minor, currency)))
    return items


def customer_of(billing: dict) -> Customer:
    address = " ".join(part for part in (billing.get("address_1", ""), billing.get("address_2", "")) if part)
    return Customer(email=billing.get("email", ""), first_name=billing.get("first_name", ""),
                    last_name=billing.get("last_name", ""), phone=billing.get("phone", ""),
                    country=billing.get("country", ""), city=billing.get("city", ""),
                    postcode=billing.get("postcode", ""), address=address)


def apply_callback(bridge: Bridge, uow: UnitOfWork, now: datetime, checkout: Checkout,
                   callback: GatewayCallback) -> CallbackOutcome:
    """A verified callback about a first payment. Raises CallbackRefused."""
    order = uow.session.get(ShopOrderRecord, checkout.shop_order_pk)
    if callback.kind is CallbackKind.CANCELLED:
        events.record(uow, now, "payment_cancelled", "the customer left the payment page without paying",
                      shop_id=order.shop_id, order_id=order.order_id)
        return CallbackOutcome.CANCELLED
    if callback.kind is CallbackKind.ROLLED_BACK:
        return _rolled_back(uow, now, checkout, order, callback)
    if checkout.state == "paid":
        return CallbackOutcome.REPLAYED
    return _paid(bridge, uow, now, checkout, order, callback)


def _paid(bridge: Bridge, uow: UnitOfWork, now: datetime, checkout: Checkout, order: ShopOrderRecord, callback: GatewayCallback) -> CallbackOutcome:
    if callback.card is None:
        raise CallbackRefused("no_card", "the payment carries no card token, so renewals would be impossible")
    paying = checkout.mode == HostedMode.PAY_AND_STORE.value
    if paying and (callback.amount is None or callback.amount != Money(checkout.amount_minor, checkout.currency)):
        raise CallbackRefused("amount_mismatch", f"paid {callback.amount}, expected "
                                                 f"{Money(checkout.amount_minor or 0, checkout.currency)}")
    agreements = _awaiting(uow, checkout.id)
    if not agreements:
        raise CallbackRefused("nothing_to_activate", "every agreement of this order was cancelled")
    checkout.state, checkout.paid_at, checkout.transaction_ref = "paid", now, callback.transaction_ref
    card = callback.card
    for agreement in agreements:
        agreement.card_token_encrypted = bridge.vault.encrypt(card.token)
        agreement.card_last4, agreement.card_exp, agreement.card_type = card.last4, card.exp_yymm, card.card_type
        agreement.state = next_state(AgreementState(agreement.state), AgreementEvent.CARD_STORED).value
        agreement.started_at, agreement.updated_at = now, now
        terms = terms_of(agreement)
        agreement.anchor_at, agreement.anchor_cycle = terms.first_anchor(now), 1
        if terms.first_cycle_at_signup:
            uow.session.add(Charge(agreement_id=agreement.id, cycle=1, source="hosted_page" if paying else "shop",
                                   amount_minor=agreement.amount_minor, currency=agreement.currency,
                                   state="succeeded", transaction_ref=callback.transaction_ref if paying else "",
                                   created_at=now, settled_at=now))
            agreement.cycles_paid = 1
            metrics.CHARGES.labels("succeeded", "hosted_page" if paying else "shop").inc()
        agreement.next_charge_at = terms.next_due(agreement.anchor_at, 1, agreement.cycles_paid)
        if agreement.next_charge_at is None:
            agreement.state = AgreementState.EXPIRED.value
        how = "paid the first cycle and stored" if paying else "stored"
        then = (f"next charge {agreement.next_charge_at:%Y-%m-%d}" if agreement.next_charge_at
                else "nothing is left to charge")
        events.record(uow, now, "card_stored", f"the customer {how} a card ending {card.last4} (type "
                      f"{card.card_type}, expires {card.exp_yymm[2:]}/{card.exp_yymm[:2]}); {then}",
                      shop_id=order.shop_id, agreement_id=agreement.id, order_id=order.order_id,
                      transaction_ref=callback.transaction_ref)
    if paying:
        outbox.enqueue(uow, now, order.shop_id, "mark_paid", f"mark-paid:{checkout.id}",
                       {"order_id": order.order_id, "transaction_id": callback.transaction_ref})
    return CallbackOutcome.ACTIVATED


def _rolled_back(uow: UnitOfWork, now: datetime, checkout: Checkout, order: ShopOrderRecord,
                 callback: GatewayCallback) -> CallbackOutcome:
    if checkout.state != "paid":
        events.record(uow, now, "payment_rolled_back", "the gateway reversed a payment abonne had not accepted",
                      shop_id=order.shop_id, order_id=order.order_id)
        return CallbackOutcome.ROLLED_BACK
    agreements = uow.session.scalars(select(Agreement).where(Agreement.checkout_id == checkout.id,
                                                             Agreement.state == AgreementState.ACTIVE.value))
    for agreement in agreements:
        agreement.state = next_state(AgreementState.ACTIVE, AgreementEvent.PAYMENT_ROLLED_BACK).value
        agreement.card_token_encrypted, agreement.card_last4, agreement.card_exp = "", "", ""
        agreement.next_charge_at, agreement.cycles_paid, agreement.updated_at = None, 0, now
        for charge in uow.session.scalars(select(Charge).where(Charge.agreement_id == agreement.id,
                                                               Charge.state == "succeeded")):
            charge.state = "reversed"
        events.record(uow, now, "payment_rolled_back", "the gateway reversed the first payment; the customer must "
                      "pay again with the same link", shop_id=order.shop_id, agreement_id=agreement.id,
                      order_id=order.order_id)
    # The gateway refuses a second payment under an order id it has seen paid: the next attempt gets a new one.
    checkout.state, checkout.paid_at, checkout.transaction_ref = "open", None, ""
    checkout.gateway_order_id = new_gateway_order_id()
    return CallbackOutcome.ROLLED_BACK
