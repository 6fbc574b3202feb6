"""Each provider's own schema policy: what Claude's structured outputs and Gemini's
``responseJsonSchema`` are sent for a schema, and that the answer is always validated against
the user's original schema. (OpenAI's strict mode has ``test_strict.py``.)"""

from __future__ import annotations

import pytest

import structmagic as sm
from structmagic.providers import get_provider
from structmagic.providers.anthropic import CLAUDE_OUTPUTS
from structmagic.providers.gemini import GEMINI_JSON
from structmagic.schema import Dialect, Limits, convert, load_schema, violations

from providers import anthropic, gemini

CONTACT = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 80},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "email": {"type": "string", "format": "email"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2,
                 "uniqueItems": True},
        "kind": {"const": "person"},
    },
    "required": ["name", "kind"],
}
TREE = {"type": "object", "properties": {"name": {"type": "string"},
                                         "kids": {"type": "array", "items": {"$ref": "#"}}},
        "required": ["name"]}


def claude(schema):
    return load_schema(schema).request_for(get_provider("anthropic"))


def gem(schema):
    return load_schema(schema).request_for(get_provider("gemini"))


# --- Claude -------------------------------------------------------------------------------------


def test_claude_keeps_optional_fields_optional_and_closes_objects():
    conv = claude(CONTACT)
    assert conv.strict and not conv.maps_back and not conv.wrapped
    props = conv.request["properties"]
    assert conv.request["required"] == ["name", "kind"]
    assert conv.request["additionalProperties"] is False
    assert props["age"] == {"type": "integer",
                            "description": "Constraint: minimum 0\nConstraint: maximum 150"}
    assert props["name"] == {"type": "string",
                             "description": "Constraint: minLength 1\nConstraint: maxLength 80"}
    assert props["email"] == {"type": "string", "format": "email"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"},
                             "description": "Constraint: minItems 2\nConstraint: uniqueItems true"}
    assert props["kind"] == {"type": "string", "const": "person"}
    assert violations(conv.request, CLAUDE_OUTPUTS) == []


def test_claude_keeps_what_it_supports():
    conv = claude({"type": "object", "properties": {
        "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "tricky": {"type": "string", "pattern": "^(?=.*x).+$"},
        "one": {"type": "array", "items": {"type": "integer"}, "minItems": 1},
        "site": {"type": "string", "format": "uri"}}})
    props = conv.request["properties"]
    assert props["code"] == {"type": "string", "pattern": "^[A-Z]{3}$"}
    assert props["tricky"] == {"type": "string",
                               "description": 'Constraint: pattern "^(?=.*x).+$"'}
    assert props["one"]["minItems"] == 1
    assert props["site"]["format"] == "uri"


@pytest.mark.parametrize(("schema", "reason"), [
    (TREE, "recursive"),
    ({"type": "object", "additionalProperties": {"type": "integer"}}, "additionalProperties"),
    ({"type": "object", "properties": {
        f"o{i}": {"type": "string"} for i in range(25)}}, "more than 24 optional"),
    ({"type": "object", "properties": {
        f"u{i}": {"type": ["string", "integer"]} for i in range(17)},
      "required": [f"u{i}" for i in range(17)]}, "more than 16 properties whose type"),
])
def test_what_claude_cannot_say_is_asked_with_the_tool(schema, reason):
    conv = claude(schema)
    assert not conv.strict
    assert any(reason in r for r in conv.reasons), conv.reasons


def test_a_recursive_schema_goes_to_claude_as_a_forced_tool(server, settings):
    server.queue(anthropic('{"name": "a", "kids": [{"name": "b"}]}', tool=True,
                           stop_reason="tool_use"))
    res = sm.structured("q", TREE, provider="anthropic", model="m-1")
    assert res.data == {"name": "a", "kids": [{"name": "b"}]} and res.mode == "tools"
    body = server.requests[0].json
    assert "output_config" not in body
    assert body["tools"][0]["input_schema"] == TREE


def test_claude_answers_are_validated_against_the_original(server, settings):
    server.queue(anthropic('{"name": "", "age": 200, "kind": "person"}'),
                 anthropic('{"name": "Ada", "age": 36, "kind": "person"}'))
    res = sm.structured("q", CONTACT, provider="anthropic", model="m-1")
    assert res.data == {"name": "Ada", "age": 36, "kind": "person"} and res.attempts == 2
    reask = server.requests[1].json["messages"][-1]["content"]
    assert "$.age: 200 is greater than the maximum of 150" in reask
    assert "$.name: '' should be non-empty" in reask


# --- Gemini -------------------------------------------------------------------------------------


def test_gemini_keeps_its_keywords_and_says_the_rest():
    conv = gem(CONTACT)
    assert conv.strict and not conv.maps_back and not conv.wrapped
    props = conv.request["properties"]
    assert conv.request["required"] == ["name", "kind"]
    assert "additionalProperties" not in conv.request
    assert props["age"] == {"type": "integer", "minimum": 0, "maximum": 150}
    assert props["name"] == {"type": "string",
                             "description": "Constraint: minLength 1\nConstraint: maxLength 80"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "minItems": 2,
                             "description": "Constraint: uniqueItems true"}
    assert props["kind"] == {"type": "string", "enum": ["person"]}
    assert violations(conv.request, GEMINI_JSON) == []


def test_gemini_takes_any_root_recursion_and_open_objects():
    array = {"type": "array", "items": {"type": "string"}}
    assert gem(array).request == array and not gem(array).wrapped
    assert gem(TREE).request["properties"]["kids"] == {"type": "array", "items": {"$ref": "#"}}
    open_map = {"type": "object", "additionalProperties": {"type": "integer"}}
    assert gem(open_map).request == open_map


def test_gemini_enums_of_other_values_are_said_in_words():
    conv = gem({"type": "object", "properties": {"flag": {"enum": [True, None]},
                                                 "n": {"enum": [1, 2.5]}}})
    assert conv.request["properties"]["flag"] == {"type": ["boolean", "null"],
                                                  "description": "One of: true, null"}
    assert conv.request["properties"]["n"] == {"type": "number", "enum": [1, 2.5]}


def test_gemini_sends_its_own_conversion(server, settings):
    server.queue(gemini('{"name": "Ada", "kind": "person"}'))
    res = sm.structured("q", CONTACT, provider="gemini", model="m-1")
    assert res.data == {"name": "Ada", "kind": "person"}
    sent = server.requests[0].json["generationConfig"]["responseJsonSchema"]
    assert sent == gem(CONTACT).request
    assert sent["required"] == ["name", "kind"]  # optional stays optional, no null unions


# --- a dialect as data ------------------------------------------------------------------------


def test_a_new_dialect_is_data():
    tiny = Dialect(title="Tiny", keywords=frozenset({"type", "properties", "required",
                                                    "description"}),
                   closed_objects=False, all_required=False, limits=Limits(max_properties=2))
    conv = convert({"type": "object", "properties": {"a": {"type": "string", "maxLength": 3}}},
                   tiny)
    assert conv.strict
    assert conv.request["properties"]["a"] == {"type": "string",
                                               "description": "Constraint: maxLength 3"}
    over = convert({"type": "object", "properties": {k: {"type": "string"} for k in "abc"}},
                   tiny)
    assert not over.strict and "Tiny's limit is 2" in over.reasons[0]
