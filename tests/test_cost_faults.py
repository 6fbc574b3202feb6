"""Cost accounting under odd input: a prompt the budget cannot count, a price with a missing
half, a recursive schema. Each is a structmagic error, or a figure, never a raw exception."""

from __future__ import annotations

import json

import pytest

import structmagic as sm

from batch_helpers import SCHEMA, Faults

pytestmark = pytest.mark.timeout(60)


def _deep_prompt(depth: int = 5000) -> list[dict]:
    """Chat messages whose content nests deeper than any request can be encoded."""
    deep: list = []
    inner = deep
    for _ in range(depth):
        inner.append([])
        inner = inner[0]
    return [{"role": "user", "content": [{"type": "text", "text": "item 0"},
                                         {"type": "x", "v": deep}]}]


@pytest.mark.parametrize("cap", (None, 1.0))
def test_a_prompt_nested_too_deep_fails_alone_with_or_without_a_cap(server, settings, cap):
    server.responder = Faults()
    results = sm.batch([_deep_prompt(), "item 1", 7], SCHEMA, max_cost=cap,
                       prices={"test-model": (1.0, 1.0)})
    assert isinstance(results[0].error, sm.InputError)
    assert "too deep" in str(results[0].error)
    assert isinstance(results[2].error, sm.InputError)  # not a prompt at all
    assert results[1].data == {"n": 1, "label": "item 1"}
    assert len(server.requests) == 1  # only the good row was sent


@pytest.mark.parametrize("price", [(None, 1), (1, None), {"input": None, "output": 2},
                                   {"input": 1, "output": None, "cached_input": 0.1}])
def test_a_price_without_its_input_or_output_is_a_config_error(settings, price):
    from structmagic.cost.price import parse_price

    with pytest.raises(ValueError, match="needs both input and output"):
        parse_price("m", price)
    with pytest.raises(sm.ConfigError, match="needs both input and output"):
        sm.configure(prices={"m": price})
    with pytest.raises(sm.ConfigError, match="needs both input and output"):
        sm.structured("item 1", SCHEMA, prices={"m": price})


def test_a_price_may_leave_its_optional_parts_none(settings):
    from structmagic.cost.price import parse_price

    price = parse_price("m", {"input": 1, "output": 2, "cached_input": None})
    assert (price.input, price.output, price.cached_input) == (1.0, 2.0, None)


def _self_referencing(k: int) -> dict:
    props = {f"p{i}": {"$ref": "#/$defs/N"} for i in range(k)}
    return {"$defs": {"N": {"type": "object", "properties": props}}, "$ref": "#/$defs/N"}


def test_answer_tokens_of_a_recursive_schema_is_quick_and_unchanged():
    import time

    from structmagic.cost.tokens import answer_tokens

    # the figures of the unmemoised walk (it took 0.08 s and 0.3 s for these)
    assert answer_tokens(_self_referencing(6)) == (2, 289262)
    assert answer_tokens(_self_referencing(8)) == (2, 1535410)
    started = time.perf_counter()
    assert answer_tokens(_self_referencing(12)) == (2, 16558634)  # took 2.8 s
    wide = _self_referencing(40)
    wide["$defs"]["M"] = {"type": "array", "items": {"anyOf": [
        {"$ref": "#/$defs/N"}, {"$ref": "#/$defs/M"}]}}
    wide["$defs"]["N"]["properties"]["more"] = {"$ref": "#/$defs/M"}
    low, typical = answer_tokens(wide)
    assert 1 <= low <= typical
    cyclic: dict = {"type": "object", "properties": {}}
    cyclic["properties"] = {f"p{i}": cyclic for i in range(12)}  # a Python cycle, no $ref
    assert answer_tokens(cyclic)[1] > 0
    assert time.perf_counter() - started < 1.0


# --- usage a relay gets wrong ------------------------------------------------------------------

#: token counts no server can mean: too many for a float, negative, not whole numbers
BAD_COUNTS = [10**400, -5, True, 2.5, float("nan"), float("inf")]
BAD_IDS = ["10^400", "negative", "bool", "fraction", "nan", "inf"]
PRICED = {"prices": {"test-model": (1.0, 2.0)}}


def _answer(provider: str, stream: bool, usage: tuple) -> object:
    from fakeserver import chat, chat_stream
    from providers import (
        anthropic,
        anthropic_stream,
        gemini,
        gemini_stream,
        responses,
        responses_stream,
    )

    text = '{"n": 1, "label": "item 1"}'
    make = {("openai", False): chat, ("openai", True): chat_stream,
            ("responses", False): responses, ("responses", True): responses_stream,
            ("anthropic", False): anthropic, ("anthropic", True): anthropic_stream,
            ("gemini", False): gemini, ("gemini", True): gemini_stream}[provider, stream]
    return make(text, usage=usage)


@pytest.mark.parametrize("bad", BAD_COUNTS, ids=BAD_IDS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", ["openai", "responses", "anthropic", "gemini"])
def test_usage_not_understood_makes_the_cost_unknown(server, settings, provider, stream, bad):
    from structmagic.cost.calc import result_spend

    server.queue(_answer(provider, stream, (bad, 20)))
    res = sm.structured("item 1", SCHEMA, provider=provider, stream=stream, **PRICED)
    assert res.data == {"n": 1, "label": "item 1"}
    assert res.usage == {"not_understood": 1}  # no count of it is kept, none made up
    assert res.cost is None
    assert result_spend(res) == "usage not understood"
    repr(res), res._repr_html_()


@pytest.mark.parametrize("usage", [
    {"prompt_tokens": 10, "completion_tokens": "20", "total_tokens": 30},
    {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 10**400},
    {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30,
     "prompt_tokens_details": {"cached_tokens": -1}},
    {"prompt_tokens": 10, "completion_tokens": 10**12},
], ids=["string", "total", "cached", "absurd"])
def test_any_count_not_understood_makes_the_whole_usage_unknown(server, settings, usage):
    from fakeserver import Reply, chat

    body = json.loads(chat('{"n": 1, "label": "item 1"}').body)
    body["usage"] = usage
    server.queue(Reply.json(body))
    res = sm.structured("item 1", SCHEMA, **PRICED)
    assert res.usage == {"not_understood": 1} and res.cost is None


def test_a_batch_keeps_every_result_when_one_answers_absurd_usage(server, settings):
    from batch_helpers import prompt_number
    from fakeserver import chat

    def respond(req):
        k = prompt_number(req)
        return chat(json.dumps({"n": k, "label": f"item {k}"}),
                    usage=(10**400 if k == 1 else 1000, 1000))

    server.responder = respond
    results = sm.batch([f"item {k}" for k in range(3)], SCHEMA, **PRICED)
    assert [r.data["n"] for r in results] == [0, 1, 2]
    assert [r.cost for r in results] == [pytest.approx(0.003), None, pytest.approx(0.003)]
    # and under a cap: the item's cost is unknown, so its estimate counts instead
    capped = sm.batch([f"item {k}" for k in range(3)], SCHEMA, max_cost=1.0, **PRICED)
    assert [r.data["n"] for r in capped] == [0, 1, 2]


def test_an_each_cell_and_an_extractor_partition_with_absurd_usage(ip, server, settings):
    pd = pytest.importorskip("pandas")
    from structmagic.rows.engines import Extractor

    from fakeserver import chat

    server.responder = lambda req: chat('{"n": 1, "label": "item 1"}', usage=(10**400, 5))
    sm.configure(**PRICED)
    ip.user_ns.update(schema=SCHEMA, df=pd.DataFrame({"text": ["item 1", "item 2"]}))
    res = ip.run_cell("%%structured schema --each df -o out\n{text}", store_history=False)
    assert res.success, res.error_in_exec
    assert ip.user_ns["out"]["n"].tolist() == [1, 1]
    assert ip.user_ns["out"]["cost"].isna().all()
    out = Extractor(SCHEMA, "item {k}")(pd.DataFrame({"k": [1, 2]}))
    assert out["n"].tolist() == [1, 1] and out["cost"].isna().all()
    assert out["prompt_tokens"].tolist() == [0, 0]


@pytest.mark.parametrize("usage", [
    {"prompt_tokens": 10**400, "completion_tokens": 5},
    {"prompt_tokens": float("inf"), "completion_tokens": 5},
    {"prompt_tokens": float("nan"), "completion_tokens": 5},
    {"prompt_tokens": 5, "completion_tokens": True},
    {"prompt_tokens": 5, "completion_tokens": 5, "cached_tokens": float("inf")},
    {"prompt_tokens": 5, "completion_tokens": 5, "not_understood": 1},
])
def test_cost_of_is_unknown_for_counts_that_are_not_counts(usage):
    from structmagic.cost.calc import cost_of
    from structmagic.cost.price import Price

    assert cost_of(usage, Price(1.0, 2.0)) is None
    assert cost_of(usage, Price(1.0, 2.0, batch_factor=0.5), batch_tier=True) is None
