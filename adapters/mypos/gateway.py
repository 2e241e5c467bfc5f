"""myPOS Checkout (IPC) as abonne's PaymentGateway: hosted page to pay and store a card, stored-card charges
(IPCIAPurchase with CardToken), status queries (IPCGetTxnStatus) and the callbacks myPOS posts back."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import cached_property
from typing import ClassVar, Sequence
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.mypos import messages
from adapters.mypos.callbacks import read_callback
from adapters.mypos.signing import (
    Document, MalformedResponse, certificate_public_key, load_certificate, load_private_key, lookup, parse_json,
    sign_fields, verify_document,
)
from bridge.domain.money import Money, MoneyError
from bridge.ports import (
    ChargeOutcome, ChargeRequest, ChargeResult, DeclineKind, GatewayCallback, GatewayConfigError,
    GatewayUnavailable, HostedForm, HostedPaymentRequest, SettingField, TransactionStatus,
)

TEST_ENDPOINT = "https://www.mypos.com/vmp/checkout-test"
PRODUCTION_ENDPOINT = "https://www.mypos.com/vmp/checkout"

# How a refused IPCIAPurchase is classified. SOFT: the same card may pass later (funds, limits reset).
# HARD: retrying the token cannot help, the customer has to give a card again: 8 authorization failed, 14 not
# permitted (also what an unknown or disabled token gets), 21 declined by the issuer, 22 card expired,
# 24 3-DS failed (a merchant-initiated charge cannot do 3-DS).
SOFT_DECLINES = frozenset({13, 15, 19})
HARD_DECLINES = frozenset({8, 14, 21, 22, 24})
# 20: "there was already a payment with this OrderID". Nothing new was charged, but the earlier attempt may
# have been; only a status query can tell, so it is `unknown`.
DUPLICATE_ORDER = 20
# What each decline means for the shop owner and the customer, in words.
DECLINE_WORDS = {
    8: "the card issuer refused to authorize the payment",
    13: "the card has insufficient funds",
    14: "the stored card may not be used for this payment (unknown or disabled card token)",
    15: "a card or store limit was exceeded",
    19: "the account's limits were reached",
    21: "the card issuer declined the payment",
    22: "the card has expired",
    24: "3-D Secure authentication failed",
}
# The request or the store settings are wrong and myPOS refused before charging: missing/invalid parameters,
# signature or key index refused, unknown SID or wallet, referer or store restricted, currency not enabled.
# Declining would blame the customer's card and `unknown` would retry forever, so these stop the run with
# GatewayConfigError. Everything else that is not listed (99 and the mandate codes) is `unknown`.
CONFIGURATION_ERRORS = frozenset({1, 2, 3, 4, 5, 6, 9, 10, 18, 25})
# For a status query only the unambiguous ones: what myPOS answers for an unknown order id is undocumented
# and might well be 5, which must not stop the run.
REFUSED_CREDENTIALS = frozenset({2, 3, 4})


class MyPosGateway:
    settings_fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField("sid", "Store ID (SID)", help="15 digits, from the myPOS account: Online stores → store"),
        SettingField("wallet_number", "Wallet number", help="the myPOS account (Client Number), 11 digits"),
        SettingField("key_index", "Key index", help="the index myPOS shows next to the uploaded key; use the last"),
        SettingField("private_key_pem", "Store private key (PEM)", secret=True,
                     help="the RSA private key whose public half is uploaded to the myPOS store"),
        SettingField("certificate_pem", "myPOS public certificate (PEM)",
                     help="the myPOS certificate paired with that key index; for the test store the 2018 re-issue"),
        SettingField("endpoint", "Checkout endpoint", url=True, suggestions=(TEST_ENDPOINT, PRODUCTION_ENDPOINT),
                     help=f"test: {TEST_ENDPOINT} · production: {PRODUCTION_ENDPOINT}"),
    )

    def __init__(self, *, sid: str, wallet_number: str, key_index: str | int, private_key_pem: str,
                 certificate_pem: str, endpoint: str = TEST_ENDPOINT, timeout: float = 30.0,
                 source: str = "abonne"):
        self.store = messages.Store(sid=sid.strip(), wallet_number=wallet_number.strip(),
                                    key_index=str(key_index).strip(), source=source)
        self.endpoint = endpoint.strip()
        self.timeout = timeout
        self._private_key_pem = private_key_pem
        self._certificate_pem = certificate_pem

    # One connection pool for this gateway's calls, shared by the threads of a renewal run: a call reuses an open
    # connection (myPOS is HTTPS: no new TLS handshake per charge) instead of opening its own.
    @cached_property
    def _http(self) -> requests.Session:
        session = requests.Session()
        session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=64))
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))
        return session

    # Keys are read on first use so a gateway with broken settings can still be built and then report them.
    @cached_property
    def _private_key(self) -> rsa.RSAPrivateKey:
        return load_private_key(self._private_key_pem)

    @cached_property
    def _certificate(self) -> x509.Certificate:
        return load_certificate(self._certificate_pem)

    @property
    def _mypos_key(self) -> rsa.RSAPublicKey:
        return certificate_public_key(self._certificate)

    # ----------------------------------------------------------------------------------------- hosted page

    def hosted_payment_form(self, request: HostedPaymentRequest) -> HostedForm:
        fields = sign_fields(messages.purchase(self.store, request), self._private_key)
        return HostedForm(action=self.endpoint, fields=fields)

    def verify_callback(self, form: Sequence[tuple[str, str]]) -> GatewayCallback:
        """Raises CallbackRejected for the callback's faults, GatewayConfigError if the certificate is unusable."""
        return read_callback(form, self._mypos_key)

    # ----------------------------------------------------------------------------------------- charges

    def charge_stored_card(self, request: ChargeRequest) -> ChargeResult:
        fields = messages.ia_purchase(self.store, request)
        try:
            return self._charge_result(request, self._call(fields))
        except GatewayUnavailable as error:
            return ChargeResult(ChargeOutcome.UNKNOWN, message=str(error))

    def _charge_result(self, request: ChargeRequest, answer: Document) -> ChargeResult:
        method = _text(answer, "IPCmethod")
        if method.lower() != "ipciapurchase":
            return ChargeResult(ChargeOutcome.UNKNOWN, message=f"myPOS answered with {method!r}, not IPCIAPurchase")
        status, message = _status(answer)
        if status == 0:
            return self._success(request, answer, message)
        code = str(status)
        if status in DECLINE_WORDS:
            message = f"{DECLINE_WORDS[status]} (myPOS status {status}: {message})"
        if status in SOFT_DECLINES:
            return ChargeResult(ChargeOutcome.DECLINED, status_code=code, message=message, decline=DeclineKind.SOFT)
        if status in HARD_DECLINES:
            return ChargeResult(ChargeOutcome.DECLINED, status_code=code, message=message, decline=DeclineKind.HARD)
        if status in CONFIGURATION_ERRORS:
            raise GatewayConfigError(
                f"myPOS refused the charge with status {status} ({message}): check the SID, wallet number, key "
                "index, private key and endpoint in the myPOS settings; nothing was charged")
        if status == DUPLICATE_ORDER:
            message = f"{message}: myPOS already has a payment with OrderID {request.gateway_order_id}"
        return ChargeResult(ChargeOutcome.UNKNOWN, status_code=code, message=message)

    @staticmethod
    def _success(request: ChargeRequest, answer: Document, message: str) -> ChargeResult:
        reference = _text(answer, "IPC_Trnref")
        amount = _text(answer, "Amount")
        if amount and _money(amount, _text(answer, "Currency")) != request.amount:
            # Signed, but not the charge that was asked for: let the status query settle what happened.
            return ChargeResult(ChargeOutcome.UNKNOWN, transaction_ref=reference, status_code="0",
                                message=f"myPOS confirmed {amount} {_text(answer, 'Currency')}, "
                                        f"not the requested {request.amount}")
        return ChargeResult(ChargeOutcome.SUCCEEDED, transaction_ref=reference, status_code="0", message=message)

    # ----------------------------------------------------------------------------------------- status

    def transaction_status(self, gateway_order_id: str) -> TransactionStatus:
        answer = self._call(messages.txn_status(self.store, gateway_order_id))
        status, message = _status(answer)
        if status in REFUSED_CREDENTIALS:
            raise GatewayConfigError(f"myPOS refused the status query with status {status} ({message}): check the "
                                     "SID, wallet number, key index and private key in the myPOS settings")
        if status != 0:
            raise GatewayUnavailable(f"myPOS answered the status query with status {status} ({message})")
        order = lookup(answer, "OrderStatus")
        # What myPOS answers for an order id it never saw is not documented; the stand-in leaves OrderStatus
        # out (or empty), which is read as "never seen".
        if not order:
            return TransactionStatus(known=False, paid=False, detail="myPOS has no payment for this order id")
        if not isinstance(order, tuple) or not verify_document(order, self._mypos_key):
            raise GatewayUnavailable("the OrderStatus in myPOS's answer is not signed by the myPOS certificate")
        method = _text(order, "IPCmethod")
        amount_text = _text(order, "Amount")
        amount = _money(amount_text, _text(order, "Currency")) if amount_text else None
        return TransactionStatus(
            known=True,
            paid=_is_payment(order),
            transaction_ref=_text(order, "IPC_Trnref"),
            amount=amount,
            detail=f"last event {method}" + (f", status {_text(order, 'Status')}" if _text(order, "Status") else ""),
        )

    # ----------------------------------------------------------------------------------------- settings

    def check_configuration(self) -> str:
        if not self.store.sid:
            raise GatewayConfigError("the SID (store ID) is empty")
        if not self.store.wallet_number.isdigit():
            raise GatewayConfigError("the wallet number must be the digits of the myPOS account number")
        if not self.store.key_index.isdigit():
            raise GatewayConfigError(f"the key index must be a whole number, not {self.store.key_index!r}")
        _check_endpoint(self.endpoint)
        key = self._private_key
        certificate = self._certificate
        expires = certificate.not_valid_after_utc
        expired = " (EXPIRED)" if expires < datetime.now(timezone.utc) else ""
        return (f"myPOS store SID {self.store.sid}, wallet {self.store.wallet_number}, key index "
                f"{self.store.key_index}, RSA-{key.key_size} store key; myPOS certificate "
                f"{certificate.subject.rfc4514_string()} valid until {expires:%Y-%m-%d}{expired}; {self.endpoint}")

    # ----------------------------------------------------------------------------------------- transport

    def _call(self, fields: list[tuple[str, str]]) -> Document:
        """POST a signed server-to-server request; return the answer only if myPOS signed it."""
        body = sign_fields(fields, self._private_key)
        mypos_key = self._mypos_key  # a broken certificate must stop us before anything is charged
        try:
            response = self._http.post(
                self.endpoint, data=body, timeout=(min(5.0, self.timeout), self.timeout),
                # myPOS answers requests without a User-Agent with its "cart with errors" page.
                headers={"User-Agent": f"abonne ({self.store.source})", "Accept": "application/json"},
            )
        except requests.Timeout:
            raise GatewayUnavailable(f"myPOS did not answer within {self.timeout:g} s") from None
        except requests.RequestException as error:
            raise GatewayUnavailable(f"myPOS could not be reached: {type(error).__name__}") from None
        if response.status_code != 200:
            raise GatewayUnavailable(f"myPOS answered HTTP {response.status_code}")
        try:
            answer = parse_json(response.content.decode("utf-8"))
        except (MalformedResponse, UnicodeDecodeError):
            raise GatewayUnavailable("myPOS's answer is not readable JSON") from None
        # Unsigned answers (myPOS may leave the signature off error answers) are not trusted for anything:
        # an unsigned "error" could hide a charge that went through.
        if not verify_document(answer, mypos_key):
            raise GatewayUnavailable("myPOS's answer is unsigned or its signature does not match the certificate")
        return answer


def _text(document: Document, name: str) -> str:
    value = lookup(document, name)
    return value if isinstance(value, str) else ""


def _status(answer: Document) -> tuple[int, str]:
    text = _text(answer, "Status")
    try:
        return int(text), _text(answer, "StatusMsg")
    except ValueError:
        raise GatewayUnavailable(f"myPOS's answer has no readable Status ({text!r})") from None


def _money(amount: str, currency: str) -> Money:
    try:
        return Money.parse(amount, currency)
    except MoneyError as error:
        raise GatewayUnavailable(f"myPOS's answer has an unreadable amount: {error}") from None


def _is_payment(order: Document) -> bool:
    """OrderStatus holds the last signed message about the order: a Notify for a hosted payment, or (in the
    stand-in) a copy of the IPCIAPurchase answer for a stored-card charge, paid only if its Status is 0."""
    method = _text(order, "IPCmethod").lower()
    if method == "ipcpurchasenotify":
        return True
    return method == "ipciapurchase" and _text(order, "Status") == "0"


def _check_endpoint(endpoint: str) -> None:
    parts = urlsplit(endpoint)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise GatewayConfigError(f"the endpoint must be an https URL such as {TEST_ENDPOINT}, not {endpoint!r}")
    if parts.hostname and parts.hostname.endswith("mypos.eu"):
        raise GatewayConfigError(f"{endpoint} is the legacy mypos.eu address: use {PRODUCTION_ENDPOINT} or "
                                 f"{TEST_ENDPOINT}")
