"""The HTTP side every shop stand-in shares: listening on a loopback port, and the breakage switches tests use to
play a broken shop (refused connections, a host or proxy answering instead of the shop, a slow shop, a shop that
does the work and answers late).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Callable, Mapping

from bridge.serving import RunningServer, serve_in_thread

SERVICE_UNAVAILABLE_PAGE = b"<html><body><h1>503 Service Unavailable</h1></body></html>"


@dataclass
class Answer:
    status: int
    body: bytes
    headers: list[tuple[str, str]]


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class SwitchableStandin:
    """A stand-in's listener and breakage switches. The class using it provides `_parse(environ)` (a request with
    at least `.method`) and `_handle(request) -> Answer`, calls `_open_listener()` in start() and `_close_listener()`
    in stop(), and may override `_listen()` to serve differently."""

    def __init__(self) -> None:
        self._server: RunningServer | None = None
        self._port = 0
        self._forced: tuple[int, bytes, str] | None = None
        self._slow_s = 0.0
        self._late_s = 0.0
        self._switch_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/"

    # ================================================================== breakage switches

    def refuse_connections(self) -> None:
        """Close the listening socket: clients get "connection refused" until `accept_connections()`."""
        self._close_listener()

    def accept_connections(self) -> None:
        with self._switch_lock:
            if self._server is None:
                self._server = self._listen(self._port)

    def answer(self, status: int = 503, body: bytes = SERVICE_UNAVAILABLE_PAGE,
               content_type: str = "text/html; charset=UTF-8") -> None:
        """Answer every request with this, as a broken host or proxy would."""
        self._forced = (status, body, content_type)

    def slow_down(self, seconds: float) -> None:
        """Wait this long before handling each request (0 to stop)."""
        self._slow_s = seconds

    def answer_late(self, seconds: float) -> None:
        """Do each request's work at once, answer it this much later (0 to stop)."""
        self._late_s = seconds

    def behave_normally(self) -> None:
        self._forced = None
        self._slow_s = self._late_s = 0.0
        self.accept_connections()

    # ================================================================== listening

    def _listen(self, port: int) -> RunningServer:
        return serve_in_thread(self._wsgi, port=port)

    def _open_listener(self, port: int) -> None:
        if self._server is not None:
            raise RuntimeError("this stand-in is already running")
        self._server = self._listen(port)
        self._port = self._server.port

    def _close_listener(self) -> None:
        with self._switch_lock:
            server, self._server = self._server, None
        if server is not None:
            server.stop()

    def _parse(self, environ: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def _handle(self, request: Any) -> Answer:
        raise NotImplementedError

    def _wsgi(self, environ: Mapping[str, Any], start_response: Callable) -> list[bytes]:
        request = self._parse(environ)
        if self._slow_s:
            time.sleep(self._slow_s)
        if self._forced is not None:
            status, body, content_type = self._forced
            start_response(f"{status} {reason(status)}", [("Content-Type", content_type)])
            return [body]
        answer = self._handle(request)
        if self._late_s:
            time.sleep(self._late_s)
        start_response(f"{answer.status} {reason(answer.status)}", answer.headers)
        return [b"" if request.method == "HEAD" else answer.body]
