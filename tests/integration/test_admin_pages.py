"""The config page at /admin/ over real HTTP: login, CSRF, session fixation, brute force, secrets never rendered,
shop data escaped, actions reaching the database, API tokens shown once."""
from __future__ import annotations

import hashlib
import re

import pytest
import requests
from sqlalchemy import text

from tests.fixture_files import MYPOS
from tests.integration.conftest import BILLING, CK, CS, BridgeUnderTest, Configured
from tests.waiting import wait_for

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

PAGES = ["/admin/", "/admin/gateway", "/admin/shops", "/admin/shops/new", "/admin/plans", "/admin/subscriptions",
         "/admin/operations/unknown-charges", "/admin/operations/outbox", "/admin/operations/webhooks",
         "/admin/tokens"]


class Owner:
    """The shop owner's browser, as plain HTTP: a cookie jar and the CSRF token of the last page read."""

    def __init__(self, abonne: BridgeUnderTest):
        self.abonne = abonne
        self.http = requests.Session()
        self.token = ""

    def get(self, path: str, **kwargs) -> requests.Response:
        response = self.http.get(self.abonne.url + path, timeout=10, **kwargs)
        found = CSRF.search(response.text)
        if found:
            self.token = found.group(1)
        return response

    def post(self, path: str, data: dict | None = None, with_token: bool = True, **kwargs) -> requests.Response:
        data = dict(data or {})
        if with_token:
            data.setdefault("csrf_token", self.token)
        response = self.http.post(self.abonne.url + path, data=data, timeout=10, **kwargs)
        found = CSRF.search(response.text)
        if found:
            self.token = found.group(1)
        return response

    def login(self, password: str = PASSWORD) -> requests.Response:
        self.get("/admin/login")
        return self.post("/admin/login", {"password": password})


def set_password(abonne: BridgeUnderTest) -> None:
    result = abonne.cli("admin", "set-password", "--password", PASSWORD)
    assert result.exit_code == 0, result.output


@pytest.fixture
def owner(abonne: BridgeUnderTest) -> Owner:
    set_password(abonne)
    owner = Owner(abonne)
    assert owner.login().url.endswith("/admin/")
    return owner


def detail_pages(abonne: BridgeUnderTest) -> list[str]:
    pages = [f"/admin/subscriptions/{row['id']}" for row in abonne.rows("SELECT id FROM agreements")]
    pages += [f"/admin/subscriptions/{row['id']}/pause" for row in abonne.rows("SELECT id FROM agreements")]
    return pages + [f"/admin/shops/{row['id']}" for row in abonne.rows("SELECT id FROM shops")]


def awaiting_agreement(configured: Configured, product: int | None = None, customer: dict | None = None) -> int:
    """A customer ordered a subscription product (not paid yet): its agreement's id."""
    order_id = configured.woo.place_order(customer=customer or BILLING,
                                          lines=[(product or configured.subscription_product, 1)],
                                          payment_method="mypos")
    [row] = wait_for(lambda: configured.agreements(order_id), what=f"the agreement of order {order_id}")
    return row["id"]


# ----------------------------------------------------------------------------------------------------- access

def test_every_admin_page_needs_a_login(configured: Configured):
    set_password(configured.abonne)
    agreement_id = awaiting_agreement(configured)
    stranger = Owner(configured.abonne)
    for path in PAGES + detail_pages(configured.abonne):
        response = stranger.get(path, allow_redirects=False)
        assert response.status_code == 302, path
        assert "/admin/login" in response.headers["Location"], path
    stranger.get("/admin/login")
    for path in (f"/admin/subscriptions/{agreement_id}/cancel", "/admin/plans", "/admin/tokens"):
        refused = stranger.post(path, {"name": "x", "every": "1", "unit": "month"}, allow_redirects=False)
        assert refused.status_code == 302 and "/admin/login" in refused.headers["Location"]
    assert configured.abonne.scalar("SELECT state FROM agreements WHERE id = :a", a=agreement_id) == "awaiting_card"
    assert configured.abonne.scalar("SELECT count(*) FROM plans") == 0
    assert configured.abonne.scalar("SELECT count(*) FROM api_tokens") == 0


def test_a_wrong_password_is_refused_plainly(abonne: BridgeUnderTest):
    set_password(abonne)
    owner = Owner(abonne)
    refused = owner.login("not the password")
    assert refused.status_code == 401 and "the password is not right" in refused.text
    assert owner.get("/admin/", allow_redirects=False).status_code == 302


def test_the_page_says_how_to_set_a_password_when_there_is_none(abonne: BridgeUnderTest):
    page = Owner(abonne).login("anything at all")
    assert page.status_code == 401 and "abonne admin set-password" in page.text


def test_logins_are_refused_for_a_while_after_five_failures(abonne: BridgeUnderTest):
    set_password(abonne)
    owner = Owner(abonne)
    for _ in range(5):
        assert owner.login("guess").status_code == 401
    limited = owner.login(PASSWORD)  # even the right password waits: the guesser must not learn it
    assert limited.status_code == 429 and "too many failed logins" in limited.text
    assert int(limited.headers["Retry-After"]) > 0
    assert owner.get("/admin/", allow_redirects=False).status_code == 302


def test_every_form_needs_the_csrf_token_and_changes_nothing_without_it(configured: Configured, owner: Owner):
    abonne = configured.abonne
    agreement_id = awaiting_agreement(configured)
    abonne.cli("plan", "add", "Coffee monthly", "--every", "1", "--unit", "month")
    shop_id = configured.shop_id
    posts = {
        "/admin/gateway": {"sid": "999999999999999"},
        "/admin/gateway/check": {},
        "/admin/shops/new": {"platform": "woocommerce", "url": configured.woo.url, "consumer_key": CK,
                             "consumer_secret": CS, "webhook_secret": "x"},
        f"/admin/shops/{shop_id}": {"name": "renamed", "url": configured.woo.url},
        f"/admin/shops/{shop_id}/test": {},
        f"/admin/shops/{shop_id}/webhooks": {},
        "/admin/plans": {"name": "Tea", "every": "1", "unit": "month"},
        "/admin/plans/map": {"plan": "Coffee monthly", "shop_id": str(shop_id), "product": "MUG-1"},
        f"/admin/subscriptions/{agreement_id}/cancel": {},
        "/admin/operations/outbox/1/retry": {},
        "/admin/tokens": {"name": "script", "scopes": "read"},
        "/admin/tokens/1/revoke": {},
        "/admin/logout": {},
    }
    before = {table: abonne.scalar(f"SELECT count(*) FROM {table}")
              for table in ("shops", "plans", "product_plans", "api_tokens", "events", "outbox")}
    for path, data in posts.items():
        missing = owner.post(path, data, with_token=False)
        assert missing.status_code == 400, path
        assert "did not come from this page" in missing.text
        forged = owner.post(path, {**data, "csrf_token": "forged." + owner.token[-20:]}, with_token=False)
        assert forged.status_code == 400, path
    assert before == {table: abonne.scalar(f"SELECT count(*) FROM {table}") for table in before}
    assert abonne.scalar("SELECT state FROM agreements WHERE id = :a", a=agreement_id) == "awaiting_card"
    assert abonne.scalar("SELECT name FROM shops WHERE id = :s", s=shop_id) != "renamed"
    assert owner.get("/admin/", allow_redirects=False).status_code == 200  # still logged in: logout was refused too


def test_login_opens_a_new_session_and_logout_ends_it(abonne: BridgeUnderTest):
    set_password(abonne)
    owner = Owner(abonne)
    owner.get("/admin/login")
    anonymous = owner.http.cookies.get("abonne_session")
    anonymous_token = owner.token
    assert anonymous
    owner.post("/admin/login", {"password": PASSWORD})
    logged_in = owner.http.cookies.get("abonne_session")
    assert logged_in and logged_in != anonymous
    # An attacker who planted the anonymous cookie gains nothing from the owner's login.
    planted = requests.Session()
    planted.cookies.set("abonne_session", anonymous)
    assert planted.get(abonne.url + "/admin/", allow_redirects=False, timeout=10).status_code == 302
    # ... and the CSRF token of the anonymous session does not work in the new one.
    assert owner.post("/admin/tokens", {"name": "x", "scopes": "read", "csrf_token": anonymous_token},
                      with_token=False).status_code == 400
    owner.get("/admin/")
    owner.post("/admin/logout")
    assert owner.get("/admin/", allow_redirects=False).status_code == 302


def test_a_new_password_ends_the_sessions_opened_with_the_old_one(owner: Owner):
    assert owner.get("/admin/", allow_redirects=False).status_code == 200
    owner.abonne.cli("admin", "set-password", "--password", "another long password")
    assert owner.get("/admin/", allow_redirects=False).status_code == 302


def test_pages_carry_the_security_headers_and_the_session_cookie_is_http_only(abonne: BridgeUnderTest):
    set_password(abonne)
    owner = Owner(abonne)
    page = owner.get("/admin/login")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    for path in PAGES:
        html = owner.get(path).text
        assert "<script" not in html and " style=" not in html and "<style" not in html, path


# ---------------------------------------------------------------------------------------------------- secrets

def test_secrets_are_never_sent_to_the_browser(configured: Configured, owner: Owner):
    awaiting_agreement(configured)
    private_key = (MYPOS / "test-merchant-private-key.pem").read_text()
    key_body = "".join(private_key.strip().splitlines()[1:-1])
    secrets = [CK, CS, "hook-secret-1", key_body[:40], key_body[-40:]]
    for path in PAGES + detail_pages(configured.abonne):
        html = owner.get(path).text
        for secret in secrets:
            assert secret not in html, f"{path} shows a secret"
    shop_page = owner.get(f"/admin/shops/{configured.shop_id}").text
    assert shop_page.count(">saved</span>") == 3  # consumer key, consumer secret, webhook secret: set, not shown
    gateway_page = owner.get("/admin/gateway").text
    assert "PRIVATE KEY-----" not in gateway_page and "CERTIFICATE-----" not in gateway_page  # only set/unset


def test_a_blank_secret_keeps_the_saved_one(configured: Configured, owner: Owner):
    owner.get(f"/admin/shops/{configured.shop_id}")
    saved = owner.post(f"/admin/shops/{configured.shop_id}", {"name": "Coffee shop", "url": configured.woo.url,
                                                              "consumer_key": "", "consumer_secret": "",
                                                              "webhook_secret": ""})
    assert "Shop settings saved" in saved.text
    assert configured.abonne.cli("shop", "test", str(configured.shop_id)).exit_code == 0  # the keys still work
    owner.get("/admin/gateway")
    changed = owner.post("/admin/gateway", {"sid": "000000000000010", "wallet_number": "61938166610",
                                            "key_index": "1", "endpoint": configured.mypos.endpoint,
                                            "private_key_pem": "", "certificate_pem": ""})
    assert "myPOS settings saved" in changed.text
    checked = owner.post("/admin/gateway/check")
    assert "myPOS answered" in checked.text and "signature verified" in checked.text


def test_a_wrong_consumer_secret_is_reported_plainly_and_nothing_is_saved(configured: Configured, owner: Owner):
    owner.get("/admin/shops/new")
    refused = owner.post("/admin/shops/new", {"platform": "woocommerce", "url": configured.woo.url,
                                              "consumer_key": CK, "consumer_secret": "cs_wrong",
                                              "webhook_secret": "s"})
    assert refused.status_code == 400 and "the shop was not saved" in refused.text and "401" in refused.text
    assert "cs_wrong" not in refused.text
    assert configured.abonne.scalar("SELECT count(*) FROM shops") == 1


# -------------------------------------------------------------------------------------------------------- XSS

def test_markup_in_product_and_customer_names_is_shown_as_text(configured: Configured, owner: Owner):
    product = configured.woo.add_product("<script>alert(1)</script> Club", "9.90",
                                         meta={"_subscription_period": "month"})
    customer = {"first_name": "<img src=x onerror=alert(2)>", "last_name": "Ivanova",
                "email": "maria@example.test", "country": "BG"}
    agreement_id = awaiting_agreement(configured, product, customer)
    for path in ("/admin/subscriptions", f"/admin/subscriptions/{agreement_id}",
                 f"/admin/subscriptions/{agreement_id}/pause", "/admin/subscriptions?q=%3Cscript%3E"):
        html = owner.get(path).text
        assert "<script>alert(1)</script>" not in html and "<img src=x" not in html, path
        assert "&lt;img src=x onerror=alert(2)&gt;" in html, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Club" in owner.get(f"/admin/subscriptions/{agreement_id}").text
    search = owner.get("/admin/subscriptions", params={"q": '"><script>alert(3)</script>'}).text
    assert "<script>alert(3)" not in search


# ---------------------------------------------------------------------------------------------------- actions

def test_pausing_from_the_page_pauses_the_agreement(configured: Configured, owner: Owner):
    _, [agreement_id] = configured.subscribe([(configured.subscription_product, 1)])
    confirm = owner.get(f"/admin/subscriptions/{agreement_id}/pause")
    assert "Pause this subscription?" in confirm.text
    assert configured.abonne.scalar("SELECT state FROM agreements WHERE id = :a", a=agreement_id) == "active"
    done = owner.post(f"/admin/subscriptions/{agreement_id}/pause")
    assert done.url.endswith(f"/admin/subscriptions/{agreement_id}")
    assert "Pause: done" in done.text and "nothing is charged until it is resumed" in done.text
    assert configured.abonne.scalar("SELECT state FROM agreements WHERE id = :a", a=agreement_id) == "paused"
    assert "agreement paused" in done.text  # on the timeline
    again = owner.post(f"/admin/subscriptions/{agreement_id}/pause")
    assert "Pause was not done: an agreement that is paused cannot take paused" in again.text


def test_moving_the_next_date_from_the_page(configured: Configured, owner: Owner):
    _, [agreement_id] = configured.subscribe([(configured.subscription_product, 1)])
    owner.get(f"/admin/subscriptions/{agreement_id}/set_next_date")
    moved = owner.post(f"/admin/subscriptions/{agreement_id}/set_next_date", {"when": "2027-04-15T08:00"})
    assert "next charge moved to 2027-04-15 08:00 UTC" in moved.text
    assert configured.agreement(agreement_id)["next_charge_at"] == "2027-04-15T08:00:00+00:00"
    garbage = owner.post(f"/admin/subscriptions/{agreement_id}/set_next_date", {"when": "next tuesday"})
    assert "was not done: the new date must look like 2027-03-15" in garbage.text


def test_an_api_token_is_shown_once_and_only_its_hash_is_stored(abonne: BridgeUnderTest, owner: Owner):
    owner.get("/admin/tokens")
    created = owner.post("/admin/tokens", {"name": "nightly export", "scopes": ["read", "write"]})
    token = re.search(r'id="new-token">(abn_[^<]+)<', created.text).group(1)
    assert "only this once" in created.text
    [row] = abonne.rows("SELECT * FROM api_tokens")
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest() and row["scopes"] == "read write"
    assert token not in " ".join(str(value) for value in row.values())
    listed = owner.get("/admin/tokens").text
    assert token not in listed and "nightly export" in listed and row["prefix"] in listed
    revoked = owner.post(f"/admin/tokens/{row['id']}/revoke")
    assert "is revoked" in revoked.text
    assert abonne.scalar("SELECT revoked_at FROM api_tokens") is not None


def test_the_first_run_checklist_guides_an_empty_install(abonne: BridgeUnderTest, owner: Owner):
    page = owner.get("/admin/").text
    assert "Get started" in page and "Set up myPOS" in page and "Connect a shop" in page


def test_the_dashboard_shows_the_figures_and_a_chart_drawn_on_the_server(configured: Configured, owner: Owner):
    configured.subscribe([(configured.subscription_product, 1)])
    page = owner.get("/admin/").text
    assert "active subscriptions" in page and "19.90 EUR" in page and "<svg" in page and 'class="bar' in page


def test_a_dead_letter_can_be_retried_from_the_page(configured: Configured, owner: Owner):
    abonne = configured.abonne
    agreement_id = awaiting_agreement(configured)
    wait_for(lambda: abonne.scalar("SELECT count(*) FROM outbox WHERE state = 'done'"), what="the pay-link note")
    with abonne.bridge.db.engine.begin() as connection:
        connection.execute(text("UPDATE outbox SET state = 'dead', last_error = 'the shop said 500'"))
    message_id = abonne.scalar("SELECT id FROM outbox")
    listed = owner.get("/admin/operations/outbox?state=dead").text
    assert "dead letter" in listed and "the shop said 500" in listed
    retried = owner.post(f"/admin/operations/outbox/{message_id}/retry")
    assert "will be sent again" in retried.text
    wait_for(lambda: abonne.scalar("SELECT state FROM outbox WHERE id = :m", m=message_id) == "done",
             what="the retried message to be sent")
    assert agreement_id


def test_a_missing_subscription_is_a_plain_404_page(owner: Owner):
    missing = owner.get("/admin/subscriptions/999")
    assert missing.status_code == 404 and "there is no subscription 999" in missing.text
