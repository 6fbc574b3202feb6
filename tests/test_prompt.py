"""Messages, re-asks, JSON recovery and cell-body templates (pure)."""

from __future__ import annotations

import json

import pytest

from structmagic.call.prompt import (
    TemplateError,
    build_messages,
    check_text,
    extract_json,
    fill_template,
    find_json,
    reask_messages,
)
from structmagic.errors import ValidationIssue


def test_messages_per_mode():
    assert build_messages("hi", system=None, mode="json_schema", schema_text="{}") == (
        {"role": "user", "content": "hi"},
    )
    msgs = build_messages("hi", system="Be brief.", mode="json_object", schema_text='{"x":1}')
    assert msgs[0]["role"] == "system"
    assert msgs[0]["content"].startswith("Be brief.")
    assert '{"x":1}' in msgs[0]["content"]
    assert msgs[1] == {"role": "user", "content": "hi"}


def test_messages_list_is_kept_and_system_merged():
    msgs = build_messages(
        [{"role": "system", "content": "A"}, {"role": "user", "content": "q"}],
        system="B", mode="json_schema", schema_text="{}",
    )
    assert msgs == ({"role": "system", "content": "A\n\nB"}, {"role": "user", "content": "q"})


def test_reask_lists_paths():
    turns = reask_messages('{"a": 1}', [ValidationIssue("$.a", "1 is not of type 'string'")])
    assert turns[0] == {"role": "assistant", "content": '{"a": 1}'}
    assert "$.a: 1 is not of type 'string'" in turns[1]["content"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ('  [1, 2] ', [1, 2]),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('Sure! Here it is:\n```\n{"a": [1]}\n```\nAnything else?', {"a": [1]}),
        ('The answer is {"a": "}"} as requested.', {"a": "}"}),
        ('```JSON\r\n{"a": 2}```', {"a": 2}),
    ],
)
def test_extract_json_recovers(text, value):
    assert extract_json(text) == (value, None)


@pytest.mark.parametrize(
    ("text", "raw", "complete"),
    [
        ('{"a": 1}', '{"a": 1}', True),
        ('  [1, 2] \n', '  [1, 2] \n', True),  # the whole answer: whitespace and all
        ('```json\n{"a": 1}\n```', '{"a": 1}', True),
        ('Sure! Here it is:\n```\n {"a": [1]} \n```\nAnything else?', '{"a": [1]}', True),
        ('The answer is {"a": "}"} as requested.', '{"a": "}"}', True),
        ('Here [as asked] it is: {"a": 1} bye', '{"a": 1}', True),
        ('{"a": {"b": 1}, "c": "x', '{"b": 1}', False),  # inside a cut object
        ("42", "42", False),  # a number cut at a limit still reads as one
        ('"done"', '"done"', True),
        ("", "", False),
        ('{"a": ', "", False),
    ],
)
def test_find_json_gives_the_text_it_read(text, raw, complete):
    found = find_json(text)
    assert found.raw == raw and found.complete is complete
    if raw:
        assert raw in text and json.loads(raw) == found.value and found.problem is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "empty"), ("I think 42.", "no JSON"), ('{"a": ', "not valid JSON")],
)
def test_extract_json_reports(text, reason):
    value, problem = extract_json(text)
    assert value is None and reason in problem


def test_fill_template():
    ns = {"who": "Ada", "n": 3.14159, "rec": {"k": "v"}, "items": ["x", "y"]}
    assert fill_template("{who} {n:.2f} {rec[k]} {items[1]} {{lit}}", ns) == "Ada 3.14 v y {lit}"
    assert fill_template("{who!r}", ns) == "'Ada'"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{missing}", "'missing' is not defined"),
        ("{}", "empty or positional"),
        ("{0}", "empty or positional"),
        ("{who.__class__}", "double underscores"),
        ("{who", "unbalanced"),
        ("{rec[zz]}", "Could not fill"),
    ],
)
def test_fill_template_errors(template, message):
    with pytest.raises(TemplateError, match=message):
        fill_template(template, {"who": "Ada", "rec": {}})


def test_lone_surrogate_in_a_filled_value_names_the_variable():
    with pytest.raises(TemplateError) as info:
        fill_template("Summarise {doc} please", {"doc": "abc\ud800def"})
    text = str(info.value)
    assert "{doc}" in text and "'doc'" in text and "lone surrogate" in text
    assert "U+D800 at character 4" in text and "\n" not in text
    with pytest.raises(TemplateError, match=r"\{rec\[k\]\}"):
        fill_template("{rec[k]}", {"rec": {"k": "\udcff"}})


def test_text_that_can_be_sent_passes():
    assert fill_template("{x} {y!r}", {"x": "héllo 😀 中文", "y": "\ud800"}) == \
        "héllo 😀 中文 '\\ud800'"  # repr escapes the surrogate: plain ASCII, fine
    check_text("plain", "the prompt")
    check_text("😀 é", "the prompt")


@pytest.mark.parametrize("bad", ["\ud800", "x\udfff", "pair written apart: \ud83d\ude00"])
def test_check_text_refuses_lone_surrogates(bad):
    with pytest.raises(TemplateError, match="The prompt contains a lone surrogate"):
        check_text(bad, "The prompt")
    with pytest.raises(UnicodeEncodeError):
        bad.encode("utf-8")  # what a request would have hit
