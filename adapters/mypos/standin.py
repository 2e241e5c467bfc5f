"""A stand-in for myPOS Checkout: a real HTTP server that speaks IPC to the bridge under test.

It signs with a key pair of its own (myPOS's private key is not public); configure the bridge with
`standin.certificate_pem` instead of the real myPOS certificate. It knows merchants by SID, wallet and key index
and verifies their requests with their public key; by default the published myPOS test store.

Methods: IPCPurchase (hosted payment page, pay and/or store a card), IPCIAPurchase with CardToken, IPCGetTxnStatus.
Requests are validated in the order of the myPOS specification: unknown IPCmethod 10, missing field 1, unknown SID
4, unknown key index 3, bad signature 2, SID and wallet do not match 4, bad parameters 5 (amounts 9), OrderID
already paid 20. Unlike myPOS it accepts an http:// URL_Notify (myPOS requires https).

Outcomes, chosen by the stand-in (the real test environment approves every card):
- hosted page: cards 67032000000000001 and 4877000000000002 are declined (the iCard test cards' behaviour), an
  expiry before the current month is refused, a number failing the Luhn check is refused; no Notify is sent.
- IPCIAPurchase, checked in this order: OrderID already paid -> 20; unknown token (or another store's) -> 14;
  card expired (ExpDate before the clock's month) -> 22; then by the amount's last two minor-unit digits:
  ..13 -> 13 insufficient funds, ..15 -> 15 limit exceeded, ..19 -> 19 account limits, ..21 -> 21 declined;
  anything else succeeds.
- A store-only payment (CardTokenRequest=1) carries no Amount, so its Notify carries none either (what real
  myPOS sends there is undocumented).
- IPCGetTxnStatus answers with OrderStatus = a copy of the last signed message about the order: the Notify,
  Rollback or Cancel of a hosted payment, or the signed IPCIAPurchase answer (success or decline) of a stored-card
  charge. For an order id it never saw it answers Status 0 without OrderStatus; real myPOS's answer there is
  undocumented.

Faults for the next server-to-server call (`inject(kind, times, method)`), see FAULT_KINDS. `latency_s` adds
a processing time to every server-to-server call (IPCIAPurchase, IPCGetTxnStatus) before it is handled, as a
distant gateway has; `calls` lists the server-to-server calls received, in order, before any fault or latency.
"""
from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Sequence
from urllib.parse import parse_qsl, urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask, Response, render_template_string, request

from adapters.mypos.signing import (
    Document, document_values, load_public_key, sign, sign_fields, to_json, to_xml, verify_form,
)
from adapters.mypos.standin_customer import customer_cancels, customer_pays, read_form, submit_auto_form
from bridge.domain.money import Money, MoneyError
from bridge.serving import RunningServer, serve_in_thread

__all__ = ["MyPosStandin", "Transaction", "Delivery", "customer_pays", "customer_cancels", "submit_auto_form",
           "read_form", "FAULT_KINDS", "DECLINED_CARDS", "TEST_SID", "TEST_WALLET", "TEST_KEY_INDEX"]

TEST_SID = "000000000000010"
TEST_WALLET = "61938166610"
TEST_KEY_INDEX = "1"
# Public half of the myPOS test store's published private key (spec Appendix II).
TEST_MERCHANT_PUBLIC_KEY_PEM = """-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCf0TdcTuphb7X+Zwekt1XKEWZD
czSGecfo6vQfqvraf5VPzcnJ2Mc5J72HBm0u98EJHan+nle2WOZMVGItTa/2k1FR
Wwbt7iQ5dzDh5PEeZASg2UWehoR8L8MpNBqH6h7ZITwVTfRS4LsBvlEfT7Pzhm5Y
JKfM+CdzDM+L9WVEGwIDAQAB
-----END PUBLIC KEY-----
"""

DECLINED_CARDS = frozenset({"67032000000000001", "4877000000000002"})
AMOUNT_DECLINES = {13: 13, 15: 15, 19: 19, 21: 21}

FAULT_KINDS = {
    "timeout_before_charge": "hang past the client's timeout without charging",
    "timeout_after_charge": "charge, then hang past the client's timeout",
    "http_500": "answer HTTP 500 without charging",
    "http_500_after_charge": "charge, then answer HTTP 500",
    "garbled": "charge, then answer with the first half of the JSON/XML",
    "unsigned": "charge, then answer without Signature",
    "bad_signature": "charge, then answer with a value changed after signing",
    "duplicate_order_id": "charge, then answer Status 20 as if an earlier payment had used this OrderID",
}

STATUS_MESSAGES = {
    0: "Success", 1: "Missing required parameters", 2: "Signature failed", 3: "Invalid key index",
    4: "Invalid SID", 5: "Invalid parameters", 9: "Wrong amount", 10: "Unsupported call",
    13: "Not sufficient funds", 14: "Transaction not permitted", 15: "Exceeded limit",
    19: "Exceeded account limits", 20: "Duplicate transmission: there was already a payment with this Order ID",
    21: "Transaction declined", 22: "Wrong expire date",
}

STANDARD = ("IPCmethod", "IPCVersion", "IPCLanguage", "SID", "WalletNumber", "KeyIndex")
REQUIRED = {
    "IPCPurchase": STANDARD + ("Currency", "OrderID", "URL_OK", "URL_Cancel", "URL_Notify", "CardTokenRequest",
                               "PaymentParametersRequired"),
    "IPCIAPurchase": STANDARD + ("OrderID", "Amount", "Currency", "CardToken", "CartItems"),
    "IPCGetTxnStatus": STANDARD + ("OrderID",),
}


@dataclass
class Transaction:
    """One row of the stand-in's ledger: what a test checks to know whether money moved."""

    order_id: str
    method: str  # IPCPurchase | IPCIAPurchase
    amount: str | None  # as on the wire ("19.90"); None for a store-only payment
    currency: str
    trnref: str
    token: str
    status: str  # paid | stored | reversed | declined
    status_code: int = 0


@dataclass(frozen=True)
class Delivery:
    """A callback the stand-in posted to URL_Notify, with what the shop side answered."""

    url: str
    method: str
    fields: tuple[tuple[str, str], ...]
    http_status: int | None
    body: str


class StandinError(Exception):
    def __init__(self, code: int, detail: str = ""):
        super().__init__(detail or STATUS_MESSAGES.get(code, "Error"))
        self.code = code


@dataclass
class _Merchant:
    sid: str
    wallet: str
    keys: dict[str, rsa.RSAPublicKey]


@dataclass
class _Card:
    pan: str
    exp_yymm: str
    card_type: str
    sid: str


@dataclass
class _Session:
    merchant: _Merchant
    fields: dict[str, str]
    closed: bool = False


@dataclass
class _Order:
    status: Document  # the last signed message about the order, as GetTxnStatus returns it
    paid: bool


@dataclass
class _Fault:
    kind: str
    method: str
    remaining: int


class _Fields:
    """A received form, in wire order, with case-insensitive lookup (myPOS's own examples mix cases)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]):
        self.pairs = list(pairs)
        self._values = {name.lower(): value for name, value in pairs}

    def get(self, name: str, default: str = "") -> str:
        return self._values.get(name.lower(), default)

    def has(self, name: str) -> bool:
        return name.lower() in self._values


class MyPosStandin:
    def __init__(self, clock: Callable[[], datetime], notify_timeout: float, hang_seconds: float):
        self._clock = clock
        self._notify_timeout = notify_timeout
        self._hang_seconds = hang_seconds
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.certificate_pem = _self_signed_certificate(self._private_key, clock())
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self._merchants: dict[str, _Merchant] = {}
        self._cards: dict[str, _Card] = {}
        self._sessions: dict[str, _Session] = {}
        self._orders: dict[tuple[str, str], _Order] = {}
        self._ledger: list[Transaction] = []
        self._deliveries: list[Delivery] = []
        self._faults: list[_Fault] = []
        # myPOS never hands out a transaction reference twice; a stand-in restarted for every test must not either,
        # or a shop that keeps the orders of earlier runs would hold renewal orders naming "this" transaction.
        self._trnrefs = itertools.count(10**9 + secrets.randbelow(10**9) * 1000 + 1)
        self._stans = itertools.count(1)
        self._server: RunningServer | None = None
        self._calls: list[tuple[str, str]] = []
        self.latency_s = 0.0  # added before each server-to-server call is handled (benchmarks: a distant gateway)

    @classmethod
    def start(cls, merchant_public_key_pem: str = TEST_MERCHANT_PUBLIC_KEY_PEM, sid: str = TEST_SID,
              wallet: str = TEST_WALLET, key_index: str | int = TEST_KEY_INDEX,
              clock: Callable[[], datetime] | None = None, notify_timeout: float = 5.0,
              hang_seconds: float = 10.0, threads: int = 8) -> MyPosStandin:
        """Generate the stand-in's key and certificate, register one merchant and serve on a free local port.

        `threads` bounds the calls handled at once (with `latency_s`, each call holds a thread that long)."""
        standin = cls(clock or (lambda: datetime.now(timezone.utc)), notify_timeout, hang_seconds)
        standin.add_merchant(sid=sid, wallet=wallet, key_index=key_index, public_key_pem=merchant_public_key_pem)
        standin._server = serve_in_thread(standin._app(), threads=threads)
        return standin

    @property
    def url(self) -> str:
        assert self._server is not None, "the stand-in is not started"
        return self._server.url

    @property
    def endpoint(self) -> str:
        return f"{self.url}/vmp/checkout-test"

    @property
    def ledger(self) -> list[Transaction]:
        with self._lock:
            return list(self._ledger)

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(IPCmethod, OrderID) of every authenticated server-to-server call received, in order of arrival."""
        with self._lock:
            return list(self._calls)

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def stop(self) -> None:
        """Stop serving. Requests held by a timeout fault are released first, so none is cut off mid-answer."""
        self._stopping.set()
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=5)
        if self._server is not None:
            self._server.stop()

    def add_merchant(self, *, sid: str, wallet: str, key_index: str | int, public_key_pem: str) -> None:
        key = load_public_key(public_key_pem)
        with self._lock:
            merchant = self._merchants.setdefault(sid, _Merchant(sid=sid, wallet=wallet, keys={}))
            merchant.keys[str(key_index)] = key

    def register_card(self, pan: str, exp_yymm: str, sid: str = TEST_SID) -> str:
        """Store a card as if a hosted payment had tokenised it; returns the token. For arranging tests."""
        token = secrets.token_hex(20).upper()
        with self._lock:
            self._cards[token] = _Card(pan=pan, exp_yymm=exp_yymm, card_type=_card_type(pan), sid=sid)
        return token

    def inject(self, kind: str, times: int = 1, method: str = "IPCIAPurchase") -> None:
        """Make the next `times` server-to-server calls of `method` misbehave as FAULT_KINDS[kind] says."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._faults.append(_Fault(kind=kind, method=method, remaining=times))

    # ----------------------------------------------------------------------------------------- HTTP

    def _app(self) -> Flask:
        app = Flask("mypos-standin")
        app.before_request(self._enter)
        app.teardown_request(self._leave)
        for path in ("/vmp/checkout-test", "/vmp/checkout"):
            app.add_url_rule(path, path, self._checkout, methods=["POST"], strict_slashes=False)
            app.add_url_rule(f"{path}/session/<session_id>", f"{path}-session", self._session_page,
                             methods=["GET", "POST"])
        return app

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1

    def _leave(self, _error: BaseException | None) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def _checkout(self) -> Response:
        form = _Fields(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))
        method = form.get("IPCmethod")
        canonical = next((name for name in REQUIRED if name.lower() == method.lower()), "")
        if canonical == "IPCPurchase":
            return self._purchase(form)
        output = form.get("OutputFormat", "xml").lower()
        output = output if output in ("xml", "json") else "xml"
        try:
            merchant = self._authenticate(canonical, form)
            with self._lock:
                self._calls.append((canonical, form.get("OrderID")))
            if self.latency_s > 0:
                self._stopping.wait(self.latency_s)
            if canonical == "IPCIAPurchase":
                return self._ia_purchase(merchant, form, output)
            return self._txn_status(merchant, form, output)
        except StandinError as error:
            return self._answer(self._signed([("IPCmethod", method)] + list(_status(error.code))), output)

    def _authenticate(self, method: str, form: _Fields) -> _Merchant:
        if not method:
            raise StandinError(10)
        required = REQUIRED[method]
        if method == "IPCPurchase" and form.get("CardTokenRequest") != "1":
            required += ("Amount", "CartItems")
        missing = [name for name in required if not form.has(name)]
        if missing or not any(name.lower() == "signature" for name, _ in form.pairs):
            raise StandinError(1, f"missing {', '.join(missing) or 'Signature'}")
        with self._lock:
            merchant = self._merchants.get(form.get("SID"))
        if merchant is None:
            raise StandinError(4)
        key = merchant.keys.get(form.get("KeyIndex"))
        if key is None:
            raise StandinError(3)
        # Verified exactly as received: no HTML-decoding, no reordering.
        if not verify_form(form.pairs, key):
            raise StandinError(2)
        if form.get("WalletNumber") != merchant.wallet:
            raise StandinError(4, "SID and WalletNumber do not belong together")
        return merchant

    def _answer(self, document: Document, output: str, status: int = 200) -> Response:
        if output == "json":
            return Response(to_json(document, plain_numbers=("Status",)), status, mimetype="application/json")
        return Response(to_xml(document), status, mimetype="application/xml")

    def _signed(self, fields: Sequence[tuple[str, str]]) -> Document:
        return sign_fields(fields, self._private_key)

    # ----------------------------------------------------------------------------------------- IPCPurchase

    def _purchase(self, form: _Fields) -> Response:
        try:
            merchant = self._authenticate("IPCPurchase", form)
            _check_purchase(form)
            with self._lock:
                self._refuse_paid(merchant, form.get("OrderID"))
                session_id = secrets.token_urlsafe(16)
                self._sessions[session_id] = _Session(merchant=merchant, fields=dict(_lower(form.pairs)))
        except StandinError as error:
            return _page(CART_ERROR_PAGE, error=error)
        return _page(PAYMENT_PAGE, session=self._sessions[session_id].fields,
                     action=f"{request.path.rstrip('/')}/session/{session_id}", message="")

    def _session_page(self, session_id: str) -> Response:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None or session.closed:
            return _page(MESSAGE_PAGE, title="Session expired", text="This payment session is over.", status=404)
        if request.method == "GET":
            return _page(PAYMENT_PAGE, session=session.fields, action=request.path, message="")
        if request.form.get("action") == "cancel":
            return self._cancel(session)
        return self._pay(session)

    def _cancel(self, session: _Session) -> Response:
        fields = session.fields
        cancel = self._signed([("IPCmethod", "IPCPurchaseCancel"), ("SID", session.merchant.sid)]
                              + _amount_fields(fields) + [("OrderID", fields["orderid"])])
        with self._lock:
            session.closed = True
            key = (session.merchant.sid, fields["orderid"])
            if not (key in self._orders and self._orders[key].paid):
                self._orders[key] = _Order(status=cancel, paid=False)
        return _page(AUTO_FORM_PAGE, action=fields["url_cancel"], fields=cancel)

    def _pay(self, session: _Session) -> Response:
        fields = session.fields
        pan = "".join(request.form.get("card_number", "").split())
        exp_yymm = _expiry(request.form.get("expiry", ""))
        problem = _card_problem(pan, exp_yymm, request.form.get("cvc", ""), self._clock())
        if problem:
            return _page(PAYMENT_PAGE, session=fields, action=request.path, message=problem)
        if pan in DECLINED_CARDS:
            self._record(Transaction(fields["orderid"], "IPCPurchase", fields.get("amount"), fields["currency"],
                                     "", "", "declined", 21))
            return _page(PAYMENT_PAGE, session=fields, action=request.path,
                         message="Payment declined by the card issuer. Try another card.")
        with self._lock:
            try:
                self._refuse_paid(session.merchant, fields["orderid"])
            except StandinError as error:
                return _page(CART_ERROR_PAGE, error=error)
            session.closed = True
            trnref = str(next(self._trnrefs))
            stan = f"{next(self._stans) % 1_000_000:06d}"
        token = secrets.token_hex(20).upper() if fields["cardtokenrequest"] in ("1", "2") else ""
        notify = [("IPCmethod", "IPCPurchaseNotify"), ("SID", session.merchant.sid)] + _amount_fields(fields) + [
            ("OrderID", fields["orderid"]), ("IPC_Trnref", trnref), ("RequestSTAN", stan),
            ("RequestDateTime", self._clock().astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")),
        ]
        if token:
            notify += [("CardToken", token), ("PAN", pan[-4:]), ("ExpDate", exp_yymm), ("CardType", _card_type(pan))]
        if fields["paymentparametersrequired"] in ("1", "2"):
            notify += [(name, fields.get(name.lower(), "")) for name in
                       ("CustomerEmail", "CustomerPhone", "CustomerFirstNames", "CustomerFamilyName")]
        signed_notify = self._signed(notify)
        stored_only = fields["cardtokenrequest"] == "1"
        if self._deliver(fields["url_notify"], signed_notify):
            with self._lock:
                self._orders[(session.merchant.sid, fields["orderid"])] = _Order(status=signed_notify, paid=True)
                if token:
                    self._cards[token] = _Card(pan, exp_yymm, _card_type(pan), session.merchant.sid)
                self._ledger.append(Transaction(fields["orderid"], "IPCPurchase", fields.get("amount"),
                                                fields["currency"], trnref, token,
                                                "stored" if stored_only else "paid"))
            ok = self._signed([("IPCmethod", "IPCPurchaseOK")] + list(signed_notify[1:-1]))
            return _page(AUTO_FORM_PAGE, action=fields["url_ok"], fields=ok)
        # The shop did not confirm with exactly "OK": myPOS reverses the authorization and tells URL_Notify.
        rollback = self._signed([("IPCmethod", "IPCPurchaseRollback"), ("SID", session.merchant.sid)]
                                + _amount_fields(fields) + [("OrderID", fields["orderid"])])
        with self._lock:
            self._orders[(session.merchant.sid, fields["orderid"])] = _Order(status=rollback, paid=False)
            self._ledger.append(Transaction(fields["orderid"], "IPCPurchase", fields.get("amount"),
                                            fields["currency"], trnref, token, "reversed"))
        self._deliver(fields["url_notify"], rollback)
        return _page(MESSAGE_PAGE, title="Payment not completed",
                     text="The shop did not confirm the payment; it has been reversed and you were not charged.")

    def _deliver(self, url: str, fields: Document) -> bool:
        """POST a callback; True only for HTTP 200 with a body of exactly "OK" (no whitespace, no markup)."""
        try:
            response = requests.post(url, data=list(fields), timeout=self._notify_timeout,
                                     headers={"User-Agent": "myPOS stand-in"})
            status, body = response.status_code, response.content
        except requests.RequestException as error:
            status, body = None, type(error).__name__.encode()
        with self._lock:
            self._deliveries.append(Delivery(url=url, method=fields[0][1], fields=fields, http_status=status,
                                             body=body.decode("utf-8", "replace")))
        return status == 200 and body == b"OK"

    # ----------------------------------------------------------------------------------------- server to server

    def _ia_purchase(self, merchant: _Merchant, form: _Fields, output: str) -> Response:
        amount = _check_cart(form, _parse_money(form.get("Amount"), form.get("Currency")))
        fault = self._take_fault("IPCIAPurchase")
        if fault in ("timeout_before_charge", "http_500"):
            return self._misbehave(fault, None, output)
        order_id, token = form.get("OrderID"), form.get("CardToken")
        with self._lock:
            self._refuse_paid(merchant, order_id)
            code = self._ia_outcome(merchant, token, amount)
            trnref = str(next(self._trnrefs)) if code == 0 else ""
            if code == 0:
                answer = self._signed([("IPCmethod", "IPCIAPurchase"), ("IPC_Trnref", trnref),
                                       ("Amount", form.get("Amount")), ("Currency", form.get("Currency"))]
                                      + list(_status(0)))
            else:
                answer = self._signed([("IPCmethod", "IPCIAPurchase")] + list(_status(code)))
            self._orders[(merchant.sid, order_id)] = _Order(status=answer, paid=code == 0)
            self._ledger.append(Transaction(order_id, "IPCIAPurchase", form.get("Amount"), form.get("Currency"),
                                            trnref, token, "paid" if code == 0 else "declined", code))
        if fault == "duplicate_order_id":
            return self._answer(self._signed([("IPCmethod", "IPCIAPurchase")] + list(_status(20))), output)
        if fault:
            return self._misbehave(fault, answer, output)
        return self._answer(answer, output)

    def _ia_outcome(self, merchant: _Merchant, token: str, amount: Money) -> int:
        card = self._cards.get(token)
        if card is None or card.sid != merchant.sid:
            return 14
        now = self._clock()
        if card.exp_yymm < f"{now:%y%m}":
            return 22
        return AMOUNT_DECLINES.get(amount.minor % 100, 0)

    def _txn_status(self, merchant: _Merchant, form: _Fields, output: str) -> Response:
        order_id = form.get("OrderID")
        with self._lock:
            order = self._orders.get((merchant.sid, order_id))
        fields: list[tuple[str, str | Document]] = [("IPCMethod", "IPCGetTxnStatus"), ("OrderID", order_id)]
        if order is not None:
            fields.append(("OrderStatus", order.status))
        answer = self._signed_document(fields + list(_status(0)))
        fault = self._take_fault("IPCGetTxnStatus")
        if fault:
            return self._misbehave(fault, answer, output)
        return self._answer(answer, output)

    def _signed_document(self, document: list[tuple[str, str | Document]]) -> Document:
        """Sign an answer that nests a signed object: the inner Signature is one of the signed values."""
        return tuple(document) + (("Signature", sign(document_values(tuple(document)), self._private_key)),)

    def _refuse_paid(self, merchant: _Merchant, order_id: str) -> None:
        order = self._orders.get((merchant.sid, order_id))
        if order is not None and order.paid:
            raise StandinError(20)

    def _take_fault(self, method: str) -> str | None:
        with self._lock:
            for fault in self._faults:
                if fault.method.lower() == method.lower():
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault.kind
        return None

    def _misbehave(self, fault: str, answer: Document | None, output: str) -> Response:
        if fault.startswith("timeout"):
            # Waits until the client gave up (or the stand-in stops); what is sent afterwards is never read.
            self._stopping.wait(self._hang_seconds)
            return Response("", 504)
        if fault.startswith("http_500") or answer is None:
            return Response("<html><body>Internal Server Error</body></html>", 500, mimetype="text/html")
        if fault == "unsigned":
            return self._answer(answer[:-1], output)
        if fault == "bad_signature":
            tampered = tuple((name, value + " ") if name == "StatusMsg" else (name, value) for name, value in answer)
            return self._answer(tampered, output)
        body = self._answer(answer, output).get_data()
        mimetype = "application/json" if output == "json" else "application/xml"
        return Response(body[: len(body) // 2], 200, mimetype=mimetype)

    def _record(self, transaction: Transaction) -> None:
        with self._lock:
            self._ledger.append(transaction)


# --------------------------------------------------------------------------------------------- validation

def _status(code: int) -> tuple[tuple[str, str], ...]:
    return (("Status", str(code)), ("StatusMsg", STATUS_MESSAGES.get(code, "Error")))


def _lower(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name.lower(), value) for name, value in pairs]


def _amount_fields(fields: dict[str, str]) -> list[tuple[str, str]]:
    amount = [("Amount", fields["amount"])] if fields.get("amount") and fields["cardtokenrequest"] != "1" else []
    return amount + [("Currency", fields["currency"])]


def _check_purchase(form: _Fields) -> None:
    if form.get("CardTokenRequest") not in ("0", "1", "2"):
        raise StandinError(5, "CardTokenRequest must be 0, 1 or 2")
    if form.get("PaymentParametersRequired") not in ("1", "2", "3"):
        raise StandinError(5, "PaymentParametersRequired must be 1, 2 or 3")
    if form.get("PaymentParametersRequired") == "1":
        missing = [name for name in ("CustomerEmail", "CustomerFirstNames", "CustomerFamilyName") if not form.get(name)]
        if missing:
            raise StandinError(1, f"PaymentParametersRequired=1 needs {', '.join(missing)}")
    for name in ("URL_OK", "URL_Cancel", "URL_Notify"):
        if urlsplit(form.get(name)).scheme not in ("http", "https"):
            raise StandinError(5, f"{name} is not an http(s) URL")
    if form.get("CardTokenRequest") != "1":
        _check_cart(form, _parse_money(form.get("Amount"), form.get("Currency")))
    else:
        _parse_money("0", form.get("Currency"))


def _parse_money(amount: str, currency: str) -> Money:
    try:
        Money.zero(currency)
    except MoneyError:
        raise StandinError(5, f"unknown currency {currency!r}") from None
    try:
        money = Money.parse(amount, currency)
    except MoneyError:
        raise StandinError(9, f"{amount!r} is not an amount in {currency}") from None
    if money.minor < 0:
        raise StandinError(9, "negative amount")
    return money


def _check_cart(form: _Fields, amount: Money) -> Money:
    if amount.minor <= 0:
        raise StandinError(9, "the amount must be positive")
    try:
        count = int(form.get("CartItems"))
    except ValueError:
        raise StandinError(5, "CartItems is not a whole number") from None
    if count < 1:
        raise StandinError(5, "the cart is empty")
    total = Money.zero(amount.currency)
    for index in range(1, count + 1):
        if not form.get(f"Article_{index}"):
            raise StandinError(5, f"Article_{index} is missing")
        if form.get(f"Currency_{index}") != amount.currency:
            raise StandinError(5, f"Currency_{index} is not {amount.currency}")
        quantity_text = form.get(f"Quantity_{index}")
        if not quantity_text.isdigit() or int(quantity_text) < 1:
            raise StandinError(5, f"Quantity_{index} must be a positive whole number")
        price = _signed_money(form.get(f"Price_{index}"), amount.currency)
        line = _signed_money(form.get(f"Amount_{index}"), amount.currency)
        if price.times(int(quantity_text)) != line:
            raise StandinError(9, f"Amount_{index} is not Quantity_{index} × Price_{index}")
        total = total + line
    if total != amount:
        raise StandinError(9, f"the cart adds up to {total.amount}, not to Amount {amount.amount}")
    return amount


def _signed_money(text: str, currency: str) -> Money:
    # Discount rows have a negative price.
    try:
        return Money.parse(text, currency)
    except MoneyError:
        raise StandinError(9, f"{text!r} is not an amount") from None


def _expiry(text: str) -> str:
    """"MM/YY" as typed on the page -> "YYMM" as myPOS reports it; "" if unreadable."""
    month, _, year = text.strip().partition("/")
    if not (month.strip().isdigit() and year.strip().isdigit() and 1 <= int(month) <= 12):
        return ""
    return f"{int(year) % 100:02d}{int(month):02d}"


def _card_problem(pan: str, exp_yymm: str, cvc: str, now: datetime) -> str:
    if not (pan.isdigit() and 12 <= len(pan) <= 19 and _luhn(pan)):
        return "The card number is not valid."
    if not exp_yymm:
        return "The expiry date must be MM/YY."
    if exp_yymm < f"{now:%y%m}":
        return "The card has expired."
    if not (cvc.isdigit() and len(cvc) in (3, 4)):
        return "The CVC must be 3 or 4 digits."
    return ""


def _luhn(pan: str) -> bool:
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(pan)):
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _card_type(pan: str) -> str:
    """myPOS CardType by BIN: 1 MasterCard, 2 Maestro, 3 VISA, 6 JCB."""
    if pan.startswith("4"):
        return "3"
    if 51 <= int(pan[:2]) <= 55 or 2221 <= int(pan[:4]) <= 2720:
        return "1"
    if pan.startswith("35"):
        return "6"
    return "2"


def _self_signed_certificate(key: rsa.RSAPrivateKey, now: datetime) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "BG"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "myPOS stand-in")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


# --------------------------------------------------------------------------------------------- pages

def _page(template: str, status: int = 200, **context: object) -> Response:
    return Response(render_template_string(template, **context), status, mimetype="text/html")


PAYMENT_PAGE = """<!doctype html>
<html><head><title>myPOS stand-in: payment</title></head><body>
{% set store_only = session['cardtokenrequest'] == '1' %}
<h1>Pay {% if not store_only %}{{ session['amount'] }} {% endif %}{{ session['currency'] }}</h1>
<p>Order {{ session['orderid'] }}{% if store_only %} (the card is stored, nothing is charged){% endif %}</p>
{% if message %}<p class="error" id="message">{{ message }}</p>{% endif %}
<form method="post" action="{{ action }}" id="payment">
<label>Card number <input name="card_number" autocomplete="cc-number"></label>
<label>Expiry (MM/YY) <input name="expiry" autocomplete="cc-exp"></label>
<label>CVC <input name="cvc" autocomplete="cc-csc"></label>
<button type="submit" name="action" value="pay">Pay</button>
<button type="submit" name="action" value="cancel">Cancel</button>
</form></body></html>"""

AUTO_FORM_PAGE = """<!doctype html>
<html><head><title>myPOS stand-in: returning to the shop</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{{ action }}">
{% for name, value in fields %}<input type="hidden" name="{{ name }}" value="{{ value }}">
{% endfor %}<noscript><button type="submit">Continue</button></noscript>
</form></body></html>"""

CART_ERROR_PAGE = """<!doctype html>
<html><head><title>myPOS stand-in: error</title></head><body>
<h1>The shop has sent a shopping cart with errors in it</h1>
<p>Status <span id="status">{{ error.code }}</span>: {{ error }}</p>
</body></html>"""

MESSAGE_PAGE = """<!doctype html>
<html><head><title>myPOS stand-in: {{ title }}</title></head><body>
<h1>{{ title }}</h1><p id="message">{{ text }}</p>
</body></html>"""
