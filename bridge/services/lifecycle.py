"""Steering agreements: the owner's actions, and the schedule's own housekeeping (grace ends, expiring cards)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select

from bridge import metrics
from bridge.context import Bridge
from bridge.domain.agreement import LIVE_STATES, AgreementEvent, AgreementState, InvalidTransition, next_state
from bridge.services import billing, events
from bridge.services.tokenize import terms_of
from bridge.store.db import UnitOfWork, any_due
from bridge.store.tables import Agreement, Charge

S = AgreementState


class LifecycleError(ValueError):
    """The action does not apply to this agreement now; the message says why."""


def _load(uow: UnitOfWork, agreement_id: int) -> Agreement:
    agreement = uow.session.get(Agreement, agreement_id, with_for_update=True)
    if agreement is None:
        raise LifecycleError(f"there is no agreement {agreement_id}")
    return agreement


def _has_open_attempt(uow: UnitOfWork, agreement_id: int) -> bool:
    return bool(uow.session.scalar(select(exists().where(Charge.agreement_id == agreement_id,
                                                         Charge.state.in_(billing.OPEN_STATES)))))


def _transition(agreement: Agreement, event: AgreementEvent) -> None:
    try:
        agreement.state = next_state(AgreementState(agreement.state), event).value
    except InvalidTransition as error:
        raise LifecycleError(str(error)) from None


def pause(bridge: Bridge, agreement_id: int) -> str:
    now = bridge.clock.now()
    with bridge.uow() as uow:
        agreement = _load(uow, agreement_id)
        _transition(agreement, AgreementEvent.PAUSED)
        agreement.updated_at = now
        message = "paused by the shop owner: nothing is charged until it is resumed"
        events.record(uow, now, "agreement_paused", message, shop_id=agreement.shop_id, agreement_id=agreement.id)
        uow.commit()
    return message


def resume(bridge: Bridge, agreement_id: int) -> str:
    now = bridge.clock.now()
    with bridge.uow() as uow:
        agreement = _load(uow, agreement_id)
        _transition(agreement, AgreementEvent.RESUMED)
        agreement.updated_at = now
        when = agreement.next_charge_at
        message = (f"resumed: next charge {when:%Y-%m-%d %H:%M} UTC" if when and when > now
                   else "resumed: the overdue cycle is charged on the next pass")
        events.record(uow, now, "agreement_resumed", message, shop_id=agreement.shop_id, agreement_id=agreement.id)
        uow.commit()
    return message


def cancel(bridge: Bridge, agreement_id: int, at_period_end: bool = False) -> str:
    now = bridge.clock.now()
    with bridge.uow() as uow:
        agreement = _load(uow, agreement_id)
        if AgreementState(agreement.state) not in LIVE_STATES:
            raise LifecycleError(f"agreement {agreement_id} is {agreement.state} already")
        if at_period_end and agreement.state == S.ACTIVE.value and agreement.next_charge_at:
            agreement.cancel_at_period_end, agreement.updated_at = True, now
            message = (f"will be cancelled when the paid period ends, on {agreement.next_charge_at:%Y-%m-%d}; "
                       "nothing more is charged")
        else:
            _transition(agreement, AgreementEvent.CANCELLED)
            agreement.next_charge_at, agreement.updated_at = None, now
            message = "cancelled by the shop owner"
        events.record(uow, now, "agreement_cancelled", message, shop_id=agreement.shop_id, agreement_id=agreement.id)
        uow.commit()
    return message


def charge_now(bridge: Bridge, agreement_id: int) -> str:
    now = bridge.clock.now()
    with bridge.uow() as uow:
        agreement = _load(uow, agreement_id)
        if agreement.state not in (S.ACTIVE.value, S.PAST_DUE.value):
            raise LifecycleError(f"agreement {agreement_id} is {agreement.state}: only active or past-due "
                                 "agreements can be charged")
        if _has_open_attempt(uow, agreement_id):
            raise LifecycleError("a charge for this agreement is in progress; wait until it settles")
        if billing_done(agreement):
            raise LifecycleError("every cycle of this agreement is paid")
        agreement.next_charge_at, agreement.updated_at = now, now
        message = f"cycle {agreement.cycles_paid + 1} is charged on the next pass"
        events.record(uow, now, "charge_requested", message, shop_id=agreement.shop_id, agreement_id=agreement.id)
        uow.commit()
    bridge.wake_worker.set()
    return message


def skip_next(bridge: Bridge, agreement_id: int) -> str:
    """Postpone the next cycle by one period; later dates follow from there."""
    now = bridge.clock.now()
    with bridge.uow() as uow:
        agreement = _schedulable(uow, agreement_id)
        terms = terms_of(agreement)
        cycle = agreement.cycles_paid + 1
        later = terms.due_date(agreement.anchor_at, agreement.anchor_cycle, cycle + 1)
        agreement.anchor_at, agreement.anchor_cycle = later, cycle
        agreement.next_charge_at, agreement.updated_at = later, now
        message = f"cycle {cycle} skipped to {later:%Y-%m-%d}"
        events.record(uow, now, "cycle_skipped", message, shop_id=agreement.shop_id, agreement_id=agreement.id)
        uow.commit()
    return message


def set_next_date(bridge: Bridge, agreement_id: int, when: datetime) -> str:
    now = bridge.clock.now()
    if when <= now:
        raise LifecycleError("the next charge date must be in the future (use charge-now to charge at once)")
    with bridge.uow() as uow:
        agreement = _schedulable(uow, agreement_id)
        agreement.anchor_at, agreement.anchor_cycle = when, agreement.cycles_paid + 1
        agreement.next_charge_at, agreement.updated_at = when, now
        message = f"next charge moved to {when:%Y-%m-%d %H:%M} UTC; later cycles follow from it"
        events.record(uow, now, "next_date_changed", message, shop_id=agreement.shop_id, agreement_id=agreement.id)
        uow.commit()
    return message


def _schedulable(uow: UnitOfWork, agreement_id: int) -> Agreement:
    agreement = _load(uow, agreement_id)
    if agreement.state not in (S.ACTIVE.value, S.PAUSED.value):
        raise LifecycleError(f"agreement {agreement_id} is {agreement.state}: only active or paused agreements "
                             "can be rescheduled")
    if _has_open_attempt(uow, agreement_id):
        raise LifecycleError("a charge for this agreement is in progress; wait until it settles")
    if billing_done(agreement):
        raise LifecycleError("every cycle of this agreement is paid")
    return agreement


def resend_card_link(bridge: Bridge, agreement_id: int) -> str:
    """Send the customer a fresh card-update link as a shop note."""
    now = bridge.clock.now()
    with bridge.uow() as uow:
        agreement = _load(uow, agreement_id)
        if agreement.state not in (S.ACTIVE.value, S.PAST_DUE.value, S.SUSPENDED.value, S.PAUSED.value):
            raise LifecycleError(f"agreement {agreement_id} is {agreement.state}: a card link applies to agreements "
                                 "that have a card")
        billing.ask_for_card(bridge, uow, agreement, now, f"card-link:{agreement.id}:{now.isoformat()}",
                             "Here is a link to update the card used for your subscription.")
        uow.commit()
    bridge.wake_worker.set()
    return "a new card-update link is on its way to the customer as a shop note"


def billing_done(agreement: Agreement) -> bool:
    return agreement.cycles is not None and agreement.cycles_paid >= agreement.cycles


def end_grace_periods(bridge: Bridge) -> int:
    """Suspended agreements whose grace period ended without a new card are cancelled."""
    now = bridge.clock.now()
    query = select(Agreement).where(Agreement.state == S.SUSPENDED.value, Agreement.suspended_until <= now)
    if not any_due(bridge.db, query.with_only_columns(Agreement.id)):
        return 0
    with bridge.uow() as uow:
        ended = list(uow.session.scalars(query))
        for agreement in ended:
            _transition(agreement, AgreementEvent.CANCELLED)
            agreement.updated_at = now
            metrics.dunning_step("cancelled_after_grace", agreement)
            events.record(uow, now, "agreement_cancelled", "cancelled: no new card came before the grace period "
                          "ended", shop_id=agreement.shop_id, agreement_id=agreement.id, order_id=agreement.order_id)
        uow.commit()
    return len(ended)


def warn_expiring_cards(bridge: Bridge) -> int:
    """Ask for a new card ahead of time when the stored one expires before the next charge."""
    now = bridge.clock.now()
    horizon = now + timedelta(days=45)
    warned = 0
    query = select(Agreement).where(Agreement.state == S.ACTIVE.value, Agreement.next_charge_at <= horizon,
                                    Agreement.card_exp != "", Agreement.card_reminder_for != Agreement.card_exp)
    with bridge.db.read() as uow:  # most cards are fine: look without the write lock first
        expiring = [a.id for a in uow.session.scalars(query) if _expires_before(a)]
    if not expiring:
        return 0
    with bridge.uow() as uow:
        for agreement in uow.session.scalars(query.where(Agreement.id.in_(expiring))):
            if not _expires_before(agreement):
                continue
            agreement.card_reminder_for = agreement.card_exp
            billing.ask_for_card(bridge, uow, agreement, now, f"card-expiring:{agreement.id}:{agreement.card_exp}",
                                 f"The card saved for your subscription expires before the next payment on "
                                 f"{agreement.next_charge_at:%Y-%m-%d}.")
            warned += 1
        uow.commit()
    return warned


def _expires_before(agreement: Agreement) -> bool:
    """myPOS gives the expiry as YYMM; a card is good until the end of that month."""
    year, month = 2000 + int(agreement.card_exp[:2]), int(agreement.card_exp[2:])
    first_after = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=agreement.next_charge_at.tzinfo)
    return agreement.next_charge_at >= first_after
