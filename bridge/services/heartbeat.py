"""Worker heartbeats: each worker says when it last started a pass, so /readyz can tell a live worker from none."""
from __future__ import annotations

import os
import socket
import threading
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from bridge.context import Bridge
from bridge.store.tables import WorkerHeartbeat

STALE_AFTER = timedelta(seconds=60)  # /readyz: no heartbeat younger than this means no worker is running
EVERY = timedelta(seconds=10)  # a busy worker starts passes back to back; one write per this is enough
FORGET_AFTER = timedelta(days=7)  # rows of workers that stopped long ago

_last_beat: dict[tuple[str, str], datetime] = {}  # (database, worker): the last write
_lock = threading.Lock()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(bridge: Bridge) -> bool:
    """Record that this worker is starting a pass. Writes at most every EVERY of the bridge's clock (and at once
    when the clock went backwards), so an idle worker's passes rarely take SQLite's write lock."""
    now, name = bridge.clock.now(), worker_name()
    key = (bridge.db.url, name)
    with _lock:
        last = _last_beat.get(key)
        if last is not None and timedelta(0) <= now - last < EVERY:
            return False
    with bridge.uow() as uow:
        row = uow.session.get(WorkerHeartbeat, name)
        if row is None:
            uow.session.add(WorkerHeartbeat(worker=name, started_at=now, last_seen_at=now))
        else:
            row.last_seen_at = now
        uow.session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.last_seen_at < now - FORGET_AFTER))
        uow.commit()
    with _lock:
        _last_beat[key] = now
    return True


def latest(bridge: Bridge) -> datetime | None:
    """The youngest heartbeat of any worker, or None when no worker ever ran against this database."""
    with bridge.db.read() as uow:
        return uow.session.scalar(select(func.max(WorkerHeartbeat.last_seen_at)))
