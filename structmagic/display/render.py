"""Rendering values, steps, results and errors as plain text and as safe HTML. Pure, stdlib only.

Every string that came from a model, a schema or an error message (values, keys, titles,
model names, messages) goes through ``html.escape(..., quote=True)`` into fixed templates of
our own: no tag, attribute, link or image that a model wrote can become live, and no remote
resource is ever loaded. The templates use only ``div span b ol li dl dt dd pre code details
summary`` with ``style``/``class`` attributes. Markdown is not rendered: text is shown as
text, keeping its line breaks (``white-space: pre-wrap``), and long words wrap
(``overflow-wrap: anywhere``); long raw JSON scrolls (``max-height`` + ``overflow: auto``).
Colours are JupyterLab CSS variables with fallbacks, so light and dark themes both read well,
and the HTML needs no script (nbconvert HTML, GitHub). Each block sets its own line height
(an ipywidgets ``HTML`` value otherwise inherits a 28 px one, which double-spaces wrapped
lines) and a font list that falls back to the common CJK fonts.

Field names are shown by label: the schema's ``title`` when it has one, else the key made
readable (``final_answer`` → "Final answer"), unless a ``labels`` map (``--label``) says
otherwise; see :func:`field_labels`. The plain text keeps the keys as they are.

Long answers keep their shape: past :data:`COLLAPSE_AFTER` steps, all but the last
:data:`KEEP_RECENT` fold into one collapsed "… N earlier steps" section.

A result with grounding (``result.grounding``) shows, below its answer, where each value
came from (:mod:`.grounded`): the one view with links, each to a ``#`` fragment of its own,
and a constant ``<style>``; its ``text/plain`` gets one summary line.

A result with confidence or agreement (``result.confidence``, ``result.agreement``) shows a
small bar beside each value, its lowest values named under the title and its doubt beside
it (:mod:`.confidence`); its ``text/plain`` is the same as without.

The colours, fonts, escaping and labels every view shares are in :mod:`.markup`; they are
re-exported here (``render.FG``, ``render.esc``, ``render.label_for``).

``text/plain`` output is deterministic (no timings, no ids): nbval compares it.

    >>> print(result_text(result))
    math_reasoning — 2 steps (model gpt-4o)
      1. explanation: Align the decimals: 9.80 and 9.11.
         output: 9.80 vs 9.11
      2. explanation: Compare the tenths: 8 > 1.
         output: 9.8 > 9.11
    final_answer: 9.8 is larger
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ..errors import ConfigError
from ..inputs.thumbs import thumbnails_html
from ..providers import DEFAULT_PROVIDER, get_provider
from ..transport.status import MAX_ANSWER_DEPTH
from .confidence import Gauges, doubt_badge, gauges_of, notes_html, table_html
from .grounded import grounded_html, grounding_text
from .markup import (
    ACCENT,
    BAD,
    BG_CARD,
    BG_SOFT,
    BLOCK,
    BORDER,
    DEEPER,
    DIFFER_STYLE,
    FG,
    FG_MUTED,
    LINE_HEIGHT,
    MONO,
    NO_MATH,
    OK,
    TEXT_STYLE,
    WARN,
    badge,
    edge,
    esc,
    humanize,
    is_plain_key,
    label_for,
    plural,
    scalar,
)

__all__ = [
    "DEEPER",
    "TRUNCATED_NOTE",
    "answer_fields",
    "answer_text",
    "badge",
    "comparison_html",
    "comparison_table_html",
    "comparison_text",
    "count_steps",
    "error_html",
    "error_text",
    "field_labels",
    "find_steps",
    "humanize",
    "is_flat_table",
    "is_reasoning",
    "label_for",
    "list_html",
    "other_fields",
    "result_html",
    "result_text",
    "rows_html",
    "schema_titles",
    "singular",
    "step_html",
    "step_text",
    "steps_html",
    "stopped_html",
    "truncated_html",
    "value_html",
    "value_text",
    "waiting_html",
    "wire_title",
]

#: top-level keys tried first, in this order, when looking for the reasoning steps
PREFERRED_STEPS = ("steps", "reasoning_steps", "reasoning", "chain_of_thought", "thoughts")

#: more steps than this: the earlier ones fold into one collapsed section...
COLLAPSE_AFTER = 8
#: ...and this many of the last ones stay in view
KEEP_RECENT = 4
#: the collapsed section, once opened, scrolls beyond this height
EARLIER_MAX_HEIGHT = "60vh"
#: the line shown with a result whose answer reached the token limit (``result.truncated``)
TRUNCATED_NOTE = ("the answer reached the token limit (max_tokens) just after its end: "
                  "check it is whole")


# --- where the steps are ----------------------------------------------------------------------


def _is_steps(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(s, dict) for s in v)


def find_steps(value: Any, *, field: str | None = None) -> tuple[str | None, list[Any] | None]:
    """Where the reasoning steps are in ``value``: ``(field, steps)``.

    With ``field`` given (``--steps``): ``(field, value[field])``, an empty list while the
    field has not arrived; ``""`` names the root itself when the value is a list. Otherwise
    detected: a root list of objects is ``("", value)``; else the first top-level key (the
    names in :data:`PREFERRED_STEPS` first, in that order, then the others in order) whose
    value is a non-empty list of objects. ``(None, None)`` when there are none: show the
    value as a tree.
    """
    if field is not None:
        if field == "" and isinstance(value, list):
            return "", value
        steps = value.get(field) if isinstance(value, dict) else None
        return field, steps if isinstance(steps, list) else []
    if isinstance(value, list):
        return ("", value) if _is_steps(value) else (None, None)
    if not isinstance(value, dict):
        return None, None
    for key in PREFERRED_STEPS:
        if _is_steps(value.get(key)):
            return key, value[key]
    for key, v in value.items():
        if key not in PREFERRED_STEPS and _is_steps(v):
            return key, v
    return None, None


def is_reasoning(field: str | None, *, explicit: bool = False) -> bool:
    """Whether the list found by :func:`find_steps` holds reasoning steps (shown as "Step 1",
    "Step 2" …): the field named by ``--steps`` (``explicit``), or one named like reasoning
    steps (:data:`PREFERRED_STEPS`). Any other list of objects (a receipt's lines, an
    invoice's items, a root list) shows as numbered rows, or as a table
    (:func:`rows_html`)."""
    return explicit or field in PREFERRED_STEPS


def count_steps(field: str | None, steps: list[Any], *, explicit: bool = False) -> str:
    """``"4 steps"`` for the steps field named by ``--steps`` (``explicit``), one named like
    reasoning steps, or a root list; else the field's own name: ``"3 items"``."""
    if explicit or not field or field in PREFERRED_STEPS:
        return plural(len(steps), "step")
    name = humanize(field).lower()
    return f"{len(steps)} {singular(name) if len(steps) == 1 else name}"


def singular(name: str) -> str:
    """A plural field name for one item: ``lines`` → ``line``, ``entries`` → ``entry``,
    ``addresses`` → ``address``; a name that does not end like an English plural is kept."""
    if name.endswith("ies") and len(name) > 4:
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "ches", "shes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith(("ss", "us", "is")):
        return name[:-1]
    return name


def other_fields(value: Any, steps_field: str | None) -> dict[str, Any]:
    """The top-level fields besides the steps (e.g. ``final_answer``), in order."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k != steps_field}


# --- labels ----------------------------------------------------------------------------------

def _resolve(node: Any, defs: Mapping[str, Any]) -> Any:
    """``node`` with local ``$ref``s followed, and a nullable ``anyOf``/``oneOf`` unwrapped."""
    for _ in range(16):  # a ref chain or a recursive schema: give up quietly
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
            node = defs.get(ref.rsplit("/", 1)[-1])
            continue
        options = node.get("anyOf") or node.get("oneOf")
        if isinstance(options, list) and "properties" not in node and "items" not in node:
            real = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            if len(real) == 1:
                node = real[0]
                continue
        return node
    return None


def _properties(node: Any) -> dict[str, Any]:
    props = node.get("properties") if isinstance(node, dict) else None
    return props if isinstance(props, dict) else {}


def schema_titles(schema: Any) -> dict[str, str]:
    """Field name → ``title`` from a JSON Schema, for the fields the display labels.

    Those are the root's properties, and the properties of the objects its arrays hold
    (the steps), local ``$ref``s followed. A root title wins over a step field's.
    """
    if not isinstance(schema, dict):
        return {}
    defs: dict[str, Any] = {}
    for name in ("definitions", "$defs"):
        if isinstance(schema.get(name), dict):
            defs.update(schema[name])
    root = _resolve(schema, defs)
    objects = [root]
    if isinstance(root, dict) and "items" in root:  # a root list of steps
        objects.append(_resolve(root["items"], defs))
    for prop in _properties(root).values():
        resolved = _resolve(prop, defs)
        if isinstance(resolved, dict) and "items" in resolved:
            objects.append(_resolve(resolved["items"], defs))
    titles: dict[str, str] = {}
    for obj in objects:
        for key, prop in _properties(obj).items():
            title = prop.get("title") if isinstance(prop, dict) else None
            if isinstance(title, str) and title.strip():
                titles.setdefault(key, title.strip())
    return titles


def field_labels(schema: Any = None, labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """The labels to show: the schema's titles, overridden by ``labels`` (``--label``);
    a :class:`~structmagic.ConfigError` when ``labels`` is not a mapping."""
    if labels is not None and not isinstance(labels, Mapping):

        raise ConfigError(f"labels must map field names to the text shown, such as "
                          f"{{'final_answer': 'Answer'}}; not a {type(labels).__name__}.")
    merged = schema_titles(schema)
    merged.update({str(k): str(v) for k, v in (labels or {}).items()})
    return merged


def _label_html(key: Any, labels: Mapping[str, str] | None, style: str) -> str:
    """A field's label in bold; a label other than its (plain) key has the key as tooltip."""
    text = label_for(key, labels)
    tip = f' title="{esc(key)}"' if text != key and is_plain_key(key) else ""
    css = f' style="{style}"' if style else ""
    return f"<b{css}{tip}>{esc(text)}</b>"


# --- plain text -------------------------------------------------------------------------------


def _inline(v: Any, cont: str = "") -> str:
    """One value on one line (containers as JSON); a string's later lines indented by cont."""
    text = v if isinstance(v, str) else scalar(v)
    return text.replace("\n", "\n" + cont) if cont and "\n" in text else text


def value_text(value: Any, indent: int = 0) -> str:
    """A readable, deterministic plain-text tree: keys in order, strings as they are (levels
    deeper than :data:`MAX_ANSWER_DEPTH` shown as :data:`DEEPER`)."""
    pad = "  " * indent
    if indent > MAX_ANSWER_DEPTH:
        return pad + DEEPER
    if isinstance(value, dict):
        if not value:
            return pad + "{}"
        lines = []
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(value_text(v, indent + 1))
            else:
                lines.append(f"{pad}{k}: {_inline(v, pad + '  ')}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return pad + "[]"
        lines = []
        for v in value:
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}- {value_text(v, indent + 1).lstrip()}")
            else:
                lines.append(f"{pad}- {_inline(v, pad + '  ')}")
        return "\n".join(lines)
    return pad + _inline(value, pad)


def step_text(i: int, step: Any) -> str:
    """Step ``i`` as numbered lines, one per field: ``  3. explanation: ...``."""
    head = f"  {i}. "
    cont = " " * len(head)
    if not isinstance(step, dict):
        return head + _inline(step, cont)
    if not step:
        return head.rstrip()
    lines = []
    for n, (k, v) in enumerate(step.items()):
        prefix = head if n == 0 else cont
        lines.append(f"{prefix}{k}: {_inline(v, cont + ' ' * (len(str(k)) + 2))}")
    return "\n".join(lines)


def result_text(result: Any) -> str:
    """Deterministic text/plain of a result: numbered steps, then the other fields; with
    grounding (``result.grounding``), its one-line summary last
    (:func:`structmagic.display.grounded.grounding_text`); an answer that reached the token
    limit (``result.truncated``) says so under the first line (:data:`TRUNCATED_NOTE`).

    No elapsed time, token counts or ids, so that a re-run notebook compares equal.
    """
    value = result.plain
    field, steps = find_steps(value, field=getattr(result, "steps_field", None))
    model = getattr(result, "model", None)
    about = f" (model {model})" if model else ""
    grounded = grounding_text(getattr(result, "grounding", None))
    tail = f"\n{grounded}" if grounded else ""
    note = f"\nnote: {TRUNCATED_NOTE}" if getattr(result, "truncated", False) else ""
    if steps is None:
        return f"{result.schema_name}{about}{note}\n{value_text(value, 1)}{tail}"
    explicit = getattr(result, "steps_field", None) is not None
    lines = [f"{result.schema_name} — {count_steps(field, steps, explicit=explicit)}{about}"
             f"{note}"]
    lines += [step_text(i, s) for i, s in enumerate(steps, 1)]
    rest = other_fields(value, field)
    if rest:
        lines.append(value_text(rest))
    return "\n".join(lines) + tail


def error_text(error: BaseException) -> str:
    """``ErrorType: message`` (the message is one clear paragraph for structmagic's errors)."""
    return f"{type(error).__name__}: {error}"


# --- HTML -------------------------------------------------------------------------------------


def value_html(value: Any, labels: Mapping[str, str] | None = None,
               highlight: Collection[str] = (), *, depth: int = 0,
               gauges: Gauges | None = None, at: tuple[str | int, ...] = ()) -> str:
    """A readable tree as HTML (nested ``<dl>``/``<ol>`` of our own), every key/string escaped.

    With ``labels`` (even empty), the top level's keys show as labels (:func:`label_for`);
    deeper keys, which may be data rather than field names, are shown as they are. Top-level
    keys in ``highlight`` are marked (answers that differ between models). Levels deeper
    than :data:`MAX_ANSWER_DEPTH` (a partial answer that is being refused) show as
    :data:`DEEPER`. With ``gauges``, each leaf value has its bars beside it
    (:meth:`structmagic.display.confidence.Gauges.beside`; ``at``: the keys and indexes
    leading from the answer's root to ``value``).
    """
    if depth > MAX_ANSWER_DEPTH:
        return f"<code>{DEEPER}</code>"
    if isinstance(value, dict):
        if not value:
            return "<code>{}</code>"
        items = "".join(_marked(
            k, highlight,
            f'<dt style="font-weight:600;color:{FG_MUTED if k not in highlight else "inherit"}">'
            f"{esc(k) if labels is None else _label_html(k, labels, 'font-weight:600')}</dt>"
            f'<dd style="margin:0 0 0.3em 1.2em">'
            f"{value_html(v, depth=depth + 1, gauges=gauges, at=(*at, k))}</dd>")
            for k, v in value.items()
        )
        return f'<dl style="margin:0">{items}</dl>'
    if isinstance(value, list):
        if not value:
            return "<code>[]</code>"
        items = "".join(f"<li>{value_html(v, depth=depth + 1, gauges=gauges, at=(*at, i))}</li>"
                        for i, v in enumerate(value))
        return f'<ol style="margin:0;padding-left:1.6em">{items}</ol>'
    bars = gauges.beside(at) if gauges else ""
    if isinstance(value, str):
        return f'<span style="{TEXT_STYLE}">{esc(value)}</span>{bars}'
    return f"<code>{esc(value)}</code>{bars}"


def _field_html(v: Any, gauges: Gauges | None = None, at: tuple[str | int, ...] = ()) -> str:
    """A field's value: a string as pre-wrapped text, a container as a tree (with
    ``gauges``, each leaf's bars beside it; ``at``: the value's place in the answer)."""
    if isinstance(v, (dict, list)) and v:
        return f'<div style="margin-left:1.2em">{value_html(v, gauges=gauges, at=at)}</div>'
    bars = gauges.beside(at) if gauges and not isinstance(v, (dict, list)) else ""
    return f'<span style="{TEXT_STYLE}">{esc(v)}</span>{bars}'


def step_html(i: int, step: Any, *, partial: bool = False,
              labels: Mapping[str, str] | None = None, numbered: bool = True,
              row: bool = False, gauges: Gauges | None = None,
              at: tuple[str | int, ...] = ()) -> str:
    """Step ``i`` as a numbered card: each field's label in bold, its value as text.

    ``partial`` marks the step still arriving (a muted edge instead of the accent colour);
    without ``numbered`` the card has no "Step i" title (a handout's summary carries it);
    ``row``: an item of a list that is not reasoning steps, titled ``i.`` rather than
    "Step i" (see :func:`is_reasoning`). ``gauges``: each value's bars beside it, the
    step being at ``at`` in the answer (``("steps", 2)``).
    """
    if isinstance(step, dict):
        fields = "".join(
            f'<div style="margin:0.15em 0">{_label_html(k, labels, f"color:{FG_MUTED}")} '
            f"{_field_html(v, gauges, (*at, k))}</div>"
            for k, v in step.items()
        )
    else:
        fields = f"<div>{_field_html(step, gauges, at)}</div>"
    mark = BORDER if partial else ACCENT
    return (
        f'<div style="{BLOCK}{edge("border-left", "3px solid", mark)}background:{BG_CARD};'
        f'color:{FG};'
        f'padding:0.35em 0.7em;margin:0.3em 0;border-radius:3px">'
        + (f'<div style="font-weight:600;color:{ACCENT}">'
           f'{f"{int(i)}." if row else f"Step {int(i)}"}</div>' if numbered else "")
        + f"{fields}</div>"
    )


def earlier_html(count: int, cards: str, what: str = "earlier step") -> str:
    """Steps folded into one collapsed section: "… 36 earlier steps" (opens on click)."""
    return (
        f'<details class="structmagic-earlier" style="{BLOCK}margin:0.3em 0">'
        f'<summary style="cursor:pointer;color:{FG_MUTED}">… {plural(int(count), what)}'
        f'</summary><div style="max-height:{EARLIER_MAX_HEIGHT};overflow:auto">{cards}</div>'
        f"</details>"
    )


def is_flat_table(items: list[Any]) -> bool:
    """Whether every item is an object with the same fields, each a plain value (no object,
    no list): such a list shows as one compact table."""
    if not items or not all(isinstance(item, dict) and item for item in items):
        return False
    keys = list(items[0])
    return all(list(item) == keys and not any(isinstance(v, (dict, list)) for v in item.values())
               for item in items)


def rows_html(items: list[Any], labels: Mapping[str, str] | None = None,
              gauges: Gauges | None = None, at: tuple[str | int, ...] = ()) -> str:
    """A list of objects that is not reasoning steps: one compact table when every item has
    the same flat fields (a numbered column, a column per field, labelled), else numbered
    cards (``1.``, ``2.`` …), folded past :data:`COLLAPSE_AFTER` as steps are (``gauges``:
    each value's bars beside it, the list being at ``at`` in the answer)."""
    if not is_flat_table(items):
        return steps_html(items, labels, rows=True, gauges=gauges, at=at)
    cell = f"padding:0.15em 0.6em;{edge('border-bottom', '1px solid', BORDER)}vertical-align:top;"
    head = "".join(f'<th scope="col" style="{cell}text-align:left;color:{FG_MUTED}">'
                   f"{_label_html(k, labels, '')}</th>" for k in items[0])
    body = "".join(
        f'<tr><td style="{cell}color:{FG_MUTED};text-align:right">{n}</td>'
        + "".join(f'<td style="{cell}{TEXT_STYLE}{_align(v)}">{esc(v)}'
                  f'{gauges.beside((*at, n - 1, k)) if gauges else ""}</td>'
                  for k, v in item.items()) + "</tr>"
        for n, item in enumerate(items, 1))
    return (f'<div class="structmagic-rows" style="{BLOCK}overflow-x:auto;margin:0.3em 0">'
            f'<table style="border-collapse:collapse;color:{FG}"><thead><tr>'
            f'<th scope="col" style="{cell}color:{FG_MUTED}">#</th>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _align(value: Any) -> str:
    """Numbers to the right, as tables of figures are read; text to the left (JupyterLab's
    tables would put it to the right)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return "text-align:right;" if number else "text-align:left;"


def list_html(field: str | None, items: list[Any], labels: Mapping[str, str] | None = None,
              *, explicit: bool = False, gauges: Gauges | None = None,
              root: bool = False) -> str:
    """The list :func:`find_steps` found: reasoning steps as step cards
    (:func:`steps_html`), any other list as rows (:func:`rows_html`); ``gauges``: each
    value's bars beside it; ``root``: the list is the answer itself (not its field ``field``,
    which may be called ``""`` too)."""
    at: tuple[str | int, ...] = () if root or field is None else (field,)
    if is_reasoning(field, explicit=explicit):
        return steps_html(items, labels, gauges=gauges, at=at)
    return rows_html(items, labels, gauges, at)


def steps_html(steps: list[Any], labels: Mapping[str, str] | None = None, *,
               rows: bool = False, gauges: Gauges | None = None,
               at: tuple[str | int, ...] = ()) -> str:
    """Every step's card; past :data:`COLLAPSE_AFTER`, all but the last few folded (``rows``:
    numbered rows rather than steps, see :func:`step_html`; ``gauges``: each value's bars
    beside it, the list being at ``at`` in the answer)."""
    cards = [step_html(i, s, labels=labels, row=rows, gauges=gauges, at=(*at, i - 1))
             for i, s in enumerate(steps, 1)]
    if len(cards) <= COLLAPSE_AFTER:
        return "".join(cards)
    split = len(cards) - KEEP_RECENT
    return (earlier_html(split, "".join(cards[:split]), "earlier row" if rows else "earlier step")
            + "".join(cards[split:]))


def _marked(key: Any, highlight: Collection[str], markup: str) -> str:
    """A field's label and value (``markup``), in one marked block when its answers differ
    between models (``key`` in ``highlight``: class ``structmagic-differ``, a readable pair
    of colours in both themes, :data:`DIFFER_STYLE`); as they are otherwise."""
    if key not in highlight:
        return markup
    return f'<div class="structmagic-differ" style="{DIFFER_STYLE}">{markup}</div>'


def final_html(fields: dict[str, Any], labels: Mapping[str, str] | None = None,
               highlight: Collection[str] = (), gauges: Gauges | None = None) -> str:
    """The other top-level fields (the final answer), highlighted; ``""`` when none.

    Fields in ``highlight`` (answers that differ between models) are marked; with
    ``gauges``, each value has its bars beside it."""
    if not fields:
        return ""
    rows = "".join(
        _marked(k, highlight,
                f"<div>{_label_html(k, labels, '')}: {_field_html(v, gauges, (k,))}</div>")
        for k, v in fields.items()
    )
    return (
        f'<div class="structmagic-answer" style="{BLOCK}{edge("border", "2px solid", OK)}'
        f'border-radius:4px;padding:0.4em 0.7em;margin:0.4em 0;color:{FG};background:{BG_SOFT}">'
        f"{rows}</div>"
    )


def waiting_html(text: str = "waiting for the answer…") -> str:
    """A muted one-line state ("waiting for the answer…", "receiving step 3…")."""
    return f'<div style="{BLOCK}color:{FG_MUTED}">{esc(text)}</div>'


def pre_html(text: str, *, mono: bool = False) -> str:
    """Escaped text in a ``<pre>`` that wraps long lines and scrolls when very long."""
    font = f"font-family:{MONO};" if mono else ""
    return (
        f'<pre style="{TEXT_STYLE}line-height:{LINE_HEIGHT};{font}max-height:24em;overflow:auto;'
        f'background:{BG_SOFT};color:{FG};padding:0.5em;margin:0.2em 0">{esc(text)}</pre>'
    )


def details_html(summary: str, body: str, *, mono: bool = False) -> str:
    """A collapsed ``<details>`` section holding ``body`` as escaped text."""
    return (
        f'<details style="margin:0.3em 0"><summary style="cursor:pointer;color:{FG_MUTED}">'
        f"{esc(summary)}</summary>{pre_html(body, mono=mono)}</details>"
    )


def usage_text(usage: Any) -> str:
    """``"123 tokens (100 prompt + 23 completion)"``, or ``""`` when nothing is known."""
    if not isinstance(usage, dict) or not usage:
        return ""
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    total = usage.get("total_tokens")
    if total is None and isinstance(prompt, int) and isinstance(completion, int):
        total = prompt + completion
    if total is None:
        return ""
    text = f"{scalar(total)} tokens"
    if prompt is not None and completion is not None:
        text += f" ({scalar(prompt)} prompt + {scalar(completion)} completion)"
    return text


def truncated_html(result: Any) -> str:
    """The :data:`TRUNCATED_NOTE` line of a result that reached the token limit
    (``result.truncated``); ``""`` for the others."""
    if not getattr(result, "truncated", False):
        return ""
    return (f'<div class="structmagic-truncated" style="{BLOCK}color:{WARN}">'
            f"{esc(TRUNCATED_NOTE)}</div>")


def answer_text(result: Any) -> str:
    """The whole answer text of a result when it holds more than the JSON (prose, a
    Markdown fence: ``result.text`` is not ``result.raw``), shown in its own "Answer text"
    section; ``""`` when the answer was the JSON alone."""
    text = getattr(result, "text", "")
    return text if isinstance(text, str) and text and text != getattr(result, "raw", "") else ""


def wire_title(provider: Any) -> str:
    """``"Claude Messages format"`` for a result that came in a wire format other than the
    default (Chat Completions); ``""`` for the default or an unknown name."""
    if not isinstance(provider, str) or provider == DEFAULT_PROVIDER:
        return ""
    try:
        title = getattr(get_provider(provider), "title", "") or provider
    except ConfigError:
        return ""
    return f"{title} format"


def result_html(result: Any) -> str:
    """Self-contained HTML of a result: no script, no remote resource, deterministic; with
    grounding (``result.grounding``), the values beside their source below the answer
    (:func:`structmagic.display.grounded.grounded_html`: deterministic but for its ids'
    per-process counter). The call's images and documents show as thumbnails under the
    title, inside the result's box (a click on one opens the picture at full width). The raw
    JSON and, when the server wrote more around it, the whole answer text are collapsed
    sections; an answer that reached the token limit says so
    under the title (:func:`truncated_html`). With confidence or agreement
    (:mod:`structmagic.display.confidence`), each value has its bars beside it, the lowest
    are named under the title, beside which the doubt's badge shows, and a collapsed table
    of the values, lowest first, follows the answer (and its grounding); confidence asked
    for but not given
    says why in one muted line."""
    value = result.plain
    labels = getattr(result, "labels", None) or {}
    field, steps = find_steps(value, field=getattr(result, "steps_field", None))
    about = f" · {esc(result.model)}" if getattr(result, "model", None) else ""
    wire = wire_title(getattr(result, "provider", None))
    about += f" · {esc(wire)}" if wire else ""
    badge = doubt_badge(result)
    head = (
        f'<div style="font-weight:600;color:{FG}">{esc(result.schema_name)}'
        f'<span style="font-weight:400;color:{FG_MUTED}">{about}</span>'
        f'{" " + badge if badge else ""}</div>'
    ) + notes_html(result) + truncated_html(result) + thumbnails_html(
        tuple(getattr(result, "inputs", None) or ()))
    gauges = gauges_of(result)
    if steps is None:
        body = value_html(value, labels, gauges=gauges)
    else:
        explicit = getattr(result, "steps_field", None) is not None
        body = (list_html(field, steps, labels, explicit=explicit, gauges=gauges,
                          root=isinstance(value, list))
                + final_html(other_fields(value, field), labels, gauges=gauges))
    grounding = getattr(result, "grounding", None)
    if grounding is not None:  # where each value came from, below the answer
        body += grounded_html(value, grounding, getattr(result, "source", None), labels)
    body += table_html(result)  # the values, lowest first (with confidence or agreement)
    extra = ""
    if getattr(result, "reasoning", None):
        extra += details_html("Model reasoning", result.reasoning)
    if getattr(result, "raw", ""):
        extra += details_html("Raw JSON", result.raw, mono=True)
    if answer_text(result):
        extra += details_html("Answer text", result.text)
    return (
        f'<div class="structmagic-result {NO_MATH}" style="{BLOCK}color:{FG};'
        f'{edge("border", "1px solid", BORDER)}'
        f'border-radius:4px;padding:0.5em 0.8em;max-width:100%">{head}{body}{extra}</div>'
    )


def error_html(error: BaseException, *, details: bool = True) -> str:
    """The error's type and message, kept visible; escaped.

    With ``details``, collapsed sections show what arrived before the error: the partial
    value (``StreamError.partial``) and the raw answer text (``.raw``) when the error has them.
    """
    extra = ""
    if details:
        partial = getattr(error, "partial", None)
        if partial is not None:
            extra += details_html("Received before the error", value_text(partial))
        raw = getattr(error, "raw", None)
        if isinstance(raw, str) and raw:
            extra += details_html("Raw answer", raw, mono=True)
    return (
        f'<div class="structmagic-error {NO_MATH}" style="{BLOCK}'
        f'{edge("border-left", "3px solid", BAD)}'
        f'padding:0.4em 0.7em;color:{FG}"><b style="color:{BAD}">{esc(type(error).__name__)}</b> '
        f'<span style="{TEXT_STYLE}">{esc(str(error))}</span>{extra}</div>'
    )


def stopped_html(stop: BaseException) -> str:
    """The user's own stop (an interrupt): one muted line with its message, escaped; not
    an error's red."""
    return (f'<div class="structmagic-stopped {NO_MATH}" style="{BLOCK}'
            f'{edge("border-left", "3px solid", BORDER)}'
            f'padding:0.2em 0.7em;color:{FG_MUTED}"><span style="{TEXT_STYLE}">'
            f"{esc(str(stop) or 'interrupted')}</span></div>")


# --- comparisons ------------------------------------------------------------------------------


def comparison_text(comparison: Any) -> str:
    """Deterministic text/plain of a comparison: each model's answer (or error), then the
    fields on which they differ. No timings or token counts."""
    results = comparison.results
    lines = [f"{comparison.schema_name} — {plural(len(results), 'model')}"]
    for label, result in results.items():
        lines.append(f"== {label} ==")
        lines.append(error_text(result.error) if result.error is not None
                     else result_text(result))
    differ = comparison.disagreements()
    lines.append(f"Answers differ on: {', '.join(differ)}" if differ
                 else "The answers agree." if sum(r.error is None for r in results.values()) > 1
                 else "")
    return "\n".join(line for line in lines if line)


def answer_fields(result: Any) -> dict[str, Any]:
    """A result's final answer: its top-level fields besides the steps (the whole value,
    under ``""``, when it is not an object)."""
    value = result.plain
    field, steps = find_steps(value, field=getattr(result, "steps_field", None))
    if steps is None:
        return dict(value) if isinstance(value, dict) else {"": value}
    return other_fields(value, field)


def comparison_table_html(results: Mapping[str, Any], labels: Mapping[str, str] | None = None,
                          differ: Collection[str] = ()) -> str:
    """The models' final answers in one grid: a row per field, a column per model, so that
    each field sits at the same height for every model; a field whose answers differ is
    marked as one row (class ``structmagic-differ``, :data:`DIFFER_STYLE`'s colours); a
    model that failed shows ``—`` (its error is in its column). ``""`` when no model
    answered."""
    answers = {label: answer_fields(r) for label, r in results.items() if r.error is None}
    if not answers:
        return ""
    keys: list[str] = []
    for fields in answers.values():
        keys += [k for k in fields if k not in keys]
    cell = "padding:0.25em 0.5em;vertical-align:top;text-align:left;"
    head = "".join(f'<th scope="col" style="{cell}color:{FG}">{esc(label)}</th>'
                   for label in results)
    body = []
    for key in keys:
        marked = key in differ
        style = cell + (DIFFER_STYLE if marked else edge("border-top", "1px solid", BORDER))
        cells = "".join(
            f'<td style="{style}">'
            + (_field_html(answers[label][key]) if key in answers.get(label, {}) else
               f'<span style="color:{FG_MUTED if not marked else "inherit"}">—</span>')
            + "</td>" for label in results)
        name = _label_html(key, labels, "") if key else ""
        row_class = ' class="structmagic-differ"' if marked else ""
        body.append(f'<tr{row_class}><th scope="row" style="{style}font-weight:600">{name}</th>'
                    f"{cells}</tr>")
    return (f'<div class="structmagic-answers" style="{BLOCK}overflow-x:auto;margin:0.4em 0">'
            f'<table style="border-collapse:collapse;table-layout:fixed;width:100%;color:{FG};'
            f'{edge("border", "2px solid", OK)}background:{BG_SOFT}">'
            f'<thead><tr><th scope="col" style="{cell}width:9em"></th>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def comparison_html(comparison: Any) -> str:
    """Self-contained HTML of a comparison: a column per model (its steps, or its error),
    then the final answers in one grid, a row per field (:func:`comparison_table_html`),
    differing fields marked."""
    differ = comparison.disagreements()
    labels = getattr(comparison, "labels", None) or {}
    cells = []
    for label, result in comparison.results.items():
        if result.error is not None:
            body = error_html(result.error, details=False)
        else:
            value = result.plain
            field, steps = find_steps(value, field=getattr(result, "steps_field", None))
            body = ("" if steps is None else list_html(
                field, steps, labels, explicit=getattr(result, "steps_field", None) is not None))
        cells.append(
            f'<div style="min-width:0;{edge("border", "1px solid", BORDER)}border-radius:4px;'
            f'padding:0.4em 0.6em"><div style="font-weight:600;color:{FG}">{esc(label)}</div>'
            f"{body}</div>")
    note = (f'<div style="color:{WARN}">Answers differ on: '
            f"{esc(', '.join(label_for(k, labels) for k in differ))}</div>" if differ else "")
    columns = len(cells)
    return (f'<div class="structmagic-comparison {NO_MATH}" style="{BLOCK}color:{FG}">'
            f'<div style="font-weight:600">{esc(comparison.schema_name)}</div>'
            f'<div style="display:grid;grid-template-columns:repeat({columns},minmax(0,1fr));'
            f'gap:0.6em;align-items:start">{"".join(cells)}</div>'
            f"{comparison_table_html(comparison.results, labels, differ)}{note}</div>")
