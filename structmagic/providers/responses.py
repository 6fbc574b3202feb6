"""OpenAI Responses API (``POST {base}/responses``, ``Authorization: Bearer KEY``).

Request: ``model``, ``instructions`` (the system messages, joined), ``input`` (the other
messages as typed message items, ``{"type": "message", "role", "content": [parts]}`` with
``input_text`` parts for the user's turns and ``output_text`` parts for the assistant's
earlier answer — the canonical form, which OpenAI and stricter implementations such as
llama.cpp's server both accept), and per mode:

- ``json_schema``: ``text.format = {"type": "json_schema", "name", "description"?, "schema",
  "strict"}``;
- ``json_object``: ``text.format = {"type": "json_object"}`` (the schema is in the
  instructions already);
- ``tools``: one function tool ``{"type": "function", "name", "description"?, "parameters",
  "strict"}`` forced with ``tool_choice = {"type": "function", "name"}``;
- ``prompt``: nothing added.

Images and PDFs (the limits of Chat Completions, :data:`RESPONSES_INPUTS`): the user's turn
carries ``{"type": "input_image", "image_url": <URL or data URL>, "detail"}`` (``detail``
is required: ``auto`` unless asked) and ``{"type": "input_file", "filename", "file_data":
<data URL>}`` or ``{"type": "input_file", "file_url"}`` beside its ``input_text``.

Plus ``temperature``, ``max_output_tokens``, ``reasoning.summary = "auto"`` when thinking is
asked for (so reasoning models send their summaries), ``include =
["message.output_text.logprobs"]`` when the answer's token log-probabilities are asked for
(``confidence``; not with a forced tool, whose arguments have none), and ``stream``.

Answer: ``output`` items -- ``message`` (``output_text`` / ``refusal`` parts), ``reasoning``
(``summary_text`` parts, or ``reasoning_text`` content on open-weight servers),
``output_text`` parts carry ``logprobs`` when they were asked for;
``function_call`` (``arguments``: the answer when there is one, the messages beside it are not;
of several, the one named like the schema's tool, else the first); ``status: incomplete`` with
``incomplete_details.reason`` ``max_output_tokens`` / ``content_filter`` is truncation / a
content filter.

Stream: typed SSE events whose data carries ``type``: ``response.output_text.delta`` (with
its tokens' ``logprobs`` when asked for),
``response.refusal.delta``, ``response.reasoning_summary_text.delta``,
``response.function_call_arguments.delta`` (keyed by ``item_id``; ``response.output_item.added``
names the function); ``response.completed`` / ``response.incomplete`` carry the whole response
(usage, status) and end the stream; ``response.failed`` and ``error`` are errors inside the
stream.

Schema policy: OpenAI's strict mode, as for Chat Completions
(:data:`~structmagic.providers.openai.OPENAI_STRICT`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from ..inputs.parts import IMAGE, Part
from .base import (
    JSON_OBJECT,
    JSON_SCHEMA,
    PROMPT,
    TOOLS,
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
    read_count,
    transient_error,
)
from .logprobs import logprobs_of
from .openai import OPENAI_INPUTS, OPENAI_STRICT, OpenAIBatchAPI

__all__ = ["LOGPROBS_INCLUDE", "PROVIDER", "RESPONSES_INPUTS", "Responses", "error_message"]

#: what ``include`` names to have the answer's text come with its token log-probabilities
LOGPROBS_INCLUDE = "message.output_text.logprobs"

#: as Chat Completions, and PDFs by URL too (``input_file.file_url``)
RESPONSES_INPUTS = replace(OPENAI_INPUTS, document_urls=True)

MODES = (JSON_SCHEMA, JSON_OBJECT, TOOLS, PROMPT)


def _usage(raw: Any) -> dict[str, int]:
    """``input_tokens`` / ``output_tokens`` / ``total_tokens`` in the engine's names."""
    read = UsageReader(raw)
    out: dict[str, int] = {}
    for key, name in (("input_tokens", "prompt_tokens"), ("output_tokens", "completion_tokens")):
        if (n := read.count(key)) is not None:
            out[name] = n
    total = read.count("total_tokens")
    if out:
        out["total_tokens"] = total if total is not None else sum(out.values())
    cached = read.count("cached_tokens", within="input_tokens_details")
    if cached:  # part of input_tokens, priced lower
        out["cached_tokens"] = cached
    return read.usage(out)


def _finish(resp: Mapping[str, Any]) -> str | None:
    """The normalized finish of a response object, from its ``status``."""
    status = resp.get("status")
    if status == "incomplete":
        reason = (resp.get("incomplete_details") or {}).get("reason")
        return finish_kind(reason) or "length"
    if status == "completed":
        return "stop"
    return None


def _string(value: Any) -> str | None:
    """A name or an item id, when it is a string."""
    return value if isinstance(value, str) else None


def _dicts(items: Any) -> Iterable[dict[str, Any]]:
    return (x for x in items if isinstance(x, dict)) if isinstance(items, list) else ()


def error_message(body: Any) -> str | None:
    """The message of an error body or event.

    ``{"error": {"message", "code"}}`` (HTTP errors, ``response.failed``'s response),
    ``{"type": "error", "message", "code"}`` (the stream's error event) or
    ``{"error": "..."}``.
    """
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, str) and err:
        return err
    if not isinstance(err, dict):
        err = body
    message = err.get("message")
    if isinstance(message, str) and message:
        return message
    return None


class Responses(Provider):
    """The Responses API wire format."""

    name = "responses"
    title = "OpenAI Responses API"
    default_base_url = "https://api.openai.com/v1"
    base_url_envs = ("OPENAI_BASE_URL",)
    default_model = "gpt-4o-mini"
    key_envs = ("OPENAI_API_KEY",)
    modes = MODES
    capabilities = Capabilities(strict_schema=True, streaming=True, thinking=True,
                                images=True, documents=True, batch_api=True)
    dialect = OPENAI_STRICT
    rejection_words = ("text.format", "'text'", "response_format")
    inputs = RESPONSES_INPUTS
    price_table_id = "openai"
    #: OpenAI caches every prompt prefix of 1,024 tokens or more on its own, in steps of 128
    cache_style = "auto"
    cache_step = 128
    #: the Batch API (``/v1/responses`` lines): 50% of the synchronous price, within 24 h
    batch_price_factor = 0.5

    def build(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        """The URL and body; system messages become ``instructions``."""
        if call.mode not in MODES:
            raise ValueError(f"mode {call.mode!r} is not one of the Responses API's {MODES}")
        system = [content_text(m.get("content")) for m in call.messages
                  if m.get("role") in ("system", "developer")]
        body: dict[str, Any] = {"model": call.model}
        if system:
            body["instructions"] = "\n\n".join(system)
        body["input"] = [self._input_item(m) for m in call.messages
                         if m.get("role") not in ("system", "developer")]
        if call.mode == JSON_SCHEMA:
            fmt = call.named(type="json_schema")
            fmt["schema"] = call.schema
            fmt["strict"] = call.strict
            body["text"] = {"format": fmt}
        elif call.mode == JSON_OBJECT:
            body["text"] = {"format": {"type": "json_object"}}
        elif call.mode == TOOLS:
            tool = call.named(type="function")
            tool["parameters"] = call.schema
            tool["strict"] = call.strict
            body["tools"] = [tool]
            body["tool_choice"] = {"type": "function", "name": call.schema_name}
        if call.temperature is not None:
            body["temperature"] = call.temperature
        if call.max_tokens is not None:
            body["max_output_tokens"] = call.max_tokens
        if call.thinking:
            body["reasoning"] = {"summary": "auto"}
        if call.logprobs and self.logprobs_refusal(call.mode) is None:
            body["include"] = [LOGPROBS_INCLUDE]
        if call.cache is not None and call.cache.key:
            body["prompt_cache_key"] = call.cache.key
        if call.stream:
            body["stream"] = True
        return f"{base_url}/responses", body

    def cache_minimum(self, model: str) -> int:
        """OpenAI caches prompts of 1,024 tokens or more (then in steps of 128)."""
        return 1024

    def logprobs_refusal(self, mode: str) -> str | None:
        """None (``include: ["message.output_text.logprobs"]`` is sent), but for a forced
        tool: its arguments come with no log-probabilities."""
        if mode == TOOLS:
            return ("a forced tool call (mode tools) comes with no token log-probabilities, "
                    "so there is no per-field confidence")
        return None

    def auth_headers(self, key: str) -> dict[str, str]:
        """``Authorization: Bearer KEY``."""
        return {"Authorization": f"Bearer {key}"}

    def count_request(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        """``POST {base}/responses/input_tokens``: the request's body without the fields that
        only shape the answer (``stream``, ``max_output_tokens``, ``temperature``)."""
        _, body = self.build(call, base_url)
        for key in ("stream", "max_output_tokens", "temperature"):
            body.pop(key, None)
        return f"{base_url}/responses/input_tokens", body

    def parse_count(self, body: Any) -> int:
        """``{"object": "response.input_tokens", "input_tokens": N}``."""
        return read_count(body, "input_tokens")

    def parse(self, body: Any, tool: str | None = None) -> Completion:
        """A whole response object as a :class:`Completion`.

        A function call's arguments, if any, are the text (a forced tool; of several, the one
        named ``tool``, else the first); else the messages' ``output_text`` parts. A
        ``failed`` response raises ``ValueError``.
        """
        if not isinstance(body, dict) or not isinstance(body.get("output"), list):
            raise ValueError("the answer has no 'output' list")
        if body.get("status") == "failed":
            raise ValueError(f"the response failed: {error_message(body) or 'no reason given'}")
        text: list[str] = []
        logprobs: list[Any] = []
        problem: str | None = None
        reasoning: list[str] = []
        refusal: list[str] = []
        arguments: list[str] = []
        names: list[str | None] = []
        for item in _dicts(body["output"]):
            kind = item.get("type")
            if kind == "message":
                for part in _dicts(item.get("content")):
                    if part.get("type") in ("output_text", "text"):
                        text.append(str(part.get("text") or ""))
                        read, why = logprobs_of(part.get("logprobs"))
                        logprobs.append(read)
                        problem = problem or why
                    elif part.get("type") == "refusal":
                        refusal.append(str(part.get("refusal") or ""))
            elif kind == "reasoning":
                pieces = [str(p["text"]) for p in _dicts(item.get("summary")) if p.get("text")]
                if not pieces:  # open-weight servers put the raw reasoning in content
                    pieces = [str(p["text"]) for p in _dicts(item.get("content"))
                              if p.get("text")]
                reasoning.extend(pieces)
            elif kind == "function_call":
                arguments.append(str(item.get("arguments") or ""))
                names.append(_string(item.get("name")))
        finish = _finish(body)
        if finish == "stop" and refusal:
            finish = "refusal"
        elif finish == "stop" and arguments:
            finish = "tool"
        chosen = chosen_call(names, tool)
        return Completion(
            text=arguments[chosen] if chosen is not None else "".join(text),
            reasoning="\n\n".join(reasoning) or None,
            refusal="".join(refusal) or None,
            finish=finish,
            usage=_usage(body.get("usage")),
            model=body.get("model"),
            called=chosen is not None,
            logprobs=(None if chosen is not None or not logprobs or None in logprobs
                      else sum(logprobs[1:], logprobs[0])),
            logprobs_problem=problem,
        )

    def stream(self) -> _ResponsesStream:
        """A fresh translator for one streamed answer."""
        return _ResponsesStream()

    def error_message(self, body: Any) -> str | None:
        """See :func:`error_message`."""
        return error_message(body)

    def render_part(self, part: Part) -> dict[str, Any]:
        """``input_image`` (``detail`` always: the API requires it) or ``input_file``."""
        if part.kind == IMAGE:
            return {"type": "input_image", "image_url": part.url or part.data_url,
                    "detail": part.detail or "auto"}
        if part.url is not None:
            return {"type": "input_file", "file_url": part.url}
        return {"type": "input_file", "filename": part.filename, "file_data": part.data_url}

    # --- the batch API ------------------------------------------------------------------------

    #: OpenAI's batch API, with lines for ``/v1/responses``
    batch_api = OpenAIBatchAPI()

    def _input_item(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """A message as a typed input item: the user's text as ``input_text`` (and its
        images and files), an earlier answer of the assistant as ``output_text``."""
        content = message.get("content")
        if message.get("role") == "assistant":
            return {"type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": content_text(content)}]}
        if not has_parts(content):
            return {"type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": content_text(content)}]}
        blocks = [{"type": "input_text", "text": item} if isinstance(item, str)
                  else self.render_part(item) if isinstance(item, Part) else item
                  for item in content_items(content)]
        return {"type": "message", "role": "user", "content": blocks}


class _ResponsesStream:
    """Translates the typed events of one streamed response into :class:`Delta` pieces.

    Each function call (its item id the key) sends its arguments as :attr:`Delta.tool`,
    never text, and the Accumulator chooses the answer among the calls as
    :meth:`Responses.parse` does; a call whose arguments came in no delta gives them whole at
    its ``response.output_item.done``. The final event's finish is ``refusal`` / ``tool``
    when refusal text / a call came.
    """

    __slots__ = ("_empty", "_refused", "_tool")

    def __init__(self) -> None:
        self._tool = False
        self._refused = False
        #: the function calls no arguments delta has come for yet
        self._empty: set[str | None] = set()

    def feed(self, event: str, data: str) -> list[Delta]:
        """Translate one SSE event (its ``event:`` name and ``data:`` text)."""
        if data == "[DONE]":  # some relays add it after response.completed
            return [Delta(done=True)]
        if not data.strip():
            return []
        obj = json.loads(data)
        if not isinstance(obj, dict):
            return []
        kind = obj.get("type") or event
        if kind == "response.output_text.delta":
            logprobs, problem = logprobs_of(obj.get("logprobs"))
            return [Delta(text=str(obj.get("delta") or ""), logprobs=logprobs,
                          logprobs_problem=problem)]
        if kind == "response.function_call_arguments.delta":
            key = _string(obj.get("item_id"))
            piece = str(obj.get("delta") or "")
            if piece:
                self._empty.discard(key)
            self._tool = True
            return [Delta(tool=piece, call=key)]
        if kind in ("response.output_item.added", "response.output_item.done"):
            item = obj.get("item") or {}
            if not isinstance(item, dict) or item.get("type") != "function_call":
                return []
            self._tool = True
            key = _string(item.get("id"))
            if kind == "response.output_item.added":
                self._empty.add(key)
                return [Delta(call=key, name=_string(item.get("name")))]
            if key in self._empty:  # arguments only in the finished item
                self._empty.discard(key)
                return [Delta(tool=str(item.get("arguments") or ""), call=key,
                              name=_string(item.get("name")))]
            return []
        if kind == "response.refusal.delta":
            self._refused = True
            return [Delta(refusal=str(obj.get("delta") or ""))]
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return [Delta(reasoning=str(obj.get("delta") or ""))]
        if kind in ("response.created", "response.in_progress"):
            model = (obj.get("response") or {}).get("model")
            return [Delta(model=model)] if model else []
        if kind in ("response.completed", "response.incomplete"):
            resp = obj.get("response") or {}
            finish = _finish(resp) or ("stop" if kind == "response.completed" else "length")
            if finish == "stop" and self._refused:
                finish = "refusal"
            elif finish == "stop" and self._tool:
                finish = "tool"
            return [Delta(finish=finish, usage=_usage(resp.get("usage")) or None,
                          model=resp.get("model"), done=True)]
        if kind == "response.failed":
            message = error_message(obj.get("response") or {}) or error_message(obj)
            return [Delta(error=message or "the response failed", done=True,
                          transient=transient_error(obj.get("response") or {}))]
        if kind == "error":
            return [Delta(error=error_message(obj) or "the server sent an error event",
                          transient=transient_error(obj))]
        return []  # content_part.*, *.done, queued ...


#: the provider this module defines (see :mod:`structmagic.providers.registry`)
PROVIDER = Responses
