"""The results behind a table: what ``--each`` ran to make the DataFrame it bound.

A DataFrame holds the answers' values, not their :class:`~structmagic.Result` objects (their
grounding, raw text, usage). The magic remembers, for each table it binds, the results it was
made from, for as long as the table lives (a weak reference: nothing is kept once the table
is gone), so ``structmagic.grounding_frame(df)`` works on the table the magic bound.
``frame.attrs`` is not used: pandas copies it into every derived table.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

from ..call.result import Result

__all__ = ["previous_results", "remember", "results_of"]

_lock = threading.Lock()
#: id of a table -> (a weak reference to it, its results, its index labels)
_runs: dict[int, tuple[weakref.ref[Any], list[Any], Sequence[Any]]] = {}


def remember(table: Any, results: Sequence[Any], index: Sequence[Any]) -> None:
    """Keep ``results`` (and the rows' ``index`` labels: a pandas Index as it is, it cannot
    change; anything else copied) for ``table`` while it lives."""
    key = id(table)

    def forget(_: Any, key: int = key) -> None:
        with _lock:
            entry = _runs.get(key)
            if entry is not None and entry[0]() is None:
                del _runs[key]

    try:
        ref = weakref.ref(table, forget)
    except TypeError:  # a value that takes no weak reference (a list): nothing to remember
        return
    with _lock:
        _runs[key] = (ref, list(results), index if _is_index(index) else list(index))


def _is_index(value: Any) -> bool:
    return type(value).__module__.split(".", 1)[0] == "pandas" and hasattr(value, "is_unique")


def results_of(table: Any) -> tuple[list[Any], Sequence[Any]] | None:
    """The results and index labels ``table`` was made from, or None when it is not a table
    the magic made (or no longer the same object)."""
    with _lock:
        entry = _runs.get(id(table))
    if entry is None or entry[0]() is not table:
        return None
    return entry[1], entry[2]


def previous_results(previous: Any) -> tuple[list[Result], Sequence[Any], Any] | None:
    """The results, index labels and frame of what an earlier run bound (the DataFrame the
    magic made, or a list of :class:`~structmagic.Result`); None for anything else."""
    made = results_of(previous)
    if made is not None:
        return made[0], made[1], previous
    if isinstance(previous, (list, tuple)) and previous and all(
            isinstance(r, Result) for r in previous):
        return list(previous), list(range(len(previous))), None
    return None
