"""No secret reaches a log line, a page or an error: a whole flow, failures included, with every logger at DEBUG.

Secrets here: the shop's consumer key and secret, its webhook secret, the myPOS private key, the card tokens, the
admin password, the API token, ABONNE_SECRET_KEY and the signed customer links (they pay or replace a card)."""
from __future__ import annotations

import io
import json
import logging
import re
from datetime import datetime, timedelta
from typing import Iterator
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from bridge import logs
from tests.fixture_files import MYPOS
from tests.integration.conftest import CK, CS, Configured
from tests.integration.test_admin_pages import PASSWORD, Owner, set_password
from tests.integration.test_charge_faults import travel, wait_charges
from tests.waiting import wait_for

WEBHOOK_SECRET = "hook-secret-1"  # what the `configured` fixture gives `abonne shop add`
LINK = re.compile(r"/(?:pay|card)/([A-Za-z0-9_.\-]{20,})")
HREF = re.compile(r'href="([^"#]+)"')


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log line of the process, as `abonne serve` writes them, with every logger at DEBUG."""
    stream = io.StringIO()
    root, alembic = logging.getLogger(), logging.getLogger("alembic.runtime.migration")
    levels = root.level, alembic.level
    handler = logs.configure("json", level=logging.DEBUG, stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(levels[0])
    alembic.setLevel(levels[1])


def admin_pages(owner: Owner) -> dict[str, str]:
    """Every page of the config page reachable by following its links (GET only), from the dashboard."""
    seen: dict[str, str] = {}
    queue = ["/admin/"]
    while queue and len(seen) < 80:
        path = queue.pop(0)
        if path in seen:
            continue
        page = owner.get(path)
        seen[path] = page.text
        for link in HREF.findall(page.text):
            target = urlsplit(urljoin(owner.abonne.url + path, link))
            if target.netloc == urlsplit(owner.abonne.url).netloc and target.path.startswith("/admin/") \
                    and "/static/" not in target.path and target.path not in seen:
                queue.append(target.path + (f"?{target.query}" if target.query else ""))
    return seen


def api_answers(url: str, token: str) -> dict[str, str]:
    spec = requests.get(f"{url}/api/v1/openapi.json", timeout=10).json()
    answers = {"openapi": json.dumps(spec)}
    for path, operations in spec["paths"].items():
        if "get" in operations:
            concrete = re.sub(r"\{[^}]+\}", "1", path)
            answers[concrete] = requests.get(f"{url}/api/v1{concrete}" if not concrete.startswith("/api")
                                             else f"{url}{concrete}",
                                             headers={"Authorization": f"Bearer {token}"}, timeout=10).text
    return answers


def test_no_secret_reaches_a_log_line_a_page_or_an_error(log_lines: io.StringIO, configured: Configured):
    abonne, woo, mypos, url = configured.abonne, configured.woo, configured.mypos, configured.abonne.url
    set_password(abonne)
    token = re.search(r"(abn_\S+)", abonne.cli("admin", "create-token", "ops", "--scope", "read").output).group(1)
    bodies: dict[str, str] = {}

    # A customer subscribes; her pay link and card token now exist.
    order_id = woo.place_order(customer={"first_name": "Ana", "last_name": "Petrova", "email": "ana@example.test",
                                         "country": "BG", "address_1": "1 Rakovski", "city": "Sofia",
                                         "postcode": "1000"},
                               lines=[(configured.subscription_product, 1)], payment_method="mypos")
    pay_link = configured.customer_note_link(order_id)
    _, [agreement_id] = configured.subscribe([(configured.subscription_product, 1)])

    # Refused and broken requests: forged, malformed, oversized, unknown, a wrong password, a wrong token.
    hook = f"{url}/webhooks/woocommerce/{configured.shop_id}"
    for name, body, headers in [
        ("forged", b'{"id": 1}', {"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Signature": "AAAA"}),
        ("unsigned", b'{"id": 1}', {"X-WC-Webhook-Topic": "order.created"}),
        ("oversized", b"x" * (1024 * 1024 + 1), {"X-WC-Webhook-Topic": "order.created"}),
    ]:
        bodies[f"webhook {name}"] = requests.post(hook, data=body, headers=headers, timeout=10).text
    bodies["notify forged"] = requests.post(f"{url}/gateway/mypos/notify", data={"IPCmethod": "IPCPurchaseNotify",
                                                                                 "Signature": "x"}, timeout=10).text
    bodies["pay link tampered"] = requests.get(pay_link[:-3] + "abc", timeout=10).text
    bodies["api wrong token"] = requests.get(f"{url}/api/v1/agreements",
                                             headers={"Authorization": "Bearer abn_wrong"}, timeout=10).text
    stranger = Owner(abonne)
    bodies["login refused"] = stranger.login("guess").text

    # A renewal whose charge answer is lost (myPOS 500 after charging) and whose push the shop refuses at first.
    mypos.inject("http_500_after_charge")
    woo.answer(500, b'{"code": "internal_server_error", "message": "boom"}', "application/json")
    travel(configured, datetime.fromisoformat(configured.agreement(agreement_id)["next_charge_at"]))
    wait_charges(configured, agreement_id, [(2, 1, "unknown")])
    travel(configured, abonne.clock.now() + timedelta(minutes=2))
    wait_charges(configured, agreement_id, [(2, 1, "succeeded")])
    wait_for(lambda: abonne.scalar("SELECT count(*) FROM outbox WHERE last_error != ''"), what="a failed push")
    woo.behave_normally()
    travel(configured, abonne.clock.now() + timedelta(hours=1))
    wait_for(lambda: abonne.scalar("SELECT count(*) FROM outbox WHERE state = 'pending'") == 0,
             what="the renewal order to reach the shop")

    owner = Owner(abonne)
    assert owner.login(PASSWORD).status_code == 200
    pages = admin_pages(owner)
    assert len(pages) >= 10 and any(f"/admin/subscriptions/{agreement_id}" in path for path in pages)
    bodies.update({f"page {path}": text for path, text in pages.items()})
    bodies.update({f"api {path}": text for path, text in api_answers(url, token).items()})
    bodies["metrics"] = requests.get(f"{url}/metrics", timeout=10).text
    bodies["readyz"] = requests.get(f"{url}/readyz", timeout=10).text
    for command in (("agreements", "show", str(agreement_id), "--json"), ("shop", "list", "--json"),
                    ("gateway", "show", "--json")):
        bodies[f"cli {' '.join(command)}"] = abonne.cli(*command).output

    card_tokens = {t.token for t in mypos.ledger if t.token}
    key_lines = [line for line in (MYPOS / "test-merchant-private-key.pem").read_text().splitlines()
                 if len(line) >= 40 and "-----" not in line]
    links = {match for order in woo.orders() for note in woo.notes(order["id"])
             for match in LINK.findall(note.note)}
    assert card_tokens and key_lines and links
    secrets = {"consumer key": CK, "consumer secret": CS, "webhook secret": WEBHOOK_SECRET,
               "ABONNE_SECRET_KEY": abonne.env["ABONNE_SECRET_KEY"], "admin password": PASSWORD, "API token": token,
               **{f"card token {n}": value for n, value in enumerate(card_tokens)},
               **{f"private key line {n}": value for n, value in enumerate(key_lines)},
               **{f"customer link {n}": value for n, value in enumerate(links)}}

    lines = log_lines.getvalue().splitlines()
    assert len(lines) > 50  # DEBUG from every logger: the check saw the real traffic
    assert all(json.loads(line)["time"] for line in lines)
    assert any('"level": "ERROR"' in line or '"level": "WARNING"' in line for line in lines)  # failures logged
    leaks = [f"{what} in log line: {line[:300]}" for line in lines for what, value in secrets.items() if value in line]
    leaks += [f"{what} in {where}" for where, text in bodies.items() for what, value in secrets.items()
              if value in text]
    assert not leaks, "\n".join(leaks)
