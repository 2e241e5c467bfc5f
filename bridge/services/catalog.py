"""Which order lines are subscriptions, and on what terms: a plan mapped by the owner, the shop's own plan on the
line, or the product's own meta, in that order.

Shop calls happen between transactions, never inside one: a transaction holds SQLite's write lock.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bridge.context import Bridge
from bridge.ports import OrderLine, ShopAdapter, ShopProduct, SubscriptionTerms
from bridge.store.tables import Plan, ProductCache, ProductPlan

PRODUCT_CACHE_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class LineTerms:
    plan_id: int | None
    plan_name: str
    terms: SubscriptionTerms


def resolve_terms(bridge: Bridge, shop_id: int, adapter: ShopAdapter,
                  lines: tuple[OrderLine, ...]) -> dict[str, LineTerms]:
    """Terms for each subscription line, keyed by line id. A mapping wins over the shop's plan on the line, which
    wins over product meta. Raises ShopError."""
    now = bridge.clock.now()
    found: dict[str, LineTerms] = {}
    products: dict[str, ShopProduct | None] = {}
    with bridge.uow() as uow:
        for line in lines:
            refs = [ref for ref in (line.product_id, line.variation_id, line.sku) if ref]
            plan = uow.session.scalar(select(Plan).join(ProductPlan, ProductPlan.plan_id == Plan.id)
                                      .where(ProductPlan.shop_id == shop_id, ProductPlan.product_ref.in_(refs))
                                      .order_by(ProductPlan.id).limit(1))
            if plan is not None:
                found[line.line_id] = LineTerms(plan.id, plan.name, SubscriptionTerms(
                    unit=plan.period_unit, every=plan.period_every, cycles=plan.cycles, trial_unit="day",
                    trial_length=plan.trial_days, signup_fee=plan.signup_fee))
                continue
            if line.terms is not None:  # the shop put its own plan on the line: no product read needed
                continue
            row = uow.session.scalar(select(ProductCache).where(ProductCache.shop_id == shop_id,
                                                                ProductCache.product_id == line.product_id))
            fresh = row is not None and now - row.fetched_at < PRODUCT_CACHE_TTL
            products[line.product_id] = _from_cache(row) if fresh else None
    # The order payload lacks product meta, which lives on the parent product (not on a variation, not by SKU).
    fetched = {pid: adapter.get_product(pid) for pid, product in products.items() if product is None}
    if fetched:
        _store(bridge, shop_id, fetched)
        products.update(fetched)
    for line in lines:
        product = products.get(line.product_id)
        if line.line_id in found:
            continue
        if line.terms is not None:
            found[line.line_id] = LineTerms(None, f"{line.name[:80]} (the shop's own plan)", line.terms)
        elif product is not None and product.terms is not None:
            found[line.line_id] = LineTerms(None, f"product {product.product_id} ({product.name})", product.terms)
    return found


def _from_cache(row: ProductCache | None) -> ShopProduct | None:
    if row is None:
        return None
    return ShopProduct(row.product_id, row.sku, row.name, "0", SubscriptionTerms(**row.terms) if row.terms else None)


def _store(bridge: Bridge, shop_id: int, products: dict[str, ShopProduct]) -> None:
    now = bridge.clock.now()
    try:
        with bridge.uow() as uow:
            for product_id, product in products.items():
                row = uow.session.scalar(select(ProductCache).where(ProductCache.shop_id == shop_id,
                                                                    ProductCache.product_id == product_id))
                if row is None:
                    row = ProductCache(shop_id=shop_id, product_id=product_id)
                    uow.session.add(row)
                row.sku, row.name, row.fetched_at = product.sku, product.name, now
                row.terms = asdict(product.terms) if product.terms else None
            uow.commit()
    except IntegrityError:
        # Another worker cached the same product between our read and our insert (several workers on PostgreSQL,
        # two orders of one product): its copy is as fresh as ours, and the order goes on with what we read.
        pass
