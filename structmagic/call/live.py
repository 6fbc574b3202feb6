"""Live partial values while a stream arrives: for ``on_partial`` and the widget.

:class:`PartialReporter` feeds every streamed piece of text to the incremental parser
(:mod:`structmagic.call.partial`, linear in the answer) but takes and reports partial values at
most every ``min_interval`` seconds, and once more at the end (:meth:`flush`): a notebook
cannot show more than that anyway, and it keeps the streaming path close to the cost of
merely receiving the stream. It runs on the thread that reads the stream (a worker, when
the call was made on the main thread); what it reports goes through its
:class:`~structmagic.transport.work.Relay`, so ``on_partial`` and the widget are called on the
thread that made the call.

When a tool call comes (a forced tool), its input is the answer and the prose before it is
not: the parser starts again on the first call's input pieces, and text is no longer fed.
The final value is read from the whole answer (the call named like the schema's tool, else
the first), so a partial value may follow another call than the final one in the rare
answer with several.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from ..providers.base import Delta
from ..transport.work import Relay
from .partial import MISSING, PartialJSONError, PartialJSONParser

__all__ = ["Observer", "PartialReporter"]


class Observer(Protocol):
    """What the widget implements to follow a call (``restart`` is optional)."""

    def update(self, partial: Any, *, reasoning: str | None = ..., usage: Any = ...) -> None: ...


class PartialReporter:
    """Feeds streamed deltas to the partial parser and reports partial values."""

    min_interval = 0.005

    def __init__(self, on_partial: Callable[[Any], None] | None,
                 observer: Observer | None, relay: Relay | None = None) -> None:
        self._parser = PartialJSONParser(skip_prefix=True)
        self._broken = False
        self._fed_text = False  # prose went to the parser (before any tool call)
        self._following = False  # a tool call's input is followed: text no longer is
        self._call: str | int | None = None  # the key of the call followed
        self._on_partial = on_partial
        self._observer = observer
        #: how ``on_partial`` and the observer are called: on the thread waiting for the
        #: request (the main thread), though the stream is read and parsed on a worker
        self.relay = relay or Relay()
        self._reasoning: list[str] = []
        self._usage: dict[str, int] | None = None
        self._pending = False
        self._next = 0.0
        #: the last partial value reported (None before any)
        self.last: Any = None

    def __call__(self, deltas: list[Delta]) -> None:
        for d in deltas:
            if d.choice:  # another answer of a request that asked for several: not shown
                continue
            if d.tool:
                if not self._following:
                    self._following, self._call = True, d.call
                    if self._fed_text:  # the prose before the call is not the answer
                        self._parser = PartialJSONParser(skip_prefix=True)
                        self._broken = False
                if d.call == self._call:
                    self._feed(d.tool)
            elif d.text and not self._following:
                self._fed_text = True
                self._feed(d.text)
            if d.reasoning:
                self._reasoning.append(d.reasoning)
                self._pending = True
            if d.usage:
                self._usage = d.usage
        if self._pending:
            now = time.monotonic()
            if now >= self._next:
                self._next = now + self.min_interval
                self._report()

    def _feed(self, text: str) -> None:
        if self._broken:
            return
        try:
            self._parser.feed(text)
            self._pending = True
        except PartialJSONError:
            self._broken = True  # prose around JSON: the final read recovers it

    def flush(self) -> None:
        """Report the last partial value if one is waiting."""
        if self._pending:
            self._report()

    def _report(self) -> None:
        self._pending = False
        value = self._parser.snapshot()
        if value is MISSING:
            value = None
        else:
            self.last = value
            if self._on_partial is not None:
                self.relay.call(self._on_partial, value)
        if self._observer is not None:
            reasoning = "".join(self._reasoning) if self._reasoning else None
            self.relay.call(self._observer.update, value, reasoning=reasoning,
                            usage=self._usage)
