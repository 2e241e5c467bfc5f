"""abonne as an owner runs it, in real processes: `abonne serve --no-worker`, `abonne worker` and `abonne ...`
commands, on one database, keeping real time.

Time travel, for processes that read the real clock, is done the way waiting would do it: an agreement becomes due
by moving its own next_charge_at to now (the engine claims agreements by `next_charge_at <= now`), and a killed
worker's lease ends by moving the leased row's own timestamp back by outbox.LEASE.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import requests
from sqlalchemy import create_engine, select, text, update

from bridge.services import outbox
from bridge.store.tables import Agreement, OutboxMessage
from tests.fixture_files import MYPOS
from tests.waiting import wait_for

T = TypeVar("T")


def abonne_command() -> list[str]:
    script = Path(sys.executable).with_name("abonne")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bridge.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AbonneProcess:
    """One `abonne` process; its output goes to a log file that failures quote."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log: Path):
        self.name, self.log = name, log
        self._out = log.open("ab")
        self.process = subprocess.Popen([*abonne_command(), *args], env=env, stdout=self._out,
                                        stderr=subprocess.STDOUT)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler runs, no transaction is finished, open connections just drop."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._out.close()

    def stop(self) -> None:
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._out.close()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class AbonneProcesses:
    """One abonne installation: a database, a web process and a worker process, each started and stopped (or
    killed) at will. Every outgoing call of theirs goes through `proxy_url`, where a test can break a shop."""

    def __init__(self, home: Path, database_url: str, proxy_url: str, port: int | None = None):
        self.home = home
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.env = {**os.environ, "ABONNE_DATABASE_URL": database_url, "ABONNE_PUBLIC_URL": self.url,
                    "ABONNE_INSTANCE_PATH": str(home / "instance"), "ABONNE_WORKER_INTERVAL_SECONDS": "0.2",
                    "ABONNE_GATEWAY_TIMEOUT_SECONDS": "10", "PYTHONUNBUFFERED": "1",
                    "HTTP_PROXY": proxy_url, "http_proxy": proxy_url, "NO_PROXY": "", "no_proxy": ""}
        self.engine = create_engine(database_url)
        self.web: AbonneProcess | None = None
        self.worker: AbonneProcess | None = None
        self._started = 0
        self.cli("migrate")

    def _log(self, name: str) -> Path:
        self._started += 1
        return self.home / f"{self._started:02d}-{name}.log"

    # ------------------------------------------------------------------ processes

    def start_web(self) -> None:
        self.web = AbonneProcess("web", ["serve", "--no-worker", "--port", str(self.port)], self.env, self._log("web"))
        self.wait_for(self._answers, "abonne serve to answer HTTP")

    def start_worker(self) -> None:
        self.worker = AbonneProcess("worker", ["worker"], self.env, self._log("worker"))

    def start(self) -> None:
        self.start_web()
        self.start_worker()

    def stop(self) -> None:
        for process in (self.worker, self.web):
            if process is not None:
                process.stop()

    def _answers(self) -> bool:
        try:
            return requests.get(self.url + "/", timeout=2, allow_redirects=False).status_code < 500
        except requests.ConnectionError:
            return False

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        """An `abonne` command on this installation; with `ok`, a failure fails the test with its output."""
        done = subprocess.run([*abonne_command(), *args], env=self.env, capture_output=True, text=True, timeout=120)
        if ok:
            assert done.returncode == 0, f"abonne {' '.join(args)} exited {done.returncode}:\n" \
                                         f"{done.stdout}{done.stderr}"
        return done

    def set_gateway(self, mypos: Any) -> None:
        """`abonne gateway set` for myPOS's published test store, pointed at the stand-in myPOS."""
        certificate = self.home / "mypos-standin.pem"
        certificate.write_text(mypos.certificate_pem)
        self.cli("gateway", "set", "--sid", "000000000000010", "--wallet-number", "61938166610", "--key-index", "1",
                 "--private-key", str(MYPOS / "test-merchant-private-key.pem"), "--certificate", str(certificate),
                 "--endpoint", mypos.endpoint)

    def wait_for(self, condition: Callable[[], T], what: str, timeout: float = 60.0) -> T:
        """Wait, and when it does not come, say so with the end of each process's log."""
        try:
            return wait_for(condition, timeout=timeout, what=what)
        except AssertionError as error:
            logs = "\n".join(f"--- {p.name} ({'running' if p.running else f'exited {p.process.returncode}'}):\n"
                             f"{p.tail()}" for p in (self.web, self.worker) if p is not None)
            raise AssertionError(f"{error}\n{logs}") from None

    # ------------------------------------------------------------------ the database, read and travelled

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(text(sql), params).mappings())

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def make_due(self, agreement_id: int) -> None:
        """Travel to the agreement's next due date: it becomes due now."""
        now = datetime.now(timezone.utc) - timedelta(seconds=1)
        with self.engine.begin() as connection:
            moved = connection.execute(update(Agreement).where(Agreement.id == agreement_id,
                                                               Agreement.next_charge_at.is_not(None))
                                       .values(next_charge_at=now))
            assert moved.rowcount == 1, f"agreement {agreement_id} has no next charge to travel to"

    def renew(self, agreement_id: int, cycle: int, hold: Any = None, timeout: float = 120.0) -> None:
        """Make the agreement due and wait until abonne recorded the shop's renewal order of `cycle`. With `hold` (a
        proxy Hold on the call that creates the order), the worker is SIGKILLed after the shop created the order
        and before abonne heard back; a new worker must then find that order instead of making another."""
        key = f"renewal:{agreement_id}:{cycle}"
        self.make_due(agreement_id)
        if hold is not None:
            self.wait_for(hold.reached.is_set, f"the shop to create the renewal order of cycle {cycle}", timeout=90)
            self.worker.kill()
            hold.release.set()
            assert self.scalar("SELECT state FROM outbox WHERE dedupe_key = :k", k=key) != "done"
            self.end_lease(key)
            self.start_worker()
        self.wait_for(lambda: self.scalar("SELECT state FROM outbox WHERE dedupe_key = :k", k=key) == "done",
                      f"abonne to record the renewal order of cycle {cycle}", timeout=timeout)

    def end_lease(self, dedupe_key: str) -> None:
        """As if outbox.LEASE had passed since a killed worker claimed this message."""
        with self.engine.begin() as connection:
            leased = connection.execute(select(OutboxMessage.next_attempt_at)
                                        .where(OutboxMessage.dedupe_key == dedupe_key)).scalar_one()
            connection.execute(update(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
                               .values(next_attempt_at=leased - outbox.LEASE))

    def retry_now(self, dedupe_key: str) -> None:
        """Travel to the message's next attempt (its backoff after a failed push)."""
        with self.engine.begin() as connection:
            moved = connection.execute(update(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key,
                                                                   OutboxMessage.state == "pending")
                                       .values(next_attempt_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
            assert moved.rowcount == 1, f"no pending message {dedupe_key} to retry"

    def dispose(self) -> None:
        self.stop()
        self.engine.dispose()
