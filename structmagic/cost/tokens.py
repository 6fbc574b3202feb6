"""Token counts without a tokenizer: the documented heuristics of the estimator.

- Input (:func:`count_text`, :func:`count_body`): about four characters a token for ASCII
  text, one token for every other character (CJK text is close to a token a character;
  accented Latin text is over-counted, which errs on the side of paying less than
  estimated), counted over the request body exactly as it would be sent (the messages, the
  system prompt, the schema in ``response_format`` / ``tools`` / ``output_config``), plus
  four tokens a message. Vendors' tokenizers differ by some ±20% on English prose and more
  on code and JSON; ``--exact`` asks the provider's count endpoint instead, and ``--sample
  K`` measures the ratio on K real rows. An image's or a document's data in a body (a
  string that is a whole ``data:…;base64,`` URL, or the base64 ``data`` of a part) is not
  text: it is left out here, and :func:`structmagic.cost.media.request_tokens` adds the
  provider's own count of each image and PDF page instead, for every estimate and cap.
- Output (:func:`answer_tokens`): the size of a typical answer, from the schema's shape (a
  string is about 8 tokens, a number 2, a boolean 1, an array 3 items, each key its name
  plus 3 of punctuation; the low end keeps required fields, empty arrays and short
  strings). Free-text fields (explanations, summaries) run longer than this, and reasoning
  models add hidden tokens: ``--sample K`` measures the real answers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MESSAGE_OVERHEAD", "answer_tokens", "count_body", "count_json", "count_text"]

#: tokens a chat message costs beyond its text (role, separators), as vendors document
MESSAGE_OVERHEAD = 4
_TYPICAL = {"string": 8, "number": 2, "integer": 2, "boolean": 1, "null": 1}
_LOW = {"string": 2, "number": 1, "integer": 1, "boolean": 1, "null": 1}
_ARRAY_ITEMS = 3
_MAX_DEPTH = 12
#: an image's or a document's data in a body's compact JSON: a JSON string that is a whole
#: base64 data URL, or the base64 ``"data"`` of a part (Claude's ``source``, Gemini's
#: ``inline_data``); its quotes are the JSON's own (a quote inside a string is escaped)
_DATA = re.compile(r'("data:[\w.+-]{1,100}/[\w.+-]{1,100}(?:;[\w.+=-]{1,100})*;base64,'
                   r'|"data":")[A-Za-z0-9+/=]*"')


def count_text(text: str) -> int:
    """Tokens of ``text`` by the heuristic: ASCII characters / 4, plus one per other one."""
    if not text:
        return 0
    if text.isascii():
        return math.ceil(len(text) / 4)
    ascii_chars = len(text.encode("ascii", "ignore"))
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)


def count_body(body: Mapping[str, Any]) -> int:
    """Tokens of a request body's text by the heuristic: its compact JSON without the data
    of its images and documents, plus each message's overhead (the ``model`` and other
    settings are not part of the prompt)."""
    shown = {k: v for k, v in body.items()
             if k not in ("model", "stream", "stream_options", "max_tokens",
                          "max_output_tokens", "temperature")}
    text = json.dumps(shown, ensure_ascii=False, separators=(",", ":"))
    return count_json(body, text)


def count_json(body: Mapping[str, Any], text: str) -> int:
    """:func:`count_body` of a request body already written as compact JSON ``text`` (as
    a batch input line carries it): its ``model`` and settings then count too, a few tokens
    more, never fewer; the data of its images and documents does not."""
    if '"data' in text:
        text = _DATA.sub(r'\1"', text)  # the data out, its wrapper kept
    return count_text(text) + MESSAGE_OVERHEAD * _messages(body)


def _messages(body: Mapping[str, Any]) -> int:
    """How many messages a request body holds (the system prompt is one)."""
    messages = 0
    for key in ("messages", "input", "contents"):
        value = body.get(key)
        if isinstance(value, list):
            messages += len(value)
    for key in ("system", "instructions", "systemInstruction"):
        if body.get(key):
            messages += 1
    return messages


def answer_tokens(schema: Any) -> tuple[int, int]:
    """``(low, typical)`` tokens of an answer to ``schema`` (see the module docstring)."""
    defs: Mapping[str, Any] = {}
    if isinstance(schema, Mapping):
        defs = schema.get("$defs") or schema.get("definitions") or {}
    low = _size(schema, defs, typical=False, depth=0, seen={})
    typical = _size(schema, defs, typical=True, depth=0, seen={})
    return max(1, low), max(1, typical)


def _size(node: Any, defs: Mapping[str, Any], *, typical: bool, depth: int,
          seen: dict[tuple[int, int], int]) -> int:
    """The tokens of an answer to ``node`` at ``depth``; ``seen`` holds each (node, depth)
    already sized, so a schema that refers to itself (``$ref``, or a Python cycle) is sized
    in polynomial time instead of once per path to each node."""
    if not isinstance(node, Mapping) or depth > _MAX_DEPTH:
        return 1
    key = (id(node), depth)
    found = seen.get(key)
    if found is None:
        found = seen[key] = _node_size(node, defs, typical=typical, depth=depth, seen=seen)
    return found


def _node_size(node: Mapping[str, Any], defs: Mapping[str, Any], *, typical: bool,
               depth: int, seen: dict[tuple[int, int], int]) -> int:
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1]) if ref.startswith("#/") else None
        return _size(target, defs, typical=typical, depth=depth + 1, seen=seen) if target else 2
    if "const" in node:
        return _value_tokens(node["const"])
    if isinstance(node.get("enum"), list) and node["enum"]:
        sizes = [_value_tokens(v) for v in node["enum"]]
        return max(sizes) if typical else min(sizes)
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        if isinstance(branches, list) and branches:
            sizes = [_size(b, defs, typical=typical, depth=depth + 1, seen=seen)
                     for b in branches]
            return max(sizes) if typical else min(sizes)
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"] or ["null"]
        kind = kinds[0]
    if kind == "object" or "properties" in node:
        props = node.get("properties") or {}
        required = set(node.get("required") or ())
        total = 2
        for name, sub in props.items():
            if not typical and name not in required:
                continue
            total += count_text(str(name)) + 3 + _size(sub, defs, typical=typical,
                                                       depth=depth + 1, seen=seen)
        return total
    if kind == "array" or "items" in node:
        lo: int = node["minItems"] if isinstance(node.get("minItems"), int) else 0
        hi: int | None = node["maxItems"] if isinstance(node.get("maxItems"), int) else None
        n = max(lo, _ARRAY_ITEMS) if typical else lo
        if hi is not None:
            n = min(n, hi)
        item = _size(node.get("items"), defs, typical=typical, depth=depth + 1, seen=seen)
        return 2 + n * (item + 1)
    if kind == "string":
        limit = node.get("maxLength")
        size = _TYPICAL["string"] if typical else _LOW["string"]
        if isinstance(limit, int):
            size = min(size, max(1, math.ceil(limit / 4)))
        if node.get("format") in ("date", "time", "date-time", "uuid", "email"):
            size = 6 if node.get("format") != "date-time" else 10
        return size + 1
    table = _TYPICAL if typical else _LOW
    return table.get(str(kind), 2)


def _value_tokens(value: Any) -> int:
    return count_text(json.dumps(value, ensure_ascii=False)) or 1
