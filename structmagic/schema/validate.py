"""Validation of answers with jsonschema: a validator per schema, built once, and every issue
with its JSON path.

jsonschema is imported on first use only, through
:func:`structmagic.fastimport.import_jsonschema` (which defers the grammars that
``rfc3987_syntax`` compiles at import time to the first ``iri`` check).

With the ``fast`` extra (``pip install structmagic[fast]``: jsonschema-rs, a compiled
validator), :func:`fast_validator_for` gives a first check a hundred times quicker — what a
batch of 10^5 answers needs. It only ever accepts: a value it accepts is valid, anything it
does not accept is checked again by jsonschema, which gives the verdict and the issues. It is
used only for schemas whose every keyword it checks at least as strictly as jsonschema does
(:func:`fast_safe`): formats from a short list, regular expressions without the constructs
whose meaning differs between Python's ``re`` and Rust's, ``multipleOf`` of whole numbers.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ValidationIssue
from ..fastimport import import_jsonschema
from .tree import json_path

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = ["fast_safe", "fast_validator_for", "issues_of", "short", "validator_for"]

_MAX_MESSAGE = 300


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


#: formats jsonschema-rs checks at least as strictly as jsonschema does
FAST_FORMATS = frozenset({"date", "date-time", "time", "email", "ipv4", "ipv6", "uuid"})
#: regular-expression pieces whose meaning differs between Python's ``re`` and Rust's
_REGEX_TRAPS = re.compile(r"\[\[:|\\[pPZzAGKQE]|\(\?(?!:)")


def fast_safe(schema: Any) -> bool:
    """Whether the compiled validator may be trusted to accept for ``schema`` (see the module
    docstring): no format outside :data:`FAST_FORMATS`, no pattern with a construct that
    Python and Rust read differently, no ``multipleOf`` that is not a whole number."""
    todo = [schema]
    seen = 0
    while todo:
        node = todo.pop()
        seen += 1
        if seen > 100_000:
            return False
        if isinstance(node, list):
            todo.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if key in ("enum", "const", "default", "examples"):
                continue  # values, not schemas
            if key == "format" and isinstance(value, str) and value not in FAST_FORMATS:
                return False
            if key == "pattern" and isinstance(value, str) and _REGEX_TRAPS.search(value):
                return False
            if key == "patternProperties" and isinstance(value, dict) and any(
                    _REGEX_TRAPS.search(k) for k in value):
                return False
            if key == "multipleOf" and not (isinstance(value, int) or (
                    isinstance(value, float) and value.is_integer())):
                return False
            if isinstance(value, (dict, list)):
                todo.append(value)
    return True


def fast_validator_for(schema: dict[str, Any] | bool) -> Callable[[Any], bool] | None:
    """A compiled ``is_valid`` for ``schema`` that only ever accepts what jsonschema accepts,
    or None (jsonschema-rs not installed, or the schema outside :func:`fast_safe`)."""
    return _fast_cached(json.dumps(schema, sort_keys=True, ensure_ascii=False))


@functools.lru_cache(maxsize=256)
def _fast_cached(text: str) -> Callable[[Any], bool] | None:
    try:
        import jsonschema_rs
    except ImportError:
        return None
    schema = json.loads(text)
    if not fast_safe(schema):
        return None
    try:
        compiled = jsonschema_rs.validator_for(schema, validate_formats=True)
    except Exception:  # a schema it cannot take: jsonschema alone, as without the extra
        return None
    is_valid = compiled.is_valid

    def accepts(instance: Any) -> bool:
        try:
            return bool(is_valid(instance))
        except Exception:  # a value it cannot take (a huge integer, NaN): ask jsonschema
            return False

    return accepts


def short(message: str) -> str:
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
            issue = ValidationIssue(json_path(leaf.absolute_path), short(leaf.message))
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

