"""Every input and output of the admin API. The OpenAPI document is generated from these same classes, and the
views parse and answer with them, so the document cannot drift from the behaviour."""
from __future__ import annotations

from dataclasses import asdict, is_dataclass
from functools import lru_cache
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_dump, validate

from bridge.domain.agreement import AgreementState
from bridge.domain.schedule import PeriodUnit
from bridge.ports import SettingField
from bridge.web.api.fields import Boolean, Id, Integer, Text, Timestamp, UtcDateTime

STATES = [state.value for state in AgreementState]
OUTBOX_STATES = ["pending", "done", "dead"]
MAX_PEM_LENGTH = 20_000


class Input(Schema):
    class Meta:
        unknown = RAISE  # a misspelt field is an error naming it, not silently ignored


class Output(Schema):
    """Every field of an answer is always present (null where it has no value): the document says so."""

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        field_obj.required = True


# ------------------------------------------------------------------------------------------------ path parameters

class AgreementPath(Input):
    noun = "agreement"
    agreement_id = Id(required=True)


class ShopPath(Input):
    noun = "shop"
    shop_id = Id(required=True)


class PlanPath(Input):
    noun = "plan"
    name = Text(required=True, min_length=1, max_length=100, metadata={"description": "the plan's name"})


class OutboxPath(Input):
    noun = "outbox message"
    message_id = Id(required=True)


# ------------------------------------------------------------------------------------------------ errors

class Error(Output):
    error = fields.String(metadata={"description": "a stable code, e.g. invalid_input, not_found, action_refused"})
    detail = fields.String(metadata={"description": "a sentence saying what is wrong and what to do"})


class InvalidInput(Schema):
    """422: `fields` is there when the problem is with named fields (a rule of the service may name none)."""
    error = fields.String(required=True)
    detail = fields.String(required=True)
    fields = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "each invalid field (dotted for nested ones) and what is wrong"})


# ------------------------------------------------------------------------------------------------ agreements

class AgreementQuery(Input):
    q = Text(max_length=200, load_default="", metadata={"description": "customer name or e-mail, product, or "
                                                                        "shop order id"})
    state = fields.String(validate=validate.OneOf(STATES))
    shop_id = Id(in_query=True)
    plan = Text(max_length=100)
    page = Integer(in_query=True, load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = Integer(in_query=True, load_default=25, validate=validate.Range(min=1, max=100))


class Agreement(Output):
    id = fields.Integer()
    state = fields.String(validate=validate.OneOf(STATES))
    plan = fields.String()
    product = fields.String()
    amount = fields.String(metadata={"description": "per cycle, tax included, as a decimal", "example": "19.90"})
    currency = fields.String(metadata={"example": "EUR"})
    period = fields.String(metadata={"example": "every 1 month"})
    cycles = fields.Integer(allow_none=True, metadata={"description": "number of payments; null for no end"})
    cycles_paid = fields.Integer()
    next_charge_at = Timestamp(allow_none=True)
    card_last4 = fields.String(allow_none=True)
    card_expiry = fields.String(allow_none=True, metadata={"example": "12/30"})
    customer = fields.String()
    customer_email = fields.String()
    shop_id = fields.Integer()
    shop_order_id = fields.String()
    created_at = Timestamp()


class AgreementPage(Output):
    items = fields.List(fields.Nested(Agreement))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    pages = fields.Integer()


class Charge(Output):
    id = fields.Integer()
    cycle = fields.Integer()
    attempt = fields.Integer()
    state = fields.String(metadata={"example": "succeeded"})
    source = fields.String(metadata={"description": "hosted_page, stored_card or shop"})
    status_code = fields.String(metadata={"description": "myPOS's status code, if it answered"})
    message = fields.String()
    shop_order_id = fields.String(metadata={"description": "the renewal order in the shop"})
    amount = fields.String()
    currency = fields.String()
    transaction_ref = fields.String()
    at = Timestamp()


class Event(Output):
    at = Timestamp()
    kind = fields.String()
    message = fields.String()
    order_id = fields.String(allow_none=True)


class AgreementDetail(Agreement):
    charges = fields.List(fields.Nested(Charge))
    events = fields.List(fields.Nested(Event))


class ActionResult(Output):
    message = fields.String(metadata={"description": "what was done, in words"})
    agreement = fields.Nested(AgreementDetail)


class CancelInput(Input):
    at_period_end = Boolean(load_default=False, metadata={"description": "keep it until the paid period ends"})


class NextDateInput(Input):
    next_charge_at = UtcDateTime(required=True, metadata={"description": "in the future; UTC when no offset is "
                                                                         "given; later cycles follow it"})


# ------------------------------------------------------------------------------------------------ shops

def _setting_field(setting: SettingField, max_length: int) -> fields.Field:
    """One declared adapter setting as an input field: the declaration is the only source of its rules."""
    rules: list[Any] = []
    if setting.url:
        rules.append(validate.Regexp(r"^https?://", error="must be an http:// or https:// URL"))
    if setting.choices:
        rules.append(validate.OneOf(setting.choices))
    description = setting.label + (" (secret: write-only, never returned)" if setting.secret else "")
    if setting.help:
        description += f". {setting.help}"
    return Text(required=setting.required, min_length=1 if setting.required else 0, max_length=max_length,
                validate=rules, metadata={"description": description,
                                          **({"example": setting.suggestions[0]} if setting.suggestions else {})})


@lru_cache(maxsize=None)
def settings_schema(name: str, declared: tuple[SettingField, ...]) -> type[Schema]:
    return Input.from_dict({s.name: _setting_field(s, 500 if s.url else MAX_PEM_LENGTH) for s in declared},
                           name=name)


@lru_cache(maxsize=None)
def shop_input_schema(platform: str, declared: tuple[SettingField, ...]) -> type[Schema]:
    """The body of POST /shops for one platform, its settings as that platform's adapter declares them."""
    title = "".join(part.title() for part in platform.split("_"))
    return Input.from_dict({
        "platform": fields.String(required=True, validate=validate.OneOf([platform])),
        "name": Text(max_length=200, load_default="", metadata={"description": "for people; defaults to the URL"}),
        "check": Boolean(load_default=True, metadata={"description": "save only after one API call with these "
                                                                     "settings worked"}),
        "settings": fields.Nested(settings_schema(f"{title}Settings", declared), required=True),
    }, name=f"{title}ShopInput")


def pick_shop_input(shops: dict[str, type], payload: Any) -> Schema:
    """The platform names which schema applies (the document's discriminator)."""
    platform = payload.get("platform") if isinstance(payload, dict) else None
    if not isinstance(platform, str) or platform not in shops:
        raise ValidationError({"platform": [f"must be one of: {', '.join(sorted(shops))}"]})
    return shop_input_schema(platform, tuple(shops[platform].settings_fields))()


class Shop(Output):
    id = fields.Integer()
    platform = fields.String()
    name = fields.String()
    url = fields.String()
    settings = fields.Dict(keys=fields.String(), values=fields.String(),
                           metadata={"description": "the settings that are not secret"})
    secrets = fields.Dict(keys=fields.String(), values=fields.String(validate=validate.OneOf(["set", "unset"])),
                          metadata={"description": "whether each secret is saved; never its value"})
    webhook_url = fields.String(metadata={"description": "where the shop delivers its order webhooks"})
    created_at = fields.DateTime()


class ShopList(Output):
    items = fields.List(fields.Nested(Shop))


class ConnectionTest(Output):
    ok = fields.Boolean()
    detail = fields.String(metadata={"description": "what worked, or plainly what is wrong"})


class WebhookRegistration(Output):
    done = fields.List(fields.String(), metadata={"description": "each webhook created or updated"})
    webhook_url = fields.String()
    pinged = fields.Boolean(metadata={"description": "whether the shop's ping reached abonne"})
    detail = fields.String()


# ------------------------------------------------------------------------------------------------ gateway

def gateway_input_schema(declared: tuple[SettingField, ...]) -> type[Schema]:
    return settings_schema("GatewayInput", declared)


class Gateway(Output):
    settings = fields.Dict(keys=fields.String(), values=fields.String(),
                           metadata={"description": "the settings that are not secret (the certificate is public)"})
    secrets = fields.Dict(keys=fields.String(), values=fields.String(validate=validate.OneOf(["set", "unset"])),
                          metadata={"description": "whether the private key is saved; never its value"})
    updated_at = fields.DateTime()


# ------------------------------------------------------------------------------------------------ plans

class PlanInput(Input):
    name = Text(required=True, min_length=1, max_length=100)
    every = Integer(required=True, validate=validate.Range(min=1, max=1000),
                    metadata={"description": "how many units between charges"})
    unit = fields.String(required=True, validate=validate.OneOf([unit.value for unit in PeriodUnit]))
    trial_days = Integer(load_default=0, validate=validate.Range(min=0, max=3650))
    signup_fee = fields.String(load_default="0", validate=validate.Regexp(
        r"^[0-9]{1,9}(\.[0-9]{1,4})?$", error="must be a decimal amount such as 4.90"),
        metadata={"description": "in the order's currency", "example": "4.90"})
    cycles = Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=10_000),
                     metadata={"description": "number of payments; null or absent for no end"})


class ProductRef(Output):
    shop_id = fields.Integer()
    product = fields.String(metadata={"description": "product id or SKU in the shop"})


class Plan(Output):
    id = fields.Integer()
    name = fields.String()
    every = fields.Integer()
    unit = fields.String()
    trial_days = fields.Integer()
    signup_fee = fields.String()
    cycles = fields.Integer(allow_none=True)
    products = fields.List(fields.Nested(ProductRef))
    created_at = fields.DateTime()


class PlanList(Output):
    items = fields.List(fields.Nested(Plan))


class MappingInput(Input):
    shop_id = Id(required=True)
    product = Text(required=True, min_length=1, max_length=200, metadata={"description": "product id or SKU"})


class Mapping(Output):
    id = fields.Integer()
    plan = fields.String()
    shop_id = fields.Integer()
    product = fields.String()
    created_at = fields.DateTime()


# ------------------------------------------------------------------------------------------------ operations

class UnknownCharge(Output):
    id = fields.Integer()
    agreement_id = fields.Integer()
    cycle = fields.Integer()
    attempt = fields.Integer()
    state = fields.String(validate=validate.OneOf(["unknown", "pending"]))
    amount = fields.String()
    currency = fields.String()
    gateway_order_id = fields.String(allow_none=True)
    since = Timestamp()
    checks = fields.Integer(metadata={"description": "status queries asked so far"})
    next_check_at = Timestamp(allow_none=True)
    why = fields.String()


class UnknownChargeList(Output):
    items = fields.List(fields.Nested(UnknownCharge))


class OutboxQuery(Input):
    state = fields.String(validate=validate.OneOf(OUTBOX_STATES), metadata={"description": "dead: given up"})
    limit = Integer(in_query=True, load_default=200, validate=validate.Range(min=1, max=200))


class OutboxMessage(Output):
    id = fields.Integer()
    shop_id = fields.Integer()
    kind = fields.String(metadata={"example": "customer_note"})
    state = fields.String(validate=validate.OneOf(OUTBOX_STATES))
    attempts = fields.Integer()
    order_id = fields.String()
    next_attempt_at = Timestamp()
    last_error = fields.String()
    created_at = Timestamp()


class OutboxList(Output):
    items = fields.List(fields.Nested(OutboxMessage))


class Message(Output):
    message = fields.String()


class WebhookHealth(Output):
    shop_id = fields.Integer()
    shop = fields.String()
    platform = fields.String()
    last_delivery_at = fields.DateTime(allow_none=True)
    deliveries_24h = fields.Integer()
    failed_24h = fields.Integer(metadata={"description": "stored but not processable"})
    last_missed_order_at = fields.DateTime(allow_none=True, metadata={
        "description": "the last order found by polling: a webhook did not bring it"})
    last_repair = fields.String()


class WebhookHealthList(Output):
    items = fields.List(fields.Nested(WebhookHealth))


class DayCount(Output):
    date = fields.Date()
    charged = fields.Integer()


class Dashboard(Output):
    active = fields.Integer()
    past_due = fields.Integer()
    suspended = fields.Integer()
    awaiting_card = fields.Integer()
    mrr = fields.Dict(keys=fields.String(), values=fields.String(),
                      metadata={"description": "monthly recurring revenue per currency"})
    due_30_days = fields.Integer()
    due_30_days_amount = fields.Dict(keys=fields.String(), values=fields.String())
    failed_30_days = fields.Integer()
    recovered_30_days = fields.Integer()
    charged_per_day = fields.List(fields.Nested(DayCount), metadata={"description": "the last 30 days"})

    @pre_dump
    def named_days(self, dashboard: Any, **kwargs: Any) -> dict[str, Any]:
        data = asdict(dashboard) if is_dataclass(dashboard) else dict(dashboard)
        data["charged_per_day"] = [{"date": day, "charged": count} for day, count in data["charged_per_day"]]
        return data

