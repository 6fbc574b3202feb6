"""OpenAI's strict mode: the conversion of a schema into it, mapping answers back, its
documented limits (over them, the request goes non-strict), its rules checked, and the
round-trip properties."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import structmagic as sm
from structmagic.providers import get_provider
from structmagic.schema import load_schema, validator_for
from structmagic.schema.intake import forget_schemas

from instances import make_instance
from schema_corpus import (
    ADDRESSES,
    CONTACT,
    IDS,
    INVOICE,
    MATH,
    ONEOF_DEFAULT,
    UI_TREE,
    Booking,
    Colour,
    Person,
    Step,
    UIComponent,
)
from schema_helpers import check, chooser, oa, strict_violations


@pytest.fixture(autouse=True)
def fresh_spec_cache():
    forget_schemas()
    yield
    forget_schemas()



# --- the conversion -------------------------------------------------------------------------


def test_optional_becomes_required_null_union_and_nulls_are_dropped():
    spec = load_schema(CONTACT)
    req = oa(spec).request
    assert req["required"] == ["name", "email", "birthday", "phone"]
    assert req["properties"]["phone"] == {"type": ["string", "null"],
                                          "description": "E.164 if known"}
    assert req["additionalProperties"] is False and "title" not in req
    plain, data, issues = check(spec, {"name": "Ada", "email": "ada@example.com",
                                      "birthday": None, "phone": None})
    assert issues == [] and plain == data == {"name": "Ada", "email": "ada@example.com"}


def test_a_null_the_original_allows_is_kept():
    spec = load_schema(Person)
    _, data, issues = check(spec, {"name": "Ada", "age": 36, "nickname": None,
                                  "languages": None})
    assert issues == [] and data.nickname is None and data.languages == []
    _, _, issues = check(spec, {"name": None, "age": 36, "nickname": None, "languages": None})
    assert [i.path for i in issues] == ["$.name"]  # a required property may not be null


def test_defaults_oneof_and_unsupported_keywords():
    spec = load_schema(ONEOF_DEFAULT)
    text = json.dumps(oa(spec).request)
    assert '"default"' not in text and '"oneOf"' not in text
    props = oa(spec).request["properties"]
    assert props["status"]["anyOf"] == [{"const": "open", "type": "string"},
                                        {"const": "closed", "type": "string"}]
    assert props["status"]["description"] == 'Default: "open"'
    assert props["priority"] == {"type": ["integer", "null"], "minimum": 1, "maximum": 5,
                                 "description": "Default: 3"}
    assert props["tags"]["anyOf"][0]["maxItems"] == 5  # kept: strict mode has it
    line = oa(load_schema(INVOICE)).request["properties"]["lines"]["items"]
    assert line["properties"]["discount"]["description"] == "Default: 0"
    assert line["additionalProperties"] is False


def test_constraints_strict_mode_lacks_move_into_the_description():
    spec = load_schema({"type": "object", "properties": {
        "code": {"type": "string", "minLength": 2, "maxLength": 2, "pattern": "^[A-Z]+$"},
        "site": {"type": "string", "format": "uri", "description": "home page"},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "x": {"type": "integer", "x-vendor": {"a": 1}, "examples": [1], "$comment": "c"},
    }, "required": ["code", "site", "tags", "x"]})
    props = oa(spec).request["properties"]
    assert props["code"] == {"type": "string", "pattern": "^[A-Z]+$",
                             "description": "Constraint: minLength 2\nConstraint: maxLength 2"}
    assert props["site"] == {"type": "string", "description": "home page\nFormat: uri"}
    assert props["tags"]["description"] == "Constraint: uniqueItems true"
    assert props["x"] == {"type": "integer"}  # annotations and unknown keys: dropped
    assert oa(spec).strict
    # our own validation still enforces them
    _, _, issues = check(spec, {"code": "abc", "site": "x", "tags": ["a", "a"], "x": 1})
    assert {i.path for i in issues} >= {"$.code", "$.tags"}


def test_ref_with_siblings_becomes_a_one_branch_anyof():
    spec = load_schema(ADDRESSES)
    props = oa(spec).request["properties"]
    assert props["billing"] == {"anyOf": [{"$ref": "#/$defs/address"}],
                                "description": "where the invoice goes"}
    # optional + default null: the description keeps the default, null joins the union
    assert props["shipping"] == {"anyOf": [{"$ref": "#/$defs/address"}, {"type": "null"}],
                                 "description": "Default: null"}
    assert oa(spec).strict
    # Pydantic writes {"$ref", "description"} for a described nested model
    guest = oa(load_schema(Booking)).request["properties"]["guest"]
    assert guest == {"anyOf": [{"$ref": "#/$defs/Guest"}], "description": "who booked"}


def test_single_allof_is_merged():
    owner = oa(load_schema(IDS)).request["properties"]["owner"]
    assert owner == {"anyOf": [{"$ref": "#/$defs/user"}], "description": "who owns it"}
    spec = load_schema({"type": "object", "properties": {"a": {
        "type": "object", "properties": {"x": {"type": "string"}},
        "allOf": [{"properties": {"y": {"type": "integer"}}, "required": ["y"]}]}},
        "required": ["a"]})
    assert oa(spec).strict
    a = oa(spec).request["properties"]["a"]
    assert a["properties"] == {"x": {"type": ["string", "null"]}, "y": {"type": "integer"}}
    assert a["required"] == ["x", "y"]


@pytest.mark.parametrize(("schema", "reason"), [
    ({"type": "object", "properties": {"a": {"type": "integer",
                                             "allOf": [{"type": "string"}]}}},
     "cannot be merged"),
    ({"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}],
                                             "anyOf": [{"type": "integer"}]}}},
     "`oneOf` and `anyOf`"),
    ({"type": "object", "properties": {"a": {"description": "anything"}}, "required": ["a"]},
     "accepts any value"),
    ({"type": "object", "properties": {"a": {"type": "array"}}}, "without `items`"),
    ({"type": "object", "properties": {"a": True}}, "`true`"),
    ({"type": "object", "properties": {"a": {"$ref": "#/$defs/b", "minimum": 1}},
      "$defs": {"b": {"type": "integer"}}}, "$ref beside"),
    ({"type": "object", "patternProperties": {"^x": {"type": "string"}}},
     "patternProperties"),
    ({"type": "object", "properties": {"a": {"type": "string"}},
      "dependentRequired": {"a": ["b"]}}, "dependentRequired"),
])
def test_what_strict_mode_cannot_say_goes_non_strict_unchanged(schema, reason):
    spec = load_schema(schema)
    assert not oa(spec).strict
    assert any(reason in r for r in oa(spec).reasons), oa(spec).reasons
    assert oa(spec).request == schema  # "the schema unchanged otherwise"


def test_recursion_by_root_ref_and_defs():
    spec = load_schema(UI_TREE)
    assert oa(spec).request["properties"]["children"]["items"] == {"$ref": "#"}
    spec = load_schema(UIComponent)  # Pydantic: {"$ref": "#/$defs/UIComponent", "$defs": ...}
    assert not oa(spec).wrapped and oa(spec).strict
    req = oa(spec).request
    assert req["type"] == "object" and "$ref" not in req
    assert req["properties"]["children"]["items"] == {"$ref": "#/$defs/UIComponent"}
    assert req["$defs"]["UIComponent"]["additionalProperties"] is False
    value = {"type": "div", "label": "a", "attributes": [], "children": [
        {"type": "button", "label": "b", "attributes": [], "children": []}]}
    _, data, issues = check(spec, value)
    assert issues == [] and isinstance(data.children[0], UIComponent)


def test_a_wrapped_recursive_root_is_hoisted_into_defs():
    tree = {"type": "array", "items": {"anyOf": [{"type": "string"}, {"$ref": "#"}]}}
    spec = load_schema(tree)
    assert oa(spec).wrapped and oa(spec).strict, oa(spec).reasons
    req = oa(spec).request
    assert req["properties"]["value"] == {"$ref": "#/$defs/root"}
    assert req["$defs"]["root"]["items"]["anyOf"][1] == {"$ref": "#/$defs/root"}
    plain, _, issues = check(spec, {"value": ["a", ["b", ["c"]]]})
    assert issues == [] and plain == ["a", ["b", ["c"]]]


def test_refs_into_properties_and_branches_are_hoisted():
    schema = {"type": "object", "properties": {
        "home": {"type": "object", "properties": {"city": {"type": "string"}},
                 "required": ["city"]},
        "work": {"$ref": "#/properties/home"}}, "required": ["home"]}
    spec = load_schema(schema)
    assert oa(spec).strict
    assert oa(spec).request["properties"]["work"] == {
        "anyOf": [{"$ref": "#/$defs/properties_home"}, {"type": "null"}]}
    assert oa(spec).request["$defs"]["properties_home"]["required"] == ["city"]
    plain, _, issues = check(spec, {"home": {"city": "A"}, "work": None})
    assert issues == [] and plain == {"home": {"city": "A"}}


def test_non_object_roots_are_wrapped_and_unwrapped():
    spec = load_schema(list[Step])
    assert oa(spec).wrapped and oa(spec).request["required"] == ["value"]
    assert oa(spec).request["properties"]["value"]["type"] == "array"
    assert "$defs" in oa(spec).request  # hoisted to the root
    _, data, issues = check(spec, {"value": [{"explanation": "a", "output": "b"}]})
    assert issues == [] and isinstance(data[0], Step)
    _, data, _ = check(load_schema(Colour), {"value": "red"})
    assert data is Colour.RED
    spec = load_schema({"type": "string", "enum": ["yes", "no"]})
    assert check(spec, {"value": "yes"})[1] == "yes"
    # a server that ignored the wrapper: the bare value is fine when it is valid
    assert check(spec, "no")[1] == "no"
    _, _, issues = check(spec, {"answer": "no"})
    assert issues[0].path == "$" and '{"value": ...}' in issues[0].message


def test_map_back_follows_the_union_branch_the_value_is_in():
    schema = {"type": "object", "properties": {"item": {"anyOf": [
        {"type": "object", "properties": {"kind": {"const": "a"}, "x": {"type": "string"}},
         "required": ["kind"]},
        {"type": "object", "properties": {"kind": {"const": "b"}, "x": {"type": ["string",
                                                                                 "null"]}},
         "required": ["kind", "x"]},
    ]}}, "required": ["item"]}
    spec = load_schema(schema)
    assert oa(spec).strict
    assert check(spec, {"item": {"kind": "a", "x": None}})[0] == {"item": {"kind": "a"}}
    assert check(spec, {"item": {"kind": "b", "x": None}})[0] == {"item": {"kind": "b",
                                                                          "x": None}}


def _over(schema, message):
    """OpenAI's request for ``schema`` is not strict, for the limit ``message`` names; the
    schema itself is accepted (Claude's and Gemini's rules are their own)."""
    spec = load_schema(schema)
    request = oa(spec)
    assert not request.strict
    found = [r for r in request.reasons if message in r]
    assert found, request.reasons
    return found[0]


def test_openai_limits_make_the_request_non_strict():
    many = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(5001)}}
    assert _over(many, "more than 5000 properties").startswith("$.properties:")
    assert "OpenAI's strict mode's limit is 5000" in _over(many, "5000 properties")
    many["properties"].pop("p0")
    assert oa(load_schema(many)).strict
    _over({"type": "array", "items": many}, "5000 properties")  # the wrapper's one counts

    def nested(levels):
        node: dict = {"type": "string"}
        for _ in range(levels):
            node = {"type": "object", "properties": {"x": node}, "required": ["x"]}
        return node

    assert oa(load_schema(nested(10))).strict
    where = _over(nested(11), "10 levels")
    assert where.startswith("$" + ".properties.x" * 10 + ":")
    _over({"type": "object", "properties": {"a": {"$ref": "#/$defs/deep"}},  # through $ref
           "$defs": {"deep": nested(10)}}, "10 levels")
    _over({"type": "array", "items": nested(10)}, "10 levels")  # so does the wrapper

    enums = {"type": "object", "properties": {"e": {"enum": list(range(1000))}}}
    assert oa(load_schema(enums)).strict
    enums["properties"]["f"] = {"enum": ["x"]}
    assert _over(enums, "more than 1000 enum values").startswith("$.properties.f.")
    long_enum = {"type": "object", "properties": {
        "e": {"enum": [f"{i:03d}" + "x" * 60 for i in range(251)]}}}
    assert _over(long_enum, "15000 characters").startswith("$.properties.e.")
    long_enum["properties"]["e"]["enum"] = long_enum["properties"]["e"]["enum"][:250]
    assert oa(load_schema(long_enum)).strict  # 250 values: no character limit

    # 120,000 characters of property names, definition names, enum and const values
    names = {"type": "object", "properties": {
        f"{i:04d}" + "n" * 36: {"type": "string"} for i in range(3001)}}
    _over(names, "120000 characters")
    names["properties"] = dict(list(names["properties"].items())[:2999])
    assert oa(load_schema(names)).strict


def test_a_schema_over_openai_limits_is_not_refused_for_other_providers():
    big_enum = {"type": "object", "properties": {"e": {"enum": [f"v{i}" for i in range(1001)]}},
                "required": ["e"], "additionalProperties": False}
    spec = load_schema(big_enum)
    assert not oa(spec).strict
    gemini = spec.request_for(get_provider("gemini"))
    assert gemini.request["properties"]["e"]["enum"][1000] == "v1000"
    claude = spec.request_for(get_provider("anthropic"))
    assert claude.strict and len(claude.request["properties"]["e"]["enum"]) == 1001
    # and with "strict": false, OpenAI's request is the schema as it is: no limit applies
    loose = load_schema({"name": "big", "schema": big_enum, "strict": False})
    assert oa(loose).request == big_enum and not oa(loose).strict


def test_strict_violations_lists_every_rule():
    assert strict_violations(oa(load_schema(CONTACT)).request) == []
    found = strict_violations({
        "anyOf": [{"type": "object"}],
    })
    assert any("root must be an object" in f for f in found)
    found = strict_violations({
        "type": "object",
        "properties": {
            "a": {"type": "string", "default": "x"},
            "b": {"$ref": "#/$defs/b", "description": "d"},
            "c": {"type": "object", "properties": {"d": {"type": "string"}}},
            "e": {"type": "string", "format": "uri"},
            "f": {"type": "array"},
            "g": {"allOf": [{"type": "string"}]},
            "h": {},
        },
        "required": ["a", "b", "c", "e", "f", "g"],
        "$defs": {"b": {"type": "string"}},
    })
    expected = [
        "$: additionalProperties must be false",
        "$: every property must be required",
        "$.properties.a: keyword 'default' is not supported",
        "$.properties.b: $ref must not have sibling keywords (description)",
        "$.properties.c: additionalProperties must be false",
        "$.properties.c: every property must be required",
        "$.properties.e: format 'uri' is not supported",
        "$.properties.f: an array needs an `items` schema",
        "$.properties.g: keyword 'allOf' is not supported",
        "$.properties.h: no type",
    ]
    for text in expected:
        assert any(f.startswith(text) for f in found), (text, found)


def test_unused_definitions_are_not_sent():
    spec = load_schema({"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}},
                        "required": ["a"], "$defs": {"A": {"$ref": "#/$defs/B"},
                                                     "B": {"type": "string"},
                                                     "unused": {"not": {"type": "null"}}}})
    assert oa(spec).strict and set(oa(spec).request["$defs"]) == {"A", "B"}


def test_a_strict_ready_schema_is_sent_unchanged():
    spec = load_schema(MATH)
    assert spec.name == "math_reasoning" and oa(spec).strict
    assert oa(spec).request == MATH["json_schema"]["schema"]


def test_the_prompt_text_is_compact_json_of_the_request():
    spec = load_schema(MATH)
    assert json.loads(oa(spec).text) == oa(spec).request
    assert ": " not in oa(spec).text


# --- property: strict conversion + mapping back preserves validity --------------------------


_KEYS = st.sampled_from(["a", "b", "c", "d", "e"])
_LEAVES = st.sampled_from([
    {"type": "string"},
    {"type": "integer", "minimum": 0},
    {"type": "number"},
    {"type": "boolean"},
    {"enum": ["red", "green"]},
    {"type": "string", "format": "date"},
    {"type": ["string", "null"]},
    {"type": "string", "default": "x", "title": "T"},
    {"type": "string", "maxLength": 40, "description": "short"},
    {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
])


def _object(fields):
    return {"type": "object",
            "properties": {k: s for k, (s, _) in fields.items()},
            "required": [k for k, (_, req) in fields.items() if req]}


def _tagged_union(objects, key):
    branches = []
    for i, obj in enumerate(objects):
        props = {"kind": {"const": f"k{i}"}, **obj["properties"]}
        branches.append({**obj, "properties": props, "required": ["kind", *obj["required"]]})
    return {key: branches}


def _schemas(children):
    fields = st.dictionaries(_KEYS, st.tuples(children, st.booleans()), min_size=1, max_size=4)
    objects = fields.map(_object)
    return st.one_of(
        objects,
        children.map(lambda s: {"type": "array", "items": s}),
        st.tuples(st.lists(objects, min_size=2, max_size=3),
                  st.sampled_from(["anyOf", "oneOf"])).map(lambda t: _tagged_union(*t)),
        children.map(lambda s: {"anyOf": [s, {"type": "null"}]}),
        children.map(lambda s: {"allOf": [s], "description": "one allOf"}),
    )


_ROOT_FIELDS = st.dictionaries(
    _KEYS, st.tuples(st.recursive(_LEAVES, _schemas, max_leaves=8), st.booleans()),
    min_size=1, max_size=5)


def _with_defs(fields, use_defs):
    root = _object(fields)
    if use_defs:  # move the first property into $defs, referenced twice (once described)
        first = next(iter(root["properties"]))
        root["$defs"] = {"shared": root["properties"][first]}
        root["properties"][first] = {"$ref": "#/$defs/shared", "description": "shared"}
        root["properties"]["again"] = {"$ref": "#/$defs/shared"}
    return root


@given(st.builds(_with_defs, _ROOT_FIELDS, st.booleans()), st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_strict_roundtrip_preserves_validity(schema, data):
    spec = load_schema(schema)
    assert oa(spec).strict, oa(spec).reasons
    assert strict_violations(oa(spec).request) == []
    instance = make_instance(oa(spec).request, choose=chooser(data))
    assert validator_for(oa(spec).request).is_valid(instance)
    plain, got, issues = check(spec, instance)
    assert issues == [], (schema, instance, issues)
    assert validator_for(schema).is_valid(plain)
    assert got == plain
    # nulls the conversion asked for are gone; real ones stay
    for key, sub in schema["properties"].items():
        if key not in schema["required"] and instance.get(key) is None:
            admits_null = validator_for(schema).evolve(schema=sub).is_valid(None)
            assert (key in plain) == admits_null, (key, plain)


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["s", ""]))
_ANY_LEAF = st.one_of(st.booleans(), st.fixed_dictionaries({}, optional={
    "type": st.one_of(
        st.sampled_from(["string", "integer", "number", "boolean", "null", "object", "array"]),
        st.lists(st.sampled_from(["string", "integer", "null", "object"]), max_size=3,
                 unique=True)),
    "enum": st.lists(_SCALARS, max_size=3),
    "const": _SCALARS,
    "format": st.sampled_from(["date", "uuid", "email", "uri", "date-time", "weird"]),
    "minimum": st.integers(-2, 2), "maximum": st.integers(-2, 2),
    "minLength": st.integers(0, 3), "maxLength": st.integers(0, 3),
    "minItems": st.integers(0, 2), "maxItems": st.integers(0, 3),
    "default": _SCALARS, "title": st.just("T"), "description": st.just("d"),
    "pattern": st.sampled_from(["^a", "[0-9]+", "^x?$"]),
}))


def _any_schemas(children):
    names = st.sampled_from(["a", "b", "x y", "$ref"])
    return st.one_of(
        st.builds(lambda p, r, extra: {"type": "object", "properties": p, "required": r,
                                       **extra},
                  st.dictionaries(names, children, max_size=3),
                  st.lists(names, max_size=2, unique=True),
                  st.fixed_dictionaries({}, optional={
                      "additionalProperties": st.one_of(st.booleans(), children)})),
        children.map(lambda c: {"type": "array", "items": c}),
        st.lists(children, min_size=1, max_size=3).map(lambda b: {"anyOf": b}),
        st.lists(children, min_size=1, max_size=3).map(lambda b: {"oneOf": b}),
        st.lists(children, min_size=1, max_size=2).map(lambda b: {"allOf": b}),
        children.map(lambda c: {"not": c}),
        st.just({"$ref": "#/$defs/d", "description": "x"}),
        st.just({"$ref": "#"}),
    )


@given(st.recursive(_ANY_LEAF, _any_schemas, max_leaves=10), _ANY_LEAF, st.data())
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_property_any_schema_is_loaded_or_refused_cleanly(tree, shared, data):
    """Whatever the schema: a SchemaError or a spec whose request obeys what it claims,
    and whose checks never crash on an instance of the request."""
    schema = {**tree, "$defs": {"d": shared}} if isinstance(tree, dict) else tree
    try:
        spec = load_schema(schema)
    except sm.SchemaError as exc:
        assert exc.path.startswith("$")
        return
    if oa(spec).strict:
        assert strict_violations(oa(spec).request) == []
    try:
        instance = make_instance(oa(spec).request, choose=chooser(data))
    except ValueError:  # no finite instance (an object that requires itself)
        return
    _, value, issues = check(spec, instance)
    assert all(i.path.startswith("$") for i in issues)
    if issues:
        assert value is None
