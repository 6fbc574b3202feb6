"""``structured()``: one prompt in, one validated value out.

The steps of a call, each in its own module::

    resolve settings (config) -> load the schema (schema) -> build messages (prompt)
    -> send (client: cassette, retries, errors) -> read and check the answer (prompt,
    schema) -> re-ask on an invalid answer -> Result

In ``--mode auto`` a server that rejects ``json_schema`` is asked again with the next way
down the ladder (strict json_schema, non-strict json_schema, json_object with the schema in
the system prompt, one forced tool, the schema in the prompt only); what worked is
remembered per (provider, base URL, model) for the rest of the session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from . import errors as E
from .client import send
from .config import Settings, resolve
from .prompt import build_messages, extract_json, reask_messages
from .result import Result
from .wire import wire_for
from .wire.base import Call, Completion, Delta

__all__ = ["Observer", "structured"]


class Observer(Protocol):
    """What the widget implements to follow a call (all optional but update)."""

    def update(self, partial: Any, *, reasoning: str | None = ..., usage: Any = ...) -> None: ...


# (provider, base_url, model) -> the ladder step that worked
_learned: dict[tuple[str, str, str], tuple[str, bool]] = {}
_learned_lock = threading.Lock()


def forget_learned_modes() -> None:
    """Forget which response format worked for each server (tests, or a changed server)."""
    with _learned_lock:
        _learned.clear()


@dataclass(frozen=True)
class _Step:
    mode: str
    strict: bool


def _ladder(settings: Settings, spec: Any, wire: Any) -> list[_Step]:
    """The ways to ask for the schema, best first, for this server and format."""
    if settings.mode != "auto":
        return [_Step(settings.mode, spec.strict and settings.mode in ("json_schema", "tools"))]
    steps: list[_Step] = []
    for mode in wire.modes:
        if mode == "tools" and settings.thinking:
            continue  # never a forced tool together with thinking
        if mode == "json_schema" and wire.has_strict and spec.strict:
            steps.append(_Step("json_schema", True))
        steps.append(_Step(mode, False))
    key = (settings.provider, settings.base_url, settings.model)
    with _learned_lock:
        learned = _learned.get(key)
    if learned is not None:
        start = _Step(*learned)
        if start in steps:
            steps = steps[steps.index(start):]
    return steps


class _Partials:
    """Feeds streamed text to the partial parser and reports partial values.

    Every delta is parsed (the parser is incremental: linear in the answer), but partial
    values are taken and reported at most every ``min_interval`` seconds, and once more
    at the end (:meth:`flush`): a notebook cannot show more than that anyway, and it keeps
    the streaming path close to the cost of merely receiving the stream.
    """

    min_interval = 0.005

    def __init__(self, on_partial: Callable[[Any], None] | None, observer: Any) -> None:
        from .partial import MISSING, PartialJSONError, PartialJSONParser

        self._missing = MISSING
        self._error = PartialJSONError
        self._parser: Any = PartialJSONParser(skip_prefix=True)
        self._broken = False
        self._on_partial = on_partial
        self._observer = observer
        self._reasoning: list[str] = []
        self._usage: dict[str, int] | None = None
        self._pending = False
        self._next = 0.0
        self.last: Any = None

    def __call__(self, deltas: list[Delta]) -> None:
        for d in deltas:
            if d.text and not self._broken:
                try:
                    self._parser.feed(d.text)
                    self._pending = True
                except self._error:
                    self._broken = True  # prose around JSON: the final read recovers it
            if d.reasoning:
                self._reasoning.append(d.reasoning)
                self._pending = True
            if d.usage:
                self._usage = d.usage
        if self._pending:
            now = time.monotonic()
            if now >= self._next:
                self._next = now + self.min_interval
                self._report()

    def flush(self) -> None:
        """Report the last partial value if one is waiting."""
        if self._pending:
            self._report()

    def _report(self) -> None:
        self._pending = False
        value = self._parser.snapshot()
        if value is self._missing:
            value = None
        else:
            self.last = value
            if self._on_partial is not None:
                self._on_partial(value)
        if self._observer is not None:
            reasoning = "".join(self._reasoning) if self._reasoning else None
            self._observer.update(value, reasoning=reasoning, usage=self._usage)


def _sum_usage(total: dict[str, int], more: Mapping[str, int]) -> None:
    for k, v in more.items():
        total[k] = total.get(k, 0) + int(v)


def _check_finish(c: Completion) -> None:
    if c.refusal or c.finish == "refusal":
        text = c.refusal or c.text.strip() or "(no refusal text was given)"
        raise E.RefusalError(text, raw=c.text)
    if c.finish == "length":
        raise E.TruncatedError(
            "The answer was cut off before the JSON was complete (finish_reason 'length').",
            raw=c.text,
            hint="Raise --max-tokens (or max_tokens=...), or ask for a shorter answer.",
        )
    if c.finish == "content_filter":
        raise E.ContentFilterError(
            "The provider's content filter stopped the answer.", raw=c.text
        )


def structured(
    prompt: str | Sequence[Mapping[str, Any]],
    schema: Any,
    *,
    model: str | None = None,
    system: str | None = None,
    stream: bool = False,
    on_partial: Callable[[Any], None] | None = None,
    steps_field: str | None = None,
    observer: Observer | None = None,
    _gate: Any = None,
    _settings: Settings | None = None,
    **options: Any,
) -> Result:
    """Ask for a value that conforms to ``schema`` and return it validated.

    ``prompt`` is the user message (or a list of chat messages). ``schema`` is a JSON Schema
    dict, a ``json_schema`` object or ``response_format`` dict, a JSON string or ``.json``
    path, or a Python type (Pydantic model, dataclass, TypedDict, ``list[...]``, ...).
    Options: ``base_url``, ``api_key``, ``provider``, ``temperature``, ``max_tokens``,
    ``mode``, ``retries``, ``reasks``, ``timeout``, ``thinking``, ``cache``, ``cassette``;
    unset ones come
    from the configuration. With ``stream=True``, ``on_partial(value)`` is called with
    successive partial values, each a consistent prefix of the final one.

    Raises a :class:`structmagic.StructuredError` subclass on any failure.
    """
    try:
        return _structured(
            prompt, schema, {**options, "model": model, "system": system},
            stream=bool(stream or on_partial is not None), on_partial=on_partial,
            steps_field=steps_field, observer=observer, gate=_gate, settings=_settings,
        )
    except KeyboardInterrupt:
        # A fresh interrupt, without the frames of httpx/httpcore below: a verbose
        # traceback shows each frame's locals, and the request headers live there.
        raise KeyboardInterrupt("interrupted: the request was closed and nothing was bound") \
            from None


def _structured(
    prompt: str | Sequence[Mapping[str, Any]],
    schema: Any,
    options: dict[str, Any],
    *,
    stream: bool,
    on_partial: Callable[[Any], None] | None,
    steps_field: str | None,
    observer: Observer | None,
    gate: Any,
    settings: Settings | None = None,
) -> Result:
    from .schema import SchemaSpec, load_schema

    started = time.perf_counter()
    if settings is None:  # a batch resolves once for all its items
        settings = resolve(options)
    spec = schema if isinstance(schema, SchemaSpec) else load_schema(schema)
    wire = wire_for(settings.provider)

    usage: dict[str, int] = {}
    attempts = 0
    ladder = _ladder(settings, spec, wire)
    key = (settings.provider, settings.base_url, settings.model)
    schema_text = spec.describe()
    extra: tuple[Mapping[str, Any], ...] = ()
    reasks_left = settings.reasks
    issues: list[E.ValidationIssue] = []
    last_raw = ""
    step_index = 0
    from_cache = False
    while True:
        step = ladder[step_index]
        messages = build_messages(
            prompt, system=settings.system, mode=step.mode, schema_text=schema_text
        ) + extra
        call = Call(
            model=settings.model,
            messages=messages,
            schema_name=spec.name,
            schema=spec.request_schema,
            strict=step.strict,
            mode=step.mode,
            description=spec.description,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            stream=stream,
            thinking=settings.thinking,
        )
        partials = _Partials(on_partial, observer) if stream else None
        if attempts and observer is not None and hasattr(observer, "restart"):
            observer.restart()  # a re-ask or a step down streams a new answer from the start
        try:
            sent = send(call, settings, wire, on_deltas=partials, gate=gate)
        except E.UnsupportedFormatError as err:
            if settings.mode != "auto" or step_index + 1 >= len(ladder):
                raise
            step_index += 1
            attempts += 1 if err.status else 0  # status 0: the format could not even build it
            continue
        except E.StreamError as err:
            if partials is not None:
                partials.flush()
                err.partial = partials.last
            raise
        if partials is not None:
            partials.flush()
        attempts += sent.attempts
        from_cache = from_cache or sent.from_cassette
        completion = sent.completion
        _sum_usage(usage, completion.usage)
        _check_finish(completion)
        last_raw = completion.text
        value, problem = extract_json(completion.text)
        if problem is not None:
            issues = [E.ValidationIssue("$", problem)]
        else:
            plain, data, issues = spec.check(value)
        if not issues:
            if settings.mode == "auto":
                with _learned_lock:
                    _learned[key] = (step.mode, step.strict)
            return Result(
                data=data,
                plain=plain,
                raw=completion.text,
                reasoning=completion.reasoning,
                usage=usage,
                model=completion.model or settings.model,
                attempts=attempts,
                elapsed=time.perf_counter() - started,
                schema_name=spec.name,
                steps_field=steps_field,
                provider=settings.provider,
                mode=step.mode,
                from_cache=from_cache,
            )
        if reasks_left <= 0:
            break
        reasks_left -= 1
        extra = extra + reask_messages(completion.text, issues)
    n = settings.reasks + 1
    raise E.InvalidOutputError(
        f"The answer did not match the schema {spec.name!r} after {n} "
        f"{'try' if n == 1 else 'tries'} ({len(issues)} "
        f"{'problem' if len(issues) == 1 else 'problems'}):",
        errors=issues,
        raw=last_raw,
        hint="Raise --reasks, simplify the schema, or try another model.",
    )
