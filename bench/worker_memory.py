"""Worker memory through a long renewal run: one `abonne worker` process on PostgreSQL, its RSS sampled over time.

Run: .venv/bin/python bench/worker_memory.py [--renewals 10000]
The issue asks for 100k renewals; at this machine's rate that alone would take longer than the whole `make bench`
budget, so the default run is 10k and the figures say how the RSS would stand at 100k if it kept its slope. Setup as
bench/renewals_e2e.py: the stand-in myPOS and WooCommerce in child processes, N agreements made due at once once the
worker is idle; the worker charges them all and pushes every renewal order into the shop. /proc/<pid>/status VmRSS
is read every half second. Target: flat, not growing with the work: the RSS at the end at most 10% above the RSS
once a tenth of the work was done (the caches, pools and imports a worker builds once are in by then).
Prints the figures (the curve: RSS by renewals done) and records them in bench/RESULTS.md.
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

from bench import harness  # noqa: E402
from bench.renewals import Standin  # noqa: E402

TITLE = "Worker memory (bench/worker_memory.py)"
FLAT = 1.10
ASKED = 100_000


def slope_kib_per_1k(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of RSS (KiB) over renewals pushed, per 1000 renewals."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return 1000 * sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def measure(renewals: int) -> tuple[dict[str, Any], float]:
    admin_url = harness.admin_url_or_exit()
    work = Path(tempfile.mkdtemp(prefix="abonne-bench-memory-"))
    mypos, shop = Standin(threads=64), harness.ShopChild()
    load_before = os.getloadavg()[0]
    setup = harness.connect(admin_url, work, mypos, shop, {"ABONNE_WORKER_INTERVAL_SECONDS": "0.2"})
    worker = None
    rss: list[tuple[float, int]] = []  # (seconds, KiB)
    try:
        harness.seed(setup, mypos, shop, renewals)
        worker = harness.Workers.start(1, setup.env)
        time.sleep(1.5)
        idle_kib = worker.rss_kib()[0]
        harness.make_due(setup)
        started = time.perf_counter()
        last = [0.0]

        def sample(now: float) -> None:
            if now - last[0] >= 0.5:
                rss.append((now, worker.rss_kib()[0]))
                last[0] = now
        samples = harness.wait_until_pushed(setup, renewals, started, timeout_s=renewals / 5, on_sample=sample)
        rss.append((samples[-1][0], worker.rss_kib()[0]))
    finally:
        if worker is not None:
            worker.stop()
        setup.drop()
        mypos.stop()
        shop.stop()
        shutil.rmtree(work, ignore_errors=True)
    # RSS by renewals pushed: each RSS sample takes the progress sample nearest before it.
    by_work = []
    for t, kib in rss:
        done = max((pushed for when, _charged, pushed in samples if when <= t), default=0)
        by_work.append((done, kib))
    elapsed = samples[-1][0]
    tenth = next(kib for done, kib in by_work if done >= renewals / 10)
    end = by_work[-1][1]
    peak = max(kib for _, kib in by_work)
    slope = slope_kib_per_1k([(done, kib) for done, kib in by_work if done >= renewals / 10])
    at_asked = end + slope * (ASKED - renewals) / 1000
    flat = end <= tenth * FLAT
    step = max(1, len(by_work) // 8)
    curve = ", ".join(f"{done}: {kib / 1024:.0f}" for done, kib in by_work[::step] + [by_work[-1]])
    figures = {
        "renewals run (due → pushed), seconds, renewals/s": f"{renewals} in {elapsed:.1f} s, {renewals / elapsed:.1f}/s",
        "RSS MiB idle before the run / at a tenth of the work / peak / at the end": (
            f"{idle_kib / 1024:.1f} / {tenth / 1024:.1f} / {peak / 1024:.1f} / {end / 1024:.1f}"),
        "RSS MiB by renewals pushed": curve,
        "slope after the first tenth (KiB per 1000 renewals)": f"{slope:+.1f}",
        f"RSS at {ASKED:,} renewals if that slope held (MiB)": (
            f"{at_asked / 1024:.1f} (extrapolated from {renewals:,}; {ASKED:,} at this rate would take "
            f"{ASKED / (renewals / elapsed) / 60:.0f} min)"),
        f"end ÷ a tenth of the work (target ≤ {FLAT:.2f}: flat)": (
            f"{end / tenth:.3f}: {'met' if flat else 'NOT met'}"),
    }
    return figures, load_before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--renewals", type=int, default=10_000)
    args = parser.parse_args()
    figures, load_before = measure(args.renewals)
    harness.finish(TITLE, f"One `abonne worker` process (default settings, ABONNE_WORKER_INTERVAL_SECONDS=0.2) on "
                   f"PostgreSQL takes {args.renewals:,} renewals from due to pushed (stand-in myPOS and WooCommerce "
                   f"in child processes, 0 ms added latency); its VmRSS read every 0.5 s. The issue asks for "
                   f"{ASKED:,}: that run would not fit the 10-minute `make bench` on this machine, so the RSS at "
                   f"{ASKED:,} is extrapolated from the slope measured after the first tenth of this run "
                   f"(`.venv/bin/python bench/worker_memory.py --renewals 100000` runs the full one).",
                   figures, load_before)


if __name__ == "__main__":
    main()
