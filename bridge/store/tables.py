"""The database schema. Uniqueness that money depends on is a constraint here, never a check in Python."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import (JSON, BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; times are aware UTC")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON()}


class Shop(Base):
    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # non-secret settings
    secrets_encrypted: Mapped[str] = mapped_column(Text)  # Fernet token of a JSON object
    created_at: Mapped[datetime]
    reconciled_until: Mapped[Optional[datetime]] = mapped_column(nullable=True)  # orders seen up to here
    reconcile_due_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)
    # The shop answered 429/503 with Retry-After: no push and no poll reaches it before this time.
    quiet_until: Mapped[Optional[datetime]] = mapped_column(nullable=True)


class GatewayAccount(Base):
    """The myPOS merchant settings; one row (id 1)."""

    __tablename__ = "gateway_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets_encrypted: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class Plan(Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    period_unit: Mapped[str] = mapped_column(String(10))
    period_every: Mapped[int] = mapped_column(Integer)
    trial_days: Mapped[int] = mapped_column(Integer, default=0)
    signup_fee: Mapped[str] = mapped_column(String(32), default="0")  # decimal, in the order's currency
    cycles: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime]


class ProductPlan(Base):
    """A shop product (by id or SKU) sold as a subscription on a plan."""

    __tablename__ = "product_plans"
    __table_args__ = (UniqueConstraint("shop_id", "product_ref", name="uq_product_plans_shop_product"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    product_ref: Mapped[str] = mapped_column(String(200))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]


class ProductCache(Base):
    __tablename__ = "product_cache"
    __table_args__ = (UniqueConstraint("shop_id", "product_id", name="uq_product_cache_shop_product"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(200), default="")
    name: Mapped[str] = mapped_column(String(500), default="")
    terms: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON, nullable=True)
    fetched_at: Mapped[datetime]


class Delivery(Base):
    """A verified webhook delivery, stored before it is processed (I8)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("shop_id", "business_key", name="uq_deliveries_shop_business_key"),
        Index("ix_deliveries_state_next", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    business_key: Mapped[str] = mapped_column(String(200))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="received")  # received | processed | failed
    outcome: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str] = mapped_column(Text, default="")
    duplicates: Mapped[int] = mapped_column(Integer, default=0)


class ShopOrderRecord(Base):
    """What abonne last knew of a shop order that carries subscriptions."""

    __tablename__ = "shop_orders"
    __table_args__ = (UniqueConstraint("shop_id", "order_id", name="uq_shop_orders_shop_order"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    paid: Mapped[bool] = mapped_column(default=False)
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)  # customer, addresses and lines as normalized
    updated_at: Mapped[datetime]


class Checkout(Base):
    """The customer's first visit to the gateway for one shop order: pay (or only store the card)."""

    __tablename__ = "checkouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_order_pk: Mapped[int] = mapped_column(ForeignKey("shop_orders.id", ondelete="CASCADE"), unique=True)
    gateway_order_id: Mapped[str] = mapped_column(String(80), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | paid
    mode: Mapped[str] = mapped_column(String(16), default="")  # pay_and_store | store_only, set when rendered
    amount_minor: Mapped[Optional[int]] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    transaction_ref: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    paid_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)


class Agreement(Base):
    __tablename__ = "agreements"
    __table_args__ = (
        UniqueConstraint("shop_id", "order_id", "line_id", name="uq_agreements_shop_order_line"),  # I1
        Index("ix_agreements_state_next_charge", "state", "next_charge_at"),
        # The due claim's order over the chargeable states only: a claim reads the rows it takes (migration 0006).
        Index("ix_agreements_chargeable_due", "next_charge_at", "id",
              sqlite_where=text("state IN ('active', 'past_due')"),
              postgresql_where=text("state IN ('active', 'past_due')")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="RESTRICT"))
    order_id: Mapped[str] = mapped_column(String(64))
    line_id: Mapped[str] = mapped_column(String(64))
    shop_order_pk: Mapped[int] = mapped_column(ForeignKey("shop_orders.id", ondelete="RESTRICT"))
    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkouts.id", ondelete="RESTRICT"))
    plan_id: Mapped[Optional[int]] = mapped_column(ForeignKey("plans.id", ondelete="SET NULL"), nullable=True)
    plan_name: Mapped[str] = mapped_column(String(100))
    product_id: Mapped[str] = mapped_column(String(64))
    product_name: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # charged per cycle, tax included
    net_minor: Mapped[int] = mapped_column(BigInteger)  # the line's net total, sent back on renewal orders
    period_unit: Mapped[str] = mapped_column(String(10))
    period_every: Mapped[int] = mapped_column(Integer)
    trial_unit: Mapped[str] = mapped_column(String(10), default="day")
    trial_length: Mapped[int] = mapped_column(Integer, default=0)
    signup_fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    cycles: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    cycles_paid: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)
    anchor_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)  # the schedule counts periods from here
    anchor_cycle: Mapped[int] = mapped_column(Integer, default=1)  # ...which is when this cycle fell due
    next_charge_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)  # next attempt (due date or retry)
    declines_this_cycle: Mapped[int] = mapped_column(Integer, default=0)
    suspended_until: Mapped[Optional[datetime]] = mapped_column(nullable=True)  # grace end: then cancelled
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    card_reminder_for: Mapped[str] = mapped_column(String(4), default="")  # the expiry already warned about
    card_token_encrypted: Mapped[str] = mapped_column(Text, default="")
    card_last4: Mapped[str] = mapped_column(String(4), default="")
    card_exp: Mapped[str] = mapped_column(String(4), default="")  # YYMM, as myPOS returns it
    card_type: Mapped[str] = mapped_column(String(16), default="")
    customer_email: Mapped[str] = mapped_column(String(320), default="")
    customer_name: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Charge(Base):
    """One attempt to collect one cycle. Written before the gateway is called (I3)."""

    __tablename__ = "charges"
    __table_args__ = (
        # I2: at most one successful charge per (agreement, cycle).
        Index("uq_charges_one_success_per_cycle", "agreement_id", "cycle", unique=True,
              sqlite_where=text("state = 'succeeded'"), postgresql_where=text("state = 'succeeded'")),
        # I2: attempt n+1 is never sent while attempt n is pending or unknown: one open attempt per agreement.
        Index("uq_charges_one_open_attempt", "agreement_id", unique=True,
              sqlite_where=text("state IN ('pending', 'unknown')"),
              postgresql_where=text("state IN ('pending', 'unknown')")),
        Index("ix_charges_state_check", "state", "next_check_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="RESTRICT"))
    cycle: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    gateway_order_id: Mapped[Optional[str]] = mapped_column(String(80), unique=True, nullable=True)
    source: Mapped[str] = mapped_column(String(16))  # hosted_page | stored_card | shop (paid in the shop)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # pending | succeeded | declined | unknown | not_charged (the gateway never took it) | reversed
    state: Mapped[str] = mapped_column(String(16))
    transaction_ref: Mapped[str] = mapped_column(String(64), default="")
    status_code: Mapped[str] = mapped_column(String(16), default="")
    decline: Mapped[str] = mapped_column(String(8), default="")  # soft | hard
    message: Mapped[str] = mapped_column(Text, default="")
    checks: Mapped[int] = mapped_column(Integer, default=0)  # status queries so far (janitor)
    next_check_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)
    shop_order_id: Mapped[str] = mapped_column(String(64), default="")  # the renewal order in the shop
    created_at: Mapped[datetime]
    settled_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)


class CardUpdate(Base):
    """A customer's visit to the hosted page to replace the stored card (and maybe pay what is overdue)."""

    __tablename__ = "card_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    gateway_order_id: Mapped[str] = mapped_column(String(80), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | done
    mode: Mapped[str] = mapped_column(String(16), default="")
    cycle: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)  # the overdue cycle paid with it
    amount_minor: Mapped[Optional[int]] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    transaction_ref: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    done_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)


class GatewayCallbackRecord(Base):
    """Every verified gateway callback, kept as received."""

    __tablename__ = "gateway_callbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    gateway_order_id: Mapped[str] = mapped_column(String(80), index=True)
    transaction_ref: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]


class OutboxMessage(Base):
    """Work for a shop, queued in the same transaction as the change that causes it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # customer_note | mark_paid
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    done_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)


class EventRecord(Base):
    """The timeline: what happened to a shop, an order or an agreement, in words and data."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(64))
    shop_id: Mapped[Optional[int]] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), nullable=True)
    agreement_id: Mapped[Optional[int]] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"),
                                                        nullable=True, index=True)
    order_id: Mapped[str] = mapped_column(String(64), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AdminSetting(Base):
    """Small settings the owner changes at run time (the admin password hash)."""

    __tablename__ = "admin_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token for /api/v1; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown to people to tell tokens apart
    scopes: Mapped[str] = mapped_column(String(100))  # space-separated: read, write
    created_at: Mapped[datetime]
    last_used_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_client_at", "client", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    succeeded: Mapped[bool] = mapped_column(default=False)


class WorkerHeartbeat(Base):
    """When each worker last started a pass, by the bridge's clock: /readyz wants one younger than a minute."""

    __tablename__ = "worker_heartbeats"

    worker: Mapped[str] = mapped_column(String(200), primary_key=True)  # host:pid
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(index=True)
