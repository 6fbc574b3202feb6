"""What every provider shares, against the fake server: streams, refusals, truncation, errors,
re-asks, recordings, configuration; and the registry."""

from __future__ import annotations

import json

import pytest

import structmagic as sm

from providers import (
    anthropic,
    anthropic_error,
    anthropic_stream,
    gemini,
    gemini_error,
    gemini_stream,
    responses,
    responses_stream,
)
from schema_corpus import MATH

SCHEMA = MATH["json_schema"]["schema"]
ANSWER = {"steps": [{"explanation": "compare tenths", "output": "0.8 > 0.1"}],
          "final_answer": "9.8"}
TEXT = json.dumps(ANSWER)

OK = {
    "responses": lambda **kw: responses(TEXT, **kw),
    "anthropic": lambda **kw: anthropic(TEXT, **kw),
    "gemini": lambda **kw: gemini(TEXT, **kw),
}
STREAM = {
    "responses": lambda **kw: responses_stream(TEXT, **kw),
    "anthropic": lambda **kw: anthropic_stream(TEXT, **kw),
    "gemini": lambda **kw: gemini_stream(TEXT, **kw),
}
PROVIDERS = list(OK)


def ask(provider, **kw):
    return sm.structured("9.11 or 9.8?", SCHEMA, provider=provider, system="Be a tutor.",
                         model="m-1", **kw)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_gives_partials_reasoning_and_usage(server, settings, provider):
    kw = {"responses": {"reasoning": "think"}, "anthropic": {"thinking": "think"},
          "gemini": {"thought": "think"}}[provider]
    server.queue(STREAM[provider](**kw))
    seen = []
    res = ask(provider, stream=True, on_partial=seen.append)
    assert res.data == ANSWER
    assert res.reasoning == "think"
    assert res.usage["total_tokens"] == 30
    assert seen and seen[-1] == ANSWER


@pytest.mark.parametrize("provider", PROVIDERS)
def test_nonstream_reasoning(server, settings, provider):
    kw = {"responses": {"reasoning": "hmm"}, "anthropic": {"thinking": "hmm"},
          "gemini": {"thought": "hmm"}}[provider]
    server.queue(OK[provider](**kw))
    assert ask(provider).reasoning == "hmm"


@pytest.mark.parametrize(
    ("provider", "reply"),
    [
        ("responses", lambda: responses(None, refusal="I can't help with that.")),
        ("responses", lambda: responses_stream("", refusal="I can't help with that.")),
        ("anthropic", lambda: anthropic("I can't help with that.", stop_reason="refusal")),
        ("anthropic", lambda: anthropic_stream("I can't help with that.",
                                               stop_reason="refusal")),
    ],
)
def test_refusals(server, settings, provider, reply):
    server.queue(reply())
    with pytest.raises(sm.RefusalError, match="can't help"):
        ask(provider, stream=True)


@pytest.mark.parametrize(
    ("provider", "reply"),
    [
        ("responses", lambda: responses('{"steps": [', status="incomplete",
                                        incomplete_reason="max_output_tokens")),
        ("responses", lambda: responses_stream('{"steps": [',
                                               incomplete_reason="max_output_tokens")),
        ("anthropic", lambda: anthropic('{"steps": [', stop_reason="max_tokens")),
        ("anthropic", lambda: anthropic_stream('{"steps": [', stop_reason="max_tokens")),
        ("gemini", lambda: gemini('{"steps": [', finish="MAX_TOKENS")),
        ("gemini", lambda: gemini_stream('{"steps": [', finish="MAX_TOKENS")),
    ],
)
def test_truncation(server, settings, provider, reply):
    server.queue(reply())
    with pytest.raises(sm.TruncatedError):
        ask(provider, stream=True)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_error_event_in_stream(server, settings, provider):
    server.queue(STREAM[provider](error="upstream overloaded"))
    with pytest.raises(sm.StreamError, match="upstream overloaded"):
        ask(provider, stream=True)


@pytest.mark.parametrize(
    ("provider", "reply", "cls", "text"),
    [
        ("anthropic", lambda: anthropic_error(401, "invalid x-api-key", "authentication_error"),
         sm.AuthenticationError, "invalid x-api-key"),
        ("anthropic", lambda: anthropic_error(529, "Overloaded", "overloaded_error"),
         sm.ServerError, "Overloaded"),
        ("gemini", lambda: gemini_error(403, "API key not valid", "PERMISSION_DENIED"),
         sm.AuthenticationError, "API key not valid"),
        ("gemini", lambda: gemini_error(404, "models/m-1 is not found", "NOT_FOUND"),
         sm.BadRequestError, "not found"),
    ],
)
def test_error_shapes(server, settings, provider, reply, cls, text):
    server.queue(*[reply()] * 3)
    with pytest.raises(cls, match=text):
        ask(provider, mode="json_schema")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_reask_per_provider(server, settings, provider):
    bad = {"responses": responses('{"steps": 1}'), "anthropic": anthropic('{"steps": 1}'),
           "gemini": gemini('{"steps": 1}')}[provider]
    server.queue(bad, OK[provider]())
    res = ask(provider)
    assert res.data == ANSWER and res.attempts == 2


def test_cassette_keys_never_collide_across_providers(server, settings, tmp_path):
    cassette = str(tmp_path / "all.jsonl")
    for provider in PROVIDERS:
        server.queue(OK[provider]())
        ask(provider, cache="cache", cassette=cassette)
    from fakeserver import chat

    server.queue(chat(TEXT))  # an OpenAI chat request is not answered by those recordings
    sm.structured("9.11 or 9.8?", SCHEMA, system="Be a tutor.", model="m-1",
                  cache="cache", cassette=cassette)
    n = len(server.requests)
    for provider in PROVIDERS:  # replay: every provider answered from its own recording
        assert ask(provider, cache="replay", cassette=cassette).data == ANSWER
    assert len(server.requests) == n
    from pathlib import Path

    lines = [json.loads(x) for x in Path(cassette).read_text(encoding="utf-8").splitlines()]
    assert len({x["key"] for x in lines}) == len(lines) == 4


def test_provider_defaults_and_env(monkeypatch):
    from structmagic.config import resolve

    assert resolve(provider="anthropic").base_url == "https://api.anthropic.com/v1"
    assert resolve(provider="gemini").base_url == "https://generativelanguage.googleapis.com/v1beta"
    monkeypatch.setenv("STRUCTMAGIC_PROVIDER", "gemini")
    monkeypatch.setenv("GEMINI_API_KEY", "g-key-123456789")
    s = resolve()
    assert s.provider == "gemini" and s.key().source == "environment variable GEMINI_API_KEY"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "a-key-123456789")
    assert resolve(provider="anthropic").key().source.endswith("ANTHROPIC_API_KEY")


def test_magic_provider_option(ip, server, settings):
    server.queue(anthropic_stream(TEXT))
    ip.user_ns["schema"] = SCHEMA
    res = ip.run_cell("%%structured schema -o out --provider anthropic\nq",
                      store_history=False)
    assert res.success, res.error_in_exec
    assert ip.user_ns["out"] == ANSWER
    assert server.requests[0].path == "/v1/messages"




def test_every_shipped_module_defines_the_provider_it_is_named_after():
    import pkgutil

    import structmagic.providers as registry

    modules = [m.name for m in pkgutil.iter_modules(registry.__path__)
               if m.name not in registry.registry.NOT_PROVIDERS]
    assert {"base", "batch", "logprobs", "registry"} == registry.registry.NOT_PROVIDERS
    assert sorted(modules) == sorted(registry.provider_names())
    assert registry.provider_names()[0] == "openai"
    for name in modules:
        provider = registry.get_provider(name)
        assert provider.name == name and type(provider).__module__.endswith(f".{name}")
        for fact in ("title", "default_base_url", "default_model", "key_envs", "modes",
                     "capabilities", "dialect"):
            # only a provider whose tokens come from elsewhere needs no key
            assert getattr(provider, fact) or (fact == "key_envs"
                                               and provider.token_source), (name, fact)


def test_providers_load_on_first_use_only():
    import json
    import subprocess
    import sys

    code = ("import sys, json; import structmagic.magic;"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('structmagic.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    loaded = json.loads(out.stdout)
    assert "structmagic.providers.registry" in loaded
    assert not [m for m in loaded if m.startswith(tuple(
        f"structmagic.providers.{name}" for name in ("openai", "responses", "anthropic",
                                                     "gemini")))], loaded


def test_a_provider_registered_from_outside(server, settings):
    from structmagic.providers import provider_names, register
    from structmagic.providers.openai import OpenAIChat

    @register
    class Relay(OpenAIChat):
        name = "relay_test"
        title = "A relay speaking chat completions"
        key_envs = ("RELAY_TEST_KEY",)

    try:
        assert "relay_test" in provider_names()
        from fakeserver import chat

        server.queue(chat(TEXT))
        assert ask("relay_test").data == ANSWER
        assert server.requests[0].path == "/v1/chat/completions"
    finally:
        from structmagic.providers import unregister

        unregister("relay_test")


class _NotAProvider:
    """Looks like a provider by name only."""

    name = "not_a_provider"
    title = "A class that is no Provider"


def _half_provider():
    from structmagic.providers import Provider

    class Half(Provider):  # a subclass that forgot its facts and its answer reader
        name = "half_provider"
        title = "Half"

        def build(self, call, base_url):
            return base_url, {}

    return Half


@pytest.mark.parametrize(("make", "message"), [
    (lambda: _NotAProvider, "_NotAProvider is not a subclass of structmagic.providers."
                            "Provider; it lacks default_base_url, default_model"),
    (_half_provider, "Half lacks default_base_url, default_model, key_envs, modes, "
                     "capabilities, dialect, auth_headers(), parse(), stream(), "
                     "error_message()"),
    (lambda: "openai", "register takes a Provider subclass (a class), not a str"),
    (lambda: type("Odd", (_half_provider(),), {"name": "no way"}),
     "Odd needs a `name` that is an identifier"),
])
def test_register_refuses_what_is_not_a_provider(server, settings, make, message):
    from structmagic.providers import provider_names, register

    with pytest.raises(sm.ConfigError) as info:
        register(make())
    assert message in str(info.value) and "\n" not in info.value.message
    assert "not_a_provider" not in provider_names()
    assert "half_provider" not in provider_names()
    assert server.requests == []


def test_register_names_a_provider_that_cannot_be_made(settings):
    from structmagic.providers import register
    from structmagic.providers.openai import OpenAIChat

    class Broken(OpenAIChat):
        name = "broken_provider"

        def __init__(self):
            raise RuntimeError("no config file")

    with pytest.raises(sm.ConfigError, match="Broken could not be made: RuntimeError: no "
                                             "config file"):
        register(Broken)
