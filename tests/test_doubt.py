"""Knowing which values to doubt: ``samples=K`` (one request with ``n`` or K requests, the
per-field majority, ``Result.agreement``), ``Result.doubt`` and its formula, the ``doubt``
column of ``--each``, and re-running only the rows that need it (``--only``,
``structmagic.rerun``), against the loopback fake server."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from IPython.core.error import UsageError

import structmagic as sm
from structmagic.call.doubt import REASK_DOUBT, doubt_of
from structmagic.cost.price import Price
from structmagic.grounding import Grounding

from batch_helpers import SCHEMA as BATCH_SCHEMA
from batch_helpers import Faults, prompt_number
from fakeserver import CREATED, Reply
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


# --- the doubt column, the bar's last line ---------------------------------------------------


def test_each_with_confidence_adds_a_doubt_column_and_counts_doubtful_rows(ip, server,
                                                                            settings, capfd):
    pd = pytest.importorskip("pandas")
    text = json.dumps({"n": 1, "label": "x"})

    def respond(req):
        k = prompt_number(req)
        # row k's tokens: one token of the whole answer with log-probability -k/4
        return Reply.json({
            "id": "c", "object": "chat.completion", "created": CREATED, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": {"content": [{"token": text, "logprob": -k / 4,
                                                   "bytes": list(text.encode())}]},
                         "finish_reason": "stop"}]})

    server.responder = respond
    ip.user_ns.update(schema=BATCH_SCHEMA, s=pd.Series([0, 1, 2, 3, 4], index=list("abcde")))
    res = ip.run_cell("%%structured schema --each s -o out --confidence\nitem {item}",
                      store_history=False)
    assert res.success, res.error_in_exec
    assert all(r.json["logprobs"] is True for r in server.requests)
    out = ip.user_ns["out"]
    assert list(out.columns) == ["n", "label", "error", "cost", "doubt"]
    # one token holds every value: each field's confidence is exp(-k/4)
    want = [1 - math.exp(-k / 4) for k in range(5)]
    assert out["doubt"].tolist() == pytest.approx(want)
    assert list(out.sort_values("doubt", ascending=False).index) == list("edcba")
    above = sum(d > 0.5 for d in want)
    assert f"{above} doubtful (doubt > 0.5)" in capfd.readouterr().out


def test_each_without_doubt_signals_adds_nothing(ip, server, settings, capfd):
    pd = pytest.importorskip("pandas")
    server.responder = Faults()
    ip.user_ns.update(schema=BATCH_SCHEMA, s=pd.Series([0, 1]))
    assert ip.run_cell("%%structured schema --each s -o out\nitem {item}",
                       store_history=False).success
    assert "doubt" not in ip.user_ns["out"].columns
    assert "doubtful" not in capfd.readouterr().out


# --- re-running only the rows that need it ---------------------------------------------------


def test_only_failed_sends_exactly_those_rows_and_keeps_the_others(ip, server, settings,
                                                                   capfd):
    pd = pytest.importorskip("pandas")
    n = 1000
    labels = [f"r{(i * 7919) % n:04d}" for i in range(n)]  # an index that is not 0..n-1
    column = pd.Series(list(range(n)), index=labels)
    failing = {k for k in range(n) if k % 10 == 3}
    server.responder = Faults(always={k: Reply.status(400, "no") for k in failing})
    ip.user_ns.update(schema=BATCH_SCHEMA, col=column)
    assert ip.run_cell("%%structured schema --each col -o out --retries 0 --quiet\n"
                       "item {item}", store_history=False).success
    out = ip.user_ns["out"]
    assert out["error"].notna().sum() == 100 and len(server.requests) == n
    before = out.copy()
    server.reset()
    server.responder = Faults()  # now every row answers
    assert ip.run_cell("%%structured schema --each col -o out --only failed --retries 0\n"
                       "item {item}", store_history=False).success
    assert len(server.requests) == 100
    assert sorted(prompt_number(r) for r in server.requests) == sorted(failing)
    assert ip.user_ns["out"] is out  # written in place
    assert list(out.index) == labels
    kept = [k not in failing for k in range(n)]
    pd.testing.assert_frame_equal(out[kept], before[kept])
    redone = out[[not k for k in kept]]
    assert redone["error"].isna().all()
    assert redone["n"].tolist() == sorted(failing)
    assert "re-ran 100 failed of 1000 rows of out" in capfd.readouterr().out
    # nothing left to re-run: nothing is sent
    server.reset()
    assert ip.run_cell("%%structured schema --each col -o out --only failed\nitem {item}",
                       store_history=False).success
    assert server.requests == []


def test_only_doubtful_reruns_with_a_stronger_model(ip, server, settings):
    pd = pytest.importorskip("pandas")
    server.queue(choices({"n": 1, "label": "a"}, {"n": 1, "label": "a"}),
                 choices({"n": 2, "label": "b"}, {"n": 3, "label": "c"}))
    ip.user_ns.update(schema=BATCH_SCHEMA, s=pd.Series(["p", "q"], index=[10, 20]))
    assert ip.run_cell("%%structured schema --each s -o out --samples 2 --concurrency 1 "
                       "--quiet\n{item}", store_history=False).success
    out = ip.user_ns["out"]
    assert out["doubt"].tolist() == [0.0, 0.5]
    server.queue(choices({"n": 3, "label": "c"}, {"n": 3, "label": "c"}))
    assert ip.run_cell("%%structured schema --each s -o out --samples 2 --only doubtful "
                       "--doubt-above 0.4 --model bigger-model --quiet\n{item}",
                       store_history=False).success
    (req,) = server.requests[2:]
    assert req.json["model"] == "bigger-model" and req.json["messages"][-1]["content"] == "q"
    assert out.loc[20, "label"] == "c" and out.loc[20, "doubt"] == 0.0
    assert out.loc[10, "label"] == "a"


def test_only_needs_the_previous_column(ip, server, settings):
    pd = pytest.importorskip("pandas")
    ip.user_ns.update(schema=BATCH_SCHEMA, s=pd.Series([0, 1]), t=pd.Series([0]))
    with pytest.raises(UsageError, match="--each VAR -o NAME"):
        ip.run_cell("%%structured schema --each s --only failed\n{item}",
                    store_history=False).raise_error()
    with pytest.raises(UsageError, match="holds nothing"):
        ip.run_cell("%%structured schema --each s -o nope --only failed\n{item}",
                    store_history=False).raise_error()
    server.responder = Faults()
    assert ip.run_cell("%%structured schema --each s -o out --quiet\nitem {item}",
                       store_history=False).success
    with pytest.raises(UsageError, match="out has 2 rows and t has 1"):
        ip.run_cell("%%structured schema --each t -o out --only failed\n{item}",
                    store_history=False).raise_error()
    ip.user_ns["values"] = [1, 2]
    with pytest.raises(UsageError, match="holds a list"):
        ip.run_cell("%%structured schema --each s -o values --only failed\n{item}",
                    store_history=False).raise_error()
    with pytest.raises(UsageError, match="from 0 to 1"):
        ip.run_cell("%%structured schema --each s -o out --doubt-above 2\n{item}",
                    store_history=False).raise_error()
    assert len(server.requests) == 2


def test_rerun_in_python(server, settings):
    server.responder = Faults(always={1: Reply.status(400, "no")})
    prompts = ["item 0", "item 1", "item 2"]
    results = sm.batch(prompts, BATCH_SCHEMA, retries=0)
    assert [r.ok for r in results] == [True, False, True]
    server.reset()
    server.responder = Faults()
    again = sm.rerun(results, prompts, BATCH_SCHEMA, only="failed", model="other-model")
    assert [prompt_number(r) for r in server.requests] == [1]
    assert server.requests[0].json["model"] == "other-model"
    assert again[0] is results[0] and again[2] is results[2] and again[1].ok
    with pytest.raises(sm.InputError, match="2 rows for 3 results"):
        sm.rerun(results, prompts[:2], BATCH_SCHEMA)
    with pytest.raises(sm.InputError, match="only must be one of"):
        sm.rerun(results, prompts, BATCH_SCHEMA, only="slow")
    with pytest.raises(sm.InputError, match="needs the results of a run"):
        sm.rerun([1, 2, 3], prompts, BATCH_SCHEMA)


def test_update_frame_widens_a_column_that_cannot_hold_the_new_value():
    pd = pytest.importorskip("pandas")
    from structmagic.rows.frame import results_frame
    from structmagic.rows.rerun import update_frame

    old = [sm.Result(data={"n": k, "label": "x"}, plain={"n": k, "label": "x"})
           for k in range(3)]
    frame = results_frame(old, ["a", "b", "c"], ["n", "label"])
    frame["mine"] = [7, 8, 9]  # the user's own column
    assert frame["n"].dtype == "int64"
    failed = sm.Result(error=sm.RefusalError("no"))
    update_frame(frame, [old[0], failed, old[2]], ["a", "b", "c"], ["n", "label"], [1])
    assert frame["n"].tolist()[0] == 0 and frame["n"].tolist()[2] == 2
    assert pd.isna(frame.loc["b", "n"]) and frame.loc["b", "error"].startswith("RefusalError")
    assert frame["mine"].tolist() == [7, 8, 9]
    assert sm.grounding_frame(frame).empty  # remembered with its new results


def test_extractor_adds_a_doubt_column_with_samples(server, settings):
    pd = pytest.importorskip("pandas")
    server.queue(choices({"n": 0, "label": "a"}, {"n": 0, "label": "b"}))
    ex = sm.Extractor(BATCH_SCHEMA, "item {k}", samples=2)
    assert ex.columns()[-1] == "doubt" and ex.meta()["doubt"].dtype == "float64"
    assert ex.spark_schema().endswith("`doubt` DOUBLE")
    out = ex(pd.DataFrame({"k": [0]}, index=["r"]))
    assert server.requests[0].json["n"] == 2
    assert out.loc["r", "doubt"] == 0.5 and out.loc["r", "label"] == "a"
    assert "doubt" not in sm.Extractor(BATCH_SCHEMA, "item {k}").columns()


# --- samples in the estimate, the batch API ---------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "responses"])
def test_the_estimate_counts_every_sample(server, settings, provider):
    sm.configure(prices={"test-model": (1, 2)})
    try:
        prompts = [f"item {k}: some words to count" for k in range(20)]
        one = sm.estimate(prompts, BATCH_SCHEMA, provider=provider)
        three = sm.estimate(prompts, BATCH_SCHEMA, provider=provider, samples=3)
    finally:
        sm.configure(prices=None)
    assert server.requests == []
    # Chat Completions asks for the three in one request (n=3): the input once
    requests = 1 if provider == "openai" else 3
    # (the request that asks for n=3 is a few tokens longer: it says so)
    assert three.input_tokens.expected == pytest.approx(one.input_tokens.expected * requests,
                                                        rel=0.03)
    assert three.output_tokens.expected == pytest.approx(one.output_tokens.expected * 3)
    assert three.cost.expected > one.cost.expected
    assert "samples=3" in three.text()


def test_samples_do_not_go_through_a_batch_job(server, settings):
    with pytest.raises(sm.ConfigError, match="samples"):
        sm.batch(["item 0"], BATCH_SCHEMA, samples=2, via="batch-api")
    assert server.requests == []


@pytest.mark.parametrize("provider", ["openai", "responses"])
def test_a_budget_reserves_every_sample(settings, provider):
    from structmagic.config import resolve
    from structmagic.rows.budget import ItemEstimator

    def first_guess(samples: int) -> tuple[float, float]:
        chosen = resolve({"provider": provider, "samples": samples, "max_tokens": 100,
                          "prices": {"test-model": (1, 2)}})
        return ItemEstimator(["item 0"], sm.load_schema(BATCH_SCHEMA), chosen).learned()

    ratio_1, out_1 = first_guess(1)
    ratio_3, out_3 = first_guess(3)
    assert out_1 == 100 and out_3 == 300
    assert ratio_3 == ratio_1 * (1 if provider == "openai" else 3)


# --- models that disagree ------------------------------------------------------------------


def test_a_comparison_gives_each_answer_the_models_agreement(server, settings):
    def by_model(req):
        answer = {"m1": A, "m2": B, "m3": A}[req.json["model"]]
        return Reply.json({"id": "c", "object": "chat.completion", "created": CREATED,
                           "model": req.json["model"],
                           "choices": [{"index": 0, "message": {
                               "role": "assistant", "content": json.dumps(answer)},
                               "finish_reason": "stop"}]})

    server.responder = by_model
    cmp = sm.compare("x", SCHEMA, "m1,m2,m3")
    assert cmp.results["m1"].agreement == {"x": 2 / 3, "y": 2 / 3, "z": 1.0}
    assert cmp.results["m2"].agreement == {"x": 1 / 3, "y": 1 / 3, "z": 1.0}
    assert cmp.results["m2"].doubt == pytest.approx(2 / 3)
    column = sm.compare_each(["a", "b"], SCHEMA, "m1,m2,m3")
    assert [r.agreement["x"] for r in column.results["m3"]] == [2 / 3, 2 / 3]


def test_streamed_samples_in_one_request_keep_their_answers_apart(server, settings):
    from fakeserver import sse_event

    a, b = json.dumps(A), json.dumps(B)
    events = []
    for i in range(0, max(len(a), len(b)), 5):  # the two answers' pieces interleaved
        for index, text in ((0, a), (1, b)):
            if text[i:i + 5]:
                events.append(sse_event({
                    "id": "c", "object": "chat.completion.chunk", "created": CREATED,
                    "model": "m", "choices": [{"index": index, "delta": {
                        "content": text[i:i + 5]}, "finish_reason": None}]}))
    events.append(sse_event({"id": "c", "object": "chat.completion.chunk", "created": CREATED,
                             "model": "m", "choices": [
                                 {"index": 0, "delta": {}, "finish_reason": "stop"},
                                 {"index": 1, "delta": {}, "finish_reason": "stop"}]}))
    events.append("data: [DONE]\n\n")
    server.queue(Reply.sse(events))
    seen: list[Any] = []
    res = sm.structured("x", SCHEMA, samples=2, stream=True, on_partial=seen.append)
    assert server.requests[0].json["n"] == 2 and server.requests[0].json["stream"] is True
    assert res.agreement == {"x": 0.5, "y": 0.5, "z": 1.0}
    assert res.data == A  # the first of two equals
    # what streamed live was the first answer alone, each partial a prefix of it
    assert seen and all(set(p.items()) <= set(A.items()) for p in seen if isinstance(p, dict))


def test_a_field_called_doubt_keeps_its_name():
    pytest.importorskip("pandas")
    from structmagic.rows.frame import results_frame

    answer = {"doubt": "the reader's own", "n": 1}
    res = sm.Result(data=answer, plain=answer, confidence={"doubt": 0.9, "n": 0.2})
    frame = results_frame([res], ["a"], ["doubt", "n"])
    assert list(frame.columns) == ["doubt", "n", "error", "cost", "row_doubt"]
    assert frame.loc["a", "doubt"] == "the reader's own"
    assert frame.loc["a", "row_doubt"] == pytest.approx(0.8)
