"""A forward HTTP proxy that abonne's processes send their outgoing calls through (HTTP_PROXY), so that a test can
break one shop on purpose, whether it is a stand-in or a real shop: refuse its connections, answer 503 for it, or
hold one of its answers (the shop has done the work, abonne has not heard back yet).

A forward proxy rather than a reverse one because the request keeps its URL: WooCommerce signs OAuth 1.0a over
its own home URL, so a shop reached through another host or port would refuse every signature.
"""
from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}


@dataclass
class Hold:
    """An answer kept back: `reached` is set once the shop has answered, `release` lets the answer go on."""

    method: str
    path: re.Pattern[str]
    query: re.Pattern[str] | None = None
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Fault:
    netloc: str
    refuse: bool = False
    status: int | None = None
    holds: list[Hold] = field(default_factory=list)


class ForwardProxy:
    def __init__(self) -> None:
        self._faults: dict[str, _Fault] = {}
        self._lock = threading.Lock()
        self.forwarded = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy._forward(self)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="forward-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        for fault in self._faults.values():
            for hold in fault.holds:
                hold.release.set()
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ switches, per shop (host:port)

    def refuse(self, netloc: str) -> None:
        """Connections to the shop are reset, as when nothing listens there."""
        self._fault(netloc).refuse = True

    def answer(self, netloc: str, status: int = 503) -> None:
        self._fault(netloc).status = status

    def hold(self, netloc: str, method: str, path: str, query: str | None = None) -> Hold:
        """Keep back the shop's answer to the next request matching `method`, the `path` regex and, if given, the
        `query` regex (OpenCart routes every API call through index.php: the call is in the query)."""
        hold = Hold(method.upper(), re.compile(path), re.compile(query) if query is not None else None)
        self._fault(netloc).holds.append(hold)
        return hold

    def heal(self, netloc: str) -> None:
        with self._lock:
            fault = self._faults.pop(netloc, None)
        for hold in fault.holds if fault else ():
            hold.release.set()

    def _fault(self, netloc: str) -> _Fault:
        with self._lock:
            return self._faults.setdefault(netloc, _Fault(netloc))

    # ------------------------------------------------------------------ forwarding

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        target = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            fault = self._faults.get(target.netloc)
            hold = next((h for h in fault.holds if h.method == handler.command and h.path.search(target.path)
                         and (h.query is None or h.query.search(target.query)) and not h.reached.is_set()),
                        None) if fault else None
        if fault and fault.refuse:
            # SO_LINGER 0: close with a reset, so the client sees a connection error, never an answer.
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            return
        if fault and fault.status:
            self._reply(handler, fault.status, [("Content-Type", "text/html")],
                        f"<html><body><h1>{fault.status}</h1></body></html>".encode())
            return
        headers = [(k, v) for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP]
        connection = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=120)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            connection.putrequest(handler.command, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            connection.endheaders(body or None)
            answer = connection.getresponse()
            payload = answer.read()
            answer_headers = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP
                              and k.lower() != "content-length"]
        except OSError as error:
            self._reply(handler, 502, [("Content-Type", "text/plain")], f"proxy: {error}".encode())
            return
        finally:
            connection.close()
        with self._lock:
            self.forwarded += 1
        if hold is not None:
            hold.reached.set()
            hold.release.wait()
        self._reply(handler, answer.status, answer_headers, payload, answer.reason)

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], body: bytes,
               reason: str | None = None) -> None:
        try:
            handler.send_response_only(status, reason)
            for name, value in headers:
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(body)
        except OSError:
            handler.close_connection = True  # the client is gone (killed while we held its answer)
