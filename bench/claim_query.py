"""The due-claim query at 10k, 100k and 1M agreements on PostgreSQL: its time and its plan.

Run: .venv/bin/python bench/claim_query.py [--sizes 10000,100000,1000000] [--postgres URL]
One fresh database grows to each size with bulk SQL (generate_series, copying one agreement the pay flow would
have left): active monthly agreements (plus 5% paused and 5% cancelled) with one paid charge each, due dates spread
evenly over 30 days, so a thirtieth of them is due now, as on any day of a steady book. The statement measured is
the one the worker itself sends: renew.claim runs once and the SELECT ... FOR UPDATE SKIP LOCKED it sends is
captured, then timed (median of 7, each in a transaction rolled back) and explained with EXPLAIN (ANALYZE, BUFFERS).
Target: an index scan, no sequential scan of agreements or charges, and a time that stays flat as the book grows.
Prints the figures and records them in bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import finish  # noqa: E402
from bench.renewals import Database, postgres_admin_url  # noqa: E402

FLAT_FACTOR = 3.0  # 1M agreements may take at most this many times what 10k take ("flat")


def prepare(admin_url: str, work: Path) -> tuple[Database, Any, int]:
    """A migrated database with a shop and one template agreement (its order record, checkout and first charge)."""
    from click.testing import CliRunner
    from sqlalchemy import insert

    from bridge.app import build_bridge
    from bridge.cli import main as cli_main
    from bridge.config import Settings
    from bridge.store.db import migrate
    from bridge.store.tables import Charge
    from tests.integration.test_worker_race import seed_due_agreements

    database = Database("postgresql", work, admin_url)
    env = {"ABONNE_DATABASE_URL": database.url, "ABONNE_SECRET_KEY": secrets.token_urlsafe(32),
           "ABONNE_PUBLIC_URL": "http://127.0.0.1:9", "ABONNE_INSTANCE_PATH": str(work / "instance")}
    migrate(database.url)
    result = CliRunner().invoke(cli_main, ["shop", "add", "--platform", "woocommerce", "--url", "http://127.0.0.1:9/",
                                           "--consumer-key", "ck_bench", "--consumer-secret", "cs_bench",
                                           "--webhook-secret", "s", "--skip-check"], env=env)
    assert result.exit_code == 0, result.output
    bridge = build_bridge(Settings.from_env(env))
    now = datetime.now(timezone.utc)
    [template] = seed_due_agreements(bridge, 1, "11", ["bench-card-token"], ["1"], now + timedelta(days=3650))
    with bridge.db.engine.begin() as connection:
        connection.execute(insert(Charge).values(
            agreement_id=template, cycle=1, attempt=1, gateway_order_id="seed-template", source="hosted_page",
            amount_minor=1990, currency="EUR", state="succeeded", transaction_ref="seed", status_code="",
            decline="", message="", checks=0, shop_order_id="", created_at=now - timedelta(days=30)))
    return database, bridge, template


def grow(bridge: Any, template: int, start: int, stop: int) -> float:
    """Agreements start+1..stop copied from the template, each with its own order id, state, due date and first
    charge. Returns the seconds it took."""
    from sqlalchemy import text
    started = time.perf_counter()
    with bridge.db.engine.begin() as connection:
        columns = [row[0] for row in connection.execute(text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'agreements' AND column_name "
            "NOT IN ('id', 'order_id', 'state', 'next_charge_at') ORDER BY ordinal_position"))]
        listed = ", ".join(columns)
        # A thirtieth due now (spread over the last day), the rest over the next 29 days; every 20th paused and
        # every 20th (offset) cancelled, as a book of some age holds them.
        connection.execute(text(
            f"INSERT INTO agreements (order_id, state, next_charge_at, {listed}) "
            f"SELECT 'bulk-' || g, CASE WHEN g % 20 = 7 THEN 'paused' WHEN g % 20 = 13 THEN 'cancelled' "
            f"ELSE 'active' END, CASE WHEN g % 20 = 13 THEN NULL "
            f"ELSE now() - interval '1 day' + (g % 30) * interval '1 day' + (g % 997) * interval '1 minute' END, "
            f"{listed} FROM agreements, generate_series(CAST(:start AS integer), CAST(:stop AS integer)) AS g WHERE agreements.id = :template"),
            {"start": start + 1, "stop": stop, "template": template})
        connection.execute(text(
            "INSERT INTO charges (agreement_id, cycle, attempt, gateway_order_id, source, amount_minor, currency, "
            "state, transaction_ref, status_code, decline, message, checks, shop_order_id, created_at) "
            "SELECT id, 1, 1, 'seed-' || id, 'hosted_page', amount_minor, currency, 'succeeded', 'seed', '', '', '', "
            "0, '', created_at FROM agreements WHERE order_id LIKE 'bulk-%' AND NOT EXISTS "
            "(SELECT 1 FROM charges WHERE charges.agreement_id = agreements.id)"))
    with bridge.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE agreements"))
        connection.execute(text("VACUUM ANALYZE charges"))
    return time.perf_counter() - started


class Captured(Exception):
    pass


def captured_claim(bridge: Any) -> tuple[str, Any]:
    """The SELECT ... FOR UPDATE SKIP LOCKED the worker's claim sends, with its parameters, captured and stopped
    before it runs: the measured database stays as seeded."""
    from sqlalchemy import event

    from bridge.services import renew

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "FOR UPDATE" in statement and "agreements" in statement:
            raise Captured(statement, parameters)

    event.listen(bridge.db.engine, "before_cursor_execute", capture)
    try:
        renew.claim(bridge, 200, renew.RenewReport())
    except Captured as captured:
        return captured.args
    finally:
        event.remove(bridge.db.engine, "before_cursor_execute", capture)
    raise AssertionError("the claim sent no SELECT ... FOR UPDATE on agreements")


def measure(bridge: Any, statement: str, parameters: Any) -> dict[str, Any]:
    times, rows = [], 0
    raw = bridge.db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for _ in range(7):
            started = time.perf_counter()
            cursor.execute(statement, parameters)
            rows = len(cursor.fetchall())
            times.append((time.perf_counter() - started) * 1000)
            raw.rollback()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        raw.rollback()
    finally:
        raw.close()
    return {"ms": statistics.median(times), "rows": rows, "plan": plan,
            "seq_scans": sorted(set(re.findall(r"Seq Scan on (\w+)", plan))),
            "indexes": sorted(set(re.findall(r"Index (?:Only )?Scan using (\w+)", plan))
                              | set(re.findall(r"Bitmap Index Scan on (\w+)", plan)))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL (default ABONNE_TEST_DATABASE_URL)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    admin_url = postgres_admin_url(args.postgres)
    if admin_url is None:
        raise SystemExit("the claim query is measured on PostgreSQL: set ABONNE_TEST_DATABASE_URL")
    work = Path(tempfile.mkdtemp(prefix="abonne-bench-claim-"))
    database, bridge, template = prepare(admin_url, work)
    figures: dict[str, Any] = {}
    results = {}
    load_before = os.getloadavg()[0]
    try:
        have = 1
        for size in sizes:
            seeded = grow(bridge, template, have, size)
            have = size
            statement, parameters = captured_claim(bridge)
            result = results[size] = measure(bridge, statement, parameters)
            print(f"{size} agreements (seeded in {seeded:.1f} s): {result['ms']:.2f} ms for {result['rows']} rows; "
                  f"indexes {result['indexes']}; seq scans {result['seq_scans'] or 'none'}", flush=True)
            print(result["plan"], flush=True)
            figures[f"{size:,} agreements: claim (200 due, FOR UPDATE SKIP LOCKED) median ms"] = (
                f"{result['ms']:.2f} ({result['rows']} rows; indexes: {', '.join(result['indexes']) or 'none'}; "
                f"sequential scans: {', '.join(result['seq_scans']) or 'none'})")
    finally:
        bridge.db.dispose()
        database.drop()
        shutil.rmtree(work, ignore_errors=True)
    smallest, largest = results[sizes[0]], results[sizes[-1]]
    ratio = largest["ms"] / smallest["ms"]
    indexed = all(not r["seq_scans"] and r["indexes"] for r in results.values())
    flat = ratio <= FLAT_FACTOR
    figures[f"{sizes[-1]:,} ÷ {sizes[0]:,} time (target ≤ {FLAT_FACTOR:g}×: flat)"] = (
        f"{ratio:.2f}×: {'met' if flat else 'NOT met'}")
    figures["plan uses an index, no sequential scan (target)"] = "met" if indexed else "NOT met"
    figures[f"plan at {sizes[-1]:,}"] = "<br>".join(
        f"`{line.strip()}`" for line in largest["plan"].splitlines()
        if re.search(r"Scan|Limit|Sort|Lock|Anti|Loop|Execution Time", line))
    finish("Due-claim query (bench/claim_query.py)",
           "The SELECT ... FOR UPDATE SKIP LOCKED that renew.claim sends (captured from a real claim, rolled back), "
           "on PostgreSQL, in one fresh database grown with generate_series to each size: agreements copied from "
           "one the pay flow left, 90% active, 5% paused, 5% cancelled, due dates spread over 30 days (a thirtieth "
           "due now), one paid charge each; VACUUM ANALYZE after each growth. Time: median of 7 runs, each rolled "
           "back. Plan: EXPLAIN (ANALYZE, BUFFERS), its scan, sort and limit lines shown.", figures, load_before)


if __name__ == "__main__":
    main()
