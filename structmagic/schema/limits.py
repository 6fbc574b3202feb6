"""A provider's documented limits on the schema of one request, and the check against them.

Each provider declares its :class:`Limits` as data (``providers/<name>.py``); the request
schema it builds is checked with :func:`limit_problems`. A request over a limit is not sent
in the constrained form: the provider says why and asks for the schema another way (OpenAI:
``strict: false``; Claude: a tool instead of ``output_config``), and the answer is validated
on our side all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .tree import json_path, resolve_ref, subschemas

__all__ = ["Limits", "limit_problems", "object_depth"]


@dataclass(frozen=True)
class Limits:
    """Limits on one request's schema; ``None`` means no limit of that kind."""

    #: object properties, in all
    max_properties: int | None = None
    #: levels of object nesting
    max_depth: int | None = None
    #: enum values, in all
    max_enum_values: int | None = None
    #: characters in the string values of one enum ...
    max_enum_chars: int | None = None
    #: ... that has more values than this
    enum_chars_from: int = 0
    #: characters in all property names, definition names, enum values and const values
    max_total_chars: int | None = None
    #: optional properties (not in ``required``), in all
    max_optional: int | None = None
    #: properties whose schema is a union (``anyOf`` or a list of types), in all
    max_unions: int | None = None


def limit_problems(schema: Any, limits: Limits, *, what: str = "the limit") -> list[tuple[str,
                                                                                          str]]:
    """``(JSON path, message)`` for each limit the request ``schema`` exceeds.

    ``what`` names whose limit it is in the messages (e.g. "OpenAI's strict-mode limit").
    """
    problems: list[tuple[str, str]] = []
    counts = {"props": 0, "enums": 0, "chars": 0, "optional": 0, "unions": 0}
    reported: set[str] = set()

    def over(kind: str, limit: int | None, where: list[Any], message: str) -> None:
        if limit is not None and counts[kind] > limit and kind not in reported:
            reported.add(kind)
            problems.append((json_path(where), f"{message} ({what} is {limit})."))

    def walk(node: Any, path: list[Any]) -> None:
        if not isinstance(node, dict):
            return
        props = node.get("properties")
        if isinstance(props, dict):
            counts["props"] += len(props)
            counts["chars"] += sum(len(str(k)) for k in props)
            given = node.get("required")
            required: list[Any] = given if isinstance(given, list) else []
            counts["optional"] += sum(1 for k in props if k not in required)
            counts["unions"] += sum(1 for sub in props.values() if _is_union(sub))
            where = [*path, "properties"]
            over("props", limits.max_properties, where,
                 f"The schema has more than {limits.max_properties} properties in all")
            over("optional", limits.max_optional, where,
                 f"The schema has more than {limits.max_optional} optional properties in all")
            over("unions", limits.max_unions, where,
                 f"The schema has more than {limits.max_unions} properties whose type is a "
                 "union (anyOf or a list of types)")
        for key in ("$defs", "definitions"):
            if isinstance(node.get(key), dict):
                counts["chars"] += sum(len(str(k)) for k in node[key])
        if "const" in node:
            counts["chars"] += len(str(node["const"]))
        enum = node.get("enum")
        if isinstance(enum, list):
            counts["enums"] += len(enum)
            counts["chars"] += sum(len(str(v)) for v in enum)
            where = [*path, "enum"]
            over("enums", limits.max_enum_values, where,
                 f"The schema has more than {limits.max_enum_values} enum values in all")
            chars = sum(len(v) for v in enum if isinstance(v, str))
            if (limits.max_enum_chars is not None and len(enum) > limits.enum_chars_from
                    and chars > limits.max_enum_chars):
                problems.append((json_path(where), (
                    f"This enum has {len(enum)} values whose strings add up to {chars} "
                    f"characters ({what} is {limits.max_enum_chars} characters for an enum "
                    f"of more than {limits.enum_chars_from} values).")))
        over("chars", limits.max_total_chars, path,
             f"The schema's property names, definition names, enum and const values add up "
             f"to more than {limits.max_total_chars} characters")
        for rel, sub, _ in subschemas(node):
            walk(sub, [*path, *rel])

    walk(schema, [])
    if limits.max_depth is not None:
        levels, chain = object_depth(schema)
        if levels > limits.max_depth:
            problems.append((json_path(chain[limits.max_depth]), (
                f"The schema nests objects {levels} levels deep ({what} is "
                f"{limits.max_depth} levels of nesting).")))
    return problems


def _is_union(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    typ = schema.get("type")
    return "anyOf" in schema or (isinstance(typ, list) and len(typ) > 1)


def object_depth(root: Any) -> tuple[int, list[list[Any]]]:
    """The deepest nesting of objects (following ``$ref``, not recursion) and the paths of
    the objects along it, outermost first."""
    memo: dict[str, tuple[int, list[list[Any]]]] = {}

    def height(node: Any, path: list[Any], stack: frozenset[str]) -> tuple[int,
                                                                           list[list[Any]]]:
        if not isinstance(node, dict):
            return 0, []
        best: tuple[int, list[list[Any]]] = (0, [])
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in stack:
            if ref not in memo:
                try:
                    target = resolve_ref(root, ref)
                except KeyError:
                    target = None
                target_path = ([] if ref == "#" else
                               [unquote(p).replace("~1", "/").replace("~0", "~")
                                for p in ref[2:].split("/")] if ref.startswith("#/") else
                               [ref])
                memo[ref] = height(target, target_path, stack | {ref})
            best = memo[ref]
        for rel, sub, keyword in subschemas(node):
            if keyword in ("$defs", "definitions", "not", "if", "propertyNames"):
                continue
            found = height(sub, [*path, *rel], stack)
            if found[0] > best[0]:
                best = found
        typ = node.get("type")
        if typ == "object" or (isinstance(typ, list) and "object" in typ) or (
                typ is None and "properties" in node):
            return best[0] + 1, [path, *best[1]]
        return best

    return height(root, [], frozenset({"#"}))
