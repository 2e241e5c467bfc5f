"""Every way a renewal charge can go wrong, with what the gateway really did checked in its ledger: never two
successful charges for one cycle, never a cycle lost."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import requests

from adapters.mypos.standin import customer_pays, read_form, submit_auto_form
from bridge.ports import HostedForm
from tests.integration.conftest import VISA, Configured
from tests.waiting import wait_for


def start_renewal(configured: Configured, price: str = "19.90", card: str = VISA, exp: str = "12/30") -> int:
    """An active monthly agreement whose second cycle is now due. Returns its id."""
    product = configured.woo.add_product(f"Club {price}", price, meta={"_subscription_period": "month"})
    _, [agreement_id] = configured.subscribe([(product, 1)], card=card, exp=exp)
    travel(configured, datetime.fromisoformat(configured.agreement(agreement_id)["next_charge_at"]))
    return agreement_id


def travel(configured: Configured, moment: datetime) -> None:
    configured.abonne.clock.set(moment)
    configured.abonne.bridge.wake_worker.set()


def later(configured: Configured, delta: timedelta) -> None:
    travel(configured, configured.abonne.clock.now() + delta)


def charges(configured: Configured, agreement_id: int) -> list[tuple]:
    rows = configured.abonne.rows("SELECT cycle, attempt, state FROM charges WHERE agreement_id = :a AND "
                                  "source = 'stored_card' ORDER BY id", a=agreement_id)
    return [(r["cycle"], r["attempt"], r["state"]) for r in rows]


def gateway_charges(configured: Configured, status: str = "paid") -> list:
    return [t for t in configured.mypos.ledger if t.method == "IPCIAPurchase" and t.status == status]


def wait_state(configured: Configured, agreement_id: int, *states: str) -> dict:
    return wait_for(lambda: (a := configured.agreement(agreement_id))["state"] in states and a,
                    what=f"agreement {agreement_id} to be {' or '.join(states)}")


def wait_charges(configured: Configured, agreement_id: int, expected: list[tuple]) -> None:
    wait_for(lambda: charges(configured, agreement_id) == expected,
             what=f"charges {expected}, have {charges(configured, agreement_id)}")


@pytest.mark.parametrize("fault", ["timeout_after_charge", "http_500_after_charge", "garbled", "unsigned",
                                   "bad_signature", "duplicate_order_id"])
def test_a_charge_that_happened_behind_a_bad_answer_is_settled_by_the_status_query(configured: Configured, fault):
    configured.mypos.inject(fault)
    agreement_id = start_renewal(configured)
    wait_charges(configured, agreement_id, [(2, 1, "unknown")])
    assert len(gateway_charges(configured)) == 1  # the money moved; abonne does not know it yet
    later(configured, timedelta(days=3))  # nothing new is charged while the outcome is unknown ...
    assert configured.abonne.scalar("SELECT count(*) FROM charges WHERE state = 'pending'") == 0
    assert len(gateway_charges(configured)) == 1
    wait_charges(configured, agreement_id, [(2, 1, "succeeded")])  # ... and the janitor's query settles it
    shown = configured.agreement(agreement_id)
    assert shown["cycles_paid"] == 2 and shown["state"] == "active"
    [paid] = gateway_charges(configured)
    assert [c["transaction_ref"] for c in shown["charges"] if c["cycle"] == 2] == [paid.trnref]
    wait_for(lambda: len([o for o in configured.woo.orders() if o["transaction_id"] == paid.trnref]) == 1,
             what="one renewal order")


@pytest.mark.parametrize("fault", ["timeout_before_charge", "http_500"])
def test_a_charge_the_gateway_never_took_is_charged_again_once_it_is_known_not_to_exist(configured: Configured,
                                                                                          fault):
    configured.mypos.inject(fault)
    agreement_id = start_renewal(configured)
    wait_charges(configured, agreement_id, [(2, 1, "unknown")])
    assert gateway_charges(configured) == []
    later(configured, timedelta(minutes=2))  # the gateway does not know it yet, but it might still arrive
    wait_for(lambda: configured.abonne.scalar("SELECT checks FROM charges WHERE state = 'unknown'") == 1,
             what="a first status query")
    assert charges(configured, agreement_id) == [(2, 1, "unknown")]
    later(configured, timedelta(minutes=10))
    wait_charges(configured, agreement_id, [(2, 1, "not_charged"), (2, 2, "succeeded")])
    assert len(gateway_charges(configured)) == 1


def test_status_queries_that_fail_are_retried_later_and_nothing_else_is_charged(configured: Configured):
    configured.mypos.inject("timeout_after_charge")
    configured.mypos.inject("http_500", times=2, method="IPCGetTxnStatus")
    agreement_id = start_renewal(configured)
    wait_charges(configured, agreement_id, [(2, 1, "unknown")])
    later(configured, timedelta(minutes=1))
    wait_for(lambda: configured.abonne.scalar("SELECT checks FROM charges WHERE source = 'stored_card'") == 1, what="the first failed query")
    later(configured, timedelta(minutes=5))
    wait_for(lambda: configured.abonne.scalar("SELECT checks FROM charges WHERE source = 'stored_card'") == 2, what="the second failed query")
    assert charges(configured, agreement_id) == [(2, 1, "unknown")]
    later(configured, timedelta(hours=1))
    wait_charges(configured, agreement_id, [(2, 1, "succeeded")])
    assert len(gateway_charges(configured)) == 1


def card_link_in_notes(configured: Configured, order_id: str) -> str:
    def link():
        for note in configured.woo.notes(int(order_id)):
            found = re.search(r"(http://\S+/card/\S+?)\s", note.note + " ")
            if note.customer_note and found:
                return found.group(1)
        return None
    return wait_for(link, what="a customer note with a card link")


def test_soft_declines_are_retried_on_schedule_then_suspend_and_finally_cancel(configured: Configured):
    agreement_id = start_renewal(configured, price="19.13")  # the stand-in declines ..13 as insufficient funds
    order_id = configured.agreement(agreement_id)["shop_order_id"]
    shown = wait_state(configured, agreement_id, "past_due")
    card_link_in_notes(configured, order_id)  # the first decline tells the customer
    waits = []
    for declines in range(2, 7):
        due = datetime.fromisoformat(shown["next_charge_at"])
        waits.append(due - configured.abonne.clock.now())
        travel(configured, due)
        wait_for(lambda: len(gateway_charges(configured, "declined")) == declines, what=f"decline {declines}")
        # `agreements show` reads the agreement and its charges in two queries: wait for both to agree.
        expected = "suspended" if declines == 6 else "past_due"
        shown = wait_for(lambda: (a := configured.agreement(agreement_id))["state"] == expected
                         and len([c for c in a["charges"] if c["state"] == "declined"]) == declines and a,
                         what=f"the decline to settle with the agreement {expected}")
    assert waits == [timedelta(hours=12), timedelta(hours=12), timedelta(days=1), timedelta(days=2),
                     timedelta(days=3)]
    assert shown["state"] == "suspended" and shown["next_charge_at"] is None
    assert all(c[2] == "declined" for c in charges(configured, agreement_id))
    later(configured, timedelta(days=13))
    assert configured.agreement(agreement_id)["state"] == "suspended"
    later(configured, timedelta(days=2))
    wait_state(configured, agreement_id, "cancelled")
    assert gateway_charges(configured) == []


def test_an_expired_card_asks_for_a_new_one_which_pays_the_overdue_cycle_at_once(configured: Configured):
    agreement_id = start_renewal(configured, exp="01/27")  # valid for the January sign-up, not for 28 February
    wait_state(configured, agreement_id, "suspended")
    assert [t.status_code for t in gateway_charges(configured, "declined")] == [22]  # hard: no retries
    link = card_link_in_notes(configured, configured.agreement(agreement_id)["shop_order_id"])

    page = requests.get(link, timeout=10)
    assert page.status_code == 200
    action, fields = read_form(page.text)
    assert dict(fields)["CardTokenRequest"] == "2" and dict(fields)["Amount"] == "19.90"
    submit_auto_form(customer_pays(HostedForm(action, tuple(fields)), card="5326100000000004", exp="11/31"))
    shown = wait_state(configured, agreement_id, "active")
    assert (shown["card_last4"], shown["card_expiry"], shown["cycles_paid"]) == ("0004", "11/31", 2)
    wait_for(lambda: len([o for o in configured.woo.orders() if o["parent_id"] ==
                          int(shown["shop_order_id"])]) == 1, what="the renewal order of the paid cycle")
    # the next cycle is charged with the new card
    travel(configured, datetime.fromisoformat(shown["next_charge_at"]))
    wait_for(lambda: configured.agreement(agreement_id)["cycles_paid"] == 3, what="cycle 3")
    tokens = {t.token for t in gateway_charges(configured)}
    assert len(tokens) == 1 and len(gateway_charges(configured)) == 1
    expired = requests.get(link, timeout=10)  # sent on 28 February, now 31 March: older than 30 days
    assert expired.status_code == 410 and "expired" in expired.text


def test_a_card_expiring_before_the_next_charge_gets_a_link_ahead_of_time(configured: Configured):
    agreement_id = start_renewal(configured, exp="03/27")  # good for February and March, not for April
    wait_for(lambda: configured.agreement(agreement_id)["cycles_paid"] == 2, what="February")
    order_id = configured.agreement(agreement_id)["shop_order_id"]
    assert not [n for n in configured.woo.notes(int(order_id)) if "/card/" in n.note]
    travel(configured, datetime.fromisoformat(configured.agreement(agreement_id)["next_charge_at"]))
    wait_for(lambda: configured.agreement(agreement_id)["cycles_paid"] == 3, what="March")
    card_link_in_notes(configured, order_id)  # next charge 30 April, the card ends with March
    later(configured, timedelta(days=1))
    wait_for(lambda: configured.abonne.scalar("SELECT count(*) FROM outbox WHERE state = 'pending'") == 0,
             what="the outbox to drain")
    assert len([n for n in configured.woo.notes(int(order_id)) if "/card/" in n.note]) == 1
