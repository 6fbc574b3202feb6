"""OpenAI Chat Completions (``POST {base}/chat/completions``), the format most servers speak.

Headers: ``Authorization: Bearer KEY``. Request: ``model``, ``messages`` (as given), and per
mode: ``json_schema`` — ``response_format = {"type": "json_schema", "json_schema": {"name",
"description"?, "schema", "strict"}}``; ``json_object`` — ``response_format = {"type":
"json_object"}`` (the schema is in the system message); ``tools`` — one function tool
``{"name", "description"?, "parameters", "strict"?}`` forced by ``tool_choice``; ``prompt`` —
nothing added. Plus ``temperature``, ``max_tokens``, and ``stream`` with
``stream_options.include_usage``.

Images and PDFs (:data:`OPENAI_INPUTS`): a user message with parts has list content — text as
``{"type": "text", "text"}``, an image as ``{"type": "image_url", "image_url": {"url": <URL or
data URL>, "detail"?}}``, a PDF as ``{"type": "file", "file": {"filename", "file_data": <data
URL>}}`` (Chat Completions takes no PDF by URL).

Schema policy: OpenAI's strict mode (:data:`OPENAI_STRICT`): every property required (optional
ones as a null union, mapped back), closed objects, an object root, the keywords and formats
strict mode supports, and every limit OpenAI documents. A schema that cannot be made strict
is sent with ``strict: false``.

Answer: ``choices[0].message`` — ``content`` (or the first tool call's ``arguments``),
``refusal``, ``reasoning_content`` (DeepSeek) or ``reasoning`` (vLLM, OpenRouter);
``finish_reason``. Stream: ``chat.completion.chunk`` events with ``choices[0].delta``, a
usage-only last chunk with empty ``choices``, ``data: [DONE]``; an ``error`` object in a
chunk (with or without ``choices``) is an error inside the stream.
"""

from __future__ import annotations

import json
from typing import Any

from ..inputs.parts import IMAGE, IMAGE_TYPES, PDF, InputLimits, Part
from ..schema import Dialect, Limits
from . import register
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
    content_items,
    content_text,
    finish_kind,
    has_parts,
)

__all__ = ["OPENAI_INPUTS", "OPENAI_LIMITS", "OPENAI_STRICT", "OpenAIChat", "error_message"]

#: OpenAI's documented input limits (Chat Completions): PNG, JPEG, WebP and non-animated GIF,
#: up to 500 images and 50 MB of payload per request (20 MB per image), PDFs as data up to
#: 32 MB; a high-detail image is scaled to fit 2048 x 2048 and then to 768 px on its short
#: side (512 x 512 for detail "low"), so nothing larger is of use
OPENAI_INPUTS = InputLimits(
    image_types=IMAGE_TYPES,
    document_types=frozenset({PDF}),
    image_urls=True,
    document_urls=False,
    detail=True,
    max_image_bytes=20_000_000,
    max_document_bytes=32_000_000,
    max_request_bytes=50_000_000,
    max_images=500,
    max_edge=2048,
    max_short_edge=768,
    low_detail_edge=512,
)

#: the limits OpenAI documents for one strict schema
OPENAI_LIMITS = Limits(
    max_properties=5000,
    max_depth=10,
    max_enum_values=1000,
    max_enum_chars=15000,
    enum_chars_from=250,
    max_total_chars=120_000,
)

#: OpenAI's strict structured outputs (Chat Completions and the Responses API alike)
OPENAI_STRICT = Dialect(
    title="OpenAI's strict mode",
    keywords=frozenset({
        "type", "properties", "required", "additionalProperties", "items", "enum", "const",
        "anyOf", "$ref", "$defs", "definitions", "description", "pattern", "format",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minItems", "maxItems",
    }),
    formats=frozenset({
        "date-time", "date", "time", "duration", "email", "hostname", "ipv4", "ipv6", "uuid",
    }),
    all_required=True,
    closed_objects=True,
    object_root=True,
    recursion=True,
    typed=True,
    limits=OPENAI_LIMITS,
)


def _usage(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        return {}
    out = {k: raw[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")
           if isinstance(raw.get(k), int)}
    if out and "total_tokens" not in out:
        out["total_tokens"] = out.get("prompt_tokens", 0) + out.get("completion_tokens", 0)
    cached = (raw.get("prompt_tokens_details") or {}).get("cached_tokens")
    if isinstance(cached, int) and cached > 0:  # part of prompt_tokens, priced lower
        out["cached_tokens"] = cached
    return out


def _reasoning(message: dict[str, Any]) -> str:
    # DeepSeek: reasoning_content; vLLM / OpenRouter: reasoning. Read both.
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


@register
class OpenAIChat(Provider):
    """The Chat Completions wire format."""

    name = "openai"
    title = "OpenAI Chat Completions"
    default_base_url = "https://api.openai.com/v1"
    base_url_envs = ("OPENAI_BASE_URL",)
    default_model = "gpt-4o-mini"
    key_envs = ("OPENAI_API_KEY",)
    modes = (JSON_SCHEMA, JSON_OBJECT, TOOLS, PROMPT)
    capabilities = Capabilities(strict_schema=True, streaming=True, thinking=False,
                                images=True, documents=True, batch_api=True)
    dialect = OPENAI_STRICT
    inputs = OPENAI_INPUTS
    price_table_id = "openai"
    #: the Batch API: 50% of the synchronous price, results within 24 h
    batch_price_factor = 0.5

    def build(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": call.model,
                                "messages": [self._message(m) for m in call.messages]}
        if call.mode == JSON_SCHEMA:
            spec: dict[str, Any] = {"name": call.schema_name}
            if call.description:
                spec["description"] = call.description
            spec["schema"] = call.schema
            spec["strict"] = call.strict
            body["response_format"] = {"type": "json_schema", "json_schema": spec}
        elif call.mode == JSON_OBJECT:
            body["response_format"] = {"type": "json_object"}
        elif call.mode == TOOLS:
            function: dict[str, Any] = {"name": call.schema_name}
            if call.description:
                function["description"] = call.description
            function["parameters"] = call.schema
            if call.strict:
                function["strict"] = True
            body["tools"] = [{"type": "function", "function": function}]
            body["tool_choice"] = {"type": "function", "function": {"name": call.schema_name}}
        if call.temperature is not None:
            body["temperature"] = call.temperature
        if call.max_tokens is not None:
            body["max_tokens"] = call.max_tokens
        if call.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return f"{base_url}/chat/completions", body

    def _message(self, message: Any) -> dict[str, Any]:
        """A message as sent: as given, or with its parts rendered as content blocks."""
        if not has_parts(message.get("content")):
            return dict(message)
        blocks = [{"type": "text", "text": item} if isinstance(item, str)
                  else self.render_part(item) if isinstance(item, Part) else item
                  for item in content_items(message["content"])]
        return {**message, "content": blocks}

    def render_part(self, part: Part) -> dict[str, Any]:
        """``image_url`` (a URL or a data URL, with ``detail`` when asked) or ``file``."""
        if part.kind == IMAGE:
            image: dict[str, Any] = {"url": part.url or part.data_url}
            if part.detail:
                image["detail"] = part.detail
            return {"type": "image_url", "image_url": image}
        if part.url is not None:
            raise ValueError("Chat Completions takes a PDF as data only, not by URL")
        return {"type": "file", "file": {"filename": part.filename,
                                         "file_data": part.data_url}}

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def parse(self, body: Any) -> Completion:
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise ValueError("the answer has no 'choices' list")
        if not body["choices"]:
            raise ValueError("the answer's 'choices' list is empty")
        choice = body["choices"][0] or {}
        message = choice.get("message") or {}
        text = content_text(message.get("content"))
        calls = message.get("tool_calls") or []
        if calls and not text:
            text = content_text(((calls[0] or {}).get("function") or {}).get("arguments"))
        return Completion(
            text=text,
            reasoning=_reasoning(message) or None,
            refusal=message.get("refusal") or None,
            finish=finish_kind(choice.get("finish_reason")),
            usage=_usage(body.get("usage")),
            model=body.get("model"),
        )

    def stream(self) -> _ChatStream:
        return _ChatStream()

    def error_message(self, body: Any) -> str | None:
        return error_message(body)


def error_message(body: Any) -> str | None:
    """The message of an error body: ``{"error": {"message"}}``, ``{"error": "..."}``,
    ``{"message"}`` or ``{"detail"}``."""
    if not isinstance(body, dict):
        return None
    err = body.get("error", body)
    if isinstance(err, str):
        return err
    if isinstance(err, dict):
        for key in ("message", "detail", "msg"):
            value = err.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, (dict, list)):
                return json.dumps(value, ensure_ascii=False)[:500]
    return None


class _ChatStream:
    """Translates ``chat.completion.chunk`` events."""

    __slots__ = ()

    def feed(self, event: str, data: str) -> list[Delta]:
        if data == "[DONE]":
            return [Delta(done=True)]
        if not data.strip():
            return []
        obj = json.loads(data)
        if not isinstance(obj, dict):
            return []
        if obj.get("error"):  # with or without choices (OpenRouter sends both)
            return [Delta(error=error_message(obj) or "the server sent an error event")]
        out = Delta(model=obj.get("model"))
        usage = obj.get("usage")
        if usage:
            out.usage = _usage(usage)
        for choice in obj.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                out.text += content_text(content)
            refusal = delta.get("refusal")
            if refusal:
                out.refusal += refusal
            reasoning = _reasoning(delta)
            if reasoning:
                out.reasoning += reasoning
            for call in delta.get("tool_calls") or ():
                args = ((call or {}).get("function") or {}).get("arguments")
                if args:
                    out.text += args
            out.finish = finish_kind(choice.get("finish_reason")) or out.finish
        return [out]
