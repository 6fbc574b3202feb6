"""How a result-like object shows itself: its widget where a kernel runs, with a deterministic
``text/plain`` (for nbval and terminals) and self-contained, escaped ``text/html`` (for
exports) beside it."""

from __future__ import annotations

from typing import Any

__all__ = ["ShowsWidget"]

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class ShowsWidget:
    """A mixin: the class gives ``_text()``, ``_repr_html_()``, ``widget(create=...)`` and a
    ``_shown_live`` flag (set by the magic when the live widget is already in the cell)."""

    _shown_live: bool

    def _text(self) -> str:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        raise NotImplementedError

    def widget(self, *, create: bool = True, reveal: bool = False) -> Any:
        raise NotImplementedError

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from .kernel import in_kernel

        bundle: dict[str, Any] = {"text/plain": self._text(), "text/html": self._repr_html_()}
        widget = self.widget(create=in_kernel())
        if widget is not None:
            view = widget.widget._repr_mimebundle_()
            if isinstance(view, dict) and _WIDGET_VIEW in view:
                bundle[_WIDGET_VIEW] = view[_WIDGET_VIEW]
        return bundle

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self._shown_live:
            # The magic already shows this object's live widget in this cell.
            self._shown_live = False
            return
        display(self._repr_mimebundle_(), raw=True)
