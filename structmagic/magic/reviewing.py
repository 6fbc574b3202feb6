"""``%structured_review NAME``: the review widget over a column the magic bound
(:class:`structmagic.rows.review.Review`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError

from .. import rows
from ..errors import StructuredError
from .notebook import lookup

__all__ = ["open_review"]


def open_review(ns: Mapping[str, Any], name: str, corrections: str | None,
                source: str | None) -> Any:
    """The review of the column ``name`` holds (the cell's value: its widget); a
    ``UsageError`` when it holds no column's results."""
    value = lookup(ns, name, "%structured_review")
    texts = lookup(ns, source, "--source") if source is not None else None
    if rows.runs.previous_results(value) is None:
        raise UsageError(f"%structured_review reviews a column's results: {name} holds a "
                         f"{type(value).__name__}, not the DataFrame %%structured --each bound "
                         "in this kernel (nor a copy of it) or a list of Results.")
    try:
        return rows.review.Review(value, source=texts, corrections=corrections)
    except StructuredError as exc:
        raise UsageError(str(exc)) from None
