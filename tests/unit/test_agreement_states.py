import pytest

from bridge.domain.agreement import AgreementEvent as E
from bridge.domain.agreement import AgreementState as S
from bridge.domain.agreement import InvalidTransition, next_state


def test_a_stored_card_activates_an_agreement_that_waits_for_it():
    assert next_state(S.AWAITING_CARD, E.CARD_STORED) is S.ACTIVE


def test_a_rolled_back_first_payment_waits_for_the_card_again():
    assert next_state(S.ACTIVE, E.PAYMENT_ROLLED_BACK) is S.AWAITING_CARD


def test_cancelled_and_expired_agreements_are_final():
    for final in (S.CANCELLED, S.EXPIRED):
        for event in E:
            with pytest.raises(InvalidTransition):
                next_state(final, event)


def test_an_agreement_without_a_card_cannot_be_renewed():
    with pytest.raises(InvalidTransition, match="awaiting_card cannot take renewal_paid"):
        next_state(S.AWAITING_CARD, E.RENEWAL_PAID)
