"""Waiting for asynchronous effects (webhooks, the worker) by polling with a deadline, never a fixed sleep."""
from __future__ import annotations

import faulthandler
import sys
import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 30.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            # Where every thread is (the worker, the stand-ins' servers) says why it never happened.
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
