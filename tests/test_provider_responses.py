"""The OpenAI Responses API provider: requests in every mode, answers and streams from
recorded-shape payloads (``tests/payloads/responses``), errors and rejections, and requests
sent to the loopback fake server.
"""

from __future__ import annotations

import json

import pytest

from structmagic.providers import get_provider
from structmagic.providers.base import Completion, Delta

from providers import responses
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

R = get_provider("responses")
R_INPUT = [
    {"type": "message", "role": "user",
     "content": [{"type": "input_text", "text": "Population of Paris?"}]},
    {"type": "message", "role": "assistant",
     "content": [{"type": "output_text", "text": '{"city": "Paris"}'}]},
    {"type": "message", "role": "user",
     "content": [{"type": "input_text", "text": "That is missing 'population'."}]},
    {"type": "message", "role": "user",
     "content": [{"type": "input_text", "text": "Only the JSON, please."}]},
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
            usage={"prompt_tokens": 81, "completion_tokens": 19, "total_tokens": 100},
            called=True)),
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
    # parallel function calls: each its own pieces, keyed by item id, apart from the text
    # (the Accumulator chooses the answer among them)
    assert t.feed("", json.dumps({"type": "response.function_call_arguments.delta",
                                  "item_id": "fc_1", "delta": "{}"})) == [
        Delta(tool="{}", call="fc_1")]
    assert t.feed("", json.dumps({"type": "response.function_call_arguments.delta",
                                  "item_id": "fc_2", "delta": "{}"})) == [
        Delta(tool="{}", call="fc_2")]
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


# --- against the loopback fake server ---------------------------------------------------------


def test_responses_request_shape(server, settings):
    server.queue(responses(MATH_TEXT))
    res = ask_provider("responses", temperature=0, max_tokens=300)
    assert res.data == MATH_ANSWER and res.usage == {"prompt_tokens": 10, "completion_tokens": 20,
                                                "total_tokens": 30}
    req = server.requests[0]
    assert req.path == "/v1/responses"
    assert req.headers["authorization"] == f"Bearer {CANARY}"
    body = req.json
    assert body["instructions"] == "Be a tutor."
    assert body["input"] == [{"type": "message", "role": "user",
                              "content": [{"type": "input_text", "text": "9.11 or 9.8?"}]}]
    fmt = body["text"]["format"]
    assert (fmt["type"], fmt["name"], fmt["strict"]) == ("json_schema", "response", True)
    assert fmt["schema"]["required"] == ["steps", "final_answer"]
    assert (body["temperature"], body["max_output_tokens"]) == (0, 300)


@pytest.mark.parametrize(
    ("mode", "reply", "extra"),
    [
        ("json_schema", lambda: responses(CITY_TEXT), {
            "instructions": "Be brief.",
            "text": {"format": {"type": "json_schema", "name": "city",
                                "description": DESCRIPTION, "schema": SCHEMA,
                                "strict": True}}}),
        ("json_object", lambda: responses(CITY_TEXT), {
            "instructions": SYSTEM_WITH_SCHEMA,
            "text": {"format": {"type": "json_object"}}}),
        ("tools", lambda: responses(CITY_TEXT, tool=True), {
            "instructions": "Be brief.",
            "tools": [{"type": "function", "name": "city", "description": DESCRIPTION,
                       "parameters": SCHEMA, "strict": True}],
            "tool_choice": {"type": "function", "name": "city"}}),
    ],
)
def test_request_sent_in_every_mode(server, settings, mode, reply, extra):
    server.queue(reply())
    res = ask_city("responses", mode=mode)
    assert res.data == ANSWER and res.mode == mode
    (req,) = server.requests
    assert req.path == "/v1/responses"
    assert req.json == {
        "model": "m-1",
        "input": [{"type": "message", "role": "user",
                   "content": [{"type": "input_text", "text": "Population of Paris?"}]}],
        "temperature": 0.5, "max_output_tokens": 99, **extra}


def test_the_reask_sends_typed_items_with_the_previous_answer(server, settings):
    bad = '{"city": "Paris"}'
    server.queue(responses(bad), responses(CITY_TEXT))
    assert ask_city("responses").data == ANSWER
    items = server.requests[1].json["input"]
    assert items[1] == {"type": "message", "role": "assistant",
                        "content": [{"type": "output_text", "text": bad}]}
    assert items[2]["type"] == "message" and items[2]["role"] == "user"
    assert items[2]["content"][0]["type"] == "input_text"
    assert "'population' is a required property" in items[2]["content"][0]["text"]


# --- cost facts ---------------------------------------------------------------------------------


def test_count_request_is_the_body_without_answer_settings():
    p = get_provider("responses")
    call = make_call("json_schema", temperature=0.5, max_tokens=99, stream=True)
    url, body = p.count_request(call, BASE)
    assert url == f"{BASE}/responses/input_tokens"
    _, sent = p.build(call, BASE)
    assert body == {k: v for k, v in sent.items()
                    if k not in ("stream", "max_output_tokens", "temperature")}
    assert body["text"]["format"]["schema"] == SCHEMA and body["instructions"] == SYSTEM
    assert p.parse_count({"object": "response.input_tokens", "input_tokens": 321}) == 321
    for bad in ({}, {"input_tokens": -1}, {"input_tokens": True}, [], {"input_tokens": "3"}):
        with pytest.raises(ValueError):
            p.parse_count(bad)
    assert p.price_table_id == "openai" and p.batch_price_factor == 0.5


def test_cached_input_tokens_are_read():
    p = get_provider("responses")
    body = json.loads(responses('{"a": 1}').body)
    body["usage"]["input_tokens_details"] = {"cached_tokens": 7}
    assert p.parse(body).usage["cached_tokens"] == 7
# --- the batch API (pure) ------------------------------------------------------------------------


def test_responses_batch_lines_name_the_responses_endpoint():
    from structmagic.providers.base import Call

    provider = get_provider("responses")
    url, _ = provider.build(Call(model="m", messages=({"role": "user", "content": "x"},),
                                 schema_name="s", schema={"type": "object"}, strict=True),
                            "http://h/v1")
    assert provider.batch_api.endpoint(url, "http://h/v1") == "/v1/responses"
