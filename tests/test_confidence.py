"""Per-field confidence from token log-probabilities (``confidence=True``), against the loopback
fake server: what is asked for in each wire format (and what is not), the aggregation of the
tokens over each value's own characters (exact to 1e-9, tokens that straddle quotes and
values, multi-byte characters split across tokens), whole and streamed answers, and the
reasons given where there is none."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

import structmagic as sm
from structmagic.call.confidence import field_confidence, value_spans
from structmagic.providers.logprobs import LogProbs, read_logprobs

from fakeserver import CREATED, Reply, chat, sse_event
from providers import anthropic, gemini

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "qty": {"type": "integer"},
        "paid": {"type": "boolean"},
        "note": {"type": "string"},
        "lines": {"type": "array", "items": {
            "type": "object", "properties": {"sku": {"type": "string"}},
            "required": ["sku"], "additionalProperties": False}},
    },
    "required": ["name", "qty", "paid", "note", "lines"],
    "additionalProperties": False,
}
#: an answer with a multi-byte name (é is 2 bytes, 東 3), an empty string and a nested array
ANSWER = '{"name": "Café 東京", "qty": 12, "paid": true, "note": "", "lines": [{"sku": "A-1"}]}'


def tokenize(text: str, size: int = 3) -> list[dict[str, Any]]:
    """The text's UTF-8 bytes cut every ``size`` bytes (so tokens straddle quotes, keys and
    values, and split multi-byte characters), each with a distinct log-probability and its
    ``bytes`` (the token string is what OpenAI writes for a split character)."""
    raw = text.encode("utf-8")
    out = []
    for i in range(0, len(raw), size):
        piece = raw[i:i + size]
        out.append({"token": piece.decode("utf-8", "backslashreplace"),
                    "logprob": -0.013 * (i // size + 1) - 0.0007 * (i // size) ** 2,
                    "bytes": list(piece), "top_logprobs": []})
    return out


def expected(text: str, tokens: list[dict[str, Any]], value: str, *, nth: int = 0) -> float:
    """The probability of the tokens over the ``nth`` occurrence of ``value`` written in
    ``text``, worked out independently of structmagic: character offsets to UTF-8 byte
    offsets, then every token whose bytes overlap them."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(value, at + 1)
    start = len(text[:at].encode("utf-8"))
    end = start + len(value.encode("utf-8"))
    total, pos = 0.0, 0
    for tok in tokens:
        size = len(tok["bytes"])
        if start == end:  # an empty string: the token that holds its closing quote
            if pos <= start < pos + size:
                total += tok["logprob"]
        elif pos < end and pos + size > start:
            total += tok["logprob"]
        pos += size
    return math.exp(total)


def want(text: str = ANSWER, tokens: list[dict[str, Any]] | None = None) -> dict[str, float]:
    tokens = tokenize(text) if tokens is None else tokens
    # the empty note: the byte offset of its closing quote
    empty_at = len(text[:text.index('""') + 1].encode("utf-8"))
    empty = [t for t in _spans(tokens) if t[0] <= empty_at < t[1]]
    return {
        "name": expected(text, tokens, "Café 東京"),
        "qty": expected(text, tokens, "12"),
        "paid": expected(text, tokens, "true"),
        "note": math.exp(sum(t[2] for t in empty)),
        "lines[0].sku": expected(text, tokens, "A-1"),
    }


def _spans(tokens: list[dict[str, Any]]) -> list[tuple[int, int, float]]:
    out, pos = [], 0
    for tok in tokens:
        out.append((pos, pos + len(tok["bytes"]), tok["logprob"]))
        pos += len(tok["bytes"])
    return out


def close(got: dict[str, float] | None, wanted: dict[str, float]) -> None:
    assert got is not None
    assert list(got) == list(wanted)
    for path, p in wanted.items():
        assert abs(got[path] - p) < 1e-9, (path, got[path], p)


def chat_logprobs(text: str, tokens: list[dict[str, Any]] | None) -> Reply:
    body = {"id": "chatcmpl-fake", "object": "chat.completion", "created": CREATED,
            "model": "fake-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": None if tokens is None else {"content": tokens,
                                                                  "refusal": None},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}}
    return Reply.json(body)


def pieces(tokens: list[dict[str, Any]], per_chunk: int
           ) -> list[tuple[str, list[dict[str, Any]]]]:
    """The tokens in groups of ``per_chunk``, each with the text of its bytes where they end
    on a whole character (else held until one does, as a server holds a split character
    back)."""
    out, held = [], b""
    for i in range(0, len(tokens), per_chunk):
        group = tokens[i:i + per_chunk]
        held += b"".join(bytes(t["bytes"]) for t in group)
        try:
            content = held.decode("utf-8")
            held = b""
        except UnicodeDecodeError:
            content = ""
        out.append((content, group))
    assert not held
    return out


def chat_logprobs_stream(text: str, tokens: list[dict[str, Any]], per_chunk: int = 2) -> Reply:
    """A stream whose chunks carry ``per_chunk`` tokens each (:func:`pieces`) and their
    log-probabilities."""
    events = []
    for content, group in pieces(tokens, per_chunk):
        events.append(sse_event({
            "id": "c", "object": "chat.completion.chunk", "created": CREATED,
            "model": "fake-model",
            "choices": [{"index": 0, "delta": {"content": content},
                         "logprobs": {"content": group}, "finish_reason": None}]}))
    events.append(sse_event({"id": "c", "object": "chat.completion.chunk", "created": CREATED,
                             "model": "fake-model",
                             "choices": [{"index": 0, "delta": {}, "logprobs": None,
                                          "finish_reason": "stop"}]}))
    events.append("data: [DONE]\n\n")
    return Reply.sse(events)


# --- the aggregation, pure ------------------------------------------------------------------


def test_a_small_answer_by_hand():
    # tokens: '{"' 'a' '":' ' "x' 'y"' '}'  with log-probabilities -1 .. -6
    text = '{"a": "xy"}'
    tokens = LogProbs((b'{"', b"a", b'":', b' "x', b'y"', b"}"),
                      (-1.0, -2.0, -3.0, -4.0, -5.0, -6.0))
    got, why = field_confidence(text, text, tokens, {"a": "xy"})
    assert why is None
    # the value's characters are x and y: the tokens ' "x' (straddles) and 'y"' (straddles)
    assert got == {"a": pytest.approx(math.exp(-9.0), abs=1e-12)}


def test_every_path_to_1e9_with_split_characters():
    tokens = tokenize(ANSWER)
    assert any(bytes(t["bytes"]).decode("utf-8", "replace") != bytes(t["bytes"]).decode(
        "utf-8", "ignore") for t in tokens)  # some token ends inside a character
    got, why = field_confidence(ANSWER, ANSWER, read_logprobs(tokens), json.loads(ANSWER))
    assert why is None
    close(got, want())


@pytest.mark.parametrize("size", [1, 2, 5, 7, 400])
def test_every_token_size(size):
    tokens = tokenize(ANSWER, size)
    got, _ = field_confidence(ANSWER, ANSWER, read_logprobs(tokens), json.loads(ANSWER))
    close(got, want(tokens=tokens))


def test_value_spans_are_the_values_own_characters():
    text = ' {"a": [1, "x", {}, []], "b\\"q": {"c": null}, "d": "", "e": -2.5e3}'
    spans = value_spans(text)
    assert [(p, text[s:e]) for p, s, e in spans] == [
        (("a", 0), "1"), (("a", 1), "x"), (('b"q', "c"), "null"), (("d",), ""),
        (("e",), "-2.5e3")]
    with pytest.raises(ValueError):
        value_spans('{"a": [1, 2}')
    deep = "[" * 5000 + "1" + "]" * 5000  # no recursion
    assert value_spans(deep)[0][1:] == (5000, 5001)


def test_tokens_that_do_not_spell_the_text_give_no_confidence():
    tokens = read_logprobs(tokenize(ANSWER.replace("12", "13")))
    got, why = field_confidence(ANSWER, ANSWER, tokens, json.loads(ANSWER))
    assert got is None and "do not spell" in why


def test_bad_logprobs_are_refused_when_read():
    for bad in ([{"token": "a", "logprob": "x"}], [{"token": "a", "logprob": float("nan")}],
                [{"token": "a", "logprob": 0.5}], [{"logprob": -1}], "nope",
                [{"token": "a", "logprob": -1, "bytes": [300]}]):
        with pytest.raises(ValueError):
            read_logprobs(bad)


def test_prose_around_the_json_and_a_wrapped_root():
    text = 'Here: ["x", "yy"] done'
    tokens = read_logprobs(tokenize(text, 2))
    got, _ = field_confidence(text, '["x", "yy"]', tokens, ["x", "yy"])
    assert list(got) == ["[0]", "[1]"]
    wrapped = '{"value": ["x", "yy"]}'
    got, _ = field_confidence(wrapped, wrapped, read_logprobs(tokenize(wrapped, 2)),
                              ["x", "yy"], wrapped=True)
    assert list(got) == ["[0]", "[1]"]


def test_nulls_mapped_away_have_no_path():
    text = '{"a": "x", "b": null}'
    got, _ = field_confidence(text, text, read_logprobs(tokenize(text)), {"a": "x"})
    assert list(got) == ["a"]


# --- over the wire ---------------------------------------------------------------------------


def test_chat_asks_and_every_path_comes_back(server, settings):
    tokens = tokenize(ANSWER)
    server.queue(chat_logprobs(ANSWER, tokens))
    res = sm.structured("x", SCHEMA, confidence=True)
    assert server.requests[0].json["logprobs"] is True
    close(res.confidence, want())
    assert res.confidence_reason is None
    assert 0 < res.doubt == pytest.approx(1 - min(want().values()))


def test_chat_streamed_is_the_same(server, settings):
    tokens = tokenize(ANSWER)
    server.queue(chat_logprobs_stream(ANSWER, tokens))
    res = sm.structured("x", SCHEMA, confidence=True, stream=True)
    body = server.requests[0].json
    assert body["logprobs"] is True and body["stream"] is True
    assert res.raw == ANSWER
    close(res.confidence, want())


def test_llamacpp_shape_with_ids(server, settings):
    # llama.cpp's server adds each token's id; the rest is OpenAI's shape
    tokens = [{"id": 1000 + i, **t} for i, t in enumerate(tokenize(ANSWER, 4))]
    server.queue(chat_logprobs(ANSWER, tokens))
    res = sm.structured("x", SCHEMA, confidence=True)
    close(res.confidence, want(tokens=tokens))


def test_not_asked_costs_nothing(server, settings):
    server.queue(chat(ANSWER))
    res = sm.structured("x", SCHEMA)
    assert "logprobs" not in server.requests[0].json
    assert res.confidence is None and res.confidence_reason is None


def test_a_server_that_sends_none_says_so(server, settings):
    server.queue(chat_logprobs(ANSWER, None))
    res = sm.structured("x", SCHEMA, confidence=True)
    assert res.ok and res.confidence is None
    assert "sent no log-probabilities" in res.confidence_reason


def test_a_server_that_refuses_them_is_asked_again_without(server, settings):
    server.queue(Reply.status(400, "logprobs is not supported with this model"), chat(ANSWER))
    res = sm.structured("x", SCHEMA, confidence=True)
    first, second = server.requests
    assert first.json["logprobs"] is True and "logprobs" not in second.json
    assert first.json["response_format"] == second.json["response_format"]  # no step down
    assert res.ok and res.confidence is None and "refused" in res.confidence_reason
    assert res.attempts == 2


def test_tools_mode_asks_for_none_and_says_why(server, settings):
    server.queue(chat(tool_call=ANSWER, tool_name="response"))
    res = sm.structured("x", SCHEMA, confidence=True, mode="tools")
    assert "logprobs" not in server.requests[0].json
    assert res.confidence is None and "tool call" in res.confidence_reason


def test_a_reask_gives_the_accepted_answers_confidence(server, settings):
    bad = '{"name": "x"}'
    tokens = tokenize(ANSWER, 5)
    server.queue(chat_logprobs(bad, tokenize(bad)), chat_logprobs(ANSWER, tokens))
    res = sm.structured("x", SCHEMA, confidence=True)
    assert res.reasks == 1 and res.attempts == 2
    close(res.confidence, want(tokens=tokens))
    assert res.doubt >= 0.4


@pytest.mark.parametrize("stream", [False, True])
def test_responses_api(server, settings, stream):
    tokens = tokenize(ANSWER)
    if stream:
        events = [sse_event({"type": "response.created",
                             "response": {"model": "fake-model"}})]
        for content, group in pieces(tokens, 3):
            events.append(sse_event({"type": "response.output_text.delta",
                                     "delta": content, "logprobs": group}))
        events.append(sse_event({"type": "response.completed", "response": {
            "status": "completed", "model": "fake-model",
            "usage": {"input_tokens": 5, "output_tokens": 9, "total_tokens": 14}}}))
        reply = Reply.sse(events)
    else:
        reply = Reply.json({"id": "r", "object": "response", "status": "completed",
                            "model": "fake-model", "output": [{
                                "type": "message", "role": "assistant", "content": [{
                                    "type": "output_text", "text": ANSWER,
                                    "annotations": [], "logprobs": tokens}]}],
                            "usage": {"input_tokens": 5, "output_tokens": 9,
                                      "total_tokens": 14}})
    server.queue(reply)
    res = sm.structured("x", SCHEMA, confidence=True, stream=stream, provider="responses")
    assert server.requests[0].json["include"] == ["message.output_text.logprobs"]
    assert res.text == ANSWER
    close(res.confidence, want())


@pytest.mark.parametrize("fmt", ["anthropic", "gemini"])
def test_formats_without_them_say_why(server, settings, fmt):
    server.queue((anthropic if fmt == "anthropic" else gemini)(ANSWER))
    res = sm.structured("x", SCHEMA, confidence=True, provider=fmt)
    body = server.requests[0].json
    assert "logprobs" not in json.dumps(body).lower()
    assert res.ok and res.confidence is None
    assert res.confidence_reason.endswith(".") and "samples=K" in res.confidence_reason


def test_log_probabilities_that_cannot_be_read_are_named(server, settings):
    tokens = tokenize(ANSWER)
    tokens[2] = {**tokens[2], "logprob": "very sure"}
    server.queue(chat_logprobs(ANSWER, tokens))
    res = sm.structured("x", SCHEMA, confidence=True)
    assert res.ok and res.confidence is None
    assert res.confidence_reason.startswith("The server's log-probabilities could not be read")


def test_a_result_with_confidence_pickles(server, settings):
    import pickle

    server.queue(chat_logprobs(ANSWER, tokenize(ANSWER)))
    res = sm.structured("x", SCHEMA, confidence=True)
    back = pickle.loads(pickle.dumps(res))
    assert back.confidence == res.confidence and back.doubt == res.doubt
