"""A :class:`SchemaSpec`: the user's schema, what each provider sends for it, and how an answer
is checked against it.

The ``original`` schema is always the one enforced. What goes out depends on the provider:
:meth:`SchemaSpec.request_for` asks the provider's schema policy once and keeps the
:class:`~structmagic.schema.dialect.Conversion`; :meth:`SchemaSpec.check` maps an answer
written in the request's shape back to the original's, validates it with jsonschema (formats
included) and, for a Python type, returns the typed value.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ValidationIssue
from .mapback import map_back
from .tree import json_path
from .validate import fast_validator_for, issues_of, short, validator_for

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

    from .dialect import Conversion

__all__ = ["SchemaSpec", "schema_digest"]

#: answers a spec checks with jsonschema alone before it asks for the compiled first check:
#: its import (about 40 ms) is paid where many answers are checked, not by a single cell
FAST_AFTER = 32
_WRAPPED = ('expected an object {"value": ...} (the schema\'s root is not an object, so the '
            "answer is wrapped)")


def schema_digest(schema: Any) -> str:
    """A short hash of a JSON Schema (its canonical JSON: keys sorted), the same for the same
    schema in any process: what tells a correction made for one version of a schema from
    one made for another."""
    text = json.dumps(schema, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclasses.dataclass(frozen=True, eq=False)
class SchemaSpec:
    """A checked schema: its name, description, the original JSON Schema, the Python type."""

    #: the schema name sent (``[a-zA-Z0-9_-]{1,64}``)
    name: str
    description: str | None
    #: the user's schema as JSON Schema (for a Python type: the generated schema)
    original: dict[str, Any] | bool
    #: the Python type given (None for JSON Schema inputs)
    python_type: Any = None
    #: False when the user's json_schema object said ``"strict": false``
    wants_strict: bool = True
    _requests: dict[str, Conversion] = dataclasses.field(
        default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = dataclasses.field(
        default_factory=threading.Lock, repr=False, compare=False)

    def __repr__(self) -> str:
        kind = getattr(self.python_type, "__name__", None) or (
            "JSON Schema" if self.python_type is None else repr(self.python_type))
        return f"<SchemaSpec {self.name!r} ({kind})>"

    def __getstate__(self) -> dict[str, Any]:
        # the lock, the requests made and the validator are rebuilt after unpickling
        drop = ("_requests", "_lock", "_validator", "_adapter", "_fast", "_checks")
        return {k: v for k, v in self.__dict__.items() if k not in drop}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _requests={}, _lock=threading.Lock())

    def request_for(self, provider: Any) -> Conversion:
        """What ``provider`` (a :class:`~structmagic.providers.Provider`) sends for this
        schema; made once per provider.

        Raises :class:`~structmagic.SchemaError` if the provider cannot take the schema at all.
        """
        with self._lock:
            found = self._requests.get(provider.name)
        if found is None:
            found = provider.request_schema(self)
            with self._lock:
                found = self._requests.setdefault(provider.name, found)
        return found

    @functools.cached_property
    def digest(self) -> str:
        """:func:`schema_digest` of the original schema (worked out once)."""
        return schema_digest(self.original)

    @functools.cached_property
    def _validator(self) -> Validator:
        return validator_for(self.original)

    @functools.cached_property
    def _fast(self) -> Callable[[Any], bool] | None:
        """The compiled first check (the ``fast`` extra), or None."""
        return fast_validator_for(self.original)

    def _count(self) -> int:
        """How many answers this spec has checked (roughly: threads may race)."""
        n = self.__dict__.get("_checks", 0) + 1
        self.__dict__["_checks"] = n
        return n

    @functools.cached_property
    def _adapter(self) -> Any:
        from pydantic import BaseModel, TypeAdapter

        tp = self.python_type
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return tp
        return TypeAdapter(tp)

    def check(self, answer: Any, request: Conversion | None = None
              ) -> tuple[Any, Any, list[ValidationIssue]]:
        """Map the answer back to the original shape, validate it, convert it.

        ``answer`` is the parsed JSON the model wrote, shaped like ``request.request`` (or
        like the original schema when ``request`` is None). Returns ``(plain, data, issues)``:
        ``plain`` in the original schema's shape (unwrapped, nulls of optional properties
        dropped); ``data`` the value to bind (``plain`` for JSON Schema inputs, an instance
        of the Python type otherwise; None when there are issues); ``issues == []`` means
        accepted.
        """
        validator = self._validator
        wrapped = request is not None and request.wrapped
        maps_back = request is not None and request.maps_back
        if wrapped:
            if isinstance(answer, dict) and "value" in answer:
                plain = answer["value"]
            else:
                # a server that ignored the wrapper and wrote the bare value: fine if valid
                plain = self._mapped(answer, maps_back)
                if not validator.is_valid(plain):
                    return plain, None, [ValidationIssue("$", _WRAPPED)]
                return self._typed(plain)
        else:
            plain = answer
        plain = self._mapped(plain, maps_back)
        fast = self._fast if self._count() > FAST_AFTER else None
        issues = [] if fast is not None and fast(plain) else issues_of(validator, plain)
        if issues:
            return plain, None, issues
        return self._typed(plain)

    def _mapped(self, value: Any, maps_back: bool) -> Any:
        if not maps_back:
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
            issues = [ValidationIssue(json_path(e["loc"]), short(e["msg"]))
                      for e in exc.errors()]
            return plain, None, issues
