"""Real-format answers of the Responses API, Claude Messages and Gemini, for the fake server,
and answers of several blocks (reasoning, prose, tool calls) in all four formats.

Shapes follow the vendors' documented payloads (ids and timestamps fixed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
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


# --- one answer of several blocks, in every format ---------------------------------------------

#: a block of an answer: ``("thinking", text)``, ``("text", text)`` or ``("call", name,
#: arguments)`` (a tool call, its arguments JSON text)
Block = tuple[str, ...]


def _has_call(blocks: list[Block]) -> bool:
    return any(b[0] == "call" for b in blocks)


def _typed(events: list[str]) -> Callable[..., None]:
    """An appender of typed events (``event: kind`` and ``{"type": kind, ...}``)."""
    def event(kind: str, **data: Any) -> None:
        events.append(sse_event({"type": kind, **data}, event=kind))
    return event


def mixed_body(fmt: str, blocks: list[Block], *, usage: tuple[int, int] = (10, 20),
               model: str = "m-answer") -> dict:
    """A whole answer of ``blocks``, in order, in the format's documented shape."""
    called = _has_call(blocks)
    if fmt == "openai":
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        calls: list[dict[str, Any]] = []
        for i, block in enumerate(blocks):
            if block[0] == "thinking":
                message["reasoning_content"] = block[1]
            elif block[0] == "text":
                message["content"] = (message["content"] or "") + block[1]
            else:
                calls.append({"id": f"call_{i}", "type": "function",
                              "function": {"name": block[1], "arguments": block[2]}})
        if calls:
            message["tool_calls"] = calls
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000,
                "model": model, "choices": [{"index": 0, "message": message,
                                             "logprobs": None,
                                             "finish_reason": "tool_calls" if called
                                             else "stop"}],
                "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                          "total_tokens": sum(usage)}}
    if fmt == "responses":
        output: list[dict[str, Any]] = []
        for i, block in enumerate(blocks):
            if block[0] == "thinking":
                output.append({"id": f"rs_{i}", "type": "reasoning",
                               "summary": [{"type": "summary_text", "text": block[1]}]})
            elif block[0] == "text":
                output.append({"id": f"msg_{i}", "type": "message", "status": "completed",
                               "role": "assistant", "content": [
                                   {"type": "output_text", "text": block[1],
                                    "annotations": []}]})
            else:
                output.append({"id": f"fc_{i}", "type": "function_call",
                               "call_id": f"call_{i}", "name": block[1],
                               "arguments": block[2], "status": "completed"})
        return {"id": "resp_1", "object": "response", "created_at": 1_700_000_000,
                "status": "completed", "model": model, "output": output,
                "incomplete_details": None,
                "usage": {"input_tokens": usage[0], "output_tokens": usage[1],
                          "total_tokens": sum(usage)}}
    if fmt == "anthropic":
        content: list[dict[str, Any]] = []
        for i, block in enumerate(blocks):
            if block[0] == "thinking":
                content.append({"type": "thinking", "thinking": block[1], "signature": "sig"})
            elif block[0] == "text":
                content.append({"type": "text", "text": block[1]})
            else:
                content.append({"type": "tool_use", "id": f"toolu_{i}", "name": block[1],
                                "input": json.loads(block[2])})
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": "tool_use" if called else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}}
    assert fmt == "gemini", fmt
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if block[0] == "thinking":
            parts.append({"text": block[1], "thought": True})
        elif block[0] == "text":
            parts.append({"text": block[1]})
        else:
            parts.append({"functionCall": {"name": block[1], "args": json.loads(block[2])}})
    return {"candidates": [{"content": {"role": "model", "parts": parts},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": usage[0], "candidatesTokenCount": usage[1],
                              "totalTokenCount": sum(usage)},
            "modelVersion": model, "responseId": "r1"}


def mixed_stream(fmt: str, blocks: list[Block], *, pieces: int = 3,
                 usage: tuple[int, int] = (10, 20), model: str = "m-answer") -> Reply:
    """The same answer as the format's documented SSE events, each text cut in ``pieces``
    (a Gemini function call comes whole, as Gemini streams them)."""
    events: list[str] = []
    called = _has_call(blocks)
    if fmt == "openai":
        def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            events.append(sse_event({
                "id": "chatcmpl-1", "object": "chat.completion.chunk",
                "created": 1_700_000_000, "model": model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": finish}]}))

        chunk({"role": "assistant", "content": None, "refusal": None})
        index = 0
        for i, block in enumerate(blocks):
            if block[0] == "thinking":
                for piece in _pieces(block[1], pieces):
                    chunk({"reasoning_content": piece})
            elif block[0] == "text":
                for piece in _pieces(block[1], pieces):
                    chunk({"content": piece})
            else:
                chunk({"tool_calls": [{"index": index, "id": f"call_{i}", "type": "function",
                                       "function": {"name": block[1], "arguments": ""}}]})
                for piece in _pieces(block[2], pieces):
                    chunk({"tool_calls": [{"index": index,
                                           "function": {"arguments": piece}}]})
                index += 1
        chunk({}, "tool_calls" if called else "stop")
        events.append(sse_event({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                                 "created": 1_700_000_000, "model": model, "choices": [],
                                 "usage": {"prompt_tokens": usage[0],
                                           "completion_tokens": usage[1],
                                           "total_tokens": sum(usage)}}))
        events.append("data: [DONE]\n\n")
        return Reply.sse(events)
    if fmt == "responses":
        event = _typed(events)
        whole = mixed_body(fmt, blocks, usage=usage, model=model)
        event("response.created", response={**whole, "status": "in_progress", "output": [],
                                             "usage": None})
        for i, (block, item) in enumerate(zip(blocks, whole["output"], strict=True)):
            at = {"item_id": item["id"], "output_index": i}
            if block[0] == "thinking":
                event("response.output_item.added", output_index=i,
                      item={**item, "summary": []})
                event("response.reasoning_summary_part.added", **at, summary_index=0,
                      part={"type": "summary_text", "text": ""})
                for piece in _pieces(block[1], pieces):
                    event("response.reasoning_summary_text.delta", **at, summary_index=0,
                          delta=piece)
                event("response.reasoning_summary_text.done", **at, summary_index=0,
                      text=block[1])
            elif block[0] == "text":
                event("response.output_item.added", output_index=i,
                      item={**item, "status": "in_progress", "content": []})
                event("response.content_part.added", **at, content_index=0,
                      part={"type": "output_text", "text": "", "annotations": []})
                for piece in _pieces(block[1], pieces):
                    event("response.output_text.delta", **at, content_index=0, delta=piece)
                event("response.output_text.done", **at, content_index=0, text=block[1])
            else:
                event("response.output_item.added", output_index=i,
                      item={**item, "status": "in_progress", "arguments": ""})
                for piece in _pieces(block[2], pieces):
                    event("response.function_call_arguments.delta", **at, delta=piece)
                event("response.function_call_arguments.done", **at, arguments=block[2])
            event("response.output_item.done", output_index=i, item=item)
        event("response.completed", response=whole)
        return Reply.sse(events)
    if fmt == "anthropic":
        event = _typed(events)
        event("message_start", message={
            "id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": 1}})
        event("ping")
        for i, block in enumerate(blocks):
            if block[0] == "thinking":
                event("content_block_start", index=i,
                      content_block={"type": "thinking", "thinking": ""})
                for piece in _pieces(block[1], pieces):
                    event("content_block_delta", index=i,
                          delta={"type": "thinking_delta", "thinking": piece})
                event("content_block_delta", index=i,
                      delta={"type": "signature_delta", "signature": "sig"})
            elif block[0] == "text":
                event("content_block_start", index=i,
                      content_block={"type": "text", "text": ""})
                for piece in _pieces(block[1], pieces):
                    event("content_block_delta", index=i,
                          delta={"type": "text_delta", "text": piece})
            else:
                event("content_block_start", index=i, content_block={
                    "type": "tool_use", "id": f"toolu_{i}", "name": block[1], "input": {}})
                for piece in _pieces(block[2], pieces):
                    event("content_block_delta", index=i,
                          delta={"type": "input_json_delta", "partial_json": piece})
            event("content_block_stop", index=i)
        event("message_delta", delta={"stop_reason": "tool_use" if called else "end_turn",
                                      "stop_sequence": None},
              usage={"output_tokens": usage[1]})
        event("message_stop")
        return Reply.sse(events)
    assert fmt == "gemini", fmt
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if block[0] == "thinking":
            parts += [{"text": p, "thought": True} for p in _pieces(block[1], pieces)]
        elif block[0] == "text":
            parts += [{"text": p} for p in _pieces(block[1], pieces)]
        else:
            parts.append({"functionCall": {"name": block[1], "args": json.loads(block[2])}})
    for i, part in enumerate(parts):
        chunk: dict[str, Any] = {"candidates": [{"content": {"role": "model", "parts": [part]},
                                                 "index": 0}],
                                 "modelVersion": model, "responseId": "r1"}
        if i == len(parts) - 1:
            chunk["candidates"][0]["finishReason"] = "STOP"
            chunk["usageMetadata"] = {"promptTokenCount": usage[0],
                                      "candidatesTokenCount": usage[1],
                                      "totalTokenCount": sum(usage)}
        events.append(sse_event(chunk))
    return Reply.sse(events)
