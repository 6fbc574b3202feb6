"""Schema intake: what the user gives, read into a checked :class:`SchemaSpec`.

:func:`load_schema` accepts

- a bare JSON Schema dict (or ``true``);
- the ``json_schema`` object ``{"name", "schema", "strict"?, "description"?}``;
- the whole ``response_format`` dict ``{"type": "json_schema", "json_schema": {...}}`` (and
  the Responses API's ``{"type": "json_schema", "name", "schema", ...}``);
- a JSON string, or a ``str`` / :class:`~pathlib.Path` naming a ``.json`` file;
- schema text, the concise syntax of :mod:`structmagic.schema.dsl`: ``"name, age int, bio:
  a short bio"``;
- a Python type: a Pydantic v2 model class, a dataclass, a TypedDict, ``list[Model]``,
  ``Literal[...]``, an :class:`enum.Enum`, anything ``pydantic.TypeAdapter`` takes
  (Pydantic is optional: ``pip install "structmagic[pydantic]"``).

A ``str`` is read as JSON when it parses as JSON or starts with ``{``, ``[`` or ``"`` (after
white space); else as the path of a file when it ends with ``.json``, or is one word naming
a file that exists; else as schema text (:func:`is_schema_text`). A :class:`~pathlib.Path` is
always a file.

It checks the schema before any request — the metaschema, ``$ref``, a schema that admits
nothing (:mod:`structmagic.schema.checks`), the name — the same for every provider. Each
provider's own rules and limits apply when its request is built
(:meth:`SchemaSpec.request_for`).

jsonschema and pydantic are imported on first use only.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from pathlib import Path
from typing import Any

from ..errors import SchemaError
from ..fastimport import import_jsonschema
from .checks import precheck
from .dsl import schema_dsl
from .spec import SchemaSpec
from .tree import SCHEMA_KEYWORDS, json_path, resolve_ref
from .validate import short

__all__ = ["MAX_SCHEMA_DEPTH", "NAME_RULE", "forget_schemas", "is_schema_text", "load_schema"]

#: how deep a schema may nest (dicts and lists), a limit no real schema comes near
MAX_SCHEMA_DEPTH = 200

NAME_RULE = "[a-zA-Z0-9_-]{1,64}"
_NAME_OK = re.compile(rf"^{NAME_RULE}$")
_ACCEPTED = (
    "Give a JSON Schema dict, the json_schema object {name, schema, strict}, the whole "
    "response_format dict, a JSON string or the path of a .json file, schema text such as "
    "'name, age int', or a Python type (Pydantic model, dataclass, TypedDict, list[...], "
    "Literal[...], Enum, or anything pydantic.TypeAdapter takes)."
)
_PYDANTIC_EXTRA = 'pip install "structmagic[pydantic]"'


def load_schema(obj: Any, *, name: str | None = None) -> SchemaSpec:
    """Read any accepted schema input (see the module doc) into a :class:`SchemaSpec`.

    ``name`` is the fallback name (the magic passes the variable's name). The name sent is
    the json_schema object's ``name``, else the Python type's ``__name__``, else the
    schema's ``title``, else ``name``, else ``"response"`` (so schema text given as such is
    ``"response"``), made to fit ``[a-zA-Z0-9_-]{1,64}`` (a *given* json_schema name that
    breaks the rule is an error).

    Raises :class:`SchemaError`, with the JSON path of the problem, before any request.
    Never changes ``obj``. The same dict schema or type is checked once.
    """
    if isinstance(obj, SchemaSpec):
        return obj
    if is_schema_text(obj):
        obj = schema_dsl(obj)  # a dict from here on (and cached as one)
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


def forget_schemas() -> None:
    """Forget the schemas read so far (each is read again on its next use)."""
    with _cache_lock:
        _specs.clear()



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
    except RecursionError:
        raise SchemaError("The schema nests too deep to be checked (hundreds of levels); "
                          "write deep or recursive structures with $ref.") from None
    except SchemaError as exc:
        if prefix == "$":
            raise
        raise SchemaError(exc.message, path=prefix + exc.path[1:]) from None
    if given_name is None and isinstance(schema, dict) and isinstance(schema.get("title"), str):
        given_name = schema["title"]
    final_name = _sanitize_name(given_name or name or "response")
    if description is None:
        description = _description_of(schema)
    return SchemaSpec(
        name=final_name,
        description=description,
        original=schema,
        python_type=python_type,
        wants_strict=strict_wanted,
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
    except RecursionError:
        raise SchemaError(f"The schema nests more than {MAX_SCHEMA_DEPTH} levels deep.") from None
    except (TypeError, ValueError) as exc:
        path, problem = _first_non_json(obj)
        raise SchemaError(f"The schema {problem} ({exc}).", path=json_path(path)) from None


def _first_non_json(root: Any) -> tuple[list[Any], str]:
    """The path of the first thing JSON cannot carry, and what it is (iterative: a dict that
    contains itself, or one nested very deep, is found without recursion)."""
    todo: list[tuple[Any, list[Any], tuple[int, ...]]] = [(root, [], ())]
    while todo:
        node, path, above = todo.pop()
        if isinstance(node, (dict, list, tuple)):
            if id(node) in above:
                return path, ("contains itself (a dict or list inside its own value; write "
                              "recursion with $ref)")
            if len(path) > MAX_SCHEMA_DEPTH:
                return path, f"nests more than {MAX_SCHEMA_DEPTH} levels deep"
            inner = (*above, id(node))
            if isinstance(node, dict):
                for key in node:
                    if not isinstance(key, str):
                        return [*path, str(key)], (f"holds a {type(key).__name__} key that "
                                                   "JSON cannot carry")
                items: Any = list(node.items())
            else:
                items = list(enumerate(node))
            for key, value in reversed(items):
                todo.append((value, [*path, key], inner))
        elif isinstance(node, float) and (node != node or node in (float("inf"),
                                                                    float("-inf"))):
            return path, f"holds a float ({node}) that JSON cannot carry"
        elif node is not None and not isinstance(node, (str, bool, int, float)):
            return path, f"holds a {type(node).__name__} that JSON cannot carry"
    return [], "holds a value that JSON cannot carry"


def is_schema_text(obj: Any) -> bool:
    """Whether :func:`load_schema` reads ``obj`` as schema text (see the module doc): a
    ``str`` that is neither JSON nor the path of a file."""
    return isinstance(obj, str) and _text_kind(obj) == "text"


def _text_kind(text: str) -> str:
    """``"json"``, ``"file"`` or ``"text"`` (schema text) for a schema given as a str."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[", '"'):
        return "json"
    try:
        json.loads(stripped)
    except ValueError:
        pass
    else:
        return "json"
    if stripped.lower().endswith(".json"):
        return "file"
    if stripped and not any(c.isspace() or c in ",:[]{}?" for c in stripped):
        try:  # one word naming a file that exists: that file
            if Path(stripped).expanduser().is_file():
                return "file"
        except (OSError, ValueError):  # a name too long for a path, a NUL byte...
            pass
    return "text"


def _read_text_schema(obj: str | Path) -> Any:
    """The JSON a JSON string holds, or the JSON in the file a path names."""
    text = str(obj)
    stripped = text.strip()
    if isinstance(obj, str) and _text_kind(text) == "json":
        try:
            return json.loads(stripped)
        except ValueError as exc:
            raise SchemaError(f"The schema string is not valid JSON: {exc}") from None
    path = Path(stripped).expanduser()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SchemaError(
            f"Could not read the schema file {text!r}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise SchemaError(f"The schema file {text!r} is not valid JSON: {exc}") from None


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
    """The metaschema, ``$ref``s, a schema admitting nothing; before any request."""
    jsonschema = import_jsonschema()

    if not isinstance(schema, (dict, bool)):
        raise SchemaError(f"A JSON Schema is an object, not {type(schema).__name__}.")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaError(f"Not a valid JSON Schema: {short(exc.message)}",
                          path=json_path(exc.absolute_path)) from None
    precheck(schema)
