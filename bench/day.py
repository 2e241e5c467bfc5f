"""A day of 100,000 renewals, due to pushed: abonne at its measured 4-worker rate, beside WooCommerce Subscriptions
on Action Scheduler's published defaults.

Run: .venv/bin/python bench/day.py --rate-0ms R0 --rate-200ms R200   (bench/suite.py passes the rates it measured)
abonne's figure is computed from the end-to-end rate bench/renewals_e2e.py measured with 4 worker processes (the
same work per renewal: claim, charge, commit, push). WooCommerce Subscriptions renews through Action Scheduler, one
`woocommerce_scheduled_subscription_payment` action per renewal, with these defaults, from Action Scheduler's source
(woocommerce/action-scheduler):
  - classes/ActionScheduler_QueueRunner.php: WP_CRON_SCHEDULE = 'every_minute' (the queue runner is started by
    WP-Cron once a minute) and `apply_filters( 'action_scheduler_queue_runner_batch_size', 25 )`;
  - classes/abstracts/ActionScheduler_Abstract_QueueRunner.php: `action_scheduler_queue_runner_concurrent_batches`
    defaults to 1 (one queue at a time) and `action_scheduler_queue_runner_time_limit` to 30 seconds;
  - docs/perf.md ("Background Processing at Scale"): "By default, Action Scheduler will only process actions for a
    maximum of 30 seconds".
Two readings of those defaults: the one the issue states (one batch of 25 per minute's run), and the runner's own
loop (it claims batch after batch until 30 s are spent, so a minute's run does 30 s of renewals), with a renewal
costing the real WooCommerce's own order creation (about 0.27 s per POST /orders measured on a real WooCommerce
10.0.2 in bench/push.py, DESIGN.md: "about 0.23 s per order") plus the gateway's 200 ms. Both ignore WP-Cron's need
for a site visit to fire (a quiet shop runs it less often, never more).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TITLE = "A 100k-renewal day (bench/day.py)"
DAY = 100_000
AS_BATCH = 25  # action_scheduler_queue_runner_batch_size
AS_RUN_EVERY_S = 60  # WP-Cron 'every_minute'
AS_TIME_LIMIT_S = 30  # action_scheduler_queue_runner_time_limit
AS_QUEUES = 1  # action_scheduler_queue_runner_concurrent_batches
WOO_ORDER_S = 0.27  # one order created in a real WooCommerce (bench/push.py, real shop, c=1, p50)
GATEWAY_S = 0.200


def duration(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"


def compute(rates: dict[int, float]) -> dict[str, Any]:
    """rates: renewals/s with 4 workers by gateway latency in ms."""
    figures: dict[str, Any] = {}
    for latency_ms, rate in sorted(rates.items()):
        figures[f"abonne, 4 workers, {latency_ms} ms gateway latency ({rate:.1f}/s measured)"] = (
            duration(DAY / rate))
    per_minute_literal = AS_BATCH * AS_QUEUES
    literal = DAY / per_minute_literal * AS_RUN_EVERY_S
    per_renewal = WOO_ORDER_S + GATEWAY_S
    per_minute_looped = AS_QUEUES * int(AS_TIME_LIMIT_S / per_renewal)
    looped = DAY / per_minute_looped * AS_RUN_EVERY_S
    figures["WooCommerce Subscriptions, Action Scheduler defaults as the issue states them (one batch of 25 per "
            "60 s run, one queue)"] = f"{duration(literal)} ({per_minute_literal} renewals per minute)"
    figures[f"WooCommerce Subscriptions, the runner's own loop (batches of 25 until its 30 s limit, one queue, a run "
            f"every 60 s; {per_renewal:.2f} s per renewal: order {WOO_ORDER_S} s + gateway {GATEWAY_S} s)"] = (
        f"{duration(looped)} ({per_minute_looped} renewals per minute)")
    if 200 in rates:
        figures["abonne (4 workers, 200 ms) faster than Action Scheduler's defaults by"] = (
            f"{literal * rates[200] / DAY:.0f}× (stated reading), {looped * rates[200] / DAY:.0f}× (runner's loop)")
    return figures


def setup_text() -> str:
    return ("100,000 renewals due at once, from due to the renewal order in the shop. abonne: computed from the "
            "4-worker end-to-end rates measured in the same `make bench` run (bench/renewals_e2e.py, stand-in "
            "myPOS and WooCommerce). WooCommerce Subscriptions: computed from Action Scheduler's published defaults "
            "(batch size 25, one concurrent batch, a WP-Cron run every minute, a 30 s time limit per run; sources "
            "in bench/day.py); both readings leave out that WP-Cron only fires on a site visit.")


def main() -> None:
    from bench.results import record
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate-0ms", type=float, required=True, help="4-worker renewals/s at 0 ms (measured)")
    parser.add_argument("--rate-200ms", type=float, required=True, help="4-worker renewals/s at 200 ms (measured)")
    args = parser.parse_args()
    figures = compute({0: args.rate_0ms, 200: args.rate_200ms})
    for name, value in figures.items():
        print(f"{name}: {value}")
    record(TITLE, setup_text(), figures)


if __name__ == "__main__":
    main()
