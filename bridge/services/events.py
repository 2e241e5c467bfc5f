"""The timeline every screen and command reads: one row per thing that happened."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.store.db import UnitOfWork
from bridge.store.tables import EventRecord


def record(uow: UnitOfWork, now: datetime, kind: str, message: str, *, shop_id: int | None = None,
           agreement_id: int | None = None, order_id: str = "", **data: Any) -> None:
    uow.session.add(EventRecord(at=now, kind=kind, message=message, shop_id=shop_id, agreement_id=agreement_id,
                                order_id=order_id, data=data))
