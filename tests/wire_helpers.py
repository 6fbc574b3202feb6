"""Shared pieces of the provider tests: a call in every mode, recorded-shape payloads, and
SSE transcripts played through a provider's translator into the one Accumulator."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from structmagic.providers.base import Accumulator, Call, Delta

from schema_corpus import MATH

PAYLOADS = Path(__file__).parent / "payloads"
KEY = "sk-canary-0123456789abcdef"
BASE = "https://api.example.test/v1"
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
    "additionalProperties": False,
}
OPENAPI = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
    "propertyOrdering": ["city", "population"],
}
ANSWER = {"city": "Paris", "population": 2102650}
UNI = {"city": "São Paulo", "population": 11451245}
MESSAGES = (
    {"role": "system", "content": "You are a careful geographer."},
    {"role": "system", "content": "Answer with JSON."},
    {"role": "user", "content": "Population of Paris?"},
    {"role": "assistant", "content": '{"city": "Paris"}'},
    {"role": "user", "content": "That is missing 'population'."},
    {"role": "user", "content": "Only the JSON, please."},
)
SYSTEM = "You are a careful geographer.\n\nAnswer with JSON."
DESCRIPTION = "A city and its population."




def make_call(mode: str, **kw: Any) -> Call:
    args: dict[str, Any] = {
        "model": "m-1", "messages": MESSAGES, "schema_name": "city", "schema": SCHEMA,
        "strict": True, "mode": mode, "description": DESCRIPTION,
    }
    args.update(kw)
    return Call(**args)


def load(fmt: str, name: str) -> Any:
    return json.loads((PAYLOADS / fmt / name).read_text(encoding="utf-8"))


def sse_events(fmt: str, name: str) -> list[tuple[str, str]]:
    """The events of a recorded transcript (``payloads/<fmt>/<name>``)."""
    return split_sse((PAYLOADS / fmt / name).read_bytes().decode("utf-8"))


def split_sse(text: str) -> list[tuple[str, str]]:
    """A tiny SSE splitter: (event name, data) per blank-line-separated block."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for block in text.split("\n\n"):
        event, data = "message", []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name_, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name_ == "event":
                event = value
            elif name_ == "data":
                data.append(value)
        if data:
            out.append((event, "\n".join(data)))
    return out




@dataclass
class Played:
    """What a whole transcript amounts to, put together by the Accumulator."""

    text: str
    reasoning: str
    refusal: str
    finish: str | None
    usage: dict[str, int] | None
    model: str | None
    done: bool
    error: str | None
    after_done: list[Delta] = field(default_factory=list)


def play(provider: Any, fmt: str, name: str) -> Played:
    """A recorded transcript through the provider's translator and the one Accumulator."""
    translator = provider.stream()
    acc = Accumulator()
    after_done: list[Delta] = []
    for event, data in sse_events(fmt, name):
        deltas = translator.feed(event, data)
        assert all(isinstance(d, Delta) for d in deltas)
        if acc.done:
            after_done.extend(deltas)
        acc.add(deltas)
    c = acc.completion()
    return Played(c.text, c.reasoning or "", c.refusal or "", c.finish, c.usage or None,
                  c.model, acc.done, acc.error, after_done)


def no_key_anywhere(provider: Any, url: str, body: Any) -> None:
    assert KEY not in url and KEY not in json.dumps(body)
    assert KEY not in json.dumps(provider.extra_headers())
    assert KEY in json.dumps(provider.auth_headers(KEY))


# --- a whole call against the fake server ---------------------------------------------------

MATH_SCHEMA = MATH["json_schema"]["schema"]
MATH_ANSWER = {"steps": [{"explanation": "compare tenths", "output": "0.8 > 0.1"}],
               "final_answer": "9.8"}
MATH_TEXT = json.dumps(MATH_ANSWER)


def ask_provider(provider: str, **kw: Any) -> Any:
    """The math question through ``structured`` in ``provider``'s format."""
    import structmagic as sm

    return sm.structured("9.11 or 9.8?", MATH_SCHEMA, provider=provider, system="Be a tutor.",
                         model="m-1", **kw)


# --- one request through ``structured``, to compare whole with what was sent ----------------

CITY = {"name": "city", "description": DESCRIPTION, "schema": SCHEMA, "strict": True}
CITY_TEXT = json.dumps(ANSWER)
SCHEMA_TEXT = json.dumps(SCHEMA, separators=(",", ":"))
SYSTEM_WITH_SCHEMA = (
    "Be brief.\n\nAnswer with a single JSON value that conforms to this JSON Schema, and "
    "nothing else: no prose, no Markdown fences.\nJSON Schema:\n" + SCHEMA_TEXT)


def ask_city(provider: str, **kw: Any) -> Any:
    """``structured`` with a named, described schema, a system prompt and sampling options."""
    import structmagic as sm

    return sm.structured("Population of Paris?", CITY, provider=provider, system="Be brief.",
                         model="m-1", temperature=0.5, max_tokens=99, **kw)
