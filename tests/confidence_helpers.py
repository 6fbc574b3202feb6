"""Reading the confidence bars back out of our HTML, for the render and widget tests.

:func:`gauges_in` parses markup (as a browser would, with no regular expression over the
template) and gives every gauge (a bar and its figure, :mod:`structmagic.display.confidence`)
in document order: its tooltip, its figure, how full its bar is, its fill colour and whether
it is marked low. :func:`answer_of` builds a :class:`~structmagic.Result` by hand, as the
brief's tests do.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from structmagic.call.result import Result

__all__ = ["Gauge", "answer_of", "gauges_in", "outside_table"]


@dataclass
class Gauge:
    title: str
    figure: str
    width: int  # the fill's width, in percent of the bar
    fill: str  # the fill's colour
    low: bool  # class structmagic-low


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[Gauge] = []
        self._open: list[bool] = []  # per open <span>/<b>: whether it is a gauge
        self._gauge: Gauge | None = None
        self._depth = 0  # open spans and bolds inside the current gauge

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if self._gauge is None and "structmagic-gauge" in classes:
            self._gauge = Gauge(found.get("title") or "", "", -1, "",
                                "structmagic-low" in classes)
            self._depth = 1
            return
        if self._gauge is not None:
            self._depth += 1
            style = found.get("style") or ""
            width = re.search(r"(?:^|;)width:(\d+)%", style)
            fill = re.search(r"background:(#[0-9a-fA-F]{6})", style)
            if width and fill:
                self._gauge.width, self._gauge.fill = int(width[1]), fill[1]

    def handle_endtag(self, tag: str) -> None:
        if self._gauge is not None:
            self._depth -= 1
            if self._depth == 0:
                self._gauge.figure = self._gauge.figure.strip()
                self.found.append(self._gauge)
                self._gauge = None

    def handle_data(self, data: str) -> None:
        if self._gauge is not None:
            self._gauge.figure += data


def gauges_in(markup: str) -> list[Gauge]:
    """Every gauge in ``markup``, in document order."""
    reader = _Reader()
    reader.feed(markup)
    reader.close()
    return reader.found


def outside_table(markup: str) -> str:
    """``markup`` up to the table of values (``<details class="structmagic-confidence">``):
    the answer as shown, with the bars beside its values."""
    return markup.split('<details class="structmagic-confidence"', 1)[0]


def answer_of(value: Any, **kw: Any) -> Result:
    """A Result of ``value`` built by hand (``confidence=...``, ``agreement=...`` …)."""
    kw.setdefault("model", "m")
    kw.setdefault("schema_name", "invoice")
    return Result(data=value, plain=value, raw=json.dumps(value), **kw)
