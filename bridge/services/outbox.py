"""Work for shops, queued in the transaction that causes it and sent at least once by the worker."""
from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bridge import metrics
from bridge.context import Bridge
from bridge.domain.money import Money
from bridge.ports import Address, CreatedOrder, RenewalLine, RenewalOrder, ShopAdapter, ShopError
from bridge.services import events
from bridge.store.db import UnitOfWork, claim_due
from bridge.store.tables import Charge, OutboxMessage, Shop

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
LEASE = timedelta(minutes=5)  # a claimed message is retried after this if its worker died mid-send


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at 6 h."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), timedelta(hours=6))


def enqueue(uow: UnitOfWork, now: datetime, shop_id: int, kind: str, dedupe_key: str, payload: dict[str, Any]) -> None:
    """Queue a message once per dedupe_key (a second enqueue with the same key is a no-op)."""
    existing = uow.session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key))
    if existing is None:
        uow.session.add(OutboxMessage(shop_id=shop_id, kind=kind, dedupe_key=dedupe_key, payload=payload,
                                      next_attempt_at=now, created_at=now))


@dataclass
class DrainReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0


def drain(bridge: Bridge, limit: int = 50, stop: threading.Event | None = None) -> DrainReport:
    """Send what is due, several shops at once and at most `shop_concurrency` calls into any one shop.

    The claim returns the messages themselves and each shop's adapter is built once per drain, so a push costs its
    shop calls and its share of one transaction that records the answers in by then (bench/push.py measures what
    that leaves above the shop).
    A shop that asked to be left alone (Retry-After) gets nothing before then; once `stop` is set (the worker is
    shutting down) nothing more is sent and what was claimed but not sent is due again at once."""
    report = DrainReport()
    now = bridge.clock.now()
    resting = select(Shop.id).where(Shop.quiet_until > now)
    claimed = claim_due(bridge.db, OutboxMessage, OutboxMessage.state == "pending",
                        OutboxMessage.shop_id.not_in(resting), now=now, lease=LEASE, limit=limit)
    if not claimed:
        return report
    with bridge.db.read() as uow:
        adapters = {shop.id: bridge.shop_adapter(shop) for shop in uow.session.scalars(
            select(Shop).where(Shop.id.in_({message.shop_id for message in claimed})))}
    per_shop = bridge.settings.shop_concurrency
    gates = {message.shop_id: threading.Semaphore(per_shop) for message in claimed}
    lock = threading.Lock()
    resting_until: dict[int, datetime] = {}  # shops that answered Retry-After during this drain

    def send(message: OutboxMessage) -> _Sent | None:
        with gates[message.shop_id]:
            with lock:
                until = resting_until.get(message.shop_id)
            if until is not None or (stop is not None and stop.is_set()):
                _put_back(bridge, message.id, until or now)
                return None
            sent = _call_shop(adapters.get(message.shop_id), message)
            if sent.error is not None and sent.error.retry_after:
                # The rest of this drain leaves the shop alone at once, before the record reaches the database.
                until = bridge.clock.now() + timedelta(seconds=sent.error.retry_after)
                with lock:
                    resting_until[message.shop_id] = max(until, resting_until.get(message.shop_id, until))
            return sent

    with ThreadPoolExecutor(max_workers=min(len(claimed), per_shop * len(gates))) as pool:
        pending = {pool.submit(send, message) for message in claimed}
        while pending:
            # What the shops answered by now is recorded in one transaction: one commit for many pushes.
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            _record_together(bridge, [sent for sent in (future.result() for future in done) if sent], report)
    return report


def _put_back(bridge: Bridge, message_id: int, at: datetime) -> None:
    """Unclaim a message that was never sent: its claim's attempt is taken back, so a first attempt still proves
    that nothing was sent before it (no lookup needed, see _call_shop)."""
    with bridge.uow() as uow:
        message = uow.session.get(OutboxMessage, message_id)
        message.attempts, message.next_attempt_at = message.attempts - 1, at
        uow.commit()


@dataclass
class _Sent:
    """What one claimed message's shop calls came to, to be recorded."""
    claimed: OutboxMessage
    created: CreatedOrder | None
    error: ShopError | None


def _call_shop(adapter: ShopAdapter | None, claimed: OutboxMessage) -> _Sent:
    kind, payload, attempts = claimed.kind, claimed.payload, claimed.attempts
    created = None
    try:
        if adapter is None:
            raise ShopError(f"shop {claimed.shop_id} is no longer connected to abonne")
        if kind == "customer_note":
            adapter.add_customer_note(payload["order_id"], payload["text"])
        elif kind == "mark_paid":
            adapter.mark_paid(payload["order_id"], payload["transaction_id"])
        elif kind == "renewal_order":
            renewal = renewal_from_payload(payload["renewal"])
            # I6: a create that timed out or was cut short may have succeeded, so every later attempt looks first.
            # The first attempt need not: its claim committed attempts=1 before any call, so nothing was sent yet.
            created = (attempts > 1 and adapter.find_renewal_order(renewal)) or adapter.create_renewal_order(renewal)
        else:
            raise ShopError(f"unknown outbox message kind {kind!r}")
    except ShopError as failure:
        return _Sent(claimed, None, failure)
    return _Sent(claimed, created, None)


def _record_together(bridge: Bridge, answers: list[_Sent], report: DrainReport) -> None:
    """Record several pushes in one transaction; if that fails, each in its own. One that still cannot be recorded
    stays claimed: after its lease it is sent again, and that attempt looks for the order first (I6)."""
    if not answers:
        return
    try:
        with bridge.uow() as uow:
            loaded = _load(uow, answers)  # held: the session keeps rows weakly
            outcomes = [_record(uow, bridge.clock.now(), sent) for sent in answers]
            uow.commit()
            del loaded
    except Exception:
        log.warning("recording %d pushes together failed; recording each on its own", len(answers), exc_info=True)
        outcomes = []
        for sent in answers:
            try:
                with bridge.uow() as uow:
                    outcomes.append(_record(uow, bridge.clock.now(), sent))
                    uow.commit()
            except Exception:
                log.exception("recording outbox message %s failed; it is sent again after its lease", sent.claimed.id)
                outcomes.append("unrecorded")
    for sent, outcome in zip(answers, outcomes):
        if outcome == "unrecorded":
            continue
        error = sent.error
        metrics.outbox_tried(sent.claimed.kind, outcome, sent.claimed.shop_id, sent.claimed.id,
                             error.detail if error else "")
        setattr(report, outcome, getattr(report, outcome) + 1)


def _load(uow: UnitOfWork, answers: list[_Sent]) -> list[Any]:
    """The rows recording reads, in two queries: while they are held, Session.get finds them without asking."""
    messages = uow.session.scalars(select(OutboxMessage).where(
        OutboxMessage.id.in_([sent.claimed.id for sent in answers]))).all()
    charge_ids = [sent.claimed.payload["charge_id"] for sent in answers if sent.created is not None]
    charges = uow.session.scalars(select(Charge).where(Charge.id.in_(charge_ids))).all() if charge_ids else []
    return [*messages, *charges]


def _record(uow: UnitOfWork, now: datetime, sent: _Sent) -> str:
    claimed, error = sent.claimed, sent.error
    kind, payload, attempts = claimed.kind, claimed.payload, claimed.attempts
    message = uow.session.get(OutboxMessage, claimed.id)
    order_id = str(payload.get("order_id") or payload.get("renewal", {}).get("parent_order_id", ""))
    if error is None:
        message.state, message.done_at, message.last_error = "done", now, ""
        if sent.created is not None:
            _record_renewal_order(uow, now, message.shop_id, payload, sent.created)
        return "sent"
    if error.retryable and attempts < MAX_ATTEMPTS:
        message.next_attempt_at = now + backoff(attempts)
        message.last_error = error.detail
        if error.retry_after:
            until = now + timedelta(seconds=error.retry_after)
            message.next_attempt_at = max(message.next_attempt_at, until)
            _rest_shop(uow, now, message.shop_id, until, error.detail)
        return "retried"
    message.state, message.last_error = "dead", error.detail
    events.record(uow, now, "outbox_dead", f"{kind} for order {order_id} gave up after {attempts} attempts: "
                  f"{error.detail}", shop_id=message.shop_id, order_id=order_id)
    return "dead"


def _rest_shop(uow: UnitOfWork, now: datetime, shop_id: int, until: datetime, detail: str) -> None:
    """The shop asked to be left alone until `until`: no worker pushes to it or polls it before then."""
    shop = uow.session.get(Shop, shop_id)
    if shop is None or (shop.quiet_until is not None and shop.quiet_until >= until):
        return
    shop.quiet_until = until
    events.record(uow, now, "shop_asked_to_wait", f"the shop asked abonne to wait ({detail}): nothing is sent to "
                  f"it before {until:%Y-%m-%d %H:%M:%S} UTC", shop_id=shop_id)


def _record_renewal_order(uow: UnitOfWork, now: datetime, shop_id: int, payload: dict[str, Any],
                          created: CreatedOrder) -> None:
    renewal = payload["renewal"]
    charge = uow.session.get(Charge, payload["charge_id"])
    charge.shop_order_id = created.order_id
    charged = Money(**renewal["charged"])
    message = f"renewal order {created.order_id} created in the shop for cycle {renewal['cycle']}"
    if created.total != charged:
        # Shops recompute tax on API-created orders; a difference is shown, never silently accepted.
        message += f", but the shop's total is {created.total} while the card was charged {charged}"
        events.record(uow, now, "renewal_total_differs", message, shop_id=shop_id,
                      agreement_id=renewal["agreement_id"], order_id=created.order_id)
        return
    events.record(uow, now, "renewal_order_created", message, shop_id=shop_id, agreement_id=renewal["agreement_id"],
                  order_id=created.order_id)


def renewal_payload(renewal: RenewalOrder) -> dict[str, Any]:
    data = asdict(renewal)
    data["charged"] = {"minor": renewal.charged.minor, "currency": renewal.charged.currency}
    data["lines"] = [{**asdict(line), "net_total": {"minor": line.net_total.minor,
                                                    "currency": line.net_total.currency}}
                     for line in renewal.lines]
    return data


def renewal_from_payload(data: dict[str, Any]) -> RenewalOrder:
    return RenewalOrder(
        key=data["key"], parent_order_id=data["parent_order_id"], customer_id=data["customer_id"],
        billing=Address(**data["billing"]), shipping=Address(**data["shipping"]),
        lines=tuple(RenewalLine(product_id=line["product_id"], variation_id=line["variation_id"], name=line["name"],
                                quantity=line["quantity"], net_total=Money(**line["net_total"]))
                    for line in data["lines"]),
        charged=Money(**data["charged"]), transaction_id=data["transaction_id"],
        agreement_id=data["agreement_id"], cycle=data["cycle"])
