"""The schema as a tree: JSON paths, local ``$ref`` resolution, walking subschemas, JSON types.

Shared by the checks, the conversions and the mapping back. Pure functions, no imports of
jsonschema or pydantic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeGuard
from urllib.parse import unquote

__all__ = [
    "SCHEMA_KEYWORDS",
    "collect_refs",
    "is_number",
    "is_type",
    "json_path",
    "resolve_ref",
    "rewrite_refs",
    "subschemas",
    "types_of",
]

#: every keyword of JSON Schema drafts 4 to 2020-12 (to tell a schema from another dict)
SCHEMA_KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "enum", "const",
    "anyOf", "$ref", "$defs", "definitions", "description", "pattern", "format",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minItems", "maxItems", "minLength", "maxLength", "uniqueItems", "minProperties",
    "maxProperties", "contains", "minContains", "maxContains", "contentSchema",
    "not", "if", "then", "else", "dependentSchemas", "dependentRequired", "dependencies",
    "patternProperties", "unevaluatedProperties", "unevaluatedItems", "propertyNames",
    "prefixItems", "additionalItems", "$dynamicRef", "$recursiveRef",
    "$schema", "$id", "id", "$anchor", "$dynamicAnchor", "$recursiveAnchor", "$vocabulary",
    "$comment", "allOf", "oneOf", "title", "default", "examples", "deprecated", "readOnly",
    "writeOnly", "contentMediaType", "contentEncoding",
})
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = ("additionalProperties", "additionalItems", "unevaluatedProperties",
               "unevaluatedItems", "contains", "propertyNames", "not", "if", "then", "else",
               "contentSchema")
_NAME_PART = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*")


def json_path(parts: Any) -> str:
    """``$.steps[2].output`` from a sequence of keys and indexes."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _NAME_PART.fullmatch(part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


def resolve_ref(root: Any, ref: str) -> Any:
    """The subschema ``ref`` names inside ``root``: ``#``, a JSON pointer, or ``#anchor``.

    Raises :class:`KeyError` when it does not resolve (remote refs included).
    """
    if ref == "#":
        return root
    if not ref.startswith("#"):
        raise KeyError(ref)
    fragment = unquote(ref[1:])
    if not fragment.startswith("/"):
        found = _find_anchor(root, fragment)
        if found is None:
            raise KeyError(ref)
        return found
    node = root
    for raw in fragment[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(ref)
    return node


def _find_anchor(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        if node.get("$anchor") == name or node.get("$dynamicAnchor") == name:
            return node
        values: Any = node.values()
    elif isinstance(node, list):
        values = node
    else:
        return None
    for value in values:
        found = _find_anchor(value, name)
        if found is not None:
            return found
    return None


def subschemas(node: dict[str, Any]) -> Iterator[tuple[list[Any], Any, str]]:
    """``(relative path, subschema, keyword)`` for every subschema directly under ``node``."""
    for key, value in node.items():
        if key in _SCHEMA_MAPS or (key == "dependencies" and isinstance(value, dict)):
            if isinstance(value, dict):
                for name, sub in value.items():
                    if isinstance(sub, (dict, bool)):
                        yield [key, name], sub, key
        elif key in _SCHEMA_LISTS or (key == "items" and isinstance(value, list)):
            if isinstance(value, list):
                for i, sub in enumerate(value):
                    yield [key, i], sub, key
        elif (key in _SCHEMA_ONE or key == "items") and isinstance(value, (dict, bool)):
            yield [key], value, key


def is_type(value: Any, typ: str) -> bool:
    if typ == "null":
        return value is None
    if typ == "boolean":
        return isinstance(value, bool)
    if typ == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if typ == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {"string": str, "array": list, "object": dict}.get(typ, object))


def types_of(values: list[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        for typ in ("null", "boolean", "integer", "number", "string", "array", "object"):
            if is_type(value, typ):
                if typ == "integer" and "number" in out:
                    break
                if typ not in out:
                    out.append(typ)
                break
    if "integer" in out and "number" in out:
        out.remove("integer")
    return out


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)



def collect_refs(node: Any, out: list[str]) -> list[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                if value not in out:
                    out.append(value)
            elif key not in ("enum", "const", "default", "examples"):
                collect_refs(value, out)
    elif isinstance(node, list):
        for value in node:
            collect_refs(value, out)
    return out


def rewrite_refs(node: Any, fn: Callable[[str], str]) -> Any:
    """A copy of ``node`` with every ``$ref`` value passed through ``fn``."""
    if isinstance(node, dict):
        return {k: (fn(v) if k == "$ref" and isinstance(v, str) else
                    v if k in ("enum", "const", "default", "examples") else
                    rewrite_refs(v, fn)) for k, v in node.items()}
    if isinstance(node, list):
        return [rewrite_refs(v, fn) for v in node]
    return node

