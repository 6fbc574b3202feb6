"""OpenAI Chat Completions (``POST {base}/chat/completions``), the format most servers speak."""

from __future__ import annotations

import json
from typing import Any

from .base import Call, Completion, Delta, content_text, finish_kind, mentions_format

__all__ = ["ChatCompletions"]


def _usage(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        return {}
    out = {k: raw[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")
           if isinstance(raw.get(k), int)}
    if out and "total_tokens" not in out:
        out["total_tokens"] = out.get("prompt_tokens", 0) + out.get("completion_tokens", 0)
    return out


def _reasoning(message: dict[str, Any]) -> str:
    # DeepSeek: reasoning_content; vLLM / OpenRouter: reasoning. Read both.
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


class ChatCompletions:
    """The Chat Completions wire format."""

    name = "openai"
    #: the ways to ask for a schema, best first (the auto ladder)
    modes = ("json_schema", "json_object", "tools", "prompt")
    #: whether json_schema has a strict switch
    has_strict = True

    def build(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": call.model, "messages": [dict(m) for m in call.messages]}
        if call.mode == "json_schema":
            spec: dict[str, Any] = {"name": call.schema_name}
            if call.description:
                spec["description"] = call.description
            spec["schema"] = call.schema
            spec["strict"] = call.strict
            body["response_format"] = {"type": "json_schema", "json_schema": spec}
        elif call.mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        elif call.mode == "tools":
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

    def extra_headers(self) -> dict[str, str]:
        return {}

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

    def rejects_format(self, status: int, message: str) -> bool:
        return mentions_format(status, message)

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
        if "error" in obj and not obj.get("choices"):
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
