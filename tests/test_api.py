"""structured() end to end against the loopback fake server: what is sent, what comes back."""

from __future__ import annotations

import json

import pytest

import structmagic as sm

from fakeserver import Reply, chat, chat_stream
from schema_corpus import MATH as MATH_REASONING

MATH = MATH_REASONING["json_schema"]["schema"]
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "math_reasoning", "schema": MATH, "strict": True},
}
ANSWER = {
    "steps": [
        {"explanation": "Compare the integer parts: both are 9.", "output": "9 = 9"},
        {"explanation": "Compare tenths: 1 < 8.", "output": "0.1 < 0.8"},
    ],
    "final_answer": "9.8 is larger than 9.11",
}


def test_posts_chat_completion_with_strict_schema(server, settings):
    server.queue(chat(json.dumps(ANSWER), usage=(12, 34)))
    res = sm.structured("9.11和9.8谁大", RESPONSE_FORMAT, system="You are a helpful math tutor.")
    assert res.data == ANSWER
    assert res.plain == ANSWER
    assert json.loads(res.raw) == ANSWER
    assert res.usage == {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}
    assert res.attempts == 1
    assert res.model == "fake-model"
    assert res.elapsed > 0
    assert res.schema_name == "math_reasoning"
    (req,) = server.requests
    assert req.method == "POST"
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-canary-7f3e9b2c1d4aZQ"
    body = req.json
    assert body["model"] == "test-model"
    assert body["messages"] == [
        {"role": "system", "content": "You are a helpful math tutor."},
        {"role": "user", "content": "9.11和9.8谁大"},
    ]
    assert body["response_format"] == RESPONSE_FORMAT
    assert "stream" not in body


def test_bare_schema_and_json_schema_object_are_accepted(server, settings):
    server.queue(chat(json.dumps(ANSWER)), chat(json.dumps(ANSWER)))
    assert sm.structured("q", MATH).data == ANSWER
    assert sm.structured("q", RESPONSE_FORMAT["json_schema"]).data == ANSWER
    first, second = (r.json["response_format"]["json_schema"] for r in server.requests)
    assert first["strict"] is True and first["schema"]["required"] == ["steps", "final_answer"]
    assert second["name"] == "math_reasoning"


def test_options_are_sent(server, settings):
    server.queue(chat(json.dumps(ANSWER)))
    sm.structured("q", MATH, model="other", temperature=0.2, max_tokens=99)
    body = server.requests[0].json
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("other", 0.2, 99)


def test_stream_gives_prefix_consistent_partials(server, settings):
    server.queue(chat_stream(json.dumps(ANSWER), piece_size=5, reasoning="Let me think."))
    seen = []
    res = sm.structured("q", MATH, stream=True, on_partial=seen.append)
    assert res.data == ANSWER
    assert res.reasoning == "Let me think."
    assert res.usage["total_tokens"] == 30
    assert len(seen) >= 1
    body = server.requests[0].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    for partial in seen:
        assert isinstance(partial, dict)
        for k, v in partial.items():
            if k == "steps":
                assert len(v) <= 2


def test_validation_failure_is_reasked_then_reported(server, settings):
    bad = {"steps": [{"explanation": "x"}], "final_answer": 3}
    server.queue(chat(json.dumps(bad)), chat(json.dumps(bad)))
    with pytest.raises(sm.InvalidOutputError) as info:
        sm.structured("q", MATH)
    paths = {issue.path for issue in info.value.errors}
    assert "$.final_answer" in paths
    assert any(p.startswith("$.steps[0]") for p in paths)
    assert len(server.requests) == 2
    reask = server.requests[1].json["messages"]
    assert reask[-2]["role"] == "assistant" and reask[-1]["role"] == "user"
    assert "$.final_answer" in reask[-1]["content"]


def test_reask_recovers(server, settings):
    server.queue(chat("not json at all"), chat(json.dumps(ANSWER), usage=(1, 2)))
    res = sm.structured("q", MATH)
    assert res.data == ANSWER
    assert res.attempts == 2
    assert res.usage["total_tokens"] == 33


def test_fenced_answer_is_recovered(server, settings):
    server.queue(chat("Here you go:\n```json\n" + json.dumps(ANSWER) + "\n```\nBye"))
    assert sm.structured("q", MATH).data == ANSWER


def test_refusal_and_truncation(server, settings):
    server.queue(chat(None, refusal="I can't help with that."))
    with pytest.raises(sm.RefusalError) as info:
        sm.structured("q", MATH)
    assert info.value.refusal == "I can't help with that."
    server.queue(chat('{"steps": [', finish_reason="length"))
    with pytest.raises(sm.TruncatedError, match="max-tokens"):
        sm.structured("q", MATH)
    assert len(server.requests) == 2  # neither retried


@pytest.mark.parametrize(
    ("status", "cls"),
    [(401, sm.AuthenticationError), (404, sm.BadRequestError), (400, sm.BadRequestError)],
)
def test_http_errors_map_to_classes(server, settings, status, cls):
    server.queue(Reply.status(status, "something is wrong here"))
    with pytest.raises(cls) as info:
        sm.structured("q", MATH, mode="json_schema")
    assert info.value.status == status
    assert "something is wrong here" in str(info.value)
    assert len(server.requests) == 1


def test_server_error_is_retried(server, settings):
    server.queue(Reply.status(503, "busy"), chat(json.dumps(ANSWER)))
    res = sm.structured("q", MATH, retries=2)
    assert res.attempts == 2


def test_base_url_without_path_gets_v1(server, settings):
    server.queue(chat(json.dumps(ANSWER)))
    sm.structured("q", MATH, base_url=server.url)
    assert server.requests[0].path == "/v1/chat/completions"


def test_labels_come_from_titles_and_the_labels_option(server, settings):
    schema = {"type": "object", "properties": {
        "final_answer": {"type": "string", "title": "The answer"},
        "score": {"type": "integer"}}, "required": ["final_answer", "score"],
        "additionalProperties": False}
    server.queue(chat('{"final_answer": "9.8", "score": 3}'),
                 chat('{"final_answer": "9.8", "score": 3}'))
    res = sm.structured("q", schema)
    assert res.labels == {"final_answer": "The answer"}
    assert ">The answer<" in res._repr_html_()
    res = sm.structured("q", schema, labels={"score": "Points"})
    assert res.labels == {"final_answer": "The answer", "score": "Points"}
    assert ">Points<" in res._repr_html_()
