"""gunicorn settings for abonne's web processes: `gunicorn --config /etc/abonne/gunicorn.conf.py`.

The web processes only answer HTTP: webhooks are verified, stored and answered, and the worker (`abonne worker`, its
own process or unit) does the rest. This serves the same app as `abonne serve --no-worker`.

Read from the environment (the ABONNE_* settings of the app itself are read by bridge/config.py):
  ABONNE_WEB_BIND     where to listen (default 127.0.0.1:8000; a container publishes 0.0.0.0:8000)
  ABONNE_WEB_WORKERS  web processes (else WEB_CONCURRENCY, else 2 per CPU this process may use, plus 1)
  ABONNE_WEB_THREADS  threads per web process (default 4)
  PROMETHEUS_MULTIPROC_DIR  when set, a folder where the processes share their metrics (created when missing)
"""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from typing import Any

from gunicorn import glogging


def _whole_number(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {raw!r}")
    return int(raw)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # a CPU set (taskset, CPUAffinity=, --cpuset-cpus), not every core
    except AttributeError:
        return os.cpu_count() or 1


wsgi_app = "bridge.app:create_app()"
bind = [os.environ.get("ABONNE_WEB_BIND", "127.0.0.1:8000")]
workers = _whole_number("ABONNE_WEB_WORKERS", _whole_number("WEB_CONCURRENCY", 2 * _usable_cpus() + 1))
worker_class = "gthread"
threads = _whole_number("ABONNE_WEB_THREADS", 4)
# No preload: each process opens its own database connections after the fork.
preload_app = False

# Every request is short (a webhook is verified and stored, a page reads a few rows): a process silent for 30 s
# is stuck and is replaced; on SIGTERM requests in progress get 30 s to finish.
timeout = 30
graceful_timeout = 30
keepalive = 5  # longer than nginx's upstream keepalive_timeout in deploy/nginx.conf, so nginx closes first

limit_request_line = 4094
limit_request_fields = 60
limit_request_field_size = 8190

# Who the client is and whether it used HTTPS is decided by the app alone (ABONNE_TRUSTED_PROXIES), so gunicorn
# trusts no X-Forwarded-* header itself, not even from loopback.
forwarded_allow_ips = ""

# The heartbeat files the arbiter watches: on tmpfs, so a slow disk never makes a healthy process look stuck.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# gunicorn 25.1+ opens a control socket under $HOME by default; the web processes need none, and $HOME is read-only
# under the systemd unit and in the container.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = "info"

# Customer links carry a signed capability in their path: it never goes into a log line.
_CAPABILITY_PATH = re.compile(r"^/(pay|card)/[^/]+")


class JsonAccessLogger(glogging.Logger):
    """One JSON object per request on stdout."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if self.cfg.accesslog is None:
            return
        status = str(resp.status).split(None, 1)[0]
        response_headers = {name.lower(): value for name, value in resp.headers}
        line = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "logger": "gunicorn.access",
            "request_id": response_headers.get("x-request-id") or environ.get("HTTP_X_REQUEST_ID"),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "scheme": environ.get("wsgi.url_scheme"),
            "method": environ.get("REQUEST_METHOD"),
            "path": _CAPABILITY_PATH.sub(r"/\1/…", environ.get("PATH_INFO", "")),
            "status": int(status) if status.isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 2),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "pid": os.getpid(),
        }
        self.access_log.info(json.dumps(line))


logger_class = JsonAccessLogger


def on_starting(server: Any) -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
    if getattr(server.app, "app_uri", wsgi_app) == wsgi_app:  # abonne, not another app given these settings
        _refuse_a_schema_of_another_version()


def _refuse_a_schema_of_another_version() -> None:
    """As `abonne serve` and `abonne worker` do: better not to start than to fail request after request."""
    from sqlalchemy.exc import SQLAlchemyError

    from bridge.config import Settings
    from bridge.store.db import make_engine, migrations_current
    engine = make_engine(Settings.from_env().database_url)
    try:
        current = migrations_current(engine)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise SystemExit(f"the database at {engine.url} cannot be reached: {reason}") from None
    finally:
        engine.dispose()  # no connection of the arbiter's may be inherited by the web processes
    if not current:
        raise SystemExit(f"the database at {engine.url} is not migrated to this version: run `abonne migrate` first")


def child_exit(server: Any, worker: Any) -> None:
    """A web process ended: its live gauges leave the shared metrics (prometheus-client's multiprocess mode)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)
