"""``make_instance(schema)``: a small valid instance of a schema, for tests and the fake server.

Built for the request schemas :mod:`structmagic.strict` produces (strict or not), and for
ordinary JSON Schemas: resolves ``$ref`` / ``$defs`` (recursion included: past a few levels
it takes the branch that ends soonest, so a recursive schema always yields a finite value),
respects ``enum``, ``const``, ``format`` (date, date-time, email, uuid, ...), numeric bounds
and ``multipleOf``, ``minItems`` / ``maxItems``, ``minLength`` / ``maxLength`` (also when the
conversion moved them into the description as "Constraint: minLength 3") and simple
``pattern``\\ s.

``choose(kind, n) -> int`` lets a caller (a hypothesis test) vary the instance: which
``anyOf`` branch, null or a value, how many items, which sample string or number. Without it
every choice is the first (deterministic, minimal).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

try:  # Python 3.11+
    import re._parser as _sre
except ImportError:  # pragma: no cover
    import sre_parse as _sre  # type: ignore[no-redef]

__all__ = ["make_instance"]

Chooser = Callable[[str, int], int]

_FORMATS = {
    "date": ["2024-03-05", "1999-12-31"],
    "date-time": ["2024-03-05T10:00:00Z", "2023-11-30T23:59:59+01:00"],
    "time": ["10:00:00Z", "23:15:01+02:00"],
    "email": ["ada@example.com", "grace.hopper@navy.example"],
    "uuid": ["7c9e6679-7425-40de-944b-e07fc1f90ae7", "123e4567-e89b-12d3-a456-426614174000"],
    "hostname": ["example.com", "api.example.org"],
    "ipv4": ["192.0.2.1", "198.51.100.7"],
    "ipv6": ["2001:db8::1", "::1"],
    "duration": ["P1D", "PT1H30M"],
    "uri": ["https://example.com/", "urn:isbn:0451450523"],
}
_STRINGS = ["X", "hello world", "Ünïcødé ✓", "a\"quote\" and \\ backslash", ""]
_NUMBERS = [0.5, 3.25, -2.0, 1000.0]
_INTEGERS = [1, 0, 7, -3, 250]
_SOFT_DEPTH = 4  # past this many levels, every choice is the one that ends soonest
_HARD_DEPTH = 200
INF = math.inf


def make_instance(schema: Any, *, choose: Chooser | None = None) -> Any:
    """A valid instance of ``schema`` (minimal unless ``choose`` varies it).

    Raises :class:`ValueError` if the schema has no finite instance (e.g. an object that
    requires itself).
    """
    gen = _Generator(schema, choose)
    if gen.height(schema) == INF:
        raise ValueError("the schema has no finite instance")
    return gen.make(schema, 0)


def _resolve(root: Any, ref: str) -> Any:
    if ref == "#":
        return root
    node = root
    for raw in unquote(ref[2:]).split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _refs(node: Any, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out.add(value)
            elif key not in ("enum", "const", "default", "examples"):
                _refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _refs(value, out)
    return out


def _constraint(schema: dict[str, Any], key: str) -> Any:
    """A keyword, or the value of "Constraint: <key> <json>" in the description."""
    if key in schema:
        return schema[key]
    desc = schema.get("description")
    if isinstance(desc, str):
        match = re.search(rf"^Constraint: {key} (.+)$", desc, re.MULTILINE)
        if match:
            return json.loads(match.group(1))
    return None


class _Generator:
    def __init__(self, root: Any, choose: Chooser | None) -> None:
        self.root = root
        self.choose = choose
        # the least "height" (ref hops + object/array levels) an instance of each ref needs
        refs = sorted(_refs(root, set()))
        self.ref_height: dict[str, float] = dict.fromkeys(refs, INF)
        for _ in range(len(refs) + 1):
            changed = False
            for ref in refs:
                h = self.height(_resolve(root, ref))
                if h < self.ref_height[ref]:
                    self.ref_height[ref], changed = h, True
            if not changed:
                break

    # how soon an instance ends ---------------------------------------------------------

    def height(self, node: Any) -> float:
        if not isinstance(node, dict):
            return INF if node is False else 0
        parts = []
        if "$ref" in node:
            parts.append(1 + self.ref_height.get(node["$ref"], INF))
        if "const" in node or "enum" in node:
            return max(parts, default=0)
        for key in ("anyOf", "oneOf"):
            if isinstance(node.get(key), list):
                parts.append(min((self.height(b) for b in node[key]), default=INF))
        if isinstance(node.get("allOf"), list):
            parts.extend(self.height(b) for b in node["allOf"])
        types = self._types(node)
        if types:
            parts.append(min(self._type_height(node, t) for t in types))
        return max(parts, default=0)

    def _type_height(self, node: dict[str, Any], typ: str) -> float:
        if typ == "object":
            props = node.get("properties") or {}
            required = [k for k in node.get("required") or [] if k in props]
            return 1 + max((self.height(props[k]) for k in required), default=0)
        if typ == "array":
            if (node.get("minItems") or 0) == 0:
                return 0
            return 1 + self.height(node.get("items", {}))
        return 0

    @staticmethod
    def _types(node: dict[str, Any]) -> list[str]:
        typ = node.get("type")
        if isinstance(typ, str):
            return [typ]
        if isinstance(typ, list):
            return list(typ)
        if "properties" in node:
            return ["object"]
        if "items" in node or "prefixItems" in node:
            return ["array"]
        return []

    # choices -------------------------------------------------------------------------------

    def pick(self, kind: str, options: list[Any], depth: int,
             heights: list[float] | None = None) -> Any:
        """One of ``options``: the caller's choice while shallow, else the soonest-ending."""
        candidates = list(range(len(options)))
        if heights is not None:
            finite = [i for i, h in enumerate(heights) if h < INF] or candidates
            if depth >= _SOFT_DEPTH:
                return options[min(finite, key=lambda i: heights[i])]
            candidates = finite
        if self.choose is None or len(candidates) == 1:
            return options[candidates[0]]
        return options[candidates[self.choose(kind, len(candidates)) % len(candidates)]]

    # the instance --------------------------------------------------------------------------

    def make(self, node: Any, depth: int) -> Any:
        if depth > _HARD_DEPTH:
            raise ValueError("the schema recurses without end")
        if node is True or not isinstance(node, dict):
            return None
        if "$ref" in node:
            target = _resolve(self.root, node["$ref"])
            rest = {k: v for k, v in node.items()
                    if k not in ("$ref", "description", "title", "default", "$defs")}
            if not rest:
                return self.make(target, depth + 1)
            node = self._merge([target, rest])
        if "const" in node:
            return node["const"]
        if isinstance(node.get("enum"), list) and node["enum"]:
            return self.pick("enum", node["enum"], depth)
        if "if" in node:
            rest = {k: v for k, v in node.items() if k not in ("if", "then", "else")}
            branch = "then" if _satisfies(self.make(rest, depth), node["if"], self.root) \
                else "else"
            return self.make(self._merge([rest, node.get(branch, {})]), depth)
        if isinstance(node.get("allOf"), list):
            merged = self._merge([{k: v for k, v in node.items() if k != "allOf"},
                                  *node["allOf"]])
            return self.make(merged, depth)
        for key in ("anyOf", "oneOf"):
            if isinstance(node.get(key), list) and node[key]:
                branches = node[key]
                branch = self.pick(key, branches, depth, [self.height(b) for b in branches])
                base = {k: v for k, v in node.items() if k not in (key, "description")}
                chosen = self._merge([base, branch]) if set(base) - {"$defs", "title"} else branch
                return self.make(chosen, depth + 1)
        types = self._types(node)
        if not types:
            return None
        typ = self.pick("type", types, depth, [self._type_height(node, t) for t in types])
        return getattr(self, f"_{typ}", self._null)(node, depth)

    def _merge(self, schemas: list[Any]) -> dict[str, Any]:
        """A rough allOf: properties and required united, other keywords overlaid."""
        out: dict[str, Any] = {}
        for schema in schemas:
            if isinstance(schema, dict) and "$ref" in schema:
                rest = {k: v for k, v in schema.items() if k != "$ref"}
                schema = self._merge([_resolve(self.root, schema["$ref"]), rest])
            if not isinstance(schema, dict):
                continue
            for key, value in schema.items():
                if key == "properties" and isinstance(out.get(key), dict):
                    out[key] = {**out[key], **{
                        k: self._merge([out[key][k], v]) if k in out[key] else v
                        for k, v in value.items()}}
                elif key == "required" and isinstance(out.get(key), list):
                    out[key] = list(dict.fromkeys([*out[key], *value]))
                else:
                    out[key] = value
        return out

    def _null(self, node: dict[str, Any], depth: int) -> None:
        return None

    def _boolean(self, node: dict[str, Any], depth: int) -> bool:
        return self.pick("boolean", [True, False], depth)

    def _object(self, node: dict[str, Any], depth: int) -> dict[str, Any]:
        props = node.get("properties") or {}
        required = [k for k in node.get("required") or [] if k in props]
        out = {k: self.make(props[k], depth + 1) for k in props if k in required}
        extra = node.get("additionalProperties")
        if not required and isinstance(extra, dict) and extra and depth < _SOFT_DEPTH:
            out["key"] = self.make(extra, depth + 1)
        return out

    def _array(self, node: dict[str, Any], depth: int) -> list[Any]:
        low = _constraint(node, "minItems") or 0
        high = _constraint(node, "maxItems")
        if depth >= _SOFT_DEPTH:
            count = low
        else:
            lengths = [n for n in (max(low, 1), low, low + 2) if high is None or n <= high]
            count = self.pick("length", lengths or [low], depth)
        prefix = node.get("prefixItems") or []
        items = node.get("items", {})
        out = [self.make(prefix[i] if i < len(prefix) else items, depth + 1)
               for i in range(max(count, len(prefix)))]
        if _constraint(node, "uniqueItems") and len(set(map(json.dumps, out))) < len(out):
            out = out[: max(low, 1 if out else 0)]
        return out

    def _string(self, node: dict[str, Any], depth: int) -> str:
        fmt = node.get("format")
        desc = node.get("description")
        if fmt is None and isinstance(desc, str):  # "Format: uri", moved there by strict.py
            match = re.search(r"^Format: (\S+)$", desc, re.MULTILINE)
            fmt = match.group(1) if match else None
        if fmt in _FORMATS:
            return self.pick("format", _FORMATS[fmt], depth)
        pattern = node.get("pattern")
        low = _constraint(node, "minLength") or 0
        high = _constraint(node, "maxLength")
        if isinstance(pattern, str):
            text = _from_pattern(pattern)
            if text is not None:
                return text
        options = [s for s in _STRINGS if len(s) >= low and (high is None or len(s) <= high)]
        if options:
            return self.pick("string", options, depth)
        return "X" * max(low, 1 if high is None or high >= 1 else 0)

    def _integer(self, node: dict[str, Any], depth: int) -> int:
        return int(self._numeric(node, depth, integer=True))

    def _number(self, node: dict[str, Any], depth: int) -> float:
        return self._numeric(node, depth, integer=False)

    def _numeric(self, node: dict[str, Any], depth: int, *, integer: bool) -> Any:
        lo, hi = node.get("minimum"), node.get("maximum")
        xlo, xhi = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
        step = node.get("multipleOf")
        samples = list(_INTEGERS if integer else _NUMBERS)
        unit = step or 1
        if lo is not None:
            samples += [lo]
        if xlo is not None:
            samples += [xlo + unit if integer or step else xlo + 0.5]
        if hi is not None:
            samples += [hi]
        if xhi is not None:
            samples += [xhi - unit if integer or step else xhi - 0.5]

        def ok(v: float) -> bool:
            if integer and v != int(v):
                return False
            if step and not math.isclose(v / step, round(v / step)):
                return False
            return ((lo is None or v >= lo) and (hi is None or v <= hi)
                    and (xlo is None or v > xlo) and (xhi is None or v < xhi))

        if step:
            samples += [step * math.ceil((lo if lo is not None else (xlo or 0)) / step)]
        good = [v for v in dict.fromkeys(samples) if ok(v)]
        if not good:
            good = [lo if lo is not None else hi if hi is not None else 0]
        value = self.pick("number", good, depth)
        return int(value) if integer else float(value)


def _satisfies(value: Any, schema: Any, root: Any) -> bool:
    import jsonschema

    if isinstance(root, dict) and isinstance(schema, dict):
        schema = {**schema, "$defs": root.get("$defs", {})}
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def _from_pattern(pattern: str) -> str | None:
    """A short string matching ``pattern`` (simple regexes), or None."""
    try:
        parsed = _sre.parse(pattern)
    except Exception:
        return None
    for extra in (0, 1):  # the fewest repeats; else one more of each (past a lookahead)
        try:
            text = _emit(parsed, {}, extra)
        except Exception:
            return None
        if re.search(pattern, text):
            return text
    return None


def _emit(items: Any, groups: dict[int, str], extra: int = 0) -> str:
    out = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "NOT_LITERAL":
            out.append("a" if chr(arg) != "a" else "b")
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            out.append(_from_class(arg))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            count = low + extra if high is _sre.MAXREPEAT or low + extra <= high else low
            out.append(_emit(sub, groups, extra) * count)
        elif name == "SUBPATTERN":
            group, _add, _del, sub = arg
            text = _emit(sub, groups, extra)
            if group is not None:
                groups[group] = text
            out.append(text)
        elif name == "BRANCH":
            out.append(_emit(arg[1][0], groups, extra))
        elif name == "GROUPREF":
            out.append(groups.get(arg, ""))
        elif name in ("AT", "ASSERT", "ASSERT_NOT"):
            continue
        elif name == "CATEGORY":
            out.append(_category(arg))
        else:
            raise ValueError(name)
    return "".join(out)


def _category(arg: Any) -> str:
    name = str(arg)
    if "NOT_DIGIT" in name or "NOT_SPACE" in name:
        return "a"
    if "DIGIT" in name:
        return "0"
    if "SPACE" in name:
        return " "
    if "NOT_WORD" in name:
        return "-"
    return "a"


def _from_class(items: Any) -> str:
    negate = any(str(op) == "NEGATE" for op, _ in items)
    if negate:
        banned = set()
        for op, arg in items:
            if str(op) == "LITERAL":
                banned.add(chr(arg))
            elif str(op) == "RANGE":
                banned.update(chr(c) for c in range(arg[0], arg[1] + 1))
        return next(c for c in "aZ0_-x" if c not in banned)
    for op, arg in items:
        if str(op) == "LITERAL":
            return chr(arg)
        if str(op) == "RANGE":
            return chr(arg[0])
        if str(op) == "CATEGORY":
            return _category(arg)
    raise ValueError("empty class")
