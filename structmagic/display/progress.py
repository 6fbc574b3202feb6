"""The progress bar of many rows, or of a batch job: :class:`ProgressBar`, the one bar.

tqdm's notebook bar is the model: one state (how many of how many, a line of text, an
aside such as the cost, a style), one text rendering (:attr:`ProgressBar.text`), one display
method (:meth:`ProgressBar.show`). Where a kernel runs, a composite of stock ipywidgets (an
``IntProgress`` of a fixed, narrow width and one ``HTML`` line beside it, taking the rest:
the line and the aside in one text, on one line where it fits, wrapping between words
where it does not) changed in place; elsewhere the same text. Every text is escaped into
the ``HTML`` value (job ids and model names come from servers). Updates are throttled to one
per ``min_interval`` seconds; the final state is always shown; a bar that turned red
(``danger``: a failure, an interrupt) stays red. :func:`ended_style` is the colour of every
bar's end: green when every row is done, amber when some failed (rows or a job's lines
alike), red for a job that failed.
"""

from __future__ import annotations

from typing import Any

from ..config import SYSTEM_CLOCK, Clock
from .markup import BLOCK, FG, esc

__all__ = ["BAR_WIDTH", "STYLES", "ProgressBar", "ended_style"]

#: the styles of ipywidgets' bars
STYLES = ("info", "success", "warning", "danger")
#: the bar's own width: the line beside it takes the rest of the row
BAR_WIDTH = "12em"
#: the line's style: the line height of our other blocks, wrapped between words only
LINE_STYLE = f"{BLOCK}color:{FG};white-space:normal;overflow-wrap:normal;word-break:normal"


def ended_style(failed: int, *, stopped: int = 0, status: str = "completed") -> str:
    """The style a bar ends in: ``success`` when every row is done, ``warning`` when some
    ``failed`` (or a budget ``stopped`` some, or a job ``expired`` / was ``cancelled``),
    ``danger`` when a job ``failed`` as a whole."""
    if status == "failed":
        return "danger"
    if failed or stopped or status in ("expired", "cancelled"):
        return "warning"
    return "success"


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
        if live:
            import ipywidgets as w

            self.bar = w.IntProgress(value=0, min=0, max=max(total, 1), bar_style="info",
                                     layout=w.Layout(width=BAR_WIDTH, flex="none"))
            self.label = w.HTML(value=self._label_html(),
                                layout=w.Layout(flex="1 1 auto", min_width="0",
                                                margin="0 0 0 0.6em"))
            self.box = w.HBox([self.bar, self.label],
                              layout=w.Layout(width="100%", align_items="center"))
            self.box.add_class("structmagic-progress")

    @property
    def headline(self) -> str:
        """The title and the line: ``invoice: 3/10 · 3 ok · 0 failed ...``."""
        return f"{self.title}: {self.line}" if self.title else self.line

    @property
    def text(self) -> str:
        """The bar as one line of text (what a terminal or a log shows, and the widget's
        line): the headline, then the aside after a ``·``."""
        return f"{self.headline} · {self.aside}" if self.aside else self.headline

    def _label_html(self) -> str:
        return f'<div style="{LINE_STYLE}">{esc(self.text)}</div>'

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
        self.label.value = self._label_html()
