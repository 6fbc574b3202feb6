"""A result as a teaching handout: steps that open one at a time with no script, and the
answer check of "try it first". Pure, stdlib only.

:func:`handout_html` is the result's ``text/html`` in reveal mode (``--reveal``): what an
nbconvert export, a Jupyter Book / MyST page, VS Code, nbviewer and GitHub show where no
widget runs. Each step is a native ``<details>`` ("Step 2 — show"), closed; step k+1's
``<details>`` sits inside step k's, so its summary appears only once step k is open, and the
final answer is the innermost, last and closed. Nothing needs JavaScript, and the keyboard
works (Tab to a summary, Enter or Space opens it)::

    head (schema · model)
    [Try it first. Your answer: [____]]           (ask_first)
    ▸ Step 1 — show
        card 1
        ▸ Step 2 — show
            card 2
            ▸ Final answer — show
                the answer; ▸ Model reasoning, ▸ Raw JSON (they hold the answer too)

Where a renderer opens every ``<details>`` (GitHub's notebook view), the steps still read
in order, each under its numbered summary. Past :data:`NEST_LIMIT` steps, the last ones
share one section ("Steps 100–140 — show"), so the nesting stays well within what HTML
parsers build (Chromium's stops nesting at 512 levels).

Every style that the screen needs is inline. One ``<style>`` element of our own,
:data:`HANDOUT_CSS`, adds one screen rule (an open section drops its "— show" hint) and
rules for print only (:data:`PRINT_CSS`): every step and the answer open
(``details::details-content``, Chromium 131+, Safari 18.4+, Firefox 143+), the "— show"
hints and the disclosure triangles gone. The rules are scoped to ``.structmagic-handout``;
the element is a constant (no model text ever reaches it). JupyterLab shows untrusted
``text/html`` sanitized: it drops the ``<style>`` element (print then shows the steps as they
were opened on screen), every style value that uses a ``var()`` (the theme's colours, borders
and fonts: the text then takes the theme's colour from the page, and the summaries keep a
plain accent colour given first, the edges their plain colour: ``render.edge``) and
disables the ``<input>``; ``<details>``, ``<summary>`` and the layout stay, so the steps
still open one at a time.

Model text is escaped into our own templates exactly as in :mod:`.render`; the ask-first
box is an ``<input type="text">`` in a ``<label>``: no form, no action, nothing sent.

:func:`check_answer` compares what a student typed with the final answer, normalised as
``--expect`` compares strings (:func:`normalised`: Unicode NFKC, case folded, whitespace
collapsed); a number also matches a typed number within 1e-6.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Mapping
from typing import Any

from . import render as R

__all__ = [
    "ANSWER_FIELDS",
    "HANDOUT_CSS",
    "NEST_LIMIT",
    "PRINT_CSS",
    "answer_field",
    "answer_label",
    "check_answer",
    "handout_html",
    "normalised",
    "try_html",
]

#: the class of the handout's root element (the print rules are scoped to it)
HANDOUT_CLASS = "structmagic-handout"
#: the class of each step's ``<details>`` and of the answer's (print opens them)
STEP_CLASS = "structmagic-step"
#: the class of the answer's ``<details>``, innermost
FINAL_CLASS = "structmagic-final"
#: the "— show" hint in each summary (hidden in print)
SHOW_CLASS = "structmagic-show"
#: at most this many levels of nested steps; the rest share the last section
NEST_LIMIT = 100
#: top-level fields taken as "the" answer first, in this order (:func:`answer_field`)
ANSWER_FIELDS = ("final_answer", "answer", "result", "solution", "conclusion")
#: what a typed number may differ from a numeric answer by (``--tol``'s default)
NUMBER_TOL = 1e-6

#: the rules for print, scoped to the handout
PRINT_CSS = (
    "@media print{"
    f".{HANDOUT_CLASS} details.{STEP_CLASS}::details-content"
    "{content-visibility:visible;display:block}"
    f".{HANDOUT_CLASS} .{SHOW_CLASS}{{display:none}}"
    f".{HANDOUT_CLASS} details.{STEP_CLASS}>summary{{list-style:none}}"
    f".{HANDOUT_CLASS} details.{STEP_CLASS}>summary::-webkit-details-marker{{display:none}}"
    f".{HANDOUT_CLASS} details.{STEP_CLASS}>div{{break-inside:avoid}}"
    "}"
)
#: the handout's only ``<style>``, constant: an open section drops its "— show" hint on
#: screen, and the print rules
HANDOUT_CSS = (f".{HANDOUT_CLASS} details[open]>summary>.{SHOW_CLASS}{{display:none}}"
               + PRINT_CSS)

# the accent twice: a sanitizer that drops values with var() (JupyterLab's, for untrusted
# output) keeps the plain one, which reads on light and dark backgrounds alike
_SUMMARY = f"cursor:pointer;font-weight:600;color:#1976d2;color:{R.ACCENT};padding:0.15em 0"
_DETAILS = "margin:0.3em 0"
_INPUT = (f"font:inherit;color:{R.FG};background:{R.BG_CARD};border:1px solid {R.BORDER};"
          "border-radius:3px;padding:0.15em 0.4em;width:18em;max-width:100%")


# --- the answer and checking it ----------------------------------------------------------------


def normalised(text: str) -> str:
    """``text`` as ``--expect`` compares strings: Unicode NFKC, case folded, runs of
    whitespace made one space, stripped."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def answer_field(value: Any, steps_field: str | None = None) -> str | None:
    """The top-level field that holds "the" answer: the only field besides the steps, else
    the first of :data:`ANSWER_FIELDS` present, else the first field besides the steps;
    ``None`` when there is none (a value that is a list, or only steps)."""
    field, _ = R.find_steps(value, field=steps_field)
    rest = R.other_fields(value, field)
    if not rest:
        return None
    for name in ANSWER_FIELDS:
        if name in rest:
            return name
    return next(iter(rest))


def answer_label(value: Any, steps_field: str | None = None,
                 labels: Mapping[str, str] | None = None) -> str:
    """What the answer's section is called: its field's label when it is the only field
    besides the steps ("Final answer", or a ``--label``), else "Answer"."""
    field, _ = R.find_steps(value, field=steps_field)
    rest = R.other_fields(value, field)
    if len(rest) == 1:
        return R.label_for(next(iter(rest)), labels)
    return "Answer"


def _number(text: str) -> float | None:
    try:
        number = float(text.replace(",", "").replace(" ", ""))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def check_answer(typed: str, expected: Any) -> bool:
    """Whether ``typed`` is the answer ``expected``: equal once both are :func:`normalised`
    (a non-string answer as its compact JSON text, ``true``, ``[1, 2]``); a number also
    matches a typed number within 1e-6 (``"60.0"`` for 60, ``"1,000"`` for 1000)."""
    if not isinstance(typed, str) or not typed.strip():
        return False
    mine = normalised(typed)
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        number = _number(mine)
        if number is not None and math.isfinite(expected):
            return abs(number - expected) <= NUMBER_TOL
    text = expected if isinstance(expected, str) else json.dumps(
        expected, ensure_ascii=False, default=str)
    return mine == normalised(text)


# --- the handout -------------------------------------------------------------------------------


def _summary(text: str) -> str:
    return (f'<summary style="{_SUMMARY}">{R.esc(text)}'
            f'<span class="{SHOW_CLASS}" style="font-weight:400;color:{R.FG_MUTED}"> — show'
            "</span></summary>")


def _opening(title: str, extra_class: str = "") -> str:
    """A closed ``<details>`` of the handout and its summary, ``title — show``, left open."""
    classes = f"{STEP_CLASS} {extra_class}".strip()
    return f'<details class="{classes}" style="{_DETAILS}">{_summary(title)}'


def _section(title: str, body: str, *, extra_class: str = "") -> str:
    """A closed ``<details>`` of the handout: ``title — show``, then ``body``."""
    return f"{_opening(title, extra_class)}{body}</details>"


def try_html() -> str:
    """The "try it first" prompt: a text box in a label. Static: nothing reads it."""
    return (
        f'<div class="structmagic-try" style="{R.BLOCK}margin:0.4em 0;color:{R.FG}">'
        f'<label><b>Try it first.</b> Your answer: '
        f'<input type="text" style="{_INPUT}"></label></div>'
    )


def handout_html(result: Any, *, ask_first: bool = False) -> str:
    """Self-contained HTML of ``result`` as a handout (see the module doc): no script, no
    remote resource, deterministic; ``ask_first`` adds the "Your answer:" box first."""
    value = result.plain
    labels = getattr(result, "labels", None) or {}
    steps_field = getattr(result, "steps_field", None)
    field, steps = R.find_steps(value, field=steps_field)
    about = f" · {R.esc(result.model)}" if getattr(result, "model", None) else ""
    head = (
        f'<div style="font-weight:600;color:{R.FG}">{R.esc(result.schema_name)}'
        f'<span style="font-weight:400;color:{R.FG_MUTED}">{about}</span></div>'
    ) + R.truncated_html(result)
    extra = ""
    if getattr(result, "reasoning", None):
        extra += R.details_html("Model reasoning", result.reasoning)
    if getattr(result, "raw", ""):
        extra += R.details_html("Raw JSON", result.raw, mono=True)
    if R.answer_text(result):
        extra += R.details_html("Answer text", result.text)
    if not steps:  # nothing to go through: the whole value behind one section
        answer = R.value_html(value, labels) if steps is None else R.final_html(
            R.other_fields(value, field), labels)
        inner = _section("Answer", answer + extra, extra_class=FINAL_CLASS)
        count = ""
    else:
        rest = R.other_fields(value, field)
        # the answer, innermost; with no answer, the extras close the last step
        inner = _section(answer_label(value, steps_field, labels),
                         R.final_html(rest, labels) + extra,
                         extra_class=FINAL_CLASS) if rest else extra
        n = nested = len(steps)
        if n > NEST_LIMIT:  # the last steps share one section
            nested = NEST_LIMIT - 1
            cards = "".join(R.step_html(i, s, labels=labels)
                            for i, s in enumerate(steps[nested:], nested + 1))
            inner = _section(f"Steps {nested + 1}–{n}", cards + inner)
        # step i's section holds its card, then step i+1's section: opened in order, all
        # closed after the innermost (one pass, not a copy of the rest per level)
        inner = "".join(
            _opening(f"Step {i}") + R.step_html(i, steps[i - 1], labels=labels, numbered=False)
            for i in range(1, nested + 1)) + inner + "</details>" * nested
        last = "the answer is last" if rest else "each opens the next"
        count = (f'<div style="color:{R.FG_MUTED};font-size:90%">'
                 f"{R.esc(R.count_steps(field, steps, explicit=steps_field is not None))}: "
                 f"open them in order; {last}.</div>")
    ask = try_html() if ask_first else ""
    return (
        f'<div class="structmagic-result {HANDOUT_CLASS} {R.NO_MATH}" style="{R.BLOCK}color:{R.FG};'
        f'{R.edge("border", "1px solid", R.BORDER)}border-radius:4px;padding:0.5em 0.8em;'
        f'max-width:100%">'
        f"<style>{HANDOUT_CSS}</style>{head}{ask}{count}{inner}</div>"
    )
