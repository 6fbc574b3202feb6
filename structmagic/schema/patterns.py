"""Patterns in the regex dialect every grammar engine takes.

JSON Schema's ``pattern`` is an ECMA-262 regular expression, where ``\\d`` is exactly
``[0-9]`` and ``\\w`` exactly ``[A-Za-z0-9_]``. Some servers' grammar converters reject these
escapes (llama.cpp's, which then answers unconstrained), so :func:`portable_patterns` writes
them out — losslessly — inside and outside character classes (``\\D`` and ``\\W`` too, outside
classes); what cannot be written out simply (``\\D`` inside a class) is left as it is. Only
the schema sent changes: answers are validated against the user's own schema.
"""

from __future__ import annotations

from typing import Any

__all__ = ["portable_pattern", "portable_patterns"]

_OUTSIDE = {"d": "[0-9]", "w": "[A-Za-z0-9_]", "D": "[^0-9]", "W": "[^A-Za-z0-9_]"}
_INSIDE = {"d": "0-9", "w": "A-Za-z0-9_"}
#: keywords whose values are data, not subschemas: never rewritten
_DATA = frozenset({"enum", "const", "default", "examples"})


def portable_pattern(pattern: str) -> str:
    """``pattern`` with ``\\d``, ``\\w`` (and, outside classes, ``\\D``, ``\\W``) written out."""
    if "\\" not in pattern:
        return pattern
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            table = _INSIDE if in_class else _OUTSIDE
            out.append(table.get(nxt, ch + nxt))
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        out.append(ch)
        i += 1
    return "".join(out)


#: the schemas made portable lately, by identity (a request schema is sent again and again)
_made: dict[int, tuple[Any, Any]] = {}


def portable_patterns(schema: Any) -> Any:
    """``schema`` with every ``pattern`` (and ``patternProperties`` key) made portable
    (:func:`portable_pattern`); the very same object when nothing changes. A request schema
    is not changed once made, so the result for the same object is kept and given again."""
    found = _made.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    made = _portable(schema)
    if len(_made) >= 256:
        _made.clear()
    _made[id(schema)] = (schema, made)
    return made


def _portable(schema: Any) -> Any:
    if isinstance(schema, list):
        items = [_portable(item) for item in schema]
        return items if any(a is not b for a, b in zip(items, schema, strict=True)) else schema
    if not isinstance(schema, dict):
        return schema
    changed = False
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "pattern" and isinstance(value, str):
            new: Any = portable_pattern(value)
            changed = changed or new != value
        elif key == "patternProperties" and isinstance(value, dict):
            new = {portable_pattern(k): _portable(v) for k, v in value.items()}
            changed = changed or list(new) != list(value) or any(
                new[portable_pattern(k)] is not v for k, v in value.items())
        elif key in _DATA:
            new = value
        else:
            new = _portable(value)
            changed = changed or new is not value
        out[key] = new
    return out if changed else schema
