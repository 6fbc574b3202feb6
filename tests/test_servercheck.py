"""The server check: one small request, once per (base URL, model), to a server that is not a
known vendor's; what it finds orders the ladder, and it is shown once. The suite runs with the
check off (conftest); these tests turn it on."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

import structmagic as sm
from structmagic.call import servercheck
from structmagic.call.servercheck import PROBE_SCHEMA, server_checks
from structmagic.providers.base import known_vendor

from fakeserver import Reply, chat, echo_schema_responder, local_server_responder
from instances import make_instance
from schema_corpus import MATH

SCHEMA = MATH["json_schema"]["schema"]
ON = {"server_check": "auto"}


def _probes(server):
    """The check's requests among those the server received."""
    return [r.json for r in server.requests if _is_probe(r.json)]


def _is_probe(body):
    text = json.dumps(body)
    return json.dumps(PROBE_SCHEMA) in text


def _calls(server):
    return [r.json for r in server.requests if not _is_probe(r.json)]


def test_an_enforcing_server_is_checked_once_per_base_url_and_model(server, settings, caplog):
    server.responder = echo_schema_responder(make_instance)
    res = sm.structured("q", SCHEMA, **ON)
    assert res.mode == "json_schema" and res.attempts == 1  # the check is not the call's
    (probe,) = _probes(server)
    assert probe["response_format"]["json_schema"]["schema"] == PROBE_SCHEMA
    assert probe["max_tokens"] == servercheck.PROBE_TOKENS and "stream" not in probe
    assert probe["model"] == "test-model"
    sm.structured("q", SCHEMA, **ON)
    sm.structured("q", SCHEMA, stream=True, **ON)
    assert len(_probes(server)) == 1 and len(_calls(server)) == 3
    # another model on the same server is another server to check
    sm.structured("q", SCHEMA, model="other-model", **ON)
    assert len(_probes(server)) == 2
    found = server_checks()
    assert [(f.model, f.verdict, f.requests) for f in found] == [
        ("test-model", "enforces", 1), ("other-model", "enforces", 1)]
    notes = [r for r in caplog.records if "enforces response_format" in r.getMessage()]
    assert len(notes) == 2 and all(r.levelno == logging.INFO for r in notes)


def test_a_server_that_ignores_everything_is_asked_in_the_prompt(server, settings, caplog):
    server.responder = local_server_responder(make_instance, answers="prose")
    res = sm.structured("q", SCHEMA, **ON)
    # the native request, then each server's own parameter: none enforced
    probes = _probes(server)
    assert [sorted(set(p) - {"model", "messages", "max_tokens"}) for p in probes] == [
        ["response_format"], ["structured_outputs"], ["json_schema"], ["format"]]
    assert probes[1]["structured_outputs"] == {"json": PROBE_SCHEMA}
    assert probes[2]["json_schema"] == PROBE_SCHEMA == probes[3]["format"]
    # the call: json_schema left out, json_object first, no re-ask, nothing more
    (call,) = _calls(server)
    assert call["response_format"] == {"type": "json_object"}
    assert res.mode == "json_object" and res.attempts == 1
    (finding,) = server_checks()
    assert finding.verdict == "ignores" and finding.mode is None and finding.requests == 4
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == finding.note()
    assert "ignores response_format json_schema" in warning.getMessage()
    assert server.url in warning.getMessage() and "test-model" in warning.getMessage()
    server.reset()
    server.responder = local_server_responder(make_instance, answers="prose")
    assert sm.structured("q", SCHEMA, **ON).mode == "json_object"
    assert _probes(server) == [] and len(server.requests) == 1


@pytest.mark.parametrize("param, mode, probes", [
    ("structured_outputs", "vllm_structured_outputs", 2),
    ("json_schema", "llamacpp_json_schema", 3),
    ("format", "ollama_format", 4),
])
def test_a_server_that_enforces_only_its_own_parameter_is_asked_that_way(
        server, settings, param, mode, probes):
    server.responder = local_server_responder(make_instance, answers="wrapper",
                                              enforces=param)
    res = sm.structured("q", SCHEMA, **ON)
    assert len(_probes(server)) == probes
    (call,) = _calls(server)
    assert "response_format" not in call and "tools" not in call
    sent = call[param]["json"] if param == "structured_outputs" else call[param]
    assert sent["properties"].keys() == SCHEMA["properties"].keys()
    assert res.mode == mode and res.attempts == 1
    assert set(res.data) == set(SCHEMA["required"])
    (finding,) = server_checks()
    assert finding.mode == mode and "asked that way from now on" in finding.note()
    streamed = sm.structured("q", SCHEMA, stream=True, **ON)
    assert streamed.mode == mode and len(_probes(server)) == probes


def test_rows_of_a_batch_wait_for_the_one_check(server, settings):
    server.responder = local_server_responder(make_instance, enforces="structured_outputs")
    results = sm.batch([f"q{i}" for i in range(6)], SCHEMA, concurrency=4, **ON)
    assert all(r.error is None and r.mode == "vllm_structured_outputs" for r in results)
    assert len(_probes(server)) == 2 and len(_calls(server)) == 6


def test_no_check_when_off_for_a_vendor_or_in_an_explicit_mode(server, settings):
    server.responder = echo_schema_responder(make_instance)
    sm.structured("q", SCHEMA)  # the suite's setting: off
    sm.structured("q", SCHEMA, mode="json_schema", **ON)
    assert _probes(server) == []
    # a vendor's host (reached through the loopback server as an HTTP proxy)
    with httpx.Client(proxy=server.url) as client:
        for base in ("http://api.openai.com/v1", "http://me.openai.azure.com/openai/v1",
                     "http://api.groq.com/openai/v1"):
            res = sm.structured("q", SCHEMA, base_url=base, http_client=client, **ON)
            assert res.mode == "json_schema"
    assert _probes(server) == [] and len(server.requests) == 5
    assert server_checks() == []


def test_known_vendors():
    for url in ("https://api.openai.com/v1", "https://openrouter.ai/api/v1",
                "https://x.openai.azure.com/openai/v1", "https://API.DEEPSEEK.COM",
                "https://r.cognitiveservices.azure.com/openai",
                "https://generativelanguage.googleapis.com/v1beta/openai"):
        assert known_vendor(url), url
    for url in ("http://localhost:8000/v1", "http://127.0.0.1:11434/v1",
                "https://ollama.com/v1", "https://api.openai.com.evil.example/v1",
                "https://relay.example.com/v1", "https://notapi.openai.com.example/v1"):
        assert not known_vendor(url), url


def test_no_check_in_replay_nor_for_a_recorded_call_in_cache_mode(server, settings,
                                                                   tmp_path):
    cassette = str(tmp_path / "rec.jsonl")
    server.responder = echo_schema_responder(make_instance)
    sm.structured("q", SCHEMA, cache="record", cassette=cassette)
    server.reset()
    assert sm.structured("q", SCHEMA, cache="replay", cassette=cassette, **ON).from_cache
    assert sm.structured("q", SCHEMA, cache="cache", cassette=cassette, **ON).from_cache
    with pytest.raises(sm.CassetteMissError):  # replay never goes to the server
        sm.structured("unrecorded", SCHEMA, cache="replay", cassette=cassette, **ON)
    assert server.requests == [] and server_checks() == []
    # a call the recording does not hold is live: checked, and the check is not recorded
    server.responder = echo_schema_responder(make_instance)
    sm.structured("another q", SCHEMA, cache="cache", cassette=cassette, **ON)
    assert len(_probes(server)) == 1
    with open(cassette, encoding="utf-8") as file:
        lines = [json.loads(line) for line in file]
    assert len(lines) == 2 and not any(_is_probe(line["request"]) for line in lines)


def test_a_check_that_fails_leaves_the_ladder_alone(server, settings):
    server.queue(Reply.status(400, "max_tokens is too small"))
    server.responder = echo_schema_responder(make_instance)
    res = sm.structured("q", SCHEMA, **ON)
    assert res.mode == "json_schema"
    (finding,) = server_checks()
    assert finding.verdict == "unclear" and "max_tokens is too small" in finding.detail


def test_a_key_the_server_refuses_fails_the_call_and_is_checked_again(server, settings):
    server.queue(Reply.status(401, "bad key", echo_auth=True))
    with pytest.raises(sm.AuthenticationError):
        sm.structured("q", SCHEMA, **ON)
    assert server_checks() == []
    server.responder = echo_schema_responder(make_instance)
    assert sm.structured("q", SCHEMA, **ON).mode == "json_schema"
    assert len(_probes(server)) == 2


def test_an_answer_cut_inside_the_checked_json_is_enforcement(server, settings):
    server.queue(chat('{"check": "zqx-struct', finish_reason="length"))
    server.responder = echo_schema_responder(make_instance)
    sm.structured("q", SCHEMA, **ON)
    assert server_checks()[0].verdict == "enforces"
