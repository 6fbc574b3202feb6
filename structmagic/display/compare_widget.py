"""The side-by-side widget of a comparison: one steps widget per model, in columns, and the
final answers in one grid.

::

    widget (VBox, class "structmagic-comparison")
    ├── header   HTML: the schema name and the models
    ├── row      GridBox: one StructuredWidget per model, in columns of equal width (each
    │            with a one-line header: the model's label, status and its own time, the
    │            model, tokens and cost on hover; steps streaming in; its answer while it
    │            streams; the error, kept)
    ├── answers  HTML (once finished): the final answers in one grid, a row per field and a
    │            column per model, so that a field sits at the same height for every model;
    │            differing fields marked (readable in both themes)
    ├── nav      HBox: Previous / Next / Show all (reveal mode: every column in lockstep;
    │            the answers show with the last step), and "step 3 of 6"
    └── note     HTML: the fields on which the answers differ

Each column follows its own model's stream (:meth:`ComparisonWidget.observer`); every model
string is escaped in the kernel, as in the steps widget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..config import SYSTEM_CLOCK, Clock
from . import render as R
from .widget import StructuredWidget, position_html, reveal_buttons, root_bundle

__all__ = ["ComparisonWidget"]


class ComparisonWidget:
    """Live view of a comparison: :meth:`start`, columns follow their streams, :meth:`finish`."""

    def __init__(self, targets: Sequence[Any], *, title: str, steps_field: str | None = None,
                 reveal: bool = False, labels: Mapping[str, str] | None = None,
                 min_interval: float = 0.05,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        import ipywidgets as w

        self.title = title
        self.reveal = reveal
        self.labels = dict(labels or {})
        self.columns: dict[str, StructuredWidget] = {
            t.label: StructuredWidget(title=t.label, model=t.model, steps_field=steps_field,
                                      reveal=reveal, labels=labels, min_interval=min_interval,
                                      clock=clock, compact=True)
            for t in targets}
        for column in self.columns.values():
            column.widget.layout.min_width = "0"
        self.revealed = 0
        self.header = w.HTML(value=(
            f'<div style="{R.BLOCK}color:{R.FG};font-weight:600">{R.esc(title)}'
            f'<span style="font-weight:400;color:{R.FG_MUTED}"> · '
            f'{R.esc(R.plural(len(self.columns), "model"))}</span></div>'))
        self.row = w.GridBox(
            [c.widget for c in self.columns.values()],
            layout=w.Layout(width="100%", align_items="flex-start", grid_gap="0 0.8em",
                            grid_template_columns=f"repeat({len(self.columns)}, minmax(0, 1fr))"))
        self.answers = w.HTML(layout=w.Layout(width="100%", display="none"))
        self.nav, (self.prev_button, self.next_button, self.all_button) = reveal_buttons(
            lambda: self.show_step(self.revealed - 1), lambda: self.show_step(self.revealed + 1),
            lambda: self.show_step(self.steps()))
        self.position = w.HTML()  # reveal mode: "step 3 of 6"
        self.nav.children = (*self.nav.children, self.position)
        self.note = w.HTML()
        self.widget = w.VBox([self.header, self.row, self.answers, self.nav, self.note],
                             layout=w.Layout(width="100%"))
        self.widget.add_class("structmagic-comparison")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return root_bundle(self, **kwargs)

    def __repr__(self) -> str:
        states = ", ".join(f"{k}: {c.status}" for k, c in self.columns.items())
        return f"<ComparisonWidget {self.title}: {states}>"

    def start(self) -> None:
        for column in self.columns.values():
            column.start()

    def observers(self) -> dict[str, StructuredWidget]:
        """Each model's column, which follows its stream, by the model's label."""
        return dict(self.columns)

    def finish(self, comparison: Any) -> None:
        """Every model's final state, and the fields on which the answers differ."""
        for label, result in comparison.results.items():
            column = self.columns[label]
            if result.error is None:
                column.finish(result)
            else:  # its own time, not the slowest model's
                column.fail(result.error, elapsed=result.elapsed or None)
        differ = comparison.disagreements()
        for column in self.columns.values():
            column.mark_differences(differ)
            if self.reveal:
                column.nav.layout.display = "none"  # one set of buttons drives every column
        self.answers.value = R.comparison_table_html(comparison.results, self.labels, differ)
        self.answers.layout.display = None if self.answers.value and not self.reveal else "none"
        if differ:
            shown = ", ".join(R.label_for(k, self.labels) for k in differ)
            self.note.value = (f'<div style="{R.BLOCK}color:{R.WARN}">Answers differ on: '
                               f"{R.esc(shown)}</div>")
        if self.reveal and self.steps():
            self.nav.layout.display = None
            self.show_step(1)

    def fail(self, error: BaseException, *, partial: Any = None) -> None:
        """The whole comparison failed (an interrupt): every column still running shows it
        (``partial`` is not used: each column keeps what its own stream brought)."""
        for column in self.columns.values():
            if column.status in ("waiting", "streaming"):
                column.fail(error)

    def steps(self) -> int:
        """The most steps any column has."""
        return max((len(c.step_widgets) for c in self.columns.values()), default=0)

    def show_step(self, k: int) -> None:
        """Reveal steps 1..k in every column at once (each clamps to its own steps)."""
        n = self.steps()
        k = max(1 if n else 0, min(k, n))
        self.revealed = k
        for column in self.columns.values():
            if column.status == "done":
                column.show_step(k)
                column.nav.layout.display = "none"
        self.prev_button.disabled = k <= 1
        self.next_button.disabled = k >= n
        self.all_button.disabled = k >= n
        self.position.value = position_html(k, n)  # "step 3 of 6"
        self.answers.layout.display = None if self.answers.value and k >= n else "none"
