"""Schemas: intake, per-provider conversion and limits, mapping answers back, validation.

- :mod:`.intake` — :func:`load_schema`: dicts, json_schema objects, response_format dicts,
  JSON text and files, schema text, Python types, read into a :class:`SchemaSpec`;
- :mod:`.dsl` — :func:`schema_dsl`: schema text (``"name, age int, bio: a short bio"``, a
  superset of simonw/llm's concise syntax) into a JSON Schema, and its Pydantic source;
- :mod:`.checks` — what no provider can take (unresolvable ``$ref``, schemas admitting
  nothing, ``$ref`` loops), checked once at intake;
- :mod:`.dialect` — a provider's :class:`Dialect` and the conversion into it;
  :mod:`.limits` its documented :class:`Limits`; :mod:`.openapi` Gemini's OpenAPI subset;
- :mod:`.mapback` — the answer back into the original schema's shape;
- :mod:`.validate` — jsonschema validators and issues with their JSON paths;
- :mod:`.spec` — :class:`SchemaSpec`, tying them together;
- :mod:`.tree` — JSON paths, local ``$ref`` resolution, walking subschemas;
- :mod:`.patterns` — ``pattern`` regexes written out for servers' grammar engines
  (``\\d`` as ``[0-9]``, ``\\w`` as ``[A-Za-z0-9_]``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = [
    "NAME_RULE",
    "Conversion",
    "Dialect",
    "Limits",
    "SchemaSpec",
    "convert",
    "forget_schemas",
    "is_schema_text",
    "issues_of",
    "json_path",
    "load_schema",
    "portable_patterns",
    "schema_dsl",
    "to_openapi_schema",
    "validator_for",
    "violations",
]

_WHERE = {
    "NAME_RULE": "intake",
    "Conversion": "dialect",
    "Dialect": "dialect",
    "Limits": "limits",
    "SchemaSpec": "spec",
    "convert": "dialect",
    "forget_schemas": "intake",
    "is_schema_text": "intake",
    "issues_of": "validate",
    "json_path": "tree",
    "load_schema": "intake",
    "portable_patterns": "patterns",
    "schema_dsl": "dsl",
    "to_openapi_schema": "openapi",
    "validator_for": "validate",
    "violations": "dialect",
}

if TYPE_CHECKING:
    from .dialect import Conversion, Dialect, convert, violations
    from .dsl import schema_dsl
    from .intake import NAME_RULE, forget_schemas, is_schema_text, load_schema
    from .limits import Limits
    from .openapi import to_openapi_schema
    from .patterns import portable_patterns
    from .spec import SchemaSpec
    from .tree import json_path
    from .validate import issues_of, validator_for


def __getattr__(name: str) -> Any:
    # each piece is imported on first use: the providers need only the dialect's types
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
