"""Strict mode: turn a user's schema into one OpenAI's strict structured outputs accept.

Strict rules (DESIGN.md): the root is an object (not anyOf); every property is listed in
``required`` (optional ones become a null union); ``additionalProperties: false`` on every
object; supported keywords are type/properties/items/enum/const/anyOf/$defs/$ref (plus
some value constraints); ``allOf``, ``not``, ``if/then/else``, ``dependent*`` and ``default``
are not; limits: 5000 properties, 10 levels of nesting, 1000 enum values.

:func:`to_request` converts (never mutating its input): optional → required + null union,
``additionalProperties: false`` added, ``default`` and other keywords strict mode cannot
carry moved into the description, ``oneOf`` → ``anyOf``, single-item ``allOf`` merged,
``$ref`` with siblings wrapped, a non-object root wrapped in ``{"value": ...}``. Where the
meaning would change (``not``, conditionals, open-ended objects ...) the request is sent
with ``strict: false``; our own validation against the original enforces everything.
:func:`map_back` drops the nulls the conversion made the model write.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .errors import SchemaError

__all__ = ["check_refs_and_limits", "map_back", "strict_violations", "to_request"]

MAX_PROPERTIES = 5000
MAX_DEPTH = 10
MAX_ENUM_VALUES = 1000
MAX_ENUM_CHARS = 15000  # total characters of enum strings, when more than 250 values

# keywords kept as they are in a strict request
_KEEP = {
    "type", "properties", "required", "additionalProperties", "items", "enum", "const",
    "anyOf", "$ref", "$defs", "definitions", "description", "pattern", "format",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minItems", "maxItems",
}
_FORMATS = {"date-time", "date", "time", "duration", "email", "hostname", "ipv4", "ipv6",
            "uuid"}
# keywords whose loss changes the meaning: the request goes non-strict
_NON_STRICT = {
    "not", "if", "then", "else", "dependentSchemas", "dependentRequired", "dependencies",
    "patternProperties", "unevaluatedProperties", "unevaluatedItems", "propertyNames",
    "contains", "prefixItems", "additionalItems", "minContains", "maxContains",
}
# keywords that only annotate: dropped
_DROP = {"title", "$schema", "$id", "$comment", "examples", "readOnly", "writeOnly",
         "deprecated", "$anchor", "$dynamicAnchor", "contentMediaType", "contentEncoding"}


def _pointer(root: Any, ref: str) -> Any:
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        raise KeyError(ref)
    node = root
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(ref)
    return node


def _json_path(parts: list[Any]) -> str:
    from .schema import json_path

    return json_path(parts)


def check_refs_and_limits(schema: dict[str, Any]) -> None:
    """Unresolvable or remote ``$ref``s, schemas that admit nothing, and strict-mode limits."""
    props = 0
    enums = 0
    enum_chars = 0

    def walk(node: Any, path: list[Any], depth: int) -> None:
        nonlocal props, enums, enum_chars
        if node is False and path and path[-2:-1] == ["properties"]:
            parent = _pointer(schema, "#/" + "/".join(str(p) for p in path[:-2])) \
                if len(path) > 2 else schema
            if isinstance(parent, dict) and path[-1] in (parent.get("required") or []):
                raise SchemaError("A required property's schema is `false`: no value can "
                                  "satisfy it.", path=_json_path(path))
        if not isinstance(node, dict):
            if isinstance(node, list):
                for i, item in enumerate(node):
                    walk(item, [*path, i], depth)
            return
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith("#"):
                raise SchemaError(
                    f"$ref {ref!r} points outside the schema; only local references "
                    "(#/$defs/...) are followed (no remote URL is ever loaded).",
                    path=_json_path([*path, "$ref"]),
                )
            try:
                _pointer(schema, ref)
            except (KeyError, ValueError, IndexError):
                raise SchemaError(f"$ref {ref!r} does not resolve inside the schema.",
                                  path=_json_path([*path, "$ref"])) from None
        _admits_something(node, path)
        if node.get("type") == "object" or "properties" in node:
            depth += 1
            if depth > MAX_DEPTH:
                raise SchemaError(
                    f"The schema nests objects more than {MAX_DEPTH} levels deep (the strict "
                    "mode limit).", path=_json_path(path))
        if isinstance(node.get("properties"), dict):
            props += len(node["properties"])
            if props > MAX_PROPERTIES:
                raise SchemaError(f"The schema has more than {MAX_PROPERTIES} properties "
                                  "(the strict mode limit).", path=_json_path(path))
        if isinstance(node.get("enum"), list):
            enums += len(node["enum"])
            enum_chars += sum(len(v) for v in node["enum"] if isinstance(v, str))
            if enums > MAX_ENUM_VALUES:
                raise SchemaError(f"The schema has more than {MAX_ENUM_VALUES} enum values "
                                  "(the strict mode limit).", path=_json_path([*path, "enum"]))
            if len(node["enum"]) > 250 and enum_chars > MAX_ENUM_CHARS:
                raise SchemaError(
                    f"Enum strings add up to more than {MAX_ENUM_CHARS} characters with more "
                    "than 250 values (the strict mode limit).", path=_json_path([*path, "enum"]))
        for key, value in node.items():
            if key in ("enum", "const", "examples", "default"):
                continue
            if key in ("properties", "$defs", "definitions", "patternProperties",
                       "dependentSchemas"):
                if isinstance(value, dict):
                    for name, sub in value.items():
                        walk(sub, [*path, key, name], depth if key != "$defs" and
                             key != "definitions" else 0)
                continue
            if isinstance(value, (dict, list)):
                walk(value, [*path, key], depth)

    walk(schema, [], 0)


def _admits_something(node: dict[str, Any], path: list[Any]) -> None:
    def fail(why: str, key: str) -> None:
        raise SchemaError(f"This schema admits no value: {why}.", path=_json_path([*path, key]))

    if node.get("not") == {} or node.get("not") is True:
        fail("`not` of a schema that accepts everything", "not")
    if isinstance(node.get("enum"), list) and not node["enum"]:
        fail("`enum` is empty", "enum")
    if isinstance(node.get("type"), list) and not node["type"]:
        fail("`type` is an empty list", "type")
    if isinstance(node.get("anyOf"), list) and node["anyOf"] and all(
            s is False for s in node["anyOf"]):
        fail("every `anyOf` branch is `false`", "anyOf")
    if isinstance(node.get("allOf"), list) and any(s is False for s in node["allOf"]):
        fail("an `allOf` branch is `false`", "allOf")
    for lo, hi in (("minimum", "maximum"), ("minLength", "maxLength"),
                   ("minItems", "maxItems"), ("minProperties", "maxProperties")):
        a, b = node.get(lo), node.get(hi)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a > b:
            fail(f"{lo} {a} is greater than {hi} {b}", lo)
    req = node.get("required")
    props = node.get("properties")
    if (node.get("additionalProperties") is False and isinstance(req, list)
            and isinstance(props, dict)):
        missing = [r for r in req if r not in props]
        if missing:
            fail(f"required {missing[0]!r} is not allowed (additionalProperties is false)",
                 "required")


# --- conversion -------------------------------------------------------------------------------


class _Converter:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.strict = True
        self.made_nullable = False  # an optional property became required + null

    def nonstrict(self) -> None:
        self.strict = False

    def convert(self, node: Any) -> Any:
        if node is True or node == {}:
            self.nonstrict()  # "anything" cannot be said in strict mode
            return {} if node is True else dict(node)
        if not isinstance(node, dict):
            return node
        node = dict(node)
        notes: list[str] = []
        # annotations out, default and unsupported constraints into the description
        for key in list(node):
            if key in _DROP:
                node.pop(key)
            elif key == "default":
                notes.append(f"Default: {json.dumps(node.pop(key), ensure_ascii=False)}")
            elif key in _NON_STRICT:
                self.nonstrict()
        if "oneOf" in node:
            node["anyOf"] = node.pop("oneOf")
        all_of = node.pop("allOf", None)
        if all_of is not None:
            if len(all_of) == 1 and isinstance(all_of[0], dict):
                only = all_of[0]
                if "$ref" in only and len(only) == 1:
                    node.setdefault("anyOf", [only])
                else:
                    for k, v in only.items():
                        node.setdefault(k, v)
            else:
                self.nonstrict()
                node["allOf"] = all_of
        if "$ref" in node and len([k for k in node if k not in ("description",)]) > 1:
            ref = node.pop("$ref")
            node = {**node, "anyOf": [{"$ref": ref}]} if "anyOf" not in node else node
            if "anyOf" in node and {"$ref": ref} not in node["anyOf"]:
                self.nonstrict()
        if node.get("format") is not None and node["format"] not in _FORMATS:
            notes.append(f"Format: {node.pop('format')}")
        for key in list(node):
            if key not in _KEEP and key not in _NON_STRICT and key != "allOf":
                value = node.pop(key)
                notes.append(f"Constraint: {key} {json.dumps(value, ensure_ascii=False)}")
        if notes:
            desc = node.get("description")
            node["description"] = "\n".join(([desc] if desc else []) + notes)

        typ = node.get("type")
        is_object = typ == "object" or (isinstance(typ, list) and "object" in typ) or (
            "properties" in node)
        if is_object:
            self._object(node)
        if "items" in node:
            if isinstance(node["items"], dict) or node["items"] is True:
                node["items"] = self.convert(node["items"])
            elif node["items"] is False:
                self.nonstrict()
        if "anyOf" in node:
            node["anyOf"] = [self.convert(s) for s in node["anyOf"]]
        for defs in ("$defs", "definitions"):
            if isinstance(node.get(defs), dict):
                node[defs] = {k: self.convert(v) for k, v in node[defs].items()}
        return node

    def _object(self, node: dict[str, Any]) -> None:
        props = node.get("properties")
        extra = node.get("additionalProperties", False)
        if extra is not False:
            self.nonstrict()  # an open-ended object (a dict of anything) can't be strict
        if not isinstance(props, dict) or not props:
            # A free-form dict (no properties) cannot be said in strict mode: an object with
            # no properties and additionalProperties false admits only {}.
            if "additionalProperties" in node and extra is False:
                node["properties"] = {}
                node["required"] = []
            else:
                self.nonstrict()
            return
        required = set(node.get("required") or [])
        new_props: dict[str, Any] = {}
        for name, sub in props.items():
            conv = self.convert(sub)
            if name not in required:
                conv = _nullable(conv)
                self.made_nullable = True
            new_props[name] = conv
        node["properties"] = new_props
        node["required"] = list(new_props)
        if extra is False:
            node["additionalProperties"] = False


def _nullable(schema: Any) -> Any:
    """``schema`` or null."""
    if not isinstance(schema, dict):
        return {"anyOf": [schema, {"type": "null"}]}
    if _allows_null(schema):
        return schema
    typ = schema.get("type")
    simple = set(schema) <= {"type", "description", "format", "pattern", "minimum", "maximum",
                             "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
    if isinstance(typ, str) and simple:
        return {**schema, "type": [typ, "null"]}
    if "anyOf" in schema and set(schema) <= {"anyOf", "description"}:
        return {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]}
    desc = schema.get("description")
    inner = {k: v for k, v in schema.items() if k != "description"}
    out: dict[str, Any] = {"anyOf": [inner, {"type": "null"}]}
    if desc:
        out["description"] = desc
    return out


def _allows_null(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return schema is True
    typ = schema.get("type")
    if typ == "null" or (isinstance(typ, list) and "null" in typ):
        return True
    if "const" in schema and schema["const"] is None:
        return True
    if isinstance(schema.get("enum"), list) and None in schema["enum"]:
        return True
    return any(_allows_null(s) for s in schema.get("anyOf", []) or [])


def _is_object_root(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    typ = schema.get("type")
    if "anyOf" in schema or "oneOf" in schema:
        return False
    if "$ref" in schema:
        return False
    return typ == "object" or (typ is None and "properties" in schema)


def to_request(schema: Any) -> tuple[dict[str, Any], bool, bool, bool]:
    """``(request_schema, strict, wrapped, maps_back)`` for a checked schema.

    ``maps_back`` is whether answers need :func:`map_back` (some optional property was
    made required + null).
    """
    conv = _Converter(schema)
    if _is_object_root(schema):
        request = conv.convert(copy.deepcopy(schema))
        wrapped = False
    else:
        body = copy.deepcopy(schema) if isinstance(schema, dict) else schema
        defs: dict[str, Any] = {}
        if isinstance(body, dict):
            for key in ("$defs", "definitions"):
                if key in body:
                    defs[key] = body.pop(key)
            body = _rewrite_root_refs(body)
        inner = conv.convert(body)
        request = {"type": "object", "properties": {"value": inner}, "required": ["value"],
                   "additionalProperties": False}
        for key, value in defs.items():
            request[key] = {k: conv.convert(_rewrite_root_refs(v)) for k, v in value.items()}
        wrapped = True
    strict = conv.strict and not strict_violations(request)
    return request, strict, wrapped, conv.made_nullable


def _rewrite_root_refs(node: Any) -> Any:
    """``{"$ref": "#"}`` → ``#/properties/value`` once the root is wrapped."""
    if isinstance(node, dict):
        return {k: ("#/properties/value" if k == "$ref" and v == "#" else _rewrite_root_refs(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_root_refs(v) for v in node]
    return node


def strict_violations(schema: Any) -> list[str]:
    """Every way ``schema`` breaks the strict rules, as ``"<path>: <rule>"``; [] if none."""
    out: list[str] = []
    if not _is_object_root(schema):
        out.append("$: the root must be an object (not anyOf, not a $ref)")

    def walk(node: Any, path: list[Any]) -> None:
        where = _json_path(path)
        if not isinstance(node, dict):
            if node is True:
                out.append(f"{where}: `true` (any value) is not allowed")
            return
        for key in node:
            if key not in _KEEP:
                out.append(f"{where}: keyword {key!r} is not supported")
        if "format" in node and node["format"] not in _FORMATS:
            out.append(f"{where}: format {node['format']!r} is not supported")
        if "$ref" in node and len(node) > 1 and set(node) - {"$ref", "description"}:
            out.append(f"{where}: $ref must not have sibling keywords")
        typ = node.get("type")
        if typ == "object" or (isinstance(typ, list) and "object" in typ) or "properties" in node:
            if node.get("additionalProperties") is not False:
                out.append(f"{where}: additionalProperties must be false")
            props = node.get("properties")
            if not isinstance(props, dict):
                out.append(f"{where}: an object needs properties")
                props = {}
            if list(props) != list(node.get("required") or []) and set(props) != set(
                    node.get("required") or []):
                out.append(f"{where}: every property must be required")
            for name, sub in props.items():
                walk(sub, [*path, "properties", name])
        if "items" in node:
            walk(node["items"], [*path, "items"])
        for i, sub in enumerate(node.get("anyOf") or []):
            walk(sub, [*path, "anyOf", i])
        for defs in ("$defs", "definitions"):
            for name, sub in (node.get(defs) or {}).items():
                walk(sub, [*path, defs, name])

    walk(schema, [])
    return out


# --- mapping the answer back ------------------------------------------------------------------


def map_back(original: Any, value: Any) -> Any:
    """Drop the nulls the strict conversion had the model write for optional properties."""
    return _map(original, original, value, 0)


def _resolve(root: Any, node: Any) -> Any:
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 32:
        try:
            target = _pointer(root, node["$ref"])
        except (KeyError, ValueError, IndexError):
            return node
        extra = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **extra} if extra and isinstance(target, dict) else target
        seen += 1
    return node


def _map(root: Any, schema: Any, value: Any, depth: int) -> Any:
    if depth > 200 or not isinstance(schema, dict):
        return value
    schema = _resolve(root, schema)
    if not isinstance(schema, dict):
        return value
    branches = [schema]
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key) or []:
            sub = _resolve(root, sub)
            if isinstance(sub, dict):
                branches.append(sub)
    if isinstance(value, dict):
        props: dict[str, Any] = {}
        required: set[str] = set()
        for b in branches:
            if isinstance(b.get("properties"), dict):
                for k, v in b["properties"].items():
                    props.setdefault(k, v)
            required |= set(b.get("required") or [])
        out = {}
        for k, v in value.items():
            sub = props.get(k)
            if v is None and k in props and k not in required and not _allows_null(
                    _resolve(root, sub)):
                continue
            out[k] = _map(root, sub, v, depth + 1) if sub is not None else v
        return out
    if isinstance(value, list):
        items = next((b["items"] for b in branches if isinstance(b.get("items"), dict)), None)
        if items is None:
            return value
        return [_map(root, items, v, depth + 1) for v in value]
    return value
