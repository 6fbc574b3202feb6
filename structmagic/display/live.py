"""A widget live in the cell while its work runs, then its final state: :class:`Live`.

What ``%%structured`` (one call, ``--compare``) and ``astructured(..., widget=True)`` show:
the widget is displayed and started at once, follows the work, and then either the final
display takes its place (:meth:`Live.finished`) or it keeps the failure in view
(:meth:`Live.failed`: an interrupt, a structmagic error shown once, or a bug whose traceback
stays).
"""

from __future__ import annotations

from typing import Any

from ..errors import CallInterrupted, StructuredError
from .showing import show_failed, show_live, stop_live

__all__ = ["Live"]


class Live:
    """``widget`` (a :class:`~.widget.StructuredWidget` or a comparison's) shown live."""

    def __init__(self, widget: Any) -> None:
        self.widget = widget
        self.handle = show_live(widget)
        widget.start()

    def finished(self, value: Any, *, keep: bool = False) -> None:
        """The work ended with ``value`` (a Result, a Comparison): the widget shows it, and
        ``value``'s own display takes the live one's place (``keep``: the live one stays,
        in its final state, where nothing else will show the value)."""
        self.widget.finish(value)
        value._widget = self.widget
        if not keep:
            stop_live(self.handle)

    def failed(self, exc: BaseException) -> None:
        """The widget stops and keeps the failure in view: our errors and the user's own
        stop (a :class:`~structmagic.CallInterrupted`: a neutral "interrupted" badge) shown
        once, in the widget, their traceback one short line."""
        if isinstance(exc, (StructuredError, CallInterrupted)):
            self.widget.fail(exc, partial=getattr(exc, "partial", None))
            show_failed(self.handle, self.widget, exc)
        elif isinstance(exc, KeyboardInterrupt):  # not ours: its own words, its traceback
            self.widget.fail(exc)
        else:  # a bug (or a cancelled task): the widget stops streaming, the traceback stays
            self.widget.fail(exc)

    def failed_with(self, error: BaseException) -> None:
        """The work ended, and what it gives is a failure (every model of a comparison
        failed): shown as :meth:`failed` shows one, after :meth:`finished`."""
        if isinstance(error, StructuredError):
            show_failed(self.handle, self.widget, error)
