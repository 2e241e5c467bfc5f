"""Renewal throughput: stored-card charges per second against the stand-in myPOS, with and without gateway latency.

Run: .venv/bin/python bench/renewals.py [--agreements 1000] [--sweep-agreements 400] [--postgres URL]
For each setup: a fresh database (SQLite file; PostgreSQL when --postgres or ABONNE_TEST_DATABASE_URL names a
reachable server, in a database created and dropped here), the gateway and a shop connected through the CLI, N
active agreements due now written straight into the database, each with its own card token in the stand-in myPOS.
Then the renewal step of the worker runs as `abonne worker` runs it, in this process: passes of renew_due (claim up
to 200, write the pending charges ahead, IPCIAPurchase with ABONNE_GATEWAY_CONCURRENCY calls in flight, settle each:
charge succeeded, agreement advanced, renewal order queued) until nothing is due. Renewal orders are queued, not
pushed (a shop is paced on its own). The stand-in myPOS runs in a child process (so it does not share this
process's interpreter lock), with `latency_s` added before it handles each call, as a distant gateway would.
Prints the figures and records them in bench/RESULTS.md. Traffic goes to 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.child import Child  # noqa: E402
from bench.results import record  # noqa: E402


# ------------------------------------------------------------------------------------------ the stand-in process

def serve_standin(threads: int) -> None:
    """Child process: the stand-in myPOS, driven by one-line commands on stdin, answering one JSON line each."""
    import logging

    from adapters.mypos.standin import MyPosStandin
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # calls queue for a thread at 64 in flight
    standin = MyPosStandin.start(threads=threads)
    reply = {"endpoint": standin.endpoint, "certificate_pem": standin.certificate_pem}
    print(json.dumps(reply), flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "cards":
            reply = [standin.register_card("4006090000000007", "3012") for _ in range(int(argument))]
        elif command == "latency":
            standin.latency_s = float(argument)
            reply = "ok"
        elif command == "ledger":
            paid = [t for t in standin.ledger if t.method == "IPCIAPurchase" and t.status == "paid"]
            reply = {"paid": len(paid), "calls": sum(1 for m, _ in standin.calls if m == "IPCIAPurchase")}
        print(json.dumps(reply), flush=True)
    standin.stop()


class Standin(Child):
    def __init__(self, threads: int = 64):
        super().__init__(__file__, str(threads))
        self.endpoint, self.certificate_pem = self.hello["endpoint"], self.hello["certificate_pem"]


# ------------------------------------------------------------------------------------------ one run

def postgres_admin_url(given: str | None) -> str | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    url = given or os.environ.get("ABONNE_TEST_DATABASE_URL")
    if not url:
        print("no PostgreSQL named (--postgres or ABONNE_TEST_DATABASE_URL): SQLite only")
        return None
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # unreachable: the PostgreSQL figures are left out, and the output says so
        print(f"PostgreSQL at {parsed.render_as_string()} is not reachable ({type(error).__name__}); SQLite only")
        return None
    return parsed.render_as_string(hide_password=False)


class Database:
    """A fresh, migrated database for one run; dropped (PostgreSQL) or left in a temporary folder (SQLite)."""

    def __init__(self, kind: str, work: Path, admin_url: str | None):
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url
        self.kind, self._admin, self._name = kind, None, ""
        if kind == "sqlite":
            self.url = f"sqlite:///{work / f'bench-{secrets.token_hex(4)}.db'}"
        else:
            self._name = f"abonne_bench_{secrets.token_hex(6)}"
            self._admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with self._admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{self._name}"'))
            self.url = make_url(admin_url).set(database=self._name).render_as_string(hide_password=False)

    def drop(self) -> None:
        from sqlalchemy import text
        if self._admin is not None:
            with self._admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)'))
            self._admin.dispose()


def run(standin: Standin, kind: str, admin_url: str | None, work: Path, agreements: int, latency_ms: int,
        concurrency: int) -> dict[str, Any]:
    from click.testing import CliRunner
    from sqlalchemy import update

    from bridge.app import build_bridge
    from bridge.cli import main as cli_main
    from bridge.config import Settings
    from bridge.services.renew import renew_due
    from bridge.store.db import migrate
    from bridge.store.tables import Shop
    from tests.fixture_files import MYPOS
    from tests.integration.test_worker_race import seed_due_agreements

    database = Database(kind, work, admin_url)
    try:
        env = {"ABONNE_DATABASE_URL": database.url, "ABONNE_SECRET_KEY": secrets.token_urlsafe(32),
               "ABONNE_PUBLIC_URL": "http://127.0.0.1:9", "ABONNE_INSTANCE_PATH": str(work / "instance"),
               "ABONNE_GATEWAY_CONCURRENCY": str(concurrency)}
        migrate(database.url)
        certificate = work / "mypos-standin.pem"
        certificate.write_text(standin.certificate_pem)
        runner = CliRunner()
        for args in (["gateway", "set", "--sid", "000000000000010", "--wallet-number", "61938166610", "--key-index",
                      "1", "--private-key", str(MYPOS / "test-merchant-private-key.pem"), "--certificate",
                      str(certificate), "--endpoint", standin.endpoint],
                     ["shop", "add", "--platform", "woocommerce", "--url", "http://127.0.0.1:9/", "--consumer-key",
                      "ck_bench", "--consumer-secret", "cs_bench", "--webhook-secret", "s", "--skip-check"]):
            result = runner.invoke(cli_main, args, env=env)
            assert result.exit_code == 0, result.output
        bridge = build_bridge(Settings.from_env(env))
        now = datetime.now(timezone.utc)
        tokens = standin.ask(f"cards {agreements}")
        seed_due_agreements(bridge, 1, "11", tokens, [str(10_000 + n) for n in range(agreements)],
                            now - timedelta(minutes=1))
        with bridge.db.engine.begin() as connection:
            connection.execute(update(Shop).values(reconcile_due_at=now + timedelta(days=1)))
        standin.ask(f"latency {latency_ms / 1000}")
        before = standin.ask("ledger")
        charged = passes = 0
        started = time.perf_counter()
        while True:
            report = renew_due(bridge)
            if not report.attempts:
                break
            assert report.charged == report.attempts, report.summary()
            charged += report.charged
            passes += 1
        elapsed = time.perf_counter() - started
        after = standin.ask("ledger")
        assert charged == agreements == after["paid"] - before["paid"] == after["calls"] - before["calls"]
        bridge.db.dispose()
        return {"renewals": charged, "seconds": round(elapsed, 2), "per_s": round(charged / elapsed, 1),
                "passes": passes}
    finally:
        database.drop()


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-standin":
        serve_standin(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--agreements", type=int, default=1000)
    parser.add_argument("--sweep-agreements", type=int, default=400,
                        help="agreements for the concurrency sweep at 200 ms (at 4 in flight: 20 per second)")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL (default ABONNE_TEST_DATABASE_URL)")
    args = parser.parse_args()

    admin_url = postgres_admin_url(args.postgres)
    databases = ["sqlite"] + (["postgresql"] if admin_url else [])
    work = Path(tempfile.mkdtemp(prefix="abonne-bench-renewals-"))
    standin = Standin(threads=64)
    load_before = os.getloadavg()[0]
    figures: dict[str, Any] = {}
    try:
        for kind in databases:
            for latency_ms in (0, 200):
                result = run(standin, kind, admin_url, work, args.agreements, latency_ms, 16)
                print(f"{kind}, {latency_ms} ms gateway latency, 16 in flight: {result}", flush=True)
                figures[f"{kind}, {latency_ms} ms latency, 16 in flight: renewals/s"] = (
                    f"{result['per_s']} ({result['renewals']} in {result['seconds']} s)")
        for kind in databases:
            for concurrency in (4, 16, 32, 64):
                result = run(standin, kind, admin_url, work, args.sweep_agreements, 200, concurrency)
                print(f"{kind}, 200 ms gateway latency, {concurrency} in flight: {result}", flush=True)
                figures[f"{kind}, 200 ms latency, ABONNE_GATEWAY_CONCURRENCY={concurrency}: renewals/s"] = (
                    f"{result['per_s']} ({result['renewals']} in {result['seconds']} s)")
    finally:
        standin.stop()
    # The machine is shared: the load says how much of the 2 cores the run really had.
    figures["load average (1 min) before / after"] = f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
    print(json.dumps(figures, indent=2))
    record("Renewals (bench/renewals.py)",
           f"The worker's renewal step (renew_due passes of up to 200: claim, pending charge written ahead, "
           f"IPCIAPurchase with the stored token, settle: charge succeeded, agreement advanced, renewal order queued) "
           f"in one process against the stand-in myPOS in another (64 threads, `latency_s` added before each call); "
           f"{args.agreements} due agreements per run, {args.sweep_agreements} for the concurrency sweep; fresh "
           f"database per run; {' and '.join(databases)}; one machine of 2 cores shared with other work. Every run "
           f"checks the ledger: exactly one paid IPCIAPurchase per agreement.", figures)


if __name__ == "__main__":
    main()
