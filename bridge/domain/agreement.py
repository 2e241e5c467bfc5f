"""The agreement lifecycle: which state may follow which. Pure."""
from __future__ import annotations

import enum


class AgreementState(enum.Enum):
    AWAITING_CARD = "awaiting_card"  # created from a shop order; the customer has not stored a card yet
    ACTIVE = "active"
    PAST_DUE = "past_due"  # a renewal was declined; dunning retries it
    SUSPENDED = "suspended"  # retries ran out; waits for a new card until the grace period ends
    PAUSED = "paused"  # the shop owner paused it
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # a fixed number of cycles, all paid


class AgreementEvent(enum.Enum):
    CARD_STORED = "card_stored"
    PAYMENT_ROLLED_BACK = "payment_rolled_back"
    RENEWAL_PAID = "renewal_paid"
    RENEWAL_DECLINED = "renewal_declined"
    RETRIES_EXHAUSTED = "retries_exhausted"
    PAUSED = "paused"
    RESUMED = "resumed"
    CANCELLED = "cancelled"
    LAST_CYCLE_PAID = "last_cycle_paid"


class InvalidTransition(Exception):
    def __init__(self, state: AgreementState, event: AgreementEvent):
        super().__init__(f"an agreement that is {state.value} cannot take {event.value}")
        self.state = state
        self.event = event


S, E = AgreementState, AgreementEvent
_TRANSITIONS: dict[tuple[AgreementState, AgreementEvent], AgreementState] = {
    (S.AWAITING_CARD, E.CARD_STORED): S.ACTIVE,
    (S.AWAITING_CARD, E.CANCELLED): S.CANCELLED,
    (S.ACTIVE, E.PAYMENT_ROLLED_BACK): S.AWAITING_CARD,
    (S.ACTIVE, E.RENEWAL_PAID): S.ACTIVE,
    (S.ACTIVE, E.LAST_CYCLE_PAID): S.EXPIRED,
    (S.ACTIVE, E.RENEWAL_DECLINED): S.PAST_DUE,
    (S.ACTIVE, E.PAUSED): S.PAUSED,
    (S.ACTIVE, E.CANCELLED): S.CANCELLED,
    (S.ACTIVE, E.CARD_STORED): S.ACTIVE,
    (S.PAST_DUE, E.RENEWAL_PAID): S.ACTIVE,
    (S.PAST_DUE, E.LAST_CYCLE_PAID): S.EXPIRED,
    (S.PAST_DUE, E.RENEWAL_DECLINED): S.PAST_DUE,
    (S.PAST_DUE, E.RETRIES_EXHAUSTED): S.SUSPENDED,
    (S.PAST_DUE, E.CARD_STORED): S.PAST_DUE,
    (S.PAST_DUE, E.CANCELLED): S.CANCELLED,
    (S.SUSPENDED, E.RENEWAL_PAID): S.ACTIVE,
    (S.SUSPENDED, E.LAST_CYCLE_PAID): S.EXPIRED,
    (S.SUSPENDED, E.CARD_STORED): S.PAST_DUE,  # charged again with the new card
    (S.SUSPENDED, E.CANCELLED): S.CANCELLED,
    (S.PAUSED, E.RESUMED): S.ACTIVE,
    (S.PAUSED, E.CANCELLED): S.CANCELLED,
}


def next_state(state: AgreementState, event: AgreementEvent) -> AgreementState:
    try:
        return _TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(state, event) from None


LIVE_STATES = frozenset({S.AWAITING_CARD, S.ACTIVE, S.PAST_DUE, S.SUSPENDED, S.PAUSED})
