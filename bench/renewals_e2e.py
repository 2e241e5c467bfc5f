"""Renewals end to end with 1, 2 and 4 `abonne worker` processes on PostgreSQL, at 0 ms and 200 ms gateway latency.

Run: .venv/bin/python bench/renewals_e2e.py [--agreements 2000] [--workers 1,2,4] [--latencies 0,200]
For each (workers, latency): a fresh PostgreSQL database, the stand-in myPOS and the stand-in WooCommerce each in a
child process, the gateway and the shop connected through the CLI, N active agreements (each with its own card in
the stand-in myPOS and its own paid parent order in the shop) written in bulk and due later. The workers start (as
an operator starts them: `abonne worker`, ABONNE_WORKER_INTERVAL_SECONDS=0.2 so an idle worker looks again soon)
and once they are idle, all N agreements are made due in one statement and the clock starts. It stops when the
N-th renewal order is in the shop: every renewal claimed, charged against the stand-in myPOS (`latency_s` added
before each call), committed with its renewal order queued, and that order pushed to the shop. Each run checks
the ledger: exactly N paid IPCIAPurchase calls, N renewal orders in the shop, one per agreement.
Targets (4 workers): at least 300 renewals/s at 0 ms and 200/s at 200 ms. Prints the figures (and each run's
curve: renewals charged and pushed over time) and records them in bench/RESULTS.md, with the 100k-renewal day
computed from the 4-worker rates (bench/day.py).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import day, harness  # noqa: E402
from bench.renewals import Standin  # noqa: E402
from bench.results import record  # noqa: E402

TARGETS = {0: 300.0, 200: 200.0}  # renewals/s with 4 workers, by gateway latency in ms
TITLE = "Renewals end to end (bench/renewals_e2e.py)"
WORKER_ENV = {"ABONNE_WORKER_INTERVAL_SECONDS": "0.2"}


def run(admin_url: str, work: Path, mypos: Standin, shop: harness.ShopChild, agreements: int, workers: int,
        latency_ms: int, tuning: dict[str, str] | None = None) -> dict[str, Any]:
    setup = harness.connect(admin_url, work, mypos, shop, {**WORKER_ENV, **(tuning or {})})
    processes = None
    try:
        harness.seed(setup, mypos, shop, agreements)
        mypos.ask(f"latency {latency_ms / 1000}")
        ledger_before, shop_before = mypos.ask("ledger"), shop.ask("renewals")
        processes = harness.Workers.start(workers, setup.env)
        time.sleep(1.5)  # their first pass (the catch-up poll of the shop) is done: they are idle
        cpu_before = cpu_by_part(processes, mypos, shop, setup)
        harness.make_due(setup)
        started = time.perf_counter()
        samples = harness.wait_until_pushed(setup, agreements, started, timeout_s=max(120, agreements / 10))
        elapsed = samples[-1][0]
        # Read before the workers stop: their database backends end with their connections.
        cpu = {part: (seconds - cpu_before[part]) * 1000 / agreements
               for part, seconds in cpu_by_part(processes, mypos, shop, setup).items()}
        processes.stop()
        processes = None
        ledger, pushed = mypos.ask("ledger"), shop.ask("renewals") - shop_before
        paid = ledger["paid"] - ledger_before["paid"]
        calls = ledger["calls"] - ledger_before["calls"]
        assert paid == calls == agreements, f"{paid} paid and {calls} charge calls for {agreements} agreements"
        assert pushed == agreements, f"{pushed} renewal orders in the shop for {agreements} renewals"
        charged_at = next(t for t, charged, _ in samples if charged >= agreements)
        return {"per_s": agreements / elapsed, "seconds": elapsed, "charged_s": charged_at, "samples": samples,
                "cpu_ms": cpu}
    finally:
        if processes is not None:
            processes.stop()
        setup.drop()


def cpu_by_part(workers: harness.Workers, mypos: Standin, shop: harness.ShopChild,
                setup: harness.Setup) -> dict[str, float]:
    """CPU seconds used so far by each part of the run: where a renewal's cost lands on this machine's cores."""
    return {"workers": workers.cpu_seconds(), "PostgreSQL": harness.database_cpu_seconds(setup.database.url),
            "stand-in myPOS": harness.cpu_seconds(mypos.process.pid),
            "stand-in shop": harness.cpu_seconds(shop.process.pid)}


def cpu_text(cpu: dict[str, float]) -> str:
    return f"{sum(cpu.values()):.1f} (" + ", ".join(f"{part} {ms:.1f}" for part, ms in cpu.items()) + ")"


def curve(samples: list[tuple[float, int, int]], points: int = 6) -> str:
    step = max(1, len(samples) // points)
    picked = samples[step::step][:points - 1] + [samples[-1]]
    return ", ".join(f"{t:.0f} s: {charged}/{pushed}" for t, charged, pushed in picked)


def measure(agreements: int, worker_counts: list[int], latencies: list[int],
            tuned_concurrency: int = 0) -> tuple[dict[str, Any], dict[tuple[int, int], float], float]:
    """Every run's figures, the rates by (workers, latency) for the day computation, and the load before."""
    admin_url = harness.admin_url_or_exit()
    work = Path(tempfile.mkdtemp(prefix="abonne-bench-e2e-"))
    mypos, shop = Standin(threads=64), harness.ShopChild()
    load_before = os.getloadavg()[0]
    figures: dict[str, Any] = {}
    rates: dict[tuple[int, int], float] = {}
    cpu_ms: dict[tuple[int, int], float] = {}
    try:
        for latency_ms in latencies:
            for workers in worker_counts:
                result = run(admin_url, work, mypos, shop, agreements, workers, latency_ms)
                rates[(workers, latency_ms)] = result["per_s"]
                print(f"{workers} workers, {latency_ms} ms: {result['per_s']:.1f}/s ({agreements} in "
                      f"{result['seconds']:.1f} s, all charged at {result['charged_s']:.1f} s)", flush=True)
                figures[f"{latency_ms} ms gateway latency, {workers} worker{'s' if workers > 1 else ''}: "
                        f"renewals/s due → pushed"] = (
                    f"{result['per_s']:.1f} ({agreements} in {result['seconds']:.1f} s; all charged at "
                    f"{result['charged_s']:.1f} s; charged/pushed at {curve(result['samples'])})")
                figures[f"{latency_ms} ms, {workers} worker{'s' if workers > 1 else ''}: CPU ms per renewal"] = (
                    cpu_text(result["cpu_ms"]))
                cpu_ms[(workers, latency_ms)] = sum(result["cpu_ms"].values())
        if tuned_concurrency and 200 in latencies:
            # Not the default: what an operator with a distant gateway would set (README, Settings).
            result = run(admin_url, work, mypos, shop, agreements, 4, 200,
                         {"ABONNE_GATEWAY_CONCURRENCY": str(tuned_concurrency)})
            print(f"4 workers, 200 ms, ABONNE_GATEWAY_CONCURRENCY={tuned_concurrency}: {result['per_s']:.1f}/s",
                  flush=True)
            figures[f"200 ms gateway latency, 4 workers, ABONNE_GATEWAY_CONCURRENCY={tuned_concurrency} (tuned, not "
                    f"the default 16): renewals/s due → pushed"] = (
                f"{result['per_s']:.1f} ({agreements} in {result['seconds']:.1f} s; all charged at "
                f"{result['charged_s']:.1f} s)")
    finally:
        mypos.stop()
        shop.stop()
        shutil.rmtree(work, ignore_errors=True)
    for latency_ms in latencies:
        if (4, latency_ms) in rates and latency_ms in TARGETS:
            rate, target = rates[(4, latency_ms)], TARGETS[latency_ms]
            scale = rate / rates[(1, latency_ms)] if (1, latency_ms) in rates else None
            figures[f"{latency_ms} ms, 4 workers (target ≥ {target:g}/s)"] = (
                f"{rate:.1f}/s: {'met' if rate >= target else 'NOT met'}"
                + (f" ({scale:.2f}× one worker)" if scale else ""))
            # Everything runs on these cores: at that CPU per renewal they can do no more than this, whatever the
            # workers do (the rest of the machine's load not counted).
            cores = os.cpu_count() or 1
            figures[f"{latency_ms} ms, 4 workers: most this machine's {cores} cores could do at that CPU per renewal"] = (
                f"{cores * 1000 / cpu_ms[(4, latency_ms)]:.0f}/s")
    return figures, rates, load_before


def setup_text(agreements: int) -> str:
    return (f"Due → pushed: claim, pending charge written ahead, IPCIAPurchase against the stand-in myPOS (child "
            f"process, 64 threads, latency added before each call), settle (charge, agreement, queued renewal order "
            f"in one transaction), renewal order pushed to the stand-in WooCommerce (child process). `abonne worker` "
            f"processes as deployed (default ABONNE_GATEWAY_CONCURRENCY and ABONNE_SHOP_CONCURRENCY; "
            f"ABONNE_WORKER_INTERVAL_SECONDS=0.2), on PostgreSQL; {agreements} agreements made due at once per run, "
            f"fresh database per run; the clock stops when the last renewal order is in the shop. The curve gives "
            f"renewals charged/pushed at points of the run. Workers, stand-ins and PostgreSQL share the machine's "
            f"{os.cpu_count()} cores with other work.")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agreements", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--latencies", default="0,200")
    # 4 × 24 connections stay under the stand-in myPOS's 100 (waitress's connection limit); 32 would not.
    parser.add_argument("--tuned-gateway-concurrency", type=int, default=24,
                        help="one more run, 4 workers at 200 ms, with this ABONNE_GATEWAY_CONCURRENCY (0: none)")
    args = parser.parse_args()
    figures, rates, load_before = measure(args.agreements, [int(n) for n in args.workers.split(",")],
                                          [int(n) for n in args.latencies.split(",")],
                                          args.tuned_gateway_concurrency)
    harness.finish(TITLE, setup_text(args.agreements), figures, load_before)
    four_workers = {latency: rate for (workers, latency), rate in rates.items() if workers == 4}
    if four_workers:  # the 100k-renewal day, from the rates this run measured
        day_figures = day.compute(four_workers)
        for name, value in day_figures.items():
            print(f"{name}: {value}")
        record(day.TITLE, day.setup_text(), day_figures)


if __name__ == "__main__":
    main()
