"""The Responses, Claude Messages and Gemini wire formats as pure translations.

Request bodies for every mode, answers parsed from recorded-shape payloads
(``tests/payloads/<format>/*.json``), SSE transcripts (``*.sse``) translated into deltas,
error bodies, rejection wording and Gemini's OpenAPI-subset schema. No network, no server.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from structmagic.wire import wire_for
from structmagic.wire.anthropic import Messages
from structmagic.wire.base import Call, Completion, Delta
from structmagic.wire.gemini import Gemini, to_openapi_schema
from structmagic.wire.responses import Responses

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
    """A tiny SSE splitter: (event name, data) per blank-line-separated block."""
    text = (PAYLOADS / fmt / name).read_bytes().decode("utf-8")
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
    """What a whole transcript amounts to, the way the client assembles it."""

    text: str = ""
    reasoning: str = ""
    refusal: str = ""
    finish: str | None = None
    usage: dict[str, int] | None = None
    model: str | None = None
    done: bool = False
    error: str | None = None
    after_done: list[Delta] = field(default_factory=list)


def play(wire: Any, fmt: str, name: str) -> Played:
    translator = wire.stream()
    out = Played()
    for event, data in sse_events(fmt, name):
        deltas = translator.feed(event, data)
        assert all(isinstance(d, Delta) for d in deltas)
        for d in deltas:
            if out.done:
                out.after_done.append(d)
            out.text += d.text
            out.reasoning += d.reasoning
            out.refusal += d.refusal
            out.finish = d.finish or out.finish
            out.usage = d.usage or out.usage
            out.model = d.model or out.model
            out.error = out.error or d.error
            out.done = out.done or d.done
    return out


def no_key_anywhere(wire: Any, url: str, body: Any) -> None:
    assert KEY not in url and KEY not in json.dumps(body)
    assert KEY not in json.dumps(wire.extra_headers())
    assert KEY in json.dumps(wire.auth_headers(KEY))


def test_registry_gives_these_classes():
    assert isinstance(wire_for("responses"), Responses)
    assert isinstance(wire_for("anthropic"), Messages)
    assert isinstance(wire_for("gemini"), Gemini)
    for name in ("responses", "anthropic", "gemini"):
        assert wire_for(name).name == name


# --- Responses API ------------------------------------------------------------------------------

R = Responses()
R_INPUT = [
    {"role": "user", "content": "Population of Paris?"},
    {"role": "assistant", "content": '{"city": "Paris"}'},
    {"role": "user", "content": "That is missing 'population'."},
    {"role": "user", "content": "Only the JSON, please."},
]


@pytest.mark.parametrize(
    ("mode", "extra"),
    [
        ("json_schema", {"text": {"format": {
            "type": "json_schema", "name": "city", "description": DESCRIPTION,
            "schema": SCHEMA, "strict": True}}}),
        ("json_object", {"text": {"format": {"type": "json_object"}}}),
        ("tools", {
            "tools": [{"type": "function", "name": "city", "description": DESCRIPTION,
                       "parameters": SCHEMA, "strict": True}],
            "tool_choice": {"type": "function", "name": "city"}}),
        ("prompt", {}),
    ],
)
def test_responses_build_every_mode(mode, extra):
    url, body = R.build(make_call(mode), BASE)
    assert url == f"{BASE}/responses"
    assert body == {"model": "m-1", "instructions": SYSTEM, "input": R_INPUT, **extra}
    no_key_anywhere(R, url, body)
    assert R.auth_headers(KEY) == {"Authorization": f"Bearer {KEY}"}
    assert R.extra_headers() == {}


def test_responses_build_options():
    call = make_call("json_schema", strict=False, description=None, temperature=0.2,
                     max_tokens=300, stream=True, thinking=True)
    _, body = R.build(call, BASE)
    assert body["text"] == {"format": {"type": "json_schema", "name": "city",
                                       "schema": SCHEMA, "strict": False}}
    assert (body["temperature"], body["max_output_tokens"], body["stream"]) == (0.2, 300, True)
    assert body["reasoning"] == {"summary": "auto"}
    _, body = R.build(make_call("tools", strict=False), BASE)
    assert body["tools"][0]["strict"] is False
    _, body = R.build(make_call("prompt", messages=MESSAGES[2:3]), BASE)
    assert "instructions" not in body and body["input"] == R_INPUT[:1]
    with pytest.raises(ValueError, match="mode"):
        R.build(make_call("json_schema_openapi"), BASE)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("normal.json", Completion(
            text=json.dumps(ANSWER), finish="stop", model="gpt-4.1-2025-04-14",
            usage={"prompt_tokens": 75, "completion_tokens": 17, "total_tokens": 92})),
        ("reasoning.json", Completion(
            text=json.dumps(ANSWER), finish="stop", model="o4-mini-2025-04-16",
            reasoning="**Looking up Paris**\n\nThe user wants the city proper.\n\n"
                      "**Checking the census**\n\nINSEE 2021: 2,102,650.",
            usage={"prompt_tokens": 75, "completion_tokens": 401, "total_tokens": 476})),
        ("tool.json", Completion(
            text=json.dumps(ANSWER), finish="tool", model="gpt-4.1-2025-04-14",
            usage={"prompt_tokens": 81, "completion_tokens": 19, "total_tokens": 100})),
        ("refusal.json", Completion(
            text="", refusal="I'm sorry, but I can't help with that request.",
            finish="refusal", model="gpt-4.1-2025-04-14",
            usage={"prompt_tokens": 75, "completion_tokens": 12, "total_tokens": 87})),
        ("truncated.json", Completion(
            text='{"city": "Paris", "popul', finish="length", model="gpt-4.1-2025-04-14",
            usage={"prompt_tokens": 75, "completion_tokens": 40, "total_tokens": 115})),
        ("content_filter.json", Completion(
            text='{"city": ', finish="content_filter", model="gpt-4.1-2025-04-14",
            usage={"prompt_tokens": 75, "completion_tokens": 3, "total_tokens": 78})),
    ],
)
def test_responses_parse(name, expected):
    assert R.parse(load("responses", name)) == expected


def test_responses_parse_bad_and_failed_bodies():
    with pytest.raises(ValueError, match="failed: The model failed"):
        R.parse(load("responses", "failed.json"))
    with pytest.raises(ValueError, match="'output'"):
        R.parse(load("responses", "error.json"))
    with pytest.raises(ValueError):
        R.parse([1, 2])
    # open-weight servers (gpt-oss on vLLM) put raw reasoning in the item's content
    body = {"status": "completed", "output": [
        {"type": "reasoning", "summary": [],
         "content": [{"type": "reasoning_text", "text": "think"}]},
        {"type": "message", "content": [{"type": "output_text", "text": "{}"}]}]}
    assert R.parse(body).reasoning == "think"


@pytest.mark.parametrize(
    ("name", "text", "reasoning", "refusal", "finish", "usage", "model"),
    [
        ("normal.sse", json.dumps(UNI, ensure_ascii=False), "", "", "stop",
         (75, 17), "gpt-4.1-2025-04-14"),
        ("reasoning.sse", json.dumps(ANSWER),
         "**Looking up Paris**\n\nINSEE 2021 says 2,102,650.", "", "stop", (75, 81),
         "o4-mini-2025-04-16"),
        ("tool.sse", json.dumps(ANSWER), "", "", "tool", (81, 19), "gpt-4.1-2025-04-14"),
        ("refusal.sse", "", "", "I'm sorry, but I can't help with that request.", "refusal",
         (75, 12), "gpt-4.1-2025-04-14"),
        ("truncated.sse", '{"city": "Paris", "popul', "", "", "length", (75, 40),
         "gpt-4.1-2025-04-14"),
        ("content_filter.sse", '{"city": ', "", "", "content_filter", (75, 3),
         "gpt-4.1-2025-04-14"),
    ],
)
def test_responses_stream(name, text, reasoning, refusal, finish, usage, model):
    got = play(R, "responses", name)
    assert (got.text, got.reasoning, got.refusal) == (text, reasoning, refusal)
    assert got.finish == finish and got.model == model
    assert got.usage == {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                         "total_tokens": sum(usage)}
    assert got.done and not got.after_done and got.error is None


@pytest.mark.parametrize(
    ("name", "message"),
    [("error.sse", "An error occurred while processing your request."),
     ("failed.sse", "The model failed to generate a response.")],
)
def test_responses_stream_errors(name, message):
    got = play(R, "responses", name)
    assert got.error == message
    assert got.text == '{"city": "Paris", "po'  # what came before the error is kept
    assert got.finish is None


def test_responses_stream_small_cases():
    t = R.stream()
    assert t.feed("", "") == [] and t.feed("", "[DONE]") == [Delta(done=True)]
    assert t.feed("response.output_text.done", '{"type": "response.output_text.done"}') == []
    # a second, parallel function call is not part of the answer
    t.feed("", json.dumps({"type": "response.function_call_arguments.delta",
                           "item_id": "fc_1", "delta": "{}"}))
    assert t.feed("", json.dumps({"type": "response.function_call_arguments.delta",
                                  "item_id": "fc_2", "delta": "{}"})) == []
    with pytest.raises(ValueError):
        t.feed("", "{not json")


def test_responses_errors_and_rejections():
    body = load("responses", "error.json")
    assert R.error_message(body).startswith("Invalid schema for response_format 'city'")
    assert R.error_message({"type": "error", "code": "x", "message": "boom"}) == "boom"
    assert R.error_message("<html>") is None
    assert R.rejects_format(400, R.error_message(body))
    assert R.rejects_format(400, "Invalid value: 'json_schema'. Supported values are: "
                                 "'text' and 'json_object'.")
    assert R.rejects_format(400, "Unknown parameter: 'text'.")
    assert not R.rejects_format(401, "Incorrect API key provided: sk-ca****")
    assert not R.rejects_format(429, "Rate limit reached for text.format requests")
    assert not R.rejects_format(400, "Invalid 'input[0].content': string too long.")


# --- Claude Messages ----------------------------------------------------------------------------

A = Messages()
A_MESSAGES = [
    {"role": "user", "content": "Population of Paris?"},
    {"role": "assistant", "content": '{"city": "Paris"}'},
    {"role": "user", "content": "That is missing 'population'.\n\nOnly the JSON, please."},
]


@pytest.mark.parametrize(
    ("mode", "extra"),
    [
        ("json_schema", {"output_config": {"format": {"type": "json_schema",
                                                      "schema": SCHEMA}}}),
        ("tools", {"tools": [{"name": "city", "description": DESCRIPTION,
                              "input_schema": SCHEMA}],
                   "tool_choice": {"type": "tool", "name": "city"}}),
        ("prompt", {}),
        ("json_object", {}),  # no JSON mode: the schema is in the system prompt already
    ],
)
def test_anthropic_build_every_mode(mode, extra):
    url, body = A.build(make_call(mode), BASE)
    assert url == f"{BASE}/messages"
    assert body == {"model": "m-1", "max_tokens": 4096, "system": SYSTEM,
                    "messages": A_MESSAGES, **extra}
    no_key_anywhere(A, url, body)
    assert A.auth_headers(KEY) == {"x-api-key": KEY}
    assert A.extra_headers() == {"anthropic-version": "2023-06-01",
                                 "content-type": "application/json"}


def test_anthropic_build_options_and_thinking():
    _, body = A.build(make_call("json_schema", temperature=0.0, max_tokens=800,
                                stream=True), BASE)
    assert (body["temperature"], body["max_tokens"], body["stream"]) == (0.0, 800, True)
    _, body = A.build(make_call("json_schema", thinking=True, temperature=0.3), BASE)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 4096 and "temperature" not in body
    _, body = A.build(make_call("prompt", thinking=True, max_tokens=1000), BASE)
    assert body["max_tokens"] > 2048  # must exceed the thinking budget
    with pytest.raises(ValueError, match="thinking"):
        A.build(make_call("tools", thinking=True), BASE)
    with pytest.raises(ValueError, match="mode"):
        A.build(make_call("json_schema_openapi"), BASE)
    _, body = A.build(make_call("tools", description=None), BASE)
    assert body["tools"] == [{"name": "city", "input_schema": SCHEMA}]
    _, body = A.build(make_call("prompt", messages=MESSAGES[2:3]), BASE)
    assert "system" not in body


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("normal.json", Completion(  # cache reads count as prompt tokens
            text=json.dumps(ANSWER), finish="stop", model="claude-sonnet-4-5-20250929",
            usage={"prompt_tokens": 412, "completion_tokens": 17, "total_tokens": 429})),
        ("thinking.json", Completion(
            text=json.dumps(ANSWER), finish="stop", model="claude-sonnet-4-5-20250929",
            reasoning="The user wants Paris's population. The latest INSEE census (2021) "
                      "gives 2,102,650 for the city proper.",
            usage={"prompt_tokens": 412, "completion_tokens": 210, "total_tokens": 622})),
        ("tool.json", Completion(
            text=json.dumps(ANSWER), finish="tool", model="claude-sonnet-4-5-20250929",
            usage={"prompt_tokens": 530, "completion_tokens": 54, "total_tokens": 584})),
        ("refusal.json", Completion(
            text="I can't help with", refusal="I can't help with", finish="refusal",
            model="claude-sonnet-4-5-20250929",
            usage={"prompt_tokens": 412, "completion_tokens": 5, "total_tokens": 417})),
        ("truncated.json", Completion(
            text='{"city": "Paris", "pop', finish="length", model="claude-sonnet-4-5-20250929",
            usage={"prompt_tokens": 412, "completion_tokens": 8, "total_tokens": 420})),
    ],
)
def test_anthropic_parse(name, expected):
    assert A.parse(load("anthropic", name)) == expected


def test_anthropic_parse_edges():
    with pytest.raises(ValueError, match="'content'"):
        A.parse(load("anthropic", "error.json"))
    empty_refusal = {"content": [], "stop_reason": "refusal", "usage": {}}
    assert A.parse(empty_refusal).refusal == "The model declined to answer."
    # a forced tool's input wins over any prose around it
    body = {"content": [{"type": "text", "text": "Sure:"},
                        {"type": "tool_use", "input": {"a": 1}},
                        {"type": "tool_use", "input": {"a": 2}}], "stop_reason": "tool_use"}
    assert A.parse(body).text == '{"a": 1}'
    assert A.parse({"content": [], "stop_reason": "model_context_window_exceeded"}).finish \
        == "length"


@pytest.mark.parametrize(
    ("name", "text", "reasoning", "finish", "usage"),
    [
        ("normal.sse", json.dumps(UNI, ensure_ascii=False), "", "stop", (412, 17)),
        ("thinking.sse", json.dumps(ANSWER), "The user wants Paris's population. The latest "
         "INSEE census (2021) gives 2,102,650 for the city proper.", "stop", (412, 210)),
        ("tool.sse", json.dumps(ANSWER), "", "tool", (530, 54)),
        ("refusal.sse", "I can't help with", "", "refusal", (412, 5)),
        ("truncated.sse", '{"city": "Paris", "pop', "", "length", (412, 8)),
    ],
)
def test_anthropic_stream(name, text, reasoning, finish, usage):
    got = play(A, "anthropic", name)
    assert (got.text, got.reasoning, got.refusal) == (text, reasoning, "")
    assert got.finish == finish and got.model == "claude-sonnet-4-5-20250929"
    assert got.usage == {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                         "total_tokens": sum(usage)}
    assert got.done and not got.after_done and got.error is None


def test_anthropic_stream_error_event():
    got = play(A, "anthropic", "error.sse")
    assert got.error == "Overloaded (overloaded_error)"
    assert got.text == '{"city": "Paris", "popul' and not got.done


def test_anthropic_stream_small_cases():
    t = A.stream()
    assert t.feed("ping", '{"type": "ping"}') == []
    assert t.feed("content_block_stop", '{"type": "content_block_stop", "index": 0}') == []
    start = {"type": "content_block_start", "index": 0,
             "content_block": {"type": "tool_use", "id": "t1", "name": "city", "input": {}}}
    assert t.feed("content_block_start", json.dumps(start)) == []
    second = {"type": "content_block_delta", "index": 1,
              "delta": {"type": "input_json_delta", "partial_json": "{}"}}
    assert t.feed("content_block_delta", json.dumps(second)) == []  # a second call
    # message_delta's usage may repeat input counts (null when unknown)
    t2 = A.stream()
    t2.feed("message_start", json.dumps({"type": "message_start", "message": {
        "model": "c", "usage": {"input_tokens": 5, "output_tokens": 1}}}))
    (d,) = t2.feed("message_delta", json.dumps({
        "type": "message_delta", "delta": {"stop_reason": "end_turn"},
        "usage": {"input_tokens": None, "output_tokens": 9}}))
    assert d.usage == {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}


def test_anthropic_errors_and_rejections():
    body = load("anthropic", "error.json")
    assert A.error_message(body) == ("output_config: Extra inputs are not permitted "
                                     "(invalid_request_error)")
    assert A.error_message(load("anthropic", "overloaded.json")) == "Overloaded (overloaded_error)"
    assert A.error_message([]) is None
    assert A.rejects_format(400, A.error_message(body))
    assert A.rejects_format(400, "'claude-3-haiku-20240307' does not support structured "
                                 "outputs")
    assert A.rejects_format(400, "output_format: Extra inputs are not permitted")
    assert A.rejects_format(400, "Thinking may not be enabled when tool_choice forces tool use.")
    assert not A.rejects_format(400, "thinking: Extra inputs are not permitted")
    assert not A.rejects_format(401, "invalid x-api-key")
    assert not A.rejects_format(529, "Overloaded")


# --- Gemini -------------------------------------------------------------------------------------

G = Gemini()
G_CONTENTS = [
    {"role": "user", "parts": [{"text": "Population of Paris?"}]},
    {"role": "model", "parts": [{"text": '{"city": "Paris"}'}]},
    {"role": "user", "parts": [{"text": "That is missing 'population'."},
                               {"text": "Only the JSON, please."}]},
]
G_SYSTEM = {"parts": [{"text": SYSTEM}]}


@pytest.mark.parametrize(
    ("mode", "extra"),
    [
        ("json_schema", {"generationConfig": {"responseMimeType": "application/json",
                                              "responseJsonSchema": SCHEMA}}),
        ("json_schema_openapi", {"generationConfig": {"responseMimeType": "application/json",
                                                      "responseSchema": OPENAPI}}),
        ("json_object", {"generationConfig": {"responseMimeType": "application/json"}}),
        ("prompt", {"generationConfig": {"responseMimeType": "application/json"}}),
        ("tools", {"tools": [{"functionDeclarations": [{
            "name": "city", "description": DESCRIPTION, "parameters": OPENAPI}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                                     "allowedFunctionNames": ["city"]}}}),
    ],
)
def test_gemini_build_every_mode(mode, extra):
    url, body = G.build(make_call(mode), BASE)
    assert url == f"{BASE}/models/m-1:generateContent"
    assert body == {"contents": G_CONTENTS, "systemInstruction": G_SYSTEM, **extra}
    no_key_anywhere(G, url, body)
    assert G.auth_headers(KEY) == {"x-goog-api-key": KEY}
    assert G.extra_headers() == {}


def test_gemini_build_url_and_options():
    url, body = G.build(make_call("json_schema", model="models/gemini-2.5-flash", stream=True,
                                  temperature=0.1, max_tokens=512, thinking=True), BASE)
    assert url == f"{BASE}/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert "key=" not in url
    assert body["generationConfig"] == {
        "responseMimeType": "application/json", "responseJsonSchema": SCHEMA,
        "temperature": 0.1, "maxOutputTokens": 512, "thinkingConfig": {"includeThoughts": True}}
    url, _ = G.build(make_call("prompt", model="gemini 2/odd?"), BASE)
    assert url == f"{BASE}/models/gemini%202/odd%3F:generateContent"
    _, body = G.build(make_call("tools", description=None, messages=MESSAGES[2:3]), BASE)
    assert "generationConfig" not in body and "systemInstruction" not in body
    assert body["tools"][0]["functionDeclarations"] == [{"name": "city",
                                                         "parameters": OPENAPI}]
    with pytest.raises(ValueError, match="mode"):
        G.build(make_call("xml"), BASE)


def test_gemini_build_recursive_schema():
    tree = {"$ref": "#/$defs/Node", "$defs": {"Node": {
        "type": "object", "properties": {"name": {"type": "string"},
                                         "children": {"type": "array",
                                                      "items": {"$ref": "#/$defs/Node"}}},
        "required": ["name", "children"], "additionalProperties": False}}}
    with pytest.raises(ValueError, match="recursive"):
        G.build(make_call("json_schema_openapi", schema=tree), BASE)
    _, body = G.build(make_call("json_schema", schema=tree), BASE)  # full JSON Schema: fine
    assert body["generationConfig"]["responseJsonSchema"] == tree
    _, body = G.build(make_call("tools", schema=tree), BASE)  # the JSON Schema field instead
    (decl,) = body["tools"][0]["functionDeclarations"]
    assert decl["parametersJsonSchema"] == tree and "parameters" not in decl


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("normal.json", Completion(  # thought tokens count as completion tokens
            text=json.dumps(ANSWER), finish="stop", model="gemini-2.5-flash",
            usage={"prompt_tokens": 31, "completion_tokens": 89, "total_tokens": 120})),
        ("thinking.json", Completion(
            text=json.dumps(ANSWER), finish="stop", model="gemini-2.5-pro",
            reasoning="**Identifying the city**\n\nThe user asks for Paris; INSEE 2021: "
                      "2,102,650.",
            usage={"prompt_tokens": 31, "completion_tokens": 257, "total_tokens": 288})),
        ("tool.json", Completion(
            text=json.dumps(ANSWER), finish="tool", model="gemini-2.5-flash",
            usage={"prompt_tokens": 60, "completion_tokens": 58, "total_tokens": 118})),
        ("truncated.json", Completion(
            text='{"city": "Paris", "pop', finish="length", model="gemini-2.5-flash",
            usage={"prompt_tokens": 31, "completion_tokens": 8, "total_tokens": 39})),
        ("safety.json", Completion(
            finish="content_filter", model="gemini-2.5-flash",
            usage={"prompt_tokens": 31, "total_tokens": 31})),
        ("blocked_prompt.json", Completion(
            finish="content_filter", model="gemini-2.5-flash",
            usage={"prompt_tokens": 31, "total_tokens": 31})),
        ("array.json", Completion(  # a non-SSE stream: a JSON array of chunks
            text=json.dumps(ANSWER), finish="stop", model="gemini-2.5-flash",
            usage={"prompt_tokens": 31, "completion_tokens": 17, "total_tokens": 48})),
    ],
)
def test_gemini_parse(name, expected):
    assert G.parse(load("gemini", name)) == expected


@pytest.mark.parametrize("reason", ["SAFETY", "PROHIBITED_CONTENT", "RECITATION", "BLOCKLIST",
                                    "SPII", "IMAGE_SAFETY"])
def test_gemini_filter_reasons(reason):
    body = load("gemini", "normal.json")
    body["candidates"][0]["finishReason"] = reason
    assert G.parse(body).finish == "content_filter"


def test_gemini_parse_bad_bodies():
    with pytest.raises(ValueError, match="responseJsonSchema"):
        G.parse(load("gemini", "error.json"))
    with pytest.raises(ValueError, match="candidates"):
        G.parse({"usageMetadata": {}})
    with pytest.raises(ValueError):
        G.parse("text")


@pytest.mark.parametrize(
    ("name", "text", "reasoning", "finish", "usage", "model"),
    [
        ("normal.sse", json.dumps(UNI, ensure_ascii=False), "", "stop", (31, 89, 120),
         "gemini-2.5-flash"),
        ("thinking.sse", json.dumps(ANSWER),
         "**Identifying the city**\n\nThe user asks for Paris; INSEE 2021: 2,102,650.",
         "stop", (31, 257, 288), "gemini-2.5-pro"),
        ("tool.sse", json.dumps(ANSWER), "", "tool", (60, 58, 118), "gemini-2.5-flash"),
        ("truncated.sse", '{"city": "Paris", "pop', "", "length", (31, 8, 39),
         "gemini-2.5-flash"),
        ("safety.sse", '{"city": ', "", "content_filter", (31, 3, 34), "gemini-2.5-flash"),
    ],
)
def test_gemini_stream(name, text, reasoning, finish, usage, model):
    got = play(G, "gemini", name)
    assert (got.text, got.reasoning, got.refusal) == (text, reasoning, "")
    assert got.finish == finish and got.model == model
    assert got.usage == {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                         "total_tokens": usage[2]}
    assert got.done and not got.after_done and got.error is None


def test_gemini_stream_error_and_small_cases():
    got = play(G, "gemini", "error.sse")
    assert got.error == "The model is overloaded. Please try again later. (UNAVAILABLE)"
    assert got.text == '{"city": "Paris", "p' and not got.done
    t = G.stream()
    assert t.feed("message", "") == []
    (d,) = t.feed("message", json.dumps(load("gemini", "blocked_prompt.json")))
    assert d.finish == "content_filter" and d.done
    # only the first of parallel function calls is the answer
    two = {"candidates": [{"content": {"parts": [
        {"functionCall": {"name": "city", "args": {"a": 1}}},
        {"functionCall": {"name": "city", "args": {"a": 2}}}]}, "finishReason": "STOP"}]}
    (d,) = G.stream().feed("message", json.dumps(two))
    assert (d.text, d.finish, d.done) == ('{"a": 1}', "tool", True)


def test_gemini_errors_and_rejections():
    body = load("gemini", "error.json")
    message = G.error_message(body)
    assert message.startswith("Invalid JSON payload received. Unknown name")
    assert message.endswith("(INVALID_ARGUMENT)")
    assert G.error_message([body]) == message
    assert G.error_message({"candidates": []}) is None
    assert G.rejects_format(400, message)
    assert G.rejects_format(400, "Invalid JSON payload received. Unknown name \"const\" at "
                                 "'tools[0].function_declarations[0].parameters'")
    assert G.rejects_format(400, "The specified schema produces a constraint that has too "
                                 "many states for serving.")
    assert not G.rejects_format(400, G.error_message(load("gemini", "bad_key.json")))
    assert not G.rejects_format(400, "Invalid JSON payload received. Unknown name "
                                     "\"thinkingConfig\" at 'generation_config'")
    assert not G.rejects_format(429, "Resource has been exhausted (e.g. check quota).")


# --- Gemini's OpenAPI subset --------------------------------------------------------------------


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


def test_to_openapi_schema():
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "home": {"$ref": "#/$defs/City", "description": "Where they live."},
            "work": {"anyOf": [{"$ref": "#/$defs/City"}, {"type": "null"}]},
            "nick": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "kind": {"const": "person"},
            "age": {"type": ["integer", "null"], "minimum": 0},
            "size": {"enum": ["S", "M", None]},
            "level": {"enum": [1, 2, 3]},
            "tags": {"type": "array", "items": {"type": "string", "format": "email"},
                     "maxItems": 3, "uniqueItems": True},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
        "required": ["home", "work", "nick", "kind", "age", "size", "level", "tags",
                     "either"],
        "additionalProperties": False,
        "$defs": {"City": {"type": "object", "description": "A city.",
                           "properties": {"name": {"type": "string"}},
                           "required": ["name"], "additionalProperties": False}},
    }
    before = copy.deepcopy(schema)
    out = to_openapi_schema(schema)
    assert schema == before  # not mutated
    assert not _keys(out) & {"$ref", "$defs", "$schema", "additionalProperties", "const",
                             "uniqueItems"}
    city = {"type": "object", "properties": {"name": {"type": "string"}},
            "required": ["name"], "propertyOrdering": ["name"]}
    props = out["properties"]
    assert props["home"] == {**city, "description": "Where they live."}
    assert props["work"] == {**city, "description": "A city.", "nullable": True}
    assert props["nick"] == {"type": "string", "nullable": True}
    assert props["kind"] == {"type": "string", "enum": ["person"]}
    assert props["age"] == {"type": "integer", "minimum": 0, "nullable": True}
    assert props["size"] == {"type": "string", "enum": ["S", "M"], "nullable": True}
    assert props["level"] == {"type": "integer", "description": "One of: 1, 2, 3."}
    assert props["tags"] == {"type": "array", "maxItems": 3,
                             "items": {"type": "string", "format": "email"}}
    assert props["either"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert out["required"] == schema["required"]
    assert out["propertyOrdering"] == list(schema["properties"])


def test_to_openapi_schema_refs_allof_and_failures():
    merged = to_openapi_schema({"allOf": [
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        {"properties": {"b": {"type": "number"}}, "required": ["b"]}]})
    assert merged["properties"] == {"a": {"type": "string"}, "b": {"type": "number"}}
    assert merged["required"] == ["a", "b"]
    escaped = {"$ref": "#/definitions/a~1b", "definitions": {"a/b": {"type": "boolean"}}}
    assert to_openapi_schema(escaped) == {"type": "boolean"}
    with pytest.raises(ValueError, match="does not resolve"):
        to_openapi_schema({"$ref": "#/$defs/missing"})
    with pytest.raises(ValueError, match="does not resolve"):
        to_openapi_schema({"$ref": "https://example.com/schema.json"})
    linked = {"type": "object", "properties": {"next": {"anyOf": [
        {"$ref": "#"}, {"type": "null"}]}}}
    with pytest.raises(ValueError, match=r"recursive \(# -> #\)"):
        to_openapi_schema(linked)
    chain = {"$ref": "#/$defs/d0", "$defs": {f"d{i}": {"$ref": f"#/$defs/d{i + 1}"}
                                              for i in range(5)}}
    chain["$defs"]["d5"] = {"type": "string"}
    assert to_openapi_schema(chain) == {"type": "string"}
    with pytest.raises(ValueError, match="deeper than 3"):
        to_openapi_schema(chain, max_depth=3)
