"""Schema intake: what the user gives, what is sent, and how the answer is checked.

:func:`load_schema` accepts a bare JSON Schema dict, the ``json_schema`` object, the whole
``response_format`` dict, a JSON string or ``.json`` path, or a Python type (Pydantic
model, dataclass, TypedDict, anything ``pydantic.TypeAdapter`` takes; Pydantic is optional).
It checks the schema before any request and returns a :class:`SchemaSpec` holding the
original schema (always validated against) and the request schema (strict-mode ready where
possible; see :mod:`structmagic.strict`).

jsonschema and pydantic are imported on first use only.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SchemaError, ValidationIssue

__all__ = ["SchemaSpec", "load_schema", "validator_for"]

_NAME_OK = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def json_path(parts: Any) -> str:
    """``$.steps[2].output`` from a jsonschema / pydantic location."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"\$?[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


@functools.lru_cache(maxsize=256)
def _validator_cached(text: str) -> Any:
    import jsonschema

    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validator_for(schema: Any) -> Any:
    """A jsonschema validator (with format checking) for ``schema``, built once per schema."""
    return _validator_cached(json.dumps(schema, sort_keys=True, ensure_ascii=False))


@dataclass(frozen=True, eq=False)
class SchemaSpec:
    """A schema ready to send: ``request_schema`` goes out, ``original`` is enforced."""

    name: str
    description: str | None
    original: Any
    request_schema: dict[str, Any]
    strict: bool
    wrapped: bool = False
    python_type: Any = None
    maps_back: bool = False  # whether nulls of optional properties must be dropped

    def __repr__(self) -> str:
        kind = getattr(self.python_type, "__name__", None) or "JSON Schema"
        return f"<SchemaSpec {self.name!r} ({kind}, strict={self.strict})>"

    @functools.cached_property
    def _validator(self) -> Any:
        return validator_for(self.original)

    def response_format(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": self.name}
        if self.description:
            spec["description"] = self.description
        spec["schema"] = self.request_schema
        spec["strict"] = self.strict
        return {"type": "json_schema", "json_schema": spec}

    def describe(self) -> str:
        return json.dumps(self.request_schema, ensure_ascii=False, separators=(",", ":"))

    def check(self, answer: Any) -> tuple[Any, Any, list[ValidationIssue]]:
        """Map the answer back to the original shape, validate it, convert it.

        Returns ``(plain, data, issues)``; ``issues == []`` means the value is accepted.
        """
        from .strict import map_back

        plain = answer
        if self.wrapped:
            if not isinstance(answer, dict) or "value" not in answer:
                return None, None, [ValidationIssue("$", "expected an object with 'value'")]
            plain = answer["value"]
        if self.maps_back:
            plain = map_back(self.original, plain)
        validator = self._validator
        issues = [
            ValidationIssue(json_path(err.absolute_path), err.message)
            for err in sorted(validator.iter_errors(plain), key=lambda e: list(e.absolute_path)
                              .__repr__())
        ]
        if issues:
            return plain, None, issues
        if self.python_type is None:
            return plain, plain, []
        return _to_python(self.python_type, plain)


def _to_python(tp: Any, plain: Any) -> tuple[Any, Any, list[ValidationIssue]]:
    from pydantic import BaseModel, TypeAdapter, ValidationError

    try:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return plain, tp.model_validate(plain), []
        return plain, TypeAdapter(tp).validate_python(plain), []
    except ValidationError as exc:
        issues = [ValidationIssue(json_path(e["loc"]), e["msg"]) for e in exc.errors()]
        return plain, None, issues


def _sanitize_name(text: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", text.strip())[:64]
    return name or "response"


def load_schema(obj: Any, *, name: str | None = None) -> SchemaSpec:
    """Read any accepted schema input (see module doc) into a :class:`SchemaSpec`.

    Raises :class:`SchemaError` (with the JSON path of the problem) before any request.
    """
    if isinstance(obj, SchemaSpec):
        return obj
    key: Any
    if isinstance(obj, dict):
        # The same schema in every cell of a column: check and convert it once. The key keeps
        # the key order (it is the order the model is asked to write the fields in).
        try:
            key = ("dict", json.dumps(obj, ensure_ascii=False), name)
        except (TypeError, ValueError):
            return _load(obj, name)
    elif isinstance(obj, (str, Path)):
        return _load(obj, name)  # a file may change between calls: read it each time
    else:
        try:
            key = ("type", obj, name)
            hash(key)
        except TypeError:
            return _load(obj, name)
    with _cache_lock:
        spec = _specs.get(key)
    if spec is None:
        spec = _load(obj, name)
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
    if isinstance(obj, (str, Path)):
        obj = _read_text_schema(obj)
    if isinstance(obj, dict):
        schema, given_name, description = _unwrap_dict(obj)
    elif isinstance(obj, bool):
        schema = obj
    elif _is_python_type(obj):
        python_type = obj
        schema = _schema_of_type(obj)
        given_name = getattr(obj, "__name__", None)
    else:
        raise SchemaError(
            f"{type(obj).__name__} is not a schema. Give a JSON Schema dict, a json_schema "
            "object or response_format dict, a JSON string or .json path, or a Python type "
            "(Pydantic model, dataclass, TypedDict, list[...], Literal[...], Enum)."
        )
    if given_name is not None and python_type is None and not _NAME_OK.match(given_name):
        raise SchemaError(
            f"The schema name {given_name!r} breaks the rule [a-zA-Z0-9_-]{{1,64}}.",
            path="$.name",
        )
    _check_schema(schema)
    final_name = given_name or (schema.get("title") if isinstance(schema, dict) else None)
    final_name = _sanitize_name(str(final_name or name or "response"))
    if description is None and isinstance(schema, dict):
        desc = schema.get("description")
        description = desc if isinstance(desc, str) else None

    from .strict import to_request

    request, strict, wrapped, maps_back = to_request(schema)
    return SchemaSpec(
        name=final_name,
        description=description,
        original=schema,
        request_schema=request,
        strict=strict,
        wrapped=wrapped,
        python_type=python_type,
        maps_back=maps_back,
    )


def _read_text_schema(obj: str | Path) -> Any:
    text = str(obj)
    stripped = text.strip()
    if isinstance(obj, str) and stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except ValueError as exc:
            raise SchemaError(f"The schema string is not valid JSON: {exc}") from None
    path = Path(text).expanduser()
    if path.suffix.lower() == ".json" or path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SchemaError(f"Could not read the schema file {text!r}: {exc.strerror}") from None
        except ValueError as exc:
            raise SchemaError(f"The schema file {text!r} is not valid JSON: {exc}") from None
    raise SchemaError(
        f"The string {text[:60]!r} is neither JSON nor the path of a .json file."
    )


def _unwrap_dict(obj: dict[str, Any]) -> tuple[Any, str | None, str | None]:
    """A bare schema, a json_schema object, or a whole response_format dict."""
    if obj.get("type") == "json_schema" and isinstance(obj.get("json_schema"), dict):
        obj = obj["json_schema"]
    if "schema" in obj and ("name" in obj or "strict" in obj) and isinstance(
        obj["schema"], (dict, bool)
    ):
        name = obj.get("name")
        if name is not None and not isinstance(name, str):
            raise SchemaError("The schema name must be a string.", path="$.name")
        desc = obj.get("description")
        return obj["schema"], name, desc if isinstance(desc, str) else None
    if obj.get("type") in ("json_object", "text"):
        raise SchemaError(
            f"A response_format of type {obj['type']!r} has no schema; give a JSON Schema."
        )
    return obj, None, None


def _is_python_type(obj: Any) -> bool:
    import typing

    if isinstance(obj, type):
        return True
    origin = typing.get_origin(obj)
    return origin is not None


def _schema_of_type(tp: Any) -> Any:
    try:
        import pydantic
    except ImportError:
        raise SchemaError(
            f"{getattr(tp, '__name__', tp)!s} is a Python type; turning types into schemas "
            'needs Pydantic: pip install "structmagic[pydantic]". (Dict schemas work without it.)'
        ) from None
    try:
        if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
            return tp.model_json_schema()
        return pydantic.TypeAdapter(tp).json_schema()
    except Exception as exc:  # PydanticSchemaGenerationError, TypeError, ...
        raise SchemaError(f"Could not make a JSON Schema from {tp!r}: {exc}") from None


def _check_schema(schema: Any) -> None:
    """Metaschema validity and resolvable $refs, before any request."""
    import jsonschema

    if schema is False:
        raise SchemaError("The schema is `false`: it admits no value at all.")
    if not isinstance(schema, (dict, bool)):
        raise SchemaError(f"A JSON Schema is an object, not {type(schema).__name__}.")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaError(
            f"Not a valid JSON Schema: {exc.message}",
            path=json_path(exc.absolute_path),
        ) from None
    if isinstance(schema, dict):
        from .strict import check_refs_and_limits

        check_refs_and_limits(schema)
