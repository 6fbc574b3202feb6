"""Strict mode: turn a user's schema into one that OpenAI's strict structured outputs accept.

The strict rules (DESIGN.md, "Wire formats"): the root is an object (not ``anyOf``, not a
``$ref``); every property is listed in ``required`` (optional ones become a null union);
``additionalProperties: false`` on every object; the keywords are type / properties / items
/ enum / const / anyOf / ``$defs`` + ``$ref`` (recursion allowed) plus a few value
constraints; ``allOf``, ``not``, ``if/then/else``, ``dependent*`` and ``default`` are not
allowed; at most 5000 properties, 10 levels of object nesting, 1000 enum values (and 15,000
characters of enum strings in an enum of more than 250 values).

:func:`to_request` converts, never mutating its input:

========================================  ===================================================
in the user's schema                      in the request
========================================  ===================================================
optional property                         required, ``type: [T, "null"]`` or ``anyOf`` + null
object                                    ``additionalProperties: false``
``default``                               "Default: x" in the description
``minLength``, ``uniqueItems``, ...       "Constraint: minLength 3" in the description
``format`` strict mode lacks              "Format: uri" in the description
``title``, ``examples``, unknown keys     dropped (they constrain nothing)
``oneOf``                                 ``anyOf``
``allOf`` with one schema                 merged into the node
``$ref`` with sibling keywords            ``{"anyOf": [{"$ref": ...}], "description": ...}``
a ``$ref`` to ``#/properties/x``          hoisted into ``$defs``
root that is not an object                ``{"value": <root>}`` (``$defs`` hoisted)
root ``$ref`` to an object in ``$defs``   that object, inlined at the root
========================================  ===================================================

Where strict mode cannot say what the schema means (``not``, conditionals, several-schema
``allOf``, open-ended objects, ``patternProperties``, ``true``/``{}`` "anything" schemas,
arrays without ``items`` ...) the request is the user's schema unchanged but object-rooted,
sent with ``strict: false``; :attr:`Conversion.reasons` says why. Either way the answer is
validated on our side against the original schema, which enforces every keyword.

:func:`map_back` drops the nulls the conversion made the model write for optional
properties; :func:`precheck` finds unusable schemas (unresolvable ``$ref``, schemas that
admit nothing, the limits) before any request; :func:`strict_violations` lists every way a
request schema breaks the rules.

Nothing heavy is imported here: no jsonschema, no pydantic.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .errors import SchemaError

__all__ = [
    "MAX_DEPTH",
    "MAX_ENUM_CHARS",
    "MAX_ENUM_VALUES",
    "MAX_PROPERTIES",
    "SCHEMA_KEYWORDS",
    "STRICT_FORMATS",
    "STRICT_KEYWORDS",
    "Conversion",
    "json_path",
    "map_back",
    "precheck",
    "resolve_ref",
    "root_shape",
    "strict_violations",
    "to_request",
]

MAX_PROPERTIES = 5000
MAX_DEPTH = 10
MAX_ENUM_VALUES = 1000
MAX_ENUM_CHARS = 15000
_ENUM_CHARS_FROM = 250  # the character limit applies to enums with more values than this

#: keywords a strict request may carry
STRICT_KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "enum", "const",
    "anyOf", "$ref", "$defs", "definitions", "description", "pattern", "format",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minItems", "maxItems",
})
#: ``format`` values strict mode supports
STRICT_FORMATS = frozenset({
    "date-time", "date", "time", "duration", "email", "hostname", "ipv4", "ipv6", "uuid",
})
# value constraints strict mode lacks: said in the description, enforced by our validation
_DESCRIBED = frozenset({
    "minLength", "maxLength", "uniqueItems", "minProperties", "maxProperties", "contains",
    "minContains", "maxContains", "contentSchema",
})
# keywords whose loss would change what the schema means: the request goes non-strict
_MEANING = frozenset({
    "not", "if", "then", "else", "dependentSchemas", "dependentRequired", "dependencies",
    "patternProperties", "unevaluatedProperties", "unevaluatedItems", "propertyNames",
    "prefixItems", "additionalItems", "$dynamicRef", "$recursiveRef",
})
#: every keyword of JSON Schema drafts 4 to 2020-12 (to tell a schema from another dict)
SCHEMA_KEYWORDS = STRICT_KEYWORDS | _DESCRIBED | _MEANING | frozenset({
    "$schema", "$id", "id", "$anchor", "$dynamicAnchor", "$recursiveAnchor", "$vocabulary",
    "$comment", "allOf", "oneOf", "title", "default", "examples", "deprecated", "readOnly",
    "writeOnly", "contentMediaType", "contentEncoding",
})
_PRIMITIVES = ("string", "number", "integer", "boolean")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = ("additionalProperties", "additionalItems", "unevaluatedProperties",
               "unevaluatedItems", "contains", "propertyNames", "not", "if", "then", "else",
               "contentSchema")
_NAME_PART = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*")


# --- small helpers --------------------------------------------------------------------------


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


def _subschemas(node: dict[str, Any]) -> Iterator[tuple[list[Any], Any, str]]:
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


def _is_type(value: Any, typ: str) -> bool:
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


def _types_of(values: list[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        for typ in ("null", "boolean", "integer", "number", "string", "array", "object"):
            if _is_type(value, typ):
                if typ == "integer" and "number" in out:
                    break
                if typ not in out:
                    out.append(typ)
                break
    if "integer" in out and "number" in out:
        out.remove("integer")
    return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_object_root(schema: Any) -> bool:
    """Whether ``schema`` can be a strict request's root as it is (an object schema)."""
    if not isinstance(schema, dict) or "anyOf" in schema or "oneOf" in schema:
        return False
    if "$ref" in schema:
        return False
    typ = schema.get("type")
    return typ == "object" or (typ is None and "properties" in schema)


_ROOT_ANNOTATIONS = frozenset({"$defs", "definitions", "$schema", "$id", "title",
                               "description", "$comment"})


def _root_ref_target(schema: Any) -> str | None:
    """For a root that is just ``{"$ref": "#/$defs/X", "$defs": ...}`` (as Pydantic writes
    for recursive models) with X an object: the ref. Else None."""
    if not isinstance(schema, dict) or not isinstance(schema.get("$ref"), str):
        return None
    if set(schema) - _ROOT_ANNOTATIONS - {"$ref"}:
        return None
    ref = schema["$ref"]
    if not re.fullmatch(r"#/(\$defs|definitions)/[^/]+", ref):
        return None
    try:
        target = resolve_ref(schema, ref)
    except KeyError:
        return None
    return ref if _is_object_root(target) else None


def root_shape(schema: Any) -> str:
    """``"object"`` (sent as it is), ``"ref"`` (root $ref to an object, inlined) or
    ``"wrap"`` (sent as ``{"value": ...}``)."""
    if _is_object_root(schema):
        return "object"
    if _root_ref_target(schema) is not None:
        return "ref"
    return "wrap"


def _collect_refs(node: Any, out: list[str]) -> list[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                if value not in out:
                    out.append(value)
            elif key not in ("enum", "const", "default", "examples"):
                _collect_refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _collect_refs(value, out)
    return out


def _rewrite_refs(node: Any, fn: Callable[[str], str]) -> Any:
    """A copy of ``node`` with every ``$ref`` value passed through ``fn``."""
    if isinstance(node, dict):
        return {k: (fn(v) if k == "$ref" and isinstance(v, str) else
                    v if k in ("enum", "const", "default", "examples") else
                    _rewrite_refs(v, fn)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(v, fn) for v in node]
    return node


# --- checks before any request --------------------------------------------------------------


def precheck(schema: Any) -> None:
    """Raise :class:`SchemaError` (with the JSON path) for a schema no request should carry.

    Unresolvable or remote ``$ref``; a schema that obviously admits nothing (``false``,
    ``{"not": {}}``, ``enum: []``, ``type: []``, minimum > maximum, ...); the strict-mode
    limits (properties, object nesting, enum values and characters). ``schema`` has already
    passed the metaschema check.
    """
    if schema is False:
        raise SchemaError("The schema is `false`: it admits no value at all.", path="$")
    if not isinstance(schema, dict):
        return
    _walk_checks(schema, schema, [], negated=False, branch=False)
    _check_ref_loops(schema)
    problems = _limit_problems(schema, wrapped=root_shape(schema) == "wrap")
    if problems:
        where, message = problems[0]
        raise SchemaError(message, path=where)


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
    for rel, sub, keyword in _subschemas(node):
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
        for rel, sub, keyword in _subschemas(node):
            if keyword in _IN_PLACE:
                in_place_refs(sub, [*path, *rel], out)

    def collect(node: Any, path: list[Any]) -> None:
        if not isinstance(node, dict):
            return
        if isinstance(node.get("$ref"), str):
            first_seen.setdefault(node["$ref"], [*path, "$ref"])
        for rel, sub, _ in _subschemas(node):
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
        if types and not any(_is_type(v, t) for v in enum for t in types):
            return "enum", f"no enum value is of type {' or '.join(map(repr, types))}"
    if "const" in node and types and not any(_is_type(node["const"], t) for t in types):
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
            if _number(a) and _number(b) and (a >= b if strict else a > b):
                return lo_key, f"{lo_key} {a} leaves nothing up to {hi_key} {b}"
    for lo_key, hi_key, applies in (("minLength", "maxLength", "string"),
                                    ("minItems", "maxItems", "array"),
                                    ("minProperties", "maxProperties", "object"),
                                    ("minContains", "maxContains", "array")):
        a, b = node.get(lo_key), node.get(hi_key)
        if _number(a) and _number(b) and a > b and (types is None or types == [applies]):
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


def _limit_problems(schema: Any, *, wrapped: bool) -> list[tuple[str, str]]:
    """``(path, message)`` for each strict-mode limit ``schema`` exceeds.

    ``wrapped``: the request will wrap the root in one more object (one more property and
    one more level of nesting than the schema shows).
    """
    problems: list[tuple[str, str]] = []
    counts = {"props": 1 if wrapped else 0, "enums": 0}
    reported: set[str] = set()

    def walk(node: Any, path: list[Any]) -> None:
        if not isinstance(node, dict):
            return
        props = node.get("properties")
        if isinstance(props, dict):
            counts["props"] += len(props)
            if counts["props"] > MAX_PROPERTIES and "props" not in reported:
                reported.add("props")
                problems.append((json_path([*path, "properties"]),
                                 f"The schema has more than {MAX_PROPERTIES} properties in all "
                                 f"(the strict-mode limit is {MAX_PROPERTIES})."))
        enum = node.get("enum")
        if isinstance(enum, list):
            counts["enums"] += len(enum)
            where = json_path([*path, "enum"])
            if counts["enums"] > MAX_ENUM_VALUES and "enums" not in reported:
                reported.add("enums")
                problems.append((where, f"The schema has more than {MAX_ENUM_VALUES} enum "
                                        f"values in all (the strict-mode limit is "
                                        f"{MAX_ENUM_VALUES})."))
            chars = sum(len(v) for v in enum if isinstance(v, str))
            if len(enum) > _ENUM_CHARS_FROM and chars > MAX_ENUM_CHARS:
                problems.append((where, f"This enum has {len(enum)} values whose strings add "
                                        f"up to {chars} characters (the strict-mode limit is "
                                        f"{MAX_ENUM_CHARS} characters for an enum of more "
                                        f"than {_ENUM_CHARS_FROM} values)."))
        for rel, sub, _ in _subschemas(node):
            walk(sub, [*path, *rel])

    walk(schema, [])
    levels, chain = _object_depth(schema)
    extra = 1 if wrapped else 0
    if levels + extra > MAX_DEPTH:
        where = chain[MAX_DEPTH - extra]
        problems.append((json_path(where),
                         f"The schema nests objects {levels + extra} levels deep (the "
                         f"strict-mode limit is {MAX_DEPTH} levels of nesting)."))
    return problems


def _object_depth(root: Any) -> tuple[int, list[list[Any]]]:
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
        for rel, sub, keyword in _subschemas(node):
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

    start = frozenset({"#"})
    return height(root, [], start)


# --- conversion -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Conversion:
    """What :func:`to_request` made of a schema."""

    request: dict[str, Any]
    #: the request obeys every strict rule (send ``"strict": true``)
    strict: bool
    #: the root was not an object: the request is ``{"value": <root>}``
    wrapped: bool
    #: some optional property became required + null: answers need :func:`map_back`
    maps_back: bool
    #: why the request is not strict ("<path>: <reason>"), empty when it is
    reasons: tuple[str, ...] = ()


def to_request(schema: Any, *, strict: bool = True) -> Conversion:
    """The request schema for ``schema`` (a checked JSON Schema; never mutated).

    With ``strict=False`` (the user's own ``"strict": false``) no conversion is tried.
    """
    shape = root_shape(schema)
    reasons: list[str] = []
    if strict:
        conv = _Converter(schema)
        request = conv.build(shape)
        reasons = conv.reasons or strict_violations(request)
        if not reasons:
            return Conversion(request, True, shape == "wrap", conv.made_nullable)
    else:
        reasons = ["$: the schema was given with strict false"]
    return Conversion(_object_rooted(schema, shape), False, shape == "wrap", False,
                      tuple(reasons))


def _object_rooted(schema: Any, shape: str) -> dict[str, Any]:
    """The user's schema as it is, with an object root (for a non-strict request)."""
    if shape == "object":
        return copy.deepcopy(schema)
    if shape == "ref":
        target = resolve_ref(schema, schema["$ref"])
        out = copy.deepcopy(target)
        for key in ("$defs", "definitions"):
            if key in schema:
                out[key] = copy.deepcopy(schema[key])
        return out
    body: Any = schema
    hoisted: dict[str, Any] = {}
    if isinstance(schema, dict):
        body = {k: v for k, v in schema.items()
                if k not in ("$defs", "definitions", "$schema")}
        hoisted = {k: schema[k] for k in ("$schema", "$defs", "definitions") if k in schema}

    def rebase(ref: str) -> str:
        if ref == "#" or (ref.startswith("#/") and not ref.startswith(
                ("#/$defs/", "#/definitions/"))):
            return "#/properties/value" + ref[1:]
        return ref

    request: dict[str, Any] = {
        "type": "object",
        "properties": {"value": _rewrite_refs(body, rebase)},
        "required": ["value"],
        "additionalProperties": False,
    }
    for key, value in hoisted.items():
        request[key] = _rewrite_refs(value, rebase) if key != "$schema" else value
    if "$schema" in request:
        request = {"$schema": request.pop("$schema"), **request}
    return request


def _unique(name: str, taken: dict[str, Any]) -> str:
    out, n = name, 1
    while out in taken:
        n += 1
        out = f"{name}_{n}"
    return out


def _normalise_refs(schema: dict[str, Any], shape: str) -> tuple[Any, dict[str, Any], str]:
    """``(body, defs, root_ref)``: every ``$ref`` made ``#/$defs/<name>`` (or ``#``).

    Strict mode follows refs to ``#`` and ``#/$defs/...``; a ref to anywhere else (a
    property, an ``anyOf`` branch, an anchor) is given its own ``$defs`` entry, a copy of
    its target, since converting the schema moves things around. ``body`` is the root
    without its definitions; ``root_ref`` is what a ref to the root becomes ("#" for an
    object root).
    """
    defs: dict[str, Any] = {}
    names: dict[str, str] = {}  # ref -> def name
    for key in ("$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            new = _unique(re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "def", defs)
            defs[new] = sub
            names[f"#/{key}/" + name.replace("~", "~0").replace("/", "~1")] = new
    body = {k: v for k, v in schema.items() if k not in ("$defs", "definitions")}
    refs = _collect_refs(schema, [])
    rename: dict[str, str] = {}
    for ref in refs:
        if ref == "#":
            continue
        if ref in names:
            rename[ref] = f"#/$defs/{names[ref]}"
            continue
        try:
            target = resolve_ref(schema, ref)
        except KeyError:
            continue  # left as it is: strict_violations reports it
        stem = re.sub(r"[^A-Za-z0-9_]+", "_", unquote(ref[1:])).strip("_") or "ref"
        new = _unique(stem, defs)
        defs[new] = target
        rename[ref] = f"#/$defs/{new}"
    root_ref = "#"
    if shape == "ref":
        root_ref = rename[schema["$ref"]]
        body = resolve_ref(schema, schema["$ref"])
    elif shape == "wrap" and "#" in refs:
        new = _unique("root", defs)
        defs[new] = body
        root_ref = f"#/$defs/{new}"
        body = {"$ref": root_ref}
    rename["#"] = root_ref

    def fn(ref: str) -> str:
        return rename.get(ref, ref)

    return (_rewrite_refs(body, fn), {k: _rewrite_refs(v, fn) for k, v in defs.items()},
            root_ref)


def _used_defs(body: Any, defs: dict[str, Any]) -> set[str]:
    """The names in ``defs`` that ``body`` refers to, directly or through other defs."""
    used: set[str] = set()
    todo = [body]
    while todo:
        for ref in _collect_refs(todo.pop(), []):
            name = ref[len("#/$defs/"):] if ref.startswith("#/$defs/") else None
            if name is not None and name in defs and name not in used:
                used.add(name)
                todo.append(defs[name])
    return used


class _Converter:
    """One strict conversion: collects the reasons it cannot be strict as it goes."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.reasons: list[str] = []
        self.made_nullable = False
        self.defs_raw: dict[str, Any] = {}
        self.body_raw: Any = None

    def target(self, ref: str) -> Any:
        """What a (normalised) ref points to, before conversion; None if unknown."""
        if ref == "#":
            return self.body_raw
        if ref.startswith("#/$defs/"):
            return self.defs_raw.get(ref[len("#/$defs/"):])
        return None

    def fail(self, path: list[Any], why: str) -> None:
        self.reasons.append(f"{json_path(path)}: {why}")

    def build(self, shape: str) -> dict[str, Any]:
        schema = self.root
        if not isinstance(schema, dict):  # `true`
            body: Any = self.convert(schema, ["value"])
            return {"type": "object", "properties": {"value": body}, "required": ["value"],
                    "additionalProperties": False}
        body, defs, root_ref = _normalise_refs(schema, shape)
        self.defs_raw = defs
        self.body_raw = body if root_ref == "#" else None
        used = _used_defs(body, defs)  # definitions nothing refers to are not sent
        converted = {name: self.convert(sub, ["$defs", name]) for name, sub in defs.items()
                     if name in used}
        if shape == "wrap":
            inner = self.convert(body, [])
            request: dict[str, Any] = {"type": "object", "properties": {"value": inner},
                                       "required": ["value"], "additionalProperties": False}
        else:
            request = self.convert(body, [])
        if converted:
            request["$defs"] = converted
        return request

    # the node-level rules ----------------------------------------------------------------

    def convert(self, node: Any, path: list[Any]) -> Any:
        if node is True:
            self.fail(path, "`true` accepts any value, which strict mode cannot say")
            return {}
        if node is False:
            self.fail(path, "a `false` schema")
            return False
        if not isinstance(node, dict):
            return node
        node = self._merge_all_of(node, path)
        out: dict[str, Any] = {}
        notes: list[str] = []
        any_of_key = "anyOf"
        for key, value in node.items():
            if key in ("$defs", "definitions"):
                continue  # hoisted to the root by _normalise_refs
            if key in STRICT_KEYWORDS:
                if key == "format" and value not in STRICT_FORMATS:
                    notes.append(f"Format: {value}")
                elif key != "anyOf" or "oneOf" not in node:
                    out[key] = value
                else:
                    self.fail(path, "`oneOf` and `anyOf` on the same schema")
            elif key == "oneOf":
                any_of_key = "oneOf"
                out["anyOf"] = value
            elif key == "default":
                notes.append(f"Default: {json.dumps(value, ensure_ascii=False)}")
            elif key in _DESCRIBED:
                notes.append(f"Constraint: {key} {json.dumps(value, ensure_ascii=False)}")
            elif key in _MEANING:
                self.fail(path, f"`{key}` cannot be said in strict mode")
            elif key == "allOf" and (not isinstance(value, list) or len(value) != 1):
                # (a one-schema allOf left here could not be merged: already reported)
                self.fail(path, "`allOf` with several schemas cannot be said in strict mode")
            # else: an annotation (title, examples, discriminator, x-...): dropped
        if notes:
            desc = out.get("description")
            out["description"] = "\n".join([*([desc] if isinstance(desc, str) and desc
                                              else []), *notes])
        if "$ref" in out and len(out) > 1:
            out = self._ref_with_siblings(out, path)
        if "anyOf" in out:
            if set(out) - {"anyOf", "description"}:
                self.fail(path, "`anyOf` together with other keywords")
            out["anyOf"] = [self.convert(b, [*path, any_of_key, i])
                            for i, b in enumerate(out["anyOf"])]
        typ = out.get("type")
        types = [typ] if isinstance(typ, str) else typ if isinstance(typ, list) else []
        if "object" in types or (typ is None and "properties" in out):
            out.setdefault("type", "object")
            self._object(out, path)
        if "array" in types or (typ is None and "items" in out):
            out.setdefault("type", "array")
            self._array(out, path)
        if typ is None and ("enum" in out or "const" in out) and "anyOf" not in out:
            values = out["enum"] if "enum" in out else [out["const"]]
            if isinstance(values, list) and values:
                found = _types_of(values)
                if found:
                    out = {"type": found[0] if len(found) == 1 else found, **out}
        if not ({"type", "anyOf", "$ref", "enum", "const"} & set(out)):
            self.fail(path, "no type: a schema that accepts any value")
        return out

    def _merge_all_of(self, node: dict[str, Any], path: list[Any]) -> dict[str, Any]:
        """Fold a one-schema ``allOf`` into its node when nothing clashes."""
        while isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
            item = node["allOf"][0]
            rest = {k: v for k, v in node.items() if k != "allOf"}
            if item is True:
                node = rest
                continue
            if not isinstance(item, dict):
                self.fail([*path, "allOf", 0], "`allOf` of `false`")
                return node
            merged = dict(rest)
            both_props = "properties" in rest and "properties" in item
            for key, value in item.items():
                if key not in merged or merged[key] == value:
                    merged[key] = value
                elif key == "required" and isinstance(value, list):
                    merged[key] = list(dict.fromkeys([*merged[key], *value]))
                elif key == "properties" and isinstance(value, dict) and not (
                        set(value) & set(merged[key])):
                    merged[key] = {**merged[key], **value}
                elif key in ("description", "title", "default", "examples", "$comment"):
                    continue  # the outer annotation wins
                else:
                    self.fail([*path, "allOf", 0], f"`allOf` sets {key!r} differently from "
                                                   "its schema, so it cannot be merged")
                    return node
            closed = ({"additionalProperties", "patternProperties"} & (set(rest) | set(item)))
            if (both_props or ("properties" in rest) != ("properties" in item)) and closed:
                self.fail([*path, "allOf", 0], "`allOf` combined with additionalProperties "
                                               "cannot be merged")
                return node
            node = merged
        return node

    def _ref_with_siblings(self, out: dict[str, Any], path: list[Any]) -> dict[str, Any]:
        """Strict mode rejects keywords beside ``$ref``: ``{"anyOf": [{"$ref"}], desc}``."""
        ref = out["$ref"]
        others = {k: v for k, v in out.items() if k not in ("$ref", "description")}
        if "type" in others:
            target = self.target(ref)
            if isinstance(target, dict) and target.get("type") == others["type"]:
                others.pop("type")
        if others:
            self.fail(path, f"$ref beside {', '.join(sorted(others))} (an intersection "
                            "strict mode cannot say)")
        wrapped: dict[str, Any] = {"anyOf": [{"$ref": ref}]}
        if "description" in out:
            wrapped["description"] = out["description"]
        return wrapped

    def _object(self, out: dict[str, Any], path: list[Any]) -> None:
        props = out.get("properties")
        extra = out.get("additionalProperties")
        if extra is not None and extra is not False:
            self.fail(path, "additionalProperties allows keys beyond the listed properties")
        required = out.get("required") or []
        if not isinstance(props, dict) or not props:
            if extra is False and not required:
                out["properties"] = {}
                out["required"] = []
            else:
                self.fail(path, "an object without properties (a free-form dict)")
            return
        missing = [r for r in required if r not in props]
        if missing:
            self.fail(path, f"{missing[0]!r} is required but has no property schema")
        new: dict[str, Any] = {}
        for name, sub in props.items():
            if sub is False and name not in required:
                continue  # the property must be absent: additionalProperties false says so
            conv = self.convert(sub, [*path, "properties", name])
            if name not in required:
                conv = _nullable(conv)
                self.made_nullable = True
            new[name] = conv
        out["properties"] = new
        out["required"] = list(new)
        out["additionalProperties"] = False

    def _array(self, out: dict[str, Any], path: list[Any]) -> None:
        items = out.get("items")
        if items is None:
            self.fail(path, "an array without `items` (a list of anything)")
        elif isinstance(items, list):
            self.fail(path, "`items` as a list (a tuple) cannot be said in strict mode")
        else:
            out["items"] = self.convert(items, [*path, "items"])


def _nullable(schema: Any) -> Any:
    """``schema`` or null: ``type: [T, "null"]`` for simple types, else an anyOf."""
    if not isinstance(schema, dict):
        return {"anyOf": [schema, {"type": "null"}]}
    if _allows_null_here(schema):
        return schema
    typ = schema.get("type")
    if typ in _PRIMITIVES and not ({"anyOf", "$ref", "const", "enum"} & set(schema)):
        return {**schema, "type": [typ, "null"]}
    if "anyOf" in schema and set(schema) <= {"anyOf", "description"}:
        return {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]}
    inner = {k: v for k, v in schema.items() if k != "description"}
    out = {"anyOf": [inner, {"type": "null"}]}
    if "description" in schema:
        out["description"] = schema["description"]
    return out


def _allows_null_here(schema: dict[str, Any]) -> bool:
    """Whether ``schema`` visibly admits null (without following refs)."""
    typ = schema.get("type")
    if "enum" in schema:
        return None in (schema["enum"] or [])
    if "const" in schema:
        return schema["const"] is None
    if typ == "null" or (isinstance(typ, list) and "null" in typ):
        return True
    return any(isinstance(b, dict) and _allows_null_here(b) for b in schema.get("anyOf") or [])


# --- the strict rules, checked --------------------------------------------------------------


def strict_violations(schema: Any) -> list[str]:
    """Every way ``schema`` breaks the strict rules, as ``"<path>: <rule>"``; [] if none."""
    out: list[str] = []
    if not isinstance(schema, dict):
        return ["$: the root must be an object schema"]
    if schema.get("type") != "object" or "anyOf" in schema or "$ref" in schema:
        out.append("$: the root must be an object (type object, not anyOf, not a $ref)")

    def walk(node: Any, path: list[Any]) -> None:
        where = json_path(path)
        if not isinstance(node, dict):
            out.append(f"{where}: `{json.dumps(node)}` is not allowed as a schema")
            return
        for key in node:
            if key not in STRICT_KEYWORDS:
                out.append(f"{where}: keyword {key!r} is not supported")
        if "format" in node and node["format"] not in STRICT_FORMATS:
            out.append(f"{where}: format {node['format']!r} is not supported")
        if "$ref" in node:
            if len(node) > 1:
                out.append(f"{where}: $ref must not have sibling keywords "
                           f"({', '.join(sorted(k for k in node if k != '$ref'))})")
            try:
                resolve_ref(schema, node["$ref"])
            except (KeyError, TypeError):
                out.append(f"{where}: $ref {node['$ref']!r} does not resolve")
        if not ({"type", "anyOf", "$ref", "enum", "const"} & set(node)):
            out.append(f"{where}: no type (any value is not allowed)")
        typ = node.get("type")
        types = [typ] if isinstance(typ, str) else typ if isinstance(typ, list) else []
        if "object" in types or "properties" in node:
            if node.get("additionalProperties") is not False:
                out.append(f"{where}: additionalProperties must be false")
            props = node.get("properties")
            if not isinstance(props, dict):
                out.append(f"{where}: an object needs properties")
                props = {}
            required = node.get("required") or []
            if set(props) != set(required) or len(required) != len(set(required)):
                out.append(f"{where}: every property must be required, and only those")
            for name, sub in props.items():
                walk(sub, [*path, "properties", name])
        if "array" in types or "items" in node:
            if not isinstance(node.get("items"), dict):
                out.append(f"{where}: an array needs an `items` schema")
            else:
                walk(node["items"], [*path, "items"])
        if "anyOf" in node:
            branches = node["anyOf"]
            if not isinstance(branches, list) or not branches:
                out.append(f"{where}: anyOf needs a non-empty list")
            else:
                for i, sub in enumerate(branches):
                    walk(sub, [*path, "anyOf", i])
        for defs in ("$defs", "definitions"):
            for name, sub in (node.get(defs) or {}).items():
                walk(sub, [*path, defs, name])

    walk(schema, [])
    out.extend(f"{where}: {message}" for where, message in _limit_problems(schema,
                                                                            wrapped=False))
    return out


# --- mapping the answer back ----------------------------------------------------------------


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
