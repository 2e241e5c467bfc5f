"""Run a WSGI app on waitress: in the foreground (`abonne serve`) or in a thread (stand-ins, tests, demo)."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from waitress.server import create_server

WsgiApp = Callable[..., Any]


@dataclass
class RunningServer:
    url: str
    host: str
    port: int
    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        # Let requests in progress finish before their connections close under them.
        self._server.task_dispatcher.shutdown(timeout=5)
        if self._thread.is_alive():
            request_shutdown(self._server)
        self._thread.join(timeout=10)


def request_shutdown(server: Any) -> None:
    """Make `server.run()` return: close the listener and every open connection from inside waitress's own loop
    thread, since closing sockets from another thread (or a signal handler) races with its poll."""
    def close_all() -> None:
        for channel in list(server._map.values()):
            channel.close()
    try:
        server.trigger.pull_trigger(close_all)
    except OSError:  # the trigger is closed: the loop has ended already
        pass


def make_server(app: WsgiApp, host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> Any:
    # clear_untrusted_proxy_headers: no proxy is trusted unless deploy/ configures one.
    return create_server(app, host=host, port=port, threads=threads, ident="abonne",
                         clear_untrusted_proxy_headers=True)


def serve_in_thread(app: WsgiApp, host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> RunningServer:
    """Start `app` on a free port (port=0) and return once it accepts connections."""
    server = make_server(app, host=host, port=port, threads=threads)
    bound_port = server.effective_port
    thread = threading.Thread(target=server.run, name=f"wsgi:{bound_port}", daemon=True)
    thread.start()
    return RunningServer(url=f"http://{host}:{bound_port}", host=host, port=bound_port,
                         _server=server, _thread=thread)
