"""The outbox of abonne's shop-side modules (the PrestaShop module, the OpenCart extension), as the stand-ins play it.

Both modules ship the same PHP for it (prestashop/module/abonne/classes/AbonneBackoff.php, AbonneEventQueue.php;
opencart/extension/library/backoff.php, event_queue.php), so the stand-ins share this one copy: events signed per the
README's "Events from shop-side modules", sent from a background thread with a short timeout, and kept in a queue
with the modules' backoff (1 min, 5 min, 30 min, 2 h, then every 6 h, given up when the next try would fall more
than 3 days after the event was first queued). Time is the stand-in's clock, so a test that moves it makes events
fall due; `resend_due()` is the module's cron. What an event says is each platform's: its stand-in builds the body.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Protocol

import requests

from adapters.module_events import signed_headers

FIRST_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
THEN_EVERY = timedelta(hours=6)
GIVE_UP_AFTER = timedelta(days=3)


def delay_after(failed_attempts: int) -> timedelta:
    index = max(1, failed_attempts) - 1
    return FIRST_DELAYS[index] if index < len(FIRST_DELAYS) else THEN_EVERY


def encode(body: dict[str, Any]) -> bytes:
    """json_encode with JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE, as both modules' event signers encode."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class Destination(Protocol):
    """Where the module's settings send events: abonne's URL, the shared secret, the HTTP timeout."""

    url: str
    secret: str
    timeout_s: float


@dataclass
class QueuedEvent:
    event: str
    order_id: str
    event_id: str
    body: bytes
    created_at: datetime
    attempts: int = 0
    next_at: datetime | None = None  # None: send now
    in_flight: bool = False


@dataclass(frozen=True)
class SentEvent:
    """One delivery attempt: what was sent and what came back (`status` None: no HTTP answer)."""

    event: str
    order_id: str
    event_id: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int | None
    error: str | None
    sent_at: datetime
    attempt: int

    @property
    def delivered(self) -> bool:
        return self.status == 200

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class ModuleEventSender:
    """A module's outbox: queue, backoff on the shop's clock, signing and delivery. Thread-safe; new events are sent
    on its own thread, `resend_due()` and `send_once()` on the caller's.

    `destination` is None while the module is not configured: nothing should be queued then, and a ping answers
    `not_connected` without a request.
    """

    def __init__(self, clock: Callable[[], datetime], user_agent: str, not_connected: str, thread_name: str):
        self.destination: Destination | None = None
        self._clock = clock
        self._user_agent = user_agent
        self._not_connected = not_connected
        self._thread_name = thread_name
        self._queue: list[QueuedEvent] = []
        self._sent: list[SentEvent] = []
        self._given_up: list[QueuedEvent] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def enqueue(self, event: str, order_id: str, body: bytes) -> None:
        """Queue an event whose body the module built now; the sending thread tries it at once."""
        with self._cond:
            self._queue.append(QueuedEvent(event, order_id, secrets.token_hex(16), body, self._clock()))
            self._cond.notify_all()

    def send_once(self, event: str, body: bytes) -> SentEvent:
        """One synchronous signed request, not queued and not retried (the settings page's "Test connection")."""
        return self._send(QueuedEvent(event, "", secrets.token_hex(16), body, self._clock()))

    def resend_due(self) -> list[SentEvent]:
        """The module's cron: send every queued event whose time has come, now, on the caller's thread."""
        now = self._clock()
        with self._cond:
            due = [q for q in self._queue if not q.in_flight and (q.next_at is None or q.next_at <= now)]
            for queued in due:
                queued.in_flight = True
        return [self._attempt(queued) for queued in due]

    def flush(self, timeout: float) -> bool:
        """Wait until nothing is waiting to be sent now (events waiting for their backoff do not count)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while any(q.next_at is None or q.in_flight for q in self._queue):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    @property
    def sent(self) -> list[SentEvent]:
        """Every delivery attempt, in order."""
        with self._cond:
            return list(self._sent)

    @property
    def queued(self) -> list[dict[str, Any]]:
        """Events still waiting in the queue: event, order_id, attempts, next_at, created_at."""
        with self._cond:
            return [{"event": q.event, "order_id": q.order_id, "attempts": q.attempts, "next_at": q.next_at,
                     "created_at": q.created_at} for q in self._queue]

    @property
    def given_up(self) -> list[dict[str, Any]]:
        """Events dropped after 3 days of failed attempts: event, order_id, attempts."""
        with self._cond:
            return [{"event": q.event, "order_id": q.order_id, "attempts": q.attempts} for q in self._given_up]

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not any(q.next_at is None and not q.in_flight for q in self._queue):
                    self._cond.wait()
                if self._stopping:
                    return
                now = self._clock()
                # A new event: the module sends it, and with it whatever else has fallen due.
                batch = [q for q in self._queue if not q.in_flight and (q.next_at is None or q.next_at <= now)]
                for queued in batch:
                    queued.in_flight = True
            for queued in batch:
                self._attempt(queued)

    def _attempt(self, queued: QueuedEvent) -> SentEvent:
        result = self._send(queued)
        with self._cond:
            queued.in_flight = False
            queued.attempts += 1
            if result.delivered:
                self._queue.remove(queued)
            else:
                next_at = result.sent_at + delay_after(queued.attempts)
                if next_at > queued.created_at + GIVE_UP_AFTER:
                    self._queue.remove(queued)
                    self._given_up.append(queued)
                else:
                    queued.next_at = next_at
            self._cond.notify_all()
        return result

    def _send(self, queued: QueuedEvent) -> SentEvent:
        destination = self.destination
        sent_at = self._clock()
        if destination is None:
            return SentEvent(queued.event, queued.order_id, queued.event_id, "", {}, queued.body, None,
                             self._not_connected, sent_at, queued.attempts + 1)
        # Signed again on every attempt: abonne refuses a timestamp more than 5 minutes off its clock.
        headers = signed_headers(destination.secret, int(sent_at.timestamp()), queued.body, queued.event_id)
        headers["User-Agent"] = self._user_agent
        status, error = None, None
        try:
            response = requests.post(destination.url, data=queued.body, headers=headers,
                                     timeout=destination.timeout_s, allow_redirects=False)
            status = response.status_code
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        result = SentEvent(queued.event, queued.order_id, queued.event_id, destination.url, headers, queued.body,
                           status, error, sent_at, queued.attempts + 1)
        with self._cond:
            self._sent.append(result)
        return result


class ModuleEventViews:
    """What a stand-in with a module outbox shows tests: its attempts, its queue, and the cron. The class using it
    provides `_sender()`, which raises until the stand-in is started."""

    def _sender(self) -> ModuleEventSender:
        raise NotImplementedError

    def flush_events(self, timeout: float = 5.0) -> bool:
        """Wait until every event that is due now has been tried. False if that took longer than `timeout`."""
        return self._sender().flush(timeout)

    def resend_due(self) -> list[SentEvent]:
        """The module's cron: resend the queued events whose backoff has passed on the stand-in's clock."""
        return self._sender().resend_due()

    @property
    def events(self) -> list[SentEvent]:
        """Every delivery attempt, in order, with the status abonne answered."""
        return self._sender().sent

    @property
    def queued_events(self) -> list[dict[str, Any]]:
        """Events still waiting in the module's queue: event, order_id, attempts, next_at, created_at."""
        return self._sender().queued

    @property
    def given_up_events(self) -> list[dict[str, Any]]:
        return self._sender().given_up
