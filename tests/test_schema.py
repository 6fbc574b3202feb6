"""Schema intake, strict conversion and checking (issue 5)."""

from __future__ import annotations

import copy
import json
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import structmagic as sm
from structmagic.schema import load_schema, validator_for
from structmagic.strict import strict_violations

from fakeserver import echo_schema_responder
from instances import make_instance
from schema_corpus import CONTACT, CORPUS, INVOICE, NOT_STRICT, Colour, Person, Step

IDS = [c[0] for c in CORPUS]


def request_shape(spec, example):
    return {"value": example} if spec.wrapped else example


@pytest.mark.parametrize(("name", "schema", "example"), CORPUS, ids=IDS)
def test_corpus_converts_and_checks(name, schema, example):
    before = copy.deepcopy(schema) if isinstance(schema, dict) else None
    spec = load_schema(schema, name=name)
    if before is not None:
        assert schema == before  # the user's schema is never changed
    assert spec.strict == (name not in NOT_STRICT), strict_violations(spec.request_schema)
    if spec.strict:
        assert strict_violations(spec.request_schema) == []
    assert spec.request_schema["type"] == "object"
    # a generated instance of the request schema is accepted
    plain, data, issues = spec.check(make_instance(spec.request_schema))
    assert issues == [], issues
    # the corpus example (in request shape) is accepted and typed
    plain, data, issues = spec.check(request_shape(spec, example))
    assert issues == [], issues
    if spec.python_type is None:
        assert data == plain
    elif isinstance(spec.python_type, type) and hasattr(spec.python_type, "model_validate"):
        assert isinstance(data, spec.python_type)


@pytest.mark.parametrize(("name", "schema", "example"), CORPUS, ids=IDS)
def test_corpus_end_to_end_against_the_fake_server(server, settings, name, schema, example):
    server.responder = echo_schema_responder(make_instance)
    res = sm.structured("Extract.", schema)
    assert res.attempts == 1
    body = server.requests[0].json
    sent = body["response_format"]["json_schema"]
    assert sent["strict"] is (name not in NOT_STRICT)
    assert res.plain is not None or res.data is None


def test_names_are_kept_or_derived():
    from schema_corpus import MATH, UI_TREE

    assert load_schema(MATH).name == "math_reasoning"
    assert load_schema(MATH["json_schema"]).name == "math_reasoning"
    assert load_schema(UI_TREE).name == "ui"
    assert load_schema(CONTACT).name == "contact"  # from the title
    assert load_schema({"type": "object"}, name="my var").name == "my_var"
    assert load_schema(Person).name == "Person"
    with pytest.raises(sm.SchemaError, match=r"a-zA-Z0-9_-"):
        load_schema({"name": "bad name!", "schema": {"type": "object"}})


def test_optional_becomes_required_null_union_and_nulls_are_dropped():
    spec = load_schema(CONTACT)
    props = spec.request_schema["properties"]
    assert spec.request_schema["required"] == ["name", "email", "birthday", "phone"]
    assert props["phone"]["type"] == ["string", "null"]
    assert spec.request_schema["additionalProperties"] is False
    plain, _, issues = spec.check({"name": "Ada", "email": "ada@example.com",
                                   "birthday": None, "phone": None})
    assert issues == [] and plain == {"name": "Ada", "email": "ada@example.com"}


def test_defaults_and_unsupported_keywords_move_to_description():
    spec = load_schema(INVOICE)
    line = spec.request_schema["properties"]["lines"]["items"]
    discount = line["properties"]["discount"]
    assert "default" not in json.dumps(spec.request_schema)
    assert "Default: 0" in json.dumps(discount)
    # our own validation still enforces the original schema
    bad = make_instance(spec.request_schema)
    bad["number"] = "nope"
    _, _, issues = spec.check(bad)
    assert [i.path for i in issues] == ["$.number"]


def test_format_checking():
    spec = load_schema(CONTACT)
    _, _, issues = spec.check({"name": "A", "email": "not-an-email", "birthday": "2024-13-45",
                               "phone": None})
    assert {i.path for i in issues} == {"$.email", "$.birthday"}
    uuid_spec = load_schema({"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}}, "required": ["id"]})
    assert uuid_spec.check({"id": "nope"})[2][0].path == "$.id"


def test_issue_paths_point_into_arrays():
    from schema_corpus import MATH

    spec = load_schema(MATH)
    _, _, issues = spec.check({"steps": [{"explanation": "a", "output": "b"},
                                         {"explanation": "c"}], "final_answer": 1})
    assert {i.path for i in issues} == {"$.steps[1]", "$.final_answer"}


def test_typed_values_back():
    spec = load_schema(list[Step])
    assert spec.wrapped and spec.request_schema["properties"]["value"]["type"] == "array"
    _, data, issues = spec.check({"value": [{"explanation": "a", "output": "b"}]})
    assert issues == [] and isinstance(data[0], Step)
    _, data, _ = load_schema(Colour).check({"value": "red"})
    assert data is Colour.RED
    _, data, issues = load_schema(Person).check({"name": "ada", "age": 3, "nickname": None,
                                                 "languages": []})
    assert data is None and issues[0].path == "$.name" and "capital" in issues[0].message


@pytest.mark.parametrize(
    ("schema", "path", "message"),
    [
        ({"type": "strin"}, "$.type", "Not a valid JSON Schema"),
        ({"type": "object", "properties": {"a": {"minimum": "x"}}}, "$.properties.a.minimum",
         "Not a valid JSON Schema"),
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
         "$.properties.a.$ref", "does not resolve"),
        ({"type": "object", "properties": {"a": {"$ref": "https://evil.example/s.json"}}},
         "$.properties.a.$ref", "no remote URL"),
        ({"not": {}}, "$.not", "admits no value"),
        ({"type": "object", "properties": {"a": {"enum": []}}}, "$.properties.a.enum",
         "admits no value"),
        ({"type": "object", "properties": {"a": {"type": "integer", "minimum": 5,
                                                  "maximum": 1}}},
         "$.properties.a.minimum", "greater than"),
        (False, "$", "admits no value"),
    ],
)
def test_bad_schemas_have_paths(schema, path, message):
    with pytest.raises(sm.SchemaError, match=message) as info:
        load_schema(schema)
    assert info.value.path == path


def test_limits():
    many = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(5001)}}
    with pytest.raises(sm.SchemaError, match="5000 properties"):
        load_schema(many)
    deep: dict = {"type": "string"}
    for _ in range(11):
        deep = {"type": "object", "properties": {"x": deep}}
    with pytest.raises(sm.SchemaError, match="10 levels") as info:
        load_schema(deep)
    assert info.value.path.count("properties") == 10
    enums = {"type": "object", "properties": {"e": {"enum": list(range(1001))}}}
    with pytest.raises(sm.SchemaError, match="1000 enum values"):
        load_schema(enums)


@pytest.mark.parametrize("bad", [42, len, sys, {"type": "json_object"}, "not json, no file"])
def test_wrong_kinds(bad):
    with pytest.raises(sm.SchemaError):
        load_schema(bad)


def test_json_file_path(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(CONTACT))
    assert load_schema(str(path)).name == "contact"
    with pytest.raises(sm.SchemaError, match="Could not read"):
        load_schema(str(tmp_path / "missing.json"))


def test_without_pydantic(monkeypatch):
    from structmagic import schema as schema_module

    from schema_corpus import Point

    monkeypatch.setitem(sys.modules, "pydantic", None)
    schema_module._specs.clear()
    with pytest.raises(sm.SchemaError, match=r"structmagic\[pydantic\]"):
        load_schema(Point)
    assert load_schema(CONTACT).name == "contact"
    schema_module._specs.clear()


def test_validator_is_cached():
    assert validator_for(CONTACT) is validator_for(json.loads(json.dumps(CONTACT)))


optional_object = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d"]),
    st.sampled_from([{"type": "string"}, {"type": "integer"},
                     {"type": "array", "items": {"type": "string"}},
                     {"type": "object", "properties": {"z": {"type": "boolean"}}}]),
    min_size=1,
)


@given(optional_object, st.data())
@settings(max_examples=100, deadline=None)
def test_property_strict_roundtrip_preserves_validity(props, data):
    required = data.draw(st.lists(st.sampled_from(sorted(props)), unique=True))
    schema = {"type": "object", "properties": props, "required": required}
    spec = load_schema(schema)
    assert strict_violations(spec.request_schema) == []
    instance = make_instance(spec.request_schema)
    # the model may write null for every property that was optional
    for key in props:
        if key not in required and data.draw(st.booleans()):
            instance[key] = None
    plain, _, issues = spec.check(instance)
    assert issues == [], (schema, instance)
    assert all(v is not None for v in plain.values())
    assert validator_for(schema).is_valid(plain)
