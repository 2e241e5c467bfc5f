"""Answers of calls in flight, gathered for a moment so that one transaction records several of them."""
from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any, Iterable

GATHER_S = 0.02  # after the first answer, how long to wait for more: at most one commit per 20 ms per caller


def answered(pending: Iterable[Future[Any]]) -> set[Future[Any]]:
    """The calls done: waits for the first, then up to GATHER_S for the others."""
    done, still = wait(pending, return_when=FIRST_COMPLETED)
    if still:
        more, _ = wait(still, timeout=GATHER_S)
        done |= more
    return done
