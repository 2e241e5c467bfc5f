"""WooCommerce webhook deliveries: signature check on the raw body, classification, order parsing. Pure."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import datetime, timezone
from typing import Any, Mapping

from bridge.domain.money import Money, MoneyError
from bridge.ports import Address, OrderLine, OrderState, ShopOrder, ShopWebhook, WebhookKind, WebhookRejected

# Meta key abonne writes on the renewal orders it creates; deliveries about them are echoes, never new orders.
RENEWAL_MARKER = "_bridge_renewal_of"
CREATED_VIA = "abonne"

_ORDER_STATES = {
    "cancelled": OrderState.CANCELLED,
    "refunded": OrderState.REFUNDED,
    "failed": OrderState.FAILED,
    "trash": OrderState.TRASHED,
}

# wp_specialchars_decode($secret, ENT_QUOTES): WordPress stores a typed webhook secret HTML-escaped
# (`q&x"y<z>` becomes `q&amp;x"y<z>`) and signs with the decoded form; the captured webhook 3 proves it.
_WP_ENTITIES = re.compile(r"&(?:amp|lt|gt|quot|#0*3[49]|#0*38|#0*6[02]|#x0*2[267]|#x0*3[ce]);", re.IGNORECASE)
_WP_DECODED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "34": '"', "39": "'", "38": "&", "60": "<",
               "62": ">", "x22": '"', "x27": "'", "x26": "&", "x3c": "<", "x3e": ">"}


def wp_specialchars_decode(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(0)[1:-1].lower().lstrip("#")
        name = re.sub(r"^(x?)0+(?=\w)", r"\1", name)
        return _WP_DECODED[name]
    return _WP_ENTITIES.sub(replace, text)


def signature(secret: str, raw_body: bytes) -> str:
    key = wp_specialchars_decode(secret).encode("utf-8")
    return base64.b64encode(hmac.new(key, raw_body, hashlib.sha256).digest()).decode("ascii")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def verify_webhook(secret: str, headers: Mapping[str, str], raw_body: bytes) -> ShopWebhook:
    topic = _header(headers, "X-WC-Webhook-Topic")
    sent = _header(headers, "X-WC-Webhook-Signature")
    if topic is None and sent is None and re.fullmatch(rb"webhook_id=\d+", raw_body.strip()):
        # The ping is unsigned and carries no X-WC-Webhook-* header; WooCommerce wants exactly 200 for it.
        return ShopWebhook(kind=WebhookKind.PING, topic="ping", business_key="")
    if not sent:
        raise WebhookRejected(401, "signature_missing", "X-WC-Webhook-Signature is missing: only signed "
                                                        "WooCommerce deliveries are accepted")
    if not hmac.compare_digest(signature(secret, raw_body).encode("ascii"), sent.strip().encode("ascii", "replace")):
        raise WebhookRejected(401, "signature_mismatch", "X-WC-Webhook-Signature does not match the body with "
                                                         "this shop's webhook secret")
    if not topic:
        raise WebhookRejected(400, "topic_missing", "X-WC-Webhook-Topic is missing")
    payload = _json_object(raw_body)
    order_id = payload.get("id")
    if not isinstance(order_id, int) or isinstance(order_id, bool) or order_id <= 0:
        raise WebhookRejected(400, "malformed_body", "the body has no numeric order id")
    digest = hashlib.sha256(raw_body).hexdigest()
    if topic == "order.deleted":
        return ShopWebhook(WebhookKind.DELETED, topic, f"deleted:{order_id}:{digest}", str(order_id))
    if topic.startswith("order."):
        parse_order(payload)  # a body that cannot be read is refused now, not found broken later
        # Same bytes = same news: Store API checkouts send order.updated and order.created with identical bodies.
        return ShopWebhook(WebhookKind.ORDER, topic, f"order:{order_id}:{digest}", str(order_id))
    raise WebhookRejected(400, "unsupported_topic", f"topic {topic!r} is not an order topic; subscribe the "
                                                    "webhook to order.created, order.updated or order.deleted")


def _json_object(raw_body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw_body)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: arrays nested 100,000 deep
        raise WebhookRejected(400, "malformed_body", "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "malformed_body", "the body is not a JSON object")
    return payload


def parse_order_body(raw_body: bytes) -> ShopOrder:
    return parse_order(_json_object(raw_body))


def parse_order(payload: Mapping[str, Any]) -> ShopOrder:
    """Normalize a REST v3 order (webhook body or GET /orders/{id})."""
    try:
        currency = str(payload["currency"])
        meta = {m.get("key"): m.get("value") for m in payload.get("meta_data") or [] if isinstance(m, dict)}
        lines = tuple(_line(item, currency) for item in payload.get("line_items") or [])
        customer_id = payload.get("customer_id") or None
        status = str(payload["status"])
        return ShopOrder(
            order_id=str(int(payload["id"])),
            number=str(payload.get("number") or payload["id"]),
            status=status,
            state=_ORDER_STATES.get(status, OrderState.OPEN),
            paid=bool(payload.get("date_paid_gmt")),  # "paid" is a payment fact: COD arrives processing, unpaid
            currency=currency,
            total=Money.parse(payload["total"], currency),
            customer_id=str(customer_id) if customer_id else None,
            billing=_address(payload.get("billing")),
            shipping=_address(payload.get("shipping")),
            lines=lines,
            created_via=str(payload.get("created_via") or ""),
            own_renewal=RENEWAL_MARKER in meta or payload.get("created_via") == CREATED_VIA,
            transaction_id=str(payload.get("transaction_id") or ""),
            modified_at=_gmt(payload.get("date_modified_gmt")),
        )
    except (KeyError, TypeError, ValueError, MoneyError, OverflowError) as error:  # Overflow: int(Infinity)
        raise WebhookRejected(400, "malformed_order", f"the order cannot be read: {error}") from None


def _line(item: Mapping[str, Any], currency: str) -> OrderLine:
    quantity = item["quantity"]
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise ValueError(f"line {item.get('id')} has a quantity that is not a whole number")
    variation = item.get("variation_id") or None
    return OrderLine(
        line_id=str(int(item["id"])),
        product_id=str(int(item["product_id"])),
        variation_id=str(variation) if variation else None,
        sku=str(item.get("sku") or ""),
        name=str(item.get("name") or ""),
        quantity=quantity,
        subtotal=Money.parse(item.get("subtotal") or "0", currency),
        total=Money.parse(item.get("total") or "0", currency),
        total_tax=Money.parse(item.get("total_tax") or "0", currency),
    )


def _address(data: Any) -> Address:
    if not isinstance(data, dict):
        return Address()
    fields = Address.__dataclass_fields__
    return Address(**{name: str(data.get(name) or "") for name in fields})


def _gmt(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value)).replace(tzinfo=timezone.utc)
