"""Reading the form posts myPOS sends: IPCPurchaseNotify and IPCPurchaseRollback server to server (URL_Notify),
IPCPurchaseOK and IPCPurchaseCancel through the customer's browser (URL_OK, URL_Cancel)."""
from __future__ import annotations

from typing import Sequence

from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.mypos.signing import SIGNATURE, verify_form
from bridge.domain.money import Money, MoneyError
from bridge.ports import CallbackKind, CallbackRejected, GatewayCallback, StoredCard

KINDS = {
    "ipcpurchasenotify": CallbackKind.PAID,
    "ipcpurchaserollback": CallbackKind.ROLLED_BACK,
    "ipcpurchasecancel": CallbackKind.CANCELLED,
    # Arrives through the browser after a Notify; never a reason to mark anything paid.
    "ipcpurchaseok": CallbackKind.RETURNED,
}


def read_callback(form: Sequence[tuple[str, str]], mypos_key: rsa.RSAPublicKey) -> GatewayCallback:
    """Verify a callback with myPOS's public key and read it. Names are matched case-insensitively (older
    myPOS examples write them in lower case); the signature covers values only, so case does not matter to it."""
    values = {name.lower(): value for name, value in form}
    if not values.get(SIGNATURE.lower()):
        raise CallbackRejected("missing_signature", "the callback carries no Signature field")
    if not verify_form(form, mypos_key):
        raise CallbackRejected(
            "signature_mismatch",
            "the Signature does not match the callback's values with the configured myPOS certificate")
    method = values.get("ipcmethod", "")
    kind = KINDS.get(method.lower())
    if kind is None:
        raise CallbackRejected("unknown_method", f"IPCmethod {method!r} is not a callback abonne handles")
    order_id = values.get("orderid", "")
    if not order_id:
        raise CallbackRejected("missing_order_id", f"the {method} callback has no OrderID")
    return GatewayCallback(
        kind=kind,
        gateway_order_id=order_id,
        amount=_amount(values, method),
        transaction_ref=values.get("ipc_trnref", ""),
        card=_card(values) if kind in (CallbackKind.PAID, CallbackKind.RETURNED) else None,
    )


def _amount(values: dict[str, str], method: str) -> Money | None:
    # A store-only request (CardTokenRequest=1) carries no Amount, and its callbacks echo none.
    if not values.get("amount"):
        return None
    try:
        return Money.parse(values["amount"], values.get("currency", ""))
    except MoneyError as error:
        raise CallbackRejected("bad_amount", f"the {method} callback has an unreadable amount: {error}") from None


def _card(values: dict[str, str]) -> StoredCard | None:
    token = values.get("cardtoken", "")
    if not token:
        return None
    return StoredCard(token=token, last4=values.get("pan", ""), exp_yymm=values.get("expdate", ""),
                      card_type=CARD_TYPES.get(values.get("cardtype", ""), values.get("cardtype", "")))


# myPOS CardType codes (Checkout API v1.4, Appendix IV), named for people.
CARD_TYPES = {"1": "MasterCard", "2": "Maestro", "3": "VISA", "4": "Visa Electron", "5": "VPAY", "6": "JCB",
              "7": "Bancontact"}
