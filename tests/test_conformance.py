"""One conformance suite over every provider (each wire format), beside each format's own cases
in ``test_provider_<name>.py``:

- its facts are present and well-formed, agree with one another, and are the documented ones;
- a request built in each mode of its ladder goes to the format's path and carries the schema
  where the format puts it, and an answer in its shape reads back as the same value, whole and
  streamed (SSE events through its translator and the one Accumulator);
- the same fault, through ``structured()`` against the fake server answering in the format,
  gives every provider an error of the same class and the same wording, naming the provider
  and the base URL where the error is the server's.

Every expected value is written out here (the vendors' documented paths, fields and error
shapes), never read from the provider under test. A provider added to the package fails
:func:`test_every_provider_has_its_expectations_here` until its rows are added.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any
from urllib.parse import urlsplit

import pytest

import structmagic as sm
from structmagic.providers import get_provider, provider_names
from structmagic.providers.base import (
    JSON_OBJECT,
    JSON_SCHEMA,
    PROMPT,
    TOOLS,
    Accumulator,
    Capabilities,
    Completion,
    InputLimits,
    Provider,
    Step,
)
from structmagic.schema import Dialect, load_schema

from fakeserver import Reply, chat, chat_stream, sse_event
from providers import (
    anthropic,
    anthropic_body,
    anthropic_stream,
    gemini,
    gemini_body,
    gemini_stream,
    mixed_body,
    mixed_stream,
    responses,
    responses_body,
    responses_stream,
)
from sm_fixtures import CANARY
from wire_helpers import BASE, KEY, OPENAPI, SCHEMA, UNI, make_call, no_key_anywhere, split_sse

NAMES = provider_names()
#: the wire format each provider speaks: Azure OpenAI is Chat Completions at an Azure
#: resource, Vertex AI is Gemini's format on Google Cloud's path
FORMAT = {"openai": "openai", "responses": "responses", "anthropic": "anthropic",
          "gemini": "gemini", "azure": "openai", "vertex": "gemini"}
OPENAPI_MODE = "json_schema_openapi"  # Gemini's own step: the OpenAPI-subset responseSchema

# --- the documented facts ------------------------------------------------------------------

FACTS: dict[str, dict[str, Any]] = {
    "openai": {
        "title": "OpenAI Chat Completions", "key_envs": ("OPENAI_API_KEY",),
        "base_url_envs": ("OPENAI_BASE_URL",), "default_base_url": "https://api.openai.com/v1",
        "version_path": "/v1", "default_model": "gpt-4o-mini", "price_table_id": "openai",
        "modes": (JSON_SCHEMA, JSON_OBJECT, TOOLS, PROMPT), "strict_schema": True,
        "thinking": False, "batch_flow": "files",
    },
    "responses": {
        "title": "OpenAI Responses API", "key_envs": ("OPENAI_API_KEY",),
        "base_url_envs": ("OPENAI_BASE_URL",), "default_base_url": "https://api.openai.com/v1",
        "version_path": "/v1", "default_model": "gpt-4o-mini", "price_table_id": "openai",
        "modes": (JSON_SCHEMA, JSON_OBJECT, TOOLS, PROMPT), "strict_schema": True,
        "thinking": True, "batch_flow": "files",
    },
    "anthropic": {
        "title": "Claude Messages", "key_envs": ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"),
        "base_url_envs": ("ANTHROPIC_BASE_URL",),
        "default_base_url": "https://api.anthropic.com/v1", "version_path": "/v1",
        "default_model": "claude-sonnet-4-5", "price_table_id": "anthropic",
        "modes": (JSON_SCHEMA, TOOLS, PROMPT), "strict_schema": False, "thinking": True,
        "batch_flow": "inline",
    },
    "gemini": {
        "title": "Gemini generateContent",
        "key_envs": ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY"),
        "base_url_envs": ("GEMINI_BASE_URL",),
        "default_base_url": "https://generativelanguage.googleapis.com/v1beta",
        "version_path": "/v1beta", "default_model": "gemini-2.5-flash",
        "price_table_id": "google", "modes": (JSON_SCHEMA, OPENAPI_MODE, JSON_OBJECT, TOOLS),
        "strict_schema": False, "thinking": True, "batch_flow": "mixed",
    },
    "azure": {
        "title": "Azure OpenAI (Chat Completions)", "key_envs": ("AZURE_OPENAI_API_KEY",),
        "base_url_envs": ("AZURE_OPENAI_ENDPOINT",),
        "default_base_url": "https://YOUR-RESOURCE.openai.azure.com/openai",
        "version_path": "/openai", "default_model": "gpt-4o-mini", "price_table_id": "azure",
        "modes": (JSON_SCHEMA, JSON_OBJECT, TOOLS, PROMPT), "strict_schema": True,
        "thinking": False, "batch_flow": "files",
        # no vendor-wide URL: the resource's own is needed (the environment variable, the
        # URL given there, and the base URL it makes)
        "needs": ("AZURE_OPENAI_ENDPOINT", "https://res-1.openai.azure.com/",
                  "https://res-1.openai.azure.com/openai"),
    },
    "vertex": {
        "title": "Gemini on Vertex AI", "key_envs": (), "base_url_envs": ("VERTEX_BASE_URL",),
        "default_base_url": "https://aiplatform.googleapis.com/v1/projects/PROJECT/locations/"
                            "global/publishers/google",
        "version_path": "/v1", "default_model": "gemini-2.5-flash",
        "price_table_id": "google", "modes": (JSON_SCHEMA, OPENAPI_MODE, JSON_OBJECT, TOOLS),
        "strict_schema": False, "thinking": True, "batch_flow": None,
        "needs": ("GOOGLE_CLOUD_PROJECT", "proj-1",
                  "https://aiplatform.googleapis.com/v1/projects/proj-1/locations/global/"
                  "publishers/google"),
    },
}

#: the path after the base URL: whole answers, streamed answers, the token-count endpoint
PATH = {"openai": "/chat/completions", "responses": "/responses", "anthropic": "/messages",
        "gemini": "/models/m-1:generateContent", "azure": "/chat/completions",
        "vertex": "/models/m-1:generateContent"}
STREAM_PATH = {**PATH, "gemini": "/models/m-1:streamGenerateContent?alt=sse",
               "vertex": "/models/m-1:streamGenerateContent?alt=sse"}
#: the query every request of the provider carries (Azure's API version)
QUERY = {name: "" for name in PATH} | {"azure": "api-version=2024-10-21"}
COUNT_PATH = {"openai": None, "responses": "/responses/input_tokens",
              "anthropic": "/messages/count_tokens", "gemini": "/models/m-1:countTokens",
              "azure": None, "vertex": "/models/m-1:countTokens"}
#: a token-count answer of 42 in the format's shape, and the key it is read from
COUNT_ANSWER = {"responses": {"object": "response.input_tokens", "input_tokens": 42},
                "anthropic": {"input_tokens": 42}, "gemini": {"totalTokens": 42},
                "vertex": {"totalTokens": 42}}
#: the header that carries the key, and its value for the key k
AUTH = {"openai": ("authorization", "Bearer {}"), "responses": ("authorization", "Bearer {}"),
        "anthropic": ("x-api-key", "{}"), "gemini": ("x-goog-api-key", "{}"),
        "azure": ("api-key", "{}"), "vertex": ("x-goog-api-key", "{}")}
#: the other headers the format needs (never secret)
EXTRA_HEADERS = {"openai": {}, "responses": {}, "gemini": {},
                 "anthropic": {"anthropic-version": "2023-06-01"}, "azure": {}, "vertex": {}}

# --- requests: the ladder, and where each step puts the schema -----------------------------

S = Step
#: the ways to ask for the city schema (strict-able: closed, every property required)
LADDER = {
    "openai": (S(JSON_SCHEMA, True), S(JSON_SCHEMA, False), S(JSON_OBJECT, False),
               S(TOOLS, False), S(PROMPT, False)),
    "responses": (S(JSON_SCHEMA, True), S(JSON_SCHEMA, False), S(JSON_OBJECT, False),
                  S(TOOLS, False), S(PROMPT, False)),
    "anthropic": (S(JSON_SCHEMA, False), S(TOOLS, False), S(PROMPT, False)),
    "gemini": (S(JSON_SCHEMA, False), S(OPENAPI_MODE, False), S(JSON_OBJECT, False),
               S(TOOLS, False)),
}
#: where a mode puts the schema in the body (modes not listed: the schema is in the prompt)
SCHEMA_AT: dict[str, dict[str, tuple[str | int, ...]]] = {
    "openai": {JSON_SCHEMA: ("response_format", "json_schema", "schema"),
               TOOLS: ("tools", 0, "function", "parameters")},
    "responses": {JSON_SCHEMA: ("text", "format", "schema"), TOOLS: ("tools", 0, "parameters")},
    "anthropic": {JSON_SCHEMA: ("output_config", "format", "schema"),
                  TOOLS: ("tools", 0, "input_schema")},
    "gemini": {JSON_SCHEMA: ("generationConfig", "responseJsonSchema"),
               OPENAPI_MODE: ("generationConfig", "responseSchema"),
               TOOLS: ("tools", 0, "functionDeclarations", 0, "parameters")},
}
LADDER |= {"azure": LADDER["openai"], "vertex": LADDER["gemini"]}
SCHEMA_AT |= {"azure": SCHEMA_AT["openai"], "vertex": SCHEMA_AT["gemini"]}
#: what is found there when it is not the JSON Schema as given (Gemini's OpenAPI subset)
SENT_AS = {(name, mode): OPENAPI for name in ("gemini", "vertex")
           for mode in (OPENAPI_MODE, TOOLS)}
#: the JSON switch of a mode that puts the schema in the prompt (None: nothing is added)
JSON_SWITCH: dict[tuple[str, str], tuple[tuple[str, ...], Any] | None] = {
    ("openai", JSON_OBJECT): (("response_format",), {"type": "json_object"}),
    ("openai", PROMPT): None,
    ("responses", JSON_OBJECT): (("text", "format"), {"type": "json_object"}),
    ("responses", PROMPT): None,
    ("anthropic", PROMPT): None,
    ("gemini", JSON_OBJECT): (("generationConfig",), {"responseMimeType": "application/json"}),
}
JSON_SWITCH |= {(name, mode): JSON_SWITCH[(fmt, mode)] for name, fmt in FORMAT.items()
                for f, mode in list(JSON_SWITCH) if f == fmt and name != fmt}
#: where the strict switch of native structured output is (formats that have one)
STRICT_AT = {"openai": ("response_format", "json_schema", "strict"),
             "responses": ("text", "format", "strict"),
             "azure": ("response_format", "json_schema", "strict")}
#: the fields that ask for a schema at all, none of which a prompt-only request carries
ASKING = {"openai": ("response_format", "tools", "tool_choice"),
          "responses": ("text", "tools", "tool_choice"),
          "anthropic": ("output_config", "tools", "tool_choice"),
          "gemini": ("tools", "toolConfig"), "azure": ("response_format", "tools", "tool_choice"),
          "vertex": ("tools", "toolConfig")}

# --- answers in each format's shape ----------------------------------------------------------

TEXT = json.dumps(UNI, ensure_ascii=False)
MODEL = "m-answer"
USAGE = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}


def whole(name: str, tool: bool = False) -> Any:
    """A whole JSON answer carrying TEXT (as a forced tool's call with ``tool``)."""
    name = FORMAT[name]
    if name == "openai":
        reply = (chat(None, tool_call=TEXT, finish_reason="tool_calls", model=MODEL) if tool
                 else chat(TEXT, model=MODEL))
        return json.loads(reply.body)
    if name == "responses":
        return responses_body(TEXT, tool=tool, model=MODEL)
    if name == "anthropic":
        return anthropic_body(TEXT, tool=tool, stop_reason="tool_use" if tool else "end_turn",
                              model=MODEL)
    return gemini_body(TEXT, tool=tool, model=MODEL)


def streamed(name: str, tool: bool = False) -> Reply:
    """The same answer as an SSE stream."""
    name = FORMAT[name]
    if name == "openai":
        return chat_stream(TEXT, tool_call=tool, model=MODEL,
                           finish_reason="tool_calls" if tool else "stop")
    if name == "responses":
        return responses_stream(TEXT, tool=tool, model=MODEL)
    if name == "anthropic":
        return anthropic_stream(TEXT, tool=tool, model=MODEL,
                                stop_reason="tool_use" if tool else "end_turn")
    return gemini_stream(TEXT, tool=tool, model=MODEL)


def dig(body: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        body = body[key]
    return body


def step_id(case: tuple[str, Step]) -> str:
    name, step = case
    return f"{name}-{step.mode}{'-strict' if step.strict else ''}"


CASES = [(name, step) for name in NAMES for step in LADDER.get(name, ())]
IDS = [step_id(c) for c in CASES]


def test_every_provider_has_its_expectations_here():
    assert set(NAMES) == {"openai", "responses", "anthropic", "gemini", "azure", "vertex"}
    for table in (FACTS, FORMAT, PATH, STREAM_PATH, QUERY, COUNT_PATH, AUTH, EXTRA_HEADERS,
                  LADDER, SCHEMA_AT, ASKING):
        assert set(table) == set(NAMES), table


# --- facts -------------------------------------------------------------------------------------

ENV_VAR = re.compile(r"[A-Z][A-Z0-9_]*")
KNOWN_MODES = {JSON_SCHEMA, JSON_OBJECT, TOOLS, PROMPT, OPENAPI_MODE}
KNOWN_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}


@pytest.mark.parametrize("name", NAMES)
def test_facts_are_present_and_well_formed(name):
    p = get_provider(name)
    assert isinstance(p, Provider) and get_provider(name) is p
    assert p.name == name and name.isidentifier()
    assert type(p).__module__ == f"structmagic.providers.{name}"
    assert isinstance(p.title, str) and p.title and p.title == p.title.strip()
    assert repr(p) == f"<provider {name!r}: {p.title}>"
    # environment variables: a key's end in _KEY, a base URL's in _BASE_URL (Azure's own
    # name, _ENDPOINT); no repeats. Only a provider with tokens of its own needs no key.
    for envs, suffix in ((p.key_envs, "_KEY"), (p.base_url_envs, ("_BASE_URL", "_ENDPOINT"))):
        assert isinstance(envs, tuple) and len(set(envs)) == len(envs)
        assert envs or (envs is p.key_envs and p.token_source is not None)
        assert all(ENV_VAR.fullmatch(e) and e.endswith(suffix) for e in envs), envs
    # the vendor's base URL: https, a host name, no port, credentials, query or trailing /;
    # its path is (or starts with) the version path a bare base URL gets
    url = urlsplit(p.default_base_url)
    assert url.scheme == "https" and url.hostname and "." in url.hostname
    assert url.port is None and not (url.username or url.password or url.query or url.fragment)
    assert re.fullmatch(r"/v\d+(beta\d*|alpha\d*)?|/openai", p.version_path), p.version_path
    assert url.path == p.version_path or url.path.startswith(p.version_path + "/")
    assert isinstance(p.default_model, str) and re.fullmatch(r"[\w.:/-]+", p.default_model)
    # modes: native structured output first, no repeats, only modes the loop knows
    assert isinstance(p.modes, tuple) and p.modes[0] == JSON_SCHEMA
    assert len(set(p.modes)) == len(p.modes) and set(p.modes) <= KNOWN_MODES
    # capabilities: every one a bool; images and documents as the input limits say
    caps = p.capabilities
    assert isinstance(caps, Capabilities)
    assert all(type(getattr(caps, f.name)) is bool for f in fields(Capabilities))
    assert caps.streaming
    assert isinstance(p.dialect, Dialect) and p.dialect.title
    assert isinstance(p.inputs, InputLimits)
    assert caps.images == bool(p.inputs.image_types)
    assert caps.documents == bool(p.inputs.document_types)
    assert set(p.inputs.image_types) | set(p.inputs.document_types) <= KNOWN_TYPES
    sizes = {f.name: getattr(p.inputs, f.name) for f in fields(InputLimits)
             if type(getattr(p.inputs, f.name)) is int}
    assert sizes and all(v >= 0 for v in sizes.values()), sizes
    if p.inputs.max_request_bytes:
        assert p.inputs.max_image_bytes <= p.inputs.max_request_bytes
        assert p.inputs.max_document_bytes <= p.inputs.max_request_bytes
    assert isinstance(p.rejection_words, tuple)
    assert all(isinstance(w, str) and w and w == w.lower() for w in p.rejection_words)
    assert p.price_table_id is None or (isinstance(p.price_table_id, str) and p.price_table_id)


@pytest.mark.parametrize("name", NAMES)
def test_batch_facts_agree(name):
    from structmagic.providers.batch import STATUSES, BatchAPI, BatchLimits

    p = get_provider(name)
    if not p.capabilities.batch_api:
        assert p.batch_api is None and p.batch_price_factor is None
        return
    api = p.batch_api
    assert isinstance(api, BatchAPI)
    assert type(p.batch_price_factor) is float and 0 < p.batch_price_factor < 1
    assert p.batch_price_factor == api.price_factor == 0.5  # every vendor's: half price
    assert api.flow == FACTS[name]["batch_flow"]
    assert isinstance(api.limits, BatchLimits) and api.limits.max_bytes > 0
    assert api.limits.max_requests is None or api.limits.max_requests > 0
    assert api.statuses and set(api.statuses.values()) <= set(STATUSES)
    assert api.window == "24h"


@pytest.mark.parametrize("name", NAMES)
def test_facts_are_the_documented_ones(name):
    p = get_provider(name)
    want = FACTS[name]
    got = {"title": p.title, "key_envs": p.key_envs, "base_url_envs": p.base_url_envs,
           "default_base_url": p.default_base_url, "version_path": p.version_path,
           "default_model": p.default_model, "price_table_id": p.price_table_id,
           "modes": p.modes, "strict_schema": p.capabilities.strict_schema,
           "thinking": p.capabilities.thinking,
           "batch_flow": p.batch_api.flow if p.batch_api else None}
    assert got == {k: v for k, v in want.items() if k != "needs"}
    header, value = AUTH[name]
    assert {k.lower(): v for k, v in p.auth_headers(KEY).items()} == {header: value.format(KEY)}
    assert {k.lower(): v for k, v in p.extra_headers().items()} == EXTRA_HEADERS[name]


@pytest.mark.parametrize("name", NAMES)
def test_facts_drive_the_configuration(name, monkeypatch):
    from structmagic.config import resolve

    want = FACTS[name]
    if "needs" in want:  # no vendor-wide URL: said at once, then made from the setting
        env, given, made = want["needs"]
        with pytest.raises(sm.ConfigError, match=env):
            resolve(provider=name)
        monkeypatch.setenv(env, given)
        assert resolve(provider=name).base_url == made
        monkeypatch.delenv(env)
        want = {**want, "default_base_url": made}
        monkeypatch.setenv(env, given)
    s = resolve(provider=name)
    assert (s.base_url, s.model, s.key()) == (want["default_base_url"], want["default_model"],
                                              None)
    assert resolve(provider=name, base_url="http://relay.test:8080/").base_url == (
        "http://relay.test:8080" + want["version_path"])
    monkeypatch.setenv(want["base_url_envs"][0], "http://env.test:9/api")
    assert resolve(provider=name).base_url == "http://env.test:9/api"
    for env in reversed(want["key_envs"]):  # the first one set, in order, wins
        monkeypatch.setenv(env, f"key-from-{env.lower()}-0123456789")
        assert resolve(provider=name).key().source == f"environment variable {env}"


@pytest.mark.parametrize("name", NAMES)
def test_the_ladder_for_a_strict_schema(name):
    p = get_provider(name)
    request = load_schema(SCHEMA, name="city").request_for(p)
    assert request.request == SCHEMA and request.strict
    assert p.ladder(request) == LADDER[name]
    # a forced tool never goes with thinking; every other step is kept, and builds with it
    with_thinking = p.ladder(request, thinking=True)
    assert with_thinking == tuple(s for s in LADDER[name] if s.mode != TOOLS)
    for step in with_thinking:
        p.build(make_call(step.mode, strict=step.strict, thinking=True), BASE)
    # only a format with a strict switch ever sends strict
    assert any(s.strict for s in p.ladder(request)) == p.capabilities.strict_schema


# --- requests and answers, mode by mode --------------------------------------------------------


def check_request(name: str, step: Step, body: dict[str, Any]) -> None:
    """The body asks for the schema as ``step`` says, where the format puts it."""
    at = SCHEMA_AT[name].get(step.mode)
    if at is not None:
        assert dig(body, at) == SENT_AS.get((name, step.mode), SCHEMA)
    else:  # the schema is in the prompt (the loop puts it there), not in the request
        assert '"properties"' not in json.dumps(body)
        switch = JSON_SWITCH[(name, step.mode)]
        if switch is None:
            assert not set(ASKING[name]) & set(body), body.keys()
        else:
            assert dig(body, switch[0]) == switch[1]
    if name in STRICT_AT and step.mode == JSON_SCHEMA:
        assert dig(body, STRICT_AT[name]) is step.strict
    elif name not in STRICT_AT:
        assert '"strict"' not in json.dumps(body)


def check_answer(c: Completion, tool: bool) -> None:
    assert json.loads(c.text) == UNI
    assert c.finish == ("tool" if tool else "stop")
    assert c.usage == USAGE and c.model == MODEL
    assert c.refusal is None and c.reasoning is None


@pytest.mark.parametrize(("name", "step"), CASES, ids=IDS)
def test_each_step_of_the_ladder_round_trips(name, step):
    p = get_provider(name)
    url, body = p.build(make_call(step.mode, strict=step.strict), BASE)
    assert url == BASE + PATH[name]
    assert "stream" not in body
    check_request(name, step, body)
    no_key_anywhere(p, url, body)
    tool = step.mode == TOOLS
    check_answer(p.parse(whole(name, tool)), tool)


@pytest.mark.parametrize(("name", "step"), CASES, ids=IDS)
def test_each_step_of_the_ladder_round_trips_streamed(name, step):
    p = get_provider(name)
    url, body = p.build(make_call(step.mode, strict=step.strict, stream=True), BASE)
    assert url == BASE + STREAM_PATH[name]
    # Gemini streams by its URL; the others by a body field
    assert body.get("stream") is (None if FORMAT[name] == "gemini" else True)
    check_request(name, step, body)
    tool = step.mode == TOOLS
    translator, acc = p.stream(), Accumulator()
    pieces = 0
    for event, data in split_sse(streamed(name, tool).body.decode("utf-8")):
        deltas = translator.feed(event, data)
        pieces += sum(1 for d in deltas if d.text or d.tool)
        acc.add(deltas)
    # the text came in pieces (a Gemini function call alone comes whole), and the stream ended
    assert pieces > 1 or (FORMAT[name] == "gemini" and tool)
    assert acc.done and acc.error is None
    check_answer(acc.completion(), tool)


# --- the same answer, whole and streamed: reasoning, prose and tool calls together ------------

THOUGHT = "São Paulo is the largest city of Brazil; the 2022 census counted it."
#: prose beside a tool call, with a JSON object in it (a guess) that is not the answer
PROSE = 'My guess is {"city": "São Paulo", "population": 12000000}; let me check.'
OTHER = json.dumps({"query": "São Paulo"}, ensure_ascii=False)
#: an answer of several blocks, and what it reads as: the value, the reasoning, the finish.
#: The schema's tool is ``city`` (make_call's schema name). A forced tool's input is the
#: answer, never the prose beside it; of several calls the one named like the schema's tool,
#: else the first; reasoning is reasoning, never part of the answer.
TOOL_SHAPES: dict[str, tuple[list[tuple[str, ...]], tuple[Any, str | None, str]]] = {
    "prose-then-tool": ([("text", PROSE), ("call", "city", TEXT)], (UNI, None, "tool")),
    "tool-then-prose": ([("call", "city", TEXT), ("text", PROSE)], (UNI, None, "tool")),
    "two-calls-named-second": ([("call", "lookup", OTHER), ("call", "city", TEXT)],
                               (UNI, None, "tool")),
    "two-calls-none-named": ([("call", "lookup", TEXT), ("call", "search", OTHER)],
                             (UNI, None, "tool")),
    "reasoning-prose-tool": ([("thinking", THOUGHT), ("text", PROSE), ("call", "city", TEXT)],
                             (UNI, THOUGHT, "tool")),
}
TEXT_SHAPES: dict[str, tuple[list[tuple[str, ...]], tuple[Any, str | None, str]]] = {
    "reasoning-then-text": ([("thinking", THOUGHT), ("text", TEXT)], (UNI, THOUGHT, "stop")),
}
PARITY = [(name, step, shape) for name, step in CASES
          for shape in (TOOL_SHAPES if step.mode == TOOLS else TEXT_SHAPES)]


@pytest.mark.parametrize(("name", "step", "shape"), PARITY,
                         ids=[f"{step_id((n, s))}-{shape}" for n, s, shape in PARITY])
def test_a_streamed_answer_reads_as_the_whole_one(name, step, shape):
    """The format's SSE events through its translator and the one Accumulator give the
    Completion its parser gives the whole answer: answer, reasoning, refusal, finish."""
    p = get_provider(name)
    blocks, (value, reasoning, finish) = {**TOOL_SHAPES, **TEXT_SHAPES}[shape]
    whole_one = p.parse(mixed_body(FORMAT[name], blocks, model=MODEL), tool="city")
    translator, acc = p.stream(), Accumulator(tool="city")
    for event, data in split_sse(mixed_stream(FORMAT[name], blocks, model=MODEL).body.decode()):
        acc.add(translator.feed(event, data))
    assert acc.done and acc.error is None
    streamed_one = acc.completion()
    for c in (whole_one, streamed_one):
        assert json.loads(c.text) == value
        assert (c.reasoning, c.refusal, c.finish) == (reasoning, None, finish)
        assert c.usage == USAGE and c.model == MODEL
    assert streamed_one == whole_one


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_claude_prose_before_the_forced_tool_is_not_the_answer(server, settings, stream):
    """Through structured(): Claude says a sentence, then calls the tool; the value is the
    tool's input, streamed or not (the schema's tool is ``response``)."""
    blocks = [("text", PROSE), ("call", "response", TEXT)]
    server.queue(mixed_stream("anthropic", blocks, model=MODEL) if stream
                 else Reply.json(mixed_body("anthropic", blocks, model=MODEL)))
    res = ask("anthropic", mode="tools", stream=stream)
    assert res.data == UNI and res.mode == TOOLS and res.attempts == 1
    assert res.usage == USAGE and res.model == MODEL
    (req,) = server.requests
    assert req.json["tool_choice"] == {"type": "tool", "name": "response"}
    assert req.json.get("stream") is (True if stream else None)


@pytest.mark.parametrize("name", NAMES)
def test_the_token_count_endpoint(name):
    p = get_provider(name)
    call = make_call(JSON_SCHEMA)
    found = p.count_request(call, BASE)
    if COUNT_PATH[name] is None:
        assert found is None
        with pytest.raises(ValueError):
            p.parse_count({"input_tokens": 42})
        return
    url, body = found
    assert url == BASE + COUNT_PATH[name]
    # the schema counts too, and nothing that only shapes the answer is sent
    text = json.dumps(body)
    assert json.dumps(SCHEMA) in text
    assert not {"stream", "max_tokens", "max_output_tokens", "temperature"} & set(body)
    assert p.parse_count(COUNT_ANSWER[name]) == 42
    for bad in ({}, {"input_tokens": "42", "totalTokens": "42"}, [42], None):
        with pytest.raises(ValueError):
            p.parse_count(bad)


# --- through structured(), against the fake server ---------------------------------------------


def ask(name: str, **kw: Any) -> Any:
    return sm.structured("Population of São Paulo?", SCHEMA, provider=name, model="m-1", **kw)


def where(server) -> str:
    return server.url + "/v1"


#: each format's error type (Anthropic) / status word (Gemini) for an HTTP status
ERROR_KIND = {400: ("invalid_request_error", "INVALID_ARGUMENT"),
              401: ("authentication_error", "UNAUTHENTICATED"),
              429: ("rate_limit_error", "RESOURCE_EXHAUSTED"),
              500: ("api_error", "INTERNAL")}


def error_reply(name: str, status: int, message: str,
                headers: dict[str, str] | None = None) -> tuple[Reply, str]:
    """An error answer in the format's documented shape, and its message as shown: Claude's
    error type and Gemini's status word are added in parentheses."""
    kind, state = ERROR_KIND[status]
    name = FORMAT[name]
    if name == "anthropic":
        body: Any = {"type": "error", "error": {"type": kind, "message": message}}
        shown = f"{message} ({kind})"
    elif name == "gemini":
        body = {"error": {"code": status, "message": message, "status": state}}
        shown = f"{message} ({state})"
    else:
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        shown = message
    return Reply.json(body, status=status, headers=headers), shown


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", NAMES)
def test_structured_reads_every_format(server, settings, name, stream):
    server.queue(streamed(name) if stream else Reply.json(whole(name)))
    res = ask(name, stream=stream)
    assert res.data == UNI and res.usage == USAGE and res.model == MODEL
    assert (res.provider, res.mode, res.attempts) == (name, JSON_SCHEMA, 1)
    (req,) = server.requests
    path, _, query = (STREAM_PATH if stream else PATH)[name].partition("?")
    query = "&".join(q for q in (query, QUERY[name]) if q)
    assert (req.method, req.path, req.query) == ("POST", "/v1" + path, query)
    header, value = AUTH[name]
    assert req.headers[header] == value.format(CANARY)
    assert all(req.headers[k] == v for k, v in EXTRA_HEADERS[name].items())
    assert req.headers["content-type"] == "application/json"
    repeated = {h for h in req.header_names if req.header_names.count(h) > 1}
    assert not repeated, f"sent more than once: {sorted(repeated)}"  # a strict proxy refuses
    assert CANARY not in req.path + req.query and CANARY.encode() not in req.body
    check_request(name, LADDER[name][0], req.json)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", NAMES)
def test_a_rejected_key(server, settings, name, stream):
    reply, shown = error_reply(name, 401, "Incorrect API key provided")
    server.queue(reply)
    with pytest.raises(sm.AuthenticationError) as info:
        ask(name, stream=stream)
    err = info.value
    assert err.message == f"HTTP 401 from {where(server)} ({name}, model m-1): {shown}"
    assert err.status == 401 and err.key_source == "structmagic.configure(api_key=...)"
    assert len(server.requests) == 1  # never retried


@pytest.mark.parametrize("name", NAMES)
def test_rate_limited_after_the_retries(server, settings, sleeps, name):
    reply, shown = error_reply(name, 429, "Too many requests", headers={"retry-after": "2"})
    server.queue(reply, reply, reply)
    with pytest.raises(sm.RateLimitError) as info:
        ask(name)
    err = info.value
    assert err.message == f"HTTP 429 (rate limited) from {where(server)} ({name}, model m-1): " \
        + shown
    assert err.status == 429 and err.retry_after == 2.0
    assert err.hint.startswith("Gave up after 3 attempts.")
    assert len(server.requests) == 3 and sleeps == [2.0, 2.0]


@pytest.mark.parametrize("name", NAMES)
def test_a_server_error_after_the_retries(server, settings, sleeps, name):
    reply, shown = error_reply(name, 500, "The server had an error")
    server.queue(reply, reply, reply)
    with pytest.raises(sm.ServerError) as info:
        ask(name)
    assert info.value.message == (
        f"HTTP 500 (server error) from {where(server)} ({name}, model m-1): {shown}")
    assert len(server.requests) == 3 and len(sleeps) == 2


REJECTED = "Invalid schema for this request: 'population' is not supported"


@pytest.mark.parametrize("name", NAMES)
def test_a_rejected_schema_in_a_chosen_mode(server, settings, name):
    reply, shown = error_reply(name, 400, REJECTED)
    server.queue(reply)
    with pytest.raises(sm.UnsupportedFormatError) as info:
        ask(name, mode="json_schema")
    err = info.value
    assert err.message == (f"HTTP 400 from {where(server)} ({name}, model m-1): the server "
                           f"does not take this response format: {shown}")
    assert err.status == 400 and "--mode" in err.hint
    assert len(server.requests) == 1  # neither retried nor stepped down: the mode was chosen


@pytest.mark.parametrize("name", NAMES)
def test_a_rejected_schema_steps_down_the_ladder(server, settings, name):
    reply, _ = error_reply(name, 400, REJECTED)
    server.queue(reply, Reply.json(whole(name)))
    res = ask(name)
    assert res.data == UNI
    first, second = server.requests
    check_request(name, LADDER[name][0], first.json)
    check_request(name, LADDER[name][1], second.json)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", NAMES)
def test_a_truncated_answer(server, settings, name, stream):
    cut = '{"city": "São'
    replies = {
        "openai": (lambda: chat(cut, finish_reason="length"),
                   lambda: chat_stream(cut, finish_reason="length")),
        "responses": (lambda: responses(cut, status="incomplete",
                                        incomplete_reason="max_output_tokens"),
                      lambda: responses_stream(cut, incomplete_reason="max_output_tokens")),
        "anthropic": (lambda: anthropic(cut, stop_reason="max_tokens"),
                      lambda: anthropic_stream(cut, stop_reason="max_tokens")),
        "gemini": (lambda: gemini(cut, finish="MAX_TOKENS"),
                   lambda: gemini_stream(cut, finish="MAX_TOKENS")),
    }
    server.queue(replies[FORMAT[name]][stream]())
    with pytest.raises(sm.TruncatedError) as info:
        ask(name, stream=stream)
    assert info.value.message == ("The answer was cut off before the JSON was complete "
                                  "(finish_reason 'length').")
    assert info.value.raw == cut
    assert len(server.requests) == 1  # never re-asked


#: each format's finish at the token limit, whole and streamed
AT_THE_LIMIT = {
    "openai": (lambda text: chat(text, finish_reason="length"),
               lambda text: chat_stream(text, finish_reason="length")),
    "responses": (lambda text: responses(text, status="incomplete",
                                         incomplete_reason="max_output_tokens"),
                  lambda text: responses_stream(text, incomplete_reason="max_output_tokens")),
    "anthropic": (lambda text: anthropic(text, stop_reason="max_tokens"),
                  lambda text: anthropic_stream(text, stop_reason="max_tokens")),
    "gemini": (lambda text: gemini(text, finish="MAX_TOKENS"),
               lambda text: gemini_stream(text, finish="MAX_TOKENS")),
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", NAMES)
def test_a_whole_answer_at_the_token_limit_is_kept(server, settings, name, stream):
    """The limit fell just after the closing brace: the JSON is complete and valid."""
    server.queue(AT_THE_LIMIT[FORMAT[name]][stream](TEXT))
    res = ask(name, stream=stream)
    assert res.data == UNI and res.truncated and res.raw == res.text == TEXT
    assert "the answer reached the token limit (max_tokens)" in res._text().splitlines()[1]
    assert len(server.requests) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", NAMES)
def test_a_whole_but_invalid_answer_at_the_token_limit_is_not_reasked(server, settings, name,
                                                                      stream):
    whole_text = '{"city": "São Paulo"}'  # complete, but without the required population
    server.queue(AT_THE_LIMIT[FORMAT[name]][stream](whole_text))
    with pytest.raises(sm.TruncatedError) as info:
        ask(name, stream=stream)
    err = info.value
    assert err.message == (
        "The answer reached the token limit (finish_reason 'length') just after its JSON, "
        "which was complete but did not match the schema ($: 'population' is a required "
        "property); it is not asked again, as the answer would stop at the same limit.")
    assert "--max-tokens" in err.hint and err.raw == whole_text
    assert len(server.requests) == 1


@pytest.mark.parametrize("name", NAMES)
def test_an_error_event_inside_the_stream(server, settings, name):
    message = "upstream overloaded"
    reply, shown = {
        "openai": (chat_stream(TEXT, error_event={"message": message, "type": "server_error"}),
                   message),
        "responses": (responses_stream(TEXT, error=message), message),
        "anthropic": (anthropic_stream(TEXT, error=message), f"{message} (overloaded_error)"),
        "gemini": (gemini_stream(TEXT, error=message), f"{message} (UNAVAILABLE)"),
    }[FORMAT[name]]
    server.queue(reply)
    with pytest.raises(sm.StreamError) as info:
        ask(name, stream=True)
    assert info.value.message == f"The server sent an error in the stream: {shown}"
    assert len(server.requests) == 1  # part of the answer had come: not retried


#: each format's "the server is busy" as the first event of a stream, before any answer
BUSY_FIRST = {
    "openai": sse_event({"error": {"message": "upstream overloaded", "type": "server_error"}}),
    "responses": sse_event({"type": "error", "code": "server_error",
                            "message": "upstream overloaded"}, event="error"),
    "anthropic": sse_event({"type": "error", "error": {"type": "overloaded_error",
                                                       "message": "Overloaded"}},
                           event="error"),
    "gemini": sse_event({"error": {"code": 503, "message": "The model is overloaded.",
                                   "status": "UNAVAILABLE"}}),
}


@pytest.mark.parametrize("name", NAMES)
def test_a_busy_error_before_any_of_the_answer_is_retried(server, settings, sleeps, name):
    """Nothing of the answer had come: another attempt, as for a 529 (Claude's
    ``overloaded_error`` as the first event of a stream, and each format's like)."""
    server.queue(Reply.sse([BUSY_FIRST[FORMAT[name]]]), streamed(name))
    res = ask(name, stream=True)
    assert res.data == UNI and res.attempts == 2
    assert len(server.requests) == 2 and len(sleeps) == 1


@pytest.mark.parametrize("name", NAMES)
def test_an_error_of_the_request_before_any_of_the_answer_is_not_retried(server, settings,
                                                                         name):
    bad = {"type": "invalid_request_error", "message": "prompt is too long"}
    server.queue(Reply.sse([sse_event({"type": "error", "error": bad}, event="error")
                            if FORMAT[name] in ("anthropic", "responses")
                            else sse_event({"error": bad})]))
    with pytest.raises(sm.StreamError, match="prompt is too long"):
        ask(name, stream=True)
    assert len(server.requests) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", NAMES)
def test_an_answer_of_another_shape(server, settings, name, stream):
    server.queue(Reply.json({"object": "list", "data": []}))
    with pytest.raises(sm.BadRequestError) as info:
        ask(name, stream=stream)
    assert info.value.message.startswith(
        f"HTTP 200 from {where(server)}, but the answer does not have the {name} shape: ")
    assert info.value.status == 200 and len(server.requests) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", NAMES)
def test_a_page_instead_of_an_answer(server, settings, name, stream):
    server.queue(Reply.text("<html><body><h1>Sign in to the Wi-Fi</h1></body></html>",
                            content_type="text/html"))
    with pytest.raises(sm.BadRequestError) as info:
        ask(name, stream=stream)
    assert info.value.message == (f"HTTP 200 from {where(server)}, but the body is not JSON: "
                                  "Sign in to the Wi-Fi")


# Not every format has every way of declining: Gemini has no refusal (it blocks with a safety
# finish), Claude no content filter (it refuses). Each format's own way, same error.
REFUSED = "I can't help with that."
REFUSALS = {
    "openai": (lambda: chat(None, refusal=REFUSED), lambda: chat_stream("", refusal=REFUSED)),
    "responses": (lambda: responses(None, refusal=REFUSED),
                  lambda: responses_stream("", refusal=REFUSED)),
    "anthropic": (lambda: anthropic(REFUSED, stop_reason="refusal"),
                  lambda: anthropic_stream(REFUSED, stop_reason="refusal")),
}
FILTERED = {
    "openai": (lambda: chat(None, finish_reason="content_filter"),
               lambda: chat_stream("", finish_reason="content_filter")),
    "responses": (lambda: responses(None, status="incomplete",
                                    incomplete_reason="content_filter"),
                  lambda: responses_stream("", incomplete_reason="content_filter")),
    "gemini": (lambda: gemini(None, finish="SAFETY"),
               lambda: Reply.sse([sse_event(gemini_body(None, finish="SAFETY"))])),
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", [n for n in NAMES if FORMAT[n] in REFUSALS])
def test_a_refusal(server, settings, name, stream):
    server.queue(REFUSALS[FORMAT[name]][stream]())
    with pytest.raises(sm.RefusalError) as info:
        ask(name, stream=stream)
    assert info.value.message == f"The model refused to answer: {REFUSED}"
    assert info.value.refusal == REFUSED and len(server.requests) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", [n for n in NAMES if FORMAT[n] in FILTERED])
def test_a_content_filter(server, settings, name, stream):
    server.queue(FILTERED[FORMAT[name]][stream]())
    with pytest.raises(sm.ContentFilterError) as info:
        ask(name, stream=stream)
    assert info.value.message == "The provider's content filter stopped the answer."
    assert len(server.requests) == 1
