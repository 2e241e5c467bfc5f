"""A seeded mix of forged, malformed, oversized and replayed requests against abonne's public endpoints, and the
client that sends them with keep-alive sessions on a few threads, counting answers by kind and status."""
from __future__ import annotations

import base64
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator
from urllib.parse import urlencode

import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.module_events import SIGNATURE, TIMESTAMP, signed_headers
from adapters.mypos.signing import sign_fields
from adapters.woocommerce.webhook import signature as woo_signature
from bridge.config import MAX_BODY_BYTES


@dataclass(frozen=True)
class Probe:
    kind: str  # what is wrong with it, for the per-kind counts
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | Callable[[], bytes | Iterator[bytes]] = b""  # callable: built when sent (an iterator: chunked)
    replay_of: str = ""  # the original delivery a faithful replay repeats


@dataclass
class Original:
    """A valid delivery sent once before the run; replays of it must be answered as duplicates."""
    name: str
    path: str
    headers: dict[str, str]
    body: bytes
    platform: str
    secret: str


@dataclass
class Targets:
    woo_shop: int
    prestashop_shop: int
    opencart_shop: int
    originals: list[Original]
    mypos_key: rsa.RSAPrivateKey  # the key of the certificate abonne holds as myPOS's
    stranger_key: rsa.RSAPrivateKey  # anyone else's
    now: int  # abonne's clock, Unix seconds
    pay_link: str  # a link abonne signed, for a checkout that does not exist


@dataclass
class Figures:
    requests: int = 0
    seconds: float = 0.0
    by_status: Counter = field(default_factory=Counter)
    by_kind: dict[str, Counter] = field(default_factory=dict)
    replays_sent: Counter = field(default_factory=Counter)  # original name -> faithful replays sent
    replays: Counter = field(default_factory=Counter)  # original name -> faithful replays answered "duplicate"
    duplicates: int = 0  # every answer "duplicate", faithful replay or not (a valid delivery with junk around it)
    errors: list[str] = field(default_factory=list)  # 5xx and transport failures, described
    busy_by_kind: Counter = field(default_factory=Counter)  # seconds spent waiting for answers, per kind

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def text(self) -> str:
        lines = [f"requests: {self.requests} in {self.seconds:.1f} s ({self.rate:.0f} requests/s)",
                 "by status: " + ", ".join(f"{status}: {count}" for status, count in sorted(self.by_status.items())),
                 "by kind:"]
        lines += [f"  {kind}: " + ", ".join(f"{status}: {count}" for status, count in sorted(counts.items()))
                  + f" ({1000 * self.busy_by_kind[kind] / sum(counts.values()):.1f} ms each)"
                  for kind, counts in sorted(self.by_kind.items())]
        lines.append(f"answered as duplicates: {self.duplicates}; faithful replays among them: " + ", ".join(
            f"{name}: {self.replays[name]} of {sent}" for name, sent in sorted(self.replays_sent.items())))
        return "\n".join(lines)


def _junk(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def _one_byte_changed(rng: random.Random, data: bytes) -> bytes:
    index = rng.randrange(len(data))
    return data[:index] + bytes([(data[index] + rng.randrange(1, 256)) % 256]) + data[index + 1:]


def _header_changed(rng: random.Random, value: str) -> str:
    """`value` with one character changed to another printable one (a header can carry no other)."""
    index = rng.randrange(len(value))
    return value[:index] + rng.choice([c for c in "0123456789abcdefABCDEF=+/" if c != value[index]]) + value[index + 1:]


def _sign_woo(secret: str, body: bytes, topic: str = "order.created") -> dict[str, str]:
    return {"Content-Type": "application/json", "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Event": "created", "X-WC-Webhook-Signature": woo_signature(secret, body)}


def _resign(original: Original, body: bytes, stamp: int) -> dict[str, str]:
    if original.platform == "woocommerce":
        return _sign_woo(original.secret, body, original.headers.get("X-WC-Webhook-Topic", "order.created"))
    return signed_headers(original.secret, stamp, body, f"evt-{stamp}")


def _forged_signature(rng: random.Random, original: Original) -> dict[str, str]:
    headers = dict(original.headers)
    if original.platform == "woocommerce":
        headers["X-WC-Webhook-Signature"] = rng.choice([
            base64.b64encode(_junk(rng, 32)).decode(), "", "sha256=" + "0" * 64,
            base64.b64encode(_one_byte_changed(rng, base64.b64decode(headers["X-WC-Webhook-Signature"]))).decode()])
    else:
        headers[SIGNATURE] = rng.choice([
            "v1=" + _junk(rng, 32).hex(), "v1=", "v2=" + "0" * 64, "v1=" + "0" * 64 + "," * 50,
            _header_changed(rng, headers[SIGNATURE]), "x" * 8000])
    return headers


UNREADABLE_BODIES = [b"", b"{", b"[]", b'"order"', b"null", b"1e400", b'{"id": "7"}', b'{"id": 1.5}',
                     b'{"event": "order.created"}', b'{"event": "order.created", "order": []}', b"\xff\xfe\x00",
                     b"[" * 50_000 + b"]" * 50_000, b'{"event": "ping", "order": ' + b"[" * 20_000 + b"]" * 20_000
                     + b"}", b'{"event":"order.created","order":{"id":"9","currency":"EUR","totals":"x"}}']


def probes(targets: Targets, count: int, seed: int) -> Iterator[Probe]:
    """`count` bad requests, reproducible from `seed`."""
    rng = random.Random(seed)
    makers = [maker for _, maker in _MAKERS]
    weights = [weight for weight, _ in _MAKERS]
    for _ in range(count):
        yield rng.choices(makers, weights)[0](rng, targets)


def _original(rng: random.Random, targets: Targets, platform: str | None = None) -> Original:
    choices = [o for o in targets.originals if o.platform != "ping" and (platform is None or o.platform == platform)]
    return rng.choice(choices)


def _forged(rng: random.Random, t: Targets) -> Probe:
    original = _original(rng, t)
    return Probe("forged signature", "POST", original.path, _forged_signature(rng, original), original.body)


def _body_changed(rng: random.Random, t: Targets) -> Probe:
    original = _original(rng, t)
    return Probe("body changed, signature kept", "POST", original.path, dict(original.headers),
                 _one_byte_changed(rng, original.body))


def _truncated(rng: random.Random, t: Targets) -> Probe:
    original = _original(rng, t)
    body = original.body[:rng.randrange(len(original.body))]
    if rng.random() < 0.5:  # signed over the whole body: the signature fails
        return Probe("truncated JSON", "POST", original.path, dict(original.headers), body)
    return Probe("truncated JSON, signed", "POST", original.path, _resign(original, body, t.now), body)


def _signed_unreadable(rng: random.Random, t: Targets) -> Probe:
    original = _original(rng, t)
    body = rng.choice(UNREADABLE_BODIES)
    return Probe("signed but unreadable", "POST", original.path, _resign(original, body, t.now), body)


def _stale(rng: random.Random, t: Targets) -> Probe:
    original = _original(rng, t, rng.choice(["prestashop", "opencart"]))
    stamp = t.now + rng.choice([-1, 1]) * rng.randrange(301, 10**7)
    return Probe("signed outside the 5-minute window", "POST", original.path, _resign(original, original.body, stamp),
                 original.body)


def _oversized(rng: random.Random, t: Targets) -> Probe:
    original = _original(rng, t)
    size = MAX_BODY_BYTES + rng.randrange(1, 64 * 1024)
    if rng.random() < 0.5:  # built when sent: ten thousand planned probes must not hold their bodies
        return Probe("oversized", "POST", original.path, dict(original.headers), lambda: b"{" + b" " * size + b"}")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while reading
        sent = 0
        while sent < size:
            yield b" " * 65536
            sent += 65536
    return Probe("oversized, chunked", "POST", original.path, dict(original.headers), chunks)


def _content_type(rng: random.Random, t: Targets) -> Probe:
    original = _original(rng, t)
    headers = _forged_signature(rng, original)
    headers["Content-Type"] = rng.choice(["application/x-www-form-urlencoded", "text/plain", "multipart/form-data",
                                          "multipart/form-data; boundary=x", "application/json; charset=utf-16",
                                          "application/xml", "", "*/*;;;"])
    body = rng.choice([original.body, b"a=1&b=2", b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--",
                       original.body.decode().encode("utf-16")])
    return Probe("wrong content type", "POST", original.path, headers, body)


def _replay(rng: random.Random, t: Targets) -> Probe:
    original = rng.choice(t.originals)
    return Probe("replay of a valid delivery", "POST", original.path, dict(original.headers), original.body,
                 replay_of=original.name)


def _ping(rng: random.Random, t: Targets) -> Probe:
    body = f"webhook_id={rng.randrange(1, 10**6)}".encode()
    return Probe("unsigned WooCommerce ping", "POST", f"/webhooks/woocommerce/{t.woo_shop}",
                 {"Content-Type": "application/x-www-form-urlencoded"}, body)


def _method(rng: random.Random, t: Targets) -> Probe:
    original = _original(rng, t)
    path = rng.choice([original.path, "/gateway/mypos/notify"])
    return Probe("wrong method", rng.choice(["GET", "PUT", "DELETE", "PATCH", "HEAD"]), path,
                 dict(original.headers), original.body if rng.random() < 0.5 else b"")


def _path(rng: random.Random, t: Targets) -> Probe:
    original = _original(rng, t)
    path = rng.choice([
        f"/webhooks/woocommerce/{rng.randrange(1000, 10**9)}", f"/webhooks/prestashop/{t.woo_shop}",
        f"/webhooks/opencart/{t.prestashop_shop}", f"/webhooks/woocommerce/-{t.woo_shop}",
        f"/webhooks/woocommerce/{t.woo_shop}/extra", "/webhooks/", "/webhooks", f"/webhooks/{rng.randbytes(6).hex()}",
        f"/webhooks/woocommerce/{'9' * 400}", f"/webhooks/%00/{t.woo_shop}", f"/webhooks/woocommerce/{t.woo_shop}%2F..",
        f"/webhooks/woocommerce/{t.woo_shop}?" + "a=" * 2000, "/webhooks/" + "x/" * 500,
        f"/webhooks/..%2F..%2Fadmin/{t.woo_shop}", f"/webhooks/WOOCOMMERCE/{t.woo_shop}"])
    return Probe("path under /webhooks", "POST", path, dict(original.headers), original.body)


def _notify_form(rng: random.Random, order_id: str) -> list[tuple[str, str]]:
    return [("IPCmethod", rng.choice(["IPCPurchaseNotify", "IPCPurchaseRollback", "IPCPurchaseCancel"])),
            ("SID", "000000000000010"), ("Amount", rng.choice(["19.90", "-1", "1e400", "NaN", ""])),
            ("Currency", rng.choice(["EUR", "XXX", ""])), ("OrderID", order_id),
            ("IPC_Trnref", str(rng.randrange(10**8))), ("CardToken", "A1B2C3"), ("PAN", "0007")]


def _encode_form(fields: list[tuple[str, str]]) -> bytes:
    return urlencode(fields).encode()


def _mypos(rng: random.Random, t: Targets) -> Probe:
    path = rng.choice(["/gateway/mypos/notify", "/gateway/mypos/cancel", "/gateway/mypos/ok"])
    form = _notify_form(rng, f"abn-unknown-{rng.randrange(10**6)}")
    choice = rng.randrange(6)
    if choice == 0:
        fields, kind = form, "myPOS callback, unsigned"
    elif choice == 1:
        fields, kind = list(sign_fields(form, t.stranger_key)), "myPOS callback, signed by a stranger"
    elif choice == 2:
        fields = list(sign_fields(form, t.mypos_key))
        index = rng.randrange(len(fields) - 1)
        fields[index] = (fields[index][0], fields[index][1] + "0")
        kind = "myPOS callback, value changed after signing"
    elif choice == 3:  # signed by myPOS's key, about an order abonne never made: refused, nothing written
        signed = list(sign_fields([field for field in form if field[0] != "IPCmethod"]
                                  + [("IPCmethod", "IPCPurchaseNotify")], t.mypos_key))
        fields, kind = signed, "myPOS notify for an unknown order, signed"
    else:
        body = rng.choice([b"", b"=", b"&&&", b"%zz=1", b"Signature", _junk(rng, 200), b'{"IPCmethod": "x"}',
                           b"a=" + b"b" * 100_000])
        return Probe("myPOS callback, malformed", "POST", path,
                     {"Content-Type": rng.choice(["application/x-www-form-urlencoded", "application/json"])}, body)
    return Probe(kind, "POST", path, {"Content-Type": "application/x-www-form-urlencoded"}, _encode_form(fields))


def _link(rng: random.Random, t: Targets) -> Probe:
    token = rng.choice([t.pay_link, t.pay_link[:-1] + ("A" if t.pay_link[-1] != "A" else "B"),
                        t.pay_link[: len(t.pay_link) // 2], base64.urlsafe_b64encode(_junk(rng, 60)).decode(),
                        "x" * 3000, "..%2F..%2Fadmin", "%00"])
    return Probe("pay or card link, forged or unknown", "GET", f"/{rng.choice(['pay', 'card'])}/{token}", {})


def _huge_header(rng: random.Random, t: Targets) -> Probe:
    original = _original(rng, t)
    headers = dict(original.headers)
    name = rng.choice(["X-WC-Webhook-Signature", SIGNATURE, TIMESTAMP, "X-Junk"])
    headers[name] = "A" * rng.choice([10_000, 100_000])
    return Probe("huge header", "POST", original.path, headers, original.body)


_MAKERS = [  # (weight, maker)
    (14, _forged), (8, _body_changed), (8, _truncated), (8, _signed_unreadable), (5, _stale), (2, _oversized),
    (6, _content_type), (12, _replay), (4, _ping), (5, _method), (8, _path), (12, _mypos), (6, _link),
    (2, _huge_header),
]


def send_all(base_url: str, planned: Iterator[Probe], threads: int = 4, timeout: float = 30) -> Figures:
    """Send every probe over keep-alive sessions (one per thread) and count the answers."""
    figures = Figures()
    lock = threading.Lock()
    local = threading.local()

    def send(probe: Probe) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        body = probe.body() if callable(probe.body) else probe.body
        began = time.perf_counter()
        try:
            answer = session.request(probe.method, base_url + probe.path, headers=probe.headers, data=body,
                                     timeout=timeout, allow_redirects=False)
            status, text = answer.status_code, answer.text[:200]
        except (requests.ConnectionError, requests.Timeout) as error:  # the server may close at once after a 413
            status, text = 0, f"connection: {type(error).__name__}"
            session.close()
            local.session = None
        with lock:
            figures.busy_by_kind[probe.kind] += time.perf_counter() - began
            figures.requests += 1
            figures.by_status[status] += 1
            figures.by_kind.setdefault(probe.kind, Counter())[status] += 1
            figures.duplicates += status == 200 and '"duplicate"' in text
            if probe.replay_of:
                figures.replays_sent[probe.replay_of] += 1
                figures.replays[probe.replay_of] += status == 200 and '"duplicate"' in text
            if status >= 500 or status == 0:
                figures.errors.append(f"{probe.kind}: {probe.method} {probe.path[:80]} -> {status} {text[:120]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(send, planned):
            pass
    figures.seconds = time.perf_counter() - started
    return figures
