"""The admin JSON API over real HTTP: tokens and scopes, the shop owner's objects and actions, errors that name
the field, and secrets that never come back."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import text

from adapters.mypos.standin import MyPosStandin
from adapters.woocommerce.standin import WooCommerceStandin
from bridge.services.admin_auth import revoke_token
from tests.fixture_files import MYPOS
from tests.integration.conftest import CK, CS, BridgeUnderTest, Configured
from tests.integration.test_charge_faults import gateway_charges
from tests.waiting import wait_for


class Api:
    """A client of /api/v1 holding one bearer token."""

    def __init__(self, abonne: BridgeUnderTest, token: str | None):
        self.base = abonne.url + "/api/v1"
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.seen: list[str] = []  # every body received, to prove no secret ever came back

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.session.request(method, self.base + path, timeout=30, **kwargs)
        self.seen.append(response.text)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, **kwargs)


def token(abonne: BridgeUnderTest, *scopes: str) -> str:
    result = abonne.cli("admin", "create-token", "tests", *[arg for scope in scopes for arg in ("--scope", scope)])
    assert result.exit_code == 0, result.output
    return re.search(r"(abn_\S+)", result.output).group(1)


def writer(abonne: BridgeUnderTest) -> Api:
    return Api(abonne, token(abonne, "read", "write"))


def agreement_row(abonne: BridgeUnderTest, agreement_id: int) -> dict[str, Any]:
    return abonne.rows("SELECT * FROM agreements WHERE id = :i", i=agreement_id)[0]


# ------------------------------------------------------------------------------------------------ access

def test_a_request_without_a_live_token_gets_401_and_cannot_tell_unknown_from_revoked(abonne: BridgeUnderTest):
    read_token = token(abonne, "read")
    revoked = token(abonne, "read", "write")
    revoke_token(abonne.bridge, abonne.scalar("SELECT max(id) FROM api_tokens"))  # as the page's revoke button

    missing = Api(abonne, None).get("/agreements")
    assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    basic = Api(abonne, None).get("/agreements", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status_code == 401
    unknown = Api(abonne, "abn_" + "x" * 43).get("/agreements")
    gone = Api(abonne, revoked).get("/agreements")
    assert unknown.status_code == gone.status_code == 401
    assert unknown.json() == gone.json() == {"error": "invalid_token",
                                              "detail": "the bearer token is not valid (unknown or revoked)"}
    assert 'error="invalid_token"' in gone.headers["WWW-Authenticate"]

    reader = Api(abonne, read_token)
    assert reader.get("/agreements").status_code == 200
    refused = reader.post("/plans", json={"name": "Never", "every": 1, "unit": "month"})
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
    assert 'scope="write"' in refused.headers["WWW-Authenticate"]
    assert abonne.scalar("SELECT count(*) FROM plans") == 0
    assert Api(abonne, None).get("/openapi.json").status_code == 200  # the document itself is public


def test_bad_input_is_refused_with_the_fields_named_and_nothing_written(abonne: BridgeUnderTest):
    api = writer(abonne)
    for query, field in [("per_page=101", "per_page"), ("page=0", "page"), ("page=abc", "page"),
                         ("state=bogus", "state"), ("shop_id=99999999999", "shop_id"), ("status=active", "status")]:
        answer = api.get(f"/agreements?{query}")
        assert answer.status_code == 422, query
        assert answer.json()["error"] == "invalid_input" and field in answer.json()["fields"], query
    broken = api.post("/plans", data=b'{"name": ', headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"] == "invalid_json"
    not_object = api.post("/plans", json=["a", "list"])
    assert not_object.status_code == 422 and "body" in not_object.json()["fields"]
    bad = api.post("/plans", json={"name": "", "every": True, "unit": "fortnight", "signup_fee": "4,90",
                                   "colour": "red"})
    assert bad.status_code == 422
    assert set(bad.json()["fields"]) == {"name", "every", "unit", "signup_fee", "colour"}
    assert "every" in bad.json()["detail"]
    nul = api.post("/plans", json={"name": "Coffee\x00", "every": 1, "unit": "month"})
    assert nul.status_code == 422 and "name" in nul.json()["fields"]
    assert abonne.scalar("SELECT count(*) FROM plans") == 0
    for path in ("/agreements/999", "/agreements/abc", "/agreements/99999999999999999999", "/outbox/7/retry"):
        method = "POST" if path.endswith("retry") else "GET"
        missing = api.call(method, path)
        assert missing.status_code == 404 and missing.json()["error"] == "not_found", path
    assert api.post("/agreements/999/actions/pause").status_code == 404
    assert api.post("/shops/999/test").status_code == 404
    assert api.post("/plans/Nothing/products", json={"shop_id": 1, "product": "X"}).status_code == 404
    assert api.get("/gateway").status_code == 404
    assert api.post("/gateway/check").json()["error"] == "not_configured"


# ------------------------------------------------------------------------------------------------ setup

def test_an_owner_sets_up_gateway_shop_and_plan_through_the_api_and_a_customer_subscribes(
        abonne: BridgeUnderTest, woo: WooCommerceStandin, mypos: MyPosStandin, tmp_path: Path):
    api = writer(abonne)
    private_key = (MYPOS / "test-merchant-private-key.pem").read_text()
    gateway_body = {"sid": "000000000000010", "wallet_number": "61938166610", "key_index": "1",
                    "private_key_pem": private_key, "certificate_pem": mypos.certificate_pem,
                    "endpoint": mypos.endpoint}
    broken = api.call("PUT", "/gateway", json={**gateway_body, "private_key_pem": "not a key"})
    assert broken.status_code == 422 and broken.json()["error"] == "gateway_settings_unusable"
    assert api.get("/gateway").status_code == 404
    saved = api.call("PUT", "/gateway", json=gateway_body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["secrets"] == {"private_key_pem": "set"}
    assert "private_key_pem" not in saved.json()["settings"]
    check = api.post("/gateway/check")
    assert check.status_code == 200 and check.json()["ok"] is True, check.text

    settings = {"url": woo.url, "consumer_key": CK, "consumer_secret": CS, "webhook_secret": "hook-secret-api"}
    invalid = api.post("/shops", json={"platform": "woocommerce", "settings": {"url": "shop.example",
                                                                              "consumer_secret": CS}})
    assert invalid.status_code == 422
    assert {"settings.url", "settings.consumer_key", "settings.webhook_secret"} <= set(invalid.json()["fields"])
    assert api.post("/shops", json={"platform": "shopify", "settings": settings}).json()["fields"] == {
        "platform": ["must be one of: opencart, prestashop, woocommerce"]}
    assert api.post("/shops", json={"platform": "prestashop", "settings": settings}).json()["fields"] == {
        "settings.consumer_key": ["Unknown field."], "settings.consumer_secret": ["Unknown field."],
        "settings.webservice_key": ["Missing data for required field."]}
    wrong_keys = api.post("/shops", json={"platform": "woocommerce", "settings": {**settings, "consumer_secret":
                                                                                 "cs_wrong"}})
    assert wrong_keys.status_code == 422 and "was not saved" in wrong_keys.json()["detail"]
    assert abonne.scalar("SELECT count(*) FROM shops") == 0
    created = api.post("/shops", json={"platform": "woocommerce", "name": "Coffee shop", "settings": settings})
    assert created.status_code == 201, created.text
    shop = created.json()
    assert shop["secrets"] == {"consumer_key": "set", "consumer_secret": "set", "webhook_secret": "set"}
    assert shop["settings"] == {"url": woo.url.rstrip("/")}
    assert api.post(f"/shops/{shop['id']}/test").json()["ok"] is True
    registered = api.post(f"/shops/{shop['id']}/register-webhooks")
    assert registered.status_code == 200 and registered.json()["pinged"] is True, registered.text
    assert {h.delivery_url for h in woo.hub.webhooks.values()} == {shop["webhook_url"]}

    plan = api.post("/plans", json={"name": "Mug club", "every": 1, "unit": "month", "signup_fee": "2.50"})
    assert plan.status_code == 201 and plan.json()["products"] == []
    again = api.post("/plans", json={"name": "Mug club", "every": 1, "unit": "month"})
    assert again.status_code == 422 and "exists already" in again.json()["detail"]
    mug = woo.add_product("Coffee Mug", "12.50", "MUG-1")
    no_shop = api.post("/plans/Mug club/products", json={"shop_id": 99, "product": "MUG-1"})
    assert no_shop.status_code == 422 and "shop_id" in no_shop.json()["fields"]
    mapped = api.post("/plans/Mug club/products", json={"shop_id": shop["id"], "product": "MUG-1"})
    assert mapped.status_code == 201 and mapped.json()["plan"] == "Mug club"
    assert api.get("/plans").json()["items"][0]["products"] == [{"shop_id": shop["id"], "product": "MUG-1"}]

    customer = Configured(abonne, woo, mypos, shop["id"], mug, mug)
    _, [agreement_id] = customer.subscribe([(mug, 1)])
    listed = api.get("/agreements", params={"plan": "Mug club"}).json()
    assert [a["id"] for a in listed["items"]] == [agreement_id] and listed["items"][0]["state"] == "active"

    for path in ("/shops", "/gateway", "/plans", "/dashboard", "/webhook-health", "/openapi.json"):
        assert api.get(path).status_code == 200
    everything = "\n".join(api.seen)
    for secret in (CK, CS, "hook-secret-api", private_key.splitlines()[1]):
        assert secret not in everything


# ------------------------------------------------------------------------------------------------ agreements

def test_agreements_are_searched_filtered_and_paginated(configured: Configured):
    woo = configured.woo
    weekly = woo.add_product("Tea Weekly", "5.00", "TEA-W", meta={"_subscription_period": "week"})
    yearly = woo.add_product("Beans Yearly", "120.00", "BEANS-Y", meta={"_subscription_period": "year"})
    order_id, ids = configured.subscribe([(configured.subscription_product, 1), (weekly, 1), (yearly, 1)])
    api = writer(configured.abonne)
    assert api.post(f"/agreements/{ids[1]}/actions/pause").status_code == 200

    first = api.get("/agreements", params={"per_page": 2}).json()
    assert (first["total"], first["page"], first["per_page"], first["pages"]) == (3, 1, 2, 2)
    assert [a["id"] for a in first["items"]] == [ids[2], ids[1]]  # newest first
    second = api.get("/agreements", params={"per_page": 2, "page": 2}).json()
    assert [a["id"] for a in second["items"]] == [ids[0]]
    assert api.get("/agreements", params={"state": "paused"}).json()["total"] == 1
    assert api.get("/agreements", params={"q": "ivanova"}).json()["total"] == 3
    assert api.get("/agreements", params={"q": "tea"}).json()["items"][0]["id"] == ids[1]
    assert api.get("/agreements", params={"q": str(order_id)}).json()["total"] == 3
    assert api.get("/agreements", params={"shop_id": configured.shop_id + 1}).json()["total"] == 0
    assert api.get("/agreements", params={"page": 9}).json()["items"] == []

    detail = api.get(f"/agreements/{ids[0]}").json()
    assert detail["state"] == "active" and detail["card_last4"] == "0007" and detail["amount"] == "19.90"
    assert [c["state"] for c in detail["charges"]] == ["succeeded"]
    assert any(e["kind"] == "agreement_paused" for e in api.get(f"/agreements/{ids[1]}").json()["events"])


def test_each_action_changes_the_agreement_in_the_database_and_the_worker_follows(configured: Configured):
    _, [agreement_id] = configured.subscribe([(configured.subscription_product, 1)])  # next charge 28 Feb 2027
    abonne = configured.abonne
    api = writer(abonne)
    act = lambda name, **kw: api.post(f"/agreements/{agreement_id}/actions/{name}", **kw)  # noqa: E731

    paused = act("pause")
    assert paused.status_code == 200 and paused.json()["agreement"]["state"] == "paused"
    assert agreement_row(abonne, agreement_id)["state"] == "paused"
    twice = act("pause")
    assert twice.status_code == 409 and twice.json()["error"] == "action_refused"
    assert act("resume").status_code == 200 and agreement_row(abonne, agreement_id)["state"] == "active"

    skipped = act("skip-next")
    assert skipped.status_code == 200 and "2027-03-31" in skipped.json()["message"]
    assert str(agreement_row(abonne, agreement_id)["next_charge_at"]).startswith("2027-03-31")
    moved = act("set-next-date", json={"next_charge_at": "2027-04-15T08:00:00+02:00"})
    assert moved.status_code == 200 and moved.json()["agreement"]["next_charge_at"] == "2027-04-15T06:00:00+00:00"
    for body, field in [({}, "next_charge_at"), ({"next_charge_at": "next tuesday"}, "next_charge_at"),
                        ({"next_charge_at": "2027-05-01", "extra": 1}, "extra")]:
        refused = act("set-next-date", json=body)
        assert refused.status_code == 422 and field in refused.json()["fields"], body
    past = act("set-next-date", json={"next_charge_at": "2020-01-01T00:00:00Z"})
    assert past.status_code == 409 and "future" in past.json()["detail"]

    link = act("resend-card-link")
    assert link.status_code == 200
    wait_for(lambda: any("/card/" in n.note for n in configured.woo.notes(int(
        agreement_row(abonne, agreement_id)["order_id"]))), what="a card-update link in the shop")

    assert act("charge-now").status_code == 200
    wait_for(lambda: agreement_row(abonne, agreement_id)["cycles_paid"] == 2, what="cycle 2 charged by the worker")
    assert len(gateway_charges(configured)) == 1

    assert act("cancel", json={"at_period_end": "yes"}).json()["fields"] == {"at_period_end": ["Not a valid boolean."]}
    at_end = act("cancel", json={"at_period_end": True})
    assert at_end.status_code == 200 and agreement_row(abonne, agreement_id)["cancel_at_period_end"]
    assert act("cancel").status_code == 200 and agreement_row(abonne, agreement_id)["state"] == "cancelled"
    assert act("charge-now").status_code == 409


# ------------------------------------------------------------------------------------------------ operations

def test_operations_show_the_dashboard_outbox_and_webhook_health_and_retry_a_dead_letter(configured: Configured):
    configured.subscribe([(configured.subscription_product, 1)])
    abonne = configured.abonne
    api = writer(abonne)
    board = api.get("/dashboard").json()
    assert board["active"] == 1 and board["mrr"] == {"EUR": "19.90"} and len(board["charged_per_day"]) == 30
    assert api.get("/charges/unknown").json() == {"items": []}
    health = api.get("/webhook-health").json()["items"]
    assert [h["shop_id"] for h in health] == [configured.shop_id] and health[0]["deliveries_24h"] >= 1

    done = wait_for(lambda: api.get("/outbox", params={"state": "done"}).json()["items"], what="sent shop updates")
    message_id = done[0]["id"]
    assert api.post(f"/outbox/{message_id}/retry").status_code == 409
    with abonne.bridge.db.engine.begin() as connection:
        connection.execute(text("UPDATE outbox SET state = 'dead', attempts = 5, last_error = 'shop said no' "
                                "WHERE id = :i"), {"i": message_id})
    dead = api.get("/outbox", params={"state": "dead"}).json()["items"]
    assert [m["id"] for m in dead] == [message_id] and dead[0]["last_error"] == "shop said no"
    retried = api.post(f"/outbox/{message_id}/retry")
    assert retried.status_code == 200 and "sent again" in retried.json()["message"]
    wait_for(lambda: abonne.scalar("SELECT state FROM outbox WHERE id = :i", i=message_id) == "done",
             what="the retried message to be sent")
    assert api.get("/outbox", params={"state": "sideways"}).status_code == 422
