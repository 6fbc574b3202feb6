"""Mapping an answer back from the request's shape to the user's schema's shape.

A conversion that made optional properties required + null (OpenAI's strict mode) has the
model write ``null`` for what it would have left out; :func:`map_back` drops those nulls
again where the original schema does not admit null. Pure; no jsonschema import here (the
caller passes an ``is_valid`` function).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from .tree import resolve_ref

__all__ = ["map_back"]


def map_back(original: Any, value: Any, is_valid: Callable[[Any, Any], bool]) -> Any:
    """``value`` (shaped like the strict request) in the original schema's shape.

    Drops the nulls the conversion had the model write for properties that were optional
    and do not admit null. ``is_valid(subschema, instance)`` validates against a subschema
    of ``original`` (with its refs); it picks the ``anyOf`` / ``oneOf`` branch a value
    belongs to.
    """
    return _Mapper(original, is_valid).map(original, value, 0)


class _Mapper:
    def __init__(self, root: Any, is_valid: Callable[[Any, Any], bool]) -> None:
        self.root = root
        self.is_valid = is_valid

    def parts(self, node: Any) -> list[dict[str, Any]]:
        """``node`` and every schema that applies with it (refs, allOf), resolved."""
        out: list[dict[str, Any]] = []
        todo = [node]
        while todo and len(out) < 64:
            cur = todo.pop(0)
            if not isinstance(cur, dict) or any(cur is seen for seen in out):
                continue
            out.append(cur)
            if isinstance(cur.get("$ref"), str):
                with contextlib.suppress(KeyError):
                    todo.append(resolve_ref(self.root, cur["$ref"]))
            todo.extend(cur.get("allOf") or [])
        return out

    def map(self, node: Any, value: Any, depth: int) -> Any:
        if depth > 500 or not isinstance(value, (dict, list)):
            return value
        parts = self.parts(node)
        if isinstance(value, dict):
            props: dict[str, Any] = {}
            required: set[str] = set()
            for part in parts:
                if isinstance(part.get("properties"), dict):
                    for key, sub in part["properties"].items():
                        props.setdefault(key, sub)
                if isinstance(part.get("required"), list):
                    required.update(part["required"])
            if props:
                mapped = {}
                for key, item in value.items():
                    sub = props.get(key)
                    if sub is None:
                        mapped[key] = item
                    elif item is None and key not in required and not self.is_valid(sub, None):
                        continue  # written as null only because strict mode had to
                    else:
                        mapped[key] = self.map(sub, item, depth + 1)
                value = mapped
        else:
            items = next((p["items"] for p in parts if isinstance(p.get("items"), dict)), None)
            if items is not None:
                value = [self.map(items, item, depth + 1) for item in value]
        branches = [b for p in parts for key in ("anyOf", "oneOf") for b in p.get(key) or []]
        if branches:
            for branch in branches:
                mapped = self.map(branch, value, depth + 1)
                if self.is_valid(branch, mapped):
                    return mapped
        return value
