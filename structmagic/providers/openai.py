"""OpenAI Chat Completions (``POST {base}/chat/completions``), the format most servers speak.

Headers: ``Authorization: Bearer KEY``. Request: ``model``, ``messages`` (as given), and per
mode: ``json_schema`` — ``response_format = {"type": "json_schema", "json_schema": {"name",
"description"?, "schema", "strict"}}``; ``json_object`` — ``response_format = {"type":
"json_object"}`` (the schema is in the system message); ``tools`` — one function tool
``{"name", "description"?, "parameters", "strict"?}`` forced by ``tool_choice``; ``prompt`` —
nothing added. Plus ``temperature``, ``max_tokens``, and ``stream`` with
``stream_options.include_usage``.

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
    content_text,
    finish_kind,
)

__all__ = ["OPENAI_LIMITS", "OPENAI_STRICT", "OpenAIChat", "error_message"]

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
    price_table_id = "openai"
    #: the Batch API: 50% of the synchronous price, results within 24 h
    batch_price_factor = 0.5

    def build(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": call.model, "messages": [dict(m) for m in call.messages]}
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
