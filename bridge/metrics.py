"""Prometheus metrics, in two kinds.

What happened (webhooks answered, charge outcomes, dunning steps, outbox sends, shop and gateway call times) is
counted by the process where it happens; under gunicorn and beside `abonne worker` processes, PROMETHEUS_MULTIPROC_DIR
makes prometheus-client keep those counts in files that one scrape sums. What is (unknown charges, the outbox, dead
letters, renewal lag, worker heartbeats) is read from the database at scrape time: true after restarts and whatever
number of processes or machines do the work.

Every counted event is also one log line carrying its shop and agreement ids: at DEBUG when routine (a webhook
stored, a charge paid, an update sent), at INFO and above for refusals, declines, unknown charges and failures.
"""
from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from bridge.store.tables import Agreement, Charge, Delivery, OutboxMessage, WorkerHeartbeat

log = logging.getLogger(__name__)

MULTIPROC_SETTING = "PROMETHEUS_MULTIPROC_DIR"
CHARGEABLE = ("active", "past_due")  # agreements the renewal pass charges when due
HEARTBEAT_FRESH = timedelta(seconds=60)
# Shop and gateway calls take from a few milliseconds to the 30 s timeout.
CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

WEBHOOKS = Counter("abonne_webhooks", "Webhook and module-event requests answered, by platform and outcome "
                   "(stored, duplicate, ping, or the error code of a refusal)", ["platform", "outcome"])
CHARGES = Counter("abonne_charges", "Charge outcomes recorded (succeeded, declined, unknown, not_charged), by the "
                  "charge's source (stored_card: renewals; hosted_page: paid on myPOS's page; shop: a first cycle "
                  "paid in the shop)",
                  ["outcome", "source"])
DUNNING = Counter("abonne_dunning_steps", "Dunning steps taken: retry_scheduled, suspended, card_requested, "
                  "cancelled_after_grace", ["step"])
OUTBOX_SENDS = Counter("abonne_outbox_sends", "Outbox messages tried on their shop, by kind and outcome (sent, "
                       "retried, dead)", ["kind", "outcome"])
SHOP_CALLS = Histogram("abonne_shop_api_seconds", "Time of calls into a shop's API, by platform, operation and "
                       "outcome (ok, error)", ["platform", "operation", "outcome"], buckets=CALL_BUCKETS)
GATEWAY_CALLS = Histogram("abonne_gateway_api_seconds", "Time of calls to the payment gateway, by operation and "
                          "outcome (ok, error)", ["operation", "outcome"], buckets=CALL_BUCKETS)

# The ShopAdapter and PaymentGateway methods that go over the network (the others are local: parsing, verifying).
SHOP_OPERATIONS = frozenset({"get_order", "get_product", "add_customer_note", "mark_paid", "test_connection",
                             "register_webhooks", "find_renewal_order", "create_renewal_order",
                             "orders_modified_since", "repair_webhooks"})
GATEWAY_OPERATIONS = frozenset({"charge_stored_card", "transaction_status", "check_configuration"})


def webhook_answered(platform: str, outcome: str, status: int, shop_id: int | None) -> None:
    WEBHOOKS.labels(platform, outcome).inc()
    level = logging.DEBUG if status < 400 else logging.INFO if status < 500 else logging.ERROR
    log.log(level, "webhook answered %s: %s", status, outcome,
            extra={"platform": platform, "outcome": outcome, "status": status, "shop_id": shop_id})


def charge_recorded(charge: Any, shop_id: int) -> None:
    """After a charge's state was set to its outcome, in the transaction that records it."""
    CHARGES.labels(charge.state, charge.source).inc()
    level = logging.DEBUG if charge.state == "succeeded" else logging.INFO
    log.log(level, "charge %s: cycle %s attempt %s %s", charge.id, charge.cycle, charge.attempt, charge.state,
             extra={"shop_id": shop_id, "agreement_id": charge.agreement_id, "charge_id": charge.id,
                    "outcome": charge.state})


def dunning_step(step: str, agreement: Any) -> None:
    DUNNING.labels(step).inc()
    log.info("dunning: %s", step, extra={"shop_id": agreement.shop_id, "agreement_id": agreement.id, "step": step})


def outbox_tried(kind: str, outcome: str, shop_id: int, message_id: int, error: str = "") -> None:
    OUTBOX_SENDS.labels(kind, outcome).inc()
    level = {"sent": logging.DEBUG, "retried": logging.WARNING}.get(outcome, logging.ERROR)
    log.log(level, "outbox %s %s %s%s", message_id, kind, outcome,
            f": {error}" if error else "", extra={"shop_id": shop_id, "outbox_id": message_id, "outcome": outcome})


class _Timed:
    """An adapter with its network calls timed; everything else passes through untouched."""

    def __init__(self, inner: Any, operations: frozenset[str], observe: Callable[[str, str, float], None]):
        self._inner, self._operations, self._observe = inner, operations, observe

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in self._operations or not callable(value):
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            started, outcome = time.perf_counter(), "error"
            try:
                result = value(*args, **kwargs)
                outcome = "ok"
                return result
            finally:
                self._observe(name, outcome, time.perf_counter() - started)
        return timed


def timed_shop(platform: str, adapter: Any) -> Any:
    return _Timed(adapter, SHOP_OPERATIONS,
                  lambda operation, outcome, seconds: SHOP_CALLS.labels(platform, operation, outcome).observe(seconds))


def timed_gateway(gateway: Any) -> Any:
    return _Timed(gateway, GATEWAY_OPERATIONS,
                  lambda operation, outcome, seconds: GATEWAY_CALLS.labels(operation, outcome).observe(seconds))


class DatabaseState:
    """The gauges read from the database when scraped. Each query runs on an index (state first) and touches only
    the rows of a backlog, never the whole ledger."""

    def __init__(self, db: Any, now: datetime):
        self._db, self._now = db, now

    def collect(self) -> Iterable[Metric]:
        try:
            figures = self._read()
        except SQLAlchemyError as error:
            log.warning("metrics: the database could not be read (%s)", type(error).__name__)
            yield _gauge("abonne_database_up", "1 when the database answered the metrics queries", 0)
            return
        yield _gauge("abonne_database_up", "1 when the database answered the metrics queries", 1)
        yield from figures

    def _read(self) -> list[Metric]:
        now = self._now
        with self._db.read() as uow:
            s = uow.session
            open_charges = {state: (count, oldest) for state, count, oldest in s.execute(
                select(Charge.state, func.count(), func.min(Charge.created_at))
                .where(Charge.state.in_(("pending", "unknown"))).group_by(Charge.state))}
            outbox_depth, outbox_oldest = s.execute(select(func.count(), func.min(OutboxMessage.created_at))
                                                    .where(OutboxMessage.state == "pending")).one()
            outbox_dead = s.scalar(select(func.count()).where(OutboxMessage.state == "dead"))
            waiting, waiting_oldest = s.execute(select(func.count(), func.min(Delivery.received_at))
                                                .where(Delivery.state == "received")).one()
            failed = s.scalar(select(func.count()).where(Delivery.state == "failed"))
            due, oldest_due = s.execute(select(func.count(), func.min(Agreement.next_charge_at)).where(
                Agreement.state.in_(CHARGEABLE), Agreement.next_charge_at <= now)).one()
            last_beat = s.scalar(select(func.max(WorkerHeartbeat.last_seen_at)))
            live = s.scalar(select(func.count()).where(WorkerHeartbeat.last_seen_at >= now - HEARTBEAT_FRESH))
        charges = GaugeMetricFamily("abonne_open_charges", "Charges whose outcome is not known yet: pending (being "
                                    "charged) and unknown (waiting for the janitor's status query)",
                                    labels=["state"])
        charge_age = GaugeMetricFamily("abonne_open_charges_oldest_age_seconds", "Age of the oldest open charge "
                                       "in each state (0 when there is none)", labels=["state"])
        for state in ("pending", "unknown"):
            count, oldest = open_charges.get(state, (0, None))
            charges.add_metric([state], count)
            charge_age.add_metric([state], _age(now, oldest))
        dead = GaugeMetricFamily("abonne_dead_letters", "Work given up on and waiting for the owner: outbox "
                                 "messages (shop updates) and stored webhooks that failed", labels=["queue"])
        dead.add_metric(["outbox"], outbox_dead)
        dead.add_metric(["webhooks"], failed)
        return [
            charges, charge_age,
            _gauge("abonne_outbox_depth", "Shop updates waiting to be sent", outbox_depth),
            _gauge("abonne_outbox_oldest_age_seconds", "Age of the oldest shop update waiting", _age(now, outbox_oldest)),
            dead,
            _gauge("abonne_webhooks_waiting", "Stored webhooks not processed yet", waiting),
            _gauge("abonne_webhooks_waiting_oldest_age_seconds", "Age of the oldest stored webhook not processed yet",
                   _age(now, waiting_oldest)),
            _gauge("abonne_renewals_due", "Active and past-due agreements whose charge is due now", due),
            _gauge("abonne_renewal_lag_seconds", "How long the oldest due charge has waited (0 when none is due)",
                   _age(now, oldest_due)),
            _gauge("abonne_worker_heartbeat_age_seconds", "Time since the youngest worker heartbeat (-1: never)",
                   _age(now, last_beat) if last_beat else -1),
            _gauge("abonne_workers_alive", "Workers with a heartbeat in the last minute", live),
        ]


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _age(now: datetime, since: datetime | None) -> float:
    return max((now - since).total_seconds(), 0.0) if since is not None else 0.0


def exposition(db: Any, now: datetime) -> bytes:
    """The Prometheus text a scrape gets: this process's counters (or every process's, in multiprocess mode)
    followed by the database's state."""
    if os.environ.get(MULTIPROC_SETTING):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(DatabaseState(db, now))  # type: ignore[arg-type]
