"""Claude Messages (``POST {base}/messages``), Anthropic's format.

The key goes in ``x-api-key`` with an ``anthropic-version`` header; ``max_tokens`` is always
sent. Structured output: ``output_config.format`` (json_schema); or one forced tool whose
``input_schema`` is the schema (its ``input`` is the value) — never a forced tool together
with extended thinking (the engine uses the schema-in-prompt path then). Thinking blocks
are the reasoning text; ``stop_reason`` ``max_tokens`` is truncation, ``refusal`` a refusal.
"""

from __future__ import annotations

import json
from typing import Any

from .base import Call, Completion, Delta, finish_kind, mentions_format

__all__ = ["Messages"]

VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
THINKING_BUDGET = 2048


def _usage(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        return {}
    out: dict[str, int] = {}
    if isinstance(raw.get("input_tokens"), int):
        out["prompt_tokens"] = raw["input_tokens"]
    if isinstance(raw.get("output_tokens"), int):
        out["completion_tokens"] = raw["output_tokens"]
    if out:
        out["total_tokens"] = out.get("prompt_tokens", 0) + out.get("completion_tokens", 0)
    return out


def error_message(body: Any) -> str | None:
    """``{"type": "error", "error": {"type", "message"}}``."""
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        kind = err.get("type")
        return f"{err['message']} ({kind})" if kind else err["message"]
    if isinstance(err, str):
        return err
    msg = body.get("message")
    return msg if isinstance(msg, str) else None


class Messages:
    """The Claude Messages wire format."""

    name = "anthropic"
    #: the ways to ask for a schema, best first (the auto ladder)
    modes = ("json_schema", "tools", "prompt")
    #: whether json_schema has a strict switch
    has_strict = False

    def build(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        if call.mode == "tools" and call.thinking:
            raise ValueError("a forced tool cannot be combined with extended thinking")
        system = [str(m["content"]) for m in call.messages if m.get("role") == "system"]
        messages: list[dict[str, Any]] = []
        for m in call.messages:
            role = m.get("role")
            if role == "system":
                continue
            role = "assistant" if role == "assistant" else "user"
            if messages and messages[-1]["role"] == role:
                messages[-1]["content"] += "\n\n" + str(m["content"])
            else:
                messages.append({"role": role, "content": str(m["content"])})
        body: dict[str, Any] = {
            "model": call.model,
            "max_tokens": call.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if system:
            body["system"] = "\n\n".join(system)
        body["messages"] = messages
        if call.mode == "json_schema":
            body["output_config"] = {"format": {"type": "json_schema", "schema": call.schema}}
        elif call.mode == "tools":
            tool: dict[str, Any] = {"name": call.schema_name, "input_schema": call.schema}
            if call.description:
                tool["description"] = call.description
            body["tools"] = [tool]
            body["tool_choice"] = {"type": "tool", "name": call.schema_name}
        if call.temperature is not None and not call.thinking:
            body["temperature"] = call.temperature
        if call.thinking:
            body["thinking"] = {"type": "enabled", "budget_tokens": THINKING_BUDGET}
            body["max_tokens"] = max(body["max_tokens"], THINKING_BUDGET + 1024)
        if call.stream:
            body["stream"] = True
        return f"{base_url}/messages", body

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"x-api-key": key}

    def extra_headers(self) -> dict[str, str]:
        return {"anthropic-version": VERSION}

    def parse(self, body: Any) -> Completion:
        if not isinstance(body, dict) or not isinstance(body.get("content"), list):
            raise ValueError("the answer has no 'content' list")
        text: list[str] = []
        thinking: list[str] = []
        for block in body["content"]:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                text.append(block.get("text") or "")
            elif kind == "thinking":
                thinking.append(block.get("thinking") or "")
            elif kind == "tool_use":
                text.append(json.dumps(block.get("input"), ensure_ascii=False))
        finish = finish_kind(body.get("stop_reason"))
        return Completion(
            text="".join(text),
            reasoning="".join(thinking) or None,
            refusal=("".join(text) or "The model declined to answer.")
            if finish == "refusal" else None,
            finish=finish,
            usage=_usage(body.get("usage")),
            model=body.get("model"),
        )

    def stream(self) -> _MessagesStream:
        return _MessagesStream()

    def rejects_format(self, status: int, message: str) -> bool:
        text = message.lower()
        return mentions_format(status, message) or (
            status in (400, 422) and ("extra inputs are not permitted" in text
                                      or "does not support" in text))

    def error_message(self, body: Any) -> str | None:
        return error_message(body)


class _MessagesStream:
    __slots__ = ("_input_tokens",)

    def __init__(self) -> None:
        self._input_tokens = 0

    def feed(self, event: str, data: str) -> list[Delta]:
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
                return [Delta(text=delta.get("text") or "")]
            if dk == "input_json_delta":
                return [Delta(text=delta.get("partial_json") or "")]
            if dk == "thinking_delta":
                return [Delta(reasoning=delta.get("thinking") or "")]
            return []
        if kind == "message_start":
            message = obj.get("message") or {}
            self._input_tokens = (message.get("usage") or {}).get("input_tokens") or 0
            return [Delta(model=message.get("model"))]
        if kind == "message_delta":
            usage = dict(obj.get("usage") or {})
            usage.setdefault("input_tokens", self._input_tokens)
            return [Delta(finish=finish_kind((obj.get("delta") or {}).get("stop_reason")),
                          usage=_usage(usage) or None)]
        if kind == "message_stop":
            return [Delta(done=True)]
        if kind == "error":
            return [Delta(error=error_message(obj) or "the server sent an error event")]
        return []  # ping, content_block_start/stop, signature deltas
