"""A corpus of realistic schemas: (id, schema or Python type, a valid example value).

Used by tests/test_schema.py end to end against the fake server.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from typing_extensions import TypedDict

MATH = {
    "type": "json_schema",
    "json_schema": {
        "name": "math_reasoning",
        "schema": {
            "type": "object",
            "properties": {
                "steps": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"explanation": {"type": "string"},
                                   "output": {"type": "string"}},
                    "required": ["explanation", "output"], "additionalProperties": False}},
                "final_answer": {"type": "string"},
            },
            "required": ["steps", "final_answer"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}

CONTACT = {
    "title": "contact",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "birthday": {"type": "string", "format": "date"},
        "phone": {"type": "string", "description": "E.164 if known"},
    },
    "required": ["name", "email"],
}

CLASSIFY = {
    "type": "object",
    "properties": {
        "label": {"enum": ["bug", "feature", "question", "docs"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["label", "confidence"],
    "additionalProperties": False,
}

UI_TREE = {
    "name": "ui",
    "strict": True,
    "schema": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["div", "button", "header", "section", "field"]},
            "label": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#"}},
            "attributes": {"type": "array", "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
                "required": ["name", "value"], "additionalProperties": False}},
        },
        "required": ["type", "label", "children", "attributes"],
        "additionalProperties": False,
    },
}

TREE_DEFS = {
    "type": "object",
    "properties": {"root": {"$ref": "#/$defs/node"}},
    "required": ["root"],
    "additionalProperties": False,
    "$defs": {"node": {
        "type": "object",
        "properties": {"value": {"type": "integer"},
                       "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
        "required": ["value", "children"], "additionalProperties": False}},
}

INVOICE = {
    "type": "object",
    "properties": {
        "number": {"type": "string", "pattern": "^INV-[0-9]{4}-[0-9]{4}$"},
        "issued": {"type": "string", "format": "date"},
        "currency": {"enum": ["EUR", "USD"]},
        "lines": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "properties": {
                "sku": {"type": "string"},
                "qty": {"type": "integer", "minimum": 1},
                "price": {"type": "number", "minimum": 0},
                "discount": {"type": "number", "default": 0},
            },
            "required": ["sku", "qty", "price"]}},
        "total": {"type": "number"},
    },
    "required": ["number", "issued", "currency", "lines", "total"],
}

UNION = {
    "type": "object",
    "properties": {
        "shape": {"anyOf": [
            {"type": "object", "properties": {"kind": {"const": "circle"},
                                              "r": {"type": "number"}},
             "required": ["kind", "r"], "additionalProperties": False},
            {"type": "object", "properties": {"kind": {"const": "rect"},
                                              "w": {"type": "number"}, "h": {"type": "number"}},
             "required": ["kind", "w", "h"], "additionalProperties": False},
        ]},
    },
    "required": ["shape"],
    "additionalProperties": False,
}

ONEOF_DEFAULT = {
    "type": "object",
    "properties": {
        "status": {"oneOf": [{"const": "open"}, {"const": "closed"}], "default": "open"},
        "priority": {"type": "integer", "default": 3, "minimum": 1, "maximum": 5},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
    },
    "required": ["status"],
}

IDS = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "created": {"type": "string", "format": "date-time"},
        "owner": {"allOf": [{"$ref": "#/$defs/user"}], "description": "who owns it"},
    },
    "required": ["id", "created", "owner"],
    "additionalProperties": False,
    "$defs": {"user": {"type": "object", "properties": {"login": {"type": "string"}},
                       "required": ["login"], "additionalProperties": False}},
}

EVENTS = {
    "type": "object",
    "properties": {
        "events": {"type": "array", "items": {
            "type": "object",
            "properties": {
                "title": {"type": "string", "maxLength": 80},
                "when": {"type": "string", "format": "date"},
                "people": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["title", "when", "people"], "additionalProperties": False}},
    },
    "required": ["events"],
    "additionalProperties": False,
}

NULLABLE = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "sentiment": {"type": ["string", "null"], "enum": ["pos", "neg", None]},
        "score": {"anyOf": [{"type": "number"}, {"type": "null"}]},
    },
    "required": ["summary", "sentiment", "score"],
    "additionalProperties": False,
}

FREE_FORM = {
    "type": "object",
    "properties": {"name": {"type": "string"},
                   "metadata": {"type": "object", "additionalProperties": {"type": "string"}}},
    "required": ["name", "metadata"],
}

NOT_KEYWORD = {
    "type": "object",
    "properties": {"word": {"type": "string", "not": {"const": "forbidden"}}},
    "required": ["word"],
    "additionalProperties": False,
}


class Step(BaseModel):
    explanation: str
    output: str


class MathModel(BaseModel):
    steps: list[Step]
    final_answer: str


class Person(BaseModel):
    name: str = Field(min_length=1)
    age: int = Field(ge=0, le=150)
    nickname: str | None = None
    languages: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def capitalised(cls, v: str) -> str:
        if not v[:1].isupper():
            raise ValueError("name must start with a capital letter")
        return v


@dataclasses.dataclass
class Point:
    x: float
    y: float
    label: str = "p"


class Movie(TypedDict):
    title: str
    year: int


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Ticket(BaseModel):
    title: str
    colour: Colour
    sub: list[Point]


CORPUS: list[tuple[str, Any, Any]] = [
    ("math_reasoning", MATH, {"steps": [{"explanation": "a", "output": "b"}],
                              "final_answer": "c"}),
    ("contact_optional", CONTACT, {"name": "Ada", "email": "ada@example.com"}),
    ("classification_enum", CLASSIFY, {"label": "bug", "confidence": 0.9}),
    ("ui_recursive_root_ref", UI_TREE, {"type": "div", "label": "root", "attributes": [],
                                        "children": [{"type": "button", "label": "OK",
                                                      "children": [], "attributes": []}]}),
    ("tree_defs_recursion", TREE_DEFS, {"root": {"value": 1, "children": [
        {"value": 2, "children": []}]}}),
    ("invoice_nested", INVOICE, {"number": "INV-2024-0001", "issued": "2024-01-31",
                                 "currency": "EUR", "lines": [{"sku": "A", "qty": 2,
                                                               "price": 3.5}], "total": 7.0}),
    ("union_anyof", UNION, {"shape": {"kind": "rect", "w": 1, "h": 2}}),
    ("oneof_and_defaults", ONEOF_DEFAULT, {"status": "closed"}),
    ("uuid_datetime_allof_ref", IDS, {"id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                                      "created": "2024-05-01T12:00:00Z",
                                      "owner": {"login": "ada"}}),
    ("events_array", EVENTS, {"events": [{"title": "Launch", "when": "2024-06-01",
                                          "people": ["Ada"]}]}),
    ("nullable_fields", NULLABLE, {"summary": "ok", "sentiment": None, "score": None}),
    ("free_form_dict", FREE_FORM, {"name": "x", "metadata": {"a": "b"}}),
    ("not_keyword", NOT_KEYWORD, {"word": "fine"}),
    ("pydantic_math", MathModel, {"steps": [{"explanation": "a", "output": "b"}],
                                  "final_answer": "c"}),
    ("pydantic_validators", Person, {"name": "Ada", "age": 36}),
    ("dataclass", Point, {"x": 1.0, "y": 2.0}),
    ("typeddict", Movie, {"title": "Alien", "year": 1979}),
    ("list_of_models_root", list[Step], [{"explanation": "a", "output": "b"}]),
    ("literal_root", Literal["yes", "no", "maybe"], "maybe"),
    ("enum_root", Colour, "green"),
    ("pydantic_nested_enum_dataclass", Ticket, {"title": "t", "colour": "red",
                                                "sub": [{"x": 0, "y": 1, "label": "a"}]}),
    ("json_string", '{"type": "object", "properties": {"ok": {"type": "boolean"}}, '
                    '"required": ["ok"]}', {"ok": True}),
]

#: entries that cannot be strict, and why
NOT_STRICT = {
    "free_form_dict": "a dict of arbitrary keys (additionalProperties schema)",
    "not_keyword": "`not` changes the meaning; it cannot be moved into a description",
}
