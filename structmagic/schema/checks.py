"""Checks before any request, the same for every provider: a schema no request should carry.

:func:`precheck` raises :class:`~structmagic.SchemaError` (with the JSON path of the problem)
for an unresolvable or remote ``$ref``, a ``$ref`` that leads back to itself without going
into a property or an item, and a schema that obviously admits no value at all.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..errors import SchemaError
from .tree import is_number, is_type, json_path, resolve_ref, subschemas

__all__ = ["precheck"]


def precheck(schema: Any) -> None:
    """Raise :class:`SchemaError` (with the JSON path) for a schema no request should carry.

    Unresolvable or remote ``$ref``; a ``$ref`` that loops back to itself in place; a schema
    that obviously admits nothing (``false``, ``{"not": {}}``, ``enum: []``, ``type: []``,
    minimum > maximum, ...). ``schema`` has already passed the metaschema check. These hold
    for every provider; each provider's own limits are checked when its request is built
    (:mod:`structmagic.schema.limits`).
    """
    if schema is False:
        raise SchemaError("The schema is `false`: it admits no value at all.", path="$")
    if not isinstance(schema, dict):
        return
    _walk_checks(schema, schema, [], negated=False, branch=False)
    _check_ref_loops(schema)


def _walk_checks(root: dict[str, Any], node: Any, path: list[Any], *, negated: bool,
                 branch: bool) -> None:
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str):
        if not ref.startswith("#"):
            raise SchemaError(
                f"$ref {ref!r} points outside the schema: only local references (#, "
                "#/$defs/...) are followed, no remote schema is ever loaded.",
                path=json_path([*path, "$ref"]))
        try:
            resolve_ref(root, ref)
        except KeyError:
            raise SchemaError(f"$ref {ref!r} does not resolve inside the schema.",
                              path=json_path([*path, "$ref"])) from None
    if not negated and not branch:
        _admits_something(node, path)
    for rel, sub, keyword in subschemas(node):
        sub_negated = negated or keyword in ("not", "if", "propertyNames", "contains")
        if sub is False and not sub_negated:
            _check_false(node, rel, path)
        _walk_checks(root, sub, [*path, *rel], negated=sub_negated,
                     branch=keyword in ("anyOf", "oneOf"))


_IN_PLACE = frozenset({"allOf", "anyOf", "oneOf", "not", "if", "then", "else",
                       "dependentSchemas"})


def _check_ref_loops(root: dict[str, Any]) -> None:
    """A ``$ref`` that leads back to itself without going into a property or an item
    (``{"$ref": "#"}`` at the root, ``A: {"anyOf": [{"$ref": "#/$defs/A"}]}``) sends every
    validator into an endless loop."""
    first_seen: dict[str, list[Any]] = {}

    def in_place_refs(node: Any, path: list[Any], out: list[tuple[str, list[Any]]]) -> None:
        if not isinstance(node, dict):
            return
        if isinstance(node.get("$ref"), str):
            out.append((node["$ref"], [*path, "$ref"]))
        for rel, sub, keyword in subschemas(node):
            if keyword in _IN_PLACE:
                in_place_refs(sub, [*path, *rel], out)

    def collect(node: Any, path: list[Any]) -> None:
        if not isinstance(node, dict):
            return
        if isinstance(node.get("$ref"), str):
            first_seen.setdefault(node["$ref"], [*path, "$ref"])
        for rel, sub, _ in subschemas(node):
            collect(sub, [*path, *rel])

    collect(root, [])
    edges: dict[str, list[str]] = {}
    for ref in first_seen:
        found: list[tuple[str, list[Any]]] = []
        with contextlib.suppress(KeyError):
            in_place_refs(resolve_ref(root, ref), [], found)
        edges[ref] = [r for r, _ in found]
    for start in first_seen:
        seen: set[str] = set()
        todo = list(edges.get(start, []))
        while todo:
            ref = todo.pop()
            if ref == start:
                raise SchemaError(
                    f"$ref {start!r} leads back to itself without going into a property or "
                    "an item: no value could ever be checked against it (an endless loop).",
                    path=json_path(first_seen[start]))
            if ref not in seen:
                seen.add(ref)
                todo.extend(edges.get(ref, []))


def _check_false(parent: dict[str, Any], rel: list[Any], path: list[Any]) -> None:
    """A ``false`` subschema is fine where it forbids something optional; not elsewhere."""
    keyword = rel[0]
    bad = None
    if keyword == "properties" and rel[1] in (parent.get("required") or []):
        bad = f"the required property {rel[1]!r} has the schema `false`"
    elif keyword == "items" and isinstance(parent.get("minItems"), int) and parent[
            "minItems"] > len(parent.get("prefixItems") or []):
        bad = "`items` is `false` but minItems asks for more items"
    elif keyword == "allOf":
        bad = "an `allOf` member is `false`"
    if bad:
        raise SchemaError(f"This schema admits no value: {bad}.",
                          path=json_path([*path, *rel]))


def _admits_nothing(node: Any) -> tuple[str, str] | None:
    """``(keyword, why)`` when ``node`` obviously admits no value, else None."""
    if node is False:
        return "", "it is `false`"
    if not isinstance(node, dict):
        return None
    if node.get("not") == {} or node.get("not") is True:
        return "not", "`not` of a schema that accepts everything"
    typ = node.get("type")
    types = [typ] if isinstance(typ, str) else typ if isinstance(typ, list) else None
    if types == []:
        return "type", "`type` is an empty list"
    enum = node.get("enum")
    if isinstance(enum, list):
        if not enum:
            return "enum", "`enum` is empty"
        if types and not any(is_type(v, t) for v in enum for t in types):
            return "enum", f"no enum value is of type {' or '.join(map(repr, types))}"
    if "const" in node and types and not any(is_type(node["const"], t) for t in types):
        return "const", f"the const value is not of type {' or '.join(map(repr, types))}"
    lo, hi = node.get("minimum"), node.get("maximum")
    xlo, xhi = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
    numeric = types is None or bool({"number", "integer"} & set(types))
    if numeric and (types is None or set(types) <= {"number", "integer"}):
        for a, b, lo_key, hi_key, strict in (
            (lo, hi, "minimum", "maximum", False),
            (xlo, hi, "exclusiveMinimum", "maximum", True),
            (lo, xhi, "minimum", "exclusiveMaximum", True),
            (xlo, xhi, "exclusiveMinimum", "exclusiveMaximum", True),
        ):
            if is_number(a) and is_number(b) and (a >= b if strict else a > b):
                return lo_key, f"{lo_key} {a} leaves nothing up to {hi_key} {b}"
    for lo_key, hi_key, applies in (("minLength", "maxLength", "string"),
                                    ("minItems", "maxItems", "array"),
                                    ("minProperties", "maxProperties", "object"),
                                    ("minContains", "maxContains", "array")):
        a, b = node.get(lo_key), node.get(hi_key)
        if is_number(a) and is_number(b) and a > b and (types is None or types == [applies]):
            return lo_key, f"{lo_key} {a} is greater than {hi_key} {b}"
    required, props = node.get("required"), node.get("properties")
    if (node.get("additionalProperties") is False and isinstance(required, list)
            and "patternProperties" not in node):
        missing = [r for r in required if r not in (props if isinstance(props, dict) else {})]
        if missing:
            return "required", (f"{missing[0]!r} is required but not a property, and "
                                "additionalProperties is false")
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        if isinstance(branches, list) and branches and all(
                _admits_nothing(b) is not None for b in branches):
            return key, f"no `{key}` branch admits a value"
    return None


def _admits_something(node: dict[str, Any], path: list[Any]) -> None:
    found = _admits_nothing(node)
    if found is not None:
        keyword, why = found
        raise SchemaError(f"This schema admits no value: {why}.",
                          path=json_path([*path, keyword] if keyword else path))

