"""Gemini's older ``responseSchema`` dialect: a JSON Schema written in the OpenAPI subset.

The OpenAPI subset has no ``$ref``, no ``$defs``, no ``const`` and no ``additionalProperties``;
null unions are ``nullable: true``. :func:`to_openapi_schema` writes a JSON Schema in it, for
Gemini's ``responseSchema`` field and its function declarations' ``parameters``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_REF_DEPTH", "to_openapi_schema"]

#: how many ``$ref`` levels :func:`to_openapi_schema` inlines before giving up
MAX_REF_DEPTH = 16
#: the keywords of the OpenAPI subset that are copied as they are
_KEEP = ("title", "description", "format", "minimum", "maximum", "minLength", "maxLength",
         "pattern", "minItems", "maxItems", "minProperties", "maxProperties")
_TYPES = ("string", "number", "integer", "boolean", "array", "object")



def to_openapi_schema(schema: Any, *, max_depth: int = MAX_REF_DEPTH) -> dict[str, Any]:
    """``schema`` in the OpenAPI subset that Gemini's ``responseSchema`` takes.

    Local ``$ref`` s are inlined (their sibling keywords win), ``$defs`` / ``definitions`` /
    ``additionalProperties`` and other unknown keywords are dropped, ``const`` becomes an
    ``enum`` of one, ``anyOf`` / ``oneOf`` / a type list with ``null`` becomes the other
    branch with ``nullable: true``, ``allOf`` is merged, and objects get ``propertyOrdering``
    (Gemini writes properties in that order). ``enum`` takes strings only there, so an enum
    of other values is dropped and listed in the description instead.

    Raises ``ValueError`` for a ``$ref`` that does not resolve, a recursive ``$ref`` (a
    recursive type cannot be written out in a language without references) or refs nested
    deeper than ``max_depth``. Dropped constraints are still checked on our side.
    """
    root = schema

    def resolve(ref: str) -> Any:
        if ref != "#" and not ref.startswith("#/"):
            raise ValueError(f"$ref {ref!r} does not resolve: only local JSON pointers "
                             "('#/...') can be inlined for Gemini's responseSchema")
        node = root
        for raw in ref[2:].split("/") if ref != "#" else ():
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                raise ValueError(f"$ref {ref!r} does not resolve")
        return node

    def conv(node: Any, chain: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(node, Mapping):
            return {}  # true / false / junk: no constraint Gemini can express
        if "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str):
                raise ValueError(f"$ref {ref!r} is not a string")
            if ref in chain:
                path = " -> ".join((*chain, ref))
                raise ValueError(
                    f"the schema is recursive ({path}); Gemini's responseSchema has no $ref, "
                    "so a recursive type cannot be inlined")
            if len(chain) >= max_depth:
                raise ValueError(f"$refs nest deeper than {max_depth} levels at {ref!r}; "
                                 "the schema cannot be inlined for Gemini's responseSchema")
            target = resolve(ref)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            merged = {**target, **siblings} if isinstance(target, Mapping) else siblings
            return conv(merged, (*chain, ref))

        if isinstance(node.get("allOf"), list):
            out = conv({k: v for k, v in node.items() if k != "allOf"}, chain)
            for branch in node["allOf"]:
                _merge(out, conv(branch, chain))
            return out

        nullable = node.get("nullable") is True
        branches = node.get("anyOf") if "anyOf" in node else node.get("oneOf")
        if isinstance(branches, list):
            rest = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
            others = [b for b in branches if not _is_null(b)]
            nullable = nullable or len(others) < len(branches)
            if len(others) == 1:
                out = conv(others[0], chain)
                for key, value in conv(rest, chain).items():
                    if key in ("title", "description") or key not in out:
                        out[key] = value
            else:
                out = conv(rest, chain)
                out["anyOf"] = [conv(b, chain) for b in others]
            if nullable:
                out["nullable"] = True
            return out

        out = {}
        typ = node.get("type")
        types = typ if isinstance(typ, list) else [typ] if isinstance(typ, str) else []
        if "null" in types:
            nullable = True
        types = [t for t in types if t in _TYPES]

        values: list[Any] | None = None
        if "const" in node:
            values = [node["const"]]
        elif isinstance(node.get("enum"), list):
            values = list(node["enum"])
        if values is not None:
            if None in values:
                nullable = True
                values = [v for v in values if v is not None]
            if values and all(isinstance(v, str) for v in values):
                out["enum"] = values
                types = types or ["string"]
            elif values:
                types = types or [_type_of(values)]
                listed = ", ".join(json.dumps(v, ensure_ascii=False) for v in values)
                note = f"One of: {listed}."
                desc = node.get("description")
                out["description"] = f"{desc} ({note})" if desc else note

        if len(types) == 1:
            out["type"] = types[0]
        elif len(types) > 1:
            out["anyOf"] = [{"type": t} for t in types]
        for key in _KEEP:
            if key in node and key not in out:
                out[key] = node[key]

        props = node.get("properties")
        if isinstance(props, Mapping):
            out["type"] = "object"
            out["properties"] = {str(k): conv(v, chain) for k, v in props.items()}
            required = [r for r in node.get("required") or () if r in props]
            if required:
                out["required"] = required
            out["propertyOrdering"] = [str(k) for k in props]
        items = node.get("items")
        if isinstance(items, Mapping):
            out["items"] = conv(items, chain)
        elif isinstance(node.get("prefixItems"), list) and node["prefixItems"]:
            out["items"] = {"anyOf": [conv(b, chain) for b in node["prefixItems"]]}
        if nullable:
            out["nullable"] = True
        return out

    return conv(schema, ())


def _is_null(branch: Any) -> bool:
    if not isinstance(branch, Mapping):
        return False
    return (branch.get("type") == "null" or branch.get("type") == ["null"]
            or ("const" in branch and branch["const"] is None)
            or branch.get("enum") == [None])


def _type_of(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "number"
    return "string"


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    """Merge an ``allOf`` branch: properties and required lists are unions."""
    for key, value in more.items():
        if key == "properties" and isinstance(into.get(key), dict):
            into[key].update(value)
        elif key in ("required", "propertyOrdering") and isinstance(into.get(key), list):
            into[key] += [v for v in value if v not in into[key]]
        else:
            into.setdefault(key, value)
