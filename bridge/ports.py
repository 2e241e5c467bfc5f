"""The contracts between abonne's core and the outside world.

`bridge/` knows shops and gateways only through these protocols and value objects; each folder under
`adapters/` implements one of them. Every method says what it may do, what it must never do, how it behaves
when called twice and which error it raises, so nobody has to read an adapter to know the rules.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Mapping, Protocol, Sequence

from bridge.domain.money import Money


# --------------------------------------------------------------------------------------------- settings

@dataclass(frozen=True)
class SettingField:
    """One setting an adapter needs; the CLI and the config page render these without knowing the adapter."""

    name: str
    label: str
    secret: bool = False
    url: bool = False
    required: bool = True
    help: str = ""
    choices: tuple[str, ...] = ()  # the only values accepted
    suggestions: tuple[str, ...] = ()  # values offered to people; others are accepted too


# --------------------------------------------------------------------------------------------- shops

@dataclass(frozen=True)
class Address:
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    address_1: str = ""
    address_2: str = ""
    city: str = ""
    state: str = ""
    postcode: str = ""
    country: str = ""
    email: str = ""
    phone: str = ""


@dataclass(frozen=True)
class OrderLine:
    line_id: str
    product_id: str
    variation_id: str | None
    sku: str
    name: str
    quantity: int
    subtotal: Money  # before discounts, excluding tax
    total: Money  # after discounts, excluding tax: what the customer pays for the line, net
    total_tax: Money
    options: tuple[tuple[str, str], ...] = ()  # (name, value) the customer chose, where the shop has options
    terms: SubscriptionTerms | None = None  # a subscription plan the shop itself put on the line (OpenCart 4)


class OrderState(enum.Enum):
    OPEN = "open"  # pending, on-hold, processing, completed...
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    FAILED = "failed"
    TRASHED = "trashed"


@dataclass(frozen=True)
class ShopOrder:
    """A shop order, normalized. `paid` comes from the payment facts (a paid date), never from the status."""

    order_id: str
    number: str
    status: str  # the shop's own word, for people
    state: OrderState
    paid: bool
    currency: str
    total: Money
    customer_id: str | None
    billing: Address
    shipping: Address
    lines: tuple[OrderLine, ...]
    created_via: str = ""
    own_renewal: bool = False  # an order abonne itself created: never a new subscription
    transaction_id: str = ""
    modified_at: datetime | None = None


class WebhookKind(enum.Enum):
    PING = "ping"
    ORDER = "order"  # created or updated: the body carries the order as it is now
    DELETED = "deleted"  # only the order id is known


@dataclass(frozen=True)
class ShopWebhook:
    """A verified webhook delivery, parsed enough to store and deduplicate it."""

    kind: WebhookKind
    topic: str
    business_key: str  # same key = same news; never the shop's delivery id
    order_id: str | None = None


class WebhookRejected(Exception):
    """The request is not a delivery this shop signed. Nothing may be stored for it."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


class ShopError(Exception):
    """A shop API call failed. `detail` is a plain sentence for the shop owner, without secrets.

    `retryable` is true for timeouts, connection errors, 429 and 5xx: the same call may succeed later.
    `retry_after` is how many seconds the shop asked to be left alone (its Retry-After header on a 429 or 503):
    no call to that shop may be made sooner.
    """

    def __init__(self, detail: str, *, status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None):
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class SubscriptionTerms:
    """Billing terms a product carries itself (WooCommerce Subscriptions-style meta)."""

    unit: str  # day | week | month | year
    every: int
    cycles: int | None = None  # None: until cancelled
    trial_unit: str = "day"
    trial_length: int = 0
    signup_fee: str = "0"  # decimal amount in the order's currency
    unsupported: str = ""  # why abonne cannot bill these terms as the shop states them, if it cannot


@dataclass(frozen=True)
class ShopProduct:
    product_id: str
    sku: str
    name: str
    price: str  # decimal amount, the shop's current price
    terms: SubscriptionTerms | None


@dataclass(frozen=True)
class ConnectionReport:
    ok: bool
    detail: str


class ShopAdapter(Protocol):
    """One connected shop. Built per shop as `Adapter(settings, secrets, clock=...)` from its stored settings,
    decrypted secrets and abonne's clock (for signatures that carry a time)."""

    platform: ClassVar[str]
    settings_fields: ClassVar[tuple[SettingField, ...]]

    @staticmethod
    def connect_instructions(delivery_url: str, shop_id: int) -> str:
        """What the owner does in the shop so that its order events reach delivery_url. Pure."""

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> ShopWebhook:
        """Check the signature on the exact body bytes and classify the delivery. Pure: no I/O, no storage.

        Raises WebhookRejected (401 bad or missing signature, 400 malformed body). A ping is returned as
        WebhookKind.PING and needs no signature when the platform sends none.
        """

    def parse_order(self, raw_body: bytes) -> ShopOrder:
        """Normalize a stored, verified ORDER delivery. Pure. Raises WebhookRejected(400) if it is no order."""

    def get_order(self, order_id: str) -> ShopOrder:
        """Read one order from the shop. Read-only. Raises ShopError."""

    def get_product(self, product_id: str) -> ShopProduct:
        """Read a product and the subscription terms it carries, if any. Read-only. Raises ShopError."""

    def add_customer_note(self, order_id: str, text: str) -> None:
        """Add a note to the order that the shop shows and sends to the customer. Not idempotent: the caller
        makes sure it is asked once (outbox). Raises ShopError."""

    def mark_paid(self, order_id: str, transaction_id: str) -> None:
        """Record that the order was paid, with the gateway's transaction reference. Idempotent: an order
        that is already paid stays as it is. Raises ShopError."""

    def test_connection(self) -> ConnectionReport:
        """Call the shop's API once and say plainly what is wrong (unreachable, refused keys, not this
        platform). Read-only. Never raises for a shop-side problem."""

    def register_webhooks(self, delivery_url: str) -> list[str]:
        """Create (or reuse) the shop's webhooks pointing at delivery_url, signed with this shop's webhook
        secret. Returns what it did, one line each. Raises ShopError."""

    def find_renewal_order(self, renewal: RenewalOrder) -> CreatedOrder | None:
        """Look for an order an earlier attempt created for renewal.key (the shop has no idempotency keys, and a
        timed-out create may have succeeded). Where a create takes several calls, a found order whose attempt was
        cut short is finished, idempotently; nothing else is written. Raises ShopError."""

    def create_renewal_order(self, renewal: RenewalOrder) -> CreatedOrder:
        """Create the renewal as a paid order that find_renewal_order can find. NOT idempotent: the caller calls
        find_renewal_order before every attempt but the first. Raises ShopError (retryable for timeouts and 5xx;
        not retryable when the shop would record a different amount than the charge)."""

    def orders_modified_since(self, since: datetime) -> list[ShopOrder]:
        """Every order changed at or after `since` (UTC), oldest change first, for reconciliation when webhooks
        were lost. Read-only. Raises ShopError."""

    def repair_webhooks(self, delivery_url: str) -> list[WebhookRepair]:
        """Check the shop's webhooks to delivery_url and re-enable those the shop disabled after failed
        deliveries. Reports each webhook found. Raises ShopError."""

    def order_admin_url(self, order_id: str) -> str:
        """Where the owner opens this order in the shop's own back office. Pure: no I/O, never raises."""


@dataclass(frozen=True)
class RenewalLine:
    product_id: str
    variation_id: str | None
    name: str
    quantity: int
    net_total: Money  # excluding tax: the shop adds its own tax on top, as for the first order


@dataclass(frozen=True)
class RenewalOrder:
    """A paid renewal to record in the shop as a normal order."""

    key: str  # "<agreement id>:<cycle>": unique, written on the order so an earlier attempt can be found
    parent_order_id: str
    customer_id: str | None
    billing: Address
    shipping: Address
    lines: tuple[RenewalLine, ...]
    charged: Money  # what the card was charged, tax included
    transaction_id: str  # the gateway's reference of the charge
    agreement_id: int
    cycle: int


@dataclass(frozen=True)
class CreatedOrder:
    order_id: str
    total: Money  # as the shop computed it; compared with RenewalOrder.charged


@dataclass(frozen=True)
class WebhookRepair:
    detail: str  # one line for people, e.g. "webhook 7 (order.created) was disabled; re-enabled"
    repaired: bool


# --------------------------------------------------------------------------------------------- gateway

@dataclass(frozen=True)
class Customer:
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    country: str = ""  # ISO 3166 alpha-2 as shops give it; the adapter converts if its gateway wants alpha-3
    city: str = ""
    postcode: str = ""
    address: str = ""


@dataclass(frozen=True)
class CartItem:
    name: str
    quantity: int
    unit_price: Money

    @property
    def amount(self) -> Money:
        return self.unit_price.times(self.quantity)


class HostedMode(enum.Enum):
    PAY_AND_STORE = "pay_and_store"  # take the first payment and store the card
    STORE_ONLY = "store_only"  # store the card, no payment


@dataclass(frozen=True)
class HostedPaymentRequest:
    gateway_order_id: str
    mode: HostedMode
    currency: str
    items: tuple[CartItem, ...]  # empty for STORE_ONLY
    customer: Customer
    url_ok: str
    url_cancel: str
    url_notify: str
    note: str = ""

    @property
    def amount(self) -> Money:
        total = Money.zero(self.currency)
        for item in self.items:
            total = total + item.amount
        return total


@dataclass(frozen=True)
class HostedForm:
    """An auto-submitting browser form: POST `fields`, in this order, to `action`."""

    action: str
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class StoredCard:
    token: str
    last4: str
    exp_yymm: str
    card_type: str


class CallbackKind(enum.Enum):
    PAID = "paid"  # payment (and card) confirmed server to server: the one to act on
    ROLLED_BACK = "rolled_back"  # the gateway reversed an earlier PAID
    CANCELLED = "cancelled"  # the customer gave up on the hosted page
    RETURNED = "returned"  # the customer's browser came back after paying: informational only


@dataclass(frozen=True)
class GatewayCallback:
    kind: CallbackKind
    gateway_order_id: str
    amount: Money | None
    transaction_ref: str = ""
    card: StoredCard | None = None


class CallbackRejected(Exception):
    """A callback the gateway did not sign, or cannot be read. Nothing may change because of it."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


class GatewayConfigError(Exception):
    """The merchant settings themselves are unusable (unparseable key or certificate, missing field)."""


@dataclass(frozen=True)
class ChargeRequest:
    gateway_order_id: str  # unique per attempt
    card_token: str
    amount: Money
    items: tuple[CartItem, ...]
    note: str = ""


class ChargeOutcome(enum.Enum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    UNKNOWN = "unknown"


class DeclineKind(enum.Enum):
    SOFT = "soft"  # retry later: insufficient funds, limits
    HARD = "hard"  # retrying is pointless: the customer must give a new card


@dataclass(frozen=True)
class ChargeResult:
    outcome: ChargeOutcome
    transaction_ref: str = ""
    status_code: str = ""  # the gateway's own code, for people and for the decline policy
    message: str = ""
    decline: DeclineKind | None = None


@dataclass(frozen=True)
class TransactionStatus:
    """What the gateway knows about one gateway order id."""

    known: bool  # False: the gateway answered and has never seen this order id
    paid: bool
    transaction_ref: str = ""
    amount: Money | None = None
    detail: str = ""


class GatewayUnavailable(Exception):
    """The gateway could not be asked (timeout, connection error, 5xx, unverifiable answer). Ask again later."""


class PaymentGateway(Protocol):
    settings_fields: ClassVar[tuple[SettingField, ...]]

    def hosted_payment_form(self, request: HostedPaymentRequest) -> HostedForm:
        """Build the signed form that sends the customer to the hosted payment page. Pure, moves no money."""

    def verify_callback(self, form: Sequence[tuple[str, str]]) -> GatewayCallback:
        """Verify a callback (form fields in the order received) with the gateway's certificate and read it.
        Pure. Raises CallbackRejected for a bad or missing signature or an unknown method."""

    def charge_stored_card(self, request: ChargeRequest) -> ChargeResult:
        """Charge a stored card token once. May move money.

        Must be called at most once per gateway_order_id by the caller; the gateway refuses a second
        payment with the same id (the answer is then `unknown`, to be settled by transaction_status).
        Never raises for a decline; a timeout, connection error, 5xx or unverifiable answer is `unknown`,
        never `declined`. Raises GatewayConfigError only when the merchant settings are unusable.
        """

    def transaction_status(self, gateway_order_id: str) -> TransactionStatus:
        """Ask the gateway what happened to one order id. Read-only.
        Raises GatewayUnavailable when no trustworthy answer came back."""

    def check_configuration(self) -> str:
        """Load keys and certificate; raise GatewayConfigError naming what is wrong. Returns a summary."""


@dataclass(frozen=True)
class Registry:
    """Which adapters exist. Built in bridge/app.py, the one place that names them."""

    shops: Mapping[str, type] = field(default_factory=dict)
    gateway: type | None = None
