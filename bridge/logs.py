"""Log lines on stdout: one JSON object per line (or plain text), carrying the request, shop and agreement ids of
the work they belong to."""
from __future__ import annotations

import logging
import re
import sys
import time
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, Iterator, TextIO

from pythonjsonlogger.json import JsonFormatter

FORMATS = ("json", "text")
IDS = ("request_id", "shop_id", "agreement_id")
_context: dict[str, ContextVar[Any]] = {name: ContextVar(name, default=None) for name in IDS}


def bind(**ids: Any) -> list[Token[Any]]:
    """Attach ids to every log line of this thread (or task) until `unbind` is given what this returned."""
    return [_context[name].set(value) for name, value in ids.items() if value is not None]


def unbind(tokens: list[Token[Any]]) -> None:
    for token in reversed(tokens):
        token.var.reset(token)


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    tokens = bind(**ids)
    try:
        yield
    finally:
        unbind(tokens)


class ContextIds(logging.Filter):
    """Copies the bound ids onto each record, unless the call gave its own (`extra={"shop_id": ...}`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _context.items():
            if getattr(record, name, None) is None:
                value = var.get()
                if value is not None:
                    setattr(record, name, value)
        return True


# Credentials that travel inside URLs and headers, as HTTP libraries log them at DEBUG: WooCommerce's OAuth 1.0a keys
# in the query (over http), PrestaShop's ws_key, a password in a database URL, a bearer token, and the signed
# customer links (/pay/<token>, /card/<token>), which pay or replace a card for whoever holds them.
_CREDENTIALS = [
    (re.compile(r"(?i)([?&](?:oauth_consumer_key|oauth_signature|consumer_key|consumer_secret|ws_key|key|token|"
                r"api_token|signature)=)[^&\s\"']+"), r"\1[redacted]"),
    (re.compile(r"(/(?:pay|card)/)[A-Za-z0-9_\-.]{16,}"), r"\1[redacted]"),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1[redacted]@"),
    (re.compile(r"(?i)(Bearer\s+)[A-Za-z0-9_\-.~+/=]+"), r"\1[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    return text


class Redact(logging.Filter):
    """Scrubs credentials from the message and the traceback before any formatter sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters print exc_text when exc_info is gone; the JSON one would format exc_info afresh.
            record.exc_text, record.exc_info = redact(record.exc_text), None
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{name}={getattr(record, name)}" for name in IDS if getattr(record, name, None) is not None)
        return f"{line} [{ids}]" if ids else line


def json_formatter() -> logging.Formatter:
    # Any `extra` given to a call becomes a field of its own.
    formatter = JsonFormatter("{asctime}{levelname}{name}{message}", style="{",
                              rename_fields={"asctime": "time", "levelname": "level", "name": "logger",
                                             "exc_info": "traceback"})
    formatter.converter = time.gmtime  # ISO 8601 in UTC, e.g. 2027-01-31T09:00:00.123Z
    formatter.default_time_format, formatter.default_msec_format = "%Y-%m-%dT%H:%M:%S", "%s.%03dZ"
    return formatter


def handler(log_format: str, stream: TextIO | None = None) -> logging.Handler:
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    out = logging.StreamHandler(stream or sys.stdout)
    out.addFilter(ContextIds())
    out.addFilter(Redact())
    out.setFormatter(json_formatter() if log_format == "json" else TextFormatter())
    out._abonne = True  # type: ignore[attr-defined]  # ours: configure() replaces it
    return out


def configure_if_unset(log_format: str, level: int = logging.INFO) -> None:
    """For a WSGI server that leaves the app's logging alone (gunicorn configures only its own loggers): log as the
    settings say, unless something (`abonne serve`, a test, the demo) already gave the root logger a handler."""
    if not logging.getLogger().handlers:
        configure(log_format, level)


def configure(log_format: str, level: int = logging.INFO, stream: TextIO | None = None) -> logging.Handler:
    """Send the root logger's lines to stdout in `log_format`, replacing plain stream handlers (logging's
    basicConfig) and any handler installed here before; handlers others attached (a test's capture) stay."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_abonne", False) or type(existing) is logging.StreamHandler:
            root.removeHandler(existing)
    installed = handler(log_format, stream)
    root.addHandler(installed)
    root.setLevel(level)
    # Alembic announces its context at INFO each time one is made, and /readyz makes one per probe.
    logging.getLogger("alembic.runtime.migration").setLevel(max(level, logging.WARNING))
    return installed
