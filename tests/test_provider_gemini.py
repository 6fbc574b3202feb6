"""The Gemini provider: requests in every mode, answers and streams from recorded-shape
payloads (``tests/payloads/gemini``), errors and rejections, the OpenAPI subset, its
schema policy, and requests sent to the loopback fake server.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

import structmagic as sm
from structmagic.providers import get_provider
from structmagic.providers.base import Completion
from structmagic.schema import to_openapi_schema

from providers import gemini, gemini_error, gemini_stream
from sm_fixtures import CANARY
from wire_helpers import (
    ANSWER,
    BASE,
    CITY_TEXT,
    DESCRIPTION,
    KEY,
    MATH_ANSWER,
    MATH_TEXT,
    MESSAGES,
    OPENAPI,
    SCHEMA,
    SYSTEM,
    SYSTEM_WITH_SCHEMA,
    UNI,
    ask_city,
    ask_provider,
    load,
    make_call,
    no_key_anywhere,
    play,
)

G = get_provider("gemini")
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
            usage={"prompt_tokens": 60, "completion_tokens": 58, "total_tokens": 118},
            called=True)),
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
    # parallel function calls: each a call of its own, numbered, apart from the text; of two
    # calls of the schema's tool, the first is the answer
    two = {"candidates": [{"content": {"parts": [
        {"functionCall": {"name": "city", "args": {"a": 1}}},
        {"functionCall": {"name": "city", "args": {"a": 2}}}]}, "finishReason": "STOP"}]}
    d, first, second = G.stream().feed("message", json.dumps(two))
    assert (d.text, d.finish, d.done) == ("", "tool", True)
    assert [(c.tool, c.call, c.name) for c in (first, second)] == [
        ('{"a": 1}', 0, "city"), ('{"a": 2}', 1, "city")]
    assert G.parse(two, tool="city").text == '{"a": 1}'


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


# --- against the loopback fake server ---------------------------------------------------------


def test_gemini_request_shape_and_key_never_in_url(server, settings):
    server.queue(gemini(MATH_TEXT), gemini_stream(MATH_TEXT))
    assert ask_provider("gemini").data == MATH_ANSWER
    assert ask_provider("gemini", stream=True).data == MATH_ANSWER
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


@pytest.mark.parametrize("finish", ["SAFETY", "PROHIBITED_CONTENT"])
def test_gemini_content_filter(server, settings, finish):
    server.queue(gemini("", finish=finish))
    with pytest.raises(sm.ContentFilterError):
        ask_provider("gemini")


def test_gemini_falls_back_to_openapi_response_schema(server, settings):
    server.queue(gemini_error(400, "Invalid JSON payload received. Unknown name "
                                   "\"responseJsonSchema\" at 'generation_config'"),
                 gemini(MATH_TEXT))
    res = ask_provider("gemini")
    assert res.data == MATH_ANSWER and res.mode == "json_schema_openapi"
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


@pytest.mark.parametrize(
    ("mode", "reply", "extra", "config"),
    [
        ("json_schema", lambda: gemini(CITY_TEXT), {"systemInstruction": {"parts": [
            {"text": "Be brief."}]}},
         {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA}),
        ("json_object", lambda: gemini(CITY_TEXT), {"systemInstruction": {"parts": [
            {"text": SYSTEM_WITH_SCHEMA}]}}, {"responseMimeType": "application/json"}),
        ("tools", lambda: gemini(CITY_TEXT, tool=True), {
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "tools": [{"functionDeclarations": [{"name": "city", "description": DESCRIPTION,
                                                 "parameters": OPENAPI}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                                     "allowedFunctionNames": ["city"]}}}, {}),
    ],
)
def test_request_sent_in_every_mode(server, settings, mode, reply, extra, config):
    server.queue(reply())
    res = ask_city("gemini", mode=mode)
    assert res.data == ANSWER and res.mode == mode
    (req,) = server.requests
    assert req.path == "/v1/models/m-1:generateContent"
    assert req.json == {
        "contents": [{"role": "user", "parts": [{"text": "Population of Paris?"}]}],
        **extra,
        "generationConfig": {**config, "temperature": 0.5, "maxOutputTokens": 99}}
    assert req.headers["x-goog-api-key"] == CANARY and CANARY not in req.path


# --- cost facts ---------------------------------------------------------------------------------


def test_count_request_wraps_the_whole_request():
    p = get_provider("gemini")
    call = make_call("json_schema", max_tokens=99, stream=True)
    url, body = p.count_request(call, BASE)
    assert url == f"{BASE}/models/m-1:countTokens"
    _, sent = p.build(call, BASE)
    assert body == {"generateContentRequest": {"model": "models/m-1", **sent}}
    tuned = make_call("json_schema", model="tunedModels/x")
    assert p.count_request(tuned, BASE)[0] == f"{BASE}/tunedModels/x:countTokens"
    assert p.parse_count({"totalTokens": 77, "promptTokensDetails": []}) == 77
    with pytest.raises(ValueError):
        p.parse_count({"error": {}})
    assert p.price_table_id == "google" and p.batch_price_factor == 0.5


def test_cached_content_tokens_are_read():
    p = get_provider("gemini")
    body = json.loads(gemini('{"a": 1}').body)
    body["usageMetadata"]["cachedContentTokenCount"] = 9
    assert p.parse(body).usage["cached_tokens"] == 9
# --- the batch API (pure) ------------------------------------------------------------------------


def test_gemini_batch_translations():
    api = get_provider("gemini").batch_api
    base = "https://generativelanguage.googleapis.com/v1beta"
    assert json.loads(api.line("r0-00", "/models/m:generateContent", '{"contents":[]}')) == {
        "key": "r0-00", "request": {"contents": []}}
    head, sep, tail = api.inline_container("name-0")
    item = api.inline_item(b'{"key":"r0-00","request":{"contents":[]}}')
    body = json.loads(head + item + sep + item + tail)
    assert body["batch"]["displayName"] == "name-0"
    assert body["batch"]["inputConfig"]["requests"]["requests"][0] == {
        "request": {"contents": []}, "metadata": {"key": "r0-00"}}
    assert api.create(base, endpoint="/models/m:generateContent", name="n", file_id=None) == (
        f"{base}/models/m:batchGenerateContent", None)
    assert api.create(base, endpoint="/models/m:generateContent", name="n",
                      file_id="files/f")[1] == {"batch": {"displayName": "n", "inputConfig": {
                          "fileName": "files/f"}}}
    upload = api.upload(base, "n.jsonl", 123)
    assert upload.url == "https://generativelanguage.googleapis.com/upload/v1beta/files"
    assert upload.headers["X-Goog-Upload-Header-Content-Length"] == "123"
    assert api.job_url(base, "batches/1") == f"{base}/batches/1"
    assert api.cancel_url(base, "batches/1") == f"{base}/batches/1:cancel"


def test_gemini_batch_operations_and_results():
    api = get_provider("gemini").batch_api
    base = "https://generativelanguage.googleapis.com/v1beta"
    op = {"name": "batches/1", "done": True, "metadata": {
        "state": "BATCH_STATE_SUCCEEDED", "displayName": "n-0",
        "createTime": "2025-01-01T00:00:00.123456789Z",
        "batchStats": {"requestCount": "2", "successfulRequestCount": "1",
                       "failedRequestCount": "1"}},
        "response": {"inlinedResponses": {"inlinedResponses": [
            {"response": {"candidates": []}, "metadata": {"key": "r0-00"}},
            {"error": {"code": 400, "message": "bad"}}]}}}
    info = api.job(op)
    assert (info.status, info.total, info.completed, info.failed, info.name) == (
        "completed", 2, 1, 1, "n-0")
    assert info.created == pytest.approx(1735689600.123456)
    outcomes = api.inline_outcomes(info)
    assert [(o.custom_id, o.kind) for o in outcomes] == [("r0-00", "succeeded"),
                                                        (None, "errored")]
    filed = api.job({"name": "batches/2", "metadata": {"state": "JOB_STATE_SUCCEEDED"},
                     "response": {"responsesFile": "files/out"}})
    assert api.result_urls(base, filed) == [
        "https://generativelanguage.googleapis.com/download/v1beta/files/out:download?alt=media"]
    for raw, status in (("BATCH_STATE_PENDING", "validating"),
                        ("BATCH_STATE_RUNNING", "in_progress"),
                        ("BATCH_STATE_FAILED", "failed"), ("BATCH_STATE_EXPIRED", "expired"),
                        ("BATCH_STATE_CANCELLED", "cancelled")):
        assert api.job({"name": "b", "metadata": {"state": raw}}).status == status
    assert api.outcome({"key": "k", "response": {"candidates": []}}).custom_id == "k"
