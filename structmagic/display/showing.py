"""How a result-like object shows itself: its widget where a kernel runs, with a deterministic
``text/plain`` (for nbval and terminals) and self-contained, escaped ``text/html`` (for
exports) beside it; and how the magic shows a widget live while its call runs
(:func:`show_live`), then lets the final display take its place (:func:`stop_live`), or shows
a failure once (:func:`show_failed`)."""

from __future__ import annotations

from typing import Any

from .kernel import in_kernel
from .render import error_html, error_text, stopped_html

__all__ = ["ShowsWidget", "show_failed", "show_live", "stop_live"]

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


def show_live(widget: Any) -> Any:
    """Show ``widget`` while its call runs; the display handle."""
    from IPython.display import display

    bundle = dict(widget._repr_mimebundle_())
    bundle["text/plain"] = ""  # constant while live: nbval and saved notebooks stay stable
    return display(bundle, raw=True, display_id=True)


def stop_live(handle: Any) -> None:
    """Empty the live display (the final one takes its place)."""
    if handle is not None:
        handle.update({"text/plain": ""}, raw=True)


def show_failed(handle: Any, widget: Any, exc: BaseException) -> None:
    """The failed widget says it all: it is shown again with the error, the traceback is short.

    As on success, the live display is emptied and a final one takes its place: the widget
    with the error as ``text/html`` and ``text/plain`` too, for the frontends that draw no
    widget (an export without widget state, a console). A new display rather than an update
    of the live one, which nbval would not see. The exception is marked, so that IPython
    renders it as one short line instead of the same paragraph again (see
    ``StructuredError._render_traceback_``; an interrupt, ``CallInterrupted``, likewise, and
    shown as a muted line rather than an error). The cell still fails.
    """
    if handle is None:
        return
    from IPython.display import display

    stop_live(handle)
    bundle = dict(widget._repr_mimebundle_())
    stop = isinstance(exc, KeyboardInterrupt)  # the user's own stop: its words, no error
    bundle["text/plain"] = str(exc) if stop else error_text(exc)
    bundle["text/html"] = stopped_html(exc) if stop else error_html(exc)
    display(bundle, raw=True)
    exc._shown_in_widget = True  # type: ignore[attr-defined]
