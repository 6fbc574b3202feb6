"""Real-format answers of the Responses API, Claude Messages and Gemini, for the fake server.

Shapes follow the vendors' documented payloads (ids and timestamps fixed).
"""

from __future__ import annotations

import json
from typing import Any

from fakeserver import Reply, sse_event


def _pieces(text: str, n: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


# --- OpenAI Responses ------------------------------------------------------------------------


def responses_body(text: str | None = None, *, reasoning: str | None = None,
                   refusal: str | None = None, status: str = "completed",
                   incomplete_reason: str | None = None, tool: bool = False,
                   usage: tuple[int, int] = (10, 20), model: str = "gpt-4o-2024-08-06") -> dict:
    output: list[dict[str, Any]] = []
    if reasoning is not None:
        output.append({"id": "rs_1", "type": "reasoning",
                       "summary": [{"type": "summary_text", "text": reasoning}]})
    if tool:
        output.append({"id": "fc_1", "type": "function_call", "call_id": "call_1",
                       "name": "response", "arguments": text or "", "status": "completed"})
    else:
        content: list[dict[str, Any]] = []
        if text is not None:
            content.append({"type": "output_text", "text": text, "annotations": []})
        if refusal is not None:
            content.append({"type": "refusal", "refusal": refusal})
        output.append({"id": "msg_1", "type": "message", "status": "completed",
                       "role": "assistant", "content": content})
    return {
        "id": "resp_1", "object": "response", "created_at": 1_700_000_000, "status": status,
        "model": model, "output": output,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1],
                  "total_tokens": sum(usage)},
    }


def responses(text: str | None = None, **kw: Any) -> Reply:
    return Reply.json(responses_body(text, **kw))


def responses_stream(text: str = "", *, pieces: int = 6, reasoning: str | None = None,
                     refusal: str | None = None, incomplete_reason: str | None = None,
                     error: str | None = None, usage: tuple[int, int] = (10, 20),
                     model: str = "gpt-4o-2024-08-06", tool: bool = False) -> Reply:
    """``tool=True``: ``text`` streams as a function call's arguments."""
    events = [sse_event({"type": "response.created", "response": {
        "id": "resp_1", "status": "in_progress", "model": model, "output": []}},
        event="response.created")]
    for piece in _pieces(reasoning or "", 3):
        events.append(sse_event({"type": "response.reasoning_summary_text.delta",
                                 "delta": piece}, event="response.reasoning_summary_text.delta"))
    if tool:
        events.append(sse_event({"type": "response.output_item.added", "output_index": 0,
                                 "item": {"id": "fc_1", "type": "function_call",
                                          "status": "in_progress", "arguments": "",
                                          "call_id": "call_1", "name": "response"}},
                                event="response.output_item.added"))
        for piece in _pieces(text, pieces):
            events.append(sse_event({"type": "response.function_call_arguments.delta",
                                     "item_id": "fc_1", "output_index": 0, "delta": piece},
                                    event="response.function_call_arguments.delta"))
        events.append(sse_event({"type": "response.function_call_arguments.done",
                                 "item_id": "fc_1", "output_index": 0, "arguments": text},
                                event="response.function_call_arguments.done"))
        final = responses_body(text, tool=True, usage=usage, model=model)
        events.append(sse_event({"type": "response.completed", "response": final},
                                event="response.completed"))
        return Reply.sse(events)
    for i, piece in enumerate(_pieces(text, pieces)):
        if error is not None and i == pieces // 2:
            events.append(sse_event({"type": "error", "code": "server_error",
                                     "message": error}, event="error"))
            return Reply.sse(events)
        events.append(sse_event({"type": "response.output_text.delta", "item_id": "msg_1",
                                 "output_index": 0, "content_index": 0, "delta": piece},
                                event="response.output_text.delta"))
    for piece in _pieces(refusal or "", 3):
        events.append(sse_event({"type": "response.refusal.delta", "delta": piece},
                                event="response.refusal.delta"))
    final = responses_body(text, refusal=refusal, reasoning=reasoning, usage=usage, model=model,
                           status="incomplete" if incomplete_reason else "completed",
                           incomplete_reason=incomplete_reason)
    kind = "response.incomplete" if incomplete_reason else "response.completed"
    events.append(sse_event({"type": kind, "response": final}, event=kind))
    return Reply.sse(events)


# --- Claude Messages ---------------------------------------------------------------------------


def anthropic_body(text: str | None = None, *, thinking: str | None = None,
                   stop_reason: str = "end_turn", tool: bool = False,
                   usage: tuple[int, int] = (10, 20),
                   model: str = "claude-sonnet-4-5-20250929") -> dict:
    content: list[dict[str, Any]] = []
    if thinking is not None:
        content.append({"type": "thinking", "thinking": thinking, "signature": "sig"})
    if tool:
        content.append({"type": "tool_use", "id": "toolu_1", "name": "response",
                        "input": json.loads(text or "{}")})
    elif text is not None:
        content.append({"type": "text", "text": text})
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}}


def anthropic(text: str | None = None, **kw: Any) -> Reply:
    return Reply.json(anthropic_body(text, **kw))


def anthropic_error(status: int, message: str, kind: str = "invalid_request_error") -> Reply:
    return Reply.json({"type": "error", "error": {"type": kind, "message": message}},
                      status=status)


def anthropic_stream(text: str = "", *, pieces: int = 6, thinking: str | None = None,
                     stop_reason: str = "end_turn", tool: bool = False,
                     error: str | None = None, usage: tuple[int, int] = (10, 20),
                     model: str = "claude-sonnet-4-5-20250929") -> Reply:
    events = [sse_event({"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "usage": {"input_tokens": usage[0], "output_tokens": 1}}},
        event="message_start"), sse_event({"type": "ping"}, event="ping")]
    index = 0
    if thinking is not None:
        events.append(sse_event({"type": "content_block_start", "index": 0, "content_block": {
            "type": "thinking", "thinking": ""}}, event="content_block_start"))
        for piece in _pieces(thinking, 3):
            events.append(sse_event({"type": "content_block_delta", "index": 0, "delta": {
                "type": "thinking_delta", "thinking": piece}}, event="content_block_delta"))
        events.append(sse_event({"type": "content_block_delta", "index": 0, "delta": {
            "type": "signature_delta", "signature": "sig"}}, event="content_block_delta"))
        events.append(sse_event({"type": "content_block_stop", "index": 0},
                                event="content_block_stop"))
        index = 1
    block = ({"type": "tool_use", "id": "toolu_1", "name": "response", "input": {}} if tool
             else {"type": "text", "text": ""})
    events.append(sse_event({"type": "content_block_start", "index": index,
                             "content_block": block}, event="content_block_start"))
    for i, piece in enumerate(_pieces(text, pieces)):
        if error is not None and i == pieces // 2:
            events.append(sse_event({"type": "error", "error": {
                "type": "overloaded_error", "message": error}}, event="error"))
            return Reply.sse(events)
        delta = ({"type": "input_json_delta", "partial_json": piece} if tool
                 else {"type": "text_delta", "text": piece})
        events.append(sse_event({"type": "content_block_delta", "index": index,
                                 "delta": delta}, event="content_block_delta"))
    events.append(sse_event({"type": "content_block_stop", "index": index},
                            event="content_block_stop"))
    events.append(sse_event({"type": "message_delta", "delta": {
        "stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": usage[1]}}, event="message_delta"))
    events.append(sse_event({"type": "message_stop"}, event="message_stop"))
    return Reply.sse(events)


# --- Gemini ------------------------------------------------------------------------------------


def gemini_body(text: str | None = None, *, thought: str | None = None,
                finish: str = "STOP", tool: bool = False, usage: tuple[int, int] = (10, 20),
                model: str = "gemini-2.5-flash") -> dict:
    parts: list[dict[str, Any]] = []
    if thought is not None:
        parts.append({"text": thought, "thought": True})
    if tool:
        parts.append({"functionCall": {"name": "response", "args": json.loads(text or "{}")}})
    elif text is not None:
        parts.append({"text": text})
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish,
                        "index": 0}],
        "usageMetadata": {"promptTokenCount": usage[0], "candidatesTokenCount": usage[1],
                          "totalTokenCount": sum(usage)},
        "modelVersion": model, "responseId": "r1",
    }


def gemini(text: str | None = None, **kw: Any) -> Reply:
    return Reply.json(gemini_body(text, **kw))


def gemini_error(status: int, message: str, state: str = "INVALID_ARGUMENT") -> Reply:
    return Reply.json({"error": {"code": status, "message": message, "status": state}},
                      status=status)


def gemini_stream(text: str = "", *, pieces: int = 6, thought: str | None = None,
                  finish: str = "STOP", usage: tuple[int, int] = (10, 20),
                  model: str = "gemini-2.5-flash", error: str | None = None,
                  tool: bool = False) -> Reply:
    """``tool=True``: ``text`` (JSON) comes as one ``functionCall`` part, whole, as Gemini
    streams function calls."""
    events = []
    if thought is not None:
        events.append(sse_event({"candidates": [{"content": {"role": "model", "parts": [
            {"text": thought, "thought": True}]}, "index": 0}], "modelVersion": model}))
    if tool:
        body = gemini_body(text, tool=True, finish=finish, usage=usage, model=model)
        events.append(sse_event(body))
        return Reply.sse(events)
    chunks = _pieces(text, pieces)
    for i, piece in enumerate(chunks):
        if error is not None and i == pieces // 2:
            events.append(sse_event({"error": {"code": 503, "message": error,
                                               "status": "UNAVAILABLE"}}))
            return Reply.sse(events)
        cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": piece}]},
                                "index": 0}
        chunk: dict[str, Any] = {"candidates": [cand], "modelVersion": model}
        if i == len(chunks) - 1:
            cand["finishReason"] = finish
            chunk["usageMetadata"] = {"promptTokenCount": usage[0],
                                      "candidatesTokenCount": usage[1],
                                      "totalTokenCount": sum(usage)}
        events.append(sse_event(chunk))
    return Reply.sse(events)
