"""WooCommerce: webhooks in, REST API out. Nothing outside this folder knows a WooCommerce header or field."""
from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, ClassVar, Mapping
from urllib.parse import quote

from adapters.woocommerce.rest import WooRest, WooRestError
from adapters.woocommerce.webhook import CREATED_VIA, RENEWAL_MARKER, parse_order, parse_order_body, verify_webhook
from bridge.domain.money import Money, MoneyError
from bridge.ports import (ConnectionReport, CreatedOrder, RenewalOrder, SettingField, ShopError, ShopOrder,
                          ShopProduct, ShopWebhook, SubscriptionTerms, WebhookRejected, WebhookRepair)

log = logging.getLogger(__name__)

WEBHOOK_TOPICS = ("order.created", "order.updated", "order.deleted")
_PAYABLE_STATUSES = ("pending", "on-hold", "failed")
_ENDED_STATUSES = ("cancelled", "refunded", "trash")
_PERIODS = ("day", "week", "month", "year")

# Meta abonne writes on each renewal order (RENEWAL_MARKER, in webhook.py, is what marks its echoes).
RENEWAL_KEY = "_bridge_renewal_key"
AGREEMENT_META = "_bridge_agreement"
CYCLE_META = "_bridge_cycle"
PAYMENT_METHOD = "abonne"
PAYMENT_METHOD_TITLE = "Card on file (myPOS)"

# A reference the shop refuses on create because the object is gone (captured: 05_err_400_invalid_parent_id,
# 05_err_400_invalid_customer_id). The card is already charged, so the order is created without it.
_DRAFT_STATUSES = ("checkout-draft", "auto-draft", "draft")
_STALE_REFERENCES = {"order_invalid_parent_id": "parent_id", "woocommerce_rest_invalid_customer_id": "customer_id"}


class WooCommerceShop:
    platform: ClassVar[str] = "woocommerce"
    settings_fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField("url", "Shop URL", url=True, help="The WordPress site address, e.g. https://shop.example.com"),
        SettingField("consumer_key", "REST API consumer key", secret=True,
                     help="WooCommerce > Settings > Advanced > REST API, with Read/Write permission"),
        SettingField("consumer_secret", "REST API consumer secret", secret=True),
        SettingField("webhook_secret", "Webhook secret", secret=True,
                     help="The secret of the shop's order webhooks (abonne sets it when it registers them)"),
    )

    def __init__(self, settings: Mapping[str, str], secrets: Mapping[str, str], timeout: float = 30.0,
                 clock: Callable[[], datetime] | None = None):
        # `clock` is part of every adapter's constructor; WooCommerce signs its webhooks without a time, so this
        # one has no use for it.
        self.url = settings["url"].rstrip("/")
        self._webhook_secret = secrets["webhook_secret"]
        self._rest = WooRest(self.url, secrets["consumer_key"], secrets["consumer_secret"], timeout=timeout)

    @staticmethod
    def connect_instructions(delivery_url: str, shop_id: int) -> str:
        return ("In WooCommerce > Settings > Advanced > Webhooks add order.created, order.updated and order.deleted "
                "webhooks (API version WP REST API Integration v3) with this delivery URL and the same secret, or run "
                f"`abonne shop register-webhooks {shop_id}`.")

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> ShopWebhook:
        return verify_webhook(self._webhook_secret, headers, raw_body)

    def parse_order(self, raw_body: bytes) -> ShopOrder:
        return parse_order_body(raw_body)

    def get_order(self, order_id: str) -> ShopOrder:
        return parse_order(self._rest.request("GET", f"orders/{int(order_id)}"))

    def get_product(self, product_id: str) -> ShopProduct:
        try:
            data = self._rest.request("GET", f"products/{int(product_id)}")
        except ShopError as error:
            if error.status == 404:  # deleted since the order: it can no longer say it is a subscription
                return ShopProduct(product_id=str(product_id), sku="", name="", price="0", terms=None)
            raise
        meta = {m.get("key"): m.get("value") for m in data.get("meta_data") or [] if isinstance(m, dict)}
        return ShopProduct(product_id=str(data["id"]), sku=str(data.get("sku") or ""),
                           name=str(data.get("name") or ""), price=str(data.get("price") or "0"),
                           terms=_terms_from_meta(meta))

    def add_customer_note(self, order_id: str, text: str) -> None:
        # customer_note: true makes WooCommerce show the note in the order and e-mail it to the customer.
        self._rest.request("POST", f"orders/{int(order_id)}/notes", body={"note": text, "customer_note": True})

    def mark_paid(self, order_id: str, transaction_id: str) -> None:
        """Record the card payment on the order, which then counts as paid (date_paid set).

        WooCommerce runs payment_complete() on `set_paid` only for a payable status (pending, on-hold, failed). A
        cash-on-delivery order arrives `processing` and unpaid; on a real WooCommerce 10.0.2 `set_paid` alone leaves
        it unpaid (only the transaction id is stored), so the owner might collect cash too. Moving it to pending
        first, with the card as its payment method, makes payment_complete() record the payment.
        """
        order = self._rest.request("GET", f"orders/{int(order_id)}")
        if order.get("date_paid_gmt"):
            return  # paid already: the shop's own record of it stays
        if order.get("status") in _ENDED_STATUSES:
            # The owner ended the order meanwhile: never bring it back to life; say what was received.
            self._rest.request("POST", f"orders/{int(order_id)}/notes", body={
                "note": f"abonne: the customer's card payment arrived (myPOS transaction {transaction_id}) after "
                        f"this order was {order.get('status')}; refund it in myPOS if it should not stand.",
                "customer_note": False})
            return
        body: dict[str, Any] = {"set_paid": True, "transaction_id": transaction_id, "payment_method": "abonne",
                                "payment_method_title": "Card (myPOS)"}
        if order.get("status") not in _PAYABLE_STATUSES:
            body["status"] = "pending"
        self._rest.request("PUT", f"orders/{int(order_id)}", body=body)

    def test_connection(self) -> ConnectionReport:
        try:
            data = self._rest.request("GET", "orders", params={"per_page": 1})
        except ShopError as error:
            return ConnectionReport(False, error.detail)
        if not isinstance(data, list):
            return ConnectionReport(False, "the shop answered, but not with a list of orders: this does not look "
                                           "like the WooCommerce REST API v3")
        return ConnectionReport(True, f"connected to WooCommerce at {self.url}: the REST API answered with the "
                                      "key's permissions")

    def order_admin_url(self, order_id: str) -> str:
        # post.php also opens HPOS orders: WooCommerce redirects it to admin.php?page=wc-orders&action=edit.
        return f"{self.url}/wp-admin/post.php?post={quote(str(order_id), safe='')}&action=edit"

    def register_webhooks(self, delivery_url: str) -> list[str]:
        existing = self._rest.request("GET", "webhooks", params={"per_page": 100})
        done = []
        for topic in WEBHOOK_TOPICS:
            body = {"name": f"abonne {topic}", "topic": topic, "delivery_url": delivery_url,
                    "secret": self._webhook_secret, "status": "active"}
            match = next((w for w in existing if w.get("topic") == topic and w.get("delivery_url") == delivery_url),
                         None)
            if match:
                self._rest.request("PUT", f"webhooks/{int(match['id'])}", body=body)
                done.append(f"webhook {match['id']} ({topic}) updated and set active")
            else:
                created = self._rest.request("POST", "webhooks", body=body)
                done.append(f"webhook {created['id']} ({topic}) created")
        return done

    def find_renewal_order(self, renewal: RenewalOrder) -> CreatedOrder | None:
        """An order carrying `_bridge_renewal_key` == renewal.key, trashed ones included (they were created).

        WooCommerce cannot filter on meta (`meta_key` is silently ignored), so candidates come from
        `search=<transaction id>` (HPOS matches it, partially too) and from `parent=<parent order>`, and the key
        meta decides, together with the charge's transaction id or the parent order: the key is unique only within
        one abonne database, and a shop may have seen another one (a fresh install) push the same key for another
        customer's charge, which the partial transaction-id search can turn up. The default status filter ("any") leaves the trash out (more/README 9), hence a second round with
        status=trash. Checkout drafts are never paid, so they do not count.
        """
        for status in ("", "trash"):
            if renewal.transaction_id:
                found = self._order_for(renewal, {"search": renewal.transaction_id, "status": status})
                if found:
                    return found
            if _positive_id(renewal.parent_order_id):
                found = self._order_for(renewal, {"parent": int(renewal.parent_order_id), "status": status,
                                                  "orderby": "date", "order": "desc"})
                if found:
                    return found
        return None

    def _order_for(self, renewal: RenewalOrder, params: dict[str, Any]) -> CreatedOrder | None:
        for orders in self._rest.pages("orders", params):
            for order in orders:
                if isinstance(order, dict) and order.get("status") not in _DRAFT_STATUSES \
                        and _meta(order).get(RENEWAL_KEY) == renewal.key \
                        and (str(order.get("transaction_id") or "") == renewal.transaction_id
                             or str(order.get("parent_id")) == str(renewal.parent_order_id)):
                    return _created(order)
        return None

    def create_renewal_order(self, renewal: RenewalOrder) -> CreatedOrder:
        """POST one paid order (set_paid, no status: WooCommerce then runs payment_complete); one call.

        The order itself says what it is (transaction id, payment method title, `_bridge_*` meta; abonne's timeline
        links to it). A parent order or customer the shop no longer knows is dropped from the order, instead of
        leaving a charged renewal without an order, and then a private note says so; when that note fails the
        order stands and the failure is logged (warning, with the order id).
        """
        body = _renewal_body(renewal)
        dropped = []
        while True:
            try:
                created = _created(self._post_order(body), retryable=True)  # created, perhaps: look again
                break
            except WooRestError as error:
                field = _STALE_REFERENCES.get(error.code) if error.status == 400 else None
                if field is None or field not in body:
                    raise
                dropped.append(f"{field.replace('_', ' ')} {body.pop(field)}")
        if dropped:
            note = (f"abonne: renewal cycle {renewal.cycle} of agreement {renewal.agreement_id}, charged "
                    f"{renewal.charged} with myPOS transaction {renewal.transaction_id}. The shop no longer knows "
                    f"{' and '.join(dropped)}, so this order is not linked to it.")
            try:
                self._rest.request("POST", f"orders/{int(created.order_id)}/notes",
                                   body={"note": note, "customer_note": False})
            except ShopError as error:
                log.warning("renewal %s: order %s was created but its private note was not added: %s",
                            renewal.key, created.order_id, error.detail)
        return created

    def _post_order(self, body: dict[str, Any]) -> Any:
        try:
            return self._rest.request("POST", "orders", body=body)
        except WooRestError as error:
            # On a WC_Data_Exception WooCommerce has already inserted the order and leaves it as a checkout draft.
            draft = error.data.get("new_draft_order_id")
            if _positive_id(draft):
                try:
                    self._rest.request("DELETE", f"orders/{int(draft)}", params={"force": True})
                except ShopError as cleanup:
                    log.warning("the draft order %s WooCommerce left after a failed create was not deleted: %s",
                                draft, cleanup.detail)
            raise

    def orders_modified_since(self, since: datetime) -> list[ShopOrder]:
        """Orders modified at or after `since`, oldest change first; trashed and deleted orders are not listed.

        WooCommerce's modified_after is strict and to the second, so the query starts one second earlier. Pages
        are read by time, not by offset: the next query starts at the last page's last second, so an order
        modified while we read (it jumps to the end of the list and shifts every offset) cannot push an unread
        one out of view. Only a single second with more than 100 changes is paged by offset.
        """
        cursor = since.astimezone(timezone.utc).replace(microsecond=0, tzinfo=None) - timedelta(seconds=1)
        number = 1
        seen: dict[str, ShopOrder] = {}
        while True:
            items, total_pages = self._rest.page("orders", {
                "modified_after": cursor.isoformat(), "dates_are_gmt": True, "orderby": "modified", "order": "asc",
                "per_page": 100, "page": number})
            orders = [order for order in map(_readable_order, items) if order is not None]
            for order in orders:
                seen.pop(order.order_id, None)
                seen[order.order_id] = order
            if not items or number >= total_pages:
                break
            last = orders[-1].modified_at if orders else None
            if last is not None and last.replace(tzinfo=None) - timedelta(seconds=1) > cursor:
                cursor, number = last.replace(tzinfo=None) - timedelta(seconds=1), 1
            else:
                number += 1
        oldest = datetime.min.replace(tzinfo=timezone.utc)
        return sorted(seen.values(), key=lambda order: order.modified_at or oldest)

    def repair_webhooks(self, delivery_url: str) -> list[WebhookRepair]:
        """Re-enable this bridge's webhooks that WooCommerce disabled after 7 failed deliveries.

        A paused webhook is the owner's choice and stays paused. Re-enabling also re-sends this shop's webhook
        secret (a wrong secret makes every delivery fail with 401). Topics abonne needs but no webhook to
        delivery_url carries are reported too, as not repaired.
        """
        repairs = []
        topics = set()
        for hooks in self._rest.pages("webhooks"):
            for hook in hooks:
                if not isinstance(hook, dict) or hook.get("delivery_url") != delivery_url:
                    continue
                name = f"webhook {hook.get('id')} ({hook.get('topic')})"
                status = hook.get("status")
                if status == "active":
                    topics.add(hook.get("topic"))
                    repairs.append(WebhookRepair(f"{name} is active", repaired=False))
                elif status == "disabled":
                    self._rest.request("PUT", f"webhooks/{int(hook['id'])}",
                                       body={"status": "active", "secret": self._webhook_secret})
                    topics.add(hook.get("topic"))
                    # WooCommerce keeps the failure count at 6 on re-enabling (README 6): one failure disables it.
                    repairs.append(WebhookRepair(f"{name} was disabled by WooCommerce after failed deliveries; "
                                                 "re-enabled (one more failed delivery disables it again)",
                                                 repaired=True))
                else:
                    topics.add(hook.get("topic"))
                    repairs.append(WebhookRepair(f"{name} is {status}: left as the shop owner set it; orders are "
                                                 "not delivered while it is not active", repaired=False))
        for topic in WEBHOOK_TOPICS:
            if topic not in topics:
                repairs.append(WebhookRepair(f"no {topic} webhook delivers to {delivery_url}: register the webhooks "
                                             "again", repaired=False))
        return repairs


def _renewal_body(renewal: RenewalOrder) -> dict[str, Any]:
    """The POST /orders body. WooCommerce accepts nonsense (an unknown product becomes a zero-total line,
    quantity 0 crashes it with 500: README 13), so whatever could be nonsense is refused here."""
    def refuse(reason: str) -> ShopError:
        return ShopError(f"renewal {renewal.key} was not sent to the shop: {reason}")

    currency = renewal.charged.currency
    if not renewal.lines:
        raise refuse("it has no lines")
    if not renewal.transaction_id:
        raise refuse("it has no gateway transaction reference")
    if not _positive_id(renewal.parent_order_id):
        raise refuse(f"parent order id {renewal.parent_order_id!r} is not an order id")
    if renewal.customer_id not in (None, "", "0") and not _positive_id(renewal.customer_id):
        raise refuse(f"customer id {renewal.customer_id!r} is not a customer id")
    lines = []
    for number, line in enumerate(renewal.lines, start=1):
        if not _positive_id(line.product_id) or (line.variation_id and not _positive_id(line.variation_id)):
            raise refuse(f"line {number} names no valid product ({line.product_id!r}, variation "
                         f"{line.variation_id!r})")
        if not isinstance(line.quantity, int) or isinstance(line.quantity, bool) or line.quantity < 1:
            raise refuse(f"line {number} has quantity {line.quantity!r}; it must be at least 1")
        if line.net_total.currency != currency:
            raise refuse(f"line {number} is in {line.net_total.currency}, the charge in {currency}")
        if line.net_total.minor < 0:
            raise refuse(f"line {number} has a negative total {line.net_total}")
        item: dict[str, Any] = {"product_id": int(line.product_id), "quantity": line.quantity}
        if line.variation_id:
            item["variation_id"] = int(line.variation_id)
        # Explicit net totals: without them WooCommerce prices the line at today's product price (and WCS
        # would add the sign-up fee again). It still adds its own tax on top (more/README 8).
        item["subtotal"] = item["total"] = str(line.net_total.amount)
        lines.append(item)
    body: dict[str, Any] = {}
    if renewal.customer_id not in (None, "", "0"):
        body["customer_id"] = int(renewal.customer_id)
    shipping = asdict(renewal.shipping)
    shipping.pop("email")  # a shipping address has no e-mail in WooCommerce
    body.update({
        "parent_id": int(renewal.parent_order_id),
        "currency": currency,
        "billing": asdict(renewal.billing),
        "shipping": shipping,
        "line_items": lines,
        # set_paid without status runs payment_complete(): transaction id, date_paid, processing/completed,
        # woocommerce_payment_complete (stock, e-mails). A status next to it would skip all that (README 11).
        "set_paid": True,
        "transaction_id": renewal.transaction_id,
        "payment_method": PAYMENT_METHOD,
        "payment_method_title": PAYMENT_METHOD_TITLE,
        "created_via": CREATED_VIA,
        "meta_data": [
            {"key": RENEWAL_MARKER, "value": str(renewal.parent_order_id)},
            {"key": RENEWAL_KEY, "value": renewal.key},
            {"key": AGREEMENT_META, "value": str(renewal.agreement_id)},
            {"key": CYCLE_META, "value": str(renewal.cycle)},
        ],
    })
    return body


def _readable_order(item: Any) -> ShopOrder | None:
    try:
        return parse_order(item)
    except WebhookRejected as error:  # the webhook path refuses the same order; one bad order must not block all
        log.warning("order %s in the modified-orders list cannot be read and is skipped: %s",
                    item.get("id") if isinstance(item, dict) else "?", error.detail)
        return None


def _created(order: Any, retryable: bool = False) -> CreatedOrder:
    try:
        return CreatedOrder(order_id=str(int(order["id"])), total=Money.parse(order["total"], order["currency"]))
    except (KeyError, TypeError, ValueError, MoneyError) as error:
        raise ShopError(f"the shop answered with an order abonne cannot read ({error!r})",
                        retryable=retryable) from None


def _meta(order: Mapping[str, Any]) -> dict[str, Any]:
    return {m.get("key"): m.get("value") for m in order.get("meta_data") or [] if isinstance(m, dict)}


def _positive_id(value: object) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).isdigit() \
        and int(value) > 0


def _terms_from_meta(meta: Mapping[str, object]) -> SubscriptionTerms | None:
    """WooCommerce Subscriptions-style product meta; `_subscription_length` counts periods, not payments."""
    period = str(meta.get("_subscription_period") or "")
    if period not in _PERIODS:
        return None
    every = _positive_int(meta.get("_subscription_period_interval"), default=1)
    length = _positive_int(meta.get("_subscription_length"), default=0)
    trial_unit = str(meta.get("_subscription_trial_period") or "day")
    return SubscriptionTerms(
        unit=period,
        every=every,
        cycles=max(1, length // every) if length else None,
        trial_unit=trial_unit if trial_unit in _PERIODS else "day",
        trial_length=_positive_int(meta.get("_subscription_trial_length"), default=0),
        signup_fee=str(meta.get("_subscription_sign_up_fee") or "0") or "0",
    )


def _positive_int(value: object, default: int) -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default
