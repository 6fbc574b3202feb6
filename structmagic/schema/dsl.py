"""Schema text: a concise syntax for a JSON Schema, a superset of simonw/llm's.

::

    name, age int, bio: a short bio
    vendor, total float, lines list[{product, qty int, price float}], paid enum[yes, no]?

For the text llm accepts, :func:`schema_dsl` gives llm's JSON Schema byte for byte:

- the fields are separated by newlines when the text has any, else by commas (so a
  description may hold commas when the fields are one per line); blank fields are skipped;
- a field is ``name [type][: description]``: its name, then its type after a space (``str``
  when none is given), then, after the first colon, its description (to the end of the
  field, spaces around it dropped; an empty one is left out);
- ``str``, ``int``, ``float``, ``bool`` are ``string``, ``integer``, ``number``, ``boolean``;
- every field is required: ``{"type": "object", "properties": {...}, "required": [every
  name, in order]}``, each property ``{"type": T}`` and its ``"description"``;
- ``multi=True`` (llm's ``--schema-multi``) wraps it: ``{"type": "object", "properties":
  {"items": {"type": "array", "items": <schema>}}, "required": ["items"]}``.

On top of llm's:

=================  ==========================================================================
``list[T]``        ``{"type": "array", "items": T}``
``{a, b int}``     a nested object, its fields as above, separated by commas or newlines; a
                   description inside the braces ends at the next comma, newline or ``}``
``enum[a, b, c]``  ``{"type": "string", "enum": ["a", "b", "c"]}`` (the values are text, written
                   without quotes; spaces inside a value are kept)
``T?``             may be null (and is still required): ``{"type": [T, "null"]}`` for ``str``,
                   ``int``, ``float`` and ``bool``; ``{"anyOf": [T, {"type": "null"}]}`` for
                   lists, objects and enums (the shapes the strict conversion makes of an
                   optional property), a description beside the ``anyOf``
``integer`` ...    the JSON names ``string``, ``integer``, ``number``, ``boolean`` as well as
                   llm's words (DocETL writes them)
=================  ==========================================================================

A mistake is reported, never guessed at: an unknown type (which llm has made a string), a
word after the type (which llm drops), an empty or duplicate name, an unclosed bracket, a
comma between fields of text written one field per line, a name holding ``[]{}?`` or a
control character, text with no field (llm's empty object) -- each a
:class:`~structmagic.SchemaError` naming the column (and the line, for text on several
lines), with the line and a caret under the place as its hint: ``name, age integr`` gives
``Schema text: unknown type 'integr' at column 11; did you mean int?``. Columns count
characters from 1.

:func:`model_source` writes the same schema as Pydantic model classes (source text; it
needs no Pydantic), for users who outgrow the syntax.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import keyword
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, NoReturn

from ..errors import SchemaError

__all__ = ["MAX_DEPTH", "SCALARS", "FieldNode", "TypeNode", "model_source",
           "parse_schema_text", "schema_dsl"]

#: the type words and the JSON type each names: llm's four, then the JSON names
SCALARS: dict[str, str] = {
    "str": "string", "int": "integer", "float": "number", "bool": "boolean",
    "string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
}
#: how deep types may nest (list in list, object in object ...)
MAX_DEPTH = 50

_SHORT = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
#: the kinds T? makes a list of types of (the others: an anyOf with null)
_SCALAR_KINDS = frozenset(SCALARS.values())
_SUGGESTED = (*SCALARS, "list", "enum")
#: other tools' type words, and what they are written as here
_OTHER_WORDS = {
    "text": "str", "varchar": "str", "char": "str", "decimal": "float", "double": "float",
    "long": "int", "object": "{...}", "dict": "{...}", "array": "list[...]",
}
#: what ends a name or a type word (besides white space)
_STOP = frozenset(",:[]{}?")
_TYPE_HELP = ("types: str, int, float, bool, list[T], {a, b int}, enum[a, b], and T? for "
              "null allowed; a description goes after a colon, such as 'bio: a short bio'")


@dataclass(frozen=True)
class FieldNode:
    """One field: its name, its type, its description (None: none given)."""

    name: str
    type: TypeNode
    description: str | None = None


@dataclass(frozen=True)
class TypeNode:
    """One type of schema text.

    ``kind`` is a JSON type (``string``, ``integer``, ``number``, ``boolean``, ``array``,
    ``object``) or ``enum``; ``item`` is an array's, ``fields`` an object's, ``values`` an
    enum's; ``nullable`` for ``T?``.
    """

    kind: str
    item: TypeNode | None = None
    fields: tuple[FieldNode, ...] = ()
    values: tuple[str, ...] = ()
    nullable: bool = False


def schema_dsl(text: str, multi: bool = False) -> dict[str, Any]:
    """The JSON Schema that schema text describes (see the module doc for the syntax).

    ``multi=True`` wraps it as llm's ``--schema-multi`` does: an object whose ``items`` is
    an array of such objects. Raises :class:`~structmagic.SchemaError` (naming the column)
    for text that is not schema text.
    """
    schema = _render(parse_schema_text(text))
    if multi:
        return {"type": "object", "properties": {"items": {"type": "array", "items": schema}},
                "required": ["items"]}
    return schema


def parse_schema_text(text: str) -> TypeNode:
    """Schema text read into its object :class:`TypeNode`; a SchemaError where it is not."""
    if not isinstance(text, str):
        raise SchemaError(f"Schema text is a str, not {type(text).__name__}.")
    return _Parser(text).document()


# --- reading --------------------------------------------------------------------------------


class _Parser:
    """A recursive-descent reader over the text, keeping the position for messages."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.lines = "\n" in text  # llm's rule: one field per line when there is a newline
        self.depth = 0

    # positions and messages

    def where(self, pos: int) -> str:
        start = self.text.rfind("\n", 0, pos) + 1
        column = pos - start + 1
        if self.lines:
            return f"line {self.text.count(chr(10), 0, pos) + 1}, column {column}"
        return f"column {column}"

    def fail(self, what: str, pos: int, advice: str = "") -> NoReturn:
        raise SchemaError(f"Schema text: {what} at {self.where(pos)}{advice}",
                          hint=self.excerpt(pos))

    def excerpt(self, pos: int) -> str:
        """The line of ``pos`` and a caret under it (a window of a long line)."""
        start = self.text.rfind("\n", 0, pos) + 1
        end = self.text.find("\n", pos)
        line = self.text[start:] if end < 0 else self.text[start:end]
        col = pos - start
        width = 76
        if len(line) > width:
            lo = max(0, min(col - width // 2, len(line) - width))
            shown = ("…" if lo else "") + line[lo:lo + width]
            col += (1 if lo else 0) - lo
            line = shown + ("…" if lo + width < len(line) else "")
        line = "".join(" " if c.isspace() or unicodedata.category(c) == "Cc" else c
                       for c in line)
        return f"  {line}\n  {' ' * col}^"

    def found(self, pos: int) -> str:
        """What stands at ``pos``, for a message: a word, a character, or the end."""
        if pos >= len(self.text):
            return "the end of the text"
        if self.text[pos] == "\n":
            return "the end of the line"
        word = self.text[pos:self._word_end(pos)]
        return repr(word or self.text[pos])

    # characters

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self, newlines: bool) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos].isspace() and (newlines or text[pos] != "\n"):
            pos += 1
        self.pos = pos

    def _word_end(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and not text[pos].isspace() and text[pos] not in _STOP:
            pos += 1
        return pos

    def word(self) -> str:
        """A name or a type word (control characters refused)."""
        start, end = self.pos, self._word_end(self.pos)
        for i in range(start, end):
            if unicodedata.category(self.text[i]) in ("Cc", "Cs"):
                self.fail(f"the character U+{ord(self.text[i]):04X}", i,
                          " (a name is printable text)")
        self.pos = end
        return self.text[start:end]

    # the grammar

    def document(self) -> TypeNode:
        fields = self.fields(None, 0)
        if not fields:
            raise SchemaError("Schema text: no field; write at least a name, such as "
                              "'name, age int, bio: a short bio'.")
        return TypeNode("object", fields=fields)

    def fields(self, close: str | None, opened: int) -> tuple[FieldNode, ...]:
        """Fields up to the end (``close`` None: the whole text) or to ``close``."""
        seps = ("\n" if self.lines else ",") if close is None else ",\n"
        out: list[FieldNode] = []
        seen: set[str] = set()
        while True:
            self.skip_space(newlines=False)
            c = self.peek()
            if not c:
                if close is not None:
                    self.fail("unclosed '{'", opened)
                return tuple(out)
            if c in seps:
                self.pos += 1
                continue
            if c == close:
                self.pos += 1
                return tuple(out)
            start = self.pos
            field = self.field(close, seps, opened)
            if field.name in seen:
                self.fail(f"duplicate field name {field.name!r}", start)
            seen.add(field.name)
            out.append(field)

    def field(self, close: str | None, seps: str, opened: int) -> FieldNode:
        """``name [type][: description]``, up to a separator, ``close`` (of the brace at
        ``opened``) or the end."""
        start = self.pos
        name = self.word()
        c = self.peek()
        if not name:
            if c == ":":
                self.fail("empty name", start, " (a field starts with its name, before ':')")
            self.fail(f"expected a field name, found {self.found(start)}", start)
        if c == "?":
            self.fail(f"'?' right after the name {name!r}", self.pos,
                      f" ('?' goes after a type: '{name} str?' may be null)")
        if c in ("[", "{"):
            self.fail(f"{c!r} right after the name {name!r}", self.pos,
                      f" (the type goes after a space: '{name} "
                      f"{'list[...]' if c == '[' else '{...}'}')")
        self.skip_space(newlines=False)
        kind = TypeNode("string")
        if self.more(close, seps, opened):
            kind = self.type()
            self.skip_space(newlines=False)
        description = None
        if self.peek() == ":":
            self.pos += 1
            description = self.description(close, seps)
        elif self.more(close, seps, opened):
            self.fail(f"unexpected {self.found(self.pos)}", self.pos,
                      " (a description goes after a colon, such as 'bio: a short bio')")
        return FieldNode(name, kind, description or None)

    def more(self, close: str | None, seps: str, opened: int) -> bool:
        """Whether the field goes on here (not a separator, ``close``, ':' or the end)."""
        c = self.peek()
        if not c or c in seps or c == close or c == ":":
            return False
        if close is None and c == "," and self.lines:
            self.fail("a comma between fields of text written one field per line", self.pos,
                      " (put each field on its own line, or all of them on one line)")
        if c in ("]", "}"):
            if close is None:
                self.fail(f"unexpected {c!r}", self.pos, " (no bracket is open here)")
            self.fail(f"expected {close!r} to close the '{{' at {self.where(opened)}, found "
                      f"{c!r}", self.pos)
        return True

    def description(self, close: str | None, seps: str) -> str:
        start = self.pos
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] not in seps and text[pos] != close:
            pos += 1
        self.pos = pos
        return text[start:pos].strip()

    def type(self) -> TypeNode:
        start = self.pos
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"types nested more than {MAX_DEPTH} deep", start)
        if self.peek() == "{":
            self.pos += 1
            fields = self.fields("}", start)
            if not fields:
                self.fail("an empty object", start, " (an object needs a field: {a, b int})")
            node = TypeNode("object", fields=fields)
        else:
            node = self.named_type(start)
        self.depth -= 1
        self.skip_space(newlines=False)
        if self.peek() == "?":
            self.pos += 1
            node = dataclasses.replace(node, nullable=True)
            if self.peek() == "?":
                self.fail("a second '?'", self.pos, " (one '?' lets a type be null)")
        return node

    def named_type(self, start: int) -> TypeNode:
        word = self.word()
        if not word:
            self.fail(f"expected a type, found {self.found(start)}", start, f" ({_TYPE_HELP})")
        if word in ("list", "enum"):
            if self.peek() != "[":
                self.fail(f"{word} without its brackets", start,
                          " (write list[str])" if word == "list" else " (write enum[a, b])")
            opened = self.pos
            self.pos += 1
            if word == "enum":
                return TypeNode("enum", values=self.enum_values(opened))
            self.skip_space(newlines=True)
            if self.peek() == "]":
                self.fail("list[] without an item type", opened, " (such as list[str])")
            item = self.type()
            self.skip_space(newlines=True)
            self.close_bracket(opened, "list[...]")
            return TypeNode("array", item=item)
        if word in SCALARS:
            return TypeNode(SCALARS[word])
        self.unknown(word, start)

    def close_bracket(self, opened: int, what: str) -> None:
        c = self.peek()
        if c == "]":
            self.pos += 1
            return
        if not c:
            self.fail("unclosed '['", opened)
        self.fail(f"expected ']' to close {what}, found {self.found(self.pos)}", self.pos)

    def enum_values(self, opened: int) -> tuple[str, ...]:
        values: list[str] = []
        text = self.text
        while True:
            self.skip_space(newlines=True)
            start = pos = self.pos
            while pos < len(text) and text[pos] not in ",]\n[{}":
                pos += 1
            value = text[start:pos].strip()
            self.pos = pos
            c = self.peek()
            if c in ("[", "{", "}"):
                self.fail(f"unexpected {c!r} in enum[...]", pos)
            if not value:
                if not c:
                    self.fail("unclosed '['", opened)
                if c == "]" and not values:
                    self.fail("enum[] without a value", opened, " (such as enum[a, b])")
                self.fail("an empty enum value", start)
            if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
                self.fail(f"the quoted enum value {value}", start,
                          " (write the values without quotes: enum[a, b])")
            if value in values:
                self.fail(f"duplicate enum value {value!r}", start)
            values.append(value)
            self.skip_space(newlines=True)
            c = self.peek()
            if c == ",":
                self.pos += 1
                continue
            if c == "]":
                self.pos += 1
                return tuple(values)
            if not c:
                self.fail("unclosed '['", opened)
            self.fail(f"expected ',' or ']' in enum[...], found {self.found(self.pos)}",
                      self.pos)

    def unknown(self, word: str, pos: int) -> NoReturn:
        guess = _OTHER_WORDS.get(word.lower())
        if guess is None:
            lower = word.lower()
            close = ([lower] if lower in _SUGGESTED else
                     difflib.get_close_matches(lower, _SUGGESTED, n=1, cutoff=0.6))
            if close:
                guess = {"list": "list[...]", "enum": "enum[...]"}.get(
                    close[0], _SHORT.get(close[0], close[0]))
        if guess is not None:
            self.fail(f"unknown type {word!r}", pos, f"; did you mean {guess}?")
        self.fail(f"unknown type {word!r}", pos, f" ({_TYPE_HELP})")


# --- JSON Schema ----------------------------------------------------------------------------


def _render(node: TypeNode) -> dict[str, Any]:
    out: dict[str, Any]
    if node.kind == "object":
        out = {"type": "object",
               "properties": {f.name: _property(f) for f in node.fields},
               "required": [f.name for f in node.fields]}
    elif node.kind == "array":
        assert node.item is not None
        out = {"type": "array", "items": _render(node.item)}
    elif node.kind == "enum":
        out = {"type": "string", "enum": list(node.values)}
    else:
        out = {"type": node.kind}
    if node.nullable:
        if node.kind in _SCALAR_KINDS:
            out["type"] = [node.kind, "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _property(field: FieldNode) -> dict[str, Any]:
    out = _render(field.type)
    if field.description:
        out["description"] = field.description
    return out


# --- Pydantic model source ------------------------------------------------------------------

_PY_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
#: names a field attribute must not take: what the annotations use, BaseModel's methods
_TAKEN_ATTRS = frozenset({
    "str", "int", "float", "bool", "list", "Literal", "Field", "BaseModel", "copy", "dict",
    "json", "schema", "schema_json", "construct", "validate", "parse_obj", "parse_raw",
    "parse_file", "from_orm", "update_forward_refs",
})
_TAKEN_CLASSES = frozenset({"BaseModel", "Field", "Literal", "None", "True", "False"})


def model_source(text: str, multi: bool = False, name: str = "Response") -> str:
    """Python source of Pydantic models equivalent to schema text (``name`` the outer one).

    Nested objects become classes of their own, named after their field (a list's item in
    the singular: ``lines`` gives ``Line``), enums ``Literal[...]``, ``T?`` ``T | None``
    (required all the same), descriptions ``Field(description=...)``; a name that cannot be
    a Python attribute gets an alias. Needs no Pydantic (the source does).
    """
    root = parse_schema_text(text)
    if multi:
        root = TypeNode("object", fields=(FieldNode("items", TypeNode("array", item=root)),))
    return _Models(root, name).source()


class _Models:
    def __init__(self, root: TypeNode, name: str) -> None:
        self.classes: list[str] = []
        self.names: dict[int, str] = {}
        self.uses_literal = self.uses_field = False
        taken = set(_TAKEN_CLASSES)
        self._name_classes(root, _class_name(name), taken)
        self.class_names = frozenset(self.names.values())
        self.root = root

    def _name_classes(self, node: TypeNode, hint: str, taken: set[str]) -> None:
        """A class name for each object, outer first, each name once."""
        if node.kind == "object":
            chosen, n = hint, 1
            while chosen in taken:
                n += 1
                chosen = f"{hint}{n}"
            taken.add(chosen)
            self.names[id(node)] = chosen
            for f in node.fields:
                self._name_classes(f.type, _class_name(f.name), taken)
        elif node.kind == "array" and node.item is not None:
            self._name_classes(node.item, _singular(hint), taken)

    def source(self) -> str:
        self.annotation(self.root)
        head = []
        if self.uses_literal:
            head.append("from typing import Literal\n")
        head.append("from pydantic import BaseModel" + (", Field" if self.uses_field else ""))
        return "\n".join(head) + "\n\n\n" + "\n\n\n".join(self.classes) + "\n"

    def annotation(self, node: TypeNode) -> str:
        if node.kind == "object":
            text = self.model(node)
        elif node.kind == "array":
            assert node.item is not None
            text = f"list[{self.annotation(node.item)}]"
        elif node.kind == "enum":
            self.uses_literal = True
            text = "Literal[" + ", ".join(_literal(v) for v in node.values) + "]"
        else:
            text = _PY_TYPES[node.kind]
        return f"{text} | None" if node.nullable else text

    def model(self, node: TypeNode) -> str:
        name = self.names[id(node)]
        lines = [f"class {name}(BaseModel):"]
        attrs: set[str] = set()
        for f in node.fields:
            annotation = self.annotation(f.type)
            attr = _attribute(f.name, attrs | self.class_names)
            attrs.add(attr)
            args = []
            if attr != f.name:
                args.append(f"alias={_literal(f.name)}")
            if f.description:
                args.append(f"description={_literal(f.description)}")
            if args:
                self.uses_field = True
                lines.append(f"    {attr}: {annotation} = Field({', '.join(args)})")
            else:
                lines.append(f"    {attr}: {annotation}")
        self.classes.append("\n".join(lines))
        return name


def _literal(text: str) -> str:
    """A Python string literal (JSON's escapes are Python's)."""
    return json.dumps(text, ensure_ascii=False)


def _class_name(name: str) -> str:
    parts = re.findall(r"[^\W_]+", name)
    text = "".join(p[:1].upper() + p[1:] for p in parts)
    if not text.isidentifier():
        text = "Model" + text
    return text


def _singular(name: str) -> str:
    """A list item's class name from the list's: ``Lines`` -> ``Line``, ``Entries`` ->
    ``Entry``, ``Boxes`` -> ``Box``; ``LineItem`` when there is no plural to drop."""
    if name.endswith("ies") and len(name) > 3:
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "ches", "shes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith(("ss", "us", "is")) and len(name) > 1:
        return name[:-1]
    return name + "Item"


def _attribute(name: str, taken: set[str] | frozenset[str]) -> str:
    """The Python attribute of a field: its name, or one near it (then aliased)."""
    def fits(text: str) -> bool:
        return (text.isidentifier() and not keyword.iskeyword(text) and text[:1] != "_"
                and not text.startswith("model_") and text not in _TAKEN_ATTRS
                and text not in taken)

    if fits(name):
        return name
    text = re.sub(r"\W", "_", name).strip("_") or "field"
    if not text.isidentifier() or text.startswith("model_"):
        text = "field_" + text
    while not fits(text):  # a keyword, a name taken: ends in "_" until free
        text += "_"
    return text
