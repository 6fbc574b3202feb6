"""Schema text (``structmagic.schema.dsl``): simonw/llm's concise syntax and its extensions.

- llm parity: every example of llm's ``docs/schemas.md`` gives llm's JSON Schema, byte for
  byte (the expected schemas are written out here, from llm's ``schema_dsl`` rules);
- the extensions (``list[T]``, ``{...}``, ``enum[...]``, ``T?``) and DocETL's examples;
- mistakes: each a SchemaError naming its column, with the line and a caret;
- a property test: 1,000 random nested schemas written as text by a small renderer here,
  read back, compared (seeded);
- ``load_schema`` of schema text, a request for every provider, ``structured()``,
  ``batch()`` and the ``Extractor`` with schema text, the schema actually sent;
- ``%%structured "..."`` and ``--multi`` against the fake server, ``%structured_schema``'s
  output (and its Pydantic models, run);
- ``structmagic.schema_dsl`` from the package root.
"""

from __future__ import annotations

import json
import random
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

import structmagic as sm
from structmagic.providers import get_provider, provider_names
from structmagic.schema import is_schema_text, load_schema
from structmagic.schema.dsl import model_source, schema_dsl

from fakeserver import chat
from instances import make_instance
from providers import anthropic, gemini, responses
from wire_helpers import BASE, make_call


def dumped(schema: Any) -> str:
    """The JSON text of a schema, key order kept: "byte for byte" means equal texts."""
    return json.dumps(schema, ensure_ascii=False)


def obj(properties: dict[str, Any]) -> dict[str, Any]:
    """An object as llm writes it: every property required, in order."""
    return {"type": "object", "properties": properties, "required": list(properties)}


def multi(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"items": {"type": "array", "items": schema}},
            "required": ["items"]}


S = {"type": "string"}
I = {"type": "integer"}  # noqa: E741


def described(schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {**schema, "description": text}


# --- llm parity: docs/schemas.md -----------------------------------------------------------------

PEOPLE = """
name: the person's name
organization: who they represent
role: their job title or role
learned: what we learned about them from this story
article_headline: the headline of the story
article_date: the publication date in YYYY-MM-DD
"""

#: (text, multi, llm's schema) -- every concise-syntax example of llm's docs/schemas.md
LLM_DOCS = [
    ("name, age int, one_sentence_bio", False,
     obj({"name": S, "age": I, "one_sentence_bio": S})),
    ("name, age int, one_sentence_bio", True,
     multi(obj({"name": S, "age": I, "one_sentence_bio": S}))),
    (PEOPLE, True, multi(obj({
        "name": described(S, "the person's name"),
        "organization": described(S, "who they represent"),
        "role": described(S, "their job title or role"),
        "learned": described(S, "what we learned about them from this story"),
        "article_headline": described(S, "the headline of the story"),
        "article_date": described(S, "the publication date in YYYY-MM-DD"),
    }))),
    ("name,age int", False, obj({"name": S, "age": I})),
    ("name, bio", False, obj({"name": S, "bio": S})),
    ("name, bio, age int", False, obj({"name": S, "bio": S, "age": I})),
    ("name: the person's name, age int: their age, bio: a short bio", False, obj({
        "name": described(S, "the person's name"), "age": described(I, "their age"),
        "bio": described(S, "a short bio")})),
    ("name: the person's name\nage int: their age\nbio: a short bio, no more than three "
     "sentences", False, obj({
         "name": described(S, "the person's name"), "age": described(I, "their age"),
         "bio": described(S, "a short bio, no more than three sentences")})),
    ("name, age int", False, obj({"name": S, "age": I})),
    ("name, ten_word_bio", True, multi(obj({"name": S, "ten_word_bio": S}))),
    # the issue's own example
    ("name, age int, bio: a short bio", False,
     obj({"name": S, "age": I, "bio": described(S, "a short bio")})),
]

#: llm's rules on the inputs it accepts, beyond its docs' examples
LLM_RULES = [
    # the four types
    ("a str, b int, c float, d bool", obj({"a": S, "b": I, "c": {"type": "number"},
                                           "d": {"type": "boolean"}})),
    # blank fields are skipped, fields stripped, any white space between name and type
    (" ,name ,, age\t  int ,", obj({"name": S, "age": I})),
    ("\n\nname\n\n  age int  \n", obj({"name": S, "age": I})),
    # split at the first colon; an empty description is left out
    ("url: see http://example.com: here, bio:", obj({
        "url": described(S, "see http://example.com: here"), "bio": S})),
    ("name:int", obj({"name": described(S, "int")})),
    # one field per line when the text has a newline, even at its end: commas in descriptions
    ("a: x, y\r\nb int:  z , w  \r\n", obj({"a": described(S, "x, y"),
                                            "b": described(I, "z , w")})),
    # a description is text: brackets and question marks in it are not syntax
    ("note: see [1] or {x}? maybe, n int", obj({"note": described(S, "see [1] or {x}? maybe"),
                                                "n": I})),
    # names are any word without white space or syntax characters
    ("first-name, état, 名前 int, a.b, 42", obj({"first-name": S, "état": S, "名前": I,
                                                "a.b": S, "42": S})),
]


@pytest.mark.parametrize(("text", "is_multi", "want"), LLM_DOCS,
                         ids=[f"docs-{i}" for i in range(len(LLM_DOCS))])
def test_every_example_of_llms_docs_gives_llms_schema_byte_for_byte(text, is_multi, want):
    assert dumped(schema_dsl(text, multi=is_multi)) == dumped(want)
    assert dumped(sm.schema_dsl(text, is_multi)) == dumped(want)


@pytest.mark.parametrize(("text", "want"), LLM_RULES,
                         ids=[f"rule-{i}" for i in range(len(LLM_RULES))])
def test_llms_rules_hold_on_the_inputs_it_accepts(text, want):
    assert dumped(schema_dsl(text)) == dumped(want)


def test_the_issues_example_exactly():
    assert dumped(schema_dsl("name, age int, bio: a short bio")) == (
        '{"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": '
        '"integer"}, "bio": {"type": "string", "description": "a short bio"}}, "required": '
        '["name", "age", "bio"]}')


# --- the extensions ------------------------------------------------------------------------------

N = {"type": "number"}
B = {"type": "boolean"}

EXTENSIONS = [
    ("tags list[str]", obj({"tags": {"type": "array", "items": S}})),
    ("lines list[{product, qty int, price float}]", obj({"lines": {"type": "array", "items": obj(
        {"product": S, "qty": I, "price": N})}})),
    ("status enum[paid, due, very late]", obj({"status": {"type": "string",
                                                          "enum": ["paid", "due", "very late"]}})),
    ("n int?, x float?: maybe, ok bool?, s str?", obj({
        "n": {"type": ["integer", "null"]},
        "x": {"type": ["number", "null"], "description": "maybe"},
        "ok": {"type": ["boolean", "null"]}, "s": {"type": ["string", "null"]}})),
    ("e enum[a, b]?: pick", obj({"e": {"anyOf": [{"type": "string", "enum": ["a", "b"]},
                                                 {"type": "null"}], "description": "pick"}})),
    ("l list[int?]?", obj({"l": {"anyOf": [
        {"type": "array", "items": {"type": ["integer", "null"]}}, {"type": "null"}]}})),
    ("o {a, b int: the b}?: an o", obj({"o": {"anyOf": [
        obj({"a": S, "b": described(I, "the b")}), {"type": "null"}], "description": "an o"}})),
    # the JSON names too
    ("a string, b integer, c number, d boolean", obj({"a": S, "b": I, "c": N, "d": B})),
    # white space inside brackets, and nested objects over several lines
    ("m list[ list[ {a} ] ], e enum[ x ,y ]", obj({
        "m": {"type": "array", "items": {"type": "array", "items": obj({"a": S})}},
        "e": {"type": "string", "enum": ["x", "y"]}})),
    ("vendor: who sold it, in full\nlines list[{\n  product: its name\n  qty int, price float\n}]"
     ": the lines, one a product\ntotal float?", obj({
         "vendor": described(S, "who sold it, in full"),
         "lines": described({"type": "array", "items": obj({
             "product": described(S, "its name"), "qty": I, "price": N})},
             "the lines, one a product"),
         "total": {"type": ["number", "null"]}})),
    # a description inside braces ends at a comma, a newline or the closing brace
    ("o {a: one, b: two}, c", obj({"o": obj({"a": described(S, "one"), "b": described(S, "two")}),
                                   "c": S})),
    ("e enum[1, 2.5, N/A, a:b]",
     obj({"e": {"type": "string", "enum": ["1", "2.5", "N/A", "a:b"]}})),
]


@pytest.mark.parametrize(("text", "want"), EXTENSIONS,
                         ids=[f"ext-{i}" for i in range(len(EXTENSIONS))])
def test_the_extensions(text, want):
    assert dumped(schema_dsl(text)) == dumped(want)


def test_multi_wraps_any_schema_text_as_llm_does():
    inner = schema_dsl("lines list[{product, qty int}], total float?")
    assert dumped(schema_dsl("lines list[{product, qty int}], total float?", multi=True)) == (
        dumped(multi(inner)))


# --- DocETL's examples (docs/concepts/schemas.md, and enum[...]) ---------------------------------
# DocETL writes `{field: type}`; here a colon starts a description (as in llm), so the type
# goes after a space: `{name: string}` is `{name string}`. The schemas are those DocETL's docs
# describe (its convert_val), without "additionalProperties": false, which the strict
# conversion adds where a provider needs it (checked below).

def arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


DOCETL = [
    ("summary string, sentiment string, include_item boolean",
     obj({"summary": S, "sentiment": S, "include_item": B})),
    ("insights list[{insight string, confidence number}], "
     "metadata {timestamp string, source string}",
     obj({"insights": arr(obj({"insight": S, "confidence": N})),
          "metadata": obj({"timestamp": S, "source": S})})),
    ("x list[string]", obj({"x": arr(S)})),
    ("x list[int]", obj({"x": arr(I)})),
    ("x list[{name string, age integer}]", obj({"x": arr(obj({"name": S, "age": I}))})),
    ("x {name string, age integer, is_active boolean}",
     obj({"x": obj({"name": S, "age": I, "is_active": B})})),
    ("users list[{name string, age integer, hobbies list[string]}]",
     obj({"users": arr(obj({"name": S, "age": I, "hobbies": arr(S)}))})),
    ("summary string, key_points list[{point string, sentiment string}]",
     obj({"summary": S, "key_points": arr(obj({"point": S, "sentiment": S}))})),
    ("sentiment enum[positive, negative, neutral]",
     obj({"sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]}})),
    ("labels list[enum[spam, ham]]", obj({"labels": arr({"type": "string",
                                                         "enum": ["spam", "ham"]})})),
]


@pytest.mark.parametrize(("text", "want"), DOCETL, ids=[f"docetl-{i}" for i in range(len(DOCETL))])
def test_docetls_examples_give_the_schemas_its_docs_describe(text, want):
    assert dumped(schema_dsl(text)) == dumped(want)


# --- mistakes ------------------------------------------------------------------------------------

#: (text, the message's first line, the caret's column)
MISTAKES = [
    ("name, age integr", "Schema text: unknown type 'integr' at column 11; did you mean int?", 11),
    ("name str, count Int", "Schema text: unknown type 'Int' at column 17; did you mean int?", 17),
    ("a strng", "Schema text: unknown type 'strng' at column 3; did you mean str?", 3),
    ("a flot", "Schema text: unknown type 'flot' at column 3; did you mean float?", 3),
    ("a boolen", "Schema text: unknown type 'boolen' at column 3; did you mean bool?", 3),
    ("a lst[int]", "Schema text: unknown type 'lst' at column 3; did you mean list[...]?", 3),
    ("a text", "Schema text: unknown type 'text' at column 3; did you mean str?", 3),
    ("a object", "Schema text: unknown type 'object' at column 3; did you mean {...}?", 3),
    ("bio a short bio", "Schema text: unknown type 'a' at column 5 (types: str, int, float, "
     "bool, list[T], {a, b int}, enum[a, b], and T? for null allowed; a description goes "
     "after a colon, such as 'bio: a short bio')", 5),
    ("name str extra", "Schema text: unexpected 'extra' at column 10 (a description goes "
     "after a colon, such as 'bio: a short bio')", 10),
    (": the name", "Schema text: empty name at column 1 (a field starts with its name, before "
     "':')", 1),
    ("age int, : x", "Schema text: empty name at column 10 (a field starts with its name, "
     "before ':')", 10),
    ("a, b, a int", "Schema text: duplicate field name 'a' at column 7", 7),
    ("a list[int", "Schema text: unclosed '[' at column 7", 7),
    ("lines list[{product, qty int]", "Schema text: expected '}' to close the '{' at column "
     "12, found ']' at column 29", 29),
    ("lines list[{product, qty int", "Schema text: unclosed '{' at column 12", 12),
    ("a enum[x, y", "Schema text: unclosed '[' at column 7", 7),
    ("a enum[]", "Schema text: enum[] without a value at column 7 (such as enum[a, b])", 7),
    ("a enum[x,, y]", "Schema text: an empty enum value at column 10", 10),
    ("a enum[x, x]", "Schema text: duplicate enum value 'x' at column 11", 11),
    ("a enum['x', y]", "Schema text: the quoted enum value 'x' at column 8 (write the values "
     "without quotes: enum[a, b])", 8),
    ("a list", "Schema text: list without its brackets at column 3 (write list[str])", 3),
    ("a list[]", "Schema text: list[] without an item type at column 7 (such as list[str])", 7),
    ("a list[int str]", "Schema text: expected ']' to close list[...], found 'str' at "
     "column 12", 12),
    ("a {}", "Schema text: an empty object at column 3 (an object needs a field: {a, b int})", 3),
    ("a int??", "Schema text: a second '?' at column 7 (one '?' lets a type be null)", 7),
    ("a?", "Schema text: '?' right after the name 'a' at column 2 ('?' goes after a type: "
     "'a str?' may be null)", 2),
    ("tags[str]", "Schema text: '[' right after the name 'tags' at column 5 (the type goes "
     "after a space: 'tags list[...]')", 5),
    ("a ]", "Schema text: unexpected ']' at column 3 (no bracket is open here)", 3),
    ("a\x00b", "Schema text: the character U+0000 at column 2 (a name is printable text)", 2),
    ("name\nage int, bio", "Schema text: a comma between fields of text written one field per "
     "line at line 2, column 8 (put each field on its own line, or all of them on one line)", 8),
    ("name\nbio: fine\nage integr: x", "Schema text: unknown type 'integr' at line 3, column 5; "
     "did you mean int?", 5),
]


@pytest.mark.parametrize(("text", "message", "column"), MISTAKES,
                         ids=[f"mistake-{i}" for i in range(len(MISTAKES))])
def test_a_mistake_names_its_column_and_shows_it(text, message, column):
    with pytest.raises(sm.SchemaError) as info:
        schema_dsl(text)
    err = info.value
    assert err.message == message
    at_line = re.search(r"at line (\d+), column", message)
    line = text.split("\n")[int(at_line.group(1)) - 1 if at_line else 0]
    shown, caret = err.hint.split("\n")
    assert shown == "  " + line.replace("\x00", " ")
    assert caret == "  " + " " * (column - 1) + "^"
    assert str(err) == f"{message}\n{err.hint}"


@pytest.mark.parametrize("text", ["", "   ", ",,", "\n\n", " \n\t\n "])
def test_text_without_a_field_is_a_mistake(text):
    with pytest.raises(sm.SchemaError, match="Schema text: no field; write at least a name"):
        schema_dsl(text)


def test_a_long_line_is_shown_around_the_mistake():
    text = ", ".join(f"f{i}" for i in range(40)) + ", b integr"
    with pytest.raises(sm.SchemaError) as info:
        schema_dsl(text)
    shown, caret = info.value.hint.split("\n")
    assert len(shown) <= 2 + 78 and shown.startswith("  …")
    assert shown[caret.index("^"):].startswith("integr")


def test_types_nest_at_most_fifty_deep():
    assert schema_dsl("x " + "list[" * 49 + "int" + "]" * 49)["required"] == ["x"]
    with pytest.raises(sm.SchemaError) as info:
        schema_dsl("x " + "list[" * 60 + "int" + "]" * 60)
    assert info.value.message == "Schema text: types nested more than 50 deep at column 253"


def test_schema_text_must_be_a_str():
    with pytest.raises(sm.SchemaError, match="Schema text is a str, not bytes"):
        schema_dsl(b"name")  # type: ignore[arg-type]


# --- the property test: random schemas through the syntax and back -------------------------------

NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.'/éß名"
TEXT_CHARS = "abcdefghij klmnop QRSTUV 0123456789 .-_'\"()!é—:[]{}?"
WORDS = {"string": ("str", "string"), "integer": ("int", "integer"),
         "number": ("float", "number"), "boolean": ("bool", "boolean")}


def _text(rng: random.Random, extra: str = "") -> str:
    chars = TEXT_CHARS + extra
    return "".join(rng.choice(chars) for _ in range(rng.randint(1, 16))).strip() or "x"


def _enum_value(rng: random.Random) -> str:
    text = "".join(rng.choice(TEXT_CHARS) for _ in range(rng.randint(1, 12)))
    return text.translate({ord(c): None for c in "[]{}"}).strip(" '\"") or "v"


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(1, 8)))


def random_type(rng: random.Random, depth: int) -> dict[str, Any]:
    """A random schema the syntax can say, in the shapes it makes (no description)."""
    kinds = ["string", "integer", "number", "boolean", "enum"]
    if depth < 4:
        kinds += ["array", "object", "object"]
    kind = rng.choice(kinds)
    if kind == "enum":
        values: list[str] = []
        while len(values) < rng.randint(1, 4):
            value = _enum_value(rng)
            if value not in values:
                values.append(value)
        out: dict[str, Any] = {"type": "string", "enum": values}
    elif kind == "array":
        out = {"type": "array", "items": random_type(rng, depth + 1)}
    elif kind == "object":
        out = random_object(rng, depth + 1, nested=True)
    else:
        out = {"type": kind}
    if rng.random() < 0.25:
        out = ({**out, "type": [kind, "null"]} if kind in WORDS
               else {"anyOf": [out, {"type": "null"}]})
    return out


def random_object(rng: random.Random, depth: int, nested: bool,
                  commas: bool = True) -> dict[str, Any]:
    """An object of 1-5 fields; descriptions free of what ends one where it stands (inside
    braces: a comma, a newline, '}'; at the top: the separator)."""
    properties: dict[str, Any] = {}
    for _ in range(rng.randint(1, 5)):
        name = _name(rng)
        if name in properties:
            continue
        prop = random_type(rng, depth)
        if rng.random() < 0.35:
            # inside braces: no comma, newline or '}'; at the top: no separator (so commas
            # when the fields are one per line)
            text = (_text(rng).replace("}", "") if nested
                    else _text(rng, "" if commas else ",,,"))
            prop = {**prop, "description": text.strip() or "d"}
        properties[name] = prop
    return {"type": "object", "properties": properties, "required": list(properties)}


def render(schema: dict[str, Any], rng: random.Random, lines: bool) -> str:
    """Schema text for a schema of :func:`random_object`'s shapes (independent of the
    parser): random spellings, spacing, blank fields; one field per line or commas."""
    sep = "\n" if lines else ","
    fields = [render_field(name, prop, rng, lines) for name, prop in
              schema["properties"].items()]
    out = ""
    for field in fields:
        out += rng.choice(["", " ", "\t"]) + field + rng.choice(["", " "])
        out += sep + (sep if rng.random() < 0.1 else "")  # now and then a blank field
    if not lines and rng.random() < 0.5:
        out = out.rstrip(",")
    return out


def render_field(name: str, prop: dict[str, Any], rng: random.Random, lines: bool) -> str:
    prop = dict(prop)
    description = prop.pop("description", None)
    if prop == {"type": "string"} and rng.random() < 0.5:
        text = name  # str is the default
    else:
        text = name + rng.choice([" ", "  ", "\t"]) + render_type(prop, rng, lines)
    if description is not None:
        text += rng.choice(["", " "]) + ":" + rng.choice(["", " ", "  "]) + description
    return text


def render_type(schema: dict[str, Any], rng: random.Random, lines: bool) -> str:
    nullable = False
    if "anyOf" in schema:
        schema, nullable = schema["anyOf"][0], True
    elif isinstance(schema.get("type"), list):
        schema, nullable = {**schema, "type": schema["type"][0]}, True
    space = ["", " "] + (["\n  "] if lines else [])
    if "enum" in schema:
        text = "enum[" + rng.choice(space) + (rng.choice([",", ", ", " , "])).join(
            schema["enum"]) + rng.choice(space) + "]"
    elif schema["type"] == "array":
        text = ("list[" + rng.choice(space) + render_type(schema["items"], rng, lines)
                + rng.choice(space) + "]")
    elif schema["type"] == "object":
        seps = [",", ", "] + (["\n", "\n  "] if lines else [])
        text = "{" + rng.choice(["", " "]) + "".join(
            render_field(n, p, rng, lines) + (rng.choice(seps) if i < len(schema["properties"]) - 1
                                              else rng.choice(["", " "]))
            for i, (n, p) in enumerate(schema["properties"].items())) + "}"
    else:
        text = rng.choice(WORDS[schema["type"]])
    return text + ("?" if nullable else "")


def test_one_thousand_random_nested_schemas_round_trip_through_the_syntax():
    rng = random.Random(20240917)
    seen_kinds: set[str] = set()
    for i in range(1000):
        lines = rng.random() < 0.4
        schema = random_object(rng, 0, nested=False, commas=not lines)
        text = render(schema, rng, lines)
        if not lines:
            assert "\n" not in text
        elif "\n" not in text:
            text += "\n"
        got = schema_dsl(text)
        assert dumped(got) == dumped(schema), f"case {i}: {text!r}"
        seen_kinds.update(json.dumps(p)[:40] for p in schema["properties"].values())
    assert len(seen_kinds) > 100  # the schemas really vary


# --- load_schema ---------------------------------------------------------------------------------


def test_load_schema_reads_schema_text_named_response():
    spec = load_schema("name, age int, bio: a short bio")
    assert spec.original == schema_dsl("name, age int, bio: a short bio")
    assert spec.name == "response" and spec.python_type is None
    assert load_schema("name, age int", name="person").name == "person"
    # read once, as the same dict would be
    assert load_schema("name, age int") is load_schema("name, age int")
    assert load_schema("name, age int") is load_schema(schema_dsl("name, age int"))


@pytest.mark.parametrize(("text", "kind"), [
    ('{"type": "object"}', "json"), ("  [1]", "json"), ('"x"', "json"), ("true", "json"),
    ("42", "json"), ("null", "json"), ("{not json", "json"),
    ("schema.json", "file"), ("my schemas/person.JSON", "file"),
    ("name", "text"), ("name, age int", "text"), ("x" * 5000, "text"), ("a  int", "text"),
])
def test_how_a_string_is_read(text, kind, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert is_schema_text(text) == (kind == "text")
    if kind == "text":
        assert load_schema(text).original == schema_dsl(text)
    elif kind == "file":
        with pytest.raises(sm.SchemaError, match="Could not read the schema file"):
            load_schema(text)


def test_one_word_naming_a_file_is_that_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "person").write_text('{"type": "object", "properties": {"a": {"type": '
                                     '"string"}}, "required": ["a"]}', encoding="utf-8")
    assert not is_schema_text("person") and is_schema_text("people")
    assert load_schema("person").original["properties"] == {"a": {"type": "string"}}
    assert load_schema("people").original == schema_dsl("people")
    assert load_schema(Path("person")).original["required"] == ["a"]


def test_a_mistake_in_schema_text_is_a_schema_error_from_every_entry_point(settings):
    for call in (lambda: load_schema("name, age integr"),
                 lambda: sm.structured("q", "name, age integr"),
                 lambda: sm.batch(["q"], "name, age integr")):
        with pytest.raises(sm.SchemaError, match=r"unknown type 'integr' at column 11; did "
                                                 r"you mean int\?"):
            call()


# --- every provider ------------------------------------------------------------------------------

RICH = ("vendor: who sold it, total float?: the total, lines list[{product, qty int, "
        "price float?, unit enum[kg, piece]?}]: the lines, paid enum[yes, no]?, address "
        "{street, city}?: where, tags list[str]?")


@pytest.mark.parametrize("name", provider_names())
def test_schema_text_with_optionals_enums_and_lists_of_objects_builds_for_every_provider(name):
    spec = load_schema(RICH)
    provider = get_provider(name)
    conv = spec.request_for(provider)
    assert conv.reasons == () and conv.strict and not conv.wrapped
    for step in provider.ladder(conv):
        provider.build(make_call(step.mode, schema=conv.request, schema_name=spec.name,
                                 strict=step.strict), BASE)
    answer = {"vendor": "Acme", "total": None, "lines": [
        {"product": "nails", "qty": 3, "price": None, "unit": "kg"},
        {"product": "saw", "qty": 1, "price": 12.5, "unit": None}],
        "paid": None, "address": {"street": "Main St", "city": "Springfield"}, "tags": None}
    assert spec.check(answer, conv)[2] == []
    assert spec.check({**answer, "paid": "maybe"}, conv)[2] != []


def test_the_strict_request_closes_every_object_of_schema_text():
    spec = load_schema("users list[{name, hobbies list[str]}], meta {source}?")
    request = spec.request_for(get_provider("openai")).request
    closed = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object":
                closed.append(node.get("additionalProperties"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(request)
    assert closed == [False, False, False]


#: where each wire format carries the schema, and its answer builder
SCHEMA_AT = {
    "openai": (("response_format", "json_schema", "schema"), lambda t: chat(t)),
    "responses": (("text", "format", "schema"), responses),
    "anthropic": (("output_config", "format", "schema"), anthropic),
    "gemini": (("generationConfig", "responseJsonSchema"), gemini),
}
#: the cloud endpoints speak two of them (Azure OpenAI: Chat Completions; Vertex: Gemini)
SCHEMA_AT |= {"azure": SCHEMA_AT["openai"], "vertex": SCHEMA_AT["gemini"]}


@pytest.mark.parametrize("name", provider_names())
def test_structured_sends_the_schema_text_made(server, settings, name):
    answer = {"name": "Ada", "age": 36, "langs": ["en", "fr"], "status": None}
    path, reply = SCHEMA_AT[name]
    server.queue(reply(json.dumps(answer)))
    res = sm.structured("Who?", "name, age int, langs list[str], status enum[alive, dead]?",
                        provider=name, model="m-1")
    assert res.data == answer
    sent = server.requests[0].json
    for key in path:
        sent = sent[key]
    want = schema_dsl("name, age int, langs list[str], status enum[alive, dead]?")
    if name in ("openai", "responses", "anthropic", "azure"):  # closed for strict decoding
        want["additionalProperties"] = False
    assert sent == want


def test_openai_gets_the_name_response_and_strict(server, settings):
    server.queue(chat(json.dumps({"a": "x"})))
    sm.structured("q", "a")
    assert server.requests[0].json["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "response", "schema": {"type": "object", "properties": {"a": {"type": "string"}},
                                       "required": ["a"], "additionalProperties": False},
        "strict": True}}


def test_batch_and_the_extractor_take_schema_text(server, settings):
    pd = pytest.importorskip("pandas")

    def answer(req):
        text = req.json["messages"][-1]["content"]
        return chat(json.dumps({"word": text, "size": len(text)}))

    server.responder = answer
    results = sm.batch(["ab", "abc"], schema="word, size int", concurrency=2)
    assert [r.data for r in results] == [{"word": "ab", "size": 2}, {"word": "abc", "size": 3}]
    out = sm.Extractor(schema="word, size int", template="{text}")(
        pd.DataFrame({"text": ["abcd"]}))
    assert list(out["size"]) == [4]
    assert all(r.json["response_format"]["json_schema"]["schema"]["required"] == ["word", "size"]
               for r in server.requests)


# --- %%structured "..." --------------------------------------------------------------------------


def run(ip, cell: str):
    return ip.run_cell(cell, store_history=False)


PERSON = {"name": "Ada", "age": 36, "bio": "Wrote the first program."}


@pytest.mark.parametrize("line", [
    '%%structured "name, age int, bio: a short bio" -o person',
    "%%structured 'name, age int, bio: a short bio' -o person",
    '%%structured -o person "name, age int, bio: a short bio"',
    '%%structured --system "Be brief." -o person "name, age int, bio: a short bio"',
])
def test_the_magic_takes_schema_text_in_quotes(ip, server, settings, line):
    server.queue(chat(json.dumps(PERSON)))
    res = run(ip, line + "\nAda Lovelace")
    assert res.success, res.error_in_exec
    assert ip.user_ns["person"] == PERSON
    format_ = server.requests[0].json["response_format"]
    assert format_["json_schema"]["name"] == "response" and format_["json_schema"]["strict"]
    assert format_["json_schema"]["schema"] == {
        **schema_dsl("name, age int, bio: a short bio"), "additionalProperties": False}


def test_a_quoted_word_is_schema_text_and_a_bare_one_a_variable(ip, server, settings):
    server.queue(chat(json.dumps({"summary": "s"})), chat(json.dumps({"x": 1})))
    ip.user_ns["summary"] = {"type": "object", "properties": {"x": {"type": "integer"}},
                             "required": ["x"], "additionalProperties": False}
    assert run(ip, '%%structured "summary" -o a\nq').success
    assert run(ip, "%%structured summary -o b\nq").success
    assert ip.user_ns["a"] == {"summary": "s"} and ip.user_ns["b"] == {"x": 1}
    first, second = (r.json["response_format"]["json_schema"] for r in server.requests)
    assert first["name"] == "response" and list(first["schema"]["properties"]) == ["summary"]
    assert second["name"] == "summary" and list(second["schema"]["properties"]) == ["x"]


def test_a_variable_holding_schema_text_is_named_after_it(ip, server, settings):
    server.queue(chat(json.dumps({"name": "Ada", "age": 36})))
    ip.user_ns["person_text"] = "name: the full name\nage int: in years, rounded down"
    assert run(ip, "%%structured person_text -o p\nq").success
    sent = server.requests[0].json["response_format"]["json_schema"]
    assert sent["name"] == "person_text"
    assert sent["schema"]["properties"]["age"]["description"] == "in years, rounded down"


def test_multi_wraps_schema_text(ip, server, settings):
    people = {"items": [{"name": "Ada", "age": 36}, {"name": "Alan", "age": 41}]}
    server.queue(chat(json.dumps(people)), chat(json.dumps(people)))
    ip.user_ns["text"] = "name, age int"
    assert run(ip, '%%structured "name, age int" --multi -o people\nq').success
    assert run(ip, "%%structured text --multi -o again\nq").success
    assert ip.user_ns["people"] == ip.user_ns["again"] == people
    for req in server.requests:
        schema = req.json["response_format"]["json_schema"]["schema"]
        assert schema["properties"]["items"]["items"]["properties"] == {
            "name": {"type": "string"}, "age": {"type": "integer"}}
        assert schema["required"] == ["items"]


def test_each_row_with_schema_text(ip, server, settings):
    server.responder = lambda req: chat(json.dumps(
        {"n": len(req.json["messages"][-1]["content"])}))
    ip.user_ns["words"] = ["a", "abc"]
    assert run(ip, '%%structured "n int" --each words -o sizes --quiet\n{item}').success
    assert ip.user_ns["sizes"] == [{"n": 1}, {"n": 3}]


@pytest.mark.parametrize(("cell", "message"), [
    ('%%structured "name, age integr" -o x\nq',
     "Schema text: unknown type 'integr' at column 11; did you mean int?\n"
     "  name, age integr\n            ^"),
    ("%%structured bad_text -o x\nq",
     "bad_text: Schema text: unknown type 'integr' at column 11; did you mean int?"),
    ('%%structured "a {b" -o x\nq', "Schema text: unclosed '{' at column 3"),
    ("%%structured person --multi -o x\nq", "person: --multi wraps schema text"),
    ("%%structured nothing -o x\nq", 'no variable named \'nothing\' in the notebook. Schema '
     'text goes in quotes: "nothing".'),
    ("%%structured name,age -o x\nq", '\'name,age\' is not a variable name. Schema text goes '
     'in quotes: "name,age".'),
    ('%%structured "name, age int -o x\nq', "Could not read the magic line"),
])
def test_mistakes_in_schema_text_are_usage_errors_and_bind_nothing(ip, server, settings, cell,
                                                                   message):
    ip.user_ns.update(x="before", bad_text="name, age integr", person={
        "type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]})
    res = run(ip, cell)
    assert type(res.error_in_exec) is UsageError, repr(res.error_in_exec)
    assert message in str(res.error_in_exec)
    assert ip.user_ns["x"] == "before" and server.requests == []


def test_the_usage_error_says_what_the_schema_error_says(ip, server, settings):
    with pytest.raises(sm.SchemaError) as info:
        schema_dsl("a, b list[int")
    res = run(ip, '%%structured "a, b list[int" -o x\nq')
    assert str(res.error_in_exec) == str(info.value)


def test_the_line_is_read_as_written(ip, server, settings, capfd):
    """IPython fills {name} and $name in a magic's line unless the magic opts out: schema
    text (and every other word of the line) arrives as written."""
    server.queue(chat(json.dumps({"address": {"city": "Paris"}})))
    ip.user_ns.update(city="Lyon", USD="EUR")
    assert run(ip, '%%structured "address {city}: in $USD" -o x --system "$USD {city}"\nq'
               ).success
    sent = server.requests[0].json
    assert sent["messages"][0]["content"] == "$USD {city}"
    schema = sent["response_format"]["json_schema"]["schema"]["properties"]["address"]
    assert schema["description"] == "in $USD" and list(schema["properties"]) == ["city"]
    capfd.readouterr()
    assert run(ip, '%structured_schema "address {city}: in $USD"').success
    assert '"description": "in $USD"' in capfd.readouterr().out


def test_the_line_is_split_as_a_shell_splits_it_and_quoted_words_are_marked():
    from structmagic.magic.options import split_line

    rng = random.Random(7)
    pieces = ["a", "-o", "x y", "'q r'", '"s, t"', "--system", "\\\"", "é", "''", '"a\\"b"',
              "a'b c'", "{x}", "list[int]"]
    for _ in range(300):
        line = " ".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        try:
            want = shlex.split(line)
        except ValueError:
            with pytest.raises(UsageError):
                split_line(line)
            continue
        got = split_line(line)
        assert got == want
    quoted = [type(w).__name__ == "_Quoted" for w in split_line(
        "plain \"double q\" 'single' mixed'quote' \"\"")]
    assert quoted == [False, True, True, False, True]


# --- %structured_schema --------------------------------------------------------------------------

SHOWN_JSON = """{
  "type": "object",
  "properties": {
    "vendor": {
      "type": "string"
    },
    "lines": {
      "type": "array",
      "items": {
        "type": "object",
        "properties": {
          "product": {
            "type": "string"
          },
          "qty": {
            "type": "integer",
            "description": "how many"
          }
        },
        "required": [
          "product",
          "qty"
        ]
      }
    },
    "paid": {
      "anyOf": [
        {
          "type": "string",
          "enum": [
            "yes",
            "no"
          ]
        },
        {
          "type": "null"
        }
      ]
    }
  },
  "required": [
    "vendor",
    "lines",
    "paid"
  ]
}
"""

SHOWN_MODELS = '''# The same schema as Pydantic models (pass Response as the schema):
from typing import Literal

from pydantic import BaseModel, Field


class Line(BaseModel):
    product: str
    qty: int = Field(description="how many")


class Response(BaseModel):
    vendor: str
    lines: list[Line]
    paid: Literal["yes", "no"] | None
'''


def test_structured_schema_prints_the_json_schema_and_the_models(ip, capfd):
    pytest.importorskip("pydantic")
    capfd.readouterr()
    res = run(ip, '%structured_schema "vendor, lines list[{product, qty int: how many}], '
                  'paid enum[yes, no]?"')
    assert res.success, res.error_in_exec
    assert capfd.readouterr().out == SHOWN_JSON + "\n" + SHOWN_MODELS


def test_structured_schema_without_pydantic_says_what_to_install(ip, capfd, monkeypatch):
    monkeypatch.setitem(sys.modules, "pydantic", None)
    capfd.readouterr()
    assert run(ip, '%structured_schema "vendor, lines list[{product, qty int: how many}], '
                   'paid enum[yes, no]?"').success
    assert capfd.readouterr().out == SHOWN_JSON + "\n" + (
        '# For the same schema as Pydantic models: pip install "structmagic[pydantic]"\n')


def test_structured_schema_multi_and_a_variable(ip, capfd):
    ip.user_ns["text"] = "name\nage int: in years, rounded"
    capfd.readouterr()
    assert run(ip, "%structured_schema text --multi").success
    out = capfd.readouterr().out
    shown = json.loads(out[:out.index("\n}\n") + 2])
    assert shown == schema_dsl("name\nage int: in years, rounded", multi=True)
    assert "class Item(BaseModel):" in out and "items: list[Item]" in out


@pytest.mark.parametrize(("line", "message"), [
    ('%structured_schema "a, b integr"', "Schema text: unknown type 'integr' at column 6; did "
     "you mean int?\n  a, b integr\n       ^"),
    ("%structured_schema name, age int", 'Put the schema text in quotes: %structured_schema '
     '"name, age int".'),
    ("%structured_schema nothing", 'no variable named \'nothing\''),
    ("%structured_schema number", "number: holds an int, not schema text"),
])
def test_structured_schema_mistakes_are_usage_errors(ip, line, message):
    ip.user_ns["number"] = 3
    res = run(ip, line)
    assert type(res.error_in_exec) is UsageError
    assert message in str(res.error_in_exec)


def test_the_models_printed_accept_what_the_schema_accepts():
    """For random schemas: the model source runs, and an instance valid for the JSON Schema
    is valid for the model, reads back the same (aliases kept), and misses a field at its
    peril."""
    pydantic = pytest.importorskip("pydantic")
    rng = random.Random(99)
    for i in range(150):
        lines = rng.random() < 0.4
        schema = random_object(rng, 0, nested=False, commas=not lines)
        text = render(schema, rng, lines) + ("\n" if lines else "")
        namespace: dict[str, Any] = {}
        # as a notebook cell runs it (not with this module's `from __future__` flags)
        exec(compile(model_source(text), "<models>", "exec", dont_inherit=True), namespace)
        model = namespace["Response"]
        validator = load_schema(text)
        for _ in range(3):
            instance = make_instance(schema, choose=lambda kind, n: rng.randrange(n))
            assert validator.check(instance)[2] == [], (i, text, instance)
            value = model.model_validate(instance, strict=True)
            assert value.model_dump(by_alias=True) == instance, (i, text)
        first = next(iter(schema["properties"]))
        with pytest.raises(pydantic.ValidationError):
            model.model_validate({k: v for k, v in instance.items() if k != first})


# --- the package root ----------------------------------------------------------------------------


def test_schema_dsl_is_a_public_name():
    from structmagic.schema import dsl

    assert sm.schema_dsl is dsl.schema_dsl and "schema_dsl" in sm.__all__
    assert sm.schema_dsl("a int", multi=True) == multi(obj({"a": I}))
