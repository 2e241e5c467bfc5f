"""`make bench`: every figure issue 9 asks for, in one run, each script in its own process, under 10 minutes here.

Run: .venv/bin/python bench/suite.py   (needs ABONNE_TEST_DATABASE_URL naming a PostgreSQL server, and wrk)
In order: webhook intake beside a bare endpoint, the due-claim query at 10k/100k/1M agreements, renewals end to
end with 1/2/4 workers at 0 and 200 ms (which also writes the 100k-renewal day computed from its 4-worker rates),
and worker memory through a long run. Each writes its own section of bench/RESULTS.md; this one adds the run's
total time. The sizes here are chosen to fit the budget; each script's --help says how to run it bigger.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import record  # noqa: E402

BUDGET_S = 600
STEPS = (
    ("webhook intake beside a bare Flask endpoint", ["bench/intake_vs_bare.py", "--seconds", "8"]),
    ("due-claim query at 10k, 100k, 1M agreements", ["bench/claim_query.py"]),
    ("renewals end to end, 1/2/4 workers, 0/200 ms; the 100k day", ["bench/renewals_e2e.py", "--agreements", "2000"]),
    ("worker memory through a long run", ["bench/worker_memory.py", "--renewals", "8000"]),
)


def main() -> None:
    if not os.environ.get("ABONNE_TEST_DATABASE_URL"):
        raise SystemExit("make bench needs PostgreSQL: set ABONNE_TEST_DATABASE_URL, e.g. "
                         "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    figures = {}
    failed = []
    for name, command in STEPS:
        print(f"\n=== {name}: {' '.join(command)}", flush=True)
        step_started = time.perf_counter()
        result = subprocess.run([sys.executable, *command], cwd=ROOT)
        seconds = time.perf_counter() - step_started
        figures[f"{name} (`{' '.join(command)}`)"] = (
            f"{seconds:.0f} s" + ("" if result.returncode == 0 else f", FAILED (exit {result.returncode})"))
        if result.returncode != 0:
            failed.append(name)
    total = time.perf_counter() - started
    figures[f"total (target < {BUDGET_S // 60} min)"] = (
        f"{total / 60:.1f} min: {'met' if total < BUDGET_S else 'NOT met'}")
    figures["load average (1 min) before / after"] = f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
    record("make bench (bench/suite.py)", "The whole suite as `make bench` runs it, one script after the other; the "
           "time each took, on a machine of "
           f"{os.cpu_count()} cores shared with other work.", figures)
    print(f"\nmake bench: {total / 60:.1f} min" + (f"; failed: {', '.join(failed)}" if failed else ""))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
