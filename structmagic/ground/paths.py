"""The leaf values of an answer and their paths.

A path joins object keys with ``.`` and writes array indexes as ``[i]``: ``invoice_no``,
``lines[0].qty``, ``parties[1].name``. A key that is not a plain identifier
(``[A-Za-z_][A-Za-z0-9_]*``) is written as a JSON string in brackets:
``lines[0]["unit price"]``. The value itself, when it is neither an object nor an array, is
``$``; the items of an array at the root are ``[0]``, ``[1].name``. Empty objects and arrays
have no leaves.

The walk is iterative: a value nested 10,000 deep is walked like a flat one (no
``RecursionError``). A container that holds itself (not JSON, but possible in Python) is
walked once; its second appearance is a leaf.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

__all__ = ["Leaf", "leaves", "path_of", "walk"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Leaf(NamedTuple):
    """One leaf value: its path, the value, and the keys and indexes leading to it."""

    path: str
    value: Any
    parts: tuple[str | int, ...]


def _step(part: str | int, first: bool) -> str:
    """One key or index as it is written in a path."""
    if isinstance(part, int) and not isinstance(part, bool):
        return f"[{part}]"
    key = part if isinstance(part, str) else str(part)
    if _IDENTIFIER.fullmatch(key):
        return key if first else "." + key
    return "[" + json.dumps(key, ensure_ascii=False) + "]"


def path_of(parts: Sequence[str | int]) -> str:
    """The path of the keys (str) and array indexes (int) leading from the root to a value:
    ``path_of(["lines", 0, "unit price"]) == 'lines[0]["unit price"]'``; ``"$"`` for none."""
    if not parts:
        return "$"
    return "".join(_step(part, i == 0) for i, part in enumerate(parts))


def _children(container: Any) -> Iterator[tuple[str | int, Any]]:
    if isinstance(container, dict):
        return iter(container.items())
    return enumerate(container)


def _is_container(value: Any) -> bool:
    return isinstance(value, (dict, list, tuple))


def walk(value: Any) -> list[Leaf]:
    """Every leaf of ``value`` in document order (the order of its keys and items)."""
    if not _is_container(value):
        return [Leaf("$", value, ())]
    out: list[Leaf] = []
    parts: list[str | int] = []
    written: list[str] = []  # each part as written in the path
    open_ids = {id(value)}
    stack: list[tuple[Iterator[tuple[str | int, Any]], Any]] = [(_children(value), value)]
    while stack:
        items, _ = stack[-1]
        step = next(items, None)
        if step is None:
            _, done = stack.pop()
            open_ids.discard(id(done))
            if stack:
                parts.pop()
                written.pop()
            continue
        key, child = step
        if _is_container(child) and id(child) not in open_ids:
            if child:
                parts.append(key)
                written.append(_step(key, not written))
                open_ids.add(id(child))
                stack.append((_children(child), child))
            continue
        out.append(Leaf("".join(written) + _step(key, not written), child, (*parts, key)))
    return out


def leaves(value: Any) -> list[tuple[str, Any]]:
    """``(path, value)`` for every leaf of a JSON value, in document order."""
    return [(leaf.path, leaf.value) for leaf in walk(value)]
