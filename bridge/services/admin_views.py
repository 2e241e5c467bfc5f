"""What the config page needs beyond the other use cases: the first-run checklist, editing saved settings where a
blank secret means "keep", a stored shop's connection test, one agreement's timeline, and links into the shop."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from sqlalchemy import exists, func, select

from bridge.context import Bridge
from bridge.ports import ConnectionReport, SettingField
from bridge.services import setup
from bridge.services.setup import SetupError
from bridge.domain.money import Money
from bridge.store.tables import Agreement, Delivery, EventRecord, GatewayAccount, ProductPlan, Shop

# Which of the owner's actions the page offers in each state; the lifecycle service still decides and says why not.
ACTIONS_BY_STATE: dict[str, tuple[str, ...]] = {
    "awaiting_card": ("cancel",),
    "active": ("pause", "skip_next", "set_next_date", "charge_now", "resend_card_link", "cancel_at_period_end",
               "cancel"),
    "past_due": ("charge_now", "resend_card_link", "cancel"),
    "suspended": ("resend_card_link", "cancel"),
    "paused": ("resume", "skip_next", "set_next_date", "resend_card_link", "cancel"),
}


@dataclass(frozen=True)
class SetupStep:
    key: str
    title: str
    done: bool
    detail: str
    optional: bool = False


def setup_steps(bridge: Bridge) -> list[SetupStep]:
    """The first-run checklist, in the order the owner does it."""
    with bridge.uow() as uow:
        session = uow.session
        gateway = session.get(GatewayAccount, 1) is not None
        shops = session.scalar(select(func.count()).select_from(Shop)) or 0
        heard = session.scalar(select(func.count(func.distinct(Shop.id))).where(
            exists().where(EventRecord.shop_id == Shop.id, EventRecord.kind == "webhook_ping")
            | exists().where(Delivery.shop_id == Shop.id))) or 0
        mapped = session.scalar(select(func.count()).select_from(ProductPlan)) or 0
    return [
        SetupStep("gateway", "Connect myPOS", gateway,
                  "myPOS settings saved" if gateway else "Enter the store ID, upload the key and the certificate"),
        SetupStep("shop", "Connect your shop", shops > 0,
                  f"{shops} shop(s) connected" if shops else "Enter the shop address and its API keys"),
        SetupStep("webhooks", "Let the shop tell abonne about orders", shops > 0 and heard >= shops,
                  f"{heard} of {shops} shop(s) reached abonne" if shops else "Register the shop's webhooks"),
        SetupStep("plans", "Choose which products are subscriptions", mapped > 0,
                  f"{mapped} product(s) mapped to plans" if mapped else
                  "Map products to plans (products with subscription settings in the shop work on their own)",
                  optional=True),
    ]


def _merge(fields: Iterable[SettingField], stored: Mapping[str, Any], submitted: Mapping[str, Any],
           keep_blank: Iterable[str]) -> dict[str, Any]:
    """Submitted values over stored ones; a blank for a name in keep_blank keeps what is stored."""
    keep = set(keep_blank)
    values = {}
    for field in fields:
        value = submitted.get(field.name)
        value = "" if value is None else str(value).strip()
        values[field.name] = stored.get(field.name, "") if not value and field.name in keep else value
    return values


def set_gateway_keeping_blanks(bridge: Bridge, submitted: Mapping[str, Any], keep_blank: Iterable[str]) -> None:
    """setup.set_gateway, where a blank secret (or file not uploaded again) keeps the saved one."""
    account = setup.get_gateway_account(bridge)
    stored: dict[str, Any] = {}
    if account is not None:
        stored = {**account.settings, **bridge.vault.decrypt_json(account.secrets_encrypted)}
    setup.set_gateway(bridge, _merge(bridge.registry.gateway.settings_fields, stored, submitted, keep_blank))


def update_shop(bridge: Bridge, shop_id: int, submitted: Mapping[str, Any], name: str = "",
                check: bool = True) -> Shop:
    """Change a saved shop's settings; a blank secret keeps the saved one. With `check`, only after one API call
    with the new settings worked."""
    shop = setup.get_shop(bridge, shop_id)
    adapter_cls: Any = bridge.registry.shops.get(shop.platform)
    if adapter_cls is None:
        raise SetupError(f"shop {shop_id} uses platform {shop.platform!r}, which this abonne does not know")
    fields = adapter_cls.settings_fields
    stored = {**shop.settings, **bridge.vault.decrypt_json(shop.secrets_encrypted)}
    values = _merge(fields, stored, submitted, [f.name for f in fields if f.secret])
    settings, secrets = setup.shop_settings(bridge, adapter_cls, values, check, "the changes were not saved: {detail}")
    with bridge.uow() as uow:
        row = uow.session.get(Shop, shop_id)
        row.settings, row.url = settings, settings["url"]
        row.secrets_encrypted = bridge.vault.encrypt_json(secrets)
        row.name = name.strip() or row.name
        uow.commit()
        return row


def test_shop_connection(bridge: Bridge, shop_id: int) -> ConnectionReport:
    """One read-only API call with the saved settings; says plainly what is wrong."""
    return bridge.shop_adapter(setup.get_shop(bridge, shop_id)).test_connection()


def secret_state(bridge: Bridge, fields: Iterable[SettingField], secrets_encrypted: str) -> dict[str, bool]:
    """Which secrets are saved (never their values)."""
    secrets = bridge.vault.decrypt_json(secrets_encrypted) if secrets_encrypted else {}
    return {field.name: bool(secrets.get(field.name)) for field in fields if field.secret}


def order_links(bridge: Bridge, shops: Iterable[Shop]) -> dict[int, Any]:
    """shop id -> a function from a shop order id to its page in the shop's back office."""
    links = {}
    for shop in shops:
        try:
            links[shop.id] = bridge.shop_adapter(shop).order_admin_url
        except Exception:  # an unknown platform or unreadable secrets: the page shows the order id without a link
            continue
    return links


def what_happens_next(bridge: Bridge, agreement_id: int) -> str:
    """One sentence on what abonne will do next with this agreement, for the top of its page."""
    with bridge.uow() as uow:
        a = uow.session.get(Agreement, agreement_id)
        if a is None:
            return ""
        amount = Money(a.amount_minor, a.currency)
        when = f"{a.next_charge_at:%Y-%m-%d %H:%M} UTC" if a.next_charge_at else ""
        if a.state == "awaiting_card":
            return "Waiting for the customer to pay on the link sent with the shop order; nothing is charged before."
        if a.state == "active" and a.cancel_at_period_end:
            return f"Ends on {a.next_charge_at:%Y-%m-%d} when the paid period is over; nothing more is charged."
        if a.state == "active" and when:
            return f"Next charge: {amount} on {when}, with the card ending {a.card_last4 or '?'}."
        if a.state == "past_due":
            retry = f"the next try is on {when}" if when else "no retry is scheduled"
            return (f"The last payment was declined ({a.declines_this_cycle} time(s) this cycle); {retry}. "
                    "The customer can give a new card with the card-update link.")
        if a.state == "suspended":
            until = f" until {a.suspended_until:%Y-%m-%d}" if a.suspended_until else ""
            return (f"Suspended: retries ran out. abonne waits for a new card{until}, then cancels; "
                    "nothing is charged meanwhile.")
        if a.state == "paused":
            return "Paused by you: nothing is charged until you resume it."
        if a.state == "expired":
            return "Every cycle is paid: this subscription is complete."
        if a.state == "cancelled":
            return "Cancelled: nothing more is charged."
        return ""
