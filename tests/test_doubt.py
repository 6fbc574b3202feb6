"""Knowing which values to doubt: ``samples=K`` (one request with ``n`` or K requests, the
per-field majority, ``Result.agreement``), ``Result.doubt`` and its formula, the ``doubt``
column of ``--each``, and re-running only the rows that need it (``--only``,
``structmagic.rerun``), against the loopback fake server."""

from __future__ import annotations

import json
from typing import Any

import pytest

import structmagic as sm
from structmagic.call.doubt import REASK_DOUBT, doubt_of
from structmagic.cost.price import Price
from structmagic.grounding import Grounding

from fakeserver import CREATED, Reply, chat
from providers import responses

SCHEMA = {
    "type": "object",
    "properties": {"x": {"type": "integer"}, "y": {"type": "string"},
                   "z": {"type": "string"}},
    "required": ["x", "y", "z"],
    "additionalProperties": False,
}


def choices(*answers: Any, usage: tuple[int, int] = (10, 40)) -> Reply:
    """One ``chat.completion`` with a choice per answer (``n`` > 1)."""
    return Reply.json({
        "id": "chatcmpl-n", "object": "chat.completion", "created": CREATED,
        "model": "fake-model",
        "choices": [{"index": i, "message": {"role": "assistant",
                                             "content": a if isinstance(a, str)
                                             else json.dumps(a)},
                     "logprobs": None, "finish_reason": "stop"}
                    for i, a in enumerate(answers)],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                  "total_tokens": sum(usage)}})


A = {"x": 1, "y": "a", "z": "p"}
B = {"x": 2, "y": "b", "z": "p"}
C = {"x": 2, "y": "a", "z": "q"}
D = {"x": 3, "y": "a", "z": "p"}


# --- samples -----------------------------------------------------------------------------------


def test_one_request_with_n_and_the_per_field_majority(server, settings):
    server.queue(choices(A, B, C, D))
    res = sm.structured("x", SCHEMA, samples=4)
    (req,) = server.requests
    assert req.json["n"] == 4
    # x: 2 has two votes of four; y: a three; z: p three -- a value no single sample gave
    assert res.data == {"x": 2, "y": "a", "z": "p"}
    assert res.agreement == {"x": 0.5, "y": 0.75, "z": 0.75}
    assert res.samples == 4 and res.attempts == 1
    assert res.usage["prompt_tokens"] == 10 and res.usage["completion_tokens"] == 40
    assert res.doubt == pytest.approx(0.5)
    assert json.loads(res.raw) == res.data


def test_a_server_that_ignores_n_is_asked_again_for_the_rest(server, settings):
    server.queue(choices(A), choices(A), choices(B))
    res = sm.structured("x", SCHEMA, samples=3)
    assert [r.json.get("n") for r in server.requests] == [3, 2, None]
    assert res.data == A and res.agreement == {"x": 2 / 3, "y": 2 / 3, "z": 1.0}
    assert res.attempts == 3 and res.usage["prompt_tokens"] == 30


def test_formats_without_n_make_k_requests(server, settings):
    server.queue(*(responses(json.dumps(v)) for v in (A, A, D)))
    res = sm.structured("x", SCHEMA, samples=3, provider="responses")
    assert len(server.requests) == 3 and all("n" not in r.json for r in server.requests)
    assert res.data == A and res.agreement == {"x": 2 / 3, "y": 1.0, "z": 1.0}


def test_an_invalid_sample_agrees_with_nothing(server, settings):
    # the request's second answer does not match the schema: one more request is made
    server.queue(choices(A, '{"x": "nope"}'), choices(A))
    res = sm.structured("x", SCHEMA, samples=2)
    assert [r.json.get("n") for r in server.requests] == [2, None]
    assert res.agreement == {"x": 1.0, "y": 1.0, "z": 1.0}


def test_a_sample_that_fails_counts_against(server, settings):
    server.queue(choices(A), Reply.status(400, "bad request"), )
    res = sm.structured("x", SCHEMA, samples=2, retries=0)
    assert res.ok and res.data == A and res.agreement == {"x": 0.5, "y": 0.5, "z": 0.5}
    assert res.attempts == 2


def test_all_samples_failing_raise_with_every_attempt(server, settings):
    server.queue(Reply.status(400, "bad request"), Reply.status(400, "bad request"))
    with pytest.raises(sm.StructuredError) as info:
        sm.structured("x", SCHEMA, samples=2, retries=0)
    assert info.value.attempts == 2


def test_samples_cost_every_request(server, settings):
    prices = {"test-model": Price(input=1.0, output=2.0)}
    server.queue(choices(A), choices(A))
    res = sm.structured("x", SCHEMA, samples=2, prices=prices)
    # two requests, each 10 input and 40 output tokens, at $1 / $2 per million
    assert res.cost == pytest.approx(2 * (10 * 1.0 + 40 * 2.0) / 1e6)


# --- doubt ---------------------------------------------------------------------------------------


def test_doubt_is_the_strongest_reason():
    assert doubt_of() == 0.0
    assert doubt_of(failed=True) == 1.0
    assert doubt_of(confidence={"a": 0.9, "b": 0.3}) == pytest.approx(0.7)
    assert doubt_of(agreement={"a": 0.5}, confidence={"a": 0.9}) == pytest.approx(0.5)
    assert doubt_of(reasks=1) == REASK_DOUBT
    found = Grounding("exact", 0, 1, text="x", score=1.0, value="x")
    missing = Grounding("ungrounded", value="y")
    skipped = Grounding("not_applicable", value=True)
    assert doubt_of(grounding={"a": found, "b": missing, "c": missing, "d": skipped}
                    ) == pytest.approx(2 / 3)
    assert doubt_of(confidence={"a": 0.99}, reasks=2) == REASK_DOUBT
