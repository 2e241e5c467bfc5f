"""Webhook intake under gunicorn, beside a bare Flask endpoint under the same gunicorn settings.

Run: .venv/bin/python bench/intake_vs_bare.py [--seconds 8] [--connections 32] [--postgres URL]
Both apps are served by gunicorn with deploy/gunicorn.conf.py (workers from the CPU count, gthread, JSON access
log), one after the other on a free port: abonne (`bridge.app:create_app()`, PostgreSQL, a WooCommerce shop
connected through the CLI) and bench/bare_app.py (reads the body, answers 200). Both get the same requests: real
WooCommerce order.created deliveries (the captured 10.0.2 body, each with its own order id, signed as WooCommerce
signs), sent once each.

1. Maximum: wrk (Debian package; `make bench` installs it) with bench/deliveries.lua, `--connections` open for
   `--seconds`: requests/s, p50 and p99 (wrk measures closed-loop: each connection waits for its answer).
2. Fixed rate: an open-loop client (below, two processes) sends at half of the bare endpoint's maximum for
   `--seconds`, each request at its appointed time whether or not earlier ones have been answered; latency counts
   from the appointed time, so a stall shows in full (no coordinated omission).
Targets: abonne at least 50% of the bare endpoint's requests/s; abonne's p99 under 50 ms at half the bare
endpoint's maximum. Every request must be answered 200 and every delivery stored once. Prints the figures and
records them in bench/RESULTS.md. Traffic goes to 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import re
import runpy
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.woocommerce.webhook import signature  # noqa: E402
from bench.harness import cpu_seconds, database_cpu_seconds, finish  # noqa: E402
from bench.renewals import Database, postgres_admin_url  # noqa: E402

CAPTURED = ROOT / "tests/fixtures/woocommerce-10.0.2/webhooks/0005_order-created.body"
GUNICORN_CONF = ROOT / "deploy/gunicorn.conf.py"
SECRET = "bench-intake-secret"
TARGET_SHARE = 0.5
TARGET_P99_MS = 50.0
WRK_THREADS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_deliveries(path: Path, count: int, first_order_id: int) -> None:
    template = CAPTURED.read_bytes()
    assert template.startswith(b'{"id":14,') and b"\n" not in template
    with path.open("wb") as out:
        for order_id in range(first_order_id, first_order_id + count):
            body = b'{"id":%d,' % order_id + template[len(b'{"id":14,'):]
            out.write(signature(SECRET, body).encode() + b"\t" + body + b"\n")


def read_deliveries(path: Path) -> list[tuple[str, bytes]]:
    deliveries = []
    for line in path.read_bytes().splitlines():
        sig, _, body = line.partition(b"\t")
        deliveries.append((sig.decode(), body))
    return deliveries


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# ------------------------------------------------------------------------------------------ gunicorn

class Gunicorn:
    def __init__(self, app: str | None, env: dict[str, str], port: int):
        args = [str(ROOT / ".venv/bin/gunicorn"), "--config", str(GUNICORN_CONF)] + ([app] if app else [])
        self.process = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env,
                                                             "ABONNE_WEB_BIND": f"127.0.0.1:{port}"},
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = port
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/nothing-here")
                connection.getresponse().read()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn ({app or 'deploy/gunicorn.conf.py'}) did not start")
                time.sleep(0.2)
        time.sleep(1.0)  # every worker process has booted, not just the first one to answer

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)

    def cpu_seconds(self) -> float:
        """CPU time used so far by the web processes (gunicorn's workers)."""
        children = [int(pid) for pid in Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
                    .read_text().split()]
        return sum(cpu_seconds(pid) for pid in children)


# ------------------------------------------------------------------------------------------ load

def wrk(url: str, deliveries: Path, seconds: float, connections: int) -> dict[str, Any]:
    """Maximum requests/s with wrk, and its latency percentiles."""
    output = subprocess.run(
        ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s",
         "-s", str(ROOT / "bench/deliveries.lua"), url],
        env={**os.environ, "BENCH_DELIVERIES": str(deliveries), "BENCH_THREADS": str(WRK_THREADS)},
        capture_output=True, text=True, check=True).stdout

    def latency(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {"per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "requests": int(re.search(r"(\d+) requests in", output).group(1)),
            "p50_ms": latency("50%"), "p99_ms": latency("99%"),
            "not_200": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(1) if errors else ""}


def _open_loop_part(port: int, path: str, deliveries: list[tuple[str, bytes]], rate: float, start_at: float,
                    offset: float, give_up_at: float, results: Any) -> None:
    """One process of the open-loop client: request i goes at start_at + offset + i / rate (wall clock); none is
    sent after give_up_at (a server that fell that far behind has failed the run; the rest count as dropped)."""
    latencies: list[float] = []
    failures = dropped = 0
    lock = threading.Lock()
    counter = iter(range(len(deliveries)))

    def sender() -> None:
        nonlocal failures, dropped
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            due = start_at + offset + i / rate
            if time.time() > give_up_at:
                with lock:
                    dropped += 1
                continue
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            sig, body = deliveries[i]
            try:
                connection.request("POST", path, body=body, headers={
                    "Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created",
                    "X-WC-Webhook-Resource": "order", "X-WC-Webhook-Event": "created",
                    "X-WC-Webhook-Signature": sig})
                answer = connection.getresponse()
                answer.read()
                ok = answer.status == 200
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            elapsed = (time.time() - due) * 1000
            with lock:
                latencies.append(elapsed)
                failures += 0 if ok else 1

    threads = [threading.Thread(target=sender) for _ in range(48)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((latencies, failures, dropped))


def open_loop(port: int, path: str, deliveries: list[tuple[str, bytes]], rate: float,
              seconds: float) -> dict[str, Any]:
    """Fixed arrival rate from two processes (each half the rate, interleaved), latency from the appointed time."""
    total = int(rate * seconds)
    parts = 2
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start_at = time.time() + 1.0
    give_up_at = start_at + seconds * 1.5 + 2
    processes = [context.Process(target=_open_loop_part, args=(
        port, path, deliveries[part:total:parts], rate / parts, start_at, part / rate, give_up_at, results))
        for part in range(parts)]
    for process in processes:
        process.start()
    latencies: list[float] = []
    failures = dropped = 0
    for _ in processes:
        part_latencies, part_failures, part_dropped = results.get()
        latencies += part_latencies
        failures += part_failures
        dropped += part_dropped
    for process in processes:
        process.join()
    # A request never sent counts as slower than any answered one.
    ranked = latencies + [float("inf")] * dropped
    return {"rate": rate, "requests": len(latencies), "failures": failures, "dropped": dropped,
            "p50_ms": statistics.median(ranked), "p99_ms": percentile(ranked, 99), "max_ms": max(ranked)}


# ------------------------------------------------------------------------------------------ main

def abonne_env(database_url: str, work: Path) -> tuple[dict[str, str], int]:
    from click.testing import CliRunner

    from bridge.cli import main as cli_main
    from bridge.store.db import migrate
    env = {"ABONNE_DATABASE_URL": database_url, "ABONNE_SECRET_KEY": secrets.token_urlsafe(32),
           "ABONNE_PUBLIC_URL": "http://127.0.0.1:9", "ABONNE_INSTANCE_PATH": str(work / "instance"),
           "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics")}
    migrate(database_url)
    result = CliRunner().invoke(cli_main, ["shop", "add", "--platform", "woocommerce", "--url",
                                           "http://127.0.0.1:9/", "--consumer-key", "ck_bench", "--consumer-secret",
                                           "cs_bench", "--webhook-secret", SECRET, "--skip-check"], env=env)
    assert result.exit_code == 0, result.output
    return env, int(re.search(r"shop (\d+) added", result.output).group(1))


def stored(database_url: str) -> int:
    from sqlalchemy import create_engine, text
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM deliveries")).scalar_one()
    finally:
        engine.dispose()


def run_app(name: str, app: str | None, env: dict[str, str], path: str, work: Path, seconds: float,
            connections: int, first_order_id: int,
            rates_of: Any) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]], int]:
    """wrk at maximum, then the open-loop client at each (label, rate) of rates_of(wrk result); returns both and the
    number of requests sent."""
    port = free_port()
    flood = work / f"{name}-flood.tsv"
    write_deliveries(flood, 40_000, first_order_id)
    server = Gunicorn(app, env, port)
    steady_runs = []
    database_url = env.get("ABONNE_DATABASE_URL")
    try:
        app_cpu, database_cpu = server.cpu_seconds(), database_cpu_seconds(database_url)
        maximum = wrk(f"http://127.0.0.1:{port}{path}", flood, seconds, connections)
        # Read at once: the backends of the web processes' pooled connections are still there.
        maximum["app_cpu_ms"] = (server.cpu_seconds() - app_cpu) * 1000 / maximum["requests"]
        maximum["database_cpu_ms"] = (database_cpu_seconds(database_url) - database_cpu) * 1000 / maximum["requests"]
        print(f"{name}: wrk {maximum}", flush=True)
        for n, (label, rate) in enumerate(rates_of(maximum)):
            steady = work / f"{name}-steady.tsv"
            write_deliveries(steady, int(rate * seconds) + 10, first_order_id + 1_000_000 * (n + 1))
            fixed = open_loop(port, path, read_deliveries(steady), rate, seconds)
            print(f"{name}: open loop at {rate:.0f}/s {fixed}", flush=True)
            steady_runs.append((label, fixed))
    finally:
        server.stop()
    return maximum, steady_runs, maximum["requests"] + sum(fixed["requests"] for _, fixed in steady_runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL (default ABONNE_TEST_DATABASE_URL)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: `make bench` installs it (apt-get install wrk)")
    if not GUNICORN_CONF.exists():
        raise SystemExit(f"{GUNICORN_CONF} is missing")
    admin_url = postgres_admin_url(args.postgres)
    if admin_url is None:
        raise SystemExit("webhook intake is measured on PostgreSQL, as deployed: set ABONNE_TEST_DATABASE_URL")
    work = Path(tempfile.mkdtemp(prefix="abonne-bench-intake-"))
    database = Database("postgresql", work, admin_url)
    load_before = os.getloadavg()[0]
    half_bare = "half the bare maximum"
    try:
        env, shop_id = abonne_env(database.url, work)
        path = f"/webhooks/woocommerce/{shop_id}"
        bare_max, bare_steady, _ = run_app("bare Flask", "bench.bare_app:app", {}, path, work, args.seconds,
                                           args.connections, 100_000,
                                           lambda result: [(half_bare, result["per_s"] / 2)])
        abonne_max, abonne_steady, sent = run_app(
            "abonne", None, env, path, work, args.seconds, args.connections, 5_000_000,
            lambda result: [(half_bare, bare_max["per_s"] / 2), ("half its own maximum", result["per_s"] / 2)])
        kept = stored(database.url)
    finally:
        database.drop()
        shutil.rmtree(work, ignore_errors=True)
    share = abonne_max["per_s"] / bare_max["per_s"]
    share_met = share >= TARGET_SHARE
    at_half_bare = dict(abonne_steady)[half_bare]
    p99_met = at_half_bare["p99_ms"] < TARGET_P99_MS and not at_half_bare["failures"]
    config = runpy.run_path(str(GUNICORN_CONF))
    figures: dict[str, Any] = {}
    for name, maximum, steady_runs in (("bare Flask", bare_max, bare_steady), ("abonne", abonne_max, abonne_steady)):
        figures[f"{name}: maximum requests/s (wrk, {args.connections} connections; p50 / p99 ms)"] = (
            f"{maximum['per_s']:.0f} ({maximum['p50_ms']:.1f} / {maximum['p99_ms']:.1f}; {maximum['requests']} "
            f"requests, {maximum['not_200']} not 200"
            + (f"; socket errors {maximum['socket_errors']}" if maximum["socket_errors"] else "") + ")")
        per_request = maximum["app_cpu_ms"] + maximum["database_cpu_ms"]
        figures[f"{name}: CPU ms per request at maximum, web processes / PostgreSQL backends (most the "
                f"{os.cpu_count()} cores could answer at that cost)"] = (
            f"{maximum['app_cpu_ms']:.2f} / {maximum['database_cpu_ms']:.2f} "
            f"({(os.cpu_count() or 1) * 1000 / per_request:.0f}/s)")
        for label, fixed in steady_runs:
            figures[f"{name}: at {fixed['rate']:.0f}/s fixed rate ({label}), p50 / p99 / max ms"] = (
                f"{ms(fixed['p50_ms'])} / {ms(fixed['p99_ms'])} / {ms(fixed['max_ms'])} ({fixed['requests']} "
                f"answered, {fixed['failures']} not 200"
                + (f", {fixed['dropped']} never sent: the server fell behind" if fixed["dropped"] else "") + ")")
    figures[f"abonne ÷ bare requests/s (target ≥ {TARGET_SHARE:.0%})"] = (
        f"{share:.0%}: {'met' if share_met else 'NOT met'}")
    figures[f"abonne p99 at half the bare maximum (target < {TARGET_P99_MS:g} ms)"] = (
        f"{ms(at_half_bare['p99_ms'])} ms: {'met' if p99_met else 'NOT met'}")
    figures["deliveries stored by abonne / requests answered (each a distinct delivery)"] = f"{kept} / {sent}"
    finish("Webhook intake beside a bare Flask endpoint (bench/intake_vs_bare.py)",
           f"`POST /webhooks/woocommerce/<id>` with real signed deliveries (the captured WooCommerce 10.0.2 "
           f"order.created body, each with its own order id, each sent once) against abonne on PostgreSQL, and the "
           f"same requests against bench/bare_app.py (a Flask endpoint that reads the body and answers 200); both "
           f"under gunicorn with deploy/gunicorn.conf.py ({config['workers']} {config['worker_class']} workers × "
           f"{config['threads']} threads here, JSON access log). Maximum: wrk ({WRK_THREADS} threads, "
           f"bench/deliveries.lua) for {args.seconds:g} s, closed loop. Fixed rate: an open-loop client (2 "
           f"processes) for {args.seconds:g} s, latency counted from each request's appointed time (a request not "
           f"sent {args.seconds * 0.5 + 2:g} s after the run's end counts as slower than all). Client and servers "
           f"share the machine's {os.cpu_count()} cores with other work.", figures, load_before)


def ms(value: float) -> str:
    return "∞" if value == float("inf") else f"{value:.1f}"


if __name__ == "__main__":
    main()
