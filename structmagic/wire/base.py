"""The interface every wire format implements, and the provider-neutral shapes it speaks.

A wire format is a small pure translation, no I/O:

- :meth:`WireFormat.build` turns a :class:`Call` (what the engine wants) into a path, headers
  and a JSON body;
- :meth:`WireFormat.parse` turns a full JSON response into a :class:`Completion`;
- :meth:`WireFormat.stream` gives a :class:`StreamTranslator` that turns SSE events into
  :class:`Delta` pieces (text, reasoning, refusal, usage, finish);
- :meth:`WireFormat.rejects_format` says whether an error answer means "this server does not
  take this response format" (so the engine steps down instead of failing).

The client, retries, re-asks, cache, partial parser and widget are shared by every format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "Call",
    "Completion",
    "Delta",
    "StreamTranslator",
    "WireFormat",
    "content_text",
    "finish_kind",
]


@dataclass(frozen=True)
class Call:
    """One request, provider-neutral.

    ``mode`` is how the schema is asked for: ``json_schema`` (native structured output,
    ``strict`` as given), ``json_object`` (JSON mode + the schema in the system prompt),
    ``tools`` (one forced function tool whose parameters are the schema) or ``prompt``
    (the schema in the system prompt only).
    """

    model: str
    messages: tuple[Mapping[str, Any], ...]
    schema_name: str
    schema: Mapping[str, Any]
    strict: bool
    mode: str = "json_schema"
    description: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    stream: bool = False
    thinking: bool = False


@dataclass
class Completion:
    """A parsed answer. ``finish`` is normalized: stop, length, content_filter, refusal, tool."""

    text: str = ""
    reasoning: str | None = None
    refusal: str | None = None
    finish: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    model: str | None = None


@dataclass(slots=True)
class Delta:
    """One piece of a streamed answer; all fields optional."""

    text: str = ""
    reasoning: str = ""
    refusal: str = ""
    finish: str | None = None
    usage: dict[str, int] | None = None
    model: str | None = None
    done: bool = False  # the format's terminal event ([DONE], message_stop, ...)
    error: str | None = None  # an error event inside the stream (message)


class StreamTranslator(Protocol):
    def feed(self, event: str, data: str) -> list[Delta]:
        """Translate one SSE event (its event name and data text)."""
        ...


class WireFormat(Protocol):
    name: str
    modes: tuple[str, ...]
    has_strict: bool

    def build(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        """The full URL and the JSON body for ``call``."""
        ...

    def auth_headers(self, key: str) -> dict[str, str]:
        """The headers that carry the API key."""
        ...

    def extra_headers(self) -> dict[str, str]:
        """Other headers the format needs (versions); never secret."""
        ...

    def parse(self, body: Any) -> Completion: ...

    def stream(self) -> StreamTranslator: ...

    def rejects_format(self, status: int, message: str) -> bool: ...

    def error_message(self, body: Any) -> str | None:
        """The server's error message from an error body, if it has the format's shape."""
        ...


# Wording servers use when they do not take a response format / schema feature. Matched
# case-insensitively against the error message of a 400/422/500/502 answer.
_REJECTION_HINTS = (
    "response_format",
    "json_schema",
    "json schema",
    "structured output",
    "not supported with this model",
    "supported values are",
    "xgrammar",
    "outlines",
    "grammar",
    "guided_json",
    "schema",
    "strict",
    "tool_choice",
    "tools are not supported",
    "function calling",
    "output_config",
    "responsejsonschema",
    "responseschema",
    "response_mime_type",
    "responsemimetype",
)
_REJECTION_NEGATIVE = ("api key", "apikey", "unauthorized", "rate limit", "quota")


def mentions_format(status: int, message: str, extra: tuple[str, ...] = ()) -> bool:
    """Whether an error answer reads like "this response format is not supported here".

    ``extra`` adds a format's own wording (lower case) to the shared hint words.
    """
    if status not in (400, 404, 415, 422, 500, 501, 502):
        return False
    text = message.lower()
    if any(word in text for word in _REJECTION_NEGATIVE):
        return False
    return any(hint in text for hint in (*_REJECTION_HINTS, *extra))


def finish_kind(reason: str | None) -> str | None:
    """Normalize a provider's finish/stop reason; empty strings mean "not finished"."""
    if not reason:
        return None
    r = str(reason).lower()
    if r in ("length", "max_tokens", "max_output_tokens"):
        return "length"
    if r in ("content_filter", "safety", "prohibited_content", "blocklist", "spii", "recitation"):
        return "content_filter"
    if r == "refusal":
        return "refusal"
    if r in ("tool_calls", "function_call", "tool_use"):
        return "tool"
    if r in ("stop", "end_turn", "stop_sequence", "completed", "eos"):
        return "stop"
    return r


def content_text(content: Any) -> str:
    """A message's content as one string (a string, or a list of text parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part)
            for part in content
        )
    return str(content)
