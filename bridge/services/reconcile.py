"""Webhooks get lost (WooCommerce never retries and disables a webhook after 7 failures): poll each shop for the
orders changed since its watermark, feed them through the same intake, and repair the shop's webhooks."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from bridge.context import Bridge
from bridge.ports import ShopError, WebhookRejected
from bridge.services import events
from bridge.services.intake import take_order
from bridge.services.setup import webhook_url
from bridge.store.db import any_due
from bridge.store.tables import Shop

# The first poll starts a day before the shop was connected, by abonne's clock; after that the watermark is the
# newest modification time the shop itself reported. So the two clocks may disagree by up to a day at the start.
FIRST_LOOK_BACK = timedelta(days=1)


@dataclass
class ReconcileReport:
    shops: int = 0
    orders_seen: int = 0
    agreements_created: int = 0
    webhooks_repaired: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return "; ".join([f"{self.shops} shops polled, {self.orders_seen} orders looked at, "
                          f"{self.agreements_created} agreements created from missed webhooks, "
                          f"{self.webhooks_repaired} webhooks re-enabled", *self.problems])


def reconcile_due(bridge: Bridge, force: bool = False) -> ReconcileReport:
    now = bridge.clock.now()
    report = ReconcileReport()
    query = select(Shop).order_by(Shop.id)
    if not force:
        query = query.where(or_(Shop.reconcile_due_at.is_(None), Shop.reconcile_due_at <= now),
                            or_(Shop.quiet_until.is_(None), Shop.quiet_until <= now))  # it asked to be left alone
    if not any_due(bridge.db, query.with_only_columns(Shop.id)):
        return report
    with bridge.uow() as uow:
        shops = list(uow.session.scalars(query))
        for shop in shops:  # claimed for this interval: another worker leaves them alone
            shop.reconcile_due_at = now + timedelta(minutes=bridge.settings.reconcile_minutes)
        uow.commit()
    for shop in shops:
        try:
            _reconcile(bridge, shop, report)
        except (ShopError, WebhookRejected) as error:  # one shop's trouble must not stop the worker's pass
            report.problems.append(f"shop {shop.id}: {error.detail}")
    return report


def _reconcile(bridge: Bridge, shop: Shop, report: ReconcileReport) -> None:
    adapter = bridge.shop_adapter(shop)
    started = bridge.clock.now()
    since = shop.reconciled_until or shop.created_at - FIRST_LOOK_BACK
    orders = adapter.orders_modified_since(since)
    report.shops += 1
    newest = since
    for order in orders:
        try:
            outcome = take_order(bridge, shop.id, adapter, order)
        except IntegrityError:  # another worker wrote news of this order between our read and our write
            outcome = take_order(bridge, shop.id, adapter, order)  # which this second look now finds
        report.orders_seen += 1
        if outcome.startswith("created_"):
            report.agreements_created += int(outcome.split("_")[1])
            with bridge.uow() as uow:
                events.record(uow, bridge.clock.now(), "missed_order_found", f"order {order.order_id} came in by "
                              f"polling, not by webhook: {outcome.replace('_', ' ')} agreement(s)",
                              shop_id=shop.id, order_id=order.order_id)
                uow.commit()
        if order.modified_at and order.modified_at > newest:
            newest = order.modified_at
    repairs = adapter.repair_webhooks(webhook_url(bridge, shop))
    with bridge.uow() as uow:
        row = uow.session.get(Shop, shop.id)
        # The shop's clock, not ours, stamps modification times: keep the newest one seen, never our "now".
        row.reconciled_until = newest
        for repair in repairs:
            if repair.repaired:
                report.webhooks_repaired += 1
                events.record(uow, started, "webhook_repaired", repair.detail, shop_id=shop.id)
        uow.commit()
