"""Every error and every Result survives pickle (joblib, a cache, a process pool), with all
its attributes, and no pickle carries the key."""

from __future__ import annotations

import inspect
import pickle

import pytest

import structmagic as sm
from structmagic import errors as E
from structmagic import redact
from structmagic.call.result import Result
from structmagic.grounding import Grounding

from fakeserver import Reply, chat

SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}},
    "required": ["a"],
    "additionalProperties": False,
}
ISSUES = [E.ValidationIssue("$.a", "'x' is not of type 'integer'"),
          E.ValidationIssue("$", "'b' was unexpected")]

# One instance per class, every attribute given a value that is not its default.
EXAMPLES = {
    E.StructuredError: lambda: E.StructuredError("base", hint="do this"),
    E.ConfigError: lambda: E.ConfigError("No API key.", hint="Set OPENAI_API_KEY."),
    E.InputError: lambda: E.InputError("The prompt contains a lone surrogate.", hint="clean it"),
    E.SchemaError: lambda: E.SchemaError("bad type", path="$.properties.a", hint="fix it"),
    E.CassetteError: lambda: E.CassetteError("rec.jsonl:3: not an answer", hint="re-record"),
    E.CassetteMissError: lambda: E.CassetteMissError("not in the recording", hint="record"),
    E.TransportError: lambda: E.TransportError("Could not reach x", hint="check the URL"),
    E.APITimeoutError: lambda: E.APITimeoutError("Timed out", hint="--timeout"),
    E.APIError: lambda: E.APIError("HTTP 418", status=418, body_excerpt="teapot",
                                   retry_after=1.5, hint="h"),
    E.BadRequestError: lambda: E.BadRequestError("HTTP 400", status=400, body_excerpt="bad",
                                                 hint="h"),
    E.UnsupportedFormatError: lambda: E.UnsupportedFormatError(
        "json_schema rejected", status=400, body_excerpt="not supported", hint="--mode auto"),
    E.UnsupportedInputError: lambda: E.UnsupportedInputError(
        "the model m does not take images", status=400, body_excerpt="image_url is only "
        "supported by certain models", hint="Use a model that reads images."),
    E.AuthenticationError: lambda: E.AuthenticationError(
        "HTTP 401", status=401, body_excerpt="bad key", key_source="environment variable X",
        hint="The key came from environment variable X."),
    E.RateLimitError: lambda: E.RateLimitError("HTTP 429", status=429, body_excerpt="slow",
                                               retry_after=2.0),
    E.ServerError: lambda: E.ServerError("HTTP 503", status=503, body_excerpt="down",
                                         retry_after=0.25, hint="later"),
    E.AnswerError: lambda: E.AnswerError("unusable", raw='{"a": ', hint="h"),
    E.RefusalError: lambda: E.RefusalError("I can't help with that.", raw="", hint="h"),
    E.TruncatedError: lambda: E.TruncatedError("cut off", raw='{"a": 1', hint="--max-tokens"),
    E.ContentFilterError: lambda: E.ContentFilterError("filtered", raw="x", hint="h"),
    E.InvalidOutputError: lambda: E.InvalidOutputError("invalid", errors=ISSUES,
                                                       raw='{"a": "x", "b": 1}', hint="h"),
    E.SchemaIgnoredError: lambda: E.SchemaIgnoredError(
        "ignored", errors=ISSUES, reason="it wrote prose around the JSON",
        raw='Sure! {"a": "x"}', hint="--mode json_object"),
    E.UngroundedError: lambda: E.UngroundedError(
        "1 value is not in the source text after 2 tries:", paths=["lines[0].qty"],
        grounding={"lines[0].qty": Grounding("ungrounded", value=7)},
        value={"lines": [{"qty": 7}]}, raw='{"lines": [{"qty": 7}]}', hint="h"),
    E.StreamError: lambda: E.StreamError("broke off", partial={"a": [1, 2]}, raw='{"a": [1, 2',
                                         hint="run again"),
    E.BatchError: lambda: E.BatchError("job gone", job="3f2a", hint="re-run"),
    E.BatchUnavailableError: lambda: E.BatchUnavailableError("no batch API", status=501,
                                                             hint="--batch-api auto"),
    E.BatchRowError: lambda: E.BatchRowError("Row 3 errored", outcome="errored", status=400,
                                             code="invalid_request", job="3f2a"),
    E.NotRun: lambda: E.NotRun(f"{E.NOT_RUN} (the cap $1.00 was reached)", hint="raise it"),
    E.Interrupted: lambda: E.Interrupted("not finished: the batch was interrupted",
                                         hint="run again"),
}
ATTRIBUTES = ("message", "hint", "status", "body_excerpt", "retry_after", "key_source",
              "refusal", "raw", "errors", "partial", "path", "args", "job", "outcome", "code",
              "paths", "grounding", "value")


def error_classes():
    return {obj for obj in vars(E).values()
            if inspect.isclass(obj) and issubclass(obj, E.StructuredError)}


def test_every_error_class_has_an_example():
    assert error_classes() == set(EXAMPLES), "add the new class to EXAMPLES"


@pytest.mark.parametrize("cls", sorted(EXAMPLES, key=lambda c: c.__name__))
def test_error_round_trips_with_every_attribute(cls):
    err = EXAMPLES[cls]()
    err.add_note("a note")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls
    assert str(back) == str(err) and repr(back) == repr(err)
    for name in ATTRIBUTES:
        if hasattr(err, name):
            assert getattr(back, name) == getattr(err, name), name
    assert back.__notes__ == ["a note"]
    assert back._render_traceback_() == err._render_traceback_()
    # still a working error: can be raised, caught by its base, and pickled again
    with pytest.raises(E.StructuredError):
        raise back
    assert pickle.loads(pickle.dumps(back, protocol=0)).message == err.message


def test_attribute_set_after_raising_survives():
    err = E.StreamError("broke", partial=None)
    err.partial = {"steps": ["one"]}
    err.hint = "Gave up after 3 attempts."
    back = pickle.loads(pickle.dumps(err))
    assert back.partial == {"steps": ["one"]} and back.hint == "Gave up after 3 attempts."


def test_pickled_errors_carry_no_key(canary):
    redact.register_secret(canary)
    made = [
        E.AuthenticationError(f"HTTP 401: bad key {canary}", status=401,
                              body_excerpt=f"you sent Bearer {canary}", key_source="env",
                              hint=f"key {canary[:9]}***"),
        E.RefusalError(f"no ({canary})", raw=f"raw {canary}"),
        E.InvalidOutputError("invalid", errors=ISSUES, raw=f'{{"a": "{canary}"}}'),
    ]
    for err in made:
        data = pickle.dumps(err)
        for piece in (canary, canary[-6:], canary[:9]):
            assert piece.encode() not in data, type(err).__name__


def test_failed_and_good_results_of_a_batch_round_trip(server, settings, canary):
    def respond(req):
        prompt = req.json["messages"][-1]["content"]
        if prompt == "bad":
            return Reply.status(401, "bad key", echo_auth=True)
        return chat('{"a": 1}')

    server.responder = respond
    results = sm.batch(["good", "bad", "good"], SCHEMA, concurrency=2, mode="json_schema",
                       retries=0)
    assert [r.ok for r in results] == [True, False, True]
    data = pickle.dumps(results)
    assert canary.encode() not in data and canary[-6:].encode() not in data
    back = pickle.loads(data)
    assert [r.data for r in back] == [{"a": 1}, None, {"a": 1}]
    err, orig = back[1].error, results[1].error
    assert isinstance(err, sm.AuthenticationError)
    for name in ("message", "hint", "status", "body_excerpt", "key_source", "retry_after"):
        assert getattr(err, name) == getattr(orig, name), name
    assert back[0].usage == results[0].usage and back[0].model == results[0].model
    assert repr(back[1]) == repr(results[1])


def test_a_results_json_text_whole_answer_and_truncation_pickle(server, settings):
    prose = 'Here is the JSON: {"a": 1} Hope this helps.'
    server.queue(chat(prose, finish_reason="length"))
    res = sm.structured("q", {"type": "object", "properties": {"a": {"type": "integer"}},
                              "required": ["a"]})
    back = pickle.loads(pickle.dumps(res))
    assert (back.raw, back.text, back.truncated) == ('{"a": 1}', prose, True)
    old = pickle.loads(pickle.dumps(Result(raw='{"a": 1}')))
    del old.__dict__["text"]  # as pickled before it existed (and "truncated": rare, absent)
    again = pickle.loads(pickle.dumps(old))
    assert again.text == '{"a": 1}' and again.truncated is False


def test_result_pickles_without_its_widget():
    pytest.importorskip("ipywidgets")
    res = Result(data={"steps": ["a"], "answer": "b"}, plain={"steps": ["a"], "answer": "b"},
                 raw='{"steps": ["a"], "answer": "b"}', model="m", attempts=1)
    assert res.widget() is not None
    res._shown_live = True
    back = pickle.loads(pickle.dumps(res))
    assert back.data == res.data and back.raw == res.raw
    assert back._widget is None and back._shown_live is False
    assert res._widget is not None  # the original keeps its widget
    assert back.widget() is not None  # and the copy can build its own


def test_a_copys_original_and_the_rare_fields_pickle_and_old_pickles_load():
    res = Result(data={"a": 1}, plain={"a": 1}, raw='{"a": 1}', duplicate_of=3, reasks=2,
                 confidence={"a": 0.5}, labels={"a": "A"})
    res.reveal = True
    back = pickle.loads(pickle.dumps(res))
    assert (back.duplicate_of, back.reasks, back.confidence, back.labels, back.reveal) == (
        3, 2, {"a": 0.5}, {"a": "A"}, True)
    assert back.confidence is not res.confidence  # its own, not the original's
    # as a Result was pickled before duplicate_of existed, each field in its own state
    old = {k: v for k, v in back.__getstate__().items() if k not in ("duplicate_of", "_rare")}
    old.update(confidence={"a": 0.5}, labels=None, reveal=False, _widget=None,
               _shown_live=False, _others=(), grounding=None)
    again = Result.__new__(Result)
    again.__setstate__(old)
    assert again.duplicate_of is None and again.confidence == {"a": 0.5}
    assert again.labels is None and again.reveal is False and again.data == {"a": 1}


def test_a_result_unpickled_takes_no_more_memory_than_one_made():
    """Its attributes are set one by one: a dict update would give it an attribute table of
    its own (some 1.5 KiB more a result, for a column of them read back from a cache)."""
    import sys

    made = Result(data={"a": 1}, plain={"a": 1}, raw='{"a": 1}', model="m", attempts=1)
    back = pickle.loads(pickle.dumps(made))
    assert sys.getsizeof(back.__dict__) == sys.getsizeof(made.__dict__)


def test_an_interrupted_batch_keeps_where_its_rows_start():
    stopped = E.BatchInterrupted([Result(error=E.Interrupted("not finished"))], start=7)
    back = pickle.loads(pickle.dumps(stopped))
    assert back.start == 7 and len(back.results) == 1 and str(back) == str(stopped)
