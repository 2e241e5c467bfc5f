"""What the owner configures: shops, the gateway, plans and which products they cover."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bridge.context import Bridge
from bridge.domain.schedule import BillingPeriod, PeriodUnit, TermsError
from bridge.ports import SettingField
from bridge.store.tables import EventRecord, GatewayAccount, Plan, ProductPlan, Shop


class SetupError(ValueError):
    """Input the owner must correct; the message names the field."""


def _split(fields: tuple[SettingField, ...], values: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    settings, secrets = {}, {}
    for field in fields:
        value = values.get(field.name)
        value = "" if value is None else str(value).strip()
        if field.required and not value:
            raise SetupError(f"{field.name.replace('_', '-')} is required ({field.label})")
        if field.url and value and not value.startswith(("http://", "https://")):
            raise SetupError(f"{field.name.replace('_', '-')} must be an http:// or https:// URL, got {value!r}")
        if field.choices and value and value not in field.choices:
            raise SetupError(f"{field.name.replace('_', '-')} must be one of {', '.join(field.choices)}")
        (secrets if field.secret else settings)[field.name] = value
    return settings, secrets


def add_shop(bridge: Bridge, platform: str, values: Mapping[str, Any], name: str = "", check: bool = False) -> Shop:
    """Save a shop; with `check`, only after one API call proved the URL and keys work."""
    adapter_cls: Any = bridge.registry.shops.get(platform)
    if adapter_cls is None:
        raise SetupError(f"platform must be one of {', '.join(sorted(bridge.registry.shops))}, got {platform!r}")
    settings, secrets = shop_settings(bridge, adapter_cls, values, check,
                                      "the shop was not saved: {detail} (--skip-check saves it anyway)")
    with bridge.uow() as uow:
        shop = Shop(platform=platform, name=name or settings["url"], url=settings["url"], settings=settings,
                    secrets_encrypted=bridge.vault.encrypt_json(secrets), created_at=bridge.clock.now())
        uow.session.add(shop)
        uow.commit()
        return shop


def shop_settings(bridge: Bridge, adapter_cls: Any, values: Mapping[str, Any], check: bool,
                  refusal: str) -> tuple[dict[str, str], dict[str, str]]:
    """A shop's settings and secrets, validated against what its adapter declares; with `check`, proven by one
    API call first (`refusal` words the error, with {detail}), signed by abonne's clock like every later call."""
    settings, secrets = _split(adapter_cls.settings_fields, values)
    settings["url"] = settings["url"].rstrip("/")
    if check:
        report = adapter_cls(settings, secrets, clock=bridge.clock.now).test_connection()
        if not report.ok:
            raise SetupError(refusal.format(detail=report.detail))
    return settings, secrets


def webhook_url(bridge: Bridge, shop: Shop) -> str:
    return bridge.public_url(f"/webhooks/{shop.platform}/{shop.id}")


def register_webhooks(bridge: Bridge, shop: Shop) -> tuple[list[str], bool]:
    """Create or repair the shop's webhooks. Returns what was done, and whether abonne saw the shop's ping
    (a newly created webhook pings its URL at once; an updated one does not). Raises ShopError."""
    def pings() -> int:
        with bridge.uow() as uow:
            return uow.session.scalar(select(func.count()).select_from(EventRecord).where(
                EventRecord.shop_id == shop.id, EventRecord.kind == "webhook_ping"))
    before = pings()
    lines = bridge.shop_adapter(shop).register_webhooks(webhook_url(bridge, shop))
    created = any(line.endswith(" created") for line in lines)
    return lines, not created or pings() > before


def get_shop(bridge: Bridge, shop_id: int) -> Shop:
    with bridge.uow() as uow:
        shop = uow.session.get(Shop, shop_id)
    if shop is None:
        raise SetupError(f"there is no shop {shop_id} (see `abonne shop list`)")
    return shop


def list_shops(bridge: Bridge) -> list[Shop]:
    with bridge.uow() as uow:
        return list(uow.session.scalars(select(Shop).order_by(Shop.id)))


def set_gateway(bridge: Bridge, values: Mapping[str, Any]) -> GatewayAccount:
    """Check the settings by loading key and certificate before anything is saved."""
    gateway_cls: Any = bridge.registry.gateway
    settings, secrets = _split(gateway_cls.settings_fields, values)
    gateway_cls(**settings, **secrets).check_configuration()
    with bridge.uow() as uow:
        account = uow.session.get(GatewayAccount, 1) or GatewayAccount(id=1)
        account.settings, account.secrets_encrypted = settings, bridge.vault.encrypt_json(secrets)
        account.updated_at = bridge.clock.now()
        uow.session.add(account)
        uow.commit()
        return account


def get_gateway_account(bridge: Bridge) -> GatewayAccount | None:
    with bridge.uow() as uow:
        return uow.session.get(GatewayAccount, 1)


def add_plan(bridge: Bridge, name: str, every: int, unit: str, trial_days: int = 0, signup_fee: str = "0",
             cycles: int | None = None) -> Plan:
    name = name.strip()
    if not name:
        raise SetupError("the plan needs a name")
    try:
        period_unit = PeriodUnit(unit)
    except ValueError:
        raise SetupError(f"unit must be one of day, week, month, year, got {unit!r}") from None
    try:
        BillingPeriod(period_unit, every)
    except TermsError as error:
        raise SetupError(f"every: {error}") from None
    if trial_days < 0:
        raise SetupError("trial-days must not be negative")
    if cycles is not None and cycles < 1:
        raise SetupError("cycles must be at least 1 (leave it out for no end)")
    try:
        fee = Decimal(signup_fee)
    except InvalidOperation:
        raise SetupError(f"signup-fee must be a decimal amount such as 4.90, got {signup_fee!r}") from None
    if not fee.is_finite() or fee < 0:
        raise SetupError("signup-fee must be zero or more")
    with bridge.uow() as uow:
        plan = Plan(name=name, period_unit=unit, period_every=every, trial_days=trial_days,
                    signup_fee=str(fee), cycles=cycles, created_at=bridge.clock.now())
        uow.session.add(plan)
        try:
            uow.commit()
        except IntegrityError:
            raise SetupError(f"a plan named {name!r} exists already") from None
        return plan


def list_plans(bridge: Bridge) -> list[tuple[Plan, list[ProductPlan]]]:
    with bridge.uow() as uow:
        plans = list(uow.session.scalars(select(Plan).order_by(Plan.id)))
        maps = list(uow.session.scalars(select(ProductPlan).order_by(ProductPlan.id)))
    return [(plan, [m for m in maps if m.plan_id == plan.id]) for plan in plans]


def map_product(bridge: Bridge, plan_name: str, shop_id: int, product_ref: str) -> ProductPlan:
    product_ref = product_ref.strip()
    if not product_ref:
        raise SetupError("product must be a product id or SKU")
    with bridge.uow() as uow:
        plan = uow.session.scalar(select(Plan).where(Plan.name == plan_name))
        if plan is None:
            raise SetupError(f"there is no plan named {plan_name!r} (see `abonne plan list`)")
        if uow.session.get(Shop, shop_id) is None:
            raise SetupError(f"there is no shop {shop_id} (see `abonne shop list`)")
        mapping = ProductPlan(shop_id=shop_id, product_ref=product_ref, plan_id=plan.id, created_at=bridge.clock.now())
        uow.session.add(mapping)
        try:
            uow.commit()
        except IntegrityError:
            raise SetupError(f"product {product_ref!r} of shop {shop_id} is already mapped to a plan") from None
        return mapping


def check_gateway_online(bridge: Bridge) -> str:
    """Load the saved key and certificate, then sign a harmless status query for an order id that cannot exist and
    verify myPOS's signed answer. Raises GatewayConfigError or GatewayUnavailable with what is wrong."""
    import secrets as random
    gateway = bridge.current_gateway()
    summary = gateway.check_configuration()
    gateway.transaction_status(f"abonne-check-{random.token_hex(6)}")
    return f"{summary}; myPOS answered a signed status query and its signature verified"
