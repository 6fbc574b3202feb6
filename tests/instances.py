"""make_instance(schema): a small valid instance of a (request) schema, for the fake server."""

from __future__ import annotations

from typing import Any

_FORMATS = {
    "date": "2024-03-05",
    "date-time": "2024-03-05T10:00:00Z",
    "time": "10:00:00Z",
    "email": "ada@example.com",
    "uuid": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "duration": "P1D",
}
_PATTERNS = {"^INV-[0-9]{4}-[0-9]{4}$": "INV-2024-0001"}


def make_instance(schema: Any, root: Any = None, depth: int = 0) -> Any:
    root = schema if root is None else root
    if schema is True or not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        target = _resolve(root, schema["$ref"])
        # recursion: past a few levels, prefer the shortest instance
        return make_instance(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = schema[key]
            if depth > 3:
                nulls = [b for b in branches if isinstance(b, dict) and b.get("type") == "null"]
                if nulls:
                    return None
            return make_instance(branches[0], root, depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for b in schema["allOf"]:
            merged.update(_resolve(root, b["$ref"]) if "$ref" in b else b)
        return make_instance(merged, root, depth)
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "null")
    if typ == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {k: make_instance(props[k], root, depth + 1) for k in required if k in props}
    if typ == "array":
        n = schema.get("minItems", 1 if depth < 3 else 0)
        items = schema.get("items", {})
        return [make_instance(items, root, depth + 1) for _ in range(n)]
    if typ == "string":
        if schema.get("format") in _FORMATS:
            return _FORMATS[schema["format"]]
        if schema.get("pattern") in _PATTERNS:
            return _PATTERNS[schema["pattern"]]
        return "X" * max(1, schema.get("minLength", 1))
    if typ == "integer":
        return int(schema.get("minimum", 1))
    if typ == "number":
        return float(schema.get("minimum", 0.5))
    if typ == "boolean":
        return True
    if typ == "null":
        return None
    return None


def _resolve(root: Any, ref: str) -> Any:
    if ref == "#":
        return root
    node = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node
