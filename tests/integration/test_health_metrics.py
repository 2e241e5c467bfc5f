"""GET /healthz, /readyz and /metrics over real HTTP: readiness follows the database, its schema and the worker's
heartbeat; the metrics follow real webhooks, charges against the stand-in myPOS and pushes into the stand-in shop."""
from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from alembic import command
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from bridge import logs
from bridge.app import build_bridge, create_app
from bridge.cli import main as cli_main
from bridge.clock import SettableClock
from bridge.config import Settings
from bridge.serving import RunningServer, serve_in_thread
from bridge.services import outbox
from bridge.store.db import alembic_config, migrate
from bridge.worker import run_once
from tests.integration.conftest import START, BridgeUnderTest, Configured
from tests.integration.test_charge_faults import start_renewal, travel, wait_charges
from tests.waiting import wait_for

Samples = dict[tuple[str, frozenset], float]


def scrape(url: str, **headers: str) -> Samples:
    answer = requests.get(f"{url}/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


class WebOnly:
    """abonne's web app on waitress with no worker running: the worker's passes are run by the test."""

    def __init__(self, database_url: str, tmp_path: Path, clock: SettableClock, **settings: Any):
        env = {"ABONNE_DATABASE_URL": database_url, "ABONNE_SECRET_KEY": secrets.token_urlsafe(32),
               "ABONNE_INSTANCE_PATH": str(tmp_path / "instance")}
        self.bridge = build_bridge(replace(Settings.from_env(env), **settings), clock)
        self.server: RunningServer = serve_in_thread(create_app(self.bridge))
        self.clock = clock

    def get(self, path: str, **headers: str) -> requests.Response:
        return requests.get(f"{self.server.url}{path}", headers=headers, timeout=10)

    def close(self) -> None:
        self.server.stop()
        self.bridge.db.dispose()


@pytest.fixture
def web_only(database_url: str, tmp_path: Path, clock: SettableClock) -> Iterator[WebOnly]:
    migrate(database_url)
    web = WebOnly(database_url, tmp_path, clock)
    yield web
    web.close()


def code_head() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_healthz_answers_without_a_login_and_echoes_the_request_id(web_only: WebOnly):
    answer = web_only.get("/healthz", **{"X-Request-Id": "lb-4f2a.9"})
    assert (answer.status_code, answer.json()) == (200, {"ok": True})
    assert answer.headers["X-Request-Id"] == "lb-4f2a.9"
    made_up = web_only.get("/healthz", **{"X-Request-Id": "<script>"}).headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made_up)  # a header that is not an id is replaced, never echoed


def test_readyz_waits_for_a_worker_heartbeat_and_notices_when_it_stops(web_only: WebOnly):
    answer = web_only.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["reason"] == "no worker heartbeat yet: no worker has run against this database"
    assert answer.json()["checks"]["database"] == "reachable"
    assert answer.json()["checks"]["migrations"] == f"at {code_head()}"

    run_once(web_only.bridge)
    answer = web_only.get("/readyz")
    assert (answer.status_code, answer.json()["ready"]) == (200, True), answer.json()
    assert answer.json()["checks"]["worker"] == "last worker heartbeat 0 s ago"

    web_only.clock.advance(timedelta(seconds=75))  # the worker died: no pass for 75 s by the bridge's clock
    answer = web_only.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["reason"].startswith("no worker heartbeat for 75 s")
    assert value(scrape(web_only.server.url), "abonne_worker_heartbeat_age_seconds") == 75
    assert value(scrape(web_only.server.url), "abonne_workers_alive") == 0

    run_once(web_only.bridge)  # a worker runs again: ready again at once, whatever the clock did
    assert web_only.get("/readyz").status_code == 200
    assert value(scrape(web_only.server.url), "abonne_workers_alive") == 1


def test_readyz_names_the_migrations_when_the_database_is_behind(database_url: str, tmp_path: Path,
                                                                    clock: SettableClock):
    command.upgrade(alembic_config(database_url), "0003")
    web = WebOnly(database_url, tmp_path, clock)
    try:
        answer = web.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["reason"] == (f"migrations not current: at 0003, code expects {code_head()} "
                                           "(run `abonne migrate`)")
        assert web.get("/healthz").status_code == 200  # alive, just not ready
        assert value(scrape(web.server.url), "abonne_database_up") == 0  # its tables are not all there yet
        migrate(database_url)
        assert web.get("/readyz").json()["reason"].startswith("no worker heartbeat yet")
        assert value(scrape(web.server.url), "abonne_database_up") == 1
    finally:
        web.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_readyz_says_the_database_is_unreachable(backend: str, tmp_path: Path, clock: SettableClock):
    if backend == "sqlite":
        folder = tmp_path / "abonne.db"
        folder.mkdir()  # a folder where the database file should be: SQLite cannot open it
        url, expected = f"sqlite:///{folder}", "OperationalError: unable to open database file"
    else:
        if not os.environ.get("ABONNE_TEST_DATABASE_URL"):
            pytest.skip("set ABONNE_TEST_DATABASE_URL to run the PostgreSQL tests")
        url, expected = (f"postgresql+psycopg://abonne:pw-not-to-show@127.0.0.1:{closed_port()}/abonne",
                         "OperationalError: connection failed")
    web = WebOnly(url, tmp_path, clock)
    try:
        answer = web.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["reason"].startswith(f"database unreachable: {expected}")
        assert "pw-not-to-show" not in answer.text
        assert answer.json()["checks"]["worker"] == "not checked: no database"
        assert web.get("/healthz").status_code == 200
        assert value(scrape(web.server.url), "abonne_database_up") == 0
    finally:
        web.close()


def test_metrics_want_the_token_when_one_is_set(database_url: str, tmp_path: Path, clock: SettableClock):
    migrate(database_url)
    web = WebOnly(database_url, tmp_path, clock, metrics_token="scrape-me-7")
    try:
        assert web.get("/metrics").status_code == 401
        assert web.get("/metrics", Authorization="Bearer scrape-me-6").json()["error"] == "metrics_token_required"
        assert value(scrape(web.server.url, Authorization="Bearer scrape-me-7"), "abonne_database_up") == 1
        assert web.get("/readyz").status_code == 503 and web.get("/healthz").status_code == 200  # probes stay open
    finally:
        web.close()


def test_metrics_follow_webhooks_a_renewal_and_a_push_the_shop_refuses(configured: Configured):
    abonne, woo, url = configured.abonne, configured.woo, configured.abonne.url
    before = scrape(url)
    order_id, [agreement_id] = configured.subscribe([(configured.subscription_product, 1)])
    forged = requests.post(f"{url}/webhooks/woocommerce/{configured.shop_id}", data=b'{"id": 1}',
                           headers={"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Signature": "AAAA"})
    assert forged.status_code == 401
    requests.post(f"{url}/webhooks/no-such-platform/{configured.shop_id}", data=b"{}")
    after = wait_for(lambda: (now := scrape(url)) and grew(before, now, "abonne_outbox_sends_total",
                                                             kind="mark_paid", outcome="sent") == 1 and now,
                     what="the pay link note and the paid mark to reach the shop")
    assert grew(before, after, "abonne_webhooks_total", platform="woocommerce", outcome="stored") >= 1
    assert grew(before, after, "abonne_webhooks_total", platform="woocommerce", outcome="signature_mismatch") == 1
    assert grew(before, after, "abonne_webhooks_total", platform="unknown", outcome="unknown_shop") == 1
    assert grew(before, after, "abonne_charges_total", outcome="succeeded", source="hosted_page") == 1
    assert grew(before, after, "abonne_outbox_sends_total", kind="customer_note", outcome="sent") == 1
    assert grew(before, after, "abonne_shop_api_seconds_count", platform="woocommerce",
                operation="add_customer_note", outcome="ok") == 1
    assert value(after, "abonne_outbox_depth") == 0 and value(after, "abonne_renewal_lag_seconds") == 0

    abonne.stop_worker()  # from here the test runs the worker's passes itself
    due = datetime.fromisoformat(configured.agreement(agreement_id)["next_charge_at"])
    abonne.clock.set(due + timedelta(hours=3))
    lagging = scrape(url)
    assert value(lagging, "abonne_renewals_due") == 1
    assert value(lagging, "abonne_renewal_lag_seconds") == 3 * 3600

    woo.answer(503)  # the shop is down when the renewal order is pushed
    run_once(abonne.bridge)
    charged = scrape(url)
    assert value(charged, "abonne_renewal_lag_seconds") == 0
    assert grew(lagging, charged, "abonne_charges_total", outcome="succeeded", source="stored_card") == 1
    assert grew(lagging, charged, "abonne_gateway_api_seconds_count", operation="charge_stored_card",
                outcome="ok") == 1
    assert grew(lagging, charged, "abonne_outbox_sends_total", kind="renewal_order", outcome="retried") == 1
    assert grew(lagging, charged, "abonne_shop_api_seconds_count", platform="woocommerce",
                operation="create_renewal_order", outcome="error") == 1
    assert value(charged, "abonne_outbox_depth") == 1
    abonne.clock.advance(timedelta(minutes=10))
    assert value(scrape(url), "abonne_outbox_oldest_age_seconds") == 600

    woo.answer(400, b'{"code": "woocommerce_rest_invalid", "message": "no"}', "application/json")
    outbox.drain(abonne.bridge)  # a refusal that no retry can change: the renewal order becomes a dead letter
    dead = scrape(url)
    assert value(dead, "abonne_outbox_depth") == 0
    assert grew(charged, dead, "abonne_dead_letters", queue="outbox") == 1
    assert grew(charged, dead, "abonne_outbox_sends_total", kind="renewal_order", outcome="dead") == 1


def test_metrics_count_an_unknown_charge_and_its_age_and_a_dunning_step(configured: Configured):
    url, clock = configured.abonne.url, configured.abonne.clock
    before = scrape(url)
    configured.mypos.inject("timeout_after_charge")
    agreement_id = start_renewal(configured)
    wait_charges(configured, agreement_id, [(2, 1, "unknown")])
    clock.advance(timedelta(seconds=50))  # the janitor asks first at 1 min: until then it stays unknown
    unknown = scrape(url)
    assert value(unknown, "abonne_open_charges", state="unknown") == 1
    assert value(unknown, "abonne_open_charges_oldest_age_seconds", state="unknown") == 50
    assert grew(before, unknown, "abonne_charges_total", outcome="unknown", source="stored_card") == 1
    assert grew(before, unknown, "abonne_gateway_api_seconds_count", operation="charge_stored_card",
                outcome="ok") == 1  # the call returned: its answer (a timeout) is what is unknown

    travel(configured, clock.now() + timedelta(minutes=1))
    wait_charges(configured, agreement_id, [(2, 1, "succeeded")])  # the janitor asked and learnt it was paid
    settled = scrape(url)
    assert value(settled, "abonne_open_charges", state="unknown") == 0
    assert value(settled, "abonne_open_charges_oldest_age_seconds", state="unknown") == 0
    assert grew(unknown, settled, "abonne_charges_total", outcome="succeeded", source="stored_card") == 1
    assert grew(unknown, settled, "abonne_gateway_api_seconds_count", operation="transaction_status",
                outcome="ok") == 1

    declining = configured.woo.add_product("Club 19.13", "19.13", meta={"_subscription_period": "month"})
    _, [second] = configured.subscribe([(declining, 1)])  # renewals of ..13 are declined: insufficient funds
    travel(configured, datetime.fromisoformat(configured.agreement(second)["next_charge_at"]))
    wait_for(lambda: grew(settled, scrape(url), "abonne_dunning_steps_total", step="retry_scheduled") == 1,
             what="a soft decline to schedule a retry")
    assert grew(settled, scrape(url), "abonne_charges_total", outcome="declined", source="stored_card") == 1


def test_a_request_log_line_is_json_with_the_request_and_shop_ids(configured: Configured):
    stream = io.StringIO()
    handler = logs.handler("json", stream)
    root, level = logging.getLogger(), logging.getLogger().level
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # as `abonne serve` sets it
    try:
        requests.post(f"{configured.abonne.url}/webhooks/woocommerce/{configured.shop_id}", data=b"{}",
                      headers={"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Signature": "AAAA",
                               "X-Request-Id": "req-77"})
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [line] = [entry for entry in lines if entry.get("request_id") == "req-77"]
    assert line["logger"] == "bridge.metrics" and line["level"] == "INFO"
    assert line["message"] == "webhook answered 401: signature_mismatch"
    assert line["shop_id"] == configured.shop_id and line["platform"] == "woocommerce"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])


def test_one_scrape_sums_the_counts_of_the_web_and_worker_processes(sqlite_url: str, tmp_path: Path):
    """Under gunicorn, and beside `abonne worker`, each process counts in PROMETHEUS_MULTIPROC_DIR."""
    counts = tmp_path / "prometheus"
    counts.mkdir()
    env = {**os.environ, "ABONNE_DATABASE_URL": sqlite_url, "ABONNE_SECRET_KEY": secrets.token_urlsafe(32),
           "ABONNE_INSTANCE_PATH": str(tmp_path / "instance"), "PROMETHEUS_MULTIPROC_DIR": str(counts),
           "PYTHONUNBUFFERED": "1"}
    migrate(sqlite_url)
    bridge = build_bridge(Settings.from_env(env))  # real time, as the processes keep
    shop_down = f"http://127.0.0.1:{closed_port()}"
    added = CliRunner().invoke(cli_main, ["shop", "add", "--platform", "woocommerce", "--url", shop_down,
                                          "--consumer-key", "ck_" + "1" * 40, "--consumer-secret", "cs_" + "2" * 40,
                                          "--webhook-secret", "hook", "--skip-check"], obj=bridge)
    assert added.exit_code == 0, added.output
    with bridge.uow() as uow:  # a customer note for the shop that is down: the worker will fail to send it
        outbox.enqueue(uow, bridge.clock.now(), 1, "customer_note", "note:1", {"order_id": "5", "text": "hello"})
        uow.commit()
    bridge.db.dispose()

    abonne = [sys.executable, "-m", "bridge.cli"]
    web = subprocess.Popen([*abonne, "serve", "--no-worker", "--port", "0"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        url = next(found.group(1) for line in web.stdout if (found := re.search(r"listening on (http://\S+)", line)))
        assert requests.post(f"{url}/webhooks/woocommerce/1", data=b"{}", headers={
            "X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Signature": "AAAA"}).status_code == 401
        assert requests.get(f"{url}/readyz").status_code == 503
        worker = subprocess.run([*abonne, "worker", "--once"], env=env, capture_output=True, text=True, timeout=60)
        assert "to retry: 1" in worker.stdout, worker.stdout + worker.stderr
        samples = scrape(url)
        assert value(samples, "abonne_webhooks_total", platform="woocommerce", outcome="signature_mismatch") == 1
        assert value(samples, "abonne_outbox_sends_total", kind="customer_note", outcome="retried") == 1
        assert value(samples, "abonne_shop_api_seconds_count", platform="woocommerce", operation="add_customer_note",
                     outcome="error") == 1
        assert value(samples, "abonne_outbox_depth") == 1  # and the database's figures beside them
        assert requests.get(f"{url}/readyz").status_code == 200  # the worker's heartbeat, by real time
    finally:
        web.terminate()
        web.wait(timeout=30)
