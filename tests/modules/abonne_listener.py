"""A stand-in for abonne's webhook endpoint for the modules' delivery tests: verifies each event with
adapters.module_events and answers as the README says."""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

from adapters.module_events import verify_event
from bridge.ports import WebhookRejected

SECRET = "listener-secret"


class Listener(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            verify_event(SECRET, dict(self.headers.items()), raw, datetime.now(timezone.utc))
        except WebhookRejected as rejected:
            self._answer(rejected.status, {"error": rejected.code, "detail": rejected.detail})
            return
        type(self).received.append((dict(self.headers.items()), raw))
        self._answer(200, {"ok": True, "shop_id": 1, "message": "the connection to abonne works"})

    def _answer(self, status: int, answer: dict) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def listening(platform: str) -> Iterator[str]:
    """abonne's webhook URL for shop 1 of `platform`, served while the block runs; events land in
    Listener.received."""
    Listener.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/{platform}/1"
    finally:
        server.shutdown()
        server.server_close()
