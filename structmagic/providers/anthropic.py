"""Claude Messages (``POST {base}/messages``), Anthropic's format.

Headers: the key in ``x-api-key``; ``anthropic-version: 2023-06-01``
(:meth:`Anthropic.extra_headers`); ``content-type: application/json`` as for every format.

Request: ``model``, ``max_tokens`` (always: the API requires it; 4096 when not given),
``system`` (the system messages, joined), ``messages`` (user / assistant turns; consecutive
turns of one role merged, as the API wants them alternating), ``temperature``, and per mode:

- ``json_schema``: ``output_config = {"format": {"type": "json_schema", "schema"}}``;
- ``tools``: one tool ``{"name", "description"?, "input_schema"}`` forced with
  ``tool_choice = {"type": "tool", "name"}`` -- its ``input`` is the value;
- ``prompt`` / ``json_object``: nothing added (Claude has no JSON mode; the engine has put the
  schema into the system message).

Images and PDFs (:data:`CLAUDE_INPUTS`): a turn with parts has content blocks -- ``{"type":
"text", "text"}``, ``{"type": "image", "source": {"type": "base64", "media_type", "data"}}``
(JPEG, PNG, GIF, WebP only) or ``{"type": "image", "source": {"type": "url", "url"}}``, and
``{"type": "document", "source": ...}`` with ``application/pdf`` the same ways.

Thinking (``call.thinking``) adds ``thinking = {"type": "enabled", "budget_tokens": 2048}``,
raises ``max_tokens`` above the budget if needed and leaves ``temperature`` out (the API takes
neither a lower ``max_tokens`` nor a changed temperature with thinking). A forced tool together
with thinking is refused by the API, so :meth:`Anthropic.build` raises ``ValueError`` for it
(the engine skips that step).

Answer: ``content`` blocks ``text``, ``thinking`` (reasoning), ``tool_use`` (``input``, sent on
as JSON text: the answer when there is one, the text blocks beside it are not; of several, the
one named like the schema's tool, else the first); ``stop_reason`` ``end_turn`` /
``stop_sequence`` / ``max_tokens`` / ``refusal`` / ``tool_use``. Stream: ``message_start``,
``content_block_start`` / ``_delta`` (``text_delta``, ``thinking_delta``, ``input_json_delta``,
``signature_delta``) / ``_stop``, ``message_delta`` (stop reason, output tokens),
``message_stop``, ``ping`` and ``event: error``.

Schema policy (:data:`CLAUDE_OUTPUTS`): Claude's structured outputs keep optional properties
optional and need ``additionalProperties: false`` on every object; they take no numeric or
length constraints (said in the description instead, and validated on our side), ``minItems``
only as 0 or 1, a ``pattern`` without lookaround or backreferences, enums of primitive values,
no recursive ``$ref``, at most 24 optional properties and 16 union-typed properties. A schema
outside these rules is asked for with the forced tool (``input_schema`` takes any JSON Schema),
never with ``output_config``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from ..inputs.parts import IMAGE, IMAGE_TYPES, PDF, InputLimits, MediaTokens, Part
from ..schema import Dialect, Limits
from .base import (
    JSON_OBJECT,
    JSON_SCHEMA,
    PROMPT,
    TOOLS,
    CacheHint,
    Call,
    Capabilities,
    Completion,
    Delta,
    Provider,
    UsageReader,
    chosen_call,
    content_items,
    content_text,
    finish_kind,
    has_parts,
    mentions_format,
    read_count,
    transient_error,
)
from .batch import (
    CANCELLED,
    CANCELLING,
    COMPLETED,
    ERRORED,
    EXPIRED,
    IN_PROGRESS,
    SUCCEEDED,
    BatchAPI,
    BatchLimits,
    JobInfo,
    RowOutcome,
    as_object,
    dump,
    json_int,
    unix_time,
)

__all__ = [
    "CACHE_MINIMUM",
    "CACHE_MINIMUMS",
    "CLAUDE_INPUTS",
    "CLAUDE_OUTPUTS",
    "DEFAULT_MAX_TOKENS",
    "PROVIDER",
    "THINKING_BUDGET",
    "VERSION",
    "Anthropic",
    "MessageBatches",
    "error_message",
]

VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
THINKING_BUDGET = 2048
MODES = (JSON_SCHEMA, TOOLS, PROMPT)
_KNOWN_MODES = (*MODES, JSON_OBJECT)
_LOOKAROUND = re.compile(r"\(\?[=!<]|\\[1-9bB]")


def _min_items_ok(value: Any) -> bool:
    return value in (0, 1)


def _pattern_ok(value: Any) -> bool:
    return isinstance(value, str) and not _LOOKAROUND.search(value)


#: Claude's structured outputs (``output_config.format``)
CLAUDE_OUTPUTS = Dialect(
    title="Claude's structured outputs",
    keywords=frozenset({
        "type", "properties", "required", "additionalProperties", "items", "enum", "const",
        "anyOf", "$ref", "$defs", "definitions", "description", "format", "pattern",
        "minItems",
    }),
    formats=frozenset({
        "date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6",
        "uuid",
    }),
    all_required=False,
    closed_objects=True,
    object_root=True,
    recursion=False,
    typed=True,
    enum_types=frozenset({"string", "number", "integer", "boolean", "null"}),
    keyword_rules={"minItems": _min_items_ok, "pattern": _pattern_ok},
    limits=Limits(max_optional=24, max_unions=16),
)
#: Anthropic's documented input limits: JPEG, PNG, GIF and WebP images up to 5 MB each and
#: 100 per request, PDFs up to 32 MB, 32 MB per request; an image whose long edge is over
#: 1568 px or that has more than about 1.15 megapixels is scaled down by the API, so nothing
#: larger is of use
CLAUDE_INPUTS = InputLimits(
    image_types=IMAGE_TYPES,
    document_types=frozenset({PDF}),
    image_urls=True,
    document_urls=True,
    max_image_bytes=5_000_000,
    max_document_bytes=32_000_000,
    max_request_bytes=32_000_000,
    max_images=100,
    max_edge=1568,
    max_pixels=1_150_000,
    # width × height / 750 of the image as Claude scales it (at most some 1,600 tokens);
    # a PDF page, its text and a picture of it: 1,500 to 3,000 tokens
    tokens=MediaTokens(pixels_per_token=750, page=2000),
)
#: "Extra inputs are not permitted" is a format rejection only when it names the format
_EXTRA = "extra inputs are not permitted"
_REFUSED = "The model declined to answer."


def _finish(reason: Any) -> str | None:
    if reason == "model_context_window_exceeded":
        return "length"
    return finish_kind(reason)


def _usage(raw: Any) -> dict[str, int]:
    """``input_tokens`` (plus cache reads and writes) / ``output_tokens`` in the engine's names."""
    read = UsageReader(raw)
    out: dict[str, int] = {}
    given, written, cached = (read.count(k) for k in (
        "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
    if given is not None:
        out["prompt_tokens"] = given + (written or 0) + (cached or 0)
    if (output := read.count("output_tokens")) is not None:
        out["completion_tokens"] = output
    if out:
        out["total_tokens"] = out.get("prompt_tokens", 0) + out.get("completion_tokens", 0)
    if cached:  # part of prompt_tokens, priced lower
        out["cached_tokens"] = cached
    if written:  # part of prompt_tokens, priced higher
        out["cache_write_tokens"] = written
        hour = read.count("ephemeral_1h_input_tokens", within="cache_creation")
        if hour:  # of them, written for an hour (priced higher still)
            out["cache_write_1h_tokens"] = min(hour, written)
    return read.usage(out)


def error_message(body: Any) -> str | None:
    """The message of ``{"type": "error", "error": {"type", "message"}}``, with its type."""
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        kind = err.get("type")
        return f"{err['message']} ({kind})" if kind else err["message"]
    if isinstance(err, str) and err:
        return err
    msg = body.get("message")
    return msg if isinstance(msg, str) and msg else None


class MessageBatches(BatchAPI):
    """Anthropic's Message Batches (``/v1/messages/batches``).

    Submit: ``POST /v1/messages/batches {"requests": [{"custom_id", "params"}]}`` (``params``
    a Messages body, no ``stream``), up to 100,000 requests or 256 MB. Poll
    ``GET /v1/messages/batches/{id}``: ``processing_status`` ``in_progress`` / ``canceling``
    / ``ended`` (the per-outcome counts stay 0 until it ends). Results: the JSONL of
    ``GET /v1/messages/batches/{id}/results`` (always on the configured base URL, so the key
    goes nowhere else), one ``{"custom_id", "result": {"type": "succeeded", "message"} |
    {"type": "errored", "error"} | canceled | expired}`` per request, in any order, and only
    once the batch has ended. A batch keeps no name of ours (nothing but the requests), so each
    request's ``custom_id`` carries the submission's mark: one created just before a crash is
    told from the account's other batches by the ids in its results.
    """

    flow = "inline"
    limits = BatchLimits(max_requests=100_000, max_bytes=256 * 1024 * 1024)
    statuses: ClassVar[Mapping[str, str]] = {
        "in_progress": IN_PROGRESS, "canceling": CANCELLING, "ended": COMPLETED}
    named = False

    def line(self, custom_id: str, endpoint: str, body_json: str) -> str:
        return f'{{"custom_id":{dump(custom_id)},"params":{body_json}}}'

    def inline_container(self, name: str) -> tuple[bytes, bytes, bytes]:
        return b'{"requests":[', b",", b"]}"

    def create(self, base_url: str, *, endpoint: str, name: str, file_id: str | None
               ) -> tuple[str, None]:
        return f"{base_url}/messages/batches", None

    def job_url(self, base_url: str, job_id: str) -> str:
        return f"{base_url}/messages/batches/{job_id}"

    def cancel_url(self, base_url: str, job_id: str) -> str:
        return f"{base_url}/messages/batches/{job_id}/cancel"

    def list_url(self, base_url: str, cursor: str | None = None) -> str:
        return f"{base_url}/messages/batches?limit=100" + (f"&after_id={cursor}" if cursor
                                                           else "")

    def list_page(self, body: Any) -> tuple[list[JobInfo], str | None]:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise ValueError("the list has no 'data'")
        jobs = [self.job(item) for item in data if isinstance(item, dict) and item.get("id")]
        more = bool(body.get("has_more")) and jobs
        return jobs, (str(body.get("last_id") or jobs[-1].id) if more else None)

    def job(self, body: Any) -> JobInfo:
        """An ended batch is ``cancelled`` when a cancel was asked, ``expired`` when requests
        expired, else ``completed`` (each request's own outcome is in its result line)."""
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise ValueError("the answer is not a message batch (no 'id')")
        raw = str(body.get("processing_status") or "")
        counts = as_object(body.get("request_counts"))
        n = {k: json_int(counts.get(k)) for k in ("processing", "succeeded", "errored",
                                                    "canceled", "expired")}
        status = self.status_of(raw)
        if status == COMPLETED:
            if body.get("cancel_initiated_at"):
                status = CANCELLED
            elif n["expired"]:
                status = EXPIRED
        return JobInfo(
            id=body["id"], status=status, raw_status=raw,
            total=sum(n.values()) if counts else None, completed=n["succeeded"],
            failed=n["errored"] + n["canceled"] + n["expired"],
            created=unix_time(body.get("created_at")),
            outputs=("results",) if raw == "ended" else (),
        )

    def result_urls(self, base_url: str, info: JobInfo) -> list[str]:
        return [f"{base_url}/messages/batches/{info.id}/results"] if info.outputs else []

    def outcome(self, obj: Any) -> RowOutcome:
        if not isinstance(obj, dict) or not isinstance(obj.get("result"), dict):
            raise ValueError("the line has no 'result' object")
        cid = obj.get("custom_id")
        cid = cid if isinstance(cid, str) else None
        result = obj["result"]
        kind = result.get("type")
        if kind == "succeeded":
            return RowOutcome(cid, SUCCEEDED, body=result.get("message"), status=200)
        if kind == "canceled":
            return RowOutcome(cid, CANCELLED, message="the request was cancelled")
        if kind == "expired":
            return RowOutcome(cid, EXPIRED, message="the batch expired before this request ran")
        err = result.get("error")
        inner = err.get("error") if isinstance(err, dict) and isinstance(err.get("error"),
                                                                          dict) else err
        code = inner.get("type") if isinstance(inner, dict) else None
        return RowOutcome(cid, ERRORED, code=str(code) if code else None,
                          message=error_message(err) or str(kind or "errored"))


class Anthropic(Provider):
    """The Claude Messages wire format."""

    name = "anthropic"
    title = "Claude Messages"
    default_base_url = "https://api.anthropic.com/v1"
    base_url_envs = ("ANTHROPIC_BASE_URL",)
    default_model = "claude-sonnet-4-5"
    key_envs = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")
    modes = MODES
    capabilities = Capabilities(strict_schema=False, streaming=True, thinking=True,
                                images=True, documents=True, batch_api=True)
    dialect = CLAUDE_OUTPUTS
    rejection_words = ("output_format", "json outputs", "forced tool use")
    inputs = CLAUDE_INPUTS
    price_table_id = "anthropic"
    #: Claude caches only where a breakpoint asks (``cache_control``)
    cache_style = "marked"
    #: Message Batches: 50% of the synchronous price, within 24 h
    batch_price_factor = 0.5

    def build(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        """The URL and body. ``ValueError`` for a forced tool with thinking, or a bad mode."""
        if call.mode not in _KNOWN_MODES:
            raise ValueError(f"mode {call.mode!r} is not one of Claude Messages' {MODES}")
        if call.mode == TOOLS and call.thinking:
            raise ValueError("a forced tool cannot be combined with extended thinking")
        system: list[str] = []
        messages: list[dict[str, Any]] = []
        for m in call.messages:
            role = m.get("role")
            content: str | list[Any] = content_text(m.get("content"))
            if role in ("system", "developer"):
                system.append(str(content))
                continue
            role = "assistant" if role == "assistant" else "user"
            if has_parts(m.get("content")):
                content = [self._block(item) for item in content_items(m["content"])]
            if messages and messages[-1]["role"] == role:
                messages[-1]["content"] = _merged(messages[-1]["content"], content)
            else:
                messages.append({"role": role, "content": content})
        body: dict[str, Any] = {
            "model": call.model,
            "max_tokens": call.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if system:
            body["system"] = "\n\n".join(system)
        body["messages"] = messages
        if call.cache is not None and call.cache.mark:
            _mark_cache(body, call.cache)
        if call.mode == JSON_SCHEMA:
            body["output_config"] = {"format": {"type": "json_schema", "schema": call.schema}}
        elif call.mode == TOOLS:
            tool = call.named()
            tool["input_schema"] = call.schema
            body["tools"] = [tool]
            body["tool_choice"] = {"type": "tool", "name": call.schema_name}
        if call.thinking:
            body["thinking"] = {"type": "enabled", "budget_tokens": THINKING_BUDGET}
            # max_tokens must exceed the budget; leave room for the answer itself
            body["max_tokens"] = max(body["max_tokens"], THINKING_BUDGET + 1024)
        elif call.temperature is not None:
            body["temperature"] = call.temperature
        if call.stream:
            body["stream"] = True
        return f"{base_url}/messages", body

    def cache_minimum(self, model: str) -> int:
        """Claude's minimum cacheable prompt, by model (:data:`CACHE_MINIMUMS`)."""
        return next((n for name, n in CACHE_MINIMUMS if model.startswith(name)), CACHE_MINIMUM)

    def auth_headers(self, key: str) -> dict[str, str]:
        """``x-api-key: KEY``."""
        return {"x-api-key": key}

    def count_request(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        """``POST {base}/messages/count_tokens``: the Messages body without ``max_tokens``,
        ``stream`` and ``temperature`` (the endpoint takes none of them)."""
        _, body = self.build(call, base_url)
        for key in ("max_tokens", "stream", "temperature"):
            body.pop(key, None)
        return f"{base_url}/messages/count_tokens", body

    def parse_count(self, body: Any) -> int:
        """``{"input_tokens": N}``."""
        return read_count(body, "input_tokens")

    def extra_headers(self) -> dict[str, str]:
        """The API version."""
        return {"anthropic-version": VERSION}

    def parse(self, body: Any, tool: str | None = None) -> Completion:
        """A whole message as a :class:`Completion`.

        A ``tool_use`` block's ``input`` is the text (a forced tool; of several, the one named
        ``tool``, else the first); else the text blocks. A refusal keeps whatever text came
        and is also the refusal message.
        """
        if not isinstance(body, dict) or not isinstance(body.get("content"), list):
            raise ValueError("the answer has no 'content' list")
        text: list[str] = []
        thinking: list[str] = []
        names: list[str | None] = []
        inputs: list[str] = []
        for block in body["content"]:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                text.append(str(block.get("text") or ""))
            elif kind == "thinking":
                thinking.append(str(block.get("thinking") or ""))
            elif kind == "tool_use":
                names.append(_name(block.get("name")))
                inputs.append(json.dumps(block.get("input"), ensure_ascii=False))
        finish = _finish(body.get("stop_reason"))
        chosen = chosen_call(names, tool)
        answer = inputs[chosen] if chosen is not None else "".join(text)
        return Completion(
            text=answer,
            reasoning="".join(thinking) or None,
            refusal=(answer.strip() or _REFUSED) if finish == "refusal" else None,
            finish=finish,
            usage=_usage(body.get("usage")),
            model=body.get("model"),
            called=chosen is not None,
        )

    def stream(self) -> _MessagesStream:
        """A fresh translator for one streamed message."""
        return _MessagesStream()

    def rejects_format(self, status: int, message: str) -> bool:
        """Whether the error means "this model does not take ``output_config`` / this tool"."""
        text = message.lower()
        if mentions_format(status, message, self.rejection_words):
            return True
        # "Extra inputs are not permitted" counts only when it names the output format
        return ("format" in text or "output" in text) and mentions_format(
            status, message, (_EXTRA,))

    def error_message(self, body: Any) -> str | None:
        """See :func:`error_message`."""
        return error_message(body)

    def render_part(self, part: Part) -> dict[str, Any]:
        """An ``image`` or ``document`` block, its source ``base64`` or ``url``."""
        if part.url is not None:
            source: dict[str, Any] = {"type": "url", "url": part.url}
        else:
            source = {"type": "base64", "media_type": part.mime, "data": part.b64}
        return {"type": "image" if part.kind == IMAGE else "document", "source": source}

    def _block(self, item: Any) -> Any:
        if isinstance(item, str):
            return {"type": "text", "text": item}
        return self.render_part(item) if isinstance(item, Part) else item


    # --- the batch API ------------------------------------------------------------------------

    batch_api = MessageBatches()


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _blocks(content: str | list[Any]) -> list[Any]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


#: the fewest prompt tokens Claude caches, by model (the first name that starts the model's
#: wins; else :data:`CACHE_MINIMUM`)
CACHE_MINIMUMS = (("claude-opus-4-5", 4096), ("claude-haiku-4-5", 4096),
                  ("claude-3-5-haiku", 2048), ("claude-3-haiku", 2048))
CACHE_MINIMUM = 1024


def _mark_cache(body: dict[str, Any], hint: CacheHint) -> None:
    """A cache breakpoint (``cache_control``) on the last block every row shares: the first
    ``hint.prefix`` characters of the first user turn, split off as a text block of their
    own; else the system prompt, as a block."""
    control: dict[str, Any] = {"type": "ephemeral"}
    if hint.ttl != "5m":
        control["ttl"] = hint.ttl
    for message in body["messages"]:
        if message["role"] != "user":
            continue
        content = message["content"]
        if hint.prefix and isinstance(content, str) and len(content) >= hint.prefix:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": content[:hint.prefix],
                                             "cache_control": control}]
            if content[hint.prefix:]:
                blocks.append({"type": "text", "text": content[hint.prefix:]})
            message["content"] = blocks
            return
        break
    if isinstance(body.get("system"), str):
        body["system"] = [{"type": "text", "text": body["system"], "cache_control": control}]


def _merged(first: str | list[Any], second: str | list[Any]) -> str | list[Any]:
    """Two turns of one role as one (the API wants roles alternating)."""
    if isinstance(first, str) and isinstance(second, str):
        return first + "\n\n" + second
    return _blocks(first) + _blocks(second)


class _MessagesStream:
    """Translates the events of one streamed message into :class:`Delta` pieces.

    Each ``tool_use`` block is a call (its content block index the key): its
    ``input_json_delta`` pieces are :attr:`Delta.tool`, never text, and the Accumulator
    chooses the answer among the calls as :meth:`Anthropic.parse` does; a block whose input
    came in no piece is its start's ``input`` (``{}``) at its stop. Usage is the input tokens
    of ``message_start`` with the output tokens of ``message_delta`` (both cumulative).
    """

    __slots__ = ("_empty", "_prompt")

    def __init__(self) -> None:
        self._prompt: dict[str, int] = {}
        #: the tool blocks no input piece has come for yet: their start's ``input``
        self._empty: dict[int | None, Any] = {}

    def feed(self, event: str, data: str) -> list[Delta]:
        """Translate one SSE event (its ``event:`` name and ``data:`` text)."""
        if not data.strip():
            return []
        obj = json.loads(data)
        if not isinstance(obj, dict):
            return []
        kind = obj.get("type") or event
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            dk = delta.get("type")
            if dk == "text_delta":
                return [Delta(text=str(delta.get("text") or ""))]
            if dk == "input_json_delta":
                key = _key(obj.get("index"))
                piece = str(delta.get("partial_json") or "")
                if piece:
                    self._empty.pop(key, None)
                return [Delta(tool=piece, call=key)]
            if dk == "thinking_delta":
                return [Delta(reasoning=str(delta.get("thinking") or ""))]
            return []  # signature_delta, citations_delta
        if kind == "content_block_start":
            block = obj.get("content_block") or {}
            if block.get("type") == "tool_use":
                key = _key(obj.get("index"))
                self._empty[key] = block.get("input")
                return [Delta(call=key, name=_name(block.get("name")))]
            if block.get("type") == "text" and block.get("text"):
                return [Delta(text=str(block["text"]))]
            elif block.get("type") == "thinking" and block.get("thinking"):
                return [Delta(reasoning=str(block["thinking"]))]
            return []
        if kind == "message_start":
            message = obj.get("message") or {}
            usage = message.get("usage")
            # every count kept as sent, so the usage reader judges it (None: not given)
            self._prompt = {k: v for k, v in usage.items()
                            if k != "output_tokens" and v is not None} if isinstance(
                usage, dict) else {}
            return [Delta(model=message.get("model"))]
        if kind == "message_delta":
            more = obj.get("usage")
            usage = {**self._prompt, **{k: v for k, v in more.items() if v is not None}
                     } if isinstance(more, dict) else dict(self._prompt)
            return [Delta(finish=_finish((obj.get("delta") or {}).get("stop_reason")),
                          usage=_usage(usage) or None)]
        if kind == "content_block_stop":
            key = _key(obj.get("index"))
            if key in self._empty:  # a call whose input came whole, in its start
                return [Delta(tool=json.dumps(self._empty.pop(key), ensure_ascii=False),
                              call=key)]
            return []
        if kind == "message_stop":
            return [Delta(done=True)]
        if kind == "error":
            return [Delta(error=error_message(obj) or "the server sent an error event",
                          transient=transient_error(obj))]
        return []  # ping


def _key(index: Any) -> int | None:
    """A content block's index as a call's key."""
    return index if isinstance(index, int) and not isinstance(index, bool) else None


#: the provider this module defines (see :mod:`structmagic.providers.registry`)
PROVIDER = Anthropic
