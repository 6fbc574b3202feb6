"""A progress bar for batches: done / failed / in flight, rate and tokens.

Built from stock ipywidgets (an ``IntProgress`` and an ``HTML`` line) where a kernel runs,
plain text lines elsewhere. Updates are throttled; the final state is always shown.
"""

from __future__ import annotations

import html
import time
from typing import Any

__all__ = ["BatchBar"]


class BatchBar:
    """Follows a :class:`structmagic.batch.BatchProgress` (pass :meth:`update` as on_progress)."""

    def __init__(self, total: int, *, title: str, live: bool, min_interval: float = 0.1) -> None:
        self.total = total
        self.title = title
        self.live = live
        self.min_interval = min_interval
        self._last = 0.0
        self.text = f"{title}: 0/{total}"
        self.bar: Any = None
        self.label: Any = None
        self.box: Any = None
        if live:
            import ipywidgets as w

            self.bar = w.IntProgress(value=0, min=0, max=max(total, 1), description="",
                                     bar_style="info", layout=w.Layout(width="60%"))
            self.label = w.HTML(value=html.escape(self.text))
            self.box = w.HBox([self.bar, self.label])

    def __repr__(self) -> str:
        return f"<BatchBar {self.text}>"

    def show(self) -> None:
        if self.box is not None:
            from IPython.display import display

            bundle = dict(self.box._repr_mimebundle_())
            bundle["text/plain"] = ""
            display(bundle, raw=True)

    def update(self, progress: Any, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < self.min_interval:
            return
        self._last = now
        self.text = f"{self.title}: {progress.line()}"
        if self.bar is not None:
            self.bar.value = progress.finished
            self.label.value = html.escape(self.text)
            if final:
                self.bar.bar_style = "success" if progress.failed == 0 else "warning"

    def interrupted(self, progress: Any) -> None:
        self.update(progress, final=True)
        self.text += " — interrupted"
        if self.bar is not None:
            self.bar.bar_style = "danger"
            self.label.value = html.escape(self.text)
