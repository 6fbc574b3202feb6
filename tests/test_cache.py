"""The cassette: keys, header allowlist, modes."""

from __future__ import annotations

import json

from structmagic.cache import Cassette, Exchange, request_key


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
