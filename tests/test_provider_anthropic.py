"""The Claude Messages provider: requests in every mode, answers and streams from
recorded-shape payloads (``tests/payloads/anthropic``), errors and rejections, its schema
policy, and requests sent to the loopback fake server.
"""

from __future__ import annotations

import json

import pytest

from structmagic.providers import get_provider
from structmagic.providers.base import Completion, Delta

from providers import anthropic, anthropic_error, anthropic_stream
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

A = get_provider("anthropic")
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
    assert A.extra_headers() == {"anthropic-version": "2023-06-01"}  # content-type: shared


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
            usage={"prompt_tokens": 412, "completion_tokens": 17, "total_tokens": 429,
                   "cached_tokens": 400})),
        ("thinking.json", Completion(
            text=json.dumps(ANSWER), finish="stop", model="claude-sonnet-4-5-20250929",
            reasoning="The user wants Paris's population. The latest INSEE census (2021) "
                      "gives 2,102,650 for the city proper.",
            usage={"prompt_tokens": 412, "completion_tokens": 210, "total_tokens": 622})),
        ("tool.json", Completion(
            text=json.dumps(ANSWER), finish="tool", model="claude-sonnet-4-5-20250929",
            usage={"prompt_tokens": 530, "completion_tokens": 54, "total_tokens": 584},
            called=True)),
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
    # each tool_use block is a call of its own, keyed by its index, apart from the text
    # (the Accumulator chooses the answer among the calls)
    assert t.feed("content_block_start", json.dumps(start)) == [Delta(call=0, name="city")]
    second = {"type": "content_block_delta", "index": 1,
              "delta": {"type": "input_json_delta", "partial_json": "{}"}}
    assert t.feed("content_block_delta", json.dumps(second)) == [Delta(tool="{}", call=1)]
    # a call whose input came in no piece is its start's input, at its stop
    assert t.feed("content_block_stop", '{"type": "content_block_stop", "index": 0}') == [
        Delta(tool="{}", call=0)]
    assert t.feed("content_block_stop", '{"type": "content_block_stop", "index": 1}') == []
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


# --- against the loopback fake server ---------------------------------------------------------


def test_anthropic_request_shape(server, settings):
    server.queue(anthropic(MATH_TEXT))
    res = ask_provider("anthropic")
    assert res.data == MATH_ANSWER and res.model == "claude-sonnet-4-5-20250929"
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


def test_anthropic_falls_back_to_a_forced_tool(server, settings):
    server.queue(anthropic_error(400, "output_config: Extra inputs are not permitted"),
                 anthropic(MATH_TEXT, tool=True, stop_reason="tool_use"))
    res = ask_provider("anthropic")
    assert res.data == MATH_ANSWER and res.mode == "tools"
    body = server.requests[1].json
    assert "output_config" not in body
    assert body["tools"][0]["input_schema"]["required"] == ["steps", "final_answer"]
    assert body["tool_choice"] == {"type": "tool", "name": "response"}


def test_anthropic_thinking_never_forces_a_tool(server, settings):
    server.queue(anthropic_error(400, "output_config: Extra inputs are not permitted"),
                 anthropic(MATH_TEXT, thinking="hmm"))
    res = ask_provider("anthropic", thinking=True)
    assert res.mode == "prompt"
    body = server.requests[1].json
    assert "tools" not in body and body["thinking"]["type"] == "enabled"
    assert "JSON Schema" in body["system"]


def test_anthropic_streamed_tool_input(server, settings):
    server.queue(anthropic_stream(MATH_TEXT, tool=True, stop_reason="tool_use"))
    assert ask_provider("anthropic", stream=True, mode="tools").data == MATH_ANSWER


@pytest.mark.parametrize(
    ("mode", "reply", "extra"),
    [
        ("json_schema", lambda: anthropic(CITY_TEXT), {
            "system": "Be brief.",
            "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}}),
        ("json_object", lambda: anthropic(CITY_TEXT), {"system": SYSTEM_WITH_SCHEMA}),
        ("tools", lambda: anthropic(CITY_TEXT, tool=True, stop_reason="tool_use"), {
            "system": "Be brief.",
            "tools": [{"name": "city", "description": DESCRIPTION, "input_schema": SCHEMA}],
            "tool_choice": {"type": "tool", "name": "city"}}),
    ],
)
def test_request_sent_in_every_mode(server, settings, mode, reply, extra):
    server.queue(reply())
    res = ask_city("anthropic", mode=mode)
    assert res.data == ANSWER and res.mode == mode
    (req,) = server.requests
    assert req.path == "/v1/messages"
    assert req.json == {
        "model": "m-1", "max_tokens": 99,
        "messages": [{"role": "user", "content": "Population of Paris?"}],
        "temperature": 0.5, **extra}
    assert req.headers["x-api-key"] == CANARY
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in req.headers


# --- cost facts ---------------------------------------------------------------------------------


def test_count_request_is_the_messages_body_without_answer_settings():
    p = get_provider("anthropic")
    call = make_call("tools", temperature=0.5, max_tokens=99, stream=True)
    url, body = p.count_request(call, BASE)
    assert url == f"{BASE}/messages/count_tokens"
    assert not {"max_tokens", "stream", "temperature"} & set(body)
    assert body["system"] == SYSTEM and body["tools"][0]["input_schema"] == SCHEMA
    assert body["tool_choice"] == {"type": "tool", "name": "city"}
    assert p.parse_count({"input_tokens": 1234}) == 1234
    with pytest.raises(ValueError):
        p.parse_count({"type": "error"})
    assert p.price_table_id == "anthropic" and p.batch_price_factor == 0.5


def test_cache_reads_and_writes_are_read():
    p = get_provider("anthropic")
    body = json.loads(anthropic('{"a": 1}').body)
    body["usage"] = {"input_tokens": 10, "cache_creation_input_tokens": 200,
                     "cache_read_input_tokens": 3000, "output_tokens": 5}
    assert p.parse(body).usage == {"prompt_tokens": 3210, "completion_tokens": 5,
                                   "total_tokens": 3215, "cached_tokens": 3000,
                                   "cache_write_tokens": 200}
# --- the batch API (pure) ------------------------------------------------------------------------


def test_message_batches_translations():
    api = get_provider("anthropic").batch_api
    assert json.loads(api.line("r0-00", "/messages", '{"model":"m"}')) == {
        "custom_id": "r0-00", "params": {"model": "m"}}
    assert api.inline_container("n") == (b'{"requests":[', b",", b"]}")
    assert api.create("B", endpoint="/messages", name="n", file_id=None) == (
        "B/messages/batches", None)
    assert api.limits.max_requests == 100_000 and not api.named
    running = api.job({"id": "msgbatch_1", "processing_status": "in_progress",
                       "request_counts": {"processing": 2, "succeeded": 0, "errored": 0,
                                          "canceled": 0, "expired": 0},
                       "created_at": "2024-08-20T18:37:24.100435Z"})
    assert (running.status, running.total, running.outputs) == ("in_progress", 2, ())
    assert running.created == pytest.approx(1724179044.100435)
    ended = api.job({"id": "msgbatch_1", "processing_status": "ended",
                     "request_counts": {"processing": 0, "succeeded": 1, "errored": 0,
                                        "canceled": 0, "expired": 1},
                     "results_url": "https://elsewhere/results"})
    assert ended.status == "expired" and ended.failed == 1
    assert api.result_urls("B", ended) == ["B/messages/batches/msgbatch_1/results"]
    cancelled = api.job({"id": "x", "processing_status": "ended",
                         "cancel_initiated_at": "2024-08-20T18:37:24Z"})
    assert cancelled.status == "cancelled"


def test_message_batches_result_lines():
    api = get_provider("anthropic").batch_api
    ok = api.outcome({"custom_id": "a", "result": {"type": "succeeded", "message": {
        "content": []}}})
    assert ok.kind == "succeeded" and ok.body == {"content": []}
    err = api.outcome({"custom_id": "a", "result": {"type": "errored", "error": {
        "type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}}})
    assert err.kind == "errored" and err.code == "invalid_request_error" and "bad" in err.message
    assert api.outcome({"custom_id": "a", "result": {"type": "canceled"}}).kind == "cancelled"
    assert api.outcome({"custom_id": "a", "result": {"type": "expired"}}).kind == "expired"
    with pytest.raises(ValueError):
        api.outcome({"custom_id": "a"})
