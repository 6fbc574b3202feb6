"""Every wire format against the fake server: request shape, answers, streams, faults (issue 8)."""

from __future__ import annotations

import json

import pytest

import structmagic as sm
from structmagic.wire.gemini import to_openapi_schema

from providers import (
    anthropic,
    anthropic_error,
    anthropic_stream,
    gemini,
    gemini_error,
    gemini_stream,
    responses,
    responses_stream,
)
from schema_corpus import MATH
from sm_fixtures import CANARY

SCHEMA = MATH["json_schema"]["schema"]
ANSWER = {"steps": [{"explanation": "compare tenths", "output": "0.8 > 0.1"}],
          "final_answer": "9.8"}
TEXT = json.dumps(ANSWER)

OK = {
    "responses": lambda **kw: responses(TEXT, **kw),
    "anthropic": lambda **kw: anthropic(TEXT, **kw),
    "gemini": lambda **kw: gemini(TEXT, **kw),
}
STREAM = {
    "responses": lambda **kw: responses_stream(TEXT, **kw),
    "anthropic": lambda **kw: anthropic_stream(TEXT, **kw),
    "gemini": lambda **kw: gemini_stream(TEXT, **kw),
}
PROVIDERS = list(OK)


def ask(provider, **kw):
    return sm.structured("9.11 or 9.8?", SCHEMA, provider=provider, system="Be a tutor.",
                         model="m-1", **kw)


def test_responses_request_shape(server, settings):
    server.queue(responses(TEXT))
    res = ask("responses", temperature=0, max_tokens=300)
    assert res.data == ANSWER and res.usage == {"prompt_tokens": 10, "completion_tokens": 20,
                                                "total_tokens": 30}
    req = server.requests[0]
    assert req.path == "/v1/responses"
    assert req.headers["authorization"] == f"Bearer {CANARY}"
    body = req.json
    assert body["instructions"] == "Be a tutor."
    assert body["input"] == [{"role": "user", "content": "9.11 or 9.8?"}]
    fmt = body["text"]["format"]
    assert (fmt["type"], fmt["name"], fmt["strict"]) == ("json_schema", "response", True)
    assert fmt["schema"]["required"] == ["steps", "final_answer"]
    assert (body["temperature"], body["max_output_tokens"]) == (0, 300)


def test_anthropic_request_shape(server, settings):
    server.queue(anthropic(TEXT))
    res = ask("anthropic")
    assert res.data == ANSWER and res.model == "claude-sonnet-4-5-20250929"
    req = server.requests[0]
    assert req.path == "/v1/messages"
    assert req.headers["x-api-key"] == CANARY
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in req.headers
    body = req.json
    assert body["system"] == "Be a tutor."
    assert body["messages"] == [{"role": "user", "content": "9.11 or 9.8?"}]
    assert body["max_tokens"] == 4096
    assert body["output_config"]["format"]["type"] == "json_schema"


def test_gemini_request_shape_and_key_never_in_url(server, settings):
    server.queue(gemini(TEXT), gemini_stream(TEXT))
    assert ask("gemini").data == ANSWER
    assert ask("gemini", stream=True).data == ANSWER
    plain, streamed = server.requests
    assert plain.path == "/v1/models/m-1:generateContent" and plain.query == ""
    assert streamed.path == "/v1/models/m-1:streamGenerateContent"
    assert streamed.query == "alt=sse"
    for req in (plain, streamed):
        assert req.headers["x-goog-api-key"] == CANARY
        assert CANARY not in req.path + req.query
    body = plain.json
    assert body["systemInstruction"] == {"parts": [{"text": "Be a tutor."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "9.11 or 9.8?"}]}]
    gen = body["generationConfig"]
    assert gen["responseMimeType"] == "application/json"
    assert gen["responseJsonSchema"]["required"] == ["steps", "final_answer"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_gives_partials_reasoning_and_usage(server, settings, provider):
    kw = {"responses": {"reasoning": "think"}, "anthropic": {"thinking": "think"},
          "gemini": {"thought": "think"}}[provider]
    server.queue(STREAM[provider](**kw))
    seen = []
    res = ask(provider, stream=True, on_partial=seen.append)
    assert res.data == ANSWER
    assert res.reasoning == "think"
    assert res.usage["total_tokens"] == 30
    assert seen and seen[-1] == ANSWER


@pytest.mark.parametrize("provider", PROVIDERS)
def test_nonstream_reasoning(server, settings, provider):
    kw = {"responses": {"reasoning": "hmm"}, "anthropic": {"thinking": "hmm"},
          "gemini": {"thought": "hmm"}}[provider]
    server.queue(OK[provider](**kw))
    assert ask(provider).reasoning == "hmm"


@pytest.mark.parametrize(
    ("provider", "reply"),
    [
        ("responses", lambda: responses(None, refusal="I can't help with that.")),
        ("responses", lambda: responses_stream("", refusal="I can't help with that.")),
        ("anthropic", lambda: anthropic("I can't help with that.", stop_reason="refusal")),
        ("anthropic", lambda: anthropic_stream("I can't help with that.",
                                               stop_reason="refusal")),
    ],
)
def test_refusals(server, settings, provider, reply):
    server.queue(reply())
    with pytest.raises(sm.RefusalError, match="can't help"):
        ask(provider, stream=True)


@pytest.mark.parametrize(
    ("provider", "reply"),
    [
        ("responses", lambda: responses('{"steps": [', status="incomplete",
                                        incomplete_reason="max_output_tokens")),
        ("responses", lambda: responses_stream('{"steps": [',
                                               incomplete_reason="max_output_tokens")),
        ("anthropic", lambda: anthropic('{"steps": [', stop_reason="max_tokens")),
        ("anthropic", lambda: anthropic_stream('{"steps": [', stop_reason="max_tokens")),
        ("gemini", lambda: gemini('{"steps": [', finish="MAX_TOKENS")),
        ("gemini", lambda: gemini_stream('{"steps": [', finish="MAX_TOKENS")),
    ],
)
def test_truncation(server, settings, provider, reply):
    server.queue(reply())
    with pytest.raises(sm.TruncatedError):
        ask(provider, stream=True)


@pytest.mark.parametrize("finish", ["SAFETY", "PROHIBITED_CONTENT"])
def test_gemini_content_filter(server, settings, finish):
    server.queue(gemini("", finish=finish))
    with pytest.raises(sm.ContentFilterError):
        ask("gemini")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_error_event_in_stream(server, settings, provider):
    server.queue(STREAM[provider](error="upstream overloaded"))
    with pytest.raises(sm.StreamError, match="upstream overloaded"):
        ask(provider, stream=True)


@pytest.mark.parametrize(
    ("provider", "reply", "cls", "text"),
    [
        ("anthropic", lambda: anthropic_error(401, "invalid x-api-key", "authentication_error"),
         sm.AuthenticationError, "invalid x-api-key"),
        ("anthropic", lambda: anthropic_error(529, "Overloaded", "overloaded_error"),
         sm.ServerError, "Overloaded"),
        ("gemini", lambda: gemini_error(403, "API key not valid", "PERMISSION_DENIED"),
         sm.AuthenticationError, "API key not valid"),
        ("gemini", lambda: gemini_error(404, "models/m-1 is not found", "NOT_FOUND"),
         sm.BadRequestError, "not found"),
    ],
)
def test_error_shapes(server, settings, provider, reply, cls, text):
    server.queue(*[reply()] * 3)
    with pytest.raises(cls, match=text):
        ask(provider, mode="json_schema")


def test_anthropic_falls_back_to_a_forced_tool(server, settings):
    server.queue(anthropic_error(400, "output_config: Extra inputs are not permitted"),
                 anthropic(TEXT, tool=True, stop_reason="tool_use"))
    res = ask("anthropic")
    assert res.data == ANSWER and res.mode == "tools"
    body = server.requests[1].json
    assert "output_config" not in body
    assert body["tools"][0]["input_schema"]["required"] == ["steps", "final_answer"]
    assert body["tool_choice"] == {"type": "tool", "name": "response"}


def test_anthropic_thinking_never_forces_a_tool(server, settings):
    server.queue(anthropic_error(400, "output_config: Extra inputs are not permitted"),
                 anthropic(TEXT, thinking="hmm"))
    res = ask("anthropic", thinking=True)
    assert res.mode == "prompt"
    body = server.requests[1].json
    assert "tools" not in body and body["thinking"]["type"] == "enabled"
    assert "JSON Schema" in body["system"]


def test_anthropic_streamed_tool_input(server, settings):
    server.queue(anthropic_stream(TEXT, tool=True, stop_reason="tool_use"))
    assert ask("anthropic", stream=True, mode="tools").data == ANSWER


def test_gemini_falls_back_to_openapi_response_schema(server, settings):
    server.queue(gemini_error(400, "Invalid JSON payload received. Unknown name "
                                   "\"responseJsonSchema\" at 'generation_config'"),
                 gemini(TEXT))
    res = ask("gemini")
    assert res.data == ANSWER and res.mode == "json_schema_openapi"
    gen = server.requests[1].json["generationConfig"]
    assert "responseJsonSchema" not in gen
    assert gen["responseSchema"]["properties"]["steps"]["items"]["required"] == [
        "explanation", "output"]


def test_to_openapi_schema_inlines_refs_and_nulls():
    schema = {
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/A"},
            "b": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "c": {"const": "x"},
            "d": {"type": ["integer", "null"]},
        },
        "required": ["a", "b", "c", "d"],
        "additionalProperties": False,
        "$defs": {"A": {"type": "object", "properties": {"n": {"type": "number"}},
                        "required": ["n"], "additionalProperties": False}},
    }
    out = to_openapi_schema(schema)
    assert "$defs" not in json.dumps(out) and "$ref" not in json.dumps(out)
    assert "additionalProperties" not in json.dumps(out)
    assert out["properties"]["a"]["properties"]["n"] == {"type": "number"}
    assert out["properties"]["b"] == {"type": "string", "nullable": True}
    assert out["properties"]["c"] == {"enum": ["x"], "type": "string"}
    assert out["properties"]["d"] == {"type": "integer", "nullable": True}
    with pytest.raises(ValueError, match="does not resolve"):
        to_openapi_schema({"$ref": "#/$defs/missing"})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_reask_per_provider(server, settings, provider):
    bad = {"responses": responses('{"steps": 1}'), "anthropic": anthropic('{"steps": 1}'),
           "gemini": gemini('{"steps": 1}')}[provider]
    server.queue(bad, OK[provider]())
    res = ask(provider)
    assert res.data == ANSWER and res.attempts == 2


def test_cassette_keys_never_collide_across_providers(server, settings, tmp_path):
    cassette = str(tmp_path / "all.jsonl")
    for provider in PROVIDERS:
        server.queue(OK[provider]())
        ask(provider, cache="cache", cassette=cassette)
    from fakeserver import chat

    server.queue(chat(TEXT))  # an OpenAI chat request is not answered by those recordings
    sm.structured("9.11 or 9.8?", SCHEMA, system="Be a tutor.", model="m-1",
                  cache="cache", cassette=cassette)
    n = len(server.requests)
    for provider in PROVIDERS:  # replay: every provider answered from its own recording
        assert ask(provider, cache="replay", cassette=cassette).data == ANSWER
    assert len(server.requests) == n
    from pathlib import Path

    lines = [json.loads(x) for x in Path(cassette).read_text(encoding="utf-8").splitlines()]
    assert len({x["key"] for x in lines}) == len(lines) == 4


def test_provider_defaults_and_env(monkeypatch):
    from structmagic.config import resolve

    assert resolve(provider="anthropic").base_url == "https://api.anthropic.com/v1"
    assert resolve(provider="gemini").base_url == "https://generativelanguage.googleapis.com/v1beta"
    monkeypatch.setenv("STRUCTMAGIC_PROVIDER", "gemini")
    monkeypatch.setenv("GEMINI_API_KEY", "g-key-123456789")
    s = resolve()
    assert s.provider == "gemini" and s.key().source == "environment variable GEMINI_API_KEY"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "a-key-123456789")
    assert resolve(provider="anthropic").key().source.endswith("ANTHROPIC_API_KEY")


def test_magic_provider_option(ip, server, settings):
    server.queue(anthropic_stream(TEXT))
    ip.user_ns["schema"] = SCHEMA
    res = ip.run_cell("%%structured schema -o out --provider anthropic\nq",
                      store_history=False)
    assert res.success, res.error_in_exec
    assert ip.user_ns["out"] == ANSWER
    assert server.requests[0].path == "/v1/messages"


def test_gemini_recursive_schema_steps_past_the_openapi_subset(server, settings):
    tree = {"type": "object", "properties": {"name": {"type": "string"},
                                             "kids": {"type": "array", "items": {"$ref": "#"}}},
            "required": ["name", "kids"], "additionalProperties": False}
    reject = gemini_error(400, "Invalid JSON payload received. Unknown name "
                               "\"responseJsonSchema\" at 'generation_config'")
    server.queue(reject, gemini('{"name": "a", "kids": []}'))
    res = sm.structured("q", tree, provider="gemini", model="m-1")
    assert res.data == {"name": "a", "kids": []}
    # responseSchema cannot say a recursive schema: the next step (json_object) was sent
    assert res.mode == "json_object"
    assert "responseSchema" not in server.requests[1].json["generationConfig"]
