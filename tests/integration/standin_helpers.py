"""What the shop-module stand-in tests share: abonne's event endpoint, played, to receive the modules' events."""
from __future__ import annotations

import json
import threading
from datetime import datetime

from adapters.module_events import verify_event
from bridge.serving import serve_in_thread


class Receiver:
    """abonne's event endpoint, played: records each request and answers `status`. A context manager that stops
    it on the way out."""

    def __init__(self, status: int = 200):
        self.status = status
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        self._server = serve_in_thread(self._app)
        self.url = self._server.url

    def _app(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        headers["Content-Type"] = environ.get("CONTENT_TYPE", "")
        with self._lock:
            self.requests.append((headers, body))
        start_response(f"{self.status} X", [("Content-Type", "application/json")])
        return [b'{"ok": true}']

    def verified(self, index: int, secret: str, now: datetime) -> tuple[dict, bytes]:
        """The `index`th request's event, after checking its signature as abonne does: (parsed body, raw body)."""
        headers, body = self.requests[index]
        verify_event(secret, headers, body, now)
        return json.loads(body), body

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
