"""Schema intake (every input form, names, descriptions), validation issues with their paths,
bad schemas refused before any request, and the spec cache."""

from __future__ import annotations

import copy
import dataclasses
import enum
import json
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import structmagic as sm
from structmagic.schema import load_schema, portable_patterns, validator_for
from structmagic.schema import spec as spec_module
from structmagic.schema import validate as validate_module
from structmagic.schema.intake import forget_schemas

from fakeserver import echo_schema_responder
from instances import make_instance
from schema_corpus import (
    ADDRESSES,
    CONTACT,
    CORPUS,
    INVOICE,
    MATH,
    NOT_STRICT,
    UI_TREE,
    Person,
    Point,
    Step,
    UIComponent,
)
from schema_helpers import assert_typed, check, chooser, oa, request_shape, strict_violations

IDS_ = [c[0] for c in CORPUS]


@pytest.fixture(autouse=True)
def fresh_spec_cache():
    forget_schemas()
    yield
    forget_schemas()



# --- the corpus -----------------------------------------------------------------------------


def test_corpus_is_big_enough():
    assert len(CORPUS) >= 20
    assert len({c[0] for c in CORPUS}) == len(CORPUS)
    assert set(NOT_STRICT) <= set(IDS_)
    assert len(NOT_STRICT) <= len(CORPUS) // 5  # most entries are strict


@pytest.mark.parametrize(("name", "schema", "example"), CORPUS, ids=IDS_)
def test_corpus_converts_and_checks(name, schema, example):
    before = copy.deepcopy(schema) if isinstance(schema, dict) else None
    spec = load_schema(schema, name=name)
    assert oa(spec).strict == (name not in NOT_STRICT), oa(spec).reasons
    if oa(spec).strict:
        assert strict_violations(oa(spec).request) == []
        assert oa(spec).reasons == ()
    else:
        assert oa(spec).reasons
        assert not oa(spec).maps_back
    assert oa(spec).request["type"] == "object"
    # a generated instance of the request schema is accepted
    plain, data, issues = check(spec, make_instance(oa(spec).request))
    assert issues == [], issues
    assert_typed(spec, data)
    # the corpus example (in request shape) is accepted and typed
    answer = request_shape(spec, copy.deepcopy(example))
    plain, data, issues = check(spec, answer)
    assert issues == [], issues
    assert_typed(spec, data)
    if spec.python_type is None:
        assert data == plain == example
    if before is not None:
        assert schema == before  # the user's schema is never changed


@pytest.mark.parametrize(("name", "schema", "example"), CORPUS, ids=IDS_)
def test_corpus_end_to_end_against_the_fake_server(server, settings, name, schema, example):
    server.responder = echo_schema_responder(make_instance)
    res = sm.structured("Extract.", schema)
    assert res.attempts == 1
    sent = server.requests[0].json["response_format"]["json_schema"]
    spec = load_schema(schema)
    assert sent["strict"] is (name not in NOT_STRICT)
    # the request schema, its patterns written out for a server that is not a vendor's
    assert sent["schema"] == portable_patterns(oa(spec).request)
    assert sent["name"] == spec.name
    assert_typed(spec, res.data)


@given(st.sampled_from([c for c in CORPUS if c[0] not in NOT_STRICT]), st.data())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_corpus_request_instances_are_valid_originals(entry, data):
    """Any instance of a strict request maps back to a value valid for the original."""
    name, schema, _ = entry
    spec = load_schema(schema, name=name)
    instance = make_instance(oa(spec).request, choose=chooser(data))
    assert validator_for(oa(spec).request).is_valid(instance), instance
    plain, _, _ = check(spec, instance)
    errors = [e.message for e in validator_for(spec.original).iter_errors(plain)]
    assert errors == [], (instance, plain)


# --- names and inputs -----------------------------------------------------------------------


def test_names_are_kept_or_derived():
    assert load_schema(MATH).name == "math_reasoning"
    assert load_schema(MATH["json_schema"]).name == "math_reasoning"
    assert load_schema(UI_TREE, name="other").name == "ui"  # json_schema name first
    assert load_schema(CONTACT, name="var").name == "contact"  # then the title
    assert load_schema(ADDRESSES).name == "order_addresses"  # sanitised title
    assert load_schema({"type": "object"}, name="my var").name == "my_var"
    assert load_schema({"type": "object"}).name == "response"
    assert load_schema(Person, name="var").name == "Person"  # the type's __name__
    assert load_schema(list[Step], name="steps").name == "steps"  # an alias has none
    assert load_schema(typing.Literal["a", "b"], name="sentiment").name == "sentiment"
    assert load_schema({"type": "object"}, name="x" * 80).name == "x" * 64


@pytest.mark.parametrize("bad", ["bad name!", "", "x" * 65, "naïve", 42])
def test_a_given_name_that_breaks_the_rule_is_an_error(bad):
    with pytest.raises(sm.SchemaError, match=r"a-zA-Z0-9_-\]\{1,64\}") as info:
        load_schema({"name": bad, "schema": {"type": "object"}})
    assert info.value.path == "$.name"
    with pytest.raises(sm.SchemaError) as info:
        load_schema({"type": "json_schema", "json_schema": {"name": bad, "schema": {}}})
    assert info.value.path == "$.json_schema.name"


def test_every_input_form(tmp_path):
    inner = MATH["json_schema"]["schema"]
    forms = [
        inner,
        MATH["json_schema"],
        MATH,
        {"type": "json_schema", "name": "math_reasoning", "schema": inner, "strict": True},
        json.dumps(MATH),
        json.dumps(inner),
    ]
    path = tmp_path / "math.json"
    path.write_text(json.dumps(MATH), encoding="utf-8")
    forms += [str(path), path]
    specs = [load_schema(f, name="math_reasoning") for f in forms]
    assert {s.name for s in specs} == {"math_reasoning"}
    assert all(oa(s).request == oa(specs[0]).request and oa(s).strict for s in specs)


def test_description_comes_from_the_json_schema_object_or_the_schema():
    from schema_corpus import ENTITIES_RF

    spec = load_schema(ENTITIES_RF)
    assert spec.description == "Named entities found in the text."
    assert load_schema(UIComponent).description.startswith("A node of a user interface")
    assert load_schema(CONTACT).description is None


def test_a_given_strict_false_is_honoured():
    spec = load_schema({"name": "c", "strict": False, "schema": CONTACT})
    assert oa(spec).strict is False and oa(spec).request == CONTACT and not oa(spec).maps_back
    plain, _, issues = check(spec, {"name": "Ada", "email": "ada@example.com"})
    assert issues == [] and plain == {"name": "Ada", "email": "ada@example.com"}


def test_the_spec_is_built_once_per_schema_and_owns_a_copy():
    schema = copy.deepcopy(CONTACT)
    spec = load_schema(schema)
    assert load_schema(copy.deepcopy(CONTACT)) is spec
    assert load_schema(spec) is spec
    schema["properties"]["name"]["type"] = "integer"  # the user edits their dict later
    assert spec.original["properties"]["name"]["type"] == "string"
    assert load_schema(schema) is not spec


# --- validation issues ----------------------------------------------------------------------


def test_format_checking():
    spec = load_schema(CONTACT)
    _, _, issues = check(spec, {"name": "A", "email": "not-an-email", "birthday": "2024-13-45",
                               "phone": None})
    assert [i.path for i in issues] == ["$.birthday", "$.email"]
    uuid_spec = load_schema({"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"},
        "at": {"type": "string", "format": "date-time"}}, "required": ["id", "at"]})
    _, _, issues = check(uuid_spec, {"id": "nope", "at": "yesterday"})
    assert [i.path for i in issues] == ["$.at", "$.id"]
    assert "uuid" in issues[1].message and "date-time" in issues[0].message


def test_formats_follow_the_dialect():
    time = {"type": "string", "format": "time"}
    assert validator_for(time).is_valid("10:00:00Z")  # RFC 3339 time (2020-12)
    assert not validator_for(time).is_valid("10:00")
    draft3 = {"$schema": "http://json-schema.org/draft-03/schema#", **time}
    assert validator_for(draft3).is_valid("10:00:00")  # draft 3: HH:MM:SS


def test_date_time_is_checked_even_without_the_format_extras():
    import jsonschema

    checker = jsonschema.FormatChecker(formats=["date", "email"])  # as if rfc3339 missing
    checker = validate_module._with_fallbacks(checker)
    assert checker.conforms("2024-05-01T12:00:00Z", "date-time")
    assert checker.conforms("2024-05-01T12:00:00.5+02:00", "date-time")
    assert not checker.conforms("2024-05-01", "date-time")
    assert not checker.conforms("2024-02-30T12:00:00Z", "date-time")
    assert not checker.conforms("2024-05-01T12:00:00", "date-time")  # no offset
    assert checker.conforms("12:00:00Z", "time") and not checker.conforms("25:00:00Z", "time")


def test_issue_paths_point_into_arrays():
    spec = load_schema(MATH)
    _, data, issues = check(spec, {"steps": [{"explanation": "a", "output": "b"},
                                            {"explanation": "c", "output": 3}],
                                  "final_answer": 1})
    assert data is None
    assert [(i.path, i.message) for i in issues] == [
        ("$.final_answer", "1 is not of type 'string'"),
        ("$.steps[1].output", "3 is not of type 'string'"),
    ]
    assert str(issues[1]) == "$.steps[1].output: 3 is not of type 'string'"


def test_a_failed_union_is_explained_by_the_branch_the_value_is_shaped_like():
    from schema_corpus import UNION

    _, _, issues = check(load_schema(UNION), {"shape": {"kind": "circle", "r": "big"}})
    assert [(i.path, i.message) for i in issues] == [("$.shape.r",
                                                      "'big' is not of type 'number'")]


def test_pydantic_errors_become_issues_with_paths():
    _, data, issues = check(load_schema(Person), {"name": "ada", "age": 3, "nickname": None,
                                                 "languages": []})
    assert data is None and issues[0].path == "$.name" and "capital" in issues[0].message
    _, data, issues = check(load_schema(list[Step]), {"value": [{"explanation": "a",
                                                                "output": 1}]})
    assert data is None and issues[0].path == "$[0].output"


# --- bad schemas ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "path", "message"),
    [
        ({"type": "strin"}, "$.type", "Not a valid JSON Schema"),
        ({"type": "object", "properties": {"a": {"minimum": "x"}}}, "$.properties.a.minimum",
         "Not a valid JSON Schema"),
        ({"type": "object", "properties": {"steps": {"type": "array", "items": 3}}},
         "$.properties.steps.items", "Not a valid JSON Schema"),
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
         "$.properties.a.$ref", "does not resolve"),
        ({"type": "object", "properties": {"a": {"$ref": "https://evil.example/s.json"}}},
         "$.properties.a.$ref", "no remote schema"),
        (False, "$", "admits no value"),
        ({"not": {}}, "$.not", "admits no value"),
        ({"type": "object", "properties": {"a": {"enum": []}}}, "$.properties.a.enum",
         "`enum` is empty"),
        ({"type": "object", "properties": {"a": {"type": []}}}, "$.properties.a.type",
         "Not a valid JSON Schema"),  # the metaschema already says so
        ({"type": "object", "properties": {"a": {"type": "integer", "minimum": 5,
                                                  "maximum": 1}}},
         "$.properties.a.minimum", "minimum 5 leaves nothing up to maximum 1"),
        ({"type": "object", "properties": {"a": {"type": "string", "minLength": 3,
                                                  "maxLength": 2}}},
         "$.properties.a.minLength", "greater than maxLength"),
        ({"type": "object", "properties": {"a": False}, "required": ["a"]},
         "$.properties.a", "required property 'a' has the schema `false`"),
        ({"type": "array", "items": False, "minItems": 1}, "$.items",
         "`items` is `false` but minItems asks for more items"),
        ({"type": "object", "properties": {"a": {"type": "string", "enum": [1, 2]}}},
         "$.properties.a.enum", "no enum value is of type 'string'"),
        ({"type": "object", "properties": {"a": {"anyOf": [{"enum": []}, False]}}},
         "$.properties.a.anyOf", "no `anyOf` branch"),
        ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"],
          "additionalProperties": False}, "$.required", "'b' is required but not a property"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {
            "type": "object", "properties": {"a": {"type": "nope"}}}}},
         "$.json_schema.schema.properties.a.type", "Not a valid JSON Schema"),
        ({"type": "object", "properties": {"a": {"type": "number",
                                                  "default": float("nan")}}},
         "$.properties.a.default", "JSON cannot carry"),
    ],
)
def test_bad_schemas_have_paths(schema, path, message):
    with pytest.raises(sm.SchemaError, match=message) as info:
        load_schema(schema)
    assert info.value.path == path
    assert "\n" not in str(info.value)  # one clear message


@pytest.mark.parametrize("fine", [
    {"type": "object", "properties": {"a": {"not": {"enum": []}}}},  # not of nothing
    {"type": "object", "properties": {"a": False}},  # an optional property forbidden
    {"type": "object", "properties": {"a": {"anyOf": [{"enum": []}, {"type": "string"}]}}},
    {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 1}}},
    {"type": "array", "prefixItems": [{"type": "integer"}], "items": False, "minItems": 1},
    tuple[int, str],
])
def test_schemas_that_admit_something_are_not_rejected(fine):
    load_schema(fine)




# --- wrong kinds and pydantic-less use ------------------------------------------------------


def _function():
    return None


@pytest.mark.parametrize(("bad", "message"), [
    (42, "an int is not a schema"),
    (None, "None is not a schema"),
    (3.5, "a float is not a schema"),
    (_function, "a function is not a schema"),
    (len, "a function is not a schema"),
    (sys, "a module is not a schema"),
    ({"foo": 1, "bar": 2}, "not a JSON Schema: none of its keys"),
    ({"name": "x", "strict": True}, "has no 'schema'"),
    ({"type": "json_object"}, "has no schema"),
    ({"type": "json_schema"}, "needs a 'json_schema' object"),
    ({"name": "x", "schema": [1]}, "'schema' must be a JSON Schema object"),
    ("not json, no file", "Schema text: unknown type 'json' at column 5"),
    ("nul\x00byte", r"Schema text: the character U\+0000 at column 4"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "a list is not a schema"),
    ("/nonexistent/dir/schema.json", "Could not read the schema file"),
    (Person(name="Ada", age=3), "instance of Person, not a schema: pass the class"),
    (Point(1, 2), "instance of Point"),
])
def test_wrong_kinds(bad, message):
    with pytest.raises(sm.SchemaError, match=message) as info:
        load_schema(bad)
    if "not a schema" in message and "instance" not in message:
        assert "Pydantic model, dataclass, TypedDict" in str(info.value)


def test_without_pydantic(monkeypatch):
    @dataclasses.dataclass
    class Fresh:
        x: int

    class Mood(enum.Enum):
        UP = "up"

    monkeypatch.setitem(sys.modules, "pydantic", None)
    for tp in (Fresh, Mood, list[int], typing.Literal["a"]):
        with pytest.raises(sm.SchemaError, match=r'pip install "structmagic\[pydantic\]"'):
            load_schema(tp)
    spec = load_schema(CONTACT)
    assert spec.name == "contact" and oa(spec).strict
    assert check(spec, {"name": "A", "email": "a@b.c", "birthday": None, "phone": None})[2] == []


def test_a_type_pydantic_cannot_describe():
    with pytest.raises(sm.SchemaError, match="Could not make a JSON Schema"):
        load_schema(typing.Callable[[int], int])


def test_importing_the_module_stays_light():
    code = ("import sys; import structmagic.schema, structmagic.schema.dialect;"
            "print(sorted(m for m in ('jsonschema', 'pydantic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60, cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "[]"


def test_validator_is_cached():
    same = json.loads(json.dumps(CONTACT))
    reordered = dict(reversed(list(CONTACT.items())))
    assert validator_for(CONTACT) is validator_for(same) is validator_for(reordered)
    assert validator_for(CONTACT) is not validator_for(MATH["json_schema"]["schema"])
    assert validator_for(CONTACT).format_checker is not None


def test_a_schema_dict_that_contains_itself_is_refused_with_its_path():
    d: dict = {"type": "object", "properties": {}}
    d["properties"]["child"] = d
    with pytest.raises(sm.SchemaError, match="contains itself") as info:
        load_schema(d)
    assert info.value.path == "$.properties.child"


def test_a_schema_nested_hundreds_of_levels_is_refused_clearly():
    node: dict = {"type": "string"}
    for _ in range(400):
        node = {"type": "object", "properties": {"x": node}}
    with pytest.raises(sm.SchemaError, match="nests"):
        load_schema(node)


# --- the compiled first check (the ``fast`` extra) -----------------------------------------------


def _mutations(value):
    """Values near ``value``, most of them invalid: a key dropped, a leaf of another type."""
    yield value
    if isinstance(value, dict):
        for key in list(value)[:4]:
            yield {k: v for k, v in value.items() if k != key}
            for other in (None, "", "2024-13-45", -1, 1.5, [], {"x": 1}, "x\n"):
                yield {**value, key: other}
            for inner in _mutations(value[key]):
                yield {**value, key: inner}
    elif isinstance(value, list) and value:
        yield []
        yield [*value, value[0]]
        for inner in _mutations(value[0]):
            yield [inner, *value[1:]]


@given(st.sampled_from(CORPUS), st.data())
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_the_fast_check_accepts_only_what_jsonschema_accepts(entry, data):
    pytest.importorskip("jsonschema_rs")
    name, schema, example = entry
    spec = load_schema(schema, name=name)
    fast = validate_module.fast_validator_for(spec.original)
    slow = validator_for(spec.original)
    base = make_instance(spec.original, choose=chooser(data))
    for value in [*_mutations(base), *_mutations(example)]:
        if fast is not None and fast(value):
            assert slow.is_valid(value), (name, value)


def test_the_fast_check_is_used_and_jsonschema_gives_the_issues(monkeypatch):
    pytest.importorskip("jsonschema_rs")
    spec = load_schema(INVOICE)
    assert spec._fast is not None
    spec.__dict__["_checks"] = spec_module.FAST_AFTER  # past the first few answers
    calls = []
    real = validate_module.issues_of
    monkeypatch.setattr("structmagic.schema.spec.issues_of",
                        lambda v, x: calls.append(x) or real(v, x))
    good = {"number": "INV-2024-0001", "issued": "2024-01-31", "currency": "EUR",
            "lines": [{"sku": "A", "qty": 2, "price": 3.5}], "total": 7.0}
    assert spec.check(good)[2] == [] and calls == []
    bad = {**good, "issued": "2024-02-30"}
    issues = spec.check(bad)[2]
    assert [i.path for i in issues] == ["$.issued"] and calls == [bad]


@pytest.mark.parametrize("schema", [
    {"type": "string", "format": "uri"},
    {"type": "string", "pattern": "[[:alpha:]]+"},
    {"type": "string", "pattern": "\\p{L}"},
    {"type": "string", "pattern": "(?i)abc"},
    {"type": "object", "patternProperties": {"\\Aa": {}}},
    {"type": "number", "multipleOf": 0.1},
])
def test_the_fast_check_is_not_trusted_where_python_and_rust_differ(schema):
    assert not validate_module.fast_safe(schema)
    assert validate_module.fast_validator_for(schema) is None


def test_without_the_extra_jsonschema_checks_alone(monkeypatch):
    monkeypatch.setitem(sys.modules, "jsonschema_rs", None)
    validate_module._fast_cached.cache_clear()
    try:
        assert validate_module.fast_validator_for({"type": "integer"}) is None
        spec = load_schema({"type": "object", "properties": {"n": {"type": "integer"}},
                            "required": ["n"]})
        assert spec.check({"n": 1})[2] == [] and spec.check({"n": "x"})[2]
    finally:
        validate_module._fast_cached.cache_clear()


def test_a_single_answer_never_imports_the_compiled_check():
    code = ("import sys; from structmagic.schema import load_schema;"
            "spec = load_schema({'type': 'object'});"
            "[spec.check({}) for _ in range(3)];"
            "print('jsonschema_rs' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_the_fast_check_hands_values_it_cannot_take_to_jsonschema():
    pytest.importorskip("jsonschema_rs")
    fast = validate_module.fast_validator_for({"type": "integer"})
    assert fast(10**40) in (True, False)  # never raises
    spec = load_schema({"type": "object", "properties": {"n": {"type": "integer"}},
                        "required": ["n"]})
    assert spec.check({"n": 10**40})[2] == []
