"""The SSE decoder and the partial JSON parser: edge cases and properties (issue 3)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from structmagic.stream import MISSING, PartialJSONError, PartialJSONParser, SSEDecoder

# --- SSE -------------------------------------------------------------------------------------

OPENAI_STREAM = (
    'data: {"choices":[{"delta":{"content":"9.11和"}}]}\n\n'
    ": OPENROUTER PROCESSING\n\n"
    'data: {"choices":[{"delta":{"content":"9.8 😀"}}]}\n\n'
    "event: done\ndata: line one\ndata: line two\n\n"
    "data:[DONE]\n\n"
).encode()
EXPECTED = [
    ("message", '{"choices":[{"delta":{"content":"9.11和"}}]}'),
    ("message", '{"choices":[{"delta":{"content":"9.8 😀"}}]}'),
    ("done", "line one\nline two"),
    ("message", "[DONE]"),
]


def decode(chunks: list[bytes]) -> list[tuple[str, str]]:
    d = SSEDecoder()
    out = []
    for c in chunks:
        out += d.feed(c)
    out += d.close()
    return [(e.event, e.data) for e in out]


def test_every_split_point():
    for i in range(len(OPENAI_STREAM) + 1):
        assert decode([OPENAI_STREAM[:i], OPENAI_STREAM[i:]]) == EXPECTED, i


def test_byte_at_a_time():
    assert decode([bytes([b]) for b in OPENAI_STREAM]) == EXPECTED


@pytest.mark.parametrize("ending", ["\r\n", "\r", "\n"])
def test_line_endings(ending):
    text = OPENAI_STREAM.decode().replace("\n", ending).encode()
    assert decode([text]) == EXPECTED
    assert decode([bytes([b]) for b in text]) == EXPECTED


def test_cr_at_end_of_chunk_and_lf_at_start_of_next_is_one_break():
    assert decode([b"data: a\r", b"\ndata: b\r\n\r\n"]) == [("message", "a\nb")]


def test_bom_empty_data_and_close_flush():
    assert decode(["\ufeffdata: x\n\n".encode()]) == [("message", "x")]
    assert decode([b"data:\ndata:\n\n"]) == [("message", "\n")]
    assert decode([b"data: tail-without-blank-line"]) == [("message", "tail-without-blank-line")]
    assert decode([b"event: only-event\n\n"]) == []  # no data: not dispatched
    assert decode([b"id: 7\ndata: x\n\n"]) == [("message", "x")]


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60))
@settings(max_examples=150, deadline=None)
def test_any_chunking(sizes):
    chunks, i = [], 0
    for n in sizes:
        chunks.append(OPENAI_STREAM[i : i + n])
        i += n
    chunks.append(OPENAI_STREAM[i:])
    assert decode(chunks) == EXPECTED


# --- partial JSON ---------------------------------------------------------------------------


def is_prefix_consistent(partial, final) -> bool:
    """``partial`` could grow into ``final``."""
    if partial is MISSING:
        return True
    if isinstance(final, dict):
        if not isinstance(partial, dict) or not set(partial) <= set(final):
            return False
        keys = list(partial)
        order = [k for k in final if k in partial]
        if keys != order:
            return False
        return all(
            partial[k] == final[k] if k != keys[-1] else is_prefix_consistent(partial[k], final[k])
            for k in keys
        )
    if isinstance(final, list):
        if not isinstance(partial, list) or len(partial) > len(final):
            return False
        if not partial:
            return True
        return partial[:-1] == final[: len(partial) - 1] and is_prefix_consistent(
            partial[-1], final[len(partial) - 1])
    if isinstance(final, str):
        return isinstance(partial, str) and final.startswith(partial)
    return partial == final or (
        isinstance(final, float) and math.isnan(final) and math.isnan(partial))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25,
)


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(text[last:p])
        last = p
    pieces.append(text[last:])
    return [p for p in pieces if p]


@given(json_values, st.booleans(), st.booleans(), st.lists(st.integers(min_value=0), max_size=30))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_final_equals_json_loads_and_partials_are_consistent(value, ascii_only, indent, cuts):
    text = json.dumps(value, ensure_ascii=ascii_only, indent=2 if indent else None)
    final = json.loads(text)
    parser = PartialJSONParser()
    snapshots = []
    for piece in chunked(text, cuts):
        parser.feed(piece)
        snap = parser.snapshot()
        snapshots.append((snap, json.dumps(snap, default=repr) if snap is not MISSING else None))
    assert parser.finish() == final or (text == "NaN")
    previous = MISSING
    for snap, frozen in snapshots:
        assert is_prefix_consistent(snap, final), (snap, final)
        assert is_prefix_consistent(previous, snap if snap is not MISSING else final)
        # an earlier snapshot is never changed by later feeds
        if frozen is not None:
            assert json.dumps(snap, default=repr) == frozen
        previous = snap


@pytest.mark.parametrize(
    ("pieces", "expected_snapshots"),
    [
        (['{"a": "x\\', 'ny"}'], [{"a": "x"}, {"a": "x\ny"}]),
        (['["\\ud83d', '\\ude00"]'], [[""], ["😀"]]),
        (['["\\ud83d\\u', 'de00 ok"]'], [[""], ["😀 ok"]]),
        (['{"n": 12', '3, "b": 1}'], [{}, {"n": 123, "b": 1}]),
        (['{"k', 'ey": tr', 'ue}'], [{}, {}, {"key": True}]),
        (['{"a": [1, 2', ', 3]}'], [{"a": [1]}, {"a": [1, 2, 3]}]),
    ],
)
def test_split_tokens(pieces, expected_snapshots):
    parser = PartialJSONParser()
    got = []
    for p in pieces:
        parser.feed(p)
        got.append(parser.snapshot())
    assert got == expected_snapshots


def test_lone_high_surrogate_matches_json_loads():
    text = '["\\ud83dx", "\\ud83d\\u0041"]'
    parser = PartialJSONParser()
    for ch in text:
        parser.feed(ch)
    assert parser.finish() == json.loads(text)


def test_skip_prefix_with_fences_and_prose():
    parser = PartialJSONParser(skip_prefix=True)
    for piece in ["Sure! ```json\n", '{"a": ', '[1]}', "\n```\nHope this helps"]:
        parser.feed(piece)
    assert parser.done
    assert parser.finish() == {"a": [1]}
    assert parser.text.endswith("helps")


@pytest.mark.parametrize(
    "text", ['{"a" 1}', "[1,]", "tru e", '{"a": 1}}', "[01]", '"\\x"', '{"a": "\x01"}', "nul"],
)
def test_invalid_input_raises_with_position(text):
    parser = PartialJSONParser()
    with pytest.raises(PartialJSONError):
        parser.feed(text)
        parser.finish()


def test_incomplete_at_finish():
    parser = PartialJSONParser()
    parser.feed('{"a": [1, 2')
    with pytest.raises(PartialJSONError, match="ends early"):
        parser.finish()
    with pytest.raises(PartialJSONError, match="no JSON value"):
        PartialJSONParser().finish()


def test_top_level_scalars():
    for text in ["12", "-0.5e3", '"s"', "true", "null"]:
        parser = PartialJSONParser()
        parser.feed(text)
        assert parser.finish() == json.loads(text)


def test_deep_nesting_is_iterative():
    text = "[" * 10000 + "]" * 10000
    parser = PartialJSONParser()
    parser.feed(text)
    value = parser.finish()
    depth = 0
    while value:
        value = value[0]
        depth += 1
    assert depth == 9999


def test_work_is_linear_in_the_input():
    """Count parser steps (not time): feeding twice the text costs about twice the work."""
    import structmagic.stream as stream_module

    calls = {"n": 0}
    original = stream_module.PartialJSONParser._value_start

    def counting(self, s, i, c):
        calls["n"] += 1
        return original(self, s, i, c)

    def work(n_steps: int) -> int:
        calls["n"] = 0
        steps = [{"explanation": "x" * 40, "output": str(i)} for i in range(n_steps)]
        text = json.dumps({"steps": steps})
        parser = PartialJSONParser()
        for i in range(0, len(text), 7):
            parser.feed(text[i : i + 7])
        parser.finish()
        return calls["n"]

    stream_module.PartialJSONParser._value_start = counting
    try:
        small, big = work(100), work(400)
    finally:
        stream_module.PartialJSONParser._value_start = original
    assert big <= 4 * small + 10
