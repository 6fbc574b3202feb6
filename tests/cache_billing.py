"""A responder for the fake server that bills like the providers' prompt caches.

It counts a request's prompt as what the model reads — the schema, the system prompt, each
turn's texts, each as the request carries it (compact JSON), four characters a token — and
bills it as the providers document:

- ``openai`` (Chat Completions): a prefix that an earlier request had too, at least
  ``minimum`` tokens long, is read from the cache, counted from ``minimum`` in steps of 128
  (``prompt_tokens_details.cached_tokens``); nothing is charged for writing;
- ``anthropic`` (Messages): only where a ``cache_control`` breakpoint asks: the prompt up to
  and including the marked block is written the first time it is seen (when it reaches
  ``minimum``; ``cache_creation_input_tokens``, and ``cache_creation.ephemeral_1h_input_tokens``
  for a one-hour mark) and read after (``cache_read_input_tokens``); without a mark, nothing.

``billed`` keeps each request's usage, in the order they came.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from fakeserver import Reply, chat
from providers import anthropic_body

__all__ = ["BillingCache", "tokens"]


def tokens(text: str) -> int:
    return len(text) // 4


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class BillingCache:
    def __init__(self, fmt: str, *, minimum: int = 1024, step: int = 128,
                 answer: Callable[[Any], str] | None = None) -> None:
        self.fmt = fmt
        self.minimum = minimum
        self.step = step
        self.answer = answer or (lambda req: '{"n": 1, "label": "x"}')
        self.seen: list[str] = []
        self.written: set[str] = set()
        self.billed: list[dict[str, int]] = []
        self.lock = threading.Lock()

    def __call__(self, req: Any) -> Reply:
        body = req.json
        with self.lock:
            usage = (self._openai(body) if self.fmt == "openai" else self._anthropic(body))
            self.billed.append(usage)
        text = self.answer(req)
        if self.fmt == "openai":
            reply = chat(text, usage=(usage["prompt_tokens"], 12))
            reply_body = json.loads(reply.body)
            reply_body["usage"]["prompt_tokens_details"] = {
                "cached_tokens": usage["cached_tokens"]}
            return Reply.json(reply_body)
        reply_body = anthropic_body(text, usage=(usage["input_tokens"], 12))
        reply_body["usage"].update({
            "cache_read_input_tokens": usage["cache_read_input_tokens"],
            "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
            "cache_creation": {
                "ephemeral_5m_input_tokens": usage["cache_creation_input_tokens"]
                - usage["hour"], "ephemeral_1h_input_tokens": usage["hour"]}})
        return Reply.json(reply_body)

    # --- OpenAI: automatic, for any prefix seen before ----------------------------------

    def _openai(self, body: dict[str, Any]) -> dict[str, int]:
        text = "".join(text for text, _ in _pieces(body))
        common = max((_common(text, seen) for seen in self.seen), default=0)
        self.seen.append(text)
        shared = tokens(text[:common])
        cached = 0
        if shared >= self.minimum:
            cached = self.minimum + self.step * ((shared - self.minimum) // self.step)
        return {"prompt_tokens": tokens(text), "cached_tokens": cached}

    # --- Claude: only up to a breakpoint --------------------------------------------------

    def _anthropic(self, body: dict[str, Any]) -> dict[str, int]:
        pieces = _pieces(body)
        whole = "".join(text for text, _ in pieces)
        mark = next((i for i, (_, m) in enumerate(pieces) if m is not None), None)
        read = write = 0
        hour = False
        if mark is not None:
            marked = "".join(text for text, _ in pieces[:mark + 1])
            hour = (pieces[mark][1] or {}).get("ttl") == "1h"
            size = tokens(marked)
            if marked in self.written:
                read = size
            elif size >= self.minimum:
                write = size
                self.written.add(marked)
        return {"input_tokens": tokens(whole) - read - write,
                "cache_read_input_tokens": read, "cache_creation_input_tokens": write,
                "hour": write if hour else 0}


def _pieces(body: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None]]:
    """What the model reads, in order, as the request carries it (each text and the schema
    as compact JSON), each with the breakpoint on it (None: none): the schema, the system
    prompt, each turn's texts."""
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema", {}).get("schema") if isinstance(fmt, dict) else None) \
        or ((body.get("output_config") or {}).get("format") or {}).get("schema")
    out: list[tuple[str, dict[str, Any] | None]] = []
    if schema is not None:
        out.append((_compact(schema), None))
    system = body.get("system")
    for item in ([system] if isinstance(system, str) else system or []):
        if isinstance(item, str):
            out.append((_compact(item), None))
        else:
            out.append((_compact(item["text"]), item.get("cache_control")))
    for message in body["messages"]:
        content = message.get("content")
        for item in ([content] if isinstance(content, str) else content or []):
            if isinstance(item, str):
                out.append((_compact(item), None))
            elif isinstance(item, dict) and "text" in item:
                out.append((_compact(item["text"]), item.get("cache_control")))
    return out


def _common(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
