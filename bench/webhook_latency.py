"""Webhook intake: latency and throughput of POST /webhooks/woocommerce/<id> against a real `abonne serve`.

Run: .venv/bin/python bench/webhook_latency.py [--requests 400] [--clients 8]
Sends captured WooCommerce 10.0.2 order bodies (each with its own order id, signed like WooCommerce signs) to
abonne served by waitress on SQLite, first one at a time, then from several clients at once, and then measures
how long the embedded worker takes to turn them into agreements. Prints the figures and records them in
bench/RESULTS.md. Traffic goes to 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.woocommerce.standin import WooCommerceStandin  # noqa: E402
from adapters.woocommerce.webhook import signature  # noqa: E402
from bench.results import record  # noqa: E402

CAPTURED = ROOT / "tests/fixtures/woocommerce-10.0.2/webhooks/0005_order-created.body"
SECRET = "bench-secret"


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def delivery(order_id: int) -> tuple[bytes, dict[str, str]]:
    body = re.sub(rb'^\{"id":14,', b'{"id":%d,' % order_id, CAPTURED.read_bytes())
    return body, {"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created",
                  "X-WC-Webhook-Resource": "order", "X-WC-Webhook-Event": "created",
                  "X-WC-Webhook-Signature": signature(SECRET, body)}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    shop = WooCommerceStandin(delivery_delay_s=0.01, first_post_id=11)
    shop.start("ck_bench", "cs_bench")
    shop.add_product("Coffee Club Monthly", "19.90", "COFFEE-CLUB-M", meta={"_subscription_period": "month"})
    work = Path(tempfile.mkdtemp(prefix="abonne-bench-"))
    port = free_port()
    env = {**os.environ, "ABONNE_DATABASE_URL": f"sqlite:///{work / 'abonne.db'}",
           "ABONNE_INSTANCE_PATH": str(work / "instance"), "ABONNE_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    abonne = str(ROOT / ".venv/bin/abonne")
    subprocess.run([abonne, "migrate"], env=env, check=True, capture_output=True)
    added = subprocess.run([abonne, "shop", "add", "--platform", "woocommerce", "--url", shop.url,
                            "--consumer-key", "ck_bench", "--consumer-secret", "cs_bench", "--webhook-secret", SECRET],
                           env=env, check=True, capture_output=True, text=True)
    shop_id = int(re.search(r"shop (\d+) added", added.stdout).group(1))
    # Intake alone first (--no-worker), then a separate `abonne worker` catches up: two figures, not one blur.
    server = subprocess.Popen([abonne, "serve", "--no-worker", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    url = f"http://127.0.0.1:{port}/webhooks/woocommerce/{shop_id}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.post(url, data=b"webhook_id=1", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

        session = requests.Session()
        latencies = []
        for n in range(args.requests):
            body, headers = delivery(100_000 + n)
            started = time.perf_counter()
            answer = session.post(url, data=body, headers=headers, timeout=10)
            latencies.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, answer.text

        def send(n: int) -> None:
            body, headers = delivery(200_000 + n)
            assert requests.post(url, data=body, headers=headers, timeout=30).status_code == 200

        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(send, range(args.requests)))
        parallel_rate = args.requests / (time.perf_counter() - started)

        total = 2 * args.requests
        started = time.perf_counter()
        worker = subprocess.Popen([abonne, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        db = work / "abonne.db"
        import sqlite3
        while True:
            with sqlite3.connect(db) as connection:
                done = connection.execute("SELECT count(*) FROM agreements").fetchone()[0]
            if done >= total or time.perf_counter() - started > 300:
                break
            time.sleep(0.2)
        processing_s = time.perf_counter() - started
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=10)
        server.terminate()
        server.wait(timeout=10)
        shop.stop()

    figures = {
        "requests": args.requests,
        "sequential p50 ms": round(statistics.median(latencies), 2),
        "sequential p95 ms": round(percentile(latencies, 95), 2),
        "sequential p99 ms": round(percentile(latencies, 99), 2),
        f"{args.clients} clients, deliveries/s": round(parallel_rate, 1),
        "agreements created by the worker": done,
        "worker: deliveries turned into agreements per s": round(done / processing_s, 1),
    }
    print(json.dumps(figures, indent=2))
    record("Webhook intake (bench/webhook_latency.py)",
           "`abonne serve --no-worker` (waitress, 8 threads) on SQLite, captured WooCommerce order bodies, one "
           "machine of 2 cores; latency is the full HTTP round trip on loopback: verify on the raw body, store, "
           "answer. Then a separate `abonne worker` turns the stored deliveries into agreements (product lookup "
           "cached, customer notes queued) against the stand-in shop.", figures)


if __name__ == "__main__":
    main()
