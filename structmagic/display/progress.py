"""The progress bar of many rows, or of a batch job: :class:`ProgressBar`.

tqdm's notebook bar is the model: one state (how many of how many, a line of text, an
aside such as the cost, a style), one text rendering (:attr:`ProgressBar.text`), one display
method (:meth:`ProgressBar.show`). Where a kernel runs, a composite of stock ipywidgets (an
``IntProgress``, an ``HTML`` line and an ``HTML`` aside hidden while empty) changed in place;
elsewhere the same text. Every text is escaped into the ``HTML`` values (job ids and model
names come from servers). Updates are throttled to one per ``min_interval`` seconds; the final
state is always shown; a bar that turned red (``danger``: a failure, an interrupt) stays red.
"""

from __future__ import annotations

import html
from typing import Any

from ..config import SYSTEM_CLOCK, Clock

__all__ = ["STYLES", "ProgressBar"]

#: the styles of ipywidgets' bars
STYLES = ("info", "success", "warning", "danger")


class ProgressBar:
    """``done`` of ``total``, a line of text and an aside, in a style; shown live where a
    kernel runs (``live``), else kept as :attr:`text`."""

    def __init__(self, title: str = "", *, live: bool, total: int = 0,
                 min_interval: float = 0.1, clock: Clock = SYSTEM_CLOCK) -> None:
        self.title = title
        self.live = live
        self.min_interval = min_interval
        self.clock = clock
        self.done, self.total = 0, total
        self.line = f"0/{total}" if total else "starting"
        self.aside = ""
        self.style = "info"
        self._last: float | None = None
        self.box: Any = None
        self.bar: Any = None
        self.label: Any = None
        self.aside_view: Any = None
        if live:
            import ipywidgets as w

            self.bar = w.IntProgress(value=0, min=0, max=max(total, 1), bar_style="info",
                                     layout=w.Layout(width="50%"))
            self.label = w.HTML(value=html.escape(self.headline))
            self.aside_view = w.HTML(value="", layout=w.Layout(display="none"))
            self.box = w.HBox([self.bar, self.label, self.aside_view])

    @property
    def headline(self) -> str:
        """The title and the line: ``invoice: 3/10 · 3 ok · 0 failed ...``."""
        return f"{self.title}: {self.line}" if self.title else self.line

    @property
    def text(self) -> str:
        """The bar as one line of text (what a terminal or a log shows)."""
        return f"{self.headline} {self.aside}" if self.aside else self.headline

    def __repr__(self) -> str:
        return f"<ProgressBar {self.text}>"

    def show(self) -> None:
        """Put the bar in the cell's output (nothing where no kernel runs)."""
        if self.box is not None:
            from IPython.display import display

            bundle = dict(self.box._repr_mimebundle_())
            bundle["text/plain"] = ""  # constant: saved notebooks and nbval stay stable
            display(bundle, raw=True)

    def update(self, done: int, total: int, line: str, *, aside: str = "",
               style: str | None = None, final: bool = False) -> None:
        """The new state; drawn at most every ``min_interval`` seconds, always when
        ``final``."""
        now = self.clock.monotonic()
        if not final and self._last is not None and now - self._last < self.min_interval:
            return
        self._last = now
        self.done, self.total, self.line, self.aside = done, total, line, aside
        if style is not None:
            self._style(style)
        self._draw()

    def note(self, text: str, *, style: str | None = None) -> None:
        """A last word after the line (interrupted, left the wait ...), always drawn."""
        self.line = f"{self.line} — {text}"
        if style is not None:
            self._style(style)
        self._draw()

    def _style(self, style: str) -> None:
        if style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, not {style!r}")
        if self.style != "danger":  # a failure stays visible
            self.style = style

    def _draw(self) -> None:
        if self.bar is None:
            return
        self.bar.max = max(self.total, 1)
        self.bar.value = min(self.done, self.bar.max)
        self.bar.bar_style = self.style
        self.label.value = html.escape(self.headline)
        self.aside_view.value = html.escape(self.aside)
        self.aside_view.layout.display = "" if self.aside else "none"
