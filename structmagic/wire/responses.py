"""OpenAI Responses API (``POST {base}/responses``).

Structured output goes in ``text.format`` (``json_schema`` with name, schema, strict);
the answer is in ``output`` items: ``message`` with ``output_text`` / ``refusal`` parts,
``reasoning`` with summary texts, ``function_call`` with arguments. Streams are typed SSE
events (``response.output_text.delta``, ``response.completed`` ...).
"""

from __future__ import annotations

import json
from typing import Any

from .base import Call, Completion, Delta, finish_kind, mentions_format
from .openai_chat import error_message

__all__ = ["Responses"]


def _usage(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        return {}
    p, c = raw.get("input_tokens"), raw.get("output_tokens")
    out: dict[str, int] = {}
    if isinstance(p, int):
        out["prompt_tokens"] = p
    if isinstance(c, int):
        out["completion_tokens"] = c
    if out:
        total = raw.get("total_tokens")
        out["total_tokens"] = total if isinstance(total, int) else sum(out.values())
    return out


def _finish(resp: dict[str, Any]) -> str | None:
    status = resp.get("status")
    if status == "incomplete":
        reason = (resp.get("incomplete_details") or {}).get("reason")
        return finish_kind(reason) or "length"
    if status == "completed":
        return "stop"
    return finish_kind(status)


class Responses:
    """The Responses API wire format."""

    name = "responses"
    #: the ways to ask for a schema, best first (the auto ladder)
    modes = ("json_schema", "json_object", "tools", "prompt")
    #: whether json_schema has a strict switch
    has_strict = True

    def build(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        system = [m["content"] for m in call.messages if m.get("role") == "system"]
        body: dict[str, Any] = {"model": call.model}
        if system:
            body["instructions"] = "\n\n".join(str(s) for s in system)
        body["input"] = [
            {"role": m["role"], "content": m["content"]}
            for m in call.messages
            if m.get("role") != "system"
        ]
        if call.mode == "json_schema":
            fmt: dict[str, Any] = {"type": "json_schema", "name": call.schema_name}
            if call.description:
                fmt["description"] = call.description
            fmt["schema"] = call.schema
            fmt["strict"] = call.strict
            body["text"] = {"format": fmt}
        elif call.mode == "json_object":
            body["text"] = {"format": {"type": "json_object"}}
        elif call.mode == "tools":
            tool: dict[str, Any] = {"type": "function", "name": call.schema_name,
                                    "parameters": call.schema, "strict": call.strict}
            if call.description:
                tool["description"] = call.description
            body["tools"] = [tool]
            body["tool_choice"] = {"type": "function", "name": call.schema_name}
        if call.temperature is not None:
            body["temperature"] = call.temperature
        if call.max_tokens is not None:
            body["max_output_tokens"] = call.max_tokens
        if call.thinking:
            body["reasoning"] = {"summary": "auto"}
        if call.stream:
            body["stream"] = True
        return f"{base_url}/responses", body

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def extra_headers(self) -> dict[str, str]:
        return {}

    def parse(self, body: Any) -> Completion:
        if not isinstance(body, dict) or not isinstance(body.get("output"), list):
            raise ValueError("the answer has no 'output' list")
        text: list[str] = []
        reasoning: list[str] = []
        refusal: list[str] = []
        tool = False
        for item in body["output"]:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "message":
                for part in item.get("content") or ():
                    if part.get("type") == "output_text":
                        text.append(part.get("text") or "")
                    elif part.get("type") == "refusal":
                        refusal.append(part.get("refusal") or "")
            elif kind == "reasoning":
                for part in item.get("summary") or ():
                    if isinstance(part, dict) and part.get("text"):
                        reasoning.append(part["text"])
            elif kind == "function_call":
                text.append(item.get("arguments") or "")
                tool = True
        finish = _finish(body)
        if refusal and finish == "stop":
            finish = "refusal"
        return Completion(
            text="".join(text),
            reasoning="\n\n".join(reasoning) or None,
            refusal="".join(refusal) or None,
            finish="tool" if tool and finish == "stop" else finish,
            usage=_usage(body.get("usage")),
            model=body.get("model"),
        )

    def stream(self) -> _ResponsesStream:
        return _ResponsesStream()

    def rejects_format(self, status: int, message: str) -> bool:
        return mentions_format(status, message) or "text.format" in message.lower()

    def error_message(self, body: Any) -> str | None:
        return error_message(body)


class _ResponsesStream:
    __slots__ = ()

    def feed(self, event: str, data: str) -> list[Delta]:
        if not data.strip() or data == "[DONE]":
            return [Delta(done=True)] if data == "[DONE]" else []
        obj = json.loads(data)
        if not isinstance(obj, dict):
            return []
        kind = obj.get("type") or event
        if kind in ("response.output_text.delta", "response.function_call_arguments.delta"):
            return [Delta(text=obj.get("delta") or "")]
        if kind == "response.refusal.delta":
            return [Delta(refusal=obj.get("delta") or "")]
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return [Delta(reasoning=obj.get("delta") or "")]
        if kind in ("response.completed", "response.incomplete"):
            resp = obj.get("response") or {}
            return [Delta(finish=_finish(resp) or ("stop" if kind.endswith("completed")
                                                  else "length"),
                          usage=_usage(resp.get("usage")) or None, model=resp.get("model"),
                          done=True)]
        if kind == "response.created":
            return [Delta(model=(obj.get("response") or {}).get("model"))]
        if kind in ("response.failed", "error"):
            resp = obj.get("response") or {}
            message = (error_message(resp) or error_message(obj)
                       or obj.get("message") or "the response failed")
            return [Delta(error=str(message))]
        return []
