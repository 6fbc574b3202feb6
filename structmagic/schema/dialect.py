"""Schema conversion for one provider's native structured output, driven by a :class:`Dialect`.

Each provider declares, as data, what its constrained decoding accepts (its :class:`Dialect`:
the keywords it takes, the formats, whether every property must be required, whether
objects must be closed, whether the root must be an object, whether ``$ref`` may recurse,
its :class:`~structmagic.schema.limits.Limits`). :func:`convert` turns the user's schema into
a request schema in that dialect, never mutating its input. For OpenAI's strict mode:

========================================  ===================================================
in the user's schema                      in the request
========================================  ===================================================
optional property                         required, ``type: [T, "null"]`` or ``anyOf`` + null
                                          (dialects with ``all_required``)
object                                    ``additionalProperties: false`` (``closed_objects``)
``default``                               "Default: x" in the description
``minLength``, ``uniqueItems``, ...       "Constraint: minLength 3" in the description
``format`` the dialect lacks              "Format: uri" in the description
``title``, ``examples``, unknown keys     dropped (they constrain nothing)
``oneOf``                                 ``anyOf``
``allOf`` with one schema                 merged into the node
``$ref`` with sibling keywords            ``{"anyOf": [{"$ref": ...}], "description": ...}``
a ``$ref`` to ``#/properties/x``          hoisted into ``$defs``
root that is not an object                ``{"value": <root>}`` (``$defs`` hoisted)
                                          (dialects with ``object_root``)
root ``$ref`` to an object in ``$defs``   that object, inlined at the root
========================================  ===================================================

Where the dialect cannot say what the schema means (``not``, conditionals, several-schema
``allOf``, open-ended objects, ``patternProperties``, ``true``/``{}`` "anything" schemas,
arrays without ``items``, recursion where the dialect has none, a limit exceeded ...) the
request is the user's schema unchanged (object-rooted where the dialect needs it) and
:attr:`Conversion.strict` is false; :attr:`Conversion.reasons` says why. The provider then
asks another way (OpenAI: ``strict: false``; Claude: a tool instead of ``output_config``).
Either way the answer is validated on our side against the original schema, which enforces
every keyword.

:func:`violations` lists every way a request schema breaks a dialect's rules (a check of
the conversion's own output).

Nothing heavy is imported here: no jsonschema, no pydantic.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .limits import Limits, limit_problems
from .tree import collect_refs, is_type, json_path, resolve_ref, rewrite_refs, types_of

__all__ = ["MEANING", "VALUE_CONSTRAINTS", "Conversion", "Dialect", "convert", "ref_cycle",
           "root_shape", "violations"]

#: constraints no dialect enforces that can be said in words (and are validated by us)
VALUE_CONSTRAINTS = frozenset({
    "minLength", "maxLength", "uniqueItems", "minProperties", "maxProperties", "contains",
    "minContains", "maxContains", "contentSchema", "pattern", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
})
#: keywords whose loss would change what the schema means (not said in words)
MEANING = frozenset({
    "not", "if", "then", "else", "dependentSchemas", "dependentRequired", "dependencies",
    "patternProperties", "unevaluatedProperties", "unevaluatedItems", "propertyNames",
    "prefixItems", "additionalItems", "$dynamicRef", "$recursiveRef",
})
_PRIMITIVES = ("string", "number", "integer", "boolean")
_TYPE_WORDS = frozenset({"type", "anyOf", "$ref", "enum", "const"})


@dataclass(frozen=True)
class Dialect:
    """What one provider's constrained decoding accepts, as data."""

    #: who speaks it, for messages ("OpenAI's strict mode")
    title: str
    #: keywords sent as they are (subschemas under them are converted too)
    keywords: frozenset[str]
    #: ``format`` values kept; others are said in the description (None: every format)
    formats: frozenset[str] | None = None
    #: every property listed in ``required``; optional ones become a null union
    all_required: bool = False
    #: ``additionalProperties: false`` on every object; an open object cannot be said
    closed_objects: bool = False
    #: the root must be an object: other roots are sent as ``{"value": <root>}``
    object_root: bool = True
    #: a ``$ref`` may lead back to where it is (recursive types)
    recursion: bool = True
    #: every subschema must say what it is (a type, anyOf, $ref, enum or const)
    typed: bool = True
    #: JSON types enum values may have; an enum with others is said in words (None: any)
    enum_types: frozenset[str] | None = None
    #: keywords kept only when their value passes a rule; else said in words
    keyword_rules: Mapping[str, Callable[[Any], bool]] = field(default_factory=dict)
    #: keywords that would change the meaning if lost are said in words instead of failing
    #: (for dialects that are best-effort anyway)
    describe_meaning: bool = False
    #: the documented limits of one request's schema
    limits: Limits | None = None


@dataclass(frozen=True)
class Conversion:
    """What :func:`convert` made of a schema for one dialect."""

    #: the request schema
    request: Any
    #: the request obeys every rule of the dialect (OpenAI: send ``"strict": true``)
    strict: bool
    #: the root was not an object: the request is ``{"value": <root>}``
    wrapped: bool
    #: some optional property became required + null: answers need mapping back
    maps_back: bool
    #: why the request does not obey the dialect ("<path>: <reason>"), empty when it does
    reasons: tuple[str, ...] = ()

    @functools.cached_property
    def text(self) -> str:
        """The request schema as compact JSON text (for a prompt)."""
        return json.dumps(self.request, ensure_ascii=False, separators=(",", ":"))


def convert(schema: Any, dialect: Dialect, *, strict: bool = True) -> Conversion:
    """The request schema for ``schema`` (a checked JSON Schema; never mutated) in ``dialect``.

    With ``strict=False`` (the user's own ``"strict": false``) no conversion is tried.
    """
    shape = root_shape(schema) if dialect.object_root else "as_is"
    reasons: list[str] = []
    if strict:
        conv = _Converter(schema, dialect)
        request = conv.build(shape)
        reasons = conv.reasons or violations(request, dialect)
        if not reasons:
            return Conversion(request, True, shape == "wrap", conv.made_nullable)
    else:
        reasons = ["$: the schema was given with strict false"]
    request = _object_rooted(schema, shape) if dialect.object_root else copy.deepcopy(schema)
    return Conversion(request, False, shape == "wrap", False, tuple(reasons))


# --- the root -------------------------------------------------------------------------------


def _is_object_root(schema: Any) -> bool:
    """Whether ``schema`` can be an object-rooted request's root as it is."""
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


# --- references -------------------------------------------------------------------------


def _object_rooted(schema: Any, shape: str) -> dict[str, Any]:
    """The user's schema as it is, with an object root (for a non-strict request).

    ``shape`` is :func:`root_shape`'s."""
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
        "properties": {"value": rewrite_refs(body, rebase)},
        "required": ["value"],
        "additionalProperties": False,
    }
    for key, value in hoisted.items():
        request[key] = rewrite_refs(value, rebase) if key != "$schema" else value
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

    The dialects follow refs to ``#`` and ``#/$defs/...``; a ref to anywhere else (a
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
    refs = collect_refs(schema, [])
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
            continue  # left as it is: violations() reports it
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

    return (rewrite_refs(body, fn), {k: rewrite_refs(v, fn) for k, v in defs.items()},
            root_ref)


def _used_defs(body: Any, defs: dict[str, Any]) -> set[str]:
    """The names in ``defs`` that ``body`` refers to, directly or through other defs."""
    used: set[str] = set()
    todo = [body]
    while todo:
        for ref in collect_refs(todo.pop(), []):
            name = ref[len("#/$defs/"):] if ref.startswith("#/$defs/") else None
            if name is not None and name in defs and name not in used:
                used.add(name)
                todo.append(defs[name])
    return used


# --- conversion -----------------------------------------------------------------------------


class _Converter:
    """One conversion into a dialect: collects the reasons it cannot obey the rules as it goes."""

    def __init__(self, root: Any, dialect: Dialect) -> None:
        self.root = root
        self.d = dialect
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

    def build(self, shape: str) -> Any:
        schema = self.root
        if not isinstance(schema, dict):  # `true`
            if shape == "as_is":
                return self.convert(schema, [])
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
        if converted and isinstance(request, dict):
            request["$defs"] = converted
        return request

    # the node-level rules ----------------------------------------------------------------

    def convert(self, node: Any, path: list[Any]) -> Any:
        d = self.d
        if node is True:
            if d.typed:
                self.fail(path, f"`true` accepts any value, which {d.title} cannot say")
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
            if key in ("anyOf", "oneOf") and "anyOf" in node and "oneOf" in node:
                if key == "anyOf":
                    self.fail(path, "`oneOf` and `anyOf` on the same schema")
                continue
            if key == "oneOf" and key not in d.keywords:
                any_of_key = "oneOf"
                out["anyOf"] = value
            elif key in d.keywords:
                rule = d.keyword_rules.get(key)
                if key == "format" and d.formats is not None and value not in d.formats:
                    notes.append(f"Format: {value}")
                elif rule is not None and not rule(value):
                    notes.append(_constraint(key, value))
                else:
                    out[key] = value
            elif key == "const" and "enum" in d.keywords:
                out["enum"] = [value]
            elif key == "default":
                notes.append(f"Default: {json.dumps(value, ensure_ascii=False)}")
            elif key in VALUE_CONSTRAINTS:
                notes.append(_constraint(key, value))
            elif key in MEANING:
                if d.describe_meaning:
                    notes.append(_constraint(key, value))
                else:
                    self.fail(path, f"`{key}` cannot be said in {d.title}")
            elif key == "allOf" and (not isinstance(value, list) or len(value) != 1):
                # (a one-schema allOf left here could not be merged: already reported)
                self.fail(path, f"`allOf` with several schemas cannot be said in {d.title}")
            # else: an annotation (title, examples, discriminator, x-...): dropped
        if d.enum_types is not None and isinstance(out.get("enum"), list):
            values = out["enum"]
            if not all(any(is_type(v, t) for t in d.enum_types) for v in values):
                del out["enum"]
                listed = ", ".join(json.dumps(v, ensure_ascii=False) for v in values)
                notes.append(f"One of: {listed}")
                found = types_of(values)
                if "type" not in out and "anyOf" not in out and found:
                    out["type"] = found[0] if len(found) == 1 else found
        if notes:
            desc = out.get("description")
            out["description"] = "\n".join([*([desc] if isinstance(desc, str) and desc
                                              else []), *notes])
        if "$ref" in out and len(out) > 1:
            out = self._ref_with_siblings(out, path)
        if "anyOf" in out:
            if d.typed and set(out) - {"anyOf", "description"}:
                self.fail(path, "`anyOf` together with other keywords")
            out["anyOf"] = [self.convert(b, [*path, any_of_key, i])
                            for i, b in enumerate(out["anyOf"])]
        if isinstance(out.get("prefixItems"), list):
            out["prefixItems"] = [self.convert(b, [*path, "prefixItems", i])
                                  for i, b in enumerate(out["prefixItems"])]
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
                found = types_of(values)
                if found:
                    out = {"type": found[0] if len(found) == 1 else found, **out}
        if d.typed and not (_TYPE_WORDS & set(out)):
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
        """Keywords beside ``$ref`` are rejected: ``{"anyOf": [{"$ref"}], desc}`` instead."""
        ref = out["$ref"]
        others = {k: v for k, v in out.items() if k not in ("$ref", "description")}
        if "type" in others:
            target = self.target(ref)
            if isinstance(target, dict) and target.get("type") == others["type"]:
                others.pop("type")
        if others:
            self.fail(path, f"$ref beside {', '.join(sorted(others))} (an intersection "
                            f"{self.d.title} cannot say)")
        wrapped: dict[str, Any] = {"anyOf": [{"$ref": ref}]}
        if "description" in out:
            wrapped["description"] = out["description"]
        return wrapped

    def _object(self, out: dict[str, Any], path: list[Any]) -> None:
        d = self.d
        props = out.get("properties")
        extra = out.get("additionalProperties")
        if d.closed_objects and extra is not None and extra is not False:
            self.fail(path, "additionalProperties allows keys beyond the listed properties")
        elif isinstance(extra, dict):
            out["additionalProperties"] = self.convert(extra, [*path, "additionalProperties"])
        required = out.get("required") or []
        if not isinstance(props, dict) or not props:
            if not d.closed_objects:
                return  # a free-form object is something this dialect can say
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
            if d.all_required and name not in required:
                conv = _nullable(conv)
                self.made_nullable = True
            new[name] = conv
        out["properties"] = new
        if d.all_required:
            out["required"] = list(new)
        elif "required" in out:
            out["required"] = [r for r in required if r in new]
        if d.closed_objects:
            out["additionalProperties"] = False

    def _array(self, out: dict[str, Any], path: list[Any]) -> None:
        items = out.get("items")
        if items is None:
            if self.d.typed:
                self.fail(path, "an array without `items` (a list of anything)")
        elif isinstance(items, list):
            self.fail(path, f"`items` as a list (a tuple) cannot be said in {self.d.title}")
        else:
            out["items"] = self.convert(items, [*path, "items"])


def _constraint(key: str, value: Any) -> str:
    return f"Constraint: {key} {json.dumps(value, ensure_ascii=False)}"


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


# --- the rules, checked --------------------------------------------------------------------


def violations(schema: Any, dialect: Dialect) -> list[str]:
    """Every way the request ``schema`` breaks ``dialect``'s rules, as ``"<path>: <rule>"``."""
    d = dialect
    out: list[str] = []
    if d.object_root:
        if not isinstance(schema, dict):
            return ["$: the root must be an object schema"]
        if schema.get("type") != "object" or "anyOf" in schema or "$ref" in schema:
            out.append("$: the root must be an object (type object, not anyOf, not a $ref)")

    def walk(node: Any, path: list[Any]) -> None:
        where = json_path(path)
        if not isinstance(node, dict):
            if d.typed or node is False:
                out.append(f"{where}: `{json.dumps(node)}` is not allowed as a schema")
            return
        for key in node:
            if key not in d.keywords and key not in ("$defs", "definitions"):
                out.append(f"{where}: keyword {key!r} is not supported")
        if "format" in node and d.formats is not None and node["format"] not in d.formats:
            out.append(f"{where}: format {node['format']!r} is not supported")
        for key, rule in d.keyword_rules.items():
            if key in node and not rule(node[key]):
                out.append(f"{where}: {key} {json.dumps(node[key])} is not supported")
        if "$ref" in node:
            siblings = sorted(k for k in node if not k.startswith("$"))
            if siblings or (d.typed and len(node) > 1):
                shown = siblings or sorted(k for k in node if k != "$ref")
                out.append(f"{where}: $ref must not have sibling keywords ({', '.join(shown)})")
            try:
                resolve_ref(schema, node["$ref"])
            except (KeyError, TypeError):
                out.append(f"{where}: $ref {node['$ref']!r} does not resolve")
        if d.typed and not (_TYPE_WORDS & set(node)):
            out.append(f"{where}: no type (any value is not allowed)")
        if d.enum_types is not None and isinstance(node.get("enum"), list) and not all(
                any(is_type(v, t) for t in d.enum_types) for v in node["enum"]):
            out.append(f"{where}: enum values must be of type {', '.join(sorted(d.enum_types))}")
        typ = node.get("type")
        types = [typ] if isinstance(typ, str) else typ if isinstance(typ, list) else []
        if "object" in types or "properties" in node:
            if d.closed_objects and node.get("additionalProperties") is not False:
                out.append(f"{where}: additionalProperties must be false")
            props = node.get("properties")
            if not isinstance(props, dict):
                if d.closed_objects:
                    out.append(f"{where}: an object needs properties")
                props = {}
            required = node.get("required") or []
            if d.all_required and (set(props) != set(required)
                                   or len(required) != len(set(required))):
                out.append(f"{where}: every property must be required, and only those")
            for name, sub in props.items():
                walk(sub, [*path, "properties", name])
            if isinstance(node.get("additionalProperties"), dict):
                walk(node["additionalProperties"], [*path, "additionalProperties"])
        if "array" in types or "items" in node:
            if isinstance(node.get("items"), dict):
                walk(node["items"], [*path, "items"])
            elif d.typed or node.get("items") is not None:
                out.append(f"{where}: an array needs an `items` schema")
            for i, sub in enumerate(node.get("prefixItems") or ()):
                walk(sub, [*path, "prefixItems", i])
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
    if not d.recursion:
        cycle = ref_cycle(schema)
        if cycle:
            out.append(f"$: the schema is recursive ({' -> '.join(cycle)}), which {d.title} "
                       "cannot say")
    if d.limits is not None:
        out.extend(f"{where}: {message}" for where, message in limit_problems(
            schema, d.limits, what=f"{d.title}'s limit"))
    return out


def ref_cycle(schema: Any) -> list[str]:
    """A chain of local ``$ref`` s that leads back to where it started ([] if none)."""
    if not isinstance(schema, dict):
        return []
    edges: dict[str, list[str]] = {}
    todo = ["#"]
    while todo:
        ref = todo.pop()
        if ref in edges:
            continue
        try:
            node = resolve_ref(schema, ref)
        except KeyError:
            edges[ref] = []
            continue
        if ref == "#":
            node = {k: v for k, v in node.items() if k not in ("$defs", "definitions")}
        edges[ref] = collect_refs(node, [])
        todo.extend(edges[ref])
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(ref: str) -> list[str]:
        state[ref] = 1
        path.append(ref)
        for nxt in edges.get(ref, ()):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[ref] = 2
        return []

    return visit("#")
