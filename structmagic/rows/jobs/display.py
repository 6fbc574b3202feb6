"""The progress bar of a batch job: status, done / failed / total, elapsed, expected cost.

A composite of stock ipywidgets where a kernel runs (an ``IntProgress``, an ``HTML`` line,
and an ``HTML`` cost slot that stays hidden until a cost is known — see
:mod:`structmagic.rows.jobs.pricing`), plain text elsewhere. Every text is escaped into the
``HTML`` values (job ids and model names come from the server). Updates are throttled to
one per ``min_interval`` seconds; the final state is always shown.
"""

from __future__ import annotations

import html
import time
from typing import Any

from ...cost.calc import money
from .job import BatchStatus

__all__ = ["JobBar"]

_STYLE = {"completed": "success", "failed": "danger", "expired": "warning",
          "cancelled": "warning"}


class JobBar:
    """Follows a :class:`~structmagic.rows.jobs.BatchJob` (pass :meth:`update` as
    ``on_status``)."""

    def __init__(self, *, title: str, live: bool, min_interval: float = 0.5) -> None:
        self.title = title
        self.live = live
        self.min_interval = min_interval
        self._last = 0.0
        self.text = f"{title}: submitting"
        self.box: Any = None
        self.bar: Any = None
        self.label: Any = None
        self.cost: Any = None
        if live:
            import ipywidgets as w

            self.bar = w.IntProgress(value=0, min=0, max=1, bar_style="info",
                                     layout=w.Layout(width="40%"))
            self.label = w.HTML(value=html.escape(self.text))
            self.cost = w.HTML(value="", layout=w.Layout(display="none"))
            self.box = w.HBox([self.bar, self.label, self.cost])

    def __repr__(self) -> str:
        return f"<JobBar {self.text}>"

    def show(self) -> None:
        if self.box is not None:
            from IPython.display import display

            bundle = dict(self.box._repr_mimebundle_())
            bundle["text/plain"] = ""  # constant: saved notebooks and nbval stay stable
            display(bundle, raw=True)

    def update(self, status: BatchStatus, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and not status.ended and now - self._last < self.min_interval:
            return
        self._last = now
        self.text = status.line()
        if self.bar is None:
            return
        self.bar.max = max(status.total, 1)
        self.bar.value = min(status.done + status.failed, self.bar.max)
        if status.ended:
            self.bar.bar_style = _STYLE.get(status.status, "info")
        counts = status.line() if status.cost is None else status.line().rsplit(" · ", 1)[0]
        self.label.value = html.escape(counts)
        if status.cost is not None:
            what = "expected ≥" if status.cost_estimated else "cost"
            self.cost.value = html.escape(f"· {what} {money(status.cost)}")
            self.cost.layout.display = ""

    def note(self, text: str, *, style: str | None = None) -> None:
        """A last word after the counts (left the wait, re-running rows ...)."""
        self.text = f"{self.text} — {text}"
        if self.label is not None:
            self.label.value = html.escape(self.text)
            if style:
                self.bar.bar_style = style
