"""What a charge's outcome does to its agreement. Every function runs inside the caller's transaction, so a
success, the agreement's advance and the queued renewal order commit together or not at all (I5)."""
from __future__ import annotations

from datetime import datetime

from bridge import metrics
from bridge.context import Bridge
from bridge.domain.agreement import AgreementEvent, AgreementState, next_state
from bridge.domain.dunning import DunningAction
from bridge.domain.money import Money
from bridge.ports import Address, RenewalLine, RenewalOrder
from bridge.services import events, outbox
from bridge.services.tokenize import terms_of
from bridge.store.db import UnitOfWork
from bridge.store.tables import Agreement, Charge, ShopOrderRecord

OPEN_STATES = ("pending", "unknown")


def record_success(bridge: Bridge, uow: UnitOfWork, agreement: Agreement, charge: Charge, transaction_ref: str,
                   now: datetime) -> None:
    """The card was charged for charge.cycle: settle it, advance the schedule, queue the renewal order."""
    charge.state, charge.transaction_ref, charge.settled_at = "succeeded", transaction_ref, now
    charge.next_check_at = None
    agreement.cycles_paid = max(agreement.cycles_paid, charge.cycle)
    agreement.declines_this_cycle, agreement.suspended_until, agreement.updated_at = 0, None, now
    terms = terms_of(agreement)
    following = terms.next_due(agreement.anchor_at, agreement.anchor_cycle, agreement.cycles_paid)
    event = AgreementEvent.RENEWAL_PAID if following else AgreementEvent.LAST_CYCLE_PAID
    agreement.state = next_state(AgreementState(agreement.state), event).value
    agreement.next_charge_at = following
    amount = Money(charge.amount_minor, charge.currency)
    then = f"next charge {following:%Y-%m-%d}" if following else "that was the last cycle: the agreement is expired"
    events.record(uow, now, "charge_succeeded", f"cycle {charge.cycle} charged {amount} (myPOS {transaction_ref}); "
                  f"{then}", shop_id=agreement.shop_id, agreement_id=agreement.id, order_id=agreement.order_id,
                  charge_id=charge.id)
    metrics.charge_recorded(charge, agreement.shop_id)
    renewal = renewal_order(uow, agreement, charge)
    outbox.enqueue(uow, now, agreement.shop_id, "renewal_order", f"renewal:{renewal.key}",
                   {"charge_id": charge.id, "renewal": outbox.renewal_payload(renewal)})


def record_decline(bridge: Bridge, uow: UnitOfWork, agreement: Agreement, charge: Charge, status_code: str,
                   message: str, hard: bool, now: datetime) -> None:
    """The gateway refused the charge: follow the dunning policy."""
    charge.state, charge.status_code, charge.message = "declined", status_code, message
    charge.decline, charge.settled_at, charge.next_check_at = "hard" if hard else "soft", now, None
    agreement.declines_this_cycle += 1
    agreement.updated_at = now
    metrics.charge_recorded(charge, agreement.shop_id)
    step = bridge.settings.dunning.after_decline(hard, agreement.declines_this_cycle, now)
    state = AgreementState(agreement.state)
    if state is AgreementState.ACTIVE:
        state = next_state(state, AgreementEvent.RENEWAL_DECLINED)
    why = f"cycle {charge.cycle} declined ({message or 'code ' + status_code}, {charge.decline})"
    metrics.dunning_step("retry_scheduled" if step.action is DunningAction.RETRY else "suspended", agreement)
    if step.action is DunningAction.RETRY:
        agreement.state, agreement.next_charge_at = state.value, step.at
        events.record(uow, now, "charge_declined", f"{why}; retry {agreement.declines_this_cycle} on "
                      f"{step.at:%Y-%m-%d %H:%M} UTC", shop_id=agreement.shop_id, agreement_id=agreement.id,
                      order_id=agreement.order_id, charge_id=charge.id, status_code=status_code)
    else:
        if state is not AgreementState.SUSPENDED:
            state = next_state(state, AgreementEvent.RETRIES_EXHAUSTED)
        agreement.state, agreement.next_charge_at, agreement.suspended_until = state.value, None, step.at
        reason = "the card cannot be charged" if hard else "every retry was declined"
        events.record(uow, now, "agreement_suspended", f"{why}; {reason}: suspended until a new card is given, "
                      f"cancelled on {step.at:%Y-%m-%d} otherwise", shop_id=agreement.shop_id,
                      agreement_id=agreement.id, order_id=agreement.order_id, charge_id=charge.id,
                      status_code=status_code)
    if step.ask_for_card:
        ask_for_card(bridge, uow, agreement, now, f"card-needed:{agreement.id}:{charge.cycle}:{charge.attempt}",
                     "We could not charge your card for your subscription renewal.")


def record_not_charged(uow: UnitOfWork, agreement: Agreement, charge: Charge, reason: str, now: datetime) -> None:
    """The gateway never took this attempt (it says it does not know the order id): nothing moved, so the
    cycle stays due and the next pass charges it with a new order id."""
    charge.state, charge.message, charge.settled_at, charge.next_check_at = "not_charged", reason, now, None
    metrics.charge_recorded(charge, agreement.shop_id)
    events.record(uow, now, "charge_not_taken", f"attempt {charge.attempt} of cycle {charge.cycle} was not taken by "
                  f"the gateway ({reason}); it will be charged again", shop_id=agreement.shop_id,
                  agreement_id=agreement.id, order_id=agreement.order_id, charge_id=charge.id)


def ask_for_card(bridge: Bridge, uow: UnitOfWork, agreement: Agreement, now: datetime, dedupe_key: str,
                 opening: str) -> None:
    from bridge.services.card_update import card_link  # card_update settles through this module too
    link = card_link(bridge, agreement.id, now)
    text = (f"{opening} Please give a new card (or the same one again) securely with myPOS: {link} "
            f"(this link is valid for {bridge.settings.pay_link_days} days).")
    outbox.enqueue(uow, now, agreement.shop_id, "customer_note", dedupe_key,
                   {"order_id": agreement.order_id, "text": text})
    metrics.dunning_step("card_requested", agreement)
    events.record(uow, now, "card_requested", "the customer was sent a link to give a new card",
                  shop_id=agreement.shop_id, agreement_id=agreement.id, order_id=agreement.order_id)


def renewal_order(uow: UnitOfWork, agreement: Agreement, charge: Charge) -> RenewalOrder:
    record = uow.session.get(ShopOrderRecord, agreement.shop_order_pk)
    line = next((entry for entry in record.data.get("lines", []) if entry["line_id"] == agreement.line_id), {})
    return RenewalOrder(
        key=f"{agreement.id}:{charge.cycle}",
        parent_order_id=agreement.order_id,
        customer_id=record.data.get("customer_id"),
        billing=Address(**record.data.get("billing", {})),
        shipping=Address(**record.data.get("shipping", {})),
        lines=(RenewalLine(product_id=agreement.product_id, variation_id=line.get("variation_id"),
                           name=agreement.product_name, quantity=agreement.quantity,
                           net_total=Money(agreement.net_minor, agreement.currency)),),
        charged=Money(charge.amount_minor, charge.currency),
        transaction_id=charge.transaction_ref,
        agreement_id=agreement.id,
        cycle=charge.cycle,
    )
