"""A corpus of realistic schemas: (id, schema or Python type, a valid example value).

Used by tests/test_schema.py end to end against the fake server.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, HttpUrl, field_validator
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


class Attribute(BaseModel):
    name: str
    value: str


class UIComponent(BaseModel):
    """A node of a user interface: the OpenAI docs' recursive example, as a model."""

    type: Literal["div", "button", "header", "section", "field", "form"]
    label: str
    children: list[UIComponent]
    attributes: list[Attribute]


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = 9


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool = True


class Adoption(BaseModel):
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]
    adopter: str
    previous_owner: Attribute | None = Field(None, description="if known")


class Sentiment(BaseModel):
    """The sentiment of a review."""

    label: Literal["positive", "negative", "neutral"]
    confidence: float = Field(ge=0, le=1)
    evidence: list[str] = Field(default_factory=list, max_length=3)


class Guest(BaseModel):
    name: str
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


class Booking(BaseModel):
    id: uuid.UUID
    day: datetime.date
    created: datetime.datetime
    guest: Guest = Field(description="who booked")
    nights: int = Field(1, ge=1, le=30, multiple_of=1)
    note: str | None = Field(None, max_length=200)


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Label(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=20)]
    level: Level = Level.LOW


class Product(BaseModel):
    """Types Pydantic writes with formats, patterns and unions."""

    price: decimal.Decimal
    url: HttpUrl
    opens: datetime.time
    warranty: datetime.timedelta
    code: int | str
    rating: Annotated[int, Field(ge=1, le=5)] = 3
    labels: list[Label] | None = None
    variant_of: Product | None = None


class Inventory(BaseModel):
    sku: str
    stock_by_warehouse: dict[str, int]


ADDRESSES = {
    "title": "order addresses",
    "type": "object",
    "properties": {
        "customer": {"type": "string"},
        "billing": {"$ref": "#/$defs/address", "description": "where the invoice goes"},
        "shipping": {"$ref": "#/$defs/address", "default": None},
        "pickup_points": {"type": "array", "items": {"$ref": "#/$defs/address"},
                          "maxItems": 3},
    },
    "required": ["customer", "billing"],
    "$defs": {"address": {
        "type": "object",
        "properties": {"street": {"type": "string"}, "city": {"type": "string"},
                       "postcode": {"type": "string", "pattern": "^[0-9]{5}$"},
                       "country": {"type": "string", "minLength": 2, "maxLength": 2}},
        "required": ["street", "city", "country"]}},
}

SEARCH_RESULT = {
    "anyOf": [
        {"type": "object", "title": "hit", "properties": {
            "found": {"const": True}, "url": {"type": "string", "format": "uri"},
            "score": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}},
         "required": ["found", "url", "score"], "additionalProperties": False},
        {"type": "object", "title": "miss", "properties": {
            "found": {"const": False}, "reason": {"type": "string"}},
         "required": ["found"], "additionalProperties": False},
    ],
}

EXPRESSION = {
    "type": "object",
    "properties": {"expr": {"$ref": "#/$defs/expr"}, "value": {"type": "number"}},
    "required": ["expr", "value"],
    "additionalProperties": False,
    "$defs": {
        "expr": {"anyOf": [{"$ref": "#/$defs/binary"}, {"type": "number"}]},
        "binary": {"type": "object", "properties": {
            "op": {"enum": ["+", "-", "*", "/"]},
            "left": {"$ref": "#/$defs/expr"}, "right": {"$ref": "#/$defs/expr"}},
            "required": ["op", "left", "right"], "additionalProperties": False},
    },
}

TODO_LIST = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "object", "properties": {
        "task": {"type": "string"}, "done": {"type": "boolean", "default": False},
        "due": {"type": "string", "format": "date"}},
        "required": ["task"]},
}

ENTITIES_RF = {
    "type": "json_schema",
    "json_schema": {
        "name": "named-entities",
        "description": "Named entities found in the text.",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"entities": {"type": "array", "items": {
                "type": "object",
                "properties": {"text": {"type": "string"},
                               "kind": {"type": "string",
                                        "enum": ["person", "org", "place", "date"]},
                               "start": {"type": "integer", "minimum": 0}},
                "required": ["text", "kind", "start"], "additionalProperties": False}}},
            "required": ["entities"],
            "additionalProperties": False,
        },
    },
}

CONDITIONAL = {
    "type": "object",
    "properties": {"country": {"enum": ["US", "CA"]}, "postcode": {"type": "string"}},
    "required": ["country", "postcode"],
    "if": {"properties": {"country": {"const": "US"}}},
    "then": {"properties": {"postcode": {"pattern": "^[0-9]{5}$"}}},
    "else": {"properties": {"postcode": {"pattern": "^[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]$"}}},
}

COMPOSED = {
    "type": "object",
    "allOf": [
        {"properties": {"id": {"type": "integer"}}, "required": ["id"]},
        {"properties": {"name": {"type": "string"}}, "required": ["name"]},
    ],
}

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
    ("defs_reuse_ref_siblings", ADDRESSES, {
        "customer": "Ada", "billing": {"street": "1 Main St", "city": "Springfield",
                                       "postcode": "12345", "country": "US"}}),
    ("anyof_root_union", SEARCH_RESULT, {"found": False, "reason": "no match"}),
    ("expression_tree", EXPRESSION, {"expr": {"op": "+", "left": 1, "right": {
        "op": "*", "left": 2, "right": 3}}, "value": 7}),
    ("array_root_defaults", TODO_LIST, [{"task": "write tests", "due": "2024-07-01"}]),
    ("response_format_description", ENTITIES_RF, {"entities": [
        {"text": "Ada Lovelace", "kind": "person", "start": 0}]}),
    ("pydantic_recursive_ui", UIComponent, {
        "type": "form", "label": "Sign up", "attributes": [{"name": "method", "value": "post"}],
        "children": [{"type": "field", "label": "Email", "children": [], "attributes": []}]}),
    ("pydantic_discriminated_union", Adoption, {"pet": {"kind": "dog", "good": True},
                                                "adopter": "Ada"}),
    ("sentiment_literal", Sentiment, {"label": "positive", "confidence": 0.8,
                                      "evidence": ["great battery"]}),
    ("pydantic_dates_uuid_ref_description", Booking, {
        "id": "123e4567-e89b-12d3-a456-426614174000", "day": "2024-05-01",
        "created": "2024-04-01T08:30:00Z", "guest": {"name": "Ada", "email": "ada@example.com"},
        "nights": 2}),
    ("pydantic_assorted_types", Product, {
        "price": "19.99", "url": "https://example.com/p/1", "opens": "09:00:00Z",
        "warranty": "P365D", "code": "A-7", "labels": [{"name": "new", "level": 2}]}),
    ("pydantic_free_form_dict", Inventory, {"sku": "A-1", "stock_by_warehouse": {"north": 3}}),
    ("conditional_if_then", CONDITIONAL, {"country": "CA", "postcode": "K1A 0B1"}),
    ("allof_composition", COMPOSED, {"id": 1, "name": "x"}),
]

#: entries that cannot be strict, and why
NOT_STRICT = {
    "free_form_dict": "a dict of arbitrary keys (additionalProperties schema)",
    "not_keyword": "`not` changes the meaning; it cannot be moved into a description",
    "pydantic_free_form_dict": "dict[str, int] is an additionalProperties schema",
    "conditional_if_then": "if/then/else picks a pattern by another field's value",
    "allof_composition": "allOf of several schemas (an intersection strict mode lacks)",
}
