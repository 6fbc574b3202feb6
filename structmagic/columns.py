"""The names of the columns structmagic puts beside the schema's fields in a table.

A table of answers (``--each`` over a DataFrame, an :class:`~structmagic.Extractor`'s output,
a model comparison's frame) has a column per top-level field of the schema, then columns
structmagic adds: ``error``, ``cost``, and the Extractor's counts. A field of the answers
always keeps its name; an added column whose name a field (or a column kept from the input)
already has is renamed, never merged into it: ``error`` becomes ``row_error``, ``cost``
becomes ``cost_usd``, any other ``row_<name>`` (with a leading ``_`` added until it is free).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping
from typing import Any

__all__ = ["RENAMED", "is_blank", "own_column", "top_fields", "top_properties"]

#: the name an added column takes when a field already has its own
RENAMED = {"error": "row_error", "cost": "cost_usd"}


def own_column(name: str, taken: Collection[str]) -> str:
    """The name of structmagic's column ``name`` in a table whose ``taken`` names (the
    schema's fields, the columns kept from the input) come first."""
    if name not in taken:
        return name
    alt = RENAMED.get(name, f"row_{name}")
    while alt in taken:
        alt = "_" + alt
    return alt


def top_properties(spec: Any) -> dict[str, Any]:
    """The schema's top-level fields and their sub-schemas (a root ``$ref`` followed);
    ``{"value": root}`` when the root is not an object with ``properties``."""
    node = spec.original
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        from .schema.tree import resolve_ref

        with contextlib.suppress(KeyError):
            node = resolve_ref(node, node["$ref"])
    props = node.get("properties") if isinstance(node, dict) else None
    return dict(props) if isinstance(props, dict) else {"value": node}


def top_fields(spec: Any) -> list[str]:
    """The columns of a schema's top-level fields (``["value"]`` for another root)."""
    return list(top_properties(spec))


def is_blank(value: Any) -> bool:
    """Whether ``value`` is a missing cell as pandas and NumPy hold one: NaN (of any float
    type), pandas' ``NA`` or ``NaT`` (None is not: say it on its own where it counts)."""
    if value is None or isinstance(value, (str, bytes, Mapping, list, tuple)):
        return False
    try:
        return bool(value != value)  # NaN, NaT and pandas' NA are not equal to themselves
    except Exception:  # NA's truth value is ambiguous; an array's, too
        return type(value).__name__ in ("NAType", "NaTType")
