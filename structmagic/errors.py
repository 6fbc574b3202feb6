"""The exception tree of structmagic.

Every error that structmagic raises at run time derives from :class:`StructuredError`::

    StructuredError
    ├── ConfigError                 no key, bad base URL, bad option value
    ├── InputError                  a prompt or input that cannot be sent (a lone surrogate,
    │                               NaN, an unreadable or unsupported image or file)
    ├── SchemaError                 the schema given cannot be used (carries .path)
    ├── CassetteError               a recording that cannot be used (file:line of the entry,
    │   │                           or a file that cannot be written)
    │   └── CassetteMissError       replay mode and the request is not in the recording
    ├── TransportError              the request did not get an HTTP answer
    │   └── APITimeoutError         connect / read timeout, or a stalled stream
    ├── APIError                    the server answered with an error status (.status)
    │   ├── BadRequestError         400, 404, 422 and other 4xx
    │   │   ├── UnsupportedFormatError   the server does not take this response format
    │   │   └── UnsupportedInputError    the model does not take images / documents
    │   ├── AuthenticationError     401, 403 (.key_source says where the key came from)
    │   ├── RateLimitError          429
    │   └── ServerError             5xx
    ├── AnswerError                 the server answered, but not with a usable value
    │   ├── RefusalError            the model refused (.refusal)
    │   ├── TruncatedError          finish_reason "length" / max tokens, the JSON cut
    │   │                           (or whole but invalid)
    │   ├── ContentFilterError      finish_reason "content_filter" / safety
    │   ├── InvalidOutputError      not JSON, or not valid against the schema after the
    │   │   │                       re-asks (.errors: list of ValidationIssue, .raw)
    │   │   └── SchemaIgnoredError  ... and the answers show that the server ignored the
    │   │                           structured-output request (.reason: why we think so)
    │   └── UngroundedError         require_grounding: values still not found in the
    │                               source after the re-asks (.paths, .grounding)
    ├── StreamError                 the stream broke off or carried an error event
    │                               (.partial: the value received so far)
    ├── BatchError                  a provider batch job cannot be used (.job)
    │   ├── BatchUnavailableError   the server has no batch routes (a relay: 404 / 501)
    │   └── BatchRowError           one row of a batch job came back without an answer
    │                               (.outcome: errored, expired, cancelled, missing,
    │                               failed; .status, .code)
    ├── NotRun                      a row a budget stopped before it was sent
    │                               ("not run: budget", --max-cost)
    └── Interrupted                 a row that had not finished when its batch was
                                    interrupted

    KeyboardInterrupt
    └── CallInterrupted             the user's own stop: a call, a comparison or a cell
        │                           interrupted (nothing bound, or the finished rows)
        └── BatchInterrupted        an interrupted batch (.results: every row at its
                                    position, the unfinished ones with Interrupted)

``NotRun`` and ``Interrupted`` are never raised by a call: they are the ``error`` of a
batch's rows that were not run, or not finished.

Lower-level exceptions (httpx, json, jsonschema) are converted at the boundary with
``raise ... from``. Every message and hint is scrubbed of the API key, and of pieces of it
(:func:`structmagic.redact.scrub`), before it is stored. Every error pickles and unpickles
with its attributes (results are cached with pickle/joblib); the pickle is scrubbed too.

In IPython, these errors render as one short paragraph (``_render_traceback_``), not a
library traceback; the cell still fails. So do the interrupts structmagic raises
(:class:`CallInterrupted`): one line, ``KeyboardInterrupt: …``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .redact import scrub

__all__ = [
    "NOT_RUN",
    "APIError",
    "APITimeoutError",
    "AnswerError",
    "AuthenticationError",
    "BadRequestError",
    "BatchError",
    "BatchInterrupted",
    "BatchRowError",
    "BatchUnavailableError",
    "CallInterrupted",
    "CassetteError",
    "CassetteMissError",
    "ConfigError",
    "ContentFilterError",
    "InputError",
    "Interrupted",
    "InvalidOutputError",
    "NotRun",
    "RateLimitError",
    "RefusalError",
    "SchemaError",
    "SchemaIgnoredError",
    "ServerError",
    "StreamError",
    "StructuredError",
    "TransportError",
    "TruncatedError",
    "UngroundedError",
    "UnsupportedFormatError",
    "UnsupportedInputError",
    "ValidationIssue",
]

@dataclass(frozen=True)
class ValidationIssue:
    """One validation error: a JSON path (``$.steps[2].output``) and a message."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class StructuredError(Exception):
    """Base of every structmagic error. ``str(err)`` is one clear paragraph."""

    _hint: str | None = None
    #: how many HTTP requests were made for the call that failed (0: none)
    attempts: int = 0
    #: the token counts of the answers that came before the failure (re-asks), and what they
    #: cost in USD (None: unknown) -- a failed call can still have been paid for
    usage: dict[str, int] | None = None
    cost: float | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        message = scrub(str(message))
        if hint is not None:
            self.hint = hint
        super().__init__(message)

    @property
    def hint(self) -> str | None:
        """A short hint on what to do next, appended to the message when set (scrubbed)."""
        return self._hint

    @hint.setter
    def hint(self, value: str | None) -> None:
        self._hint = None if value is None else scrub(str(value))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> Any:
        # Exception's own pickling calls ``cls(*args)``, which fails for every class with
        # keyword-only fields; rebuild from args + attributes instead (text scrubbed again:
        # a pickle goes to disk and to other processes).
        state = {k: scrub(v) if isinstance(v, str) else v for k, v in self.__dict__.items()}
        args = tuple(scrub(a) if isinstance(a, str) else a for a in self.args)
        return _rebuild, (type(self), args, state)

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text = f"{text}\n{self.hint}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def _render_traceback_(self) -> list[str]:
        return _short_traceback(self, type(self).__name__)


def _short_traceback(error: BaseException, name: str) -> list[str]:
    """What IPython shows of one of our errors instead of a traceback (it calls
    ``_render_traceback_``): one paragraph, no frames (so no locals can leak under %xmode
    Verbose), and the cell still fails. When the magic's widget already shows the message
    (it sets ``_shown_in_widget``), one short line."""
    red, reset = "\x1b[0;31m", "\x1b[0m"
    if getattr(error, "_shown_in_widget", False):
        return [f"{red}{name}{reset}: see above"]
    lines = str(error).splitlines() or [""]
    return [f"{red}{name}{reset}: {lines[0]}", *lines[1:]]


def _rebuild(cls: type[StructuredError], args: tuple[Any, ...],
             state: dict[str, Any]) -> StructuredError:
    """Unpickle a :class:`StructuredError` without calling its ``__init__``."""
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class ConfigError(StructuredError):
    """The configuration cannot be used: no API key, a malformed base URL, a bad value."""


class SchemaError(StructuredError):
    """The schema given cannot be used. ``path`` is the JSON path of the problem."""

    def __init__(self, message: str, *, path: str = "$", hint: str | None = None) -> None:
        self.path = path
        super().__init__(message, hint=hint)


class InputError(StructuredError):
    """A prompt or an input that cannot be sent as it is."""


class CassetteError(StructuredError):
    """A recording cannot be used: an entry that is not an answer, a file that cannot be
    written. The message names the file (and the line)."""


class CassetteMissError(CassetteError):
    """Replay mode is on and the request is not in the recording."""


class TransportError(StructuredError):
    """The request got no HTTP answer (connection refused, reset, DNS, ...)."""


class APITimeoutError(TransportError):
    """Connecting, or waiting for the answer or the next stream event, took too long."""


class APIError(StructuredError):
    """The server answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body_excerpt: str = "",
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.body_excerpt = scrub(body_excerpt)
        self.retry_after = retry_after
        super().__init__(message, hint=hint)


class BadRequestError(APIError):
    """400, 404, 422 and other 4xx answers that retrying will not fix."""


class UnsupportedFormatError(BadRequestError):
    """The server rejected the response format (json_schema, a schema feature, tools)."""


class UnsupportedInputError(BadRequestError):
    """The model (or server) does not take the images or documents sent. Never retried."""


class AuthenticationError(APIError):
    """401 / 403. ``key_source`` names where the key came from, never the key."""

    def __init__(self, message: str, *, key_source: str = "", **kw: Any) -> None:
        self.key_source = key_source
        super().__init__(message, **kw)


class RateLimitError(APIError):
    """429, after the retries."""


class ServerError(APIError):
    """5xx, after the retries."""


class AnswerError(StructuredError):
    """The server answered, but the answer is not a usable value."""

    def __init__(self, message: str, *, raw: str = "", hint: str | None = None) -> None:
        self.raw = raw
        super().__init__(message, hint=hint)


class RefusalError(AnswerError):
    """The model refused. ``refusal`` is its text."""

    def __init__(self, refusal: str, **kw: Any) -> None:
        self.refusal = refusal
        super().__init__(f"The model refused to answer: {refusal}", **kw)


class TruncatedError(AnswerError):
    """The answer reached the token limit (finish_reason ``length``) with its JSON cut off,
    or complete but not valid against the schema (never re-asked: a re-ask would stop at the
    same limit). A complete, valid answer at the limit is kept (``Result.truncated``)."""


class ContentFilterError(AnswerError):
    """The provider's content filter stopped the answer."""


class InvalidOutputError(AnswerError):
    """No valid value after the re-asks. ``errors`` lists every issue with its path."""

    def __init__(
        self, message: str, *, errors: list[ValidationIssue], raw: str = "", **kw: Any
    ) -> None:
        self.errors = list(errors)
        super().__init__(message, raw=raw, **kw)

    def __str__(self) -> str:
        return _listed(self.message, self.errors, self.hint)


class SchemaIgnoredError(InvalidOutputError):
    """No valid value, and the answers show that the server ignored the structured-output
    request: prose around the JSON, a wrapper object of its own, no JSON at all, or JSON of
    another shape twice in a row. ``reason`` says which; the hint names what to try."""

    def __init__(self, message: str, *, errors: list[ValidationIssue], reason: str,
                 raw: str = "", **kw: Any) -> None:
        self.reason = reason
        super().__init__(message, errors=errors, raw=raw, **kw)


class UngroundedError(AnswerError):
    """``require_grounding``: the answer is valid, but some values are not in the source text
    after the re-asks. ``paths`` lists them (``lines[1].qty``); ``grounding`` holds every
    value's record (:class:`structmagic.grounding.Grounding`), ``value`` the answer as plain
    JSON (a partial result the user may still want to look at)."""

    def __init__(self, message: str, *, paths: list[str], grounding: Any = None,
                 value: Any = None, raw: str = "", **kw: Any) -> None:
        self.paths = list(paths)
        self.grounding = grounding
        self.value = value
        super().__init__(message, raw=raw, **kw)

    def __str__(self) -> str:
        return _listed(self.message, self.paths, self.hint)


def _listed(message: str, items: list[Any], hint: str | None) -> str:
    """The message, the first ten items one a line (and how many more), then the hint."""
    shown = items[:10]
    lines = [message, *(f"  - {item}" for item in shown)]
    if len(items) > len(shown):
        lines.append(f"  ... and {len(items) - len(shown)} more")
    if hint:
        lines.append(hint)
    return "\n".join(lines)


class StreamError(StructuredError):
    """The stream broke off, or carried an error event, before a complete answer.

    ``partial`` is the value parsed from what arrived (None when nothing did).
    """

    def __init__(
        self, message: str, *, partial: Any = None, raw: str = "", hint: str | None = None
    ) -> None:
        self.partial = partial
        self.raw = raw
        super().__init__(message, hint=hint)


class BatchError(StructuredError):
    """A provider batch job cannot be submitted, found, followed or collected. ``job`` is its
    key in the manifest (or the provider's job id), when there is one."""

    def __init__(self, message: str, *, job: str | None = None, hint: str | None = None
                 ) -> None:
        self.job = job
        super().__init__(message, hint=hint)


class BatchUnavailableError(BatchError):
    """The server has no batch API (a relay of the one-api / new-api family answers the
    batch routes with 404 or 501). ``status`` is the HTTP status it answered."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None
                 ) -> None:
        self.status = status
        super().__init__(message, hint=hint)


class BatchRowError(BatchError):
    """One row of a batch job came back without an answer.

    ``outcome`` says how: ``errored`` (the provider's error for this request, with its HTTP
    ``status`` and ``code`` when the line has them), ``expired`` or ``cancelled`` (the job
    ended before the request ran), ``missing`` (no line came back for it), ``failed`` (the
    job failed, naming this row's line or the whole input file).
    """

    def __init__(self, message: str, *, outcome: str, status: int | None = None,
                 code: str | None = None, job: str | None = None) -> None:
        self.outcome = outcome
        self.status = status
        self.code = code
        super().__init__(message, job=job)


#: the error text of a row that a budget stopped (``--max-cost``)
NOT_RUN = "not run: budget"


class NotRun(StructuredError):
    """A row of a batch that was not sent: the batch stopped at its budget (``--max-cost``);
    its message starts with :data:`NOT_RUN`."""


class Interrupted(StructuredError):
    """A row of a batch that had not finished when the batch was interrupted."""


class CallInterrupted(KeyboardInterrupt):
    """The user stopped a call, a comparison or a cell (the stop button, Ctrl-C): the
    requests were closed; the message says what was kept. A ``KeyboardInterrupt``, shown in
    IPython as one line (``KeyboardInterrupt: …``), not a traceback through the library."""

    def _render_traceback_(self) -> list[str]:
        return _short_traceback(self, "KeyboardInterrupt")


class BatchInterrupted(CallInterrupted):
    """The batch was interrupted. ``results`` holds every row at its input position (each a
    :class:`~structmagic.Result`), the unfinished ones with an :class:`Interrupted` error;
    where the rows were handed over one by one as they finished (``batch_iter``,
    ``on_result``), only the rows from the first one not handed over: ``results[i]`` is
    the row at input position ``start + i``."""

    def __init__(self, results: list[Any], start: int = 0) -> None:
        self.results = results
        self.start = start
        done = sum(1 for r in results if not isinstance(r.error, Interrupted))
        rows = f"items from item {start}" if start else "items"
        super().__init__(f"batch interrupted: {done} of {len(results)} {rows} finished")

    def __reduce__(self) -> Any:
        return type(self), (self.results, self.start)
