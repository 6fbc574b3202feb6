"""The review widget: one row of a column at a time, its answer as inputs to correct.

Built from stock ipywidgets (as in-notebook labellers are)::

    widget (VBox, class "structmagic-review")
    ├── header    HTML: "Review · parcel", the row's label, where it is ("row 2 of 6"), its
    │             doubt's badge, and whether it was reviewed already
    ├── count     HTML: "3 reviewed · 2 corrected · 3 left"
    ├── source    HTML: the row's source text, escaped (the grounded view, its values' spans
    │             highlighted, when grounding ran); a muted line when there is none
    ├── form      VBox: each leaf field as an input fitting its schema type (FieldForm):
    │             text (a box, or a larger one for long text), a number in a box (checked
    │             when saved), a dropdown for an enum, a checkbox for a boolean; an object's
    │             fields in a group; an array's items as rows with Remove, and Add; anything
    │             else as JSON text. A problem shows next to its field.
    ├── status    HTML: what the last action did (saved, not saved and why)
    ├── buttons   HBox: Accept · Save correction · Skip · Previous · Next
    └── keys      HBox: the Row slider (arrow keys move, once it has the focus: click it or
                  Tab to it) and a small box where Enter accepts

Every model string reaches the page as widget text (a Text's value, a Dropdown's label, a
description: plain text) or escaped into our own template (the header, the source, the
problems), never as markup. The widget does nothing by itself: what its buttons do is given
to it (:class:`ReviewView`'s callbacks), by :class:`structmagic.rows.review.Review`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..grounding.paths import path_of
from ..schema.tree import resolve_ref
from ..transport.corrections import MISSING
from . import render as R
from .grounded import grounded_html

if TYPE_CHECKING:
    import ipywidgets as w

__all__ = ["FieldForm", "ReviewView", "field_path", "source_html"]


#: a string this long (or with a line break) is edited in a larger box
LONG_TEXT = 60
_DESCRIPTION = {"description_width": "11em"}


def field_path(issue_path: str) -> str:
    """A validation issue's JSON path (``$.lines[0].qty``) as a field's path
    (``lines[0].qty``; ``$`` for the value itself)."""
    if issue_path.startswith("$."):
        return issue_path[2:]
    return issue_path[1:] if issue_path.startswith("$") and len(issue_path) > 1 else "$"


def source_html(text: str | None, value: Any = None, grounding: Mapping[str, Any] | None = None,
                source: Any = None, labels: Mapping[str, str] | None = None) -> str:
    """The row's source: the grounded view (each value's span highlighted) when grounding
    ran, else ``text`` escaped in a scrolling box, else a muted line saying there is none."""
    if grounding and source is not None:
        return grounded_html(value, grounding, source, labels)
    if text is None:
        return (f'<div style="{R.BLOCK}color:{R.FG_MUTED}">No source text for this row: give '
                "it with source= (or --source VAR) to see it here.</div>")
    return (f'<div class="structmagic-review-source" style="{R.BLOCK}color:{R.FG};'
            f'{R.edge("border", "1px solid", R.BORDER)}border-radius:4px;padding:0.3em 0.5em;'
            f'max-height:14em;overflow:auto;{R.TEXT_STYLE}">{R.esc(text)}</div>')


# --- the schema of one field ---------------------------------------------------------------------


def _resolved(root: Any, node: Any) -> tuple[Any, bool]:
    """``node`` with its ``$ref``s followed and a null union taken apart: (the schema of the
    value, whether it may be null)."""
    nullable = False
    for _ in range(32):
        if not isinstance(node, dict):
            return node, nullable
        if isinstance(node.get("$ref"), str):
            try:
                node = resolve_ref(root, node["$ref"])
            except KeyError:
                return {}, nullable
            continue
        branches = node.get("anyOf") or node.get("oneOf")
        if isinstance(branches, list):
            rest = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
            if len(rest) == 1 and len(branches) == 2:
                nullable = True
                node = rest[0]
                continue
        typ = node.get("type")
        if isinstance(typ, list) and "null" in typ:
            rest = [t for t in typ if t != "null"]
            nullable = True
            node = {**node, "type": rest[0] if len(rest) == 1 else rest}
        if isinstance(node.get("enum"), list) and None in node["enum"]:
            nullable = True
        return node, nullable
    return {}, nullable


def _kind(node: Any) -> str:
    if not isinstance(node, dict):
        return "json"
    if isinstance(node.get("enum"), list):
        return "enum"
    typ = node.get("type")
    if typ == "object" or (typ is None and isinstance(node.get("properties"), dict)):
        return "object" if isinstance(node.get("properties"), dict) else "json"
    if typ == "array" or (typ is None and "items" in node):
        return "array"
    return {"string": "string", "number": "number", "integer": "integer",
            "boolean": "boolean"}.get(typ if isinstance(typ, str) else "", "json")


class _Node:
    """One field of the form: its widgets, how it is read back, and its problem line."""

    box: Any
    problem: Any

    def read(self, parts: list[str | int], out: dict[str, str]) -> Any:
        raise NotImplementedError

    def nodes(self, parts: list[str | int]) -> list[tuple[str, _Node]]:
        """This node and those under it, each with its path now."""
        return [(path_of(parts), self)]

    def say(self, text: str) -> None:
        self.problem.value = (f'<span style="{R.BLOCK}color:{R.BAD}">{R.esc(text)}</span>'
                              if text else "")


class _Scalar(_Node):
    def __init__(self, form: FieldForm, node: Any, kind: str, nullable: bool, value: Any,
                 label: str, path: str) -> None:
        import ipywidgets as w

        self.kind, self.nullable, self.original = kind, nullable, value
        self.problem = w.HTML()
        common: dict[str, Any] = {"description": label, "style": _DESCRIPTION,
                                  "tooltip": path, "layout": w.Layout(width="32em")}
        given = value is not MISSING and value is not None
        if kind == "enum":
            options = [(R.scalar(v), v) for v in node["enum"] if v is not None]
            if nullable or not given or value not in node["enum"]:
                options.insert(0, ("(none)", None))
            if given and value not in node["enum"]:  # shown as it is; saving it is refused
                options.append((R.scalar(value), value))
            self.input: Any = w.Dropdown(options=options, value=value if given else None,
                                         **common)
        elif kind == "boolean" and not nullable:
            self.input = w.Checkbox(value=bool(value) if given else False, indent=True,
                                    **common)
        elif kind == "boolean":
            self.input = w.Dropdown(options=[("(none)", None), ("true", True),
                                             ("false", False)],
                                    value=value if isinstance(value, bool) else None, **common)
        else:
            text = ("" if not given else value if kind == "string" and isinstance(value, str)
                    else R.scalar(value))
            long = kind in ("string", "json") and (len(text) > LONG_TEXT or "\n" in text)
            placeholder = {"number": "a number", "integer": "a whole number",
                           "json": "JSON"}.get(kind, "")
            cls = w.Textarea if long else w.Text
            # each keystroke reaches the kernel before an Enter (which saves the form) does
            self.input = cls(value=text, placeholder=placeholder, continuous_update=True,
                             **common)
            if long:
                self.input.layout.height = "5em"
            if not long:  # Enter in a field saves the form
                self.input.on_msg(form.submitted)
        self.input.add_class("structmagic-review-field")
        self.box = w.HBox([self.input, self.problem], layout=w.Layout(align_items="center"))

    def read(self, parts: list[str | int], out: dict[str, str]) -> Any:
        raw = self.input.value
        if self.kind in ("enum", "boolean"):
            return raw
        text = str(raw)
        if self.kind == "string":
            if text == "" and (self.original is MISSING or self.original is None):
                return None if self.nullable else MISSING
            return text
        if not text.strip():
            return None
        if self.kind in ("number", "integer"):
            try:
                number = json.loads(text.strip())
            except ValueError:
                number = None
            if isinstance(number, bool) or not isinstance(number, (int, float)) or (
                    isinstance(number, float) and not math.isfinite(number)):
                out[path_of(parts)] = f"not a number: {text.strip()[:40]}"
                return MISSING
            if self.kind == "integer":
                if isinstance(number, float) and not number.is_integer():
                    out[path_of(parts)] = f"not a whole number: {text.strip()[:40]}"
                    return MISSING
                number = int(number)
            return number
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            out[path_of(parts)] = f"not JSON ({exc.msg})"
            return MISSING


class _Object(_Node):
    def __init__(self, form: FieldForm, node: dict[str, Any], value: Any, parts: list[Any],
                 labels: Mapping[str, str] | None) -> None:
        import ipywidgets as w

        self.required = set(node.get("required") or ())
        self.problem = w.HTML()
        self.children: dict[str, tuple[_Node, bool]] = {}
        value = value if isinstance(value, dict) else {}
        boxes = []
        for key, sub in node["properties"].items():
            child, nullable = form.make(sub, value.get(key, MISSING), [*parts, key], labels)
            self.children[key] = (child, nullable)
            boxes.append(child.box)
        rest = [k for k in value if k not in self.children]  # keys the schema does not name
        self.extra = {k: value[k] for k in rest}
        head = ([w.HTML(f'<div style="{R.BLOCK}color:{R.FG};font-weight:600">'
                        f'{R.esc(_label(parts, labels))}</div>'), self.problem] if parts
                else [self.problem])
        self.box = w.VBox([*head, *boxes], layout=w.Layout(
            margin="0 0 0 1em" if parts else "0", width="100%"))

    def nodes(self, parts: list[str | int]) -> list[tuple[str, _Node]]:
        out: list[tuple[str, _Node]] = [(path_of(parts), self)]
        for key, (child, _) in self.children.items():
            out.extend(child.nodes([*parts, key]))
        return out

    def read(self, parts: list[str | int], out: dict[str, str]) -> Any:
        value: dict[str, Any] = {}
        for key, (child, nullable) in self.children.items():
            got = child.read([*parts, key], out)
            if (got is MISSING or (got is None and not nullable)) and key in self.required:
                here = path_of([*parts, key])
                if here not in out:
                    out[here] = "required: give a value"
                continue
            if got is MISSING or (got is None and not nullable):
                continue
            value[key] = got
        value.update(self.extra)
        return value


class _Array(_Node):
    def __init__(self, form: FieldForm, node: dict[str, Any], value: Any, parts: list[Any],
                 labels: Mapping[str, str] | None) -> None:
        import ipywidgets as w

        self.form, self.labels, self.parts = form, labels, parts
        self.item_schema = node.get("items") if isinstance(node.get("items"), dict) else {}
        self.problem = w.HTML()
        self.items: list[tuple[_Node, Any]] = []
        self.list_box = w.VBox(layout=w.Layout(width="100%"))
        add = w.Button(description="Add", icon="plus", layout=w.Layout(width="auto"))
        add.add_class("structmagic-review-add")
        add.on_click(lambda _: self.add(MISSING))
        for item in value if isinstance(value, list) else []:
            self.add(item, redraw=False)
        self._redraw()
        self.box = w.VBox([w.HBox([w.HTML(f'<div style="{R.BLOCK}color:{R.FG};'
                                          f'font-weight:600">{R.esc(_label(parts, labels))}'
                                          "</div>"), add, self.problem]),
                           self.list_box],
                          layout=w.Layout(margin="0 0 0 1em" if parts else "0", width="100%"))

    def add(self, value: Any, *, redraw: bool = True) -> None:
        """A new item (empty, or ``value``) at the end."""
        import ipywidgets as w

        at = len(self.items)
        child, _ = self.form.make(self.item_schema, value, [*self.parts, at], self.labels)
        remove = w.Button(description="Remove", icon="minus", layout=w.Layout(width="auto"))
        remove.add_class("structmagic-review-remove")
        row = w.HBox([w.HTML(f'<span style="{R.BLOCK}color:{R.FG_MUTED}">{at + 1}.</span>'),
                      child.box, remove], layout=w.Layout(
                          align_items="flex-start", width="100%",
                          border=f"1px solid {_plain(R.BORDER)}", padding="2px",
                          margin="2px 0"))
        entry = (child, row)
        remove.on_click(lambda _, e=entry: self.remove(e))
        self.items.append(entry)
        if redraw:
            self._redraw()

    def remove(self, entry: tuple[_Node, Any]) -> None:
        self.items = [e for e in self.items if e is not entry]
        self._redraw()

    def _redraw(self) -> None:
        for k, (_, row) in enumerate(self.items):  # numbered as they stand now
            row.children[0].value = (f'<span style="{R.BLOCK}color:{R.FG_MUTED}">{k + 1}.'
                                     "</span>")
        self.list_box.children = tuple(row for _, row in self.items)

    def nodes(self, parts: list[str | int]) -> list[tuple[str, _Node]]:
        out: list[tuple[str, _Node]] = [(path_of(parts), self)]
        for k, (child, _) in enumerate(self.items):
            out.extend(child.nodes([*parts, k]))
        return out

    def read(self, parts: list[str | int], out: dict[str, str]) -> Any:
        values = []
        for k, (child, _) in enumerate(self.items):
            got = child.read([*parts, k], out)
            values.append(None if got is MISSING else got)
        return values


def _plain(colour: str) -> str:
    """A theme colour's light fallback (a widget's Layout takes no ``var()``)."""
    return colour.rsplit(",", 1)[-1].strip(" )") if colour.startswith("var(") else colour


def _label(parts: list[Any], labels: Mapping[str, str] | None) -> str:
    """A field's label: its key's (the last key of its path), made readable."""
    keys = [p for p in parts if isinstance(p, str)]
    if not keys:
        return "Items" if parts else "Value"
    return R.label_for(keys[-1], labels)


class FieldForm:
    """The inputs of one value under its schema (``root``: the whole JSON Schema, for its
    ``$ref``s), pre-filled with ``value``. :meth:`read` gives the value as the inputs now
    say, and the problems found reading it; :meth:`show` puts problems next to their
    fields. ``on_submit`` hears Enter in a one-line field."""

    def __init__(self, root: Any, value: Any, labels: Mapping[str, str] | None = None,
                 on_submit: Callable[[], None] | None = None) -> None:
        import ipywidgets as w

        self.root = root
        self.on_submit = on_submit
        self.top, _ = self.make(root, value, [], labels)
        self.general = w.HTML()
        self.box = w.VBox([self.general, self.top.box], layout=w.Layout(width="100%"))
        self.box.add_class("structmagic-review-form")

    def submitted(self, _: Any, content: Any, buffers: Any = None) -> None:
        if isinstance(content, dict) and content.get("event") == "submit" and self.on_submit:
            self.on_submit()

    def make(self, node: Any, value: Any, parts: list[Any],
             labels: Mapping[str, str] | None) -> tuple[_Node, bool]:
        """The node for a value of schema ``node`` at ``parts``, and whether it may be null."""
        resolved, nullable = _resolved(self.root, node)
        kind = _kind(resolved)
        if len(parts) > 20:  # deeper than a form reads well: the rest as JSON text
            kind = "json"
        if kind == "object" and (value is MISSING or value is None or isinstance(value, dict)):
            return _Object(self, resolved, value, parts, labels), nullable
        if kind == "array" and (value is MISSING or value is None or isinstance(value, list)):
            return _Array(self, resolved, value, parts, labels), nullable
        if kind in ("object", "array"):
            kind = "json"
        return _Scalar(self, resolved, kind, nullable, value,
                       _label(parts, labels) if parts else "Value", path_of(parts)), nullable

    def read(self) -> tuple[Any, dict[str, str]]:
        """The value the inputs hold, and the problems reading them (path → message)."""
        problems: dict[str, str] = {}
        value = self.top.read([], problems)
        return (None if value is MISSING else value), problems

    def show(self, problems: Mapping[str, str]) -> None:
        """Each problem next to its field (a path no field has: at the top of the form);
        the others cleared."""
        nodes = dict(self.top.nodes([]))
        left = []
        for path, node in nodes.items():
            node.say(problems.get(path, ""))
        for path, text in problems.items():
            if path not in nodes:
                left.append(f"{path}: {text}")
        self.general.value = (f'<div style="{R.BLOCK}color:{R.BAD}">'
                              f'{"<br>".join(R.esc(t) for t in left)}</div>' if left else "")

    def close(self) -> None:
        """Close every widget of the form (their comms with the page end)."""
        stack = [self.box]
        while stack:
            widget = stack.pop()
            stack.extend(getattr(widget, "children", ()) or ())
            widget.close()


class ReviewView:
    """The widget of a review (see the module's text). ``actions`` maps ``accept``,
    ``save``, ``skip``, ``previous``, ``next`` to what they do, and ``go`` (a row's number,
    from 1) to moving there."""

    def __init__(self, title: str, total: int, actions: Mapping[str, Callable[..., None]]
                 ) -> None:
        import ipywidgets as w

        self.actions = actions
        self.header = w.HTML(layout=w.Layout(width="100%"))
        self.count = w.HTML(layout=w.Layout(width="100%"))
        self.count.add_class("structmagic-review-count")
        self.source = w.HTML(layout=w.Layout(width="100%"))
        self.form_box = w.VBox(layout=w.Layout(width="100%"))
        self.status = w.HTML(layout=w.Layout(width="100%"))
        self.status.add_class("structmagic-review-status")
        names = (("Accept", "accept", "success", "check"),
                 ("Save correction", "save", "primary", "save"),
                 ("Skip", "skip", "", "forward"),
                 ("Previous", "previous", "", "arrow-left"),
                 ("Next", "next", "", "arrow-right"))
        self.buttons: dict[str, w.Button] = {}
        for text, action, style, icon in names:
            button = w.Button(description=text, button_style=style, icon=icon,
                              layout=w.Layout(width="auto"))
            button.on_click(lambda _, a=action: self.actions[a]())
            self.buttons[action] = button
        self.slider = w.IntSlider(value=1, min=1, max=max(total, 1), description="Row",
                                  continuous_update=False, disabled=total < 2,
                                  layout=w.Layout(width="24em"))
        self.slider.add_class("structmagic-review-row")
        self._moving = False
        self.slider.observe(self._slid, names="value")
        self.keys = w.Text(placeholder="Enter: accept", layout=w.Layout(width="9em"),
                           continuous_update=False)
        self.keys.add_class("structmagic-review-keys")
        self.keys.on_msg(self._key)
        hint = w.HTML(f'<span style="{R.BLOCK}color:{R.FG_MUTED}">← → on the Row slider '
                      "move (click it first) · Enter in the box accepts</span>")
        self.widget = w.VBox(
            [self.header, self.count, self.source, self.form_box, self.status,
             w.HBox(list(self.buttons.values()), layout=w.Layout(flex_flow="row wrap")),
             w.HBox([self.slider, self.keys, hint], layout=w.Layout(
                 align_items="center", flex_flow="row wrap"))],
            layout=w.Layout(width="100%", padding="4px"))
        self.widget.add_class("structmagic-review")
        self.form: FieldForm | None = None
        self.title = title

    def _slid(self, change: Any) -> None:
        if not self._moving:
            self.actions["go"](int(change["new"]))

    def _key(self, _: Any, content: Any, buffers: Any = None) -> None:
        if isinstance(content, dict) and content.get("event") == "submit":
            self.keys.value = ""
            self.actions["accept"]()

    def show_row(self, *, header: str, source: str, form: FieldForm | None, position: int,
                 can_save: bool) -> None:
        """Show a row: its header and source (HTML of ours), its form, where it is."""
        old = self.form
        self.header.value = header
        self.source.value = source
        self.form = form
        self.form_box.children = (form.box,) if form is not None else ()
        if old is not None:
            old.close()
        self._moving = True
        try:
            self.slider.value = position
        finally:
            self._moving = False
        for action in ("accept", "save"):
            self.buttons[action].disabled = not can_save

    def say(self, text: str, colour: str = R.FG_MUTED) -> None:
        """One line of status (our own words, escaped)."""
        self.status.value = (f'<div style="{R.BLOCK}color:{colour}">{R.esc(text)}</div>'
                             if text else "")

    def set_count(self, text: str) -> None:
        self.count.value = (f'<div style="{R.BLOCK}color:{R.FG};font-weight:600">'
                            f"{R.esc(text)}</div>")
