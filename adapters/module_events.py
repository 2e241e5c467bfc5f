"""The event contract of abonne's shop-side modules (PrestaShop, OpenCart): signing, verification and the order
they carry. The README ("Events from shop-side modules") is the contract's text; this is its one implementation on
abonne's side, used by every adapter whose platform sends no webhooks of its own, and by the stand-ins.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping
from urllib.parse import quote_plus

from bridge.domain.money import Money
from bridge.ports import (
    Address, OrderLine, OrderState, ShopOrder, ShopWebhook, SubscriptionTerms, WebhookKind, WebhookRejected,
)

TIMESTAMP = "X-Abonne-Timestamp"
EVENT_ID = "X-Abonne-Event-Id"
SIGNATURE = "X-Abonne-Signature"
MAX_SKEW = timedelta(minutes=5)
ORDER_EVENTS = ("order.created", "order.status_changed", "order.refunded")
EVENTS = (*ORDER_EVENTS, "order.deleted", "ping")


def sign_event(secret: str, timestamp: int, raw_body: bytes) -> str:
    """The X-Abonne-Signature value: `v1=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>`."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signed_headers(secret: str, timestamp: int, raw_body: bytes, event_id: str) -> dict[str, str]:
    return {"Content-Type": "application/json", TIMESTAMP: str(timestamp), EVENT_ID: event_id,
            SIGNATURE: sign_event(secret, timestamp, raw_body)}


def verify_event(secret: str, headers: Mapping[str, str], raw_body: bytes, now: datetime) -> ShopWebhook:
    """A module event, verified on the raw body and parsed enough to store it. Raises WebhookRejected."""
    stamp = headers.get(TIMESTAMP, "")
    given = headers.get(SIGNATURE, "")
    if not stamp or not given:
        missing = " and ".join(name for name, value in ((TIMESTAMP, stamp), (SIGNATURE, given)) if not value)
        raise WebhookRejected(401, "signature_missing", f"the event has no {missing} header")
    try:
        signed_at = int(stamp)
    except ValueError:
        raise WebhookRejected(401, "timestamp_invalid", f"{TIMESTAMP} must be Unix seconds, got {stamp[:40]!r}")
    expected = sign_event(secret, signed_at, raw_body)
    # compare_digest on every candidate, so the time taken does not depend on which one matched.
    matches = [hmac.compare_digest(candidate.strip().encode(), expected.encode()) for candidate in given.split(",")]
    if not any(matches):
        raise WebhookRejected(401, "signature_mismatch",
                              f"{SIGNATURE} does not match the body and timestamp with this shop's signing secret")
    skew = abs(int(now.timestamp()) - signed_at)  # in integers: a signed 400-digit timestamp is only far off
    if skew > MAX_SKEW.total_seconds():
        raise WebhookRejected(401, "timestamp_out_of_window",
                              f"{TIMESTAMP} is {int(skew)} s away from abonne's clock (at most "
                              f"{int(MAX_SKEW.total_seconds())} s): check the shop server's clock")
    body = _json(raw_body)
    event = body.get("event")
    if event not in EVENTS:
        raise WebhookRejected(400, "event_unknown", f"event must be one of {', '.join(EVENTS)}, got {event!r}")
    if event == "ping":
        return ShopWebhook(WebhookKind.PING, "ping", business_key="ping")
    order = body.get("order")
    if not isinstance(order, dict) or not str(order.get("id") or "").strip():
        raise WebhookRejected(400, "order_missing", f"a {event} event must carry the order with its id")
    order_id = str(order["id"])
    key = f"{order_id}:{hashlib.sha256(raw_body).hexdigest()}"
    if event == "order.deleted":
        return ShopWebhook(WebhookKind.DELETED, event, business_key=key, order_id=order_id)
    parse_event_order(raw_body)  # refuse an order abonne could not read now, not in the worker later
    return ShopWebhook(WebhookKind.ORDER, event, business_key=key, order_id=order_id)


def parse_event_order(raw_body: bytes) -> ShopOrder:
    """The order an event carries, normalized. Raises WebhookRejected (400) naming the first unreadable field."""
    body = _json(raw_body)
    order = body.get("order") or {}
    try:
        return _order(order, body.get("event", ""))
    # AttributeError: a field that should be an object is not; OverflowError: int() of a JSON Infinity.
    except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError, OverflowError) as error:
        raise WebhookRejected(400, "order_unreadable", f"the event's order cannot be read: {error}") from None


def _json(raw_body: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw_body)
    except (ValueError, RecursionError):  # RecursionError: arrays nested 100,000 deep
        raise WebhookRejected(400, "body_not_json", "the event body is not JSON") from None
    if not isinstance(body, dict):
        raise WebhookRejected(400, "body_not_object", "the event body must be a JSON object")
    return body


def _order(order: Mapping[str, Any], event: str) -> ShopOrder:
    currency = _text(order, "currency").upper()
    if len(currency) != 3:
        raise ValueError(f"currency must be a 3-letter code, got {currency!r}")
    status = order.get("status") or {}
    totals = order.get("totals") or {}
    total = Money.parse(_decimal(totals, "total"), currency)
    # Refunds so far, on every event: a partial refund changes no state, so the total is the only lasting sign.
    refunded = max(Decimal(str(totals.get("refunded") or "0")),
                   Decimal(str((order.get("refund") or {}).get("total_refunded") or "0")))
    if status.get("cancelled"):
        state = OrderState.CANCELLED
    elif status.get("refunded") or (refunded and refunded >= total.amount):
        state = OrderState.REFUNDED
    else:
        state = OrderState.OPEN
    lines = tuple(_line(line, currency, i) for i, line in enumerate(order.get("lines") or []))
    if not lines and event != "order.refunded":
        raise ValueError("the order has no lines")
    customer = order.get("customer") or {}
    return ShopOrder(
        order_id=_text(order, "id"), number=str(order.get("reference") or order["id"]),
        status=str(status.get("name") or status.get("id") or ""), state=state, paid=bool(status.get("paid")),
        currency=currency, total=total, customer_id=str(customer.get("id") or "") or None,
        billing=_address(order.get("billing_address") or {}, customer),
        shipping=_address(order.get("shipping_address") or order.get("billing_address") or {}, {}),
        lines=lines, created_via=str(order.get("payment_module") or ""), own_renewal=bool(order.get("renewal")),
        transaction_id=str(order.get("transaction_id") or ""),
        modified_at=_time(order.get("modified_at")))


def _line(line: Mapping[str, Any], currency: str, index: int) -> OrderLine:
    quantity = int(line["quantity"])
    if quantity < 1:
        raise ValueError(f"line {index + 1}: quantity must be at least 1")
    total = Money.parse(_decimal(line, "total"), currency)
    net = Money.parse(_decimal(line, "total_net"), currency) if line.get("total_net") not in (None, "") else total
    product = _text(line, "product_id")
    variant = str(line.get("variant_id") or "")
    # Shops number variants (PrestaShop combinations, OpenCart options) apart from products, so a variant id alone
    # could name another product: it is qualified by its product, "<product>:<variant>".
    options = tuple((str(option.get("name") or ""), str(option.get("value") or ""))
                    for option in line.get("options") or [] if isinstance(option, Mapping))
    return OrderLine(line_id=str(line.get("id") or index + 1), product_id=product,
                     variation_id=f"{product}:{variant}" if variant not in ("", "0") else None,
                     sku=str(line.get("reference") or ""),
                     name=str(line.get("name") or ""), quantity=quantity, subtotal=net, total=net,
                     total_tax=total - net if total >= net else Money.zero(currency), options=options,
                     terms=_plan_terms(line.get("subscription")))


PLAN_UNITS = ("day", "week", "month", "year")


def _plan_terms(plan: Any) -> SubscriptionTerms | None:
    """The shop's own subscription plan on a line (contract: unit, every, cycles with 0 for "until cancelled",
    trial or null). Shapes abonne cannot bill come back with `unsupported` saying why, so that the owner is told."""
    if not isinstance(plan, Mapping):
        return None
    unit, every = str(plan.get("unit") or ""), int(plan.get("every") or 0)
    cycles = int(plan.get("cycles") or 0) or None
    name = str(plan.get("name") or "the line's subscription plan")
    problem = ""
    if unit not in PLAN_UNITS:
        problem = (f"{name} bills every {every} {unit}; abonne bills by day, week, month or year: map the product "
                   "to an abonne plan instead")
        unit = "month"
    if every < 1:  # OpenCart's admin saves a plan with cycle 0 without a word
        problem = problem or (f"{name} bills every {every} {unit}s, which is no period: fix the plan in the shop, or "
                              "map the product to an abonne plan")
        every = 1
    if plan.get("trial"):
        problem = problem or (f"{name} starts with a trial, which abonne cannot take from the shop's plan yet: map "
                              "the product to an abonne plan with trial days instead")
    return SubscriptionTerms(unit=unit, every=every, cycles=cycles, unsupported=problem)


def _address(address: Mapping[str, Any], customer: Mapping[str, Any]) -> Address:
    def get(name: str) -> str:
        return str(address.get(name) or "")
    return Address(first_name=get("first_name") or str(customer.get("first_name") or ""),
                   last_name=get("last_name") or str(customer.get("last_name") or ""), company=get("company"),
                   address_1=get("address_1"), address_2=get("address_2"), city=get("city"), state=get("state"),
                   postcode=get("postcode"), country=get("country").upper(),
                   email=get("email") or str(customer.get("email") or ""), phone=get("phone"))


def _text(data: Mapping[str, Any], name: str) -> str:
    value = str(data.get(name) if data.get(name) is not None else "").strip()
    if not value:
        raise ValueError(f"{name} is missing")
    return value


def _decimal(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if value in (None, ""):
        raise ValueError(f"{name} is missing")
    return str(Decimal(str(value)))  # Money.parse refuses extra decimals unless they are zeros (PrestaShop's 6)


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"times need their offset, got {value!r}")
    return moment


def php_query(pairs: Any) -> str:
    """PHP's http_build_query of flat pairs: urlencode's `+` for spaces and `%7E` for `~`."""
    return "&".join(f"{quote_plus(k, safe='').replace('~', '%7E')}={quote_plus(v, safe='').replace('~', '%7E')}"
                    for k, v in pairs)


def sign_read(secret: str, timestamp: int, call: str, params: Mapping[str, Any]) -> str:
    """X-Abonne-Signature of abonne's signed read (README, "Reads from abonne"): over the timestamp, the call and
    the other parameters sorted by name and form-encoded, as PHP's http_build_query encodes them after ksort."""
    query = php_query(sorted((str(k), str(v)) for k, v in params.items()))
    digest = hmac.new(secret.encode(), f"{timestamp}.{call}:{query}".encode(), hashlib.sha256).hexdigest()
    return f"v1={digest}"
