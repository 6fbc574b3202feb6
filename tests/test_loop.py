"""The request loop's steps, each alone: plan, step down, read the answer, the conversation;
and the attempts a call counts."""

from __future__ import annotations

import json

import pytest

import structmagic as sm
from structmagic.call import loop, plan
from structmagic.config import resolve
from structmagic.providers import get_provider
from structmagic.providers.base import Completion, Step
from structmagic.schema import load_schema

from fakeserver import Reply, chat
from schema_corpus import MATH

SCHEMA = MATH["json_schema"]["schema"]
ANSWER = {"steps": [{"explanation": "e", "output": "o"}], "final_answer": "9.8"}
TEXT = json.dumps(ANSWER)
TREE = {"type": "object", "properties": {"name": {"type": "string"},
                                         "kids": {"type": "array", "items": {"$ref": "#"}}},
        "required": ["name", "kids"], "additionalProperties": False}
OPEN = {"type": "object", "additionalProperties": {"type": "integer"}}


@pytest.fixture(autouse=True)
def fresh_learned():
    plan.forget_learned_modes()
    yield
    plan.forget_learned_modes()


def _plan(provider, schema, **options):
    settings = resolve(provider=provider, **options)
    p = get_provider(provider)
    return plan.plan(settings, p, load_schema(schema).request_for(p))


def test_plan_per_provider():
    assert _plan("openai", SCHEMA) == [Step("json_schema", True), Step("json_schema", False),
                                       Step("json_object", False), Step("tools", False),
                                       Step("prompt", False)]
    # a schema strict mode cannot say starts non-strict
    assert _plan("openai", OPEN)[0] == Step("json_schema", False)
    assert _plan("responses", SCHEMA)[0] == Step("json_schema", True)
    assert _plan("anthropic", SCHEMA) == [Step("json_schema", False), Step("tools", False),
                                          Step("prompt", False)]
    # Claude's outputs take no recursion and no open object: the forced tool comes first
    assert _plan("anthropic", TREE)[0] == Step("tools", False)
    assert _plan("anthropic", OPEN)[0] == Step("tools", False)
    assert [s.mode for s in _plan("gemini", SCHEMA)] == [
        "json_schema", "json_schema_openapi", "json_object", "tools"]
    # the OpenAPI subset has no $ref: a recursive schema skips it before any request
    assert [s.mode for s in _plan("gemini", TREE)] == ["json_schema", "json_object", "tools"]


def test_plan_never_forces_a_tool_with_thinking():
    for provider in ("openai", "anthropic", "gemini", "responses"):
        assert "tools" not in [s.mode for s in _plan(provider, SCHEMA, thinking=True)]


def test_plan_with_an_explicit_mode_is_that_mode():
    assert _plan("openai", SCHEMA, mode="tools") == [Step("tools", True)]
    assert _plan("openai", OPEN, mode="json_schema") == [Step("json_schema", False)]


def test_plan_starts_where_the_server_was_learned_to_answer():
    settings = resolve(provider="openai")
    plan.learned.remember(("openai", settings.base_url, settings.model),
                          Step("json_object", False))
    assert [s.mode for s in _plan("openai", SCHEMA)] == ["json_object", "tools", "prompt"]


def test_step_down():
    steps = _plan("openai", SCHEMA)
    err = sm.UnsupportedFormatError("no", status=400)
    assert loop.step_down(steps, 0, err, resolve()) == 1
    with pytest.raises(sm.UnsupportedFormatError):
        loop.step_down(steps, len(steps) - 1, err, resolve())
    with pytest.raises(sm.UnsupportedFormatError):
        loop.step_down(steps, 0, err, resolve(mode="json_schema"))


def _read(text, schema=SCHEMA, **kw):
    spec = load_schema(schema)
    request = spec.request_for(get_provider("openai"))
    return loop.read_answer(Completion(text=text, **kw), spec, request)


def test_read_answer():
    answer = _read(TEXT)
    assert answer.plain == answer.data == ANSWER and answer.issues == []
    assert answer.raw == TEXT and not answer.truncated
    issues = _read('{"steps": []}').issues
    assert [str(i) for i in issues] == ["$: 'final_answer' is a required property"]
    assert _read("no json here").issues[0].message == "the answer contains no JSON value"
    with pytest.raises(sm.RefusalError, match="nope"):
        _read("", refusal="nope")
    with pytest.raises(sm.TruncatedError):
        _read('{"steps": [', finish="length")
    with pytest.raises(sm.ContentFilterError):
        _read("", finish="content_filter")


def test_an_answer_at_the_token_limit_is_kept_only_when_its_json_is_whole():
    answer = _read(TEXT + "\n", finish="length")
    assert answer.plain == ANSWER and answer.issues == [] and answer.truncated
    assert answer.raw == TEXT + "\n"  # the whole answer was the JSON
    fenced = _read(f"Here it is:\n```json\n{TEXT}\n```", finish="length")
    assert fenced.truncated and fenced.raw == TEXT
    for cut in ('{"steps": [', TEXT[:-1],
                # a complete object inside a cut one is not the answer
                '{"steps": [{"explanation": "e", "output": "o"}], "final',
                "", "Sure, here"):
        with pytest.raises(sm.TruncatedError) as info:
            _read(cut, finish="length")
        assert info.value.message.startswith("The answer was cut off before the JSON")
        assert info.value.raw == cut
    with pytest.raises(sm.TruncatedError, match=r"^The answer was cut off"):
        _read("1234", schema={"type": "integer"}, finish="length")  # a number may be cut
    with pytest.raises(sm.TruncatedError) as info:
        _read('{"steps": []}', finish="length")
    assert "complete but did not match the schema ($: 'final_answer' is a required " \
           "property)" in info.value.message and "--max-tokens" in info.value.hint
    assert not _read(TEXT).truncated


def test_raw_is_the_json_read_and_text_the_whole_answer(server, settings):
    prose = f"Here is the JSON:\n```json\n{TEXT}\n```\nHope this helps!"
    server.queue(chat(prose), chat(f"Sure: {TEXT} Anything else?"), chat(f"  {TEXT}\n"))
    res = sm.structured("q", SCHEMA)
    assert res.data == ANSWER and res.raw == TEXT and res.text == prose
    assert json.loads(res.raw) == res.plain and not res.truncated
    res = sm.structured("q", SCHEMA)
    assert res.raw == TEXT and res.text == f"Sure: {TEXT} Anything else?"
    res = sm.structured("q", SCHEMA)  # nothing but the JSON: the two are the same
    assert res.raw == res.text == f"  {TEXT}\n"


def test_an_invalid_answer_with_prose_keeps_the_whole_text_in_its_error(server, settings):
    prose = 'Here you go: {"steps": []} Cheers'
    server.queue(chat(prose), chat(prose))
    with pytest.raises(sm.InvalidOutputError) as info:
        sm.structured("q", SCHEMA, mode="json_schema")
    assert info.value.raw == prose


def test_an_answer_nested_too_deep_is_refused_clearly():
    deep = "[" * 1500 + "]" * 1500
    with pytest.raises(sm.InvalidOutputError, match="more than 100 levels deep"):
        _read(deep, schema=True)
    ok = json.dumps({"a": {"b": [[[[1]]]]}})
    assert _read(ok, schema=True).issues == []


def test_the_conversation_carries_each_invalid_answer():
    talk = plan.Conversation("Q?", "Be brief.", '{"type":"object"}')
    assert talk.messages("json_schema") == (
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q?"})
    assert "JSON Schema:\n{\"type\":\"object\"}" in talk.messages("json_object")[0]["content"]
    talk.reask('{"bad": 1}', [sm.ValidationIssue("$", "'x' is a required property")])
    messages = talk.messages("json_schema")
    assert messages[2] == {"role": "assistant", "content": '{"bad": 1}'}
    assert "- $: 'x' is a required property" in messages[3]["content"]


def test_attempts_count_every_http_request(server, settings):
    server.queue(Reply.status(500, "boom"), Reply.status(400, "json_schema is not supported"),
                 chat('{"steps": 1}'), chat(TEXT))
    res = sm.structured("q", SCHEMA)
    assert res.attempts == 4 == len(server.requests)


def test_a_failed_call_says_how_many_requests_it_made(server, settings):
    server.queue(chat("{}"), chat("{}"))
    with pytest.raises(sm.InvalidOutputError) as info:
        sm.structured("q", SCHEMA)
    assert info.value.attempts == 2
    server.queue(Reply.status(503, "down"), Reply.status(503, "down"), Reply.status(503, "down"))
    with pytest.raises(sm.ServerError) as info:
        sm.structured("q", SCHEMA)
    assert info.value.attempts == 3


def test_failed_batch_items_carry_their_attempts(server, settings):
    server.responder = lambda req: chat("{}")
    (res,) = sm.batch(["q"], SCHEMA, reasks=2)
    assert isinstance(res.error, sm.InvalidOutputError) and res.attempts == 3


def test_a_recording_made_after_a_step_down_replays_in_a_fresh_kernel(server, settings,
                                                                     tmp_path):
    cassette = str(tmp_path / "rec.jsonl")
    server.queue(Reply.status(400, "response_format json_schema is not supported with this "
                                   "model"), chat(TEXT))
    recorded = sm.structured("q", SCHEMA, cache="record", cassette=cassette)
    assert recorded.data == ANSWER and recorded.attempts == 2
    plan.forget_learned_modes()  # a fresh kernel knows nothing about the server
    server.reset()
    replayed = sm.structured("q", SCHEMA, cache="replay", cassette=cassette)
    assert replayed.data == ANSWER and replayed.mode == recorded.mode
    assert server.requests == []
    # cache mode starts at the recorded step too: the rejected request is not sent again
    plan.forget_learned_modes()
    assert sm.structured("q", SCHEMA, cache="cache", cassette=cassette).from_cache
    assert server.requests == []


def test_no_json_at_all_says_the_server_ignored_the_format(server, settings):
    from providers import responses

    server.queue(responses("Sure! 9.8 is larger."), responses("It is 9.8."))
    with pytest.raises(sm.SchemaIgnoredError) as info:
        sm.structured("q", SCHEMA, provider="responses", mode="json_schema")
    assert "ignored the structured-output request (json_schema in the responses format)" in (
        str(info.value))
    assert "try --provider openai" in str(info.value)
    assert info.value.reason == "no JSON could be read from its answer"


# --- the first request of a row: one builder for every path -------------------------------------


@pytest.mark.parametrize("provider", ["openai", "responses", "anthropic", "gemini"])
def test_the_first_request_of_a_row_is_the_same_on_every_path(server, settings, provider):
    """What a call sends first, a batch job's line for the row, what an estimate counts and
    what a budget reserves are all the one request :func:`first_call` builds."""
    from structmagic.call.plan import first_call
    from structmagic.cost.tokens import count_body
    from structmagic.rows.budget import ItemEstimator
    from structmagic.rows.jobs.lines import build_line, plan_for
    from structmagic.transport.request import build

    from providers import anthropic, gemini, responses

    answer_in = {"openai": chat, "responses": responses, "anthropic": anthropic,
                 "gemini": gemini}[provider]
    options = {"provider": provider, "system": "Be brief.", "temperature": 0.25,
               "max_tokens": 321, "prices": {"test-model": (1.0, 2.0)}}
    given = resolve(options)
    spec = load_schema(SCHEMA)
    url, body = build(first_call("Which is larger?", spec, given), given,
                      get_provider(provider))
    assert body  # independent checks of its content are the providers' own tests

    server.queue(answer_in(TEXT))
    sm.structured("Which is larger?", SCHEMA, **options)
    (sent,) = server.requests
    assert server.url + sent.path.split("?")[0] == url.split("?")[0] and sent.json == body

    if get_provider(provider).batch_api is not None:
        line, _, counted = build_line(plan_for(spec, given), 0, "Which is larger?")
        # the line wraps the body in the batch API's own shape (custom_id, url or params)
        assert json.dumps(body, separators=(",", ":"), ensure_ascii=False) in line.decode()
        # counted over the line's body as written: its model and settings count too
        assert count_body(body) <= counted <= count_body(body) + 20
    estimated = sm.estimate(["Which is larger?"], SCHEMA, **options)
    assert estimated.input_tokens.expected == count_body(body)
    budget = ItemEstimator(["Which is larger?"], spec, given)
    assert budget.counted(0) == count_body(body)


# --- a server that ignored the structured-output request ----------------------------------------


def _local(server, **kw):
    from fakeserver import local_server_responder
    from instances import make_instance

    server.responder = local_server_responder(make_instance, **kw)


@pytest.mark.parametrize("answers", ["prose", "fence", "wrapper", "none"])
def test_an_ignored_request_steps_down_at_once_and_is_remembered(server, settings, answers):
    """One answer shows it (prose around the JSON, a fence, a wrapper object, no JSON): the
    next way of another mode is asked at once, no re-ask spent, and remembered."""
    _local(server, answers=answers)
    res = sm.structured("q", SCHEMA, reasks=0)
    assert res.data is not None and res.mode == "json_object" and res.attempts == 2
    first, second = (r.json for r in server.requests)
    assert first["response_format"]["type"] == "json_schema"
    assert second["response_format"] == {"type": "json_object"}
    assert len(second["messages"]) == 2  # its own first request: no re-ask turns
    server.reset()
    _local(server, answers=answers)
    assert sm.structured("q", SCHEMA).mode == "json_object" and len(server.requests) == 1


def test_json_of_another_shape_twice_in_a_row_steps_down(server, settings):
    _local(server, answers="other")
    res = sm.structured("q", SCHEMA)
    assert res.mode == "json_object" and res.attempts == 3
    kinds = [r.json.get("response_format", {}).get("type") for r in server.requests]
    assert kinds == ["json_schema", "json_schema", "json_object"]
    assert len(server.requests[1].json["messages"]) == 3  # one re-ask, then the step down


def test_once_in_another_shape_is_only_reasked(server, settings):
    server.queue(chat('{"weather": "sunny"}'), chat(TEXT))
    res = sm.structured("q", SCHEMA)
    assert res.mode == "json_schema" and res.attempts == 2
    assert server.requests[1].json["response_format"]["type"] == "json_schema"


@pytest.mark.parametrize("answers, reason", [
    ("prose", "it wrote prose around the JSON"),
    ("wrapper", "it wrapped the answer in an object of its own ('response')"),
    ("none", "no JSON could be read from its answer"),
    ("other", "two answers in a row had none of the schema's properties"),
])
def test_an_explicit_mode_says_the_server_ignored_it(server, settings, answers, reason):
    _local(server, answers=answers)
    with pytest.raises(sm.SchemaIgnoredError) as info:
        sm.structured("q", SCHEMA, mode="json_schema")
    err = info.value
    assert isinstance(err, sm.InvalidOutputError) and err.reason == reason
    assert err.message.startswith("The server ignored the structured-output request "
                                  f"(json_schema in the openai format): {reason}.")
    assert "--mode json_object" in err.hint and "--mode tools" in err.hint
    assert "vLLM's structured_outputs" in err.hint and err.attempts == 2


def test_prose_in_the_prompt_modes_is_no_sign(server, settings):
    prose = 'Here it is: {"steps": []} done'
    server.queue(chat(prose), chat(prose))
    with pytest.raises(sm.InvalidOutputError) as info:
        sm.structured("q", SCHEMA, mode="json_object")
    assert type(info.value) is sm.InvalidOutputError and info.value.attempts == 2


def test_a_forced_tool_answered_as_text_is_a_sign_a_call_is_not(server, settings):
    # the tool's step: a call whose input is of another shape is only re-asked; text with
    # no call is a sign
    server.queue(chat(None, tool_call='{"weather": 1}'),
                 chat('Sure! {"weather": 2} bye'))
    with pytest.raises(sm.SchemaIgnoredError, match="prose around the JSON"):
        sm.structured("q", SCHEMA, mode="tools")
    assert len(server.requests) == 2
    server.reset()
    server.queue(chat(None, tool_call='{"weather": 1}'), chat(None, tool_call='{"weather": 2}'))
    with pytest.raises(sm.InvalidOutputError) as info:
        sm.structured("q", SCHEMA, mode="tools")
    assert type(info.value) is sm.InvalidOutputError


def test_a_wrapper_key_the_schema_has_is_no_sign():
    from structmagic.call.ignored import Signs

    signs = Signs({"type": "object", "properties": {"answer": {"type": "integer"}}})
    step = Step("json_schema", True)
    assert signs.see(step, Completion('{"answer": "x"}'), '{"answer": "x"}') is None
    assert signs.see(step, Completion('{"result": {"a": 1}}'), '{"result": {"a": 1}}') == (
        "it wrapped the answer in an object of its own ('result')")
