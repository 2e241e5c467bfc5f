"""The unsigned field lists of the IPC requests abonne sends, in the order the official PHP SDK sends them.

Any order is accepted by myPOS as long as the signature covers the same order, but following the SDK keeps the
requests comparable with what myPOS support sees from other clients. Names are PascalCase ("all properties must be
in PascalCase" in the current docs). Every field that is signed is sent, empty or not.
"""
from __future__ import annotations

from dataclasses import dataclass

from adapters.mypos.countries import to_alpha3
from bridge.domain.money import Money
from bridge.ports import CartItem, ChargeRequest, HostedMode, HostedPaymentRequest

IPC_VERSION = "1.4"

Fields = list[tuple[str, str]]


@dataclass(frozen=True)
class Store:
    """Who is asking: the standard properties of every request."""

    sid: str
    wallet_number: str
    key_index: str
    source: str = ""
    language: str = "EN"

    def standard(self, method: str, *, with_source: bool = True) -> Fields:
        fields = [("IPCmethod", method), ("IPCVersion", IPC_VERSION), ("IPCLanguage", self.language),
                  ("SID", self.sid), ("WalletNumber", self.wallet_number), ("KeyIndex", self.key_index)]
        if with_source:
            fields.append(("Source", self.source))
        return fields


def format_amount(money: Money) -> str:
    """Decimal text with the currency's decimals: 1990 EUR minor units -> "19.90"."""
    return str(money.amount)


def purchase(store: Store, request: HostedPaymentRequest) -> Fields:
    """IPCPurchase: the hosted payment page that also stores the card (CardTokenRequest 2 pay+store, 1 store)."""
    pays = request.mode is HostedMode.PAY_AND_STORE
    if pays and not request.items:
        raise ValueError("a pay-and-store payment needs at least one cart item")
    customer = request.customer
    fields = store.standard("IPCPurchase")
    fields.append(("Currency", request.currency))
    if pays:
        # The SDK omits Amount and the cart for a store-only request (CardTokenRequest=1).
        fields.append(("Amount", format_amount(request.amount)))
    fields += [
        ("OrderID", request.gateway_order_id),
        ("URL_OK", request.url_ok),
        ("URL_Cancel", request.url_cancel),
        ("URL_Notify", request.url_notify),
        ("Note", request.note),
        ("CustomerEmail", customer.email),
        ("CustomerPhone", customer.phone),
        ("CustomerFirstNames", customer.first_name),
        ("CustomerFamilyName", customer.last_name),
        ("CustomerCountry", to_alpha3(customer.country)),
        ("CustomerCity", customer.city),
        ("CustomerZIPCode", customer.postcode),
        ("CustomerAddress", customer.address),
    ]
    if pays:
        fields += cart(request.items)
    complete = bool(customer.email and customer.first_name and customer.last_name)
    fields += [
        ("CardTokenRequest", "2" if pays else "1"),
        # 1: the customer's details are sent and fixed on the page; 2: the customer types them on the page.
        ("PaymentParametersRequired", "1" if complete else "2"),
        # Card only: iDEAL and the other methods give no card token to charge later.
        ("PaymentMethod", "1"),
    ]
    return fields


def ia_purchase(store: Store, request: ChargeRequest, output_format: str = "json") -> Fields:
    """IPCIAPurchase with a stored CardToken: a merchant-initiated charge, server to server."""
    items = request.items or (CartItem(name=request.note or f"Payment {request.gateway_order_id}", quantity=1,
                                       unit_price=request.amount),)
    total = Money.zero(request.amount.currency)
    for item in items:
        total = total + item.amount
    if total != request.amount:
        raise ValueError(f"the cart adds up to {total}, not to the charged {request.amount}")
    return store.standard("IPCIAPurchase") + [
        ("OrderID", request.gateway_order_id),
        ("Amount", format_amount(request.amount)),
        ("Currency", request.amount.currency),
        ("CardToken", request.card_token),
        ("Note", request.note),
        ("OutputFormat", output_format),
    ] + cart(items)


def txn_status(store: Store, order_id: str, output_format: str = "json") -> Fields:
    """IPCGetTxnStatus. Source is optional here and left out, like in signature vector 5."""
    return store.standard("IPCGetTxnStatus", with_source=False) + [
        ("OrderID", order_id),
        ("OutputFormat", output_format),
    ]


def cart(items: tuple[CartItem, ...]) -> Fields:
    fields: Fields = [("CartItems", str(len(items)))]
    for index, item in enumerate(items, start=1):
        fields += [
            (f"Article_{index}", item.name),
            (f"Quantity_{index}", str(item.quantity)),
            (f"Price_{index}", format_amount(item.unit_price)),
            (f"Amount_{index}", format_amount(item.amount)),
            (f"Currency_{index}", item.unit_price.currency),
        ]
    return fields
