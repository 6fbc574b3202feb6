"""The cassette: keys (each of their parts pinned), header allowlist, modes."""

from __future__ import annotations

import inspect
import json

import pytest

import structmagic as sm
from structmagic.cache import Cassette, Exchange, request_key

from fakeserver import chat_stream

SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}},
    "required": ["a"],
    "additionalProperties": False,
}


def test_key_ignores_stream_switches_and_depends_on_body_and_provider():
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    k = request_key("openai", "/v1/chat/completions", body)
    assert k == request_key("openai", "/v1/chat/completions",
                            {**body, "stream": True, "stream_options": {"include_usage": True}})
    assert k != request_key("anthropic", "/v1/chat/completions", body)
    assert k != request_key("openai", "/v1/chat/completions", {**body, "model": "n"})
    assert request_key("gemini", "/v1beta/models/g:streamGenerateContent?alt=sse", body) == \
        request_key("gemini", "/v1beta/models/g:generateContent", body)


def test_roundtrip_and_header_allowlist(tmp_path):
    path = tmp_path / "c.jsonl"
    c = Cassette(path)
    c.add(Exchange(key="k1", provider="openai", path="/v1/chat/completions", status=200,
                   headers={"Content-Type": "application/json", "Set-Cookie": "s=1",
                            "Authorization": "Bearer sk-leak"},
                   stream=False, body={"choices": []}))
    line = json.loads(path.read_text().splitlines()[0])
    assert line["headers"] == {"content-type": "application/json"}
    assert "sk-leak" not in path.read_text()
    fresh = Cassette(path)
    assert fresh.get("k1").body == {"choices": []}
    assert fresh.get("nope") is None
    assert len(fresh) == 1


def test_external_appends_are_seen(tmp_path):
    path = tmp_path / "c.jsonl"
    c = Cassette(path)
    assert c.get("k2") is None
    other = Cassette(path)
    other.add(Exchange(key="k2", provider="openai", path="/p", status=200, headers={},
                       stream=True, body="data: [DONE]\n\n"))
    assert c.get("k2").stream is True


# --- the key of a request --------------------------------------------------------------------

BODY = {"model": "m", "messages": [{"role": "user", "content": "q"}]}


def test_key_is_pinned():
    # The recordings shipped under notebooks/ are looked up by this: a change of the key
    # derivation (a header let in, a switch left out differently) orphans every one of them.
    assert request_key("openai", "/v1/chat/completions", BODY) == (
        "b96b4e2b1a9a1d23fe3dfeee0e9a9492a3e9fa085608ede6b1eb4a9e0c97cd41")
    assert list(inspect.signature(request_key).parameters) == ["provider", "path", "body"]


def test_key_has_the_endpoint_path_but_not_the_query():
    k = request_key("openai", "/v1/chat/completions", BODY)
    assert k != request_key("openai", "/v1/responses", BODY)
    assert k != request_key("openai", "/relay/v1/chat/completions", BODY)
    assert k == request_key("openai", "/v1/chat/completions?api-version=2024-06-01", BODY)


@pytest.mark.parametrize("switch", [{"stream": True}, {"stream": False},
                                    {"stream_options": {"include_usage": True}}])
def test_key_leaves_out_each_stream_switch(switch):
    assert request_key("openai", "/v1/chat/completions", {**BODY, **switch}) == \
        request_key("openai", "/v1/chat/completions", BODY)
    nested = {**BODY, "metadata": switch}  # only the top-level switches are left out
    assert request_key("openai", "/v1/chat/completions", nested) != \
        request_key("openai", "/v1/chat/completions", BODY)


def test_key_normalises_only_geminis_stream_method():
    plain = request_key("gemini", "/v1beta/models/g:generateContent", BODY)
    assert request_key("gemini", "/v1beta/models/g:streamGenerateContent", BODY) == plain
    assert request_key("gemini", "/v1beta/models/g:streamGenerateContent?alt=sse", BODY) == plain
    assert request_key("gemini", "/v1beta/models/g:countTokens", BODY) != plain
    assert request_key("gemini", "/v1beta/models/h:generateContent", BODY) != plain


def test_recorded_key_is_the_request_sent_with_headers_left_out(server, settings, tmp_path):
    path = tmp_path / "rec.jsonl"
    server.queue(chat_stream('{"a": 1}'))
    ask("q", cache="record", cassette=str(path), stream=True)
    sent = server.requests[0]
    line = json.loads(path.read_text())
    assert line["key"] == request_key("openai", sent.path, sent.json)
    assert line["path"] == sent.path == "/v1/chat/completions"
    # another key, other headers (Accept differs without streaming): the same recording
    res = ask("q", cache="replay", cassette=str(path), stream=False,
              api_key="sk-another-key-4242424242")
    assert res.data == {"a": 1} and len(server.requests) == 1


def ask(prompt, **kw):
    kw.setdefault("mode", "json_schema")
    return sm.structured(prompt, SCHEMA, **kw)
