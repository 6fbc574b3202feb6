"""Cost accounting under odd input: a prompt the budget cannot count, a price with a missing
half, a recursive schema. Each is a structmagic error, or a figure, never a raw exception."""

from __future__ import annotations

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
