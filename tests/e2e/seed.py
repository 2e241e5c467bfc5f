"""Many subscriptions at once, written straight to the database, for measuring how fast the pages load."""
from __future__ import annotations

from datetime import timedelta

from bridge.context import Bridge
from bridge.store.tables import Agreement, Charge, Checkout, EventRecord, ShopOrderRecord

STATES = ("active",) * 7 + ("past_due", "paused", "cancelled")


def seed_agreements(bridge: Bridge, shop_id: int, count: int) -> None:
    now = bridge.clock.now()
    with bridge.uow() as uow:
        session = uow.session
        orders = [ShopOrderRecord(shop_id=shop_id, order_id=str(100_000 + n), status="processing", state="open",
                                  paid=True, currency="EUR", total_minor=1990, updated_at=now) for n in range(count)]
        session.add_all(orders)
        session.flush()
        checkouts = [Checkout(shop_order_pk=o.id, gateway_order_id=f"seed-{o.order_id}", state="paid",
                              currency="EUR", created_at=now) for o in orders]
        session.add_all(checkouts)
        session.flush()
        agreements = [Agreement(
            shop_id=shop_id, order_id=o.order_id, line_id="1", shop_order_pk=o.id, checkout_id=c.id,
            plan_name=f"Plan {n % 5}", product_id=str(n % 40), product_name=f"Coffee box {n % 40}", quantity=1,
            currency="EUR" if n % 4 else "BGN", amount_minor=990 + n % 50 * 100, net_minor=990,
            period_unit="month" if n % 3 else "week", period_every=1, state=STATES[n % len(STATES)],
            cycles_paid=1 + n % 12, started_at=now - timedelta(days=n % 300),
            next_charge_at=now + timedelta(hours=7 * n % 1000), card_last4=f"{n % 10000:04d}", card_exp="3012",
            customer_email=f"customer{n}@example.test", customer_name=f"Customer {n}",
            created_at=now - timedelta(days=n % 300), updated_at=now) for n, (o, c) in enumerate(zip(orders, checkouts))]
        session.add_all(agreements)
        session.flush()
        for n, agreement in enumerate(agreements):
            for cycle in range(1, 4):
                session.add(Charge(agreement_id=agreement.id, cycle=cycle, attempt=1, source="stored_card",
                                   gateway_order_id=f"seed-{agreement.id}-{cycle}", amount_minor=agreement.amount_minor,
                                   currency=agreement.currency, state="declined" if (n + cycle) % 9 == 0 else "succeeded",
                                   created_at=now - timedelta(days=10 * cycle), settled_at=now - timedelta(days=10 * cycle)))
                session.add(EventRecord(at=now - timedelta(days=10 * cycle), kind="charge_succeeded",
                                        message=f"cycle {cycle} charged", shop_id=shop_id, agreement_id=agreement.id,
                                        order_id=agreement.order_id, data={}))
        uow.commit()
