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
