"""A new card for an agreement: /card/<token> opens the hosted page that stores it (and pays what is overdue)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select

from bridge.context import Bridge
from bridge.domain.agreement import AgreementEvent, AgreementState, next_state
from bridge.domain.money import Money
from bridge.ports import CallbackKind, CartItem, GatewayCallback, HostedForm, HostedMode, HostedPaymentRequest
from bridge.services import billing, events
from bridge.services.callbacks import CallbackOutcome, CallbackRefused
from bridge.services.intake import new_gateway_order_id
from bridge.services.tokenize import PayLinkError, customer_of, load_link
from bridge.store.db import UnitOfWork
from bridge.store.tables import Agreement, CardUpdate, Charge, ShopOrderRecord

UPDATABLE = (AgreementState.ACTIVE, AgreementState.PAST_DUE, AgreementState.SUSPENDED, AgreementState.PAUSED)
OVERDUE = (AgreementState.PAST_DUE.value, AgreementState.SUSPENDED.value)


def card_link(bridge: Bridge, agreement_id: int, now: datetime) -> str:
    token = bridge.links.sign("card", {"a": agreement_id}, int(now.timestamp()))
    return bridge.public_url(f"/card/{token}")


def card_form(bridge: Bridge, token: str) -> HostedForm:
    """The signed form for the hosted page. An overdue agreement pays its cycle at once with the new card;
    any other only stores the card. Raises PayLinkError."""
    now = bridge.clock.now()
    payload = load_link(bridge, "card", token)
    gateway = bridge.current_gateway()  # before the transaction: loading it opens one of its own
    with bridge.uow() as uow:
        agreement = uow.session.get(Agreement, payload.get("a"))
        if agreement is None:
            raise PayLinkError(404, "invalid_link", "this link is not valid")
        if AgreementState(agreement.state) not in UPDATABLE:
            raise PayLinkError(410, "not_updatable", f"this subscription is {agreement.state.replace('_', ' ')}; "
                                                     "please contact the shop")
        open_attempt = uow.session.scalar(select(exists().where(Charge.agreement_id == agreement.id,
                                                                Charge.state.in_(billing.OPEN_STATES))))
        paying = agreement.state in OVERDUE and not open_attempt
        update = uow.session.scalar(select(CardUpdate).where(CardUpdate.agreement_id == agreement.id,
                                                             CardUpdate.state == "open"))
        if update is None:
            update = CardUpdate(agreement_id=agreement.id, gateway_order_id=new_gateway_order_id(),
                                currency=agreement.currency, created_at=now)
            uow.session.add(update)
        amount = Money(agreement.amount_minor, agreement.currency)
        update.mode = (HostedMode.PAY_AND_STORE if paying else HostedMode.STORE_ONLY).value
        update.cycle = agreement.cycles_paid + 1 if paying else None
        update.amount_minor = amount.minor if paying else None
        order = uow.session.get(ShopOrderRecord, agreement.shop_order_pk)
        items = (CartItem(f"{agreement.product_name} (renewal {update.cycle})", 1, amount),) if paying else ()
        request = HostedPaymentRequest(
            gateway_order_id=update.gateway_order_id, mode=HostedMode(update.mode), currency=agreement.currency,
            items=items, customer=customer_of(order.data.get("billing") or {}),
            url_ok=bridge.public_url("/gateway/mypos/ok"), url_cancel=bridge.public_url("/gateway/mypos/cancel"),
            url_notify=bridge.public_url("/gateway/mypos/notify"), note=f"Subscription {agreement.id}: new card")
        form = gateway.hosted_payment_form(request)
        uow.commit()
        return form


def apply_callback(bridge: Bridge, uow: UnitOfWork, now: datetime, update: CardUpdate,
                   callback: GatewayCallback) -> CallbackOutcome:
    """A verified callback about a card update. Raises CallbackRefused."""
    agreement = uow.session.get(Agreement, update.agreement_id)
    if callback.kind is CallbackKind.CANCELLED:
        events.record(uow, now, "card_update_cancelled", "the customer left the card page without a new card",
                      shop_id=agreement.shop_id, agreement_id=agreement.id, order_id=agreement.order_id)
        return CallbackOutcome.CANCELLED
    if callback.kind is CallbackKind.ROLLED_BACK:
        events.record(uow, now, "payment_rolled_back", "the gateway reversed a card-update payment",
                      shop_id=agreement.shop_id, agreement_id=agreement.id, order_id=agreement.order_id)
        return CallbackOutcome.ROLLED_BACK
    if update.state == "done":
        return CallbackOutcome.REPLAYED
    if callback.card is None:
        raise CallbackRefused("no_card", "the callback carries no card token")
    if AgreementState(agreement.state) not in UPDATABLE:
        raise CallbackRefused("not_updatable", f"the agreement is {agreement.state}")
    paying = update.mode == HostedMode.PAY_AND_STORE.value
    if paying:
        expected = Money(update.amount_minor or 0, update.currency)
        if callback.amount != expected:
            raise CallbackRefused("amount_mismatch", f"paid {callback.amount}, expected {expected}")
        open_attempt = uow.session.scalar(select(exists().where(Charge.agreement_id == agreement.id,
                                                                Charge.state.in_(billing.OPEN_STATES))))
        if agreement.cycles_paid >= (update.cycle or 0) or open_attempt:
            # The cycle was charged (or is being charged) with the old card meanwhile: refusing makes myPOS
            # reverse this payment, so the customer never pays one cycle twice.
            raise CallbackRefused("cycle_already_charged", f"cycle {update.cycle} is already paid or in progress")
    card = callback.card
    agreement.card_token_encrypted = bridge.vault.encrypt(card.token)
    agreement.card_last4, agreement.card_exp, agreement.card_type = card.last4, card.exp_yymm, card.card_type
    agreement.card_reminder_for, agreement.updated_at = "", now
    update.state, update.done_at, update.transaction_ref = "done", now, callback.transaction_ref
    events.record(uow, now, "card_replaced", f"the customer gave a new card ending {card.last4} (expires "
                  f"{card.exp_yymm[2:]}/{card.exp_yymm[:2]}); it is used from now on", shop_id=agreement.shop_id,
                  agreement_id=agreement.id, order_id=agreement.order_id)
    if paying:
        charge = Charge(agreement_id=agreement.id, cycle=update.cycle, attempt=0, source="hosted_page",
                        amount_minor=update.amount_minor, currency=update.currency, state="pending", created_at=now)
        uow.session.add(charge)
        uow.session.flush()
        billing.record_success(bridge, uow, agreement, charge, callback.transaction_ref, now)
    elif agreement.state in OVERDUE:
        # Charge the overdue cycle with the new card on the next pass.
        agreement.state = next_state(AgreementState(agreement.state), AgreementEvent.CARD_STORED).value
        agreement.suspended_until = None
        agreement.declines_this_cycle, agreement.next_charge_at = 0, now
    return CallbackOutcome.CARD_REPLACED
