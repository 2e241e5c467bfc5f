"""GET /healthz (the process answers), /readyz (database, schema and a live worker), /metrics (Prometheus text).

None of them needs a login or a CSRF token: probes and scrapers send neither. /metrics holds figures only (counts,
ages, durations), never an id or a secret; with ABONNE_METRICS_TOKEN set it also wants that bearer token.
"""
from __future__ import annotations

import hmac
from datetime import datetime
from functools import lru_cache

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bridge import metrics
from bridge.context import Bridge
from bridge.services import heartbeat
from bridge.store.db import alembic_config
from bridge.web import current_bridge
from bridge.web.errors import json_error

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify(ok=True)


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    bridge = current_bridge()
    checks = readiness(bridge, bridge.clock.now())
    problems = [detail for ok, detail in checks.values() if ok is False]  # None: not checked, for want of another
    body = {"ready": not problems, "checks": {name: detail for name, (_, detail) in checks.items()}}
    if problems:
        body["reason"] = "; ".join(problems)
    return jsonify(body), 503 if problems else 200


@blueprint.get("/metrics")
def scrape() -> Response:
    bridge = current_bridge()
    expected = bridge.settings.metrics_token
    if expected:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            response = json_error(401, "metrics_token_required", "send ABONNE_METRICS_TOKEN as "
                                  "'Authorization: Bearer <token>'")
            response.headers["WWW-Authenticate"] = 'Bearer realm="abonne metrics"'
            return response
    return Response(metrics.exposition(bridge.db, bridge.clock.now()), content_type=CONTENT_TYPE_LATEST)


def readiness(bridge: Bridge, now: datetime) -> dict[str, tuple[bool | None, str]]:
    """Each check's verdict (None: not made, as it needs what failed before it) and what it found."""
    try:
        with bridge.db.read_engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = MigrationContext.configure(connection).get_current_heads()
    except SQLAlchemyError as error:
        reason = f"database unreachable: {_plain_error(error, bridge.db.url)}"
        return {"database": (False, reason), "migrations": (None, "not checked: no database"),
                "worker": (None, "not checked: no database")}
    checks: dict[str, tuple[bool | None, str]] = {"database": (True, "reachable")}
    expected = _code_heads()
    if set(current) != set(expected):
        at = ", ".join(current) or "an empty database"
        checks["migrations"] = (False, f"migrations not current: at {at}, code expects {', '.join(expected)} "
                                       "(run `abonne migrate`)")
        checks["worker"] = (None, "not checked: migrations not current")
        return checks
    checks["migrations"] = (True, f"at {', '.join(expected)}")
    last = heartbeat.latest(bridge)
    if last is None:
        checks["worker"] = (False, "no worker heartbeat yet: no worker has run against this database")
        return checks
    age = max(int((now - last).total_seconds()), 0)
    fresh = now - last < heartbeat.STALE_AFTER
    checks["worker"] = (fresh, f"last worker heartbeat {age} s ago" if fresh else
                        f"no worker heartbeat for {age} s (a worker starts a pass at least every "
                        f"{int(heartbeat.STALE_AFTER.total_seconds())} s while it runs)")
    return checks


@lru_cache(maxsize=1)
def _code_heads() -> tuple[str, ...]:
    """The revisions this code's migrations end at (read once: they cannot change under a running process)."""
    return tuple(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def _plain_error(error: SQLAlchemyError, url: str) -> str:
    """The driver's first line, never the database password (some drivers quote the connection string)."""
    cause = getattr(error, "orig", None) or error
    first = (str(cause).strip().splitlines() or [""])[0][:300]
    password = make_url(url).password
    if password:
        first = first.replace(str(password), "***")
    return f"{type(cause).__name__}: {first}" if first else type(cause).__name__
