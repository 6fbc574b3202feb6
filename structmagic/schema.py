"""Schema intake: what the user gives, what is sent, and how the answer is checked.

:func:`load_schema` accepts

- a bare JSON Schema dict (or ``true``);
- the ``json_schema`` object ``{"name", "schema", "strict"?, "description"?}``;
- the whole ``response_format`` dict ``{"type": "json_schema", "json_schema": {...}}`` (and
  the Responses API's ``{"type": "json_schema", "name", "schema", ...}``);
- a JSON string, or a ``str`` / :class:`~pathlib.Path` naming a ``.json`` file;
- a Python type: a Pydantic v2 model class, a dataclass, a TypedDict, ``list[Model]``,
  ``Literal[...]``, an :class:`enum.Enum`, anything ``pydantic.TypeAdapter`` takes
  (Pydantic is optional: ``pip install "structmagic[pydantic]"``).

It checks the schema before any request (metaschema, ``$ref``, a schema that admits nothing,
the strict-mode limits, the name) and returns a :class:`SchemaSpec`: the ``original`` schema
(always enforced) and the ``request_schema`` (strict-mode ready where possible, see
:mod:`structmagic.strict`). :meth:`SchemaSpec.check` maps an answer back, validates it with
jsonschema (formats included) and, for a Python type, returns the typed value.

jsonschema and pydantic are imported on first use only (jsonschema through
:func:`structmagic.fastimport.import_jsonschema`, which defers rfc3987_syntax's grammars).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SchemaError, ValidationIssue
from .fastimport import import_jsonschema
from .strict import (
    SCHEMA_KEYWORDS,
    Conversion,
    json_path,
    map_back,
    precheck,
    resolve_ref,
    strict_violations,
    to_request,
)

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = [
    "SchemaSpec",
    "issues_of",
    "json_path",
    "load_schema",
    "strict_violations",
    "validator_for",
]

NAME_RULE = "[a-zA-Z0-9_-]{1,64}"
_NAME_OK = re.compile(rf"^{NAME_RULE}$")
_ACCEPTED = (
    "Give a JSON Schema dict, the json_schema object {name, schema, strict}, the whole "
    "response_format dict, a JSON string or the path of a .json file, or a Python type "
    "(Pydantic model, dataclass, TypedDict, list[...], Literal[...], Enum, or anything "
    "pydantic.TypeAdapter takes)."
)
_PYDANTIC_EXTRA = 'pip install "structmagic[pydantic]"'
_MAX_MESSAGE = 300


# --- validation -----------------------------------------------------------------------------


def validator_for(schema: dict[str, Any] | bool) -> Validator:
    """A jsonschema validator for ``schema``, with format checking, built once per schema.

    The dialect is ``$schema``'s (Draft 2020-12 when absent). The cache key is the schema's
    canonical JSON text, so equal schemas share one validator.
    """
    return _validator_cached(json.dumps(schema, sort_keys=True, ensure_ascii=False))


@functools.lru_cache(maxsize=256)
def _validator_cached(text: str) -> Validator:
    jsonschema = import_jsonschema()

    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, format_checker=_format_checker(cls))


@functools.lru_cache(maxsize=8)
def _format_checker(cls: Any) -> Any:
    """The dialect's own format checker (``time`` differs between drafts), copied so that
    adding fallbacks changes nothing in jsonschema itself."""
    jsonschema = import_jsonschema()

    base = getattr(cls, "FORMAT_CHECKER", None) or jsonschema.FormatChecker()
    checker = jsonschema.FormatChecker(formats=())
    checker.checkers = dict(base.checkers)
    return _with_fallbacks(checker)


_DATETIME = re.compile(r"^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")
_TIME = re.compile(r"^\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")


def _is_datetime(value: Any) -> bool:
    """RFC 3339 date-time (with its offset), for when rfc3339-validator is not installed."""
    import datetime

    if not isinstance(value, str):
        return True
    if not _DATETIME.match(value):
        return False
    datetime.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # ValueError: bad
    return True


def _is_time(value: Any) -> bool:
    """RFC 3339 full-time, for when rfc3339-validator is not installed."""
    import datetime

    if not isinstance(value, str):
        return True
    if not _TIME.match(value):
        return False
    datetime.time.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


def _with_fallbacks(checker: Any) -> Any:
    """``checker`` with date-time / time checks even without jsonschema's format extras."""
    if "date-time" not in checker.checkers:
        checker.checks("date-time", raises=ValueError)(_is_datetime)
    if "time" not in checker.checkers:
        checker.checks("time", raises=ValueError)(_is_time)
    return checker


def _short(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


def issues_of(validator: Validator, instance: Any) -> list[ValidationIssue]:
    """Every validation error of ``instance``, each with its JSON path (``$.steps[1]``).

    A failed ``anyOf`` / ``oneOf`` is explained by the one branch the value has the shape
    of (same type, same discriminator) when there is exactly one such branch.
    """
    errors = sorted(validator.iter_errors(instance), key=_path_key)
    issues: list[ValidationIssue] = []
    for err in errors:
        for leaf in _explain(err):
            issue = ValidationIssue(json_path(leaf.absolute_path), _short(leaf.message))
            if issue not in issues:
                issues.append(issue)
    return issues


def _path_key(err: Any) -> list[tuple[int, Any]]:
    return [(0, p) if isinstance(p, int) else (1, str(p)) for p in err.absolute_path]


def _explain(err: Any) -> list[Any]:
    if err.validator not in ("anyOf", "oneOf") or not err.context:
        return [err]
    depth = len(err.absolute_path)
    by_branch: dict[Any, list[Any]] = {}
    for sub in err.context:
        branch = sub.relative_schema_path[0] if sub.relative_schema_path else id(sub)
        by_branch.setdefault(branch, []).append(sub)
    shaped = [
        subs for subs in by_branch.values()
        if all(len(s.absolute_path) > depth for s in subs)
        and not any(s.validator in ("const", "enum") and len(s.absolute_path) == depth + 1
                    for s in subs)
    ]
    if len(shaped) != 1:
        return [err]
    return [leaf for sub in sorted(shaped[0], key=_path_key) for leaf in _explain(sub)]


# --- the spec -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class SchemaSpec:
    """A schema ready to send: ``request_schema`` goes out, ``original`` is enforced."""

    #: the schema name sent (``[a-zA-Z0-9_-]{1,64}``)
    name: str
    description: str | None
    #: the user's schema as JSON Schema (for a Python type: the generated schema)
    original: dict[str, Any] | bool
    #: what is sent: an object root, strict-converted when possible
    request_schema: dict[str, Any]
    #: the request obeys every strict rule: send ``"strict": true``
    strict: bool
    #: the root was not an object: the request is ``{"value": <root>}``
    wrapped: bool = False
    #: the Python type given (None for JSON Schema inputs)
    python_type: Any = None
    #: answers need mapping back (the conversion made optional properties required + null)
    maps_back: bool = False
    #: why the request is not strict, as ``"<path>: <reason>"`` (empty when it is)
    nonstrict_reasons: tuple[str, ...] = ()

    def __repr__(self) -> str:
        kind = getattr(self.python_type, "__name__", None) or (
            "JSON Schema" if self.python_type is None else repr(self.python_type))
        return f"<SchemaSpec {self.name!r} ({kind}, strict={self.strict})>"

    @functools.cached_property
    def _validator(self) -> Validator:
        return validator_for(self.original)

    @functools.cached_property
    def _adapter(self) -> Any:
        from pydantic import BaseModel, TypeAdapter

        tp = self.python_type
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return tp
        return TypeAdapter(tp)

    def response_format(self) -> dict[str, Any]:
        """``{"type": "json_schema", "json_schema": {"name", "description"?, "schema",
        "strict"}}`` for an OpenAI Chat Completions request."""
        spec: dict[str, Any] = {"name": self.name}
        if self.description:
            spec["description"] = self.description
        spec["schema"] = self.request_schema
        spec["strict"] = self.strict
        return {"type": "json_schema", "json_schema": spec}

    def describe(self) -> str:
        """The request schema as compact JSON text, for a prompt (json_object / prompt)."""
        return self._described

    @functools.cached_property
    def _described(self) -> str:
        return json.dumps(self.request_schema, ensure_ascii=False, separators=(",", ":"))

    def check(self, answer: Any) -> tuple[Any, Any, list[ValidationIssue]]:
        """Map the answer back to the original shape, validate it, convert it.

        ``answer`` is the parsed JSON the model wrote, shaped like ``request_schema``.
        Returns ``(plain, data, issues)``: ``plain`` in the original schema's shape (unwrapped,
        nulls of optional properties dropped); ``data`` the value to bind (``plain`` for JSON
        Schema inputs, an instance of the Python type otherwise; None when there are
        issues); ``issues == []`` means accepted.
        """
        validator = self._validator
        if self.wrapped:
            if isinstance(answer, dict) and "value" in answer:
                plain = answer["value"]
            else:
                # a server that ignored the wrapper and wrote the bare value: fine if valid
                plain = self._mapped(answer)
                if not validator.is_valid(plain):
                    return plain, None, [ValidationIssue(
                        "$", 'expected an object {"value": ...} (the schema\'s root is not an '
                             "object, so the answer is wrapped)")]
                return self._typed(plain)
        else:
            plain = answer
        plain = self._mapped(plain)
        issues = issues_of(validator, plain)
        if issues:
            return plain, None, issues
        return self._typed(plain)

    def _mapped(self, value: Any) -> Any:
        if not self.maps_back:
            return value
        validator = self._validator
        return map_back(self.original, value,
                        lambda sub, inst: validator.evolve(schema=sub).is_valid(inst))

    def _typed(self, plain: Any) -> tuple[Any, Any, list[ValidationIssue]]:
        if self.python_type is None:
            return plain, plain, []
        from pydantic import ValidationError

        adapter = self._adapter
        try:
            if hasattr(adapter, "model_validate"):
                return plain, adapter.model_validate(plain), []
            return plain, adapter.validate_python(plain), []
        except ValidationError as exc:
            issues = [ValidationIssue(json_path(e["loc"]), _short(e["msg"]))
                      for e in exc.errors()]
            return plain, None, issues


# --- intake ---------------------------------------------------------------------------------


def load_schema(obj: Any, *, name: str | None = None) -> SchemaSpec:
    """Read any accepted schema input (see the module doc) into a :class:`SchemaSpec`.

    ``name`` is the fallback name (the magic passes the variable's name). The name sent is
    the json_schema object's ``name``, else the Python type's ``__name__``, else the
    schema's ``title``, else ``name``, else ``"response"``, made to fit
    ``[a-zA-Z0-9_-]{1,64}`` (a *given* json_schema name that breaks the rule is an error).

    Raises :class:`SchemaError`, with the JSON path of the problem, before any request.
    Never changes ``obj``. The same dict schema or type is checked and converted once.
    """
    if isinstance(obj, SchemaSpec):
        return obj
    key: Any = None
    text: str | None = None
    if isinstance(obj, dict):
        try:  # the key keeps key order: it is the order the model writes the fields in
            text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError):
            text = None  # not JSON: _load says where
        else:
            key = ("dict", text, name)
    elif not isinstance(obj, (str, Path)):  # a file may change between calls: not cached
        try:
            key = ("type", obj, name)
            hash(key)
        except TypeError:
            key = None
    if key is not None:
        with _cache_lock:
            spec = _specs.get(key)
        if spec is not None:
            return spec
    spec = _load(json.loads(text) if text is not None else obj, name)
    if key is not None:
        with _cache_lock:
            if len(_specs) >= 256:
                _specs.pop(next(iter(_specs)))
            _specs[key] = spec
    return spec


_specs: dict[Any, SchemaSpec] = {}
_cache_lock = threading.Lock()


def _load(obj: Any, name: str | None) -> SchemaSpec:
    python_type = None
    given_name: str | None = None
    description: str | None = None
    strict_wanted = True
    prefix = "$"
    if isinstance(obj, (str, Path)):
        obj = _read_text_schema(obj)
    if isinstance(obj, bool):
        schema: Any = obj
    elif isinstance(obj, dict):
        obj = _json_copy(obj)
        schema, given_name, description, strict_wanted, prefix = _unwrap_dict(obj)
    elif _is_python_type(obj):
        python_type = obj
        schema = _schema_of_type(obj)
        if isinstance(obj, type):
            given_name = obj.__name__
    else:
        raise SchemaError(_wrong_kind(obj))
    try:
        _check_schema(schema)
    except SchemaError as exc:
        if prefix == "$":
            raise
        raise SchemaError(exc.message, path=prefix + exc.path[1:]) from None
    if given_name is None and isinstance(schema, dict) and isinstance(schema.get("title"), str):
        given_name = schema["title"]
    final_name = _sanitize_name(given_name or name or "response")
    if description is None:
        description = _description_of(schema)
    conv: Conversion = to_request(schema, strict=strict_wanted)
    return SchemaSpec(
        name=final_name,
        description=description,
        original=schema,
        request_schema=conv.request,
        strict=conv.strict,
        wrapped=conv.wrapped,
        python_type=python_type,
        maps_back=conv.maps_back,
        nonstrict_reasons=conv.reasons,
    )


def _description_of(schema: Any) -> str | None:
    """The root's description (or, for a root ``$ref``, its target's)."""
    if not isinstance(schema, dict):
        return None
    desc = schema.get("description")
    if desc is None and isinstance(schema.get("$ref"), str):
        try:
            target = resolve_ref(schema, schema["$ref"])
        except KeyError:
            target = None
        desc = target.get("description") if isinstance(target, dict) else None
    return desc if isinstance(desc, str) and desc else None


def _sanitize_name(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", text.strip())[:64] or "response"


def _wrong_kind(obj: Any) -> str:
    kind = type(obj)
    if hasattr(kind, "model_json_schema") or dataclasses.is_dataclass(obj):
        return (f"Got an instance of {kind.__name__}, not a schema: pass the class "
                f"{kind.__name__} itself.")
    if obj is None:
        return f"None is not a schema. {_ACCEPTED}"
    article = "an" if kind.__name__[:1].lower() in "aeiou" else "a"
    what = {"function": "a function", "builtin_function_or_method": "a function",
            "method": "a method", "module": "a module"}.get(kind.__name__,
                                                          f"{article} {kind.__name__}")
    return f"{what} is not a schema. {_ACCEPTED}"


def _json_copy(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``obj`` through JSON (the user's dict is never touched or kept)."""
    try:
        return json.loads(json.dumps(obj, ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError) as exc:
        path, bad = _first_non_json(obj, [])
        what = type(bad).__name__ if bad is not None else "value"
        raise SchemaError(f"The schema holds a {what} that JSON cannot carry ({exc}).",
                          path=json_path(path)) from None


def _first_non_json(node: Any, path: list[Any]) -> tuple[list[Any], Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                return [*path, str(key)], key
            found = _first_non_json(value, [*path, key])
            if found[1] is not None:
                return found
        return path, None
    if isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            found = _first_non_json(value, [*path, i])
            if found[1] is not None:
                return found
        return path, None
    if node is None or isinstance(node, (str, bool, int)):
        return path, None
    if isinstance(node, float):
        return (path, node) if node != node or node in (float("inf"), float("-inf")) else (
            path, None)
    return path, node


def _read_text_schema(obj: str | Path) -> Any:
    text = str(obj)
    stripped = text.strip()
    looks_like_json = stripped[:1] in ("{", "[", '"') or stripped in ("true", "false")
    if isinstance(obj, str) and looks_like_json:
        try:
            return json.loads(stripped)
        except ValueError as exc:
            raise SchemaError(f"The schema string is not valid JSON: {exc}") from None
    path = Path(stripped).expanduser()
    try:
        is_file = path.suffix.lower() == ".json" or path.is_file()
    except (OSError, ValueError):  # a name too long for a path, a NUL byte...
        is_file = False
    if is_file:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SchemaError(
                f"Could not read the schema file {text!r}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise SchemaError(f"The schema file {text!r} is not valid JSON: {exc}") from None
    raise SchemaError(f"The string {text[:60]!r} is neither JSON nor the path of a .json "
                      f"file. {_ACCEPTED}")


_WRAPPER_KEYS = frozenset({"name", "schema", "strict", "description"})


def _unwrap_dict(obj: dict[str, Any]) -> tuple[Any, str | None, str | None, bool, str]:
    """``(schema, name, description, strict, path prefix)`` from a bare schema, a
    json_schema object, or a whole response_format dict."""
    prefix = "$"
    kind = obj.get("type")
    if kind == "json_schema" and "schema" not in obj:
        inner = obj.get("json_schema")
        if not isinstance(inner, dict):
            raise SchemaError("A response_format of type 'json_schema' needs a 'json_schema' "
                              "object with 'name' and 'schema'.", path="$.json_schema")
        obj, prefix = inner, "$.json_schema"
    elif kind == "json_schema":  # the Responses API's text.format
        obj = {k: v for k, v in obj.items() if k != "type"}
    elif kind in ("json_object", "text"):
        raise SchemaError(f"A response_format of type {kind!r} has no schema; give a JSON "
                          "Schema (or the json_schema response_format).", path="$.type")
    keys = set(obj)
    if "schema" in obj and keys <= _WRAPPER_KEYS:
        schema = obj["schema"]
        if not isinstance(schema, (dict, bool)):
            raise SchemaError("'schema' must be a JSON Schema object.", path=f"{prefix}.schema")
        name = obj.get("name")
        if name is not None and (not isinstance(name, str) or not _NAME_OK.match(name)):
            raise SchemaError(
                f"The schema name {name!r} breaks the rule {NAME_RULE} (letters, digits, "
                "_ and -, at most 64 characters).", path=f"{prefix}.name")
        strict = obj.get("strict", True)
        if not isinstance(strict, bool):
            raise SchemaError("'strict' must be true or false.", path=f"{prefix}.strict")
        desc = obj.get("description")
        if desc is not None and not isinstance(desc, str):
            raise SchemaError("'description' must be a string.", path=f"{prefix}.description")
        return schema, name, desc or None, strict, f"{prefix}.schema"
    if keys and keys <= _WRAPPER_KEYS - {"description"}:
        raise SchemaError("This json_schema object has no 'schema'.", path=prefix)
    if keys and not keys & SCHEMA_KEYWORDS:
        shown = ", ".join(sorted(map(str, keys))[:5])
        raise SchemaError(f"This dict is not a JSON Schema: none of its keys ({shown}) is a "
                          f"schema keyword such as type or properties. {_ACCEPTED}",
                          path=prefix)
    return obj, None, None, True, prefix


def _is_python_type(obj: Any) -> bool:
    import typing

    return isinstance(obj, type) or typing.get_origin(obj) is not None


def _schema_of_type(tp: Any) -> Any:
    try:
        import pydantic
    except ImportError:
        raise SchemaError(
            f"{getattr(tp, '__name__', None) or tp!s} is a Python type; turning types into "
            f"schemas needs Pydantic: {_PYDANTIC_EXTRA}. (JSON Schema dicts work without it.)"
        ) from None
    try:
        if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
            return tp.model_json_schema()
        return pydantic.TypeAdapter(tp).json_schema()
    except Exception as exc:  # PydanticSchemaGenerationError, PydanticInvalidForJsonSchema...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SchemaError(f"Could not make a JSON Schema from {tp!r}: {first}") from None


def _check_schema(schema: Any) -> None:
    """The metaschema, ``$ref``s, a schema admitting nothing, the limits; before a request."""
    jsonschema = import_jsonschema()

    if not isinstance(schema, (dict, bool)):
        raise SchemaError(f"A JSON Schema is an object, not {type(schema).__name__}.")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaError(f"Not a valid JSON Schema: {_short(exc.message)}",
                          path=json_path(exc.absolute_path)) from None
    precheck(schema)
