"""The SSE decoder: every split point, line endings, comments, ids, and a reference decoder."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structmagic.transport.sse import SSEDecoder, SSEEvent

# --- SSE: a reference decoder, written straight from the WHATWG text ---------------------------


def reference_sse(raw: bytes) -> list[tuple[str, str, str | None]]:
    """Whole-stream decoding per the spec (plus: a pending event is dispatched at EOF)."""
    text = raw.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = re.split(r"\r\n|\r|\n", text)
    out: list[tuple[str, str, str | None]] = []
    data: list[str] = []
    event, last_id = "", None
    for line in [*lines, ""]:
        if line == "":
            if data:
                out.append((event or "message", "\n".join(data), last_id))
            data, event = [], ""
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
            elif name == "id" and "\x00" not in value:
                last_id = value
    return out


def decode(chunks: list[bytes]) -> list[tuple[str, str, str | None]]:
    d = SSEDecoder()
    out: list[SSEEvent] = []
    for c in chunks:
        out += d.feed(c)
    out += d.close()
    return [(e.event, e.data, e.id) for e in out]


def split_at(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(raw) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(raw[last:p])
        last = p
    pieces.append(raw[last:])
    return pieces


def chunk(delta: dict, **extra) -> str:
    body = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1733000000,
            "model": "deepseek-reasoner",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None, **extra}]}
    return "data: " + json.dumps(body, ensure_ascii=False) + "\n\n"


# a realistic Chat Completions stream: role chunk, reasoning, content split across tokens
# (the Chinese question and an emoji: 3- and 4-byte UTF-8), a keep-alive, a usage chunk
OPENAI_TEXT = (
    chunk({"role": "assistant", "content": ""})
    + chunk({"reasoning_content": "比较小数部分…"})
    + ": OPENROUTER PROCESSING\n\n"
    + chunk({"content": '{"question": "9.11和9.8谁大'})
    + chunk({"content": '", "mood": "😀", "answer": 9.8}'})
    + chunk({}, finish_reason="stop").replace('"finish_reason": null, ', "")
    + 'data: {"id":"chatcmpl-9","choices":[],"usage":{"prompt_tokens":12,"total_tokens":40}}\n\n'
    + "data: [DONE]\n\n"
)
OPENAI_STREAM = OPENAI_TEXT.encode()
EXPECTED = reference_sse(OPENAI_STREAM)


def test_reference_reading_of_the_openai_stream():
    assert len(EXPECTED) == 7
    assert all(event == "message" for event, _, _ in EXPECTED)
    content = "".join(
        json.loads(data)["choices"][0]["delta"].get("content", "")
        for _, data, _ in EXPECTED[:-2]
    )
    assert json.loads(content) == {"question": "9.11和9.8谁大", "mood": "😀", "answer": 9.8}
    assert EXPECTED[-1] == ("message", "[DONE]", None)


def test_every_split_point():
    for i in range(len(OPENAI_STREAM) + 1):
        assert decode([OPENAI_STREAM[:i], OPENAI_STREAM[i:]]) == EXPECTED, i


def test_every_pair_of_split_points_around_the_multibyte_characters():
    start = OPENAI_STREAM.index("9.11和".encode())
    end = OPENAI_STREAM.index("😀".encode()) + 8
    for i in range(start, end):
        for j in range(i, min(end, i + 12)):
            chunks = [OPENAI_STREAM[:i], OPENAI_STREAM[i:j], OPENAI_STREAM[j:]]
            assert decode(chunks) == EXPECTED, (i, j)


def test_byte_at_a_time():
    assert decode([bytes([b]) for b in OPENAI_STREAM]) == EXPECTED


@pytest.mark.parametrize("ending", ["\r\n", "\r", "\n"])
def test_line_endings(ending):
    raw = OPENAI_TEXT.replace("\n", ending).encode()
    assert decode([raw]) == EXPECTED
    assert decode([bytes([b]) for b in raw]) == EXPECTED
    for i in range(len(raw) + 1):  # includes every CR / LF boundary of a CRLF
        assert decode([raw[:i], raw[i:]]) == EXPECTED, i


def test_mixed_line_endings_with_cr_at_the_chunk_boundary():
    endings = ["\r\n", "\n", "\r"]
    lines = OPENAI_TEXT.split("\n")
    raw = "".join(line + endings[k % 3] for k, line in enumerate(lines[:-1])).encode()
    assert reference_sse(raw) == EXPECTED
    for i in range(len(raw) + 1):
        assert decode([raw[:i], raw[i:]]) == EXPECTED, i


def test_cr_then_lf_in_the_next_chunk_is_one_line_break():
    assert decode([b"data: a\r", b"\ndata: b\r\n\r\n"]) == [("message", "a\nb", None)]
    # ... but CR then CR is a blank line: the event is dispatched at once, not at close()
    d = SSEDecoder()
    assert d.feed(b"data: a\r") == []
    assert [e.data for e in d.feed(b"\r")] == ["a"]
    assert d.close() == []


def test_comments_data_without_space_multiline_and_empty_data():
    raw = (b": keep-alive\n\n:another\ndata:no-space\n\n"
           b"data: one\ndata:  two (one space kept)\ndata\n\n"
           b"data:\n\ndata:\ndata:\n\n")
    assert decode([raw]) == [
        ("message", "no-space", None),
        ("message", "one\n two (one space kept)\n", None),
        ("message", "", None),
        ("message", "\n", None),
    ]


def test_anthropic_event_names_and_ids():
    raw = (
        b'event: message_start\ndata: {"type": "message_start"}\n\n'
        b"event: ping\ndata: {}\n\n"
        b'id: 7\nevent: content_block_delta\ndata: {"delta": 1}\n\n'
        b"data: unnamed after a named one\n\n"
        b"event: error\nid\ndata: x\nretry: 10\nunknown: y\n\n"
        b"event: no-data\nid: 9\n\n"
    )
    assert decode([raw]) == [
        ("message_start", '{"type": "message_start"}', None),
        ("ping", "{}", None),
        ("content_block_delta", '{"delta": 1}', "7"),
        ("message", "unnamed after a named one", "7"),  # the id persists; the name does not
        ("error", "x", ""),
    ]
    assert decode([bytes([b]) for b in raw]) == reference_sse(raw)


def test_id_with_nul_is_ignored():
    assert decode([b"id: 1\ndata: a\n\nid: 2\x00\ndata: b\n\n"]) == [
        ("message", "a", "1"), ("message", "b", "1")]


def test_close_flushes_a_pending_event():
    assert decode([b"data: tail-without-break"]) == [("message", "tail-without-break", None)]
    assert decode([b"data: a\ndata: b\n"]) == [("message", "a\nb", None)]
    assert decode([b"data: a\r"]) == [("message", "a", None)]
    assert decode([b"event: only-an-event\n\n", b"event: x"]) == []  # no data: not dispatched
    assert decode([]) == []
    d = SSEDecoder()
    assert d.feed(b"data: 1\n\ndata: 2") == [SSEEvent("message", "1")]
    assert d.close() == [SSEEvent("message", "2")]


def test_bom_is_stripped_once_even_when_split():
    assert decode(["\ufeffdata: x\n\n".encode()]) == [("message", "x", None)]
    assert decode([b"\xef", b"\xbb", b"\xbfdata: x\n\n"]) == [("message", "x", None)]
    assert decode([b"\xef\xbb\xbf", b"data: x\n\n"]) == [("message", "x", None)]
    # a second BOM is part of the text: here it makes an unknown field name
    assert decode(["\ufeff\ufeffdata: x\n\n".encode()]) == []


def test_invalid_utf8_is_replaced():
    assert decode([b"data: a\xff\n\n"]) == [("message", "a\ufffd", None)]
    assert decode([b"data: cut \xe5\x92"]) == [("message", "cut \ufffd", None)]


def test_a_long_line_in_small_chunks():
    raw = b"data: " + b"x" * 200_000 + b"\n\n"
    chunks = [raw[i : i + 64] for i in range(0, len(raw), 64)]
    assert decode(chunks) == [("message", "x" * 200_000, None)]


_field = st.sampled_from(["data", "event", "id", "retry", "other", "", "dat", "data "])
_value = st.text(st.sampled_from("ab :和😀\x00"), max_size=6)
_line = st.one_of(
    st.tuples(_field, st.sampled_from([":", ": ", ":  ", ""]), _value).map("".join),
    st.just(""),
    _value.map(lambda v: ":" + v),
)


@given(
    st.lists(_line, max_size=25),
    st.lists(st.sampled_from(["\n", "\r", "\r\n"]), min_size=1, max_size=5),
    st.lists(st.integers(min_value=0), max_size=20),
    st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_any_stream_any_chunking_matches_the_reference(lines, endings, cuts, bom):
    text = "".join(line + endings[k % len(endings)] for k, line in enumerate(lines))
    raw = ("\ufeff" if bom else "").encode() + text.encode()
    assert decode(split_at(raw, cuts)) == reference_sse(raw)


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60))
@settings(max_examples=150, deadline=None)
def test_openai_stream_any_chunking(sizes):
    chunks, i = [], 0
    for n in sizes:
        chunks.append(OPENAI_STREAM[i : i + n])
        i += n
    chunks.append(OPENAI_STREAM[i:])
    assert decode(chunks) == EXPECTED
