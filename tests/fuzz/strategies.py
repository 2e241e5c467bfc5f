"""Hypothesis strategies shared by the fuzz tests: arbitrary JSON, documents with one part broken, headers."""
from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# A bounded run: a few seconds per test in CI, new examples on every run (no example database in the tree).
FUZZ = settings(max_examples=200, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Values that break readers which trust a field's type: non-finite and huge numbers, numbers as text, empties.
NASTY = [float("inf"), float("-inf"), float("nan"), -0.0, 1e308, 10**40, -1, 0, True, None, "", " ", "1e400", "NaN",
         "-0", "19.999", "1" * 5000, "€", "\x00", "2027-13-45", [], {}, [None], {"": None}]
scalars = (st.sampled_from(NASTY) | st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30))
json_values = st.sampled_from(NASTY) | st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)


def every_part_replaced(document: Any) -> list[Any]:
    """`document` once for every part and every NASTY value put in its place, and once for every part removed:
    the deterministic floor under the random search."""
    variants = []
    for path in _paths(document)[1:]:
        for value in [*NASTY, _REMOVED]:
            variant = copy.deepcopy(document)
            parent = variant
            for step in path[:-1]:
                parent = parent[step]
            if value is not _REMOVED:
                parent[path[-1]] = copy.deepcopy(value)
            elif isinstance(parent, dict):
                del parent[path[-1]]
            else:
                continue
            variants.append(variant)
    return variants


_REMOVED = object()


def _paths(document: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, prefix + (index,))
    return found


@st.composite
def broken(draw: st.DrawFn, document: Any, times: int = 3) -> Any:
    """`document` with up to `times` of its parts (any depth, the whole included) replaced by arbitrary JSON or
    removed: wrong types, missing fields, huge or non-finite numbers where the reader expects something else."""
    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(min_value=1, max_value=times))):
        path = draw(st.sampled_from(_paths(document)))
        if not path:
            document = copy.deepcopy(draw(json_values))  # a drawn value may be drawn again: never share one
            continue
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(draw(json_values))  # shared, it could become its own ancestor
    return document


def header_maps(names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    """Headers as a server hands them over: the names that matter (or others), any text values."""
    return st.dictionaries(st.sampled_from(names) | st.text(min_size=1, max_size=20),
                           st.text(max_size=120) | st.sampled_from(["", " ", "v1=", "v1=" + "0" * 64, "1" * 400]),
                           max_size=6)


@st.composite
def one_byte_changed(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with exactly one byte changed to another value."""
    index = draw(st.integers(min_value=0, max_value=len(data) - 1))
    value = draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != data[index]))
    return data[:index] + bytes([value]) + data[index + 1:]
