"""Gateway callbacks in: verify, then hand each to the flow that started the payment."""
from __future__ import annotations

import enum
from typing import Sequence

from sqlalchemy import select

from bridge.context import Bridge
from bridge.ports import CallbackKind
from bridge.store.tables import CardUpdate, Checkout, GatewayCallbackRecord


class CallbackOutcome(enum.Enum):
    ACTIVATED = "activated"
    CARD_REPLACED = "card_replaced"
    REPLAYED = "replayed"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"
    RETURNED = "returned"
    IGNORED = "ignored"


class CallbackRefused(Exception):
    """A verified callback abonne cannot accept (unknown order, wrong amount, no card); answering anything but
    OK makes the gateway reverse the payment, which is what should happen then."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def take_callback(bridge: Bridge, form: Sequence[tuple[str, str]]) -> CallbackOutcome:
    """Verify and apply one gateway callback. Idempotent: a replay changes nothing.
    Raises CallbackRejected (unverified: nothing written) or CallbackRefused."""
    from bridge.services import card_update, tokenize

    callback = bridge.current_gateway().verify_callback(form)
    now = bridge.clock.now()
    with bridge.uow() as uow:
        checkout = uow.session.scalar(select(Checkout).where(Checkout.gateway_order_id == callback.gateway_order_id)
                                      .with_for_update())
        update = None if checkout else uow.session.scalar(
            select(CardUpdate).where(CardUpdate.gateway_order_id == callback.gateway_order_id).with_for_update())
        if callback.kind is CallbackKind.RETURNED:
            outcome = CallbackOutcome.RETURNED
        elif checkout is not None:
            outcome = tokenize.apply_callback(bridge, uow, now, checkout, callback)
        elif update is not None:
            outcome = card_update.apply_callback(bridge, uow, now, update, callback)
        elif callback.kind is CallbackKind.PAID:
            raise CallbackRefused("unknown_order", f"no payment of abonne has gateway order id "
                                                   f"{callback.gateway_order_id}")
        else:
            outcome = CallbackOutcome.IGNORED
        uow.session.add(GatewayCallbackRecord(kind=callback.kind.value, gateway_order_id=callback.gateway_order_id,
                                              transaction_ref=callback.transaction_ref, outcome=outcome.value,
                                              received_at=now))
        uow.commit()
        return outcome
