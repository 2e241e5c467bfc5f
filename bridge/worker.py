"""The loop: stored webhooks, due renewals, unknown charges, housekeeping, then what the outbox holds for shops."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from bridge.context import Bridge
from bridge.services import heartbeat, intake, janitor, lifecycle, outbox, reconcile, renew

log = logging.getLogger(__name__)


@dataclass
class PassReport:
    deliveries: int = 0
    renewals: renew.RenewReport = field(default_factory=renew.RenewReport)
    settled_unknown: int = 0
    cancelled_after_grace: int = 0
    cards_warned: int = 0
    missed_orders: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.deliveries or self.renewals.attempts or self.settled_unknown or self.sent
                    or self.cancelled_after_grace or self.cards_warned or self.missed_orders)


def run_once(bridge: Bridge, reconcile_all: bool = False, stop: threading.Event | None = None) -> PassReport:
    """One pass. `reconcile_all` polls every shop now rather than when each is due: while abonne was down, shops
    kept failing to deliver webhooks (and may have disabled them), so a starting worker catches up first.

    Once `stop` is set (SIGTERM) the pass ends after the call under way: gateway calls in flight are finished and
    recorded, nothing new is claimed, and what was claimed but not yet sent is left to be sent by the next pass."""
    heartbeat.beat(bridge)
    stopping = stop.is_set if stop is not None else lambda: False
    report = PassReport(deliveries=intake.process_pending(bridge, stop=stop))
    if not stopping():
        report.settled_unknown = janitor.resolve(bridge, stop=stop).settled
    if not stopping():
        report.renewals = renew.renew_due(bridge, stop=stop)
    if stopping():
        return report
    heartbeat.beat(bridge)  # again after the renewals, which a slow gateway can stretch to minutes
    report.cancelled_after_grace = lifecycle.end_grace_periods(bridge)
    report.cards_warned = lifecycle.warn_expiring_cards(bridge)
    report.missed_orders = reconcile.reconcile_due(bridge, force=reconcile_all).orders_seen
    drained = outbox.drain(bridge, stop=stop)
    report.sent, report.retried, report.dead = drained.sent, drained.retried, drained.dead
    return report


def run_forever(bridge: Bridge, stop: threading.Event) -> None:
    """Until `stop` is set. Sleeps between idle passes; bridge.wake_worker cuts the sleep short."""
    starting = True
    while not stop.is_set():
        try:
            report = run_once(bridge, reconcile_all=starting, stop=stop)
            starting = False
        except Exception:  # the database may be briefly unavailable; the next pass tries again
            log.exception("worker pass failed")
            report = PassReport()
        if report.busy:
            continue
        bridge.wake_worker.wait(timeout=bridge.settings.worker_interval_seconds)
        bridge.wake_worker.clear()


def start_in_thread(bridge: Bridge) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(bridge, stop), name="abonne-worker", daemon=True)
    thread.start()
    return thread, stop
