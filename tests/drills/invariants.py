"""The three numbers every fault drill ends on, counted from what each side really holds.

- charges per cycle: succeeded charges in abonne's database per (agreement, cycle), and paid stored-card charges in
  the stand-in myPOS's ledger per (agreement, cycle) (abonne's gateway order ids name both): exactly 1 each;
- renewal orders per charge: orders in the stand-in shop carrying the charge's renewal key and myPOS transaction:
  exactly 1 per succeeded renewal charge, and no renewal order without one;
- webhooks stored vs sent: every delivery the shop sent and abonne acknowledged is stored byte for byte (a second
  delivery of the same bytes counts on the stored row's `duplicates`), nothing is stored that the shop did not send,
  and every order whose delivery went unanswered is known to abonne all the same (stored before the answer was
  lost, or found by polling the shop).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from adapters.mypos.standin import MyPosStandin
from adapters.woocommerce.standin import WooCommerceStandin

ORDER_ID = re.compile(r"ab-(\d+)-(\d+)-\d+-[0-9a-f]+")  # renew.claim's gateway order id: agreement, cycle, attempt


@dataclass(frozen=True)
class Tally:
    charges_per_cycle: Counter  # (agreement, cycle) -> succeeded charges in abonne, the hosted first payment too
    paid_per_cycle: Counter  # (agreement, cycle) -> paid stored-card charges in the gateway's ledger
    orders_per_charge: Counter  # (agreement, cycle) -> renewal orders in the shop with that charge's transaction
    stray_renewal_orders: list[Any]  # renewal orders in the shop that match no succeeded charge
    webhooks_sent: int  # deliveries the shop sent (pings aside)
    webhooks_acknowledged: int  # ... that abonne answered 2xx
    acknowledged_unstored: int  # ... of those, not stored byte for byte: must be none
    stored_count: int  # rows plus their duplicates: one per delivery that reached the database
    unanswered_orders: set[str]  # orders whose delivery got no 2xx
    unanswered_orders_known: set[str]  # ... that abonne knows all the same

    def summary(self) -> str:
        return (f"charges per cycle {sorted(set(self.charges_per_cycle.values()))} over "
                f"{len(self.charges_per_cycle)} cycles (gateway {sorted(set(self.paid_per_cycle.values()))} over "
                f"{len(self.paid_per_cycle)} renewals); renewal orders per charge "
                f"{sorted(set(self.orders_per_charge.values()))} over {len(self.orders_per_charge)} charges; "
                f"webhooks stored {self.stored_count} of {self.webhooks_sent} sent ({self.webhooks_acknowledged} "
                f"acknowledged, {self.acknowledged_unstored} of those missing; orders of unanswered ones known: "
                f"{len(self.unanswered_orders_known)} of {len(self.unanswered_orders)})")


def tally(engine: Engine, woo: WooCommerceStandin, mypos: MyPosStandin) -> Tally:
    with engine.connect() as connection:
        succeeded = connection.execute(text(
            "SELECT agreement_id, cycle, source, transaction_ref FROM charges WHERE state = 'succeeded'")).all()
        stored = connection.execute(text("SELECT body, duplicates FROM deliveries")).all()
        known_orders = set(connection.execute(text("SELECT order_id FROM shop_orders")).scalars())
    charges_per_cycle = Counter((row.agreement_id, row.cycle) for row in succeeded)

    paid_per_cycle: Counter = Counter()
    for transaction in mypos.ledger:
        if transaction.method == "IPCIAPurchase" and transaction.status == "paid":
            agreement, cycle = ORDER_ID.fullmatch(transaction.order_id).groups()
            paid_per_cycle[(int(agreement), int(cycle))] += 1

    renewal_charges = {row.transaction_ref: (row.agreement_id, row.cycle) for row in succeeded
                       if row.source == "stored_card"}
    orders_per_charge: Counter = Counter({key: 0 for key in renewal_charges.values()})
    stray = []
    for order in woo.orders():
        key = next((m["value"] for m in order["meta_data"] if m["key"] == "_bridge_renewal_key"), None)
        if key is None:
            continue
        charge = renewal_charges.get(order["transaction_id"])
        if charge is not None and key == f"{charge[0]}:{charge[1]}":
            orders_per_charge[charge] += 1
        else:
            stray.append(order)

    sent = [d for d in woo.deliveries if d.topic != "ping"]
    acknowledged = [d for d in sent if d.succeeded]
    stored_bodies = {bytes(row.body) for row in stored}
    unanswered = {str(d.resource_id) for d in sent if not d.succeeded}
    return Tally(charges_per_cycle, paid_per_cycle, orders_per_charge, stray,
                 webhooks_sent=len(sent), webhooks_acknowledged=len(acknowledged),
                 acknowledged_unstored=len([d for d in acknowledged if d.body not in stored_bodies]),
                 stored_count=sum(1 + row.duplicates for row in stored),
                 unanswered_orders=unanswered, unanswered_orders_known=unanswered & known_orders)


def assert_exactly_once(counted: Tally, cycles: int, renewals: int, webhooks: int | None = None) -> None:
    """The drill's end state: `cycles` cycles paid (first payments included), `renewals` of them by stored-card
    charges, each charged once and pushed once; every webhook stored (`webhooks`: how many the shop sent)."""
    print(f"\n{counted.summary()}")
    assert set(counted.charges_per_cycle.values()) == {1}, f"cycles charged more than once: {counted.summary()}"
    assert len(counted.charges_per_cycle) == cycles, counted.summary()
    assert dict(counted.paid_per_cycle) == {key: 1 for key in counted.orders_per_charge}, \
        f"the gateway's ledger and abonne's charges differ: {counted.summary()}"
    assert len(counted.orders_per_charge) == renewals, counted.summary()
    assert set(counted.orders_per_charge.values()) <= {1} and not counted.stray_renewal_orders, \
        f"renewal orders missing or duplicated: {counted.summary()}"
    assert counted.acknowledged_unstored == 0, f"acknowledged webhooks were lost: {counted.summary()}"
    assert counted.webhooks_acknowledged <= counted.stored_count <= counted.webhooks_sent, counted.summary()
    assert counted.unanswered_orders_known == counted.unanswered_orders, counted.summary()
    if webhooks is not None:
        assert counted.webhooks_sent == webhooks, counted.summary()
