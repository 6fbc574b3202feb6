"""The steps widget: a composite of stock ipywidgets, updated in place while a stream arrives.

Modelled on tqdm's notebook bar: built once from stock widgets, its state changed in place
from a plain loop (no asyncio), failures kept visible::

    widget (VBox, class "structmagic-widget")
    ├── header      HTML: schema name, model, the wire format when it is not the default
    │               ("Claude Messages format"), status badge, the doubt's badge (with
    │               confidence or agreement), tokens, cost, elapsed; under them the lowest
    │               values' line per measure or why there is no confidence
    │               (confidence.py), and, for an answer that reached the token limit just
    │               after its end (``result.truncated``), one line saying so
    ├── inputs_view HTML: thumbnails of the call's images and documents (see inputs/thumbs.py)
    ├── progress    HTML: "waiting for the answer…" until content arrives; "receiving step 3…"
    │               (reveal mode, while streaming); then where the reader is: "step 3 of 6"
    ├── ask_view    VBox (ask_first): "Try it first." Your answer: [Text] [Check], and a
    │               line saying right or wrong once checked
    ├── steps_box   VBox
    │   ├── earlier     Accordion (collapsed): "… 36 earlier steps", a VBox of chunk VBoxes
    │   │               of step cards (shown past COLLAPSE_AFTER steps; when open, one list
    │   │               that scrolls as a whole: the chunks and cards never shrink)
    │   └── recent      VBox of the last step cards (all of them up to COLLAPSE_AFTER)
    ├── answer      HTML: the other top-level fields, highlighted (or, when the value has no
    │               steps, the whole value as a tree, updated live)
    ├── ground_view HTML (hidden until a result with grounding finishes): where each value
    │               came from, the values beside the source text, linked both ways with
    │               no script (see grounded.py); it shows and hides with the answer
    ├── confidence_view HTML (hidden until a result with confidence or agreement finishes):
    │               the values, lowest first, in a collapsed table (confidence.py); it shows
    │               and hides with the answer
    ├── error_view  HTML: the error's type and message, kept visible
    ├── nav         HBox: Previous / Next / Show all (reveal mode, once the answer is complete)
    │               [/ Show answer (hide_answer)]
    ├── reasoning_box  Accordion (collapsed): the model's own reasoning text
    ├── raw_box        Accordion (collapsed): the JSON as received (``result.raw``; on an
    │                  error, the whole raw answer)
    └── text_box       Accordion (collapsed; shown only when the server wrote prose or a
                       fence around the JSON): the whole answer text (``result.text``)

Usage (what the magic does)::

    w = StructuredWidget(title="math_reasoning", model="gpt-4o",
                         labels={"final_answer": "Answer"})
    display(w)                  # or w.widget
    w.start()
    for partial in stream:      # once per network read: cheap, throttled
        w.update(partial, reasoning=..., usage=...)
    w.finish(result)            # or w.fail(error, partial=...)

Confidence: once a result with ``confidence`` or ``agreement`` finishes, every value in the
step cards and the answer has its bars beside it (the cards are rendered once more, at
:meth:`finish`, for that); nothing of it shows while the answer streams.

Safety: every model, schema and error string is escaped in the kernel (see ``render.py``)
into fixed templates before it reaches an ``HTML`` value, so saved widget state and HTML
exports replay inert text too. Section titles and button texts are our own constants; field
labels (schema titles, ``--label``, or the key made readable) are escaped like the rest.

Shape: a long answer keeps its header and final answer in view. Past
``render.COLLAPSE_AFTER`` steps, all but the last ``render.KEEP_RECENT`` fold into the
collapsed "… N earlier steps" section, while streaming and after; opened (the frontend
does that alone, so it works while the cell still runs) it scrolls within a bounded
height. Folding moves card widgets between containers: no card is rendered again.

Cost: :meth:`update` only stores the latest state unless ``min_interval`` has passed since
the last render (each render is a few messages on IOPub, which Jupyter Server rate-limits
and silently drops beyond the limit); :meth:`finish` and :meth:`fail` always render the final
state. A render re-renders only the open (last) step; a finished step's card is rendered
once and never again, and new cards are added by replacing a container's ``children`` with a
new tuple: the recent box (a few cards), and one chunk of at most ``_CHUNK`` folded cards
(plus, every ``_CHUNK`` steps, the list of chunks). So streaming costs O(new content) per
render, not O(all steps). The cards share one ``Layout`` and one style, so each new step
opens one widget comm, not three.

Reveal mode (teaching): while streaming the steps stay hidden (out of the steps box)
behind a "receiving step N…" line; after :meth:`finish` step 1 shows, with Previous / Next /
Show all (disabled at the ends); the final answer shows once the last step is revealed.
A widget button's click is handled by the kernel only when it is idle, i.e. once the cell
that made the widget has finished: the buttons are enabled by :meth:`finish`, never while
the answer streams.

``hide_answer`` (``--hide-answer``): the final answer stays hidden after the last step too,
until *Show answer* (enabled once every step is on show); *Show all* shows every step, not
the answer; the model's reasoning, the raw JSON and the answer text, which hold the answer,
stay hidden with it (also while streaming). ``ask_first`` (``--ask-first``): a "Your
answer:" box shows from the start, and no step is on show after :meth:`finish` until
*Next*; *Check* (or Enter in the box, once the answer is complete) compares the text with
the final answer (:func:`structmagic.display.handout.check_answer`: normalised as
``--expect`` compares strings) and says right or wrong, never what the answer is. Both go
with ``reveal``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..config import SYSTEM_CLOCK, Clock
from ..cost.calc import result_spend
from ..cost.prices import when_loaded
from ..errors import ConfigError
from ..inputs.thumbs import thumbnails_html
from ..transport.status import MAX_ANSWER_DEPTH
from . import confidence as C
from . import render as R
from .grounded import grounded_html
from .handout import answer_field, check_answer

if TYPE_CHECKING:
    import ipywidgets as w

__all__ = ["StructuredWidget", "position_html", "reveal_buttons", "root_bundle"]

_BADGE_COLOUR = {
    "waiting": R.FG_MUTED,
    "streaming": R.ACCENT,
    "done": R.OK,
    "error": R.BAD,
    "interrupted": R.FG_MUTED,  # the user's own stop: neutral, not an error
}
_HIDDEN = "none"
_SHOWN = None  # Layout.display None: the widget's default display
_CHUNK = 32  # folded cards per chunk box: a fold or unfold resends at most this many ids
_WAITING = "waiting for the answer…"
_RIGHT = "✓ Right."
_WRONG = "✗ Not quite. Open the steps to see the way."


def reveal_buttons(previous: Callable[[], None], next_: Callable[[], None],
                   show_all: Callable[[], None]) -> tuple[w.HBox, tuple[w.Button, ...]]:
    """The hidden, disabled Previous / Next / Show all row of reveal mode, wired to the three
    callbacks."""
    import ipywidgets as w

    buttons = (
        w.Button(description="Previous", icon="arrow-left", disabled=True,
                 layout=w.Layout(width="auto")),
        w.Button(description="Next", icon="arrow-right", disabled=True,
                 layout=w.Layout(width="auto")),
        w.Button(description="Show all", disabled=True, layout=w.Layout(width="auto")),
    )
    for button, action in zip(buttons, (previous, next_, show_all), strict=True):
        button.on_click(lambda _, act=action: act())
    return w.HBox(list(buttons), layout=w.Layout(display=_HIDDEN)), buttons


def position_html(k: int, n: int) -> str:
    """Where the reader of a reveal is: "step 3 of 6" (``""`` when there are no steps)."""
    return R.waiting_html(f"step {int(k)} of {int(n)}") if n else ""


def _has_content(value: Any, depth: int = 0) -> bool:
    """Whether a partial value holds anything to show (``{}``, ``{"steps": []}``, ``""``,
    ``None``: not yet); a value nested deeper than any answer may be has."""
    if depth > MAX_ANSWER_DEPTH:
        return True
    if isinstance(value, dict):
        return any(_has_content(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_has_content(v, depth + 1) for v in value)
    return value is not None and value != ""


class StructuredWidget:
    """Live view of one call. Build, :meth:`start`, :meth:`update` often, then finish/fail.

    ``title`` is the schema name, ``model`` the model asked for (replaced by the one that
    answered), ``steps_field`` the field holding the steps (``None``: detect, ``""``: the
    root list), ``reveal`` the teaching mode, ``labels`` field name → label shown (see
    :func:`structmagic.display.render.field_labels`; other fields show their key made readable),
    ``min_interval`` the least time in seconds between two renders while streaming,
    ``clock`` what tells the time (a :class:`~structmagic.config.Clock`; tests pass a fake).
    ``hide_answer`` and ``ask_first`` (reveal mode only, else a
    :class:`~structmagic.ConfigError`): see the module doc. ``compact``: a column of a
    comparison (a one-line header with the details on hover; once finished, the answer is
    shown by the comparison's grid of answers, not here).
    """

    def __init__(
        self,
        *,
        title: str,
        model: str | None = None,
        steps_field: str | None = None,
        reveal: bool = False,
        labels: Mapping[str, str] | None = None,
        min_interval: float = 0.05,
        clock: Clock = SYSTEM_CLOCK,
        hide_answer: bool = False,
        ask_first: bool = False,
        compact: bool = False,
    ) -> None:
        import ipywidgets as w

        if (hide_answer or ask_first) and not reveal:
            raise ConfigError("hide_answer and ask_first go with reveal=True (--hide-answer "
                              "and --ask-first with --reveal).")
        self.title = title
        self.model = model
        self.steps_field = steps_field
        self.reveal = reveal
        self.hide_answer = hide_answer
        self.ask_first = ask_first
        #: a column of a comparison: a one-line header (the details on hover), and the final
        #: answer shown by the comparison's grid rather than here once finished
        self.compact = compact
        #: hide_answer: whether Show answer was pressed (until a step is hidden again)
        self.answer_shown = False
        #: ask_first: whether the last check was right (None: not checked yet)
        self.checked: bool | None = None
        self.labels = {str(k): str(v) for k, v in (labels or {}).items()}
        self.min_interval = min_interval
        self._clock = clock.monotonic
        #: "waiting" | "streaming" | "done" | "error" | "interrupted" (the user's own stop)
        self.status = "waiting"
        #: reveal mode: how many steps are shown (1..n after finish)
        self.revealed = 0
        #: how many times the view was rendered (tests, benchmarks)
        self.renders = 0
        self._t0: float | None = None
        self._elapsed: float | None = None  # the result's own elapsed time, once done
        self._last_render = float("-inf")
        self._value: Any = None
        self._reasoning: str | None = None
        self._shown_reasoning: str | None = None
        self._usage: dict[str, Any] | None = None
        self._dirty = False
        self._content = False  # something to show has arrived (sticky until restart)
        self._field: str | None = None  # where the steps were found (kept while streaming)
        self._rows = False  # the list is not reasoning steps: numbered rows, not "Step i"
        self._steps: list[Any] = []
        self._cards: list[w.HTML] = []  # one per step, in order (children: those shown)
        self._complete = 0  # the first _complete cards are final: never rendered again
        self._folded = 0  # the first _folded cards sit in the collapsed "earlier" section
        self._chunks: list[w.VBox] = []  # the earlier section's boxes, _CHUNK cards each
        self._result: Any = None
        self._gauges: C.Gauges | None = None  # the finished result's confidence, agreement
        self._error: BaseException | None = None
        #: top-level fields marked as differing from other models' answers (comparisons)
        self.differ: tuple[str, ...] = ()

        # every step card shares one Layout and one style: a card is one widget (one comm
        # message to open), not three, which matters for 800 steps under the IOPub limit
        self._card_layout = w.Layout(width="100%", flex="none")
        self._card_style: Any = None
        self.header = w.HTML(layout=w.Layout(width="100%"))
        self.progress = w.HTML()
        # one list that scrolls as a whole: its chunks keep their full height (flex: none)
        # rather than shrink into scroll areas of their own
        self.earlier_list = w.VBox(layout=w.Layout(
            width="100%", max_height=R.EARLIER_MAX_HEIGHT, overflow="auto"))
        self._chunk_layout = w.Layout(width="100%", flex="none", overflow="visible")
        self.earlier = w.Accordion(children=[self.earlier_list], selected_index=None,
                                   layout=w.Layout(display=_HIDDEN, width="100%"))
        self.earlier.set_title(0, "")
        self.recent = w.VBox(layout=w.Layout(width="100%"))
        self.steps_box = w.VBox([self.earlier, self.recent], layout=w.Layout(width="100%"))
        self.answer = w.HTML(layout=w.Layout(width="100%"))
        self.confidence_view = w.HTML(layout=w.Layout(display=_HIDDEN, width="100%"))
        self.ground_view = w.HTML(layout=w.Layout(display=_HIDDEN, width="100%"))
        self.error_view = w.HTML(layout=w.Layout(width="100%"))
        self.nav, (self.prev_button, self.next_button, self.all_button) = reveal_buttons(
            lambda: self.show_step(self.revealed - 1), lambda: self.show_step(self.revealed + 1),
            lambda: self.show_step(len(self._cards)))
        self.answer_button = w.Button(description="Show answer", icon="eye", disabled=True,
                                      layout=w.Layout(width="auto"))
        self.answer_button.on_click(lambda _: self.show_answer())
        if hide_answer:
            self.nav.children = (*self.nav.children, self.answer_button)
        self.ask_text = w.Text(description="Your answer:", continuous_update=False,
                               placeholder="type it, then Enter or Check",
                               style={"description_width": "initial"},
                               layout=w.Layout(width="auto", flex="0 1 24em"))
        self.ask_text.observe(self._typed, names="value")
        self.check_button = w.Button(description="Check", disabled=True,
                                     layout=w.Layout(width="auto"))
        self.check_button.on_click(lambda _: self.check())
        self.ask_feedback = w.HTML()
        self.ask_view = w.VBox(
            [w.HBox([w.HTML(f'<b style="{R.BLOCK}color:{R.FG};margin-right:0.4em">'
                            "Try it first.</b>"),
                     self.ask_text, self.check_button],
                    layout=w.Layout(align_items="center")),
             self.ask_feedback],
            layout=w.Layout(display=_SHOWN if ask_first else _HIDDEN, width="100%"))
        self.reasoning_html = w.HTML(layout=w.Layout(width="100%"))
        self.reasoning_box = w.Accordion(children=[self.reasoning_html], selected_index=None,
                                         layout=w.Layout(display=_HIDDEN, width="100%"))
        self.reasoning_box.set_title(0, "Model reasoning")
        self.raw_html = w.HTML(layout=w.Layout(width="100%"))
        self.raw_box = w.Accordion(children=[self.raw_html], selected_index=None,
                                   layout=w.Layout(display=_HIDDEN, width="100%"))
        self.raw_box.set_title(0, "Raw JSON")
        self.text_html = w.HTML(layout=w.Layout(width="100%"))
        self.text_box = w.Accordion(children=[self.text_html], selected_index=None,
                                    layout=w.Layout(display=_HIDDEN, width="100%"))
        self.text_box.set_title(0, "Answer text")
        self.inputs_view = w.HTML(layout=w.Layout(display=_HIDDEN, width="100%"))
        self.widget = w.VBox(
            [self.header, self.inputs_view, self.progress, self.ask_view, self.steps_box,
             self.answer, self.ground_view, self.confidence_view, self.error_view, self.nav,
             self.reasoning_box, self.raw_box, self.text_box],
            layout=w.Layout(width="100%", padding="4px"),
        )
        self.widget.add_class("structmagic-widget")
        self._render_header()

    # --- display -----------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return root_bundle(self, **kwargs)

    def __repr__(self) -> str:
        steps = R.plural(len(self._steps), "step")
        return f"<StructuredWidget {self.title}: {self.status}, {steps}>"

    @property
    def step_widgets(self) -> tuple[w.HTML, ...]:
        """The step cards (``HTML`` widgets), in order."""
        return tuple(self._cards)

    @property
    def steps_html(self) -> list[str]:
        """The HTML of each step card, in order."""
        return [card.value for card in self._cards]

    @property
    def shown_cards(self) -> tuple[w.HTML, ...]:
        """The step cards on show, in order: folded ones (in the earlier section) first."""
        folded = tuple(c for chunk in self.earlier_list.children for c in chunk.children)
        return folded + tuple(self.recent.children)

    def show_inputs(self, inputs: Any) -> None:
        """Thumbnails of the call's images and documents above the steps: small data URLs
        made in the kernel from the user's own bytes, escaped; a URL input as its text."""

        markup = thumbnails_html(tuple(inputs or ()))
        if markup != self.inputs_view.value:
            self.inputs_view.value = markup
        self.inputs_view.layout.display = _SHOWN if markup else _HIDDEN

    # --- the life of a call ------------------------------------------------------------------

    def start(self) -> None:
        """The request is on its way: status ``waiting``, the timer starts."""
        self._t0 = self._clock()
        self.status = "waiting"
        self.progress.value = R.waiting_html(_WAITING)
        self._render_header()

    def restart(self) -> None:
        """A new attempt (a re-ask, a step down) streams from the start: drop the steps shown."""
        self._value = None
        self._field = None
        self._steps = []
        self._content = False
        self._set_cards([])
        self.answer.value = ""
        if self.status in ("waiting", "streaming"):
            self.progress.value = R.waiting_html(_WAITING)

    def update(self, partial: Any, *, reasoning: str | None = None,
               usage: dict[str, Any] | None = None) -> None:
        """A newer partial value (and reasoning text so far, token counts).

        Called once per network read: stores the state, and renders only when
        ``min_interval`` has passed since the last render (O(1) otherwise). The state kept
        shows at the next render, or at :meth:`finish` / :meth:`fail`.
        """
        if self.status in ("done", "error", "interrupted"):
            return  # the final state stays
        if partial is not None:
            self._value = partial
        if reasoning is not None:
            self._reasoning = reasoning
        if usage is not None:
            self._usage = usage
        self._dirty = True
        now = self._clock()
        if now - self._last_render < self.min_interval:
            return
        self._last_render = now
        self._render()

    def finish(self, result: Any) -> None:
        """The validated result: render the final state now (all steps, answer, raw JSON)."""
        self._result = result
        self._value = result.plain
        if getattr(result, "inputs", None):
            self.show_inputs(result.inputs)
        self._reasoning = getattr(result, "reasoning", None) or self._reasoning
        self._usage = getattr(result, "usage", None) or self._usage
        self.model = getattr(result, "model", None) or self.model
        if self.steps_field is None:
            self.steps_field = getattr(result, "steps_field", None)
        elapsed = getattr(result, "elapsed", None)
        self._elapsed = float(elapsed) if isinstance(elapsed, (int, float)) else None
        self.status = "done"
        self.progress.value = ""
        self._gauges = C.gauges_of(result)
        if self._gauges is not None:
            self._complete = 0  # every card once more, with its values' bars
        self._render(final=True)
        self.confidence_view.value = C.table_html(result)
        grounding = getattr(result, "grounding", None)
        if grounding is not None:
            self.ground_view.value = grounded_html(
                result.plain, grounding, getattr(result, "source", None), self.labels)
        raw = getattr(result, "raw", "")
        if raw:
            self.raw_box.set_title(0, "Raw JSON")
            self.raw_html.value = R.pre_html(raw, mono=True)
            self.raw_box.layout.display = _SHOWN
        text = R.answer_text(result)
        if text:  # prose or a fence around the JSON: the whole answer, on its own
            self.text_html.value = R.pre_html(text)
            self.text_box.layout.display = _SHOWN
        self.check_button.disabled = False
        if self.reveal and self._steps:
            self.nav.layout.display = _SHOWN
            self.show_step(0 if self.ask_first else 1)
        else:
            self._show_answer_view(True)
            self.answer_shown = True
            self._show_extras()
        self._render_header()
        if getattr(result, "cost_pending", False):
            # the price table is still loading: the cost joins the header once it has
            when_loaded(self._render_header)

    def fail(self, error: BaseException, *, partial: Any = None,
             elapsed: float | None = None) -> None:
        """The call failed: keep the steps received so far, show the error (escaped).
        ``elapsed``: how long the call took (a comparison tells each model's own time, not
        the time when the slowest one ended)."""
        self._error = error
        if elapsed is not None:
            self._elapsed = float(elapsed)
        if partial is None:
            partial = getattr(error, "partial", None)
        if partial is not None:
            self._value = partial
        self.status = "interrupted" if isinstance(error, KeyboardInterrupt) else "error"
        self.progress.value = ""
        if self._value is not None or self._dirty:
            self._render()
        self.error_view.value = (R.stopped_html(error) if self.status == "interrupted"
                                 else R.error_html(error, details=False))
        raw = getattr(error, "raw", None)
        if isinstance(raw, str) and raw:
            self.raw_box.set_title(0, "Raw answer")
            self.raw_html.value = R.pre_html(raw, mono=True)
            self.raw_box.layout.display = _SHOWN
        self._show_answer_view(True)  # what arrived (a comparison's column: its grid)
        if self.reveal:  # nothing more will come: show everything that did
            self.revealed = len(self._cards)
            self._show_cards()
            self._show_answer_view(True)
            self.answer_shown = True
            self._show_extras()
            self.ask_view.layout.display = _HIDDEN  # no answer to compare with
        self._render_header()

    def mark_differences(self, fields: tuple[str, ...] | list[str]) -> None:
        """Mark the top-level fields whose answers differ from other models' (re-renders the
        answer only)."""
        self.differ = tuple(fields)
        if self._result is not None:
            value = self._value
            field, steps = self._locate(value, True)
            self.answer.value = (
                R.final_html(R.other_fields(value, field), self.labels, self.differ,
                             self._gauges)
                if steps is not None else R.value_html(value, self.labels, self.differ,
                                                       gauges=self._gauges))

    # --- reveal mode -------------------------------------------------------------------------

    def show_step(self, k: int) -> None:
        """Reveal steps 1..k (clamped; from 0 with ``ask_first``); the final answer shows once
        the last step is revealed (with ``hide_answer``, once *Show answer* is pressed too)."""
        n = len(self._cards)
        first = 0 if self.ask_first or not n else 1
        k = max(first, min(k, n))
        self.revealed = k
        self._show_cards()
        if k < n:
            self.answer_shown = False
        elif not self.hide_answer:
            self.answer_shown = True
        self._show_answer_view(self.answer_shown)
        self._show_extras()
        done = self.status == "done"
        self.progress.value = position_html(k, n)  # the line under the header
        self.prev_button.disabled = not done or k <= first
        self.next_button.disabled = not done or k >= n
        self.all_button.disabled = not done or k >= n
        self.answer_button.disabled = not done or k < n or self.answer_shown

    def _show_answer_view(self, shown: bool) -> None:
        """Show or hide the final answer (a finished column of a comparison never shows its
        own: the comparison's grid does)."""
        finished = self.status in ("done", "error", "interrupted")
        elsewhere = self.compact and finished
        self.answer.layout.display = _SHOWN if shown and not elsewhere else _HIDDEN

    def show_answer(self) -> None:
        """``hide_answer``: show the final answer (with the reasoning, raw JSON and answer
        text), once every step is on show; before that, nothing happens."""
        if self.status == "done" and self.revealed >= len(self._cards):
            self.answer_shown = True
            self.show_step(self.revealed)

    def _show_extras(self) -> None:
        """The reasoning, raw JSON and answer text sections, hidden with the answer
        (``hide_answer``); the confidence table and the grounded view, which show the answer's
        values, shown with the answer."""
        hidden = self.hide_answer and not self.answer_shown
        self.reasoning_box.layout.display = (
            _HIDDEN if hidden or not self._shown_reasoning else _SHOWN)
        self.raw_box.layout.display = _HIDDEN if hidden or not self.raw_html.value else _SHOWN
        self.text_box.layout.display = (
            _HIDDEN if hidden or not self.text_html.value else _SHOWN)
        self.ground_view.layout.display = (
            _SHOWN if self.answer_shown and self.ground_view.value else _HIDDEN)
        self.confidence_view.layout.display = (
            _SHOWN if self.answer_shown and self.confidence_view.value else _HIDDEN)

    # --- try it first ------------------------------------------------------------------------

    def check(self) -> bool | None:
        """``ask_first``: compare the typed answer with the final one and say right or wrong
        (``None``, saying why, when there is nothing to compare yet)."""
        typed = self.ask_text.value
        field = answer_field(self._value, self.steps_field)
        if self.status != "done":
            note, colour, self.checked = "The answer is not complete yet.", R.FG_MUTED, None
        elif field is None:
            note, colour, self.checked = ("This answer has no final answer to compare with.",
                                          R.FG_MUTED, None)
        elif not typed.strip():
            note, colour, self.checked = "Type your answer first.", R.FG_MUTED, None
        else:
            self.checked = check_answer(typed, self._value[field])
            note, colour = (_RIGHT, R.OK) if self.checked else (_WRONG, R.BAD)
        self.ask_feedback.value = f'<div style="{R.BLOCK}color:{colour}">{R.esc(note)}</div>'
        return self.checked

    def _typed(self, change: Any) -> None:
        """Enter (or leaving the box) checks, once the answer is complete."""
        if self.status == "done" and str(change.get("new", "")).strip():
            self.check()

    # --- rendering ---------------------------------------------------------------------------

    def _render_header(self) -> None:
        colour = _BADGE_COLOUR.get(self.status, R.FG_MUTED)
        muted = f'<span style="color:{R.FG_MUTED}">'
        badge = R.badge(self.status, colour)
        model = self.model if self.model and self.model != self.title else None
        details = [model] if model else []
        wire = R.wire_title(getattr(self._result, "provider", None))
        if wire:  # not the default format: say which one answered
            details.append(wire)
        tokens = R.usage_text(self._usage)
        if tokens:
            details.append(tokens)
        spend = result_spend(self._result)  # what the call cost (structmagic.cost)
        if spend:
            details.append(spend)
        elapsed = self._elapsed
        if elapsed is None and self._t0 is not None:
            elapsed = self._clock() - self._t0
        time = f"{elapsed:.1f} s" if elapsed is not None else ""
        title = f'<b style="color:{R.FG}">{R.esc(self.title)}</b>'
        doubt = C.doubt_badge(self._result)  # with confidence or agreement only
        if doubt:
            badge += " " + doubt
        if self.compact:  # one line: the name, the status and the time; the rest on hover
            shown = [title, badge] + ([f"{muted}{time}</span>"] if time else [])
            tip = " · ".join([self.title, *details, *([time] if time else [])])
            line = (f'<div class="structmagic-header" title="{R.esc(tip)}" style="{R.BLOCK}'
                    f'color:{R.FG};padding:2px 0;white-space:nowrap;overflow:hidden;'
                    f'text-overflow:ellipsis">{" ".join(shown)}</div>')
        else:
            shown = [title, *([f"{muted}{R.esc(model)}</span>"] if model else []), badge,
                     *(f"{muted}{R.esc(d)}</span>" for d in details[1 if model else 0:]),
                     *([f"{muted}{time}</span>"] if time else [])]
            line = (f'<div class="structmagic-header" style="{R.BLOCK}color:{R.FG};'
                    f'padding:2px 0">{" · ".join(shown)}</div>')
        notes = "" if self.compact else C.notes_html(self._result)  # the lowest values
        self.header.value = line + notes + R.truncated_html(self._result)

    def _locate(self, value: Any, final: bool) -> tuple[str | None, list[Any] | None]:
        """Where the steps are. While streaming, the field found first is kept (O(1))."""
        if self.steps_field is not None or final:
            return R.find_steps(value, field=self.steps_field)
        field = self._field
        if field is not None:
            if field == "" and isinstance(value, list):
                return "", value
            if isinstance(value, dict) and isinstance(value.get(field), list):
                return field, value[field]
        return R.find_steps(value)

    def _render(self, final: bool = False) -> None:
        """Render the latest state: the open step, new steps, the answer, reasoning, header."""
        self.renders += 1
        self._dirty = False
        value = self._value
        field, steps = self._locate(value, final)
        if steps is None:  # no steps: the whole value as a tree
            if self._cards:
                self._set_cards([])
            self._field, self._steps = None, []
        else:
            self._sync_steps(field, steps, final)
        if not self._content:  # O(size) only until something has arrived
            self._content = final or bool(self._cards) or _has_content(value)
        if steps is not None:
            self.answer.value = R.final_html(R.other_fields(value, field), self.labels,
                                             self.differ, self._gauges)
        elif self._content:
            self.answer.value = (R.value_html(value, self.labels, self.differ,
                                              gauges=self._gauges)
                                 if value is not None else "")
        else:
            self.answer.value = ""  # not "{}": the waiting line says what is going on
        if self.status in ("waiting", "streaming"):
            self.status = "streaming" if self._content or self._reasoning else "waiting"
            self.progress.value = self._progress_html()
            if self.reveal:
                self.answer.layout.display = _HIDDEN
        if self._reasoning and self._reasoning != self._shown_reasoning:
            self._shown_reasoning = self._reasoning
            self.reasoning_html.value = R.pre_html(self._reasoning)
            if not (self.hide_answer and not self.answer_shown):
                self.reasoning_box.layout.display = _SHOWN
        self._render_header()

    def _progress_html(self) -> str:
        """The line under the header while the answer streams (``""`` when none is needed)."""
        if not self._content:
            return R.waiting_html(_WAITING)
        if not self.reveal:
            return ""
        n = len(self._steps)
        if not n:
            return R.waiting_html("waiting for the first step…")
        done = f" · {R.plural(self._complete, 'step')} complete" if self._complete else ""
        return R.waiting_html(f"receiving step {n}…{done}")

    def _sync_steps(self, field: str | None, steps: list[Any], final: bool) -> None:
        """Cards for new steps; only the open (last) step and newly finished ones render."""
        import ipywidgets as w

        n = len(steps)
        if field != self._field or n < self._complete:
            self._set_cards([])  # another list, or a new attempt: start over
        self._field = field
        # "Step i" only for reasoning steps; any other list of objects as numbered rows
        rows = not R.is_reasoning(field, explicit=self.steps_field is not None)
        self._rows = rows
        cards = self._cards
        added: list[w.HTML] = []
        # where the list is in the answer (the bars' paths): the root, or its field (which
        # may be called "" too)
        at: tuple[str | int, ...] = (() if isinstance(self._value, list) or field is None
                                     else (field,))
        for i in range(self._complete, n):
            complete = final or i < n - 1
            markup = R.step_html(i + 1, steps[i], partial=not complete, labels=self.labels,
                                 row=rows, gauges=self._gauges, at=(*at, i))
            if i < len(cards):
                cards[i].value = markup
            else:
                shared = {"style": self._card_style} if self._card_style is not None else {}
                card = w.HTML(value=markup, layout=self._card_layout, **shared)
                self._card_style = card.style
                added.append(card)
            if complete:
                self._complete = i + 1
        if added:
            self._set_cards(cards + added)
        elif n < len(cards):  # cannot happen with a growing stream; kept consistent anyway
            self._set_cards(cards[:n])
        self._steps = steps

    def _set_cards(self, cards: list[w.HTML]) -> None:
        """Set the step cards (all of them, shown or not) and show those due."""
        self._cards = cards
        self._complete = min(self._complete, len(cards)) if cards else 0
        self._show_cards()

    def _show_cards(self) -> None:
        """Show the cards due: all of them, none while a reveal streams, else the revealed.

        The first of them fold into the earlier section once there are more than
        ``COLLAPSE_AFTER``; the last few stay in the recent box. ``children`` is replaced by
        a new tuple (never appended to in place), and only where what is shown changed.
        """
        n = len(self._cards)
        if self.reveal and self.status not in ("error", "interrupted"):
            n = min(self.revealed, n) if self.status == "done" else 0
        split = n - R.KEEP_RECENT if n > R.COLLAPSE_AFTER else 0
        self._fold(split)
        recent = tuple(self._cards[split:n])  # at most COLLAPSE_AFTER cards
        if recent != self.recent.children:
            self.recent.children = recent

    def _fold(self, split: int) -> None:
        """Put cards ``[0, split)`` in the earlier section, touching only the chunks changed."""
        import ipywidgets as w

        old = self._folded
        if split == old:
            return
        cards = self._cards
        for j in range(min(old, split) // _CHUNK, (max(old, split) - 1) // _CHUNK + 1):
            while j >= len(self._chunks):
                self._chunks.append(w.VBox(layout=self._chunk_layout))
            chunk = tuple(cards[j * _CHUNK:min((j + 1) * _CHUNK, split)])
            if chunk != self._chunks[j].children:
                self._chunks[j].children = chunk
        used = -(-split // _CHUNK)
        if len(self.earlier_list.children) != used:
            self.earlier_list.children = tuple(self._chunks[:used])
        self._folded = split
        what = "earlier row" if self._rows else "earlier step"
        self.earlier.set_title(0, f"… {R.plural(split, what)}" if split else "")
        self.earlier.layout.display = _SHOWN if split else _HIDDEN


def root_bundle(owner: Any, **kwargs: Any) -> Any:
    """``owner.widget``'s view (the root ipywidget), with ``owner``'s short ``text/plain``."""
    bundle = owner.widget._repr_mimebundle_(**kwargs)
    if isinstance(bundle, dict):
        bundle = {**bundle, "text/plain": repr(owner)}
    return bundle
