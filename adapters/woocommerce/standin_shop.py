"""The stand-in shop's state and rules: products, customers, orders, notes, refunds, as WooCommerce 10.0.2 keeps them.

No HTTP here. `ShopState` is guarded by one lock; every change that WooCommerce would turn into a webhook event
calls `emit(topic, order_id)`, and the delivery queue decides what to send. JSON shapes (key order, value types)
follow the captures in tests/fixtures/woocommerce-10.0.2.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import string
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Mapping

from adapters.woocommerce.standin_wire import invalid_params, rest_error

WC_VERSION = "10.0.2"
ORDER_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed")
SCHEMA_STATUSES = ("auto-draft",) + ORDER_STATUSES + ("checkout-draft",)
STATUS_LABELS = {
    "pending": "Pending payment", "processing": "Processing", "on-hold": "On hold", "completed": "Completed",
    "cancelled": "Cancelled", "refunded": "Refunded", "failed": "Failed", "checkout-draft": "Draft",
    "trash": "Trash",
}
DRAFT_STATUSES = ("draft", "auto-draft", "new", "checkout-draft")
GATEWAY_TITLES = {
    "bacs": "Direct bank transfer", "cod": "Cash on delivery", "cheque": "Check payments", "mypos": "myPOS",
}
EMPTY_HASH = hashlib.md5(b"[]").hexdigest()  # `_coupons_hash` etc. of an empty cart part, as captured
BILLING_KEYS = ("first_name", "last_name", "company", "address_1", "address_2", "city", "state", "postcode",
                "country", "email", "phone")
SHIPPING_KEYS = ("first_name", "last_name", "company", "address_1", "address_2", "city", "state", "postcode",
                 "country", "phone")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RestError(Exception):
    """An answer WooCommerce would give instead of the resource: HTTP status plus the WordPress error body."""

    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(body.get("message"))
        self.status = status
        self.body = body


def fmt_date(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def money(value: Decimal, dp: int = 2) -> str:
    return str(value.quantize(Decimal(1).scaleb(-dp), rounding=ROUND_HALF_UP))


def to_decimal(value: Any, default: Decimal = Decimal("0")) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else default
    except InvalidOperation:
        return default


def php_number(value: Decimal) -> int | float:
    """How PHP json_encodes a computed line price: 0 as int, anything else as float (19.9, 20.0)."""
    return 0 if value == 0 else float(value)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass
class Meta:
    id: int
    key: str
    value: Any


@dataclass
class Product:
    id: int
    name: str
    type: str
    regular_price: str
    sku: str
    created: datetime
    modified: datetime
    meta: list[Meta] = field(default_factory=list)
    description: str = ""
    status: str = "publish"
    virtual: bool = False
    downloadable: bool = False
    parent_id: int = 0
    attributes: list[dict[str, Any]] = field(default_factory=list)  # parent: {name, options, ...}; variation: {name, option}
    variations: list[int] = field(default_factory=list)

    @property
    def price(self) -> Decimal:
        return to_decimal(self.regular_price)


@dataclass
class Customer:
    id: int
    email: str
    first_name: str
    last_name: str
    username: str
    billing: dict[str, str]
    shipping: dict[str, str]
    created: datetime
    modified: datetime
    meta: list[Meta] = field(default_factory=list)


@dataclass
class LineItem:
    id: int
    name: str
    product_id: int
    variation_id: int
    quantity: int
    subtotal: Decimal
    total: Decimal
    sku: str | None
    image_id: Any
    parent_name: str | None
    meta: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ShippingLine:
    id: int
    method_title: str
    method_id: str
    instance_id: str
    total: Decimal
    meta: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Refund:
    id: int
    order_id: int
    created: datetime
    amount: Decimal
    reason: str
    line_items: list[dict[str, Any]]


@dataclass
class Note:
    id: int
    order_id: int
    author: str
    created: datetime
    note: str
    customer_note: bool


@dataclass
class Order:
    id: int
    order_key: str
    created: datetime
    modified: datetime
    status: str = "pending"
    parent_id: int = 0
    currency: str = "EUR"
    customer_id: int = 0
    billing: dict[str, str] = field(default_factory=lambda: {k: "" for k in BILLING_KEYS})
    shipping: dict[str, str] = field(default_factory=lambda: {k: "" for k in SHIPPING_KEYS})
    payment_method: str = ""
    payment_method_title: str = ""
    transaction_id: str = ""
    customer_ip_address: str = ""
    customer_user_agent: str = ""
    created_via: str = "rest-api"
    customer_note: str = ""
    date_completed: datetime | None = None
    date_paid: datetime | None = None
    cart_hash: str = ""
    meta: list[Meta] = field(default_factory=list)
    line_items: list[LineItem] = field(default_factory=list)
    shipping_lines: list[ShippingLine] = field(default_factory=list)
    refund_ids: list[int] = field(default_factory=list)
    status_before_trash: str | None = None


@dataclass
class Mail:
    """An e-mail WooCommerce would have sent (the stand-in records instead of sending)."""

    to: str
    subject: str
    kind: str
    order_id: int
    text: str
    headers: str = "Content-Type: text/html\r\n"


class ShopState:
    """Everything the shop stores. Call its methods with `lock` held (the WSGI app and the Python API do)."""

    def __init__(self, site_url: str, clock: Callable[[], datetime], emit: Callable[[str, int], None],
                 site_name: str = "abonne stand-in shop", first_post_id: int = 10):
        self.site = site_url.rstrip("/")
        self.site_name = site_name
        self.clock = clock
        self.emit = emit
        self.lock = threading.RLock()
        self._post_id = first_post_id  # orders, refunds, products and variations share one sequence
        self._item_id = 0
        self._meta_id = 0
        self._note_id = 0
        self._user_id = 1  # user 1 is the admin who owns the REST key
        self.products: dict[int, Product] = {}
        self.customers: dict[int, Customer] = {}
        self.orders: dict[int, Order] = {}
        self.refunds: dict[int, Refund] = {}
        self.notes: dict[int, Note] = {}
        self.mails: list[Mail] = []

    # ------------------------------------------------------------------ ids and time

    def now(self) -> datetime:
        return self.clock().astimezone(timezone.utc).replace(microsecond=0)

    def next_post_id(self) -> int:
        self._post_id += 1
        return self._post_id

    def next_item_id(self) -> int:
        self._item_id += 1
        return self._item_id

    def next_meta_id(self) -> int:
        self._meta_id += 1
        return self._meta_id

    # ------------------------------------------------------------------ products

    def add_product(self, name: str, price: Any = "", sku: str = "", meta: Mapping[str, Any] | None = None,
                    type: str = "simple", description: str = "", virtual: bool = False,
                    downloadable: bool = False, attributes: list[dict[str, Any]] | None = None) -> Product:
        if sku and self.product_by_sku(sku) is not None:
            raise RestError(400, rest_error("product_invalid_sku", "Invalid or duplicated SKU.", 400,
                                            resource_id=0, unique_sku=sku))
        now = self.now()
        product = Product(id=self.next_post_id(), name=name, type=type,
                          regular_price="" if price in (None, "") else money(to_decimal(price)),
                          sku=sku, created=now, modified=now, description=description, virtual=virtual,
                          downloadable=downloadable, attributes=list(attributes or []))
        if type == "variable":
            product.regular_price = ""
        for key, value in (meta or {}).items():
            product.meta.append(Meta(self.next_meta_id(), key, value))
        self.products[product.id] = product
        return product

    def add_variation(self, parent_id: int, price: Any, sku: str = "",
                      attributes: Mapping[str, str] | None = None) -> Product:
        parent = self.products.get(parent_id)
        if parent is None or parent.type != "variable":
            raise RestError(404, rest_error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404))
        if sku and self.product_by_sku(sku) is not None:
            raise RestError(400, rest_error("product_invalid_sku", "Invalid or duplicated SKU.", 400,
                                            resource_id=0, unique_sku=sku))
        now = self.now()
        options = [{"name": n, "option": o} for n, o in (attributes or {}).items()]
        variation = Product(id=self.next_post_id(), name=", ".join(o["option"] for o in options), type="variation",
                            regular_price=money(to_decimal(price)), sku=sku, created=now, modified=now,
                            parent_id=parent_id, attributes=options)
        self.products[variation.id] = variation
        parent.variations.append(variation.id)
        return variation

    def product_by_sku(self, sku: str) -> Product | None:
        return next((p for p in self.products.values() if sku and p.sku == sku), None)

    def product_json(self, product: Product, context: str = "view") -> dict[str, Any]:
        """The product as REST v3 shows it; the `edit` context (the answer to a create) adds two fields."""
        if product.type == "variation":
            return self._variation_json(product)
        link = f"{self.site}/wp-json/wc/v3/products/{product.id}"
        slug = _slug(product.name)
        price = product.regular_price
        price_html = "" if not price else (
            '<span class="woocommerce-Price-amount amount"><bdi><span class="woocommerce-Price-currencySymbol">'
            f"&euro;</span>{price}</bdi></span>")
        return {
            "id": product.id, "name": product.name, "slug": slug,
            "permalink": f"{self.site}/product/{slug}/",
            "date_created": fmt_date(product.created), "date_created_gmt": fmt_date(product.created),
            "date_modified": fmt_date(product.modified), "date_modified_gmt": fmt_date(product.modified),
            "type": product.type, "status": product.status, "featured": False, "catalog_visibility": "visible",
            "description": product.description, "short_description": "", "sku": product.sku,
            "price": price, "regular_price": price, "sale_price": "",
            "date_on_sale_from": None, "date_on_sale_from_gmt": None, "date_on_sale_to": None,
            "date_on_sale_to_gmt": None, "on_sale": False, "purchasable": bool(price), "total_sales": 0,
            "virtual": product.virtual, "downloadable": product.downloadable, "downloads": [],
            "download_limit": -1, "download_expiry": -1, "external_url": "", "button_text": "",
            "tax_status": "taxable", "tax_class": "", "manage_stock": False, "stock_quantity": None,
            "backorders": "no", "backorders_allowed": False, "backordered": False, "low_stock_amount": None,
            "sold_individually": False, "weight": "", "dimensions": {"length": "", "width": "", "height": ""},
            "shipping_required": not product.virtual, "shipping_taxable": not product.virtual,
            "shipping_class": "", "shipping_class_id": 0, "reviews_allowed": True, "average_rating": "0",
            "rating_count": 0, "upsell_ids": [], "cross_sell_ids": [], "parent_id": 0, "purchase_note": "",
            "categories": [{"id": 15, "name": "Uncategorized", "slug": "uncategorized"}], "brands": [],
            "tags": [], "images": [],
            "attributes": [{"id": 0, "name": a.get("name", ""), "slug": a.get("name", ""),
                            "position": a.get("position", i), "visible": a.get("visible", True),
                            "variation": a.get("variation", True), "options": list(a.get("options", []))}
                           for i, a in enumerate(product.attributes)],
            "default_attributes": [], "variations": list(product.variations), "grouped_products": [],
            "menu_order": 0, "price_html": price_html, "related_ids": [],
            "meta_data": [{"id": m.id, "key": m.key, "value": m.value} for m in product.meta],
            "stock_status": "instock" if (price or product.variations) else "outofstock",
            "has_options": product.type == "variable", "post_password": "", "global_unique_id": "",
            **({"permalink_template": f"{self.site}/product/%pagename%/", "generated_slug": slug}
               if context == "edit" else {}),
            "_links": {"self": [{"href": link, "targetHints": {"allow": ["GET", "POST", "PUT", "PATCH", "DELETE"]}}],
                       "collection": [{"href": f"{self.site}/wp-json/wc/v3/products"}]},
        }

    def _variation_json(self, v: Product) -> dict[str, Any]:
        parent = self.products[v.parent_id]
        base = f"{self.site}/wp-json/wc/v3/products/{parent.id}/variations"
        query = "&".join(f"attribute_{_slug(a['name'])}={a['option'].replace(' ', '+')}" for a in v.attributes)
        return {
            "id": v.id, "type": "variation",
            "date_created": fmt_date(v.created), "date_created_gmt": fmt_date(v.created),
            "date_modified": fmt_date(v.modified), "date_modified_gmt": fmt_date(v.modified),
            "description": "", "permalink": f"{self.site}/product/{_slug(parent.name)}/?{query}",
            "sku": v.sku, "global_unique_id": "", "price": v.regular_price, "regular_price": v.regular_price,
            "sale_price": "", "date_on_sale_from": None, "date_on_sale_from_gmt": None, "date_on_sale_to": None,
            "date_on_sale_to_gmt": None, "on_sale": False, "status": "publish", "purchasable": True,
            "virtual": False, "downloadable": False, "downloads": [], "download_limit": -1,
            "download_expiry": -1, "tax_status": "taxable", "tax_class": "parent", "manage_stock": False,
            "stock_quantity": None, "stock_status": "instock", "backorders": "no", "backorders_allowed": False,
            "backordered": False, "low_stock_amount": None, "weight": "",
            "dimensions": {"length": "", "width": "", "height": ""}, "shipping_class": "",
            "shipping_class_id": 0, "image": None,
            "attributes": [{"id": 0, "name": a["name"], "slug": _slug(a["name"]), "option": a["option"]}
                           for a in v.attributes],
            "menu_order": 0, "meta_data": [{"id": m.id, "key": m.key, "value": m.value} for m in v.meta],
            "name": v.name, "parent_id": parent.id,
            "_links": {"self": [{"href": f"{base}/{v.id}",
                                 "targetHints": {"allow": ["GET", "POST", "PUT", "PATCH", "DELETE"]}}],
                       "collection": [{"href": base}],
                       "up": [{"href": f"{self.site}/wp-json/wc/v3/products/{parent.id}"}]},
        }

    # ------------------------------------------------------------------ customers

    def add_customer(self, email: str, first_name: str = "", last_name: str = "", username: str = "",
                     billing: Mapping[str, str] | None = None,
                     shipping: Mapping[str, str] | None = None) -> Customer:
        if not email or not EMAIL_PATTERN.match(email):
            raise RestError(400, rest_error("registration-error-invalid-email",
                                            "Please provide a valid email address.", 400))
        if any(c.email.lower() == email.lower() for c in self.customers.values()):
            raise RestError(400, rest_error(
                "registration-error-email-exists",
                'An account is already registered with your email address. '
                '<a href="#" class="showlogin">Please log in.</a>', 400))
        self._user_id += 1
        now = self.now()
        bill = {k: "" for k in BILLING_KEYS}
        bill.update({k: str(v) for k, v in (billing or {}).items() if k in bill})
        ship = {k: "" for k in SHIPPING_KEYS}
        ship.update({k: str(v) for k, v in (shipping or {}).items() if k in ship})
        customer = Customer(id=self._user_id, email=email, first_name=first_name, last_name=last_name,
                            username=username or email.split("@")[0], billing=bill, shipping=ship,
                            created=now, modified=now,
                            meta=[Meta(self.next_meta_id(), "default_password_nag", "1")])
        self.customers[customer.id] = customer
        return customer

    def customer_json(self, c: Customer) -> dict[str, Any]:
        address_order = ("first_name", "last_name", "company", "address_1", "address_2", "city", "postcode",
                         "country", "state")
        return {
            "id": c.id, "date_created": fmt_date(c.created), "date_created_gmt": fmt_date(c.created),
            "date_modified": fmt_date(c.modified), "date_modified_gmt": fmt_date(c.modified),
            "email": c.email, "first_name": c.first_name, "last_name": c.last_name, "role": "customer",
            "username": c.username,
            "billing": {**{k: c.billing[k] for k in address_order}, "email": c.billing["email"],
                        "phone": c.billing["phone"]},
            "shipping": {**{k: c.shipping[k] for k in address_order}, "phone": c.shipping["phone"]},
            "is_paying_customer": any(o.customer_id == c.id and o.date_paid for o in self.orders.values()),
            "avatar_url": "https://secure.gravatar.com/avatar/"
                          + hashlib.sha256(c.email.strip().lower().encode()).hexdigest() + "?s=96&d=mm&r=g",
            "meta_data": [{"id": m.id, "key": m.key, "value": m.value} for m in c.meta],
            "_links": {"self": [{"href": f"{self.site}/wp-json/wc/v3/customers/{c.id}",
                                 "targetHints": {"allow": ["GET", "POST", "PUT", "PATCH", "DELETE"]}}],
                       "collection": [{"href": f"{self.site}/wp-json/wc/v3/customers"}]},
        }

    # ------------------------------------------------------------------ order rules (WC_Order)

    def new_order(self, created_via: str) -> Order:
        now = self.now()
        key = "wc_order_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(13))
        order = Order(id=self.next_post_id(), order_key=key, created=now, modified=now, created_via=created_via)
        self.orders[order.id] = order
        return order

    def order_or_error(self, order_id: Any, status: int = 404,
                       code: str = "woocommerce_rest_shop_order_invalid_id",
                       message: str = "Invalid ID.") -> Order:
        try:
            order = self.orders.get(int(order_id))
        except (TypeError, ValueError):
            order = None
        if order is None:
            raise RestError(status, rest_error(code, message, status))
        return order

    def total(self, order: Order) -> Decimal:
        return sum((li.total for li in order.line_items), Decimal("0")) + \
            sum((s.total for s in order.shipping_lines), Decimal("0"))

    def refunded_total(self, order: Order) -> Decimal:
        return sum((self.refunds[r].amount for r in order.refund_ids), Decimal("0"))

    def needs_processing(self, order: Order) -> bool:
        """False only when no line has a real, shippable product (virtual+downloadable, or product gone)."""
        for li in order.line_items:
            product = self.products.get(li.variation_id or li.product_id)
            if product is not None and not (product.virtual and product.downloadable):
                return True
        return False

    def needs_payment(self, order: Order) -> bool:
        return order.status in ("pending", "failed") and self.total(order) > 0

    def payment_complete_status(self, order: Order) -> str:
        # The COD gateway filters `woocommerce_payment_complete_order_status` to "completed", which is why a COD
        # order sits in "processing" with date_paid null (more/README.md, 1).
        if order.payment_method == "cod":
            return "completed"
        return "processing" if self.needs_processing(order) else "completed"

    def set_status(self, order: Order, new_status: str, note: str = "") -> bool:
        """WC_Order::set_status + status_transition: note, date_paid / date_completed. True if it changed."""
        old = order.status
        if old == new_status:
            return False
        order.status = new_status
        if not order.date_paid:
            target = self.payment_complete_status(order)
            if new_status == target or (target == "processing" and new_status == "completed"):
                order.date_paid = self.now()
        if new_status == "completed":
            order.date_completed = self.now()
        if old != "trash" and new_status != "trash":
            text = f"Order status changed from {STATUS_LABELS.get(old, old)} to {STATUS_LABELS.get(new_status, new_status)}."
            self.add_note(order, (note + " " + text).strip() if note else text)
        return True

    def payment_complete(self, order: Order, transaction_id: str = "") -> bool:
        """WC_Order::payment_complete: acts only from pending, on-hold, failed or cancelled."""
        if order.status not in ("pending", "on-hold", "failed", "cancelled"):
            return False
        if transaction_id:
            order.transaction_id = transaction_id
        if not order.date_paid:
            order.date_paid = self.now()
        self.set_status(order, self.payment_complete_status(order))
        return True

    def touch(self, order: Order) -> None:
        order.modified = self.now()

    def add_note(self, order: Order, text: str, customer_note: bool = False, author: str = "WooCommerce") -> Note:
        self._note_id += 1
        note = Note(id=self._note_id, order_id=order.id, author=author, created=self.now(), note=text,
                    customer_note=customer_note)
        self.notes[note.id] = note
        if customer_note:
            self._mail_customer_note(order, text)
        return note

    def _mail_customer_note(self, order: Order, text: str) -> None:
        to = order.billing.get("email", "")
        if not to:
            return
        lines = "\n".join(f"{li.name}\n\n\u00d7{li.quantity}\n\n\u20ac{money(li.total)}" for li in order.line_items)
        body = (f"{self.site_name}\n\nA note has been added to your order\n\nHi {order.billing.get('first_name', '')},"
                f"\n\nThe following note has been added to your order:\n\n{text}\n\nAs a reminder, here are your "
                f"order details:\n\nOrder summary\nOrder #{order.id}\n\n{lines}\n\nTotal:\n\u20ac{money(self.total(order))}\n")
        self.mails.append(Mail(to=to, subject=f"A note has been added to your order from {self.site_name}",
                               kind="customer_note", order_id=order.id, text=body,
                               headers=f"Content-Type: text/html\r\nReply-to: {self.site_name} <shop@example.com>\r\n"))

    def make_line(self, spec: Mapping[str, Any], index: int) -> LineItem:
        """One line item from a REST `line_items[]` entry (or a storefront cart line)."""
        if "quantity" in spec:
            quantity = spec["quantity"]
            if isinstance(quantity, str) and re.fullmatch(r"-?\d+", quantity.strip()):
                quantity = int(quantity)
            if isinstance(quantity, bool) or not isinstance(quantity, int):
                raise RestError(400, invalid_params([(
                    "line_items", "rest_invalid_type", f"line_items[{index}][quantity] is not of type integer.",
                    {"param": f"line_items[{index}][quantity]"})]))
        else:
            quantity = 1
        if not spec.get("product_id") and not spec.get("sku") and not spec.get("variation_id"):
            raise RestError(400, rest_error("woocommerce_rest_required_product_reference",
                                            "Product ID or SKU is required.", 400))
        if quantity == 0:
            # Captured: quantity 0 crashes WooCommerce 10.0.2 (rest/05_surprise_500_line_item_zero_quantity).
            raise RestError(500, {"code": "internal_server_error", "message": (
                "<p>There has been a critical error on this website.</p><p><a href=\"https://wordpress.org/"
                "documentation/article/faq-troubleshooting/\">Learn more about troubleshooting WordPress.</a></p>"),
                "data": {"status": 500}, "additional_errors": []})
        product = None
        pid = spec.get("variation_id") or spec.get("product_id")
        if pid:
            try:
                product = self.products.get(int(pid))
            except (TypeError, ValueError):
                product = None
        elif spec.get("sku"):
            product = self.product_by_sku(str(spec["sku"]))
        meta = [{"id": self.next_meta_id(), "key": m.get("key"), "value": m.get("value"),
                 "display_key": m.get("key"), "display_value": m.get("value")}
                for m in spec.get("meta_data") or [] if isinstance(m, Mapping)]
        if product is None:
            # Captured: an unknown product id or SKU still gives 201, with an empty zero-total line.
            return LineItem(id=self.next_item_id(), name="", product_id=0, variation_id=0, quantity=quantity,
                            subtotal=to_decimal(spec.get("subtotal")), total=to_decimal(spec.get("total")),
                            sku=None, image_id=0, parent_name=None, meta=meta)
        unit_total = product.price * quantity
        if unit_total < 0:
            unit_total = Decimal("0")  # captured: quantity -1 gives a zero line, not a negative one
        subtotal = to_decimal(spec.get("subtotal"), to_decimal(spec.get("total"), unit_total))
        total = to_decimal(spec.get("total"), subtotal if "subtotal" in spec else unit_total)
        if product.type == "variation":
            parent = self.products[product.parent_id]
            attrs = [{"id": self.next_meta_id(), "key": _slug(a["name"]), "value": a["option"],
                      "display_key": a["name"], "display_value": a["option"]} for a in product.attributes]
            return LineItem(id=self.next_item_id(), name=f"{parent.name} - {product.name}", product_id=parent.id,
                            variation_id=product.id, quantity=quantity, subtotal=subtotal, total=total,
                            sku=product.sku or parent.sku, image_id=0, parent_name=parent.name, meta=attrs + meta)
        return LineItem(id=self.next_item_id(), name=product.name, product_id=product.id, variation_id=0,
                        quantity=quantity, subtotal=subtotal, total=total, sku=product.sku, image_id="",
                        parent_name=None, meta=meta)

    def set_meta(self, holder: list[Meta], entries: Any) -> None:
        """`update_meta_data(key, value, id)`: an entry with `id` edits that row, else the row with that key."""
        for entry in entries or []:
            if not isinstance(entry, Mapping) or "key" not in entry:
                continue
            target = None
            if entry.get("id"):
                target = next((m for m in holder if m.id == int(entry["id"])), None)
            if target is None:
                target = next((m for m in holder if m.key == entry["key"]), None)
            if target is None:
                holder.append(Meta(self.next_meta_id(), str(entry["key"]), entry.get("value")))
            else:
                target.key, target.value = str(entry["key"]), entry.get("value")

    # ------------------------------------------------------------------ order JSON (REST v3, view context)

    def order_json(self, order: Order, dp: int = 2, include_meta: list[str] | None = None,
                   exclude_meta: list[str] | None = None, listed: bool = False) -> dict[str, Any]:
        """`listed`: as in a list answer, whose meta comes in row order; an order read alone (GET, PUT, webhook
        payloads) has its meta sorted by key, as a real HPOS shop answers."""
        total = self.total(order)
        discount = sum((li.subtotal - li.total for li in order.line_items), Decimal("0"))
        shipping_total = sum((s.total for s in order.shipping_lines), Decimal("0"))
        zero = money(Decimal("0"), dp)
        meta = [m for m in order.meta
                if (not include_meta or m.key in include_meta) and (not exclude_meta or m.key not in exclude_meta)]
        if not listed:
            meta.sort(key=lambda m: (m.key, m.id))
        link = f"{self.site}/wp-json/wc/v3/orders/{order.id}"
        links: dict[str, Any] = {
            "self": [{"href": link, "targetHints": {"allow": ["GET", "POST", "PUT", "PATCH", "DELETE"]}}],
            "collection": [{"href": f"{self.site}/wp-json/wc/v3/orders"}],
            "email_templates": [{"embeddable": True, "href": f"{link}/actions/email_templates"}],
        }
        if order.customer_id:
            links["customer"] = [{"href": f"{self.site}/wp-json/wc/v3/customers/{order.customer_id}"}]
        if order.parent_id:
            links["up"] = [{"href": f"{self.site}/wp-json/wc/v3/orders/{order.parent_id}"}]
        refunds = sorted((self.refunds[r] for r in order.refund_ids), key=lambda r: (r.created, r.id), reverse=True)
        return {
            "id": order.id, "parent_id": order.parent_id, "status": order.status, "currency": order.currency,
            "version": WC_VERSION, "prices_include_tax": False,
            "date_created": fmt_date(order.created), "date_modified": fmt_date(order.modified),
            "discount_total": money(discount, dp), "discount_tax": zero, "shipping_total": money(shipping_total, dp),
            "shipping_tax": zero, "cart_tax": zero, "total": money(total, dp), "total_tax": zero,
            "customer_id": order.customer_id, "order_key": order.order_key,
            "billing": {k: order.billing.get(k, "") for k in BILLING_KEYS},
            "shipping": {k: order.shipping.get(k, "") for k in SHIPPING_KEYS},
            "payment_method": order.payment_method, "payment_method_title": order.payment_method_title,
            "transaction_id": order.transaction_id, "customer_ip_address": order.customer_ip_address,
            "customer_user_agent": order.customer_user_agent, "created_via": order.created_via,
            "customer_note": order.customer_note, "date_completed": fmt_date(order.date_completed),
            "date_paid": fmt_date(order.date_paid), "cart_hash": order.cart_hash, "number": str(order.id),
            "meta_data": [{"id": m.id, "key": m.key, "value": m.value} for m in meta],
            "line_items": [self._line_json(li, dp) for li in order.line_items],
            "tax_lines": [],
            "shipping_lines": [{"id": s.id, "method_title": s.method_title, "method_id": s.method_id,
                                "instance_id": s.instance_id, "total": money(s.total, dp), "total_tax": zero,
                                "taxes": [], "tax_status": "taxable", "meta_data": s.meta}
                               for s in order.shipping_lines],
            "fee_lines": [], "coupon_lines": [],
            "refunds": [{"id": r.id, "reason": r.reason, "total": money(-r.amount, dp)} for r in refunds],
            "payment_url": f"{self.site}/checkout/order-pay/{order.id}/?pay_for_order=true&key={order.order_key}",
            "is_editable": order.status in ("pending", "on-hold", "auto-draft"),
            "needs_payment": self.needs_payment(order), "needs_processing": self.needs_processing(order),
            "date_created_gmt": fmt_date(order.created), "date_modified_gmt": fmt_date(order.modified),
            "date_completed_gmt": fmt_date(order.date_completed), "date_paid_gmt": fmt_date(order.date_paid),
            "currency_symbol": "\u20ac" if order.currency == "EUR" else order.currency,
            "_links": links,
        }

    @staticmethod
    def _line_json(li: LineItem, dp: int = 2) -> dict[str, Any]:
        price = li.total / li.quantity if li.quantity else Decimal("0")
        return {
            "id": li.id, "name": li.name, "product_id": li.product_id, "variation_id": li.variation_id,
            "quantity": li.quantity, "tax_class": "", "subtotal": money(li.subtotal, dp),
            "subtotal_tax": money(Decimal("0"), dp), "total": money(li.total, dp),
            "total_tax": money(Decimal("0"), dp), "taxes": [], "meta_data": li.meta, "sku": li.sku,
            "price": php_number(price), "image": {"id": li.image_id, "src": ""}, "parent_name": li.parent_name,
        }

    def note_json(self, note: Note) -> dict[str, Any]:
        base = f"{self.site}/wp-json/wc/v3/orders/{note.order_id}"
        return {
            "id": note.id, "author": note.author, "date_created": fmt_date(note.created),
            "date_created_gmt": fmt_date(note.created), "note": note.note, "customer_note": note.customer_note,
            "_links": {"self": [{"href": f"{base}/notes/{note.id}", "targetHints": {"allow": ["GET", "DELETE"]}}],
                       "collection": [{"href": f"{base}/notes"}], "up": [{"href": base}]},
        }

    def refund_json(self, refund: Refund, dp: int = 2) -> dict[str, Any]:
        base = f"{self.site}/wp-json/wc/v3/orders/{refund.order_id}"
        return {
            "id": refund.id, "date_created": fmt_date(refund.created), "date_created_gmt": fmt_date(refund.created),
            "amount": money(refund.amount, dp), "reason": refund.reason, "refunded_by": 1,
            "refunded_payment": False, "meta_data": [], "line_items": refund.line_items, "shipping_lines": [],
            "tax_lines": [], "fee_lines": [],
            "_links": {"self": [{"href": f"{base}/refunds/{refund.id}", "targetHints": {"allow": ["GET", "DELETE"]}}],
                       "collection": [{"href": f"{base}/refunds"}], "up": [{"href": base}]},
        }

    def notes_of(self, order_id: int) -> list[Note]:
        notes = [n for n in self.notes.values() if n.order_id == order_id]
        # Captured order: newest first, notes of the same second by ascending id.
        return sorted(notes, key=lambda n: (-n.created.timestamp(), n.id))

    # ------------------------------------------------------------------ order changes

    def create_order_from_rest(self, body: Mapping[str, Any]) -> Order:
        """POST /wc/v3/orders, in WooCommerce's order: validate, set props, save, totals, status, set_paid."""
        problems = []
        if "status" in body and body["status"] not in SCHEMA_STATUSES:
            msg = ("status is not one of auto-draft, pending, processing, on-hold, completed, cancelled, refunded, "
                   "failed, and checkout-draft.")
            problems.append(("status", "rest_not_in_enum", msg, None))
        billing = body.get("billing")
        if isinstance(billing, Mapping) and billing.get("email") and not EMAIL_PATTERN.match(str(billing["email"])):
            problems.append(("billing", "rest_invalid_email", "Invalid email address.", None))
        if "line_items" in body and not isinstance(body["line_items"], list):
            problems.append(("line_items", "rest_invalid_type", "line_items is not of type array.",
                             {"param": "line_items"}))
        if problems:
            raise RestError(400, invalid_params(problems))
        for index, spec in enumerate(body.get("line_items") or []):
            quantity = spec.get("quantity", 1) if isinstance(spec, Mapping) else None
            if isinstance(quantity, str) and not re.fullmatch(r"-?\d+", quantity.strip()) \
                    or isinstance(quantity, (bool, float)):
                raise RestError(400, invalid_params([(
                    "line_items", "rest_invalid_type", f"line_items[{index}][quantity] is not of type integer.",
                    {"param": f"line_items[{index}][quantity]"})]))
        customer_id = body.get("customer_id", 0) or 0
        if customer_id and int(customer_id) not in self.customers:
            raise RestError(400, rest_error("woocommerce_rest_invalid_customer_id", "Customer ID is invalid.", 400))
        parent_id = body.get("parent_id", 0) or 0
        if parent_id and int(parent_id) not in self.orders:
            raise RestError(400, rest_error("order_invalid_parent_id", "Invalid parent ID", 400))
        lines = [self.make_line(spec, i) for i, spec in enumerate(body.get("line_items") or [])]

        order = self.new_order(str(body.get("created_via") or "rest-api"))
        order.customer_id = int(customer_id)
        order.parent_id = int(parent_id)
        order.line_items = lines
        self._apply_props(order, body)
        if body.get("status") and body["status"] != "pending":
            self.set_status(order, body["status"])
        if body.get("set_paid") is True:
            # Gotcha kept from WooCommerce: with an explicit status this finds a non-payable status and does
            # nothing; date_paid then comes from the status change alone.
            self.payment_complete(order, str(body.get("transaction_id") or ""))
        # woocommerce_new_order fires on insert; the following saves fire woocommerce_update_order.
        self.emit("order.created", order.id)
        self.emit("order.updated", order.id)
        return order

    def _apply_props(self, order: Order, body: Mapping[str, Any]) -> None:
        for name in ("payment_method", "payment_method_title", "transaction_id", "customer_note", "currency",
                     "customer_ip_address", "customer_user_agent"):
            if name in body and body[name] is not None:
                setattr(order, name, str(body[name]))
        for name, keys in (("billing", BILLING_KEYS), ("shipping", SHIPPING_KEYS)):
            if isinstance(body.get(name), Mapping):
                target = getattr(order, name)
                target.update({k: str(v) for k, v in body[name].items() if k in keys and v is not None})
        if isinstance(body.get("shipping_lines"), list):
            for spec in body["shipping_lines"]:
                if isinstance(spec, Mapping):
                    order.shipping_lines.append(ShippingLine(
                        id=self.next_item_id(), method_title=str(spec.get("method_title", "")),
                        method_id=str(spec.get("method_id", "")), instance_id=str(spec.get("instance_id", "")),
                        total=to_decimal(spec.get("total"))))
        self.set_meta(order.meta, body.get("meta_data"))

    def update_order_from_rest(self, order_id: Any, body: Mapping[str, Any]) -> Order:
        order = self.order_or_error(order_id, status=400)  # captured: PUT on a missing order is 400, not 404
        if "status" in body and body["status"] not in SCHEMA_STATUSES:
            msg = ("status is not one of auto-draft, pending, processing, on-hold, completed, cancelled, refunded, "
                   "failed, and checkout-draft.")
            raise RestError(400, invalid_params([("status", "rest_not_in_enum", msg, None)]))
        if body.get("customer_id") and int(body["customer_id"]) not in self.customers:
            raise RestError(400, rest_error("woocommerce_rest_invalid_customer_id", "Customer ID is invalid.", 400))
        was_trash = order.status == "trash"
        if "customer_id" in body:
            order.customer_id = int(body["customer_id"] or 0)
        if "parent_id" in body:
            order.parent_id = int(body["parent_id"] or 0)
        for i, spec in enumerate(body.get("line_items") or []):
            if isinstance(spec, Mapping) and spec.get("id"):
                existing = next((li for li in order.line_items if li.id == int(spec["id"])), None)
                if existing is not None and "quantity" in spec and int(spec["quantity"]) == 0:
                    order.line_items.remove(existing)
                elif existing is not None:
                    existing.quantity = int(spec.get("quantity", existing.quantity))
                    existing.subtotal = to_decimal(spec.get("subtotal"), existing.subtotal)
                    existing.total = to_decimal(spec.get("total"), existing.total)
            elif isinstance(spec, Mapping):
                order.line_items.append(self.make_line(spec, i))
        self._apply_props(order, body)
        if body.get("status") and body["status"] != order.status:
            self.set_status(order, body["status"])
        if body.get("set_paid") is True and self.needs_payment(order):
            self.payment_complete(order, str(body.get("transaction_id") or ""))
        self.touch(order)
        # HPOS skips the update hook for transitions to or from trash: a PUT that restores a trashed order
        # is silent (more/README.md, 4).
        if not was_trash:
            self.emit("order.updated", order.id)
        return order

    def trash_order(self, order: Order) -> None:
        order.status_before_trash = order.status
        self.set_meta(order.meta, [{"key": "_wp_trash_meta_status", "value": f"wc-{order.status}"},
                                   {"key": "_wp_trash_meta_time", "value": str(int(self.now().timestamp()))}])
        order.status = "trash"
        self.touch(order)
        self.emit("order.deleted", order.id)

    def restore_order(self, order: Order) -> None:
        """wp-admin Orders > Trash > Restore: the only path that fires order.restored."""
        order.status = order.status_before_trash or "pending"
        order.status_before_trash = None
        order.meta[:] = [m for m in order.meta if not m.key.startswith("_wp_trash_meta_")]
        self.touch(order)
        self.emit("order.restored", order.id)

    def force_delete_order(self, order: Order) -> None:
        del self.orders[order.id]
        for note_id in [n.id for n in self.notes.values() if n.order_id == order.id]:
            del self.notes[note_id]

    def create_refund(self, order: Order, body: Mapping[str, Any]) -> Refund:
        amount = to_decimal(body.get("amount"))
        if amount <= 0:
            raise RestError(400, rest_error("woocommerce_rest_invalid_order_refund",
                                            "Refund amount must be greater than zero.", 400))
        remaining = self.total(order) - self.refunded_total(order)
        if amount > remaining:
            # wc_create_refund's WP_Error carries a bare 500 as its data, not {"status": 500}
            raise RestError(500, {"code": "woocommerce_rest_cannot_create_order_refund",
                                  "message": "Invalid refund amount.", "data": 500})
        if body.get("api_refund", True) not in (False, "false", "0", 0):
            message = ("Payment gateway does not support refunds" if order.payment_method in GATEWAY_TITLES
                       and order.payment_method != "mypos" else "The payment gateway for this order does not exist.")
            raise RestError(500, rest_error("woocommerce_rest_cannot_create_order_refund", message, 500))
        lines = []
        for spec in body.get("line_items") or []:
            item = next((li for li in order.line_items if li.id == int(spec.get("id", 0))), None) \
                if isinstance(spec, Mapping) else None
            if item is None:
                continue
            value = to_decimal(spec.get("refund_total"))
            qty = int(spec.get("quantity", 0) or 0)
            lines.append({
                "id": self.next_item_id(), "name": item.name, "product_id": item.product_id,
                "variation_id": item.variation_id, "quantity": -qty, "tax_class": "",
                "subtotal": money(-value), "subtotal_tax": "0.00", "total": money(-value), "total_tax": "0.00",
                "taxes": [], "meta_data": [{"id": self.next_meta_id(), "key": "_refunded_item_id",
                                            "value": str(item.id), "display_key": "_refunded_item_id",
                                            "display_value": str(item.id)}],
                "sku": item.sku, "price": php_number(item.total / item.quantity if item.quantity else Decimal(0)),
                "image": {"id": item.image_id, "src": ""}, "parent_name": item.parent_name,
            })
        refund = Refund(id=self.next_post_id(), order_id=order.id, created=self.now(), amount=amount,
                        reason=str(body.get("reason", "")), line_items=lines)
        self.refunds[refund.id] = refund
        order.refund_ids.append(refund.id)
        if remaining - amount <= 0:
            self.set_status(order, "refunded")
        self.touch(order)
        self.emit("order.updated", order.id)  # woocommerce_order_refunded is an order.updated hook
        return refund

    # ------------------------------------------------------------------ storefront

    def place_storefront_order(self, customer: Any, lines: list[tuple], payment_method: str, via: str,
                               paid: bool, transaction_id: str, customer_note: str, user_agent: str,
                               billing: Mapping[str, str] | None, shipping: Mapping[str, str] | None) -> Order:
        if via not in ("store-api", "checkout"):
            raise ValueError("via must be 'store-api' or 'checkout'")
        customer_id = 0
        bill: dict[str, str] = {}
        ship: dict[str, str] = {}
        if isinstance(customer, int) and customer:
            c = self.customers.get(customer)
            if c is None:
                raise ValueError(f"no customer {customer} in the stand-in shop")
            customer_id = c.id
            bill = dict(c.billing)
            bill["email"] = bill.get("email") or c.email
            bill["first_name"] = bill.get("first_name") or c.first_name
            bill["last_name"] = bill.get("last_name") or c.last_name
            ship = {k: v for k, v in c.shipping.items()}
            if not any(ship.values()):
                ship = {k: bill.get(k, "") for k in SHIPPING_KEYS}
        elif isinstance(customer, Mapping):
            bill = {k: str(v) for k, v in customer.items()}
            ship = {k: bill.get(k, "") for k in SHIPPING_KEYS}
        bill.update(billing or {})
        ship.update(shipping or {})
        items = [self.make_line({"product_id": line[0], "quantity": line[1] if len(line) > 1 else 1,
                                 **({"variation_id": line[2]} if len(line) > 2 and line[2] else {})}, i)
                 for i, line in enumerate(lines)]
        if not items:
            raise ValueError("a storefront order needs at least one line")
        order = self.new_order(via)
        order.customer_id = customer_id
        order.billing.update({k: v for k, v in bill.items() if k in BILLING_KEYS})
        order.shipping.update({k: v for k, v in ship.items() if k in SHIPPING_KEYS})
        order.line_items = items
        order.payment_method = payment_method
        order.payment_method_title = GATEWAY_TITLES.get(payment_method, payment_method)
        order.customer_ip_address = "127.0.0.1"
        order.customer_user_agent = user_agent
        order.customer_note = customer_note
        order.cart_hash = hashlib.md5(repr([(li.product_id, li.variation_id, li.quantity) for li in items])
                                      .encode()).hexdigest()
        summary = ", ".join(f"{li.name} &times; {li.quantity}" for li in items)
        order.shipping_lines.append(ShippingLine(
            id=self.next_item_id(), method_title="Free shipping", method_id="free_shipping", instance_id="1",
            total=Decimal("0"), meta=[{"id": self.next_meta_id(), "key": "Items", "value": summary,
                                       "display_key": "Items", "display_value": summary}]))
        if via == "store-api":
            order.status = "checkout-draft"
            shipping_hash = hashlib.md5(summary.encode()).hexdigest()
            for key, value in (("_shipping_hash", shipping_hash), ("_coupons_hash", EMPTY_HASH),
                               ("_fees_hash", EMPTY_HASH), ("_taxes_hash", EMPTY_HASH)):
                order.meta.append(Meta(self.next_meta_id(), key, value))
            self.set_status(order, "pending")
        order.meta.append(Meta(self.next_meta_id(), "is_vat_exempt", "no"))
        if payment_method == "cod" and self.total(order) > 0:
            self.set_status(order, "processing", "Payment to be made upon delivery.")
        elif payment_method in ("bacs", "cheque") and self.total(order) > 0:
            self.set_status(order, "on-hold", "Awaiting BACS payment" if payment_method == "bacs"
                            else "Awaiting check payment")
        elif paid or self.total(order) == 0:
            self.payment_complete(order, transaction_id)
        if via == "store-api":
            # Captured: Store API orders send order.updated first, then order.created, same bytes.
            self.emit("order.updated", order.id)
            self.emit("order.created", order.id)
        else:
            self.emit("order.created", order.id)
            self.emit("order.updated", order.id)
        return order

    def checkout_json(self, order: Order) -> dict[str, Any]:
        """The Store API checkout answer (more/rest/11_storeapi_*_checkout)."""
        redirect = f"{self.site}/checkout/order-received/{order.id}/?key={order.order_key}"
        return {
            "order_id": order.id, "status": order.status, "order_key": order.order_key,
            "order_number": str(order.id), "customer_note": order.customer_note, "customer_id": order.customer_id,
            "billing_address": {k: order.billing.get(k, "") for k in BILLING_KEYS},
            "shipping_address": {k: order.shipping.get(k, "") for k in SHIPPING_KEYS},
            "payment_method": order.payment_method,
            "payment_result": {"payment_status": "success",
                               "payment_details": [{"key": "result", "value": "success"},
                                                   {"key": "redirect", "value": redirect}],
                               "redirect_url": redirect},
            "additional_fields": {}, "__experimentalCart": None, "extensions": {},
        }
