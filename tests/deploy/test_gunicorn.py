"""deploy/gunicorn.conf.py serving the app as the web unit does, beside an `abonne worker` process."""
from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from bridge.cli import main
from tests.deploy.conftest import GunicornInstallation
from tests.deploy.deploy_files import DEPLOY, VENV_BIN, gunicorn_settings
from tests.fixture_files import woo_delivery
from tests.shops.abonne_process import free_port


def test_a_webhook_answered_by_gunicorn_becomes_an_agreement_made_by_the_worker(installation):
    delivery = woo_delivery("0005_order-created")
    headers = {k: v for k, v in delivery.headers if k.lower() not in ("host", "content-length", "connection")}
    headers["X-Request-Id"] = "a1b2c3d4e5f60718293a4b5c6d7e8f90"  # as nginx's $request_id would set it
    answer = requests.post(f"{installation.url}/webhooks/woocommerce/1", data=delivery.body, headers=headers,
                           timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "stored"
    [agreement] = installation.wait_for(lambda: installation.rows(
        "SELECT order_id, line_id, state, amount_minor, currency FROM agreements"), "the worker's agreement")
    assert dict(agreement) == {"order_id": "14", "line_id": "1", "state": "awaiting_card", "amount_minor": 1990,
                               "currency": "EUR"}
    [line] = installation.wait_for(lambda: installation.access_lines(request_id="a1b2c3d4e5f60718293a4b5c6d7e8f90"),
                                   "the access log line with the request's id")
    assert (line["method"], line["path"], line["status"]) == ("POST", "/webhooks/woocommerce/1", 200)
    assert line["duration_ms"] >= 0 and line["bytes"] == len(answer.content)


def test_a_customer_links_token_never_reaches_the_access_log(installation):
    token = "eyJhZ3JlZW1lbnQiOjF9.ZzQ2c2VjcmV0"
    requests.get(f"{installation.url}/pay/{token}", timeout=10)
    requests.get(f"{installation.url}/card/{token}", timeout=10)
    def link_lines() -> list[dict]:
        found = [line for line in installation.access_lines() if line["path"].startswith(("/pay/", "/card/"))]
        return found if len(found) == 2 else []
    lines = installation.wait_for(link_lines, "the access log lines of both links")
    assert sorted(line["path"] for line in lines) == ["/card/…", "/pay/…"]
    assert token not in installation.web.stdout.read_text() + installation.web.log.read_text()


def webhook_count(url: str, outcome: str) -> float:
    scrape = requests.get(f"{url}/metrics", timeout=10).text
    found = re.search(rf'^abonne_webhooks_total{{outcome="{outcome}",platform="woocommerce"}} (\S+)$', scrape,
                      re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_every_web_process_counts_into_the_one_scrape(installation):
    # Refused deliveries for a shop that does not exist, until both web processes have answered some.
    before = webhook_count(installation.url, "unknown_shop")
    sent = 0
    while sent < 60:
        requests.post(f"{installation.url}/webhooks/woocommerce/999", data=b"{}", timeout=10)
        sent += 1
        lines = installation.wait_for(lambda: len(installation.access_lines(path="/webhooks/woocommerce/999")) == sent
                                      and installation.access_lines(path="/webhooks/woocommerce/999"), "the lines")
        if sent >= 4 and len({line["pid"] for line in lines}) == 2:
            break
    assert len({line["pid"] for line in lines}) == 2, "one web process answered every request"
    for _ in range(4):  # whichever process answers the scrape, it sums both
        assert webhook_count(installation.url, "unknown_shop") - before == sent
    assert len(list((installation.home / "metrics").glob("counter_*.db"))) >= 2


def failed_login(session: requests.Session, url: str, forwarded_for: str) -> int:
    headers = {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https"}
    page = session.get(f"{url}/admin/login", headers=headers, timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return session.post(f"{url}/admin/login", data={"password": "not the password", "csrf_token": csrf},
                        headers=headers, timeout=10, allow_redirects=False).status_code


def test_without_a_trusted_proxy_a_forged_forwarded_for_does_not_escape_the_login_limit(installation):
    with requests.Session() as session:
        codes = [failed_login(session, installation.url, f"198.51.100.{n}") for n in range(1, 7)]
    assert codes == [401] * 5 + [429]  # five failures from this address, whatever it claimed to be
    lines = installation.wait_for(lambda: len(logins := installation.access_lines(
        method="POST", path="/admin/login")) == 6 and logins, "a line for each of the 6 logins")
    assert {(l["remote_addr"], l["scheme"]) for l in lines} == {("127.0.0.1", "http")}


def test_behind_one_trusted_proxy_the_login_limit_counts_the_address_the_proxy_saw(behind_proxy):
    with requests.Session() as session:
        assert [failed_login(session, behind_proxy.url, "203.0.113.7") for _ in range(6)][-1] == 429
        assert failed_login(session, behind_proxy.url, "203.0.113.8") == 401  # another client is not locked out
    lines = behind_proxy.wait_for(lambda: len(logins := behind_proxy.access_lines(
        method="POST", path="/admin/login")) == 7 and logins, "a line for each of the 7 logins")
    assert {l["remote_addr"] for l in lines} == {"203.0.113.7", "203.0.113.8"}
    assert {l["scheme"] for l in lines} == {"https"}


def test_a_trusted_proxies_setting_that_is_not_a_count_is_refused_naming_it(tmp_path):
    env = {"ABONNE_DATABASE_URL": f"sqlite:///{tmp_path / 'abonne.db'}", "ABONNE_INSTANCE_PATH": str(tmp_path)}
    for wrong in ("one", "-1", "1.5"):
        done = CliRunner().invoke(main, ["migrate"], env={**env, "ABONNE_TRUSTED_PROXIES": wrong})
        assert done.exit_code == 1 and "ABONNE_TRUSTED_PROXIES must be a whole number" in done.output, done.output
    assert not (tmp_path / "abonne.db").exists()  # nothing was done


def test_web_processes_follow_the_usable_cpus_unless_a_setting_says_otherwise(monkeypatch):
    for name in ("ABONNE_WEB_WORKERS", "WEB_CONCURRENCY", "ABONNE_WEB_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert gunicorn_settings()["workers"] == 2 * len(os.sched_getaffinity(0)) + 1
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    assert gunicorn_settings()["workers"] == 2
    monkeypatch.setenv("ABONNE_WEB_WORKERS", "3")
    assert gunicorn_settings()["workers"] == 3
    monkeypatch.setenv("ABONNE_WEB_WORKERS", "0")
    with pytest.raises(ValueError, match="ABONNE_WEB_WORKERS must be a whole number of at least 1"):
        gunicorn_settings()


def web_processes(installation: GunicornInstallation) -> set[int]:
    master = installation.web.process.pid
    return {int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()}


def test_a_reload_replaces_the_web_processes_while_requests_keep_being_answered(installation):
    # What `systemctl reload abonne` does (ExecReload sends SIGHUP to gunicorn).
    before = installation.wait_for(lambda: len(found := web_processes(installation)) == 2 and found, "2 processes")
    installation.web.process.send_signal(signal.SIGHUP)
    answers = []
    while not (web_processes(installation).isdisjoint(before) and len(web_processes(installation)) == 2):
        answers.append(requests.get(f"{installation.url}/healthz", timeout=10).status_code)
        assert len(answers) < 2000, "the old web processes were never replaced"
    answers.append(requests.get(f"{installation.url}/healthz", timeout=10).status_code)
    assert set(answers) == {200}


def refused_start(tmp_path: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(VENV_BIN), "ABONNE_DATABASE_URL": database_url, "ABONNE_INSTANCE_PATH": str(tmp_path),
           "ABONNE_WEB_BIND": f"127.0.0.1:{free_port()}", "ABONNE_WEB_WORKERS": "1"}
    return subprocess.run([str(VENV_BIN / "gunicorn"), "--config", str(DEPLOY / "gunicorn.conf.py")], env=env,
                          capture_output=True, text=True, timeout=60)


def test_gunicorn_refuses_to_serve_a_database_that_is_not_migrated_as_abonne_serve_does(tmp_path):
    done = refused_start(tmp_path, f"sqlite:///{tmp_path / 'abonne.db'}")
    assert done.returncode == 1 and "is not migrated to this version: run `abonne migrate` first" in done.stderr


def test_gunicorn_refuses_to_start_without_its_database_and_keeps_the_password_to_itself(tmp_path):
    done = refused_start(tmp_path, f"postgresql://abonne:pw-{os.getpid()}-secret@127.0.0.1:{free_port()}/abonne")
    assert done.returncode == 1 and "cannot be reached" in done.stderr, done.stderr
    assert f"pw-{os.getpid()}-secret" not in done.stdout + done.stderr and "Traceback" not in done.stderr
