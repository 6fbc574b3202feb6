"""The exception tree of structmagic.

Every error that structmagic raises at run time derives from :class:`StructuredError`::

    StructuredError
    ├── ConfigError                 no key, bad base URL, bad option value
    ├── SchemaError                 the schema given cannot be used (carries .path)
    ├── CassetteMissError           replay mode and the request is not in the recording
    ├── TransportError              the request did not get an HTTP answer
    │   └── APITimeoutError         connect / read timeout, or a stalled stream
    ├── APIError                    the server answered with an error status (.status)
    │   ├── BadRequestError         400, 404, 422 and other 4xx
    │   │   └── UnsupportedFormatError   the server does not take this response format
    │   ├── AuthenticationError     401, 403 (.key_source says where the key came from)
    │   ├── RateLimitError          429
    │   └── ServerError             5xx
    ├── AnswerError                 the server answered, but not with a usable value
    │   ├── RefusalError            the model refused (.refusal)
    │   ├── TruncatedError          finish_reason "length" / max tokens
    │   ├── ContentFilterError      finish_reason "content_filter" / safety
    │   └── InvalidOutputError      not JSON, or not valid against the schema after the
    │                               re-asks (.errors: list of ValidationIssue, .raw)
    └── StreamError                 the stream broke off or carried an error event
                                    (.partial: the value received so far)

Lower-level exceptions (httpx, json, jsonschema) are converted at the boundary with
``raise ... from``. Every message is scrubbed of the API key before it is stored.

In IPython, these errors render as one short paragraph (``_render_traceback_``), not a
library traceback; the cell still fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "APIError",
    "APITimeoutError",
    "AnswerError",
    "AuthenticationError",
    "BadRequestError",
    "CassetteMissError",
    "ConfigError",
    "ContentFilterError",
    "InvalidOutputError",
    "RateLimitError",
    "RefusalError",
    "SchemaError",
    "ServerError",
    "StreamError",
    "StructuredError",
    "TransportError",
    "TruncatedError",
    "UnsupportedFormatError",
    "ValidationIssue",
]

# Secrets registered here are replaced in every error message (see config.py, which
# registers each key it resolves). Kept as a module-level set so that errors raised deep
# in the stack are scrubbed without having the key passed around.
_SECRETS: set[str] = set()


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so that no error message ever carries it."""
    if secret and len(secret) >= 4:
        _SECRETS.add(secret)


def scrub(text: str) -> str:
    """Return ``text`` with every registered secret (and its tail) replaced."""
    if not text:
        return text
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
        tail = secret[-6:]
        if len(secret) > 8 and tail in text:
            text = text.replace(tail, "***")
    return text


@dataclass(frozen=True)
class ValidationIssue:
    """One validation error: a JSON path (``$.steps[2].output``) and a message."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class StructuredError(Exception):
    """Base of every structmagic error. ``str(err)`` is one clear paragraph."""

    #: a short hint on what to do next, appended to the message when set
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        message = scrub(str(message))
        if hint is not None:
            self.hint = scrub(hint)
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text = f"{text}\n{self.hint}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of formatting a traceback: one paragraph, no frames
        # (so no locals can leak under %xmode Verbose), and the cell still fails. When the
        # magic's widget already shows the message (it sets _shown_in_widget), one short line.
        red, reset = "\x1b[0;31m", "\x1b[0m"
        if getattr(self, "_shown_in_widget", False):
            return [f"{red}{type(self).__name__}{reset}: see above"]
        lines = str(self).splitlines() or [""]
        return [f"{red}{type(self).__name__}{reset}: {lines[0]}", *lines[1:]]


class ConfigError(StructuredError):
    """The configuration cannot be used: no API key, a malformed base URL, a bad value."""


class SchemaError(StructuredError):
    """The schema given cannot be used. ``path`` is the JSON path of the problem."""

    def __init__(self, message: str, *, path: str = "$", hint: str | None = None) -> None:
        self.path = path
        super().__init__(message, hint=hint)


class CassetteMissError(StructuredError):
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
    """The answer was cut off (finish_reason ``length``)."""


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
        shown = self.errors[:10]
        lines = [self.message, *(f"  - {issue}" for issue in shown)]
        if len(self.errors) > len(shown):
            lines.append(f"  ... and {len(self.errors) - len(shown)} more")
        if self.hint:
            lines.append(self.hint)
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
