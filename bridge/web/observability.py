"""What every request leaves for operators: a request id on its log lines (taken from X-Request-Id or made up, and
sent back in that header), and for webhooks, one count and one log line per answer."""
from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

from bridge import logs, metrics
from bridge.web import current_bridge

_GOOD_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # what a proxy's id looks like; anything else is replaced


def register(app: Flask) -> None:
    @app.before_request
    def bind_ids() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _GOOD_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        shop_id = (request.view_args or {}).get("shop_id")
        g.log_tokens = logs.bind(request_id=g.request_id, shop_id=shop_id if isinstance(shop_id, int) else None)

    @app.after_request
    def answer(response: Response) -> Response:
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
        if request.blueprint == "webhooks":
            _count_webhook(response)
        return response

    @app.teardown_request
    def unbind_ids(_error: BaseException | None) -> None:
        logs.unbind(g.pop("log_tokens", []))


def _count_webhook(response: Response) -> None:
    args = request.view_args or {}
    platform = args.get("platform", "")
    if platform not in current_bridge().registry.shops:
        platform = "unknown"  # the label takes only known platforms: a URL must not invent new series
    body = response.get_json(silent=True) if response.is_json else None
    body = body if isinstance(body, dict) else {}
    outcome = str(body.get("status") or body.get("error") or f"http_{response.status_code}")
    if outcome == "request_entity_too_large":
        outcome = "too_large"
    metrics.webhook_answered(platform, outcome, response.status_code, args.get("shop_id"))
