"""The leaf values of an answer and their paths.

A path joins object keys with ``.`` and writes array indexes as ``[i]``: ``invoice_no``,
``lines[0].qty``, ``parties[1].name``. A key that is not a plain identifier
(``[A-Za-z_][A-Za-z0-9_]*``) is written as a JSON string in brackets:
``lines[0]["unit price"]``. The value itself, when it is neither an object nor an array, is
``$``; the items of an array at the root are ``[0]``, ``[1].name``. Empty objects and arrays
have no leaves.

The walk is iterative: a value nested 10,000 deep is walked like a flat one (no
``RecursionError``). A container that holds itself (not JSON, but possible in Python) is
walked once; its second appearance is a leaf. :func:`walk` gives the leaves and their
containers as flat lists (:class:`Tree`), :func:`leaves` the ``(path, value)`` pairs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

__all__ = ["Tree", "leaves", "parts_of", "path_of", "walk"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Tree(NamedTuple):
    """A value's leaves and the objects and arrays holding them, as flat lists (no object
    per leaf: an answer may have tens of thousands).

    Leaf ``i``: ``paths[i]``, ``values[i]``, its key or index in its container
    ``keys[i]``, and that container ``holders[i]``. Container ``c`` (numbered in document
    order, so a container comes before those it holds; 0 is the root): its container
    ``parents[c]`` and its key or index there ``links[c]`` (-1 and None for the root),
    whether it is an array ``arrays[c]``, and the key of the root holding it ``tops[c]``
    (None for the root and the items of a root array). A root that is not an object or an
    array is one leaf, ``$``, with holder -1 and key None.
    """

    paths: list[str]
    values: list[Any]
    keys: list[str | int | None]
    holders: list[int]
    parents: list[int]
    links: list[str | int | None]
    arrays: list[bool]
    tops: list[str | None]


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


_KEY_STEP = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_DECODER = json.JSONDecoder()


def parts_of(path: str) -> list[str | int]:
    """The keys and indexes of a path, as :func:`path_of` wrote it (``[]`` for ``"$"``):
    ``parts_of('lines[0]["unit price"]') == ["lines", 0, "unit price"]``. A text that is not
    such a path is a :class:`ValueError`."""
    if path == "$":
        return []
    parts: list[str | int] = []
    at = 0
    while at < len(path):
        if path.startswith('["', at):
            try:
                key, end = _DECODER.raw_decode(path, at + 1)
            except ValueError:
                raise ValueError(f"not a path: {path!r}") from None
            if not isinstance(key, str) or path[end:end + 1] != "]":
                raise ValueError(f"not a path: {path!r}")
            parts.append(key)
            at = end + 1
            continue
        found = _KEY_STEP.match(path, at)
        dotted = found is not None and path[at] == "."
        if found is None or (found[1] is not None and dotted == (at == 0)):
            raise ValueError(f"not a path: {path!r}")
        parts.append(found[1] if found[1] is not None else int(found[2]))
        at = found.end()
    return parts


def _children(container: Any) -> Iterator[tuple[str | int, Any]]:
    if isinstance(container, dict):
        return iter(container.items())
    return enumerate(container)


def _is_container(value: Any) -> bool:
    return isinstance(value, (dict, list, tuple))


def walk(value: Any) -> Tree:
    """Every leaf of ``value`` in document order (the order of its keys and items)."""
    if not _is_container(value):
        return Tree(["$"], [value], [None], [-1], [], [], [], [])
    tree = Tree([], [], [], [], [-1], [None], [not isinstance(value, dict)], [None])
    paths, values, keys, holders = tree.paths, tree.values, tree.keys, tree.holders
    written: list[str] = []  # the path of the open containers, one step each
    open_ids = {id(value)}
    stack: list[tuple[Iterator[tuple[str | int, Any]], int, Any]] = [(_children(value), 0, value)]
    while stack:
        items, number, _ = stack[-1]
        step = next(items, None)
        if step is None:
            _, _, done = stack.pop()
            open_ids.discard(id(done))
            if stack:
                written.pop()
            continue
        key, child = step
        if _is_container(child) and id(child) not in open_ids:
            if child:
                written.append(_step(key, not written))
                open_ids.add(id(child))
                tree.parents.append(number)
                tree.links.append(key)
                tree.arrays.append(not isinstance(child, dict))
                tree.tops.append(tree.tops[number] if number else
                                 key if isinstance(key, str) else None)
                stack.append((_children(child), len(tree.parents) - 1, child))
            continue
        paths.append("".join(written) + _step(key, not written))
        values.append(child)
        keys.append(key)
        holders.append(number)
    return tree


def leaves(value: Any) -> list[tuple[str, Any]]:
    """``(path, value)`` for every leaf of a JSON value, in document order."""
    tree = walk(value)
    return list(zip(tree.paths, tree.values, strict=True))
