"""The steps widget: a composite of stock ipywidgets, updated in place while a stream arrives.

    header      HTML: schema name, model, status badge, tokens, elapsed
    progress    HTML: "receiving step 3…" (reveal mode, while streaming)
    steps       VBox of HTML cards, one per reasoning step
    answer      HTML: the other top-level fields, highlighted (or the whole value as a tree
                when the schema has no steps)
    error       HTML: the error's message, kept visible
    nav         HBox: Previous / Next / Show all (reveal mode, after the answer is complete)
    reasoning   Accordion (collapsed): the model's own reasoning text
    raw         Accordion (collapsed): the raw JSON

Every model string is escaped in the kernel (see render.py) before it reaches an ``HTML``
value; reasoning and raw JSON go into ``Textarea``-free ``<pre>`` blocks, escaped too.
Updates are throttled (``min_interval``; at most ~20 renders a second by default) because
each one is a message on IOPub; :meth:`finish` and :meth:`fail` always render the final
state. Only the open (last) step is re-rendered while streaming; finished steps render once.

A widget button's click cannot be handled while its own cell is still running (the kernel
is busy), so the reveal buttons work once the cell has finished.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from . import render as R

__all__ = ["StructuredWidget"]

_BADGE = {
    "waiting": ("waiting", R.FG_MUTED),
    "streaming": ("streaming", R.ACCENT),
    "done": ("done", R.OK),
    "error": ("error", R.BAD),
}


class StructuredWidget:
    """Live view of one call. Build, :meth:`start`, :meth:`update` often, then finish/fail."""

    def __init__(
        self,
        *,
        title: str,
        model: str | None = None,
        steps_field: str | None = None,
        reveal: bool = False,
        min_interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.title = title
        self.model = model
        self.steps_field = steps_field
        self.reveal = reveal
        self.min_interval = min_interval
        self._clock = clock
        self.status = "waiting"
        self.revealed = 0
        self.renders = 0  # how many times the view was re-rendered (tests, benchmarks)
        self._t0: float | None = None
        self._last_render = float("-inf")
        self._value: Any = None
        self._reasoning: str | None = None
        self._usage: dict[str, int] | None = None
        self._dirty = False
        self._step_cache: list[str] = []  # rendered HTML of finished steps
        self._field: str | None = None
        self._steps: list[Any] = []
        self._result: Any = None
        self._error: BaseException | None = None

        self.header = w.HTML()
        self.progress = w.HTML()
        self.steps_box = w.VBox(layout=w.Layout(width="100%"))
        self.answer = w.HTML(layout=w.Layout(width="100%"))
        self.error_html = w.HTML()
        self.prev_button = w.Button(description="Previous", icon="arrow-left",
                                    disabled=True, layout=w.Layout(width="auto"))
        self.next_button = w.Button(description="Next", icon="arrow-right", disabled=True,
                                    layout=w.Layout(width="auto"))
        self.all_button = w.Button(description="Show all", disabled=True,
                                   layout=w.Layout(width="auto"))
        self.prev_button.on_click(lambda _: self.show_step(self.revealed - 1))
        self.next_button.on_click(lambda _: self.show_step(self.revealed + 1))
        self.all_button.on_click(lambda _: self.show_step(len(self._steps)))
        self.nav = w.HBox([self.prev_button, self.next_button, self.all_button],
                          layout=w.Layout(display="none"))
        self.reasoning_html = w.HTML()
        self.reasoning_box = w.Accordion(children=[self.reasoning_html], selected_index=None,
                                         layout=w.Layout(display="none"))
        self.reasoning_box.set_title(0, "Model reasoning")
        self.raw_html = w.HTML()
        self.raw_box = w.Accordion(children=[self.raw_html], selected_index=None,
                                   layout=w.Layout(display="none"))
        self.raw_box.set_title(0, "Raw JSON")
        self.widget = w.VBox(
            [self.header, self.progress, self.steps_box, self.answer, self.error_html,
             self.nav, self.reasoning_box, self.raw_box],
            layout=w.Layout(width="100%", padding="4px"),
        )
        self.widget.add_class("structmagic-widget")
        self._render_header()

    # --- display ---------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        n = len(self._steps)
        return (f"<StructuredWidget {self.title}: {self.status}, "
                f"{n} step{'s' if n != 1 else ''}>")

    @property
    def step_widgets(self) -> tuple[Any, ...]:
        return tuple(self.steps_box.children)

    # --- the life of a call -----------------------------------------------------------------

    def start(self) -> None:
        self._t0 = self._clock()
        self.status = "waiting"
        self._render_header()

    def restart(self) -> None:
        """A new attempt (a re-ask) streams from the start: forget the steps shown."""
        self._value = None
        self._steps = []
        self._step_cache = []
        self._field = None
        self.steps_box.children = ()
        self.answer.value = ""

    def update(self, partial: Any, *, reasoning: str | None = None,
               usage: dict[str, int] | None = None) -> None:
        """A newer partial value; rendered at most once per ``min_interval``."""
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
        self.status = "streaming"
        self._render_live()

    def finish(self, result: Any) -> None:
        """The validated result: render everything now."""
        self._result = result
        self._value = result.plain
        self._reasoning = result.reasoning
        self._usage = result.usage or self._usage
        self.model = result.model or self.model
        self.status = "done"
        self._render_live(final=True)
        if result.raw:
            self.raw_html.value = _pre(result.raw, mono=True)
            self.raw_box.layout.display = None
        if self.reveal and self._steps:
            self.nav.layout.display = None
            self.progress.value = ""
            self.show_step(1)
        self._render_header()

    def fail(self, error: BaseException, *, partial: Any = None) -> None:
        """The call failed: keep what arrived, show the error in the widget."""
        self._error = error
        if partial is not None:
            self._value = partial
        self.status = "error"
        if self._value is not None:
            self._render_live()
        if self.reveal:
            self.show_step(len(self._steps))
        self.progress.value = ""
        self.error_html.value = R.error_html(error)
        self._render_header()

    # --- reveal mode -------------------------------------------------------------------------

    def show_step(self, k: int) -> None:
        """Reveal steps 1..k (reveal mode); the answer shows once the last step is revealed."""
        n = len(self._steps)
        k = max(1 if n else 0, min(k, n))
        self.revealed = k
        for i, child in enumerate(self.steps_box.children):
            child.layout.display = None if i < k else "none"
        self.answer.layout.display = None if k >= n else "none"
        done = self.status == "done"
        self.prev_button.disabled = not done or k <= 1
        self.next_button.disabled = not done or k >= n
        self.all_button.disabled = not done or k >= n

    # --- rendering ----------------------------------------------------------------------------

    def _render_header(self) -> None:
        label, colour = _BADGE.get(self.status, (self.status, R.FG_MUTED))
        parts = [f'<b style="color:{R.FG}">{R.esc(self.title)}</b>']
        if self.model:
            parts.append(f'<span style="color:{R.FG_MUTED}">{R.esc(self.model)}</span>')
        parts.append(
            f'<span style="color:{colour};border:1px solid {colour};border-radius:8px;'
            f'padding:0 6px;font-size:90%">{html.escape(label)}</span>'
        )
        if self._usage:
            total = self._usage.get("total_tokens")
            if total is not None:
                parts.append(f'<span style="color:{R.FG_MUTED}">{int(total)} tokens</span>')
        if self._t0 is not None:
            elapsed = self._clock() - self._t0
            parts.append(f'<span style="color:{R.FG_MUTED}">{elapsed:.1f} s</span>')
        self.header.value = " · ".join(parts)

    def _render_live(self, final: bool = False) -> None:
        self.renders += 1
        self._dirty = False
        value = self._value
        field, steps = R.find_steps(value, field=self.steps_field)
        if self.steps_field is None and field is None and isinstance(value, dict) and (
                self._field is not None):
            field, steps = self._field, value.get(self._field) or []
        if steps is None:
            self._steps = []
            self.answer.value = R.value_html(value) if value is not None else ""
        else:
            self._field = field
            self._sync_steps(steps, final)
            self.answer.value = R.final_html(R.other_fields(value, field))
        if self.reveal and not final and self.status != "error":
            n = len(self._steps)
            self.progress.value = (
                f'<span style="color:{R.FG_MUTED}">receiving step {n}…</span>' if n else "")
            for child in self.steps_box.children:
                child.layout.display = "none"
            self.answer.layout.display = "none"
        if self._reasoning:
            self.reasoning_html.value = _pre(self._reasoning)
            self.reasoning_box.layout.display = None
        self._render_header()

    def _sync_steps(self, steps: list[Any], final: bool) -> None:
        """Cards for new steps; only the open (last) step is re-rendered."""
        children = list(self.steps_box.children)
        n = len(steps)
        if n < len(self._step_cache):  # a new attempt (re-ask) started over
            children, self._step_cache = [], []
        # steps before the last are finished: render each once
        for i in range(len(self._step_cache), n):
            done = final or i < n - 1
            card = R.step_html(i + 1, steps[i], partial=not done)
            if i < len(children):
                children[i].value = card
            else:
                children.append(w.HTML(value=card, layout=w.Layout(width="100%")))
            if done:
                self._step_cache.append(card)
        if len(children) != len(self.steps_box.children):
            self.steps_box.children = tuple(children)  # replace, never append in place
        self._steps = list(steps)


def _pre(text: str, *, mono: bool = False) -> str:
    font = f"font-family:{R.MONO};" if mono else ""
    return (f'<pre style="{R.TEXT_STYLE}{font}max-height:24em;overflow:auto;margin:0;'
            f'color:{R.FG};background:{R.BG_SOFT};padding:0.5em">{html.escape(text)}</pre>')
