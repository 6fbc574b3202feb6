"""The OpenAI Chat Completions provider: its facts, requests in every mode (pure, and as sent to
the loopback fake server, compared whole), answers, streams, errors and rejections."""

from __future__ import annotations

import json

import pytest

import structmagic as sm
from structmagic.providers import get_provider
from structmagic.providers.base import Accumulator, Completion, Delta
from structmagic.providers.openai import OPENAI_LIMITS, OPENAI_STRICT

from fakeserver import Reply, chat, chat_stream
from sm_fixtures import CANARY
from wire_helpers import (
    ANSWER,
    BASE,
    DESCRIPTION,
    KEY,
    MESSAGES,
    SCHEMA,
    make_call,
    no_key_anywhere,
)

CHAT = get_provider("openai")
TEXT = json.dumps(ANSWER)


def test_facts():
    assert CHAT.name == "openai" and CHAT.default_base_url == "https://api.openai.com/v1"
    assert CHAT.key_envs == ("OPENAI_API_KEY",) and CHAT.base_url_envs == ("OPENAI_BASE_URL",)
    assert CHAT.modes == ("json_schema", "json_object", "tools", "prompt")
    assert CHAT.server_modes == ("vllm_structured_outputs", "llamacpp_json_schema",
                                 "ollama_format")
    assert CHAT.capabilities.strict_schema and CHAT.dialect is OPENAI_STRICT
    assert OPENAI_LIMITS.max_properties == 5000 and OPENAI_LIMITS.max_depth == 10
    assert OPENAI_LIMITS.max_enum_values == 1000 and OPENAI_LIMITS.max_total_chars == 120_000


# --- requests, pure ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "extra"),
    [
        ("json_schema", {"response_format": {"type": "json_schema", "json_schema": {
            "name": "city", "description": DESCRIPTION, "schema": SCHEMA, "strict": True}}}),
        ("json_object", {"response_format": {"type": "json_object"}}),
        ("tools", {
            "tools": [{"type": "function", "function": {
                "name": "city", "description": DESCRIPTION, "parameters": SCHEMA,
                "strict": True}}],
            "tool_choice": {"type": "function", "function": {"name": "city"}}}),
        ("prompt", {}),
        # servers' own ways, asked where the server check found one enforced
        ("vllm_structured_outputs", {"structured_outputs": {"json": SCHEMA}}),
        ("llamacpp_json_schema", {"json_schema": SCHEMA}),
        ("ollama_format", {"format": SCHEMA}),
    ],
)
def test_build_every_mode(mode, extra):
    url, body = CHAT.build(make_call(mode), BASE)
    assert url == f"{BASE}/chat/completions"
    assert body == {"model": "m-1", "messages": [dict(m) for m in MESSAGES], **extra}
    no_key_anywhere(CHAT, url, body)
    assert CHAT.auth_headers(KEY) == {"Authorization": f"Bearer {KEY}"}
    assert CHAT.extra_headers() == {}


PATTERNED = {"type": "object", "additionalProperties": False, "required": ["code", "tag"],
             "properties": {"code": {"type": "string", "pattern": r"^\d{3}-\w+$"},
                            "tag": {"type": "string", "pattern": r"^[\d\w.]\D\W[\D]\\d$",
                                    "enum": [r"\d"]}}}
PORTABLE = {**PATTERNED, "properties": {
    "code": {"type": "string", "pattern": "^[0-9]{3}-[A-Za-z0-9_]+$"},
    "tag": {"type": "string", "pattern": r"^[0-9A-Za-z0-9_.][^0-9][^A-Za-z0-9_][\D]\\d$",
            "enum": [r"\d"]}}}  # \D inside a class, an escaped backslash, data: as they are


def _schema_in(body):
    for found in (body.get("response_format", {}).get("json_schema", {}).get("schema"),
                  body.get("tools", [{}])[0].get("function", {}).get("parameters"),
                  body.get("structured_outputs", {}).get("json"), body.get("json_schema"),
                  body.get("format")):
        if found is not None:
            return found
    raise AssertionError("no schema in the body")


@pytest.mark.parametrize("mode", ["json_schema", "tools", "vllm_structured_outputs",
                                  "llamacpp_json_schema", "ollama_format"])
def test_patterns_are_written_out_for_servers_that_are_not_vendors(mode):
    """ECMA-262's \\d and \\w are exactly [0-9] and [A-Za-z0-9_]: written out for another
    server's grammar engine (llama.cpp's rejects them), never for a vendor."""
    call = make_call(mode, schema=PATTERNED)
    _, local = CHAT.build(call, "http://localhost:8080/v1")
    _, vendor = CHAT.build(call, "https://api.openai.com/v1")
    assert _schema_in(local) == PORTABLE
    assert _schema_in(vendor) is PATTERNED  # a vendor gets it as given
    assert PATTERNED["properties"]["code"]["pattern"] == r"^\d{3}-\w+$"  # never changed


def test_answers_are_checked_against_the_original_pattern(server, settings):
    server.queue(chat('{"code": "12-x", "tag": "d"}'), chat('{"code": "123-x", "tag": "d"}'))
    schema = {**PATTERNED, "properties": {**PATTERNED["properties"],
                                          "tag": {"type": "string"}}}
    res = sm.structured("q", schema)
    assert res.data == {"code": "123-x", "tag": "d"} and res.attempts == 2
    sent = server.requests[0].json["response_format"]["json_schema"]["schema"]
    assert sent["properties"]["code"]["pattern"] == "^[0-9]{3}-[A-Za-z0-9_]+$"
    assert "'12-x' does not match '^\\\\d{3}-\\\\w+$'" in (
        server.requests[1].json["messages"][-1]["content"])


def test_build_options():
    call = make_call("json_schema", strict=False, description=None, temperature=0.2,
                     max_tokens=300, stream=True)
    _, body = CHAT.build(call, BASE)
    assert body["response_format"]["json_schema"] == {"name": "city", "schema": SCHEMA,
                                                      "strict": False}
    assert (body["temperature"], body["max_tokens"], body["stream"]) == (0.2, 300, True)
    assert body["stream_options"] == {"include_usage": True}
    _, body = CHAT.build(make_call("tools", strict=False, description=None), BASE)
    assert body["tools"][0]["function"] == {"name": "city", "parameters": SCHEMA}


# --- answers -----------------------------------------------------------------------------------


def _body(reply: Reply) -> dict:
    return json.loads(reply.body)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (chat(TEXT, model="gpt-4o"), Completion(
            text=TEXT, finish="stop", model="gpt-4o",
            usage={"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30})),
        (chat(TEXT, reasoning="think", usage=None), Completion(
            text=TEXT, reasoning="think", finish="stop", model="fake-model")),
        (chat(TEXT, reasoning="vllm", reasoning_field="reasoning", usage=None), Completion(
            text=TEXT, reasoning="vllm", finish="stop", model="fake-model")),
        (chat(None, tool_call=TEXT, finish_reason="tool_calls", usage=None), Completion(
            text=TEXT, finish="tool", model="fake-model", called=True)),
        (chat(None, refusal="No.", usage=None), Completion(
            refusal="No.", finish="stop", model="fake-model")),
        (chat('{"a', finish_reason="length", usage=None), Completion(
            text='{"a', finish="length", model="fake-model")),
    ],
)
def test_parse(reply, expected):
    assert CHAT.parse(_body(reply)) == expected


def test_parse_bad_bodies_and_errors():
    with pytest.raises(ValueError, match="choices"):
        CHAT.parse({"error": {"message": "x"}})
    with pytest.raises(ValueError, match="empty"):
        CHAT.parse({"choices": []})
    assert CHAT.error_message({"error": {"message": "bad key"}}) == "bad key"
    assert CHAT.error_message({"error": "plain"}) == "plain"
    assert CHAT.error_message({"detail": "not found"}) == "not found"
    assert CHAT.error_message("<html>") is None


def _play(reply: Reply) -> Accumulator:
    from structmagic.transport.sse import SSEDecoder

    decoder, translator, acc = SSEDecoder(), CHAT.stream(), Accumulator()
    for piece in reply.body if isinstance(reply.body, list) else [reply.body]:
        for ev in decoder.feed(piece):
            acc.add(translator.feed(ev.event, ev.data))
    for ev in decoder.close():
        acc.add(translator.feed(ev.event, ev.data))
    return acc


def test_stream_transcripts():
    acc = _play(chat_stream(TEXT, reasoning="hm", keepalive=True, empty_first_chunk=True,
                            intermediate_empty_finish=True, model="gpt-4o"))
    c = acc.completion()
    assert (c.text, c.reasoning, c.finish, c.model) == (TEXT, "hm", "stop", "gpt-4o")
    assert c.usage == {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
    assert acc.done and acc.error is None
    tool = _play(chat_stream(TEXT, tool_call=True, finish_reason="tool_calls")).completion()
    assert tool.text == TEXT and tool.finish == "tool" and tool.called
    refused = _play(chat_stream("", refusal="I can't.")).completion()
    assert refused.refusal == "I can't."


def test_an_error_chunk_is_an_error_with_or_without_choices():
    t = CHAT.stream()
    (d,) = t.feed("", json.dumps({"error": {"message": "upstream overloaded"}}))
    assert d.error == "upstream overloaded"
    # OpenRouter: the error beside choices whose finish_reason is "error"
    (d,) = t.feed("", json.dumps({"error": {"message": "provider died", "code": 502},
                                  "choices": [{"index": 0, "delta": {"content": ""},
                                               "finish_reason": "error"}]}))
    assert d.error == "provider died"
    assert t.feed("", "[DONE]") == [Delta(done=True)]


def test_rejections():
    assert CHAT.rejects_format(400, "response_format json_schema is not supported with this model")
    assert CHAT.rejects_format(500, "features not supported by xgrammar")
    assert not CHAT.rejects_format(401, "Incorrect API key provided")
    assert not CHAT.rejects_format(429, "Rate limit reached for json_schema requests")


# --- the requests actually sent ----------------------------------------------------------------

CITY = {"name": "city", "description": DESCRIPTION, "schema": SCHEMA, "strict": True}
SENT_MESSAGES = [{"role": "system", "content": "Be brief."},
                 {"role": "user", "content": "Population of Paris?"}]
SCHEMA_TEXT = json.dumps(SCHEMA, separators=(",", ":"))
IN_PROMPT = [{"role": "system", "content": (
    "Be brief.\n\nAnswer with a single JSON value that conforms to this JSON Schema, and "
    "nothing else: no prose, no Markdown fences.\nJSON Schema:\n" + SCHEMA_TEXT)},
    {"role": "user", "content": "Population of Paris?"}]


def _ask(**kw):
    return sm.structured("Population of Paris?", CITY, system="Be brief.", model="m-1", **kw)


@pytest.mark.parametrize(
    ("mode", "reply", "expected"),
    [
        ("json_schema", chat(TEXT), {
            "model": "m-1", "messages": SENT_MESSAGES, "temperature": 0.5, "max_tokens": 99,
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "city", "description": DESCRIPTION, "schema": SCHEMA,
                "strict": True}}}),
        ("json_object", chat(TEXT), {
            "model": "m-1", "messages": IN_PROMPT, "temperature": 0.5, "max_tokens": 99,
            "response_format": {"type": "json_object"}}),
        ("tools", chat(None, tool_call=TEXT, finish_reason="tool_calls"), {
            "model": "m-1", "messages": SENT_MESSAGES, "temperature": 0.5, "max_tokens": 99,
            "tools": [{"type": "function", "function": {
                "name": "city", "description": DESCRIPTION, "parameters": SCHEMA,
                "strict": True}}],
            "tool_choice": {"type": "function", "function": {"name": "city"}}}),
    ],
)
def test_request_sent_in_every_mode(server, settings, mode, reply, expected):
    server.queue(reply)
    res = _ask(mode=mode, temperature=0.5, max_tokens=99)
    assert res.data == ANSWER and res.mode == mode
    (req,) = server.requests
    assert req.path == "/v1/chat/completions"
    assert req.json == expected
    assert req.headers["authorization"] == f"Bearer {CANARY}"
    assert req.headers["content-type"] == "application/json"


def test_stream_request_sent(server, settings):
    server.queue(chat_stream(TEXT))
    _ask(stream=True)
    assert server.requests[0].json == {
        "model": "m-1", "messages": SENT_MESSAGES, "stream": True,
        "stream_options": {"include_usage": True},
        "response_format": {"type": "json_schema", "json_schema": CITY}}


def test_the_whole_ladder_as_sent(server, settings):
    rejected = Reply.status(400, "response_format json_schema is not supported with this model")
    no_json_mode = Reply.status(400, "response_format json_object is not supported")
    server.queue(rejected, rejected, no_json_mode, Reply.status(400, "tools are not supported"),
                 chat(TEXT))
    res = _ask()
    assert res.data == ANSWER and res.mode == "prompt" and res.attempts == 5
    bodies = [r.json for r in server.requests]
    base = {"model": "m-1", "messages": SENT_MESSAGES}
    loose = {**CITY, "strict": False}
    assert bodies == [
        {**base, "response_format": {"type": "json_schema", "json_schema": CITY}},
        {**base, "response_format": {"type": "json_schema", "json_schema": loose}},
        {**base, "messages": IN_PROMPT, "response_format": {"type": "json_object"}},
        {**base, "tools": [{"type": "function", "function": {
            "name": "city", "description": DESCRIPTION, "parameters": SCHEMA}}],
         "tool_choice": {"type": "function", "function": {"name": "city"}}},
        {**base, "messages": IN_PROMPT},
    ]


def test_the_reask_carries_the_previous_answer(server, settings):
    bad = '{"city": "Paris"}'
    server.queue(chat(bad), chat(TEXT))
    res = _ask()
    assert res.data == ANSWER and res.attempts == 2
    second = server.requests[1].json["messages"]
    assert second[:2] == SENT_MESSAGES
    assert second[2] == {"role": "assistant", "content": bad}
    assert second[3]["role"] == "user"
    assert "$: 'population' is a required property" in second[3]["content"]
    assert len(second) == 4


def test_optional_fields_are_sent_nullable_and_mapped_back(server, settings):
    schema = {"type": "object", "properties": {"a": {"type": "string"},
                                               "b": {"type": "integer", "minimum": 1}},
              "required": ["a"], "additionalProperties": False}
    server.queue(chat('{"a": "x", "b": null}'))
    res = sm.structured("q", schema, model="m-1")
    assert res.data == {"a": "x"}
    sent = server.requests[0].json["response_format"]["json_schema"]
    assert sent["strict"] is True
    assert sent["schema"] == {"type": "object", "properties": {
        "a": {"type": "string"}, "b": {"type": ["integer", "null"], "minimum": 1}},
        "required": ["a", "b"], "additionalProperties": False}


# --- cost facts ---------------------------------------------------------------------------------


def test_cost_facts_no_count_endpoint_and_cached_tokens():
    p = get_provider("openai")
    assert p.price_table_id == "openai" and p.batch_price_factor == 0.5
    assert p.count_request(make_call("json_schema"), BASE) is None
    with pytest.raises(ValueError):
        p.parse_count({"input_tokens": 3})
    body = json.loads(chat('{"a": 1}').body)
    body["usage"] = {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105,
                     "prompt_tokens_details": {"cached_tokens": 64}}
    assert p.parse(body).usage == {"prompt_tokens": 100, "completion_tokens": 5,
                                   "total_tokens": 105, "cached_tokens": 64}
    body["usage"]["prompt_tokens_details"]["cached_tokens"] = 0
    assert "cached_tokens" not in p.parse(body).usage
# --- the batch API (pure) ------------------------------------------------------------------------


def test_batch_line_embeds_the_body_as_sent():
    api = get_provider("openai").batch_api
    assert api.endpoint("http://relay/openai/v1/chat/completions",
                        "http://relay/openai/v1") == "/v1/chat/completions"
    line = api.line("r0-00ff", "/v1/chat/completions", '{"model":"m"}')
    assert json.loads(line) == {"custom_id": "r0-00ff", "method": "POST",
                                "url": "/v1/chat/completions", "body": {"model": "m"}}
    assert api.limits.max_requests == 50_000 and api.limits.max_bytes == 200 * 1024 * 1024
    url, body = api.create("B", endpoint="/v1/chat/completions", name="n-0", file_id="file-1")
    assert url == "B/batches" and body == {"input_file_id": "file-1",
                                           "endpoint": "/v1/chat/completions",
                                           "completion_window": "24h",
                                           "metadata": {"structmagic_job": "n-0"}}


def test_batch_object_and_status_names():
    api = get_provider("openai").batch_api
    info = api.job({"id": "batch_1", "object": "batch", "status": "failed",
                    "request_counts": {"total": 3, "completed": 1, "failed": 2},
                    "output_file_id": "file-o", "error_file_id": "file-e", "created_at": 5,
                    "errors": {"object": "list", "data": [
                        {"code": "invalid_request", "line": 2, "message": "bad"}]},
                    "metadata": {"structmagic_job": "n-0"}})
    assert (info.status, info.total, info.completed, info.failed) == ("failed", 3, 1, 2)
    assert info.outputs == ("file-o", "file-e") and info.name == "n-0" and info.ended
    assert info.errors[0].line == 2 and info.errors[0].code == "invalid_request"
    assert api.result_urls("B", info) == ["B/files/file-o/content", "B/files/file-e/content"]
    for word in ("validating", "in_progress", "finalizing", "completed", "expired",
                 "cancelling", "cancelled"):
        assert api.job({"id": "b", "status": word}).status == word
    with pytest.raises(ValueError):
        api.job({"object": "error"})


@pytest.mark.parametrize(("line", "kind", "status"), [
    ({"custom_id": "a", "response": {"status_code": 200, "body": {"choices": []}},
      "error": None}, "succeeded", 200),
    ({"custom_id": "a", "response": {"status_code": 400, "body": {"error": {
        "message": "bad"}}}, "error": None}, "errored", 400),
    ({"custom_id": "a", "response": {"status_code": 0, "body": None}, "error": None},
     "errored", 0),
    ({"custom_id": "a", "response": None, "error": {"code": "batch_expired",
                                                    "message": "x"}}, "expired", None),
    ({"custom_id": "a", "response": None, "error": {"code": "batch_cancelled",
                                                    "message": "x"}}, "cancelled", None),
    ({"custom_id": "a", "response": {"status_code": 200, "body": {}},
      "error": {"code": "x", "message": "both"}}, "errored", 200),
    ({"custom_id": "a"}, "errored", None),
])
def test_batch_result_lines(line, kind, status):
    outcome = get_provider("openai").batch_api.outcome(line)
    assert (outcome.custom_id, outcome.kind, outcome.status) == ("a", kind, status)
    if kind == "errored" and status == 400:
        assert outcome.message == "bad"
