"""How sure the model was of each value: bars beside the values, the lowest named at the top.
Pure, stdlib only.

A result with ``confidence`` (each leaf path's probability, :attr:`Result.confidence`) or
``agreement`` (each leaf path's share of the samples that gave the accepted value,
:attr:`Result.agreement`) shows, in its static HTML (:func:`structmagic.display.render.
result_html`) and its widget:

- beside each value, wherever the view shows it (the tree, a step card, a row of the table,
  the final answer), a small bar and its figure (:meth:`Gauges.beside`): ``42%`` for a
  confidence, ``2/3`` for an agreement of 3 samples; under :data:`LOW` the bar turns
  :data:`BAR_LOW` and the figure bold (class ``structmagic-low``), so the weak values catch
  the eye; the tooltip says what the figure is ("confidence 42%", "2 of 3 samples agree");
- under the title, one line per measure naming the :data:`LOWEST` lowest values
  (:func:`notes_html`): ``lowest confidence: lines[0].qty 42% · total 61% · invoice_no 97%``;
  or, when confidence was asked for and the server gave none, one muted line saying why:
  ``confidence: not available — Claude's Messages API gives no log-probabilities.``;
- beside the title, the row's ``doubt`` as a small badge (:func:`doubt_badge`), only when
  confidence or agreement is known, in the warning colour above ``1 - LOW``;
- below the answer, when there are more values than the line names, a collapsed table of
  the values, lowest first (:func:`table_html`: path, value, a bar per measure), at most
  :data:`AT_MOST` rows and "… 180 more".

Paths are written as :mod:`structmagic.grounding.paths` writes them (``lines[0].qty``,
``lines[0]["unit price"]``, ``$``, ``[0].name``). Figures are floored (``0.999`` is 99%:
never more sure than the model was). Nothing of this reaches ``text/plain``.

Colours: a bar is drawn whole in plain hex colours (no theme variable), so it looks the same
in the widget, an export and an untrusted notebook (whose sanitizer drops every style value
that uses ``var()``), on a light page or a dark one: a light track (:data:`BAR_TRACK`) with a
grey edge (:data:`BAR_EDGE`), filled in blue (:data:`BAR_FILL`) or, under :data:`LOW`, deep
orange (:data:`BAR_LOW`). The fill reads on the track (contrast 3.3:1 at least), and the bar
on the page: by its edge on light pages (3.5:1 on #e0e0e0 and lighter), by its track on dark
ones (7.6:1 on #424242 and darker). No colour could do both alone: none keeps 3:1 with both
JupyterLab's light ``#eeeeee`` and its dark ``#424242``. The figures' text colours are
theme variables, as elsewhere.

Safety: paths, values and reasons are model-written or come from the call: every one is
escaped (:func:`structmagic.display.markup.esc`) into our own templates; no script, no link,
nothing loaded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..grounding.paths import leaves, path_of
from .markup import (
    BLOCK,
    BORDER,
    FG,
    FG_MUTED,
    TEXT_STYLE,
    WARN,
    badge,
    edge,
    esc,
    plural,
    scalar,
)

__all__ = [
    "AT_MOST",
    "BAR_EDGE",
    "BAR_FILL",
    "BAR_LOW",
    "BAR_TRACK",
    "LOW",
    "LOWEST",
    "Gauges",
    "doubt_badge",
    "gauges_of",
    "notes_html",
    "percent",
    "table_html",
]

#: a value whose confidence or agreement is under this is marked (the bar in BAR_LOW)
LOW = 0.5
#: how many of the lowest values the line under the title names
LOWEST = 3
#: the most rows the table of values shows ("… N more" after them)
AT_MOST = 20
#: a bar's fill (contrast 3.5 on the track)
BAR_FILL = "#1976d2"
#: the fill of a bar under LOW (contrast 3.4 on the track)
BAR_LOW = "#d84315"
#: a bar's track, its empty part (contrast 7.6 on #424242, 12.2 on #212121)
BAR_TRACK = "#e0e0e0"
#: a bar's edge (contrast 4.6 on white, 4.0 on #eeeeee, 3.5 on the track)
BAR_EDGE = "#757575"
#: the doubt badge's tooltip
DOUBT_TIP = ("how much to doubt this answer, 0 to 1: its weakest value, or the strongest "
             "other reason (a re-ask, values not found)")
#: the longest value the table shows whole (longer ones are cut, "…" after)
VALUE_CHARS = 60

_TRACK = (f"display:inline-block;width:2.5em;height:0.55em;background:{BAR_TRACK};"
          f"border:1px solid {BAR_EDGE};border-radius:2px;margin:0 0.3em 0 0.5em;"
          "vertical-align:middle;overflow:hidden")
_CELL = "padding:0.1em 0.6em;vertical-align:top;text-align:left;"


def percent(share: float) -> int:
    """A share in [0, 1] as a whole percentage, floored (0.999 → 99, 0.29 → 29)."""
    return math.floor(share * 100 + 1e-9)


def _share(value: Any) -> float | None:
    """A finite number clamped to [0, 1]; None for anything else (not shown)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return min(1.0, max(0.0, number)) if math.isfinite(number) else None


def _clean(scores: Mapping[Any, Any] | None) -> dict[str, float]:
    """The readable entries of a path → share map (a path as text, a share in [0, 1])."""
    out: dict[str, float] = {}
    for path, value in (scores or {}).items():
        share = _share(value)
        if share is not None:
            out[str(path)] = share
    return out


class Gauges:
    """What is known of one answer's values: ``confidence`` and ``agreement`` by path (either
    may be empty), and how many ``samples`` the agreement was read from. False when both are
    empty."""

    def __init__(self, confidence: Mapping[Any, Any] | None = None,
                 agreement: Mapping[Any, Any] | None = None, samples: int = 1) -> None:
        self.confidence = _clean(confidence)
        self.agreement = _clean(agreement)
        self.samples = samples if isinstance(samples, int) and samples > 0 else 1
        self._measures = [(name, scores) for name, scores in (
            ("confidence", self.confidence), ("agreement", self.agreement)) if scores]

    def __bool__(self) -> bool:
        return bool(self._measures)

    def measures(self) -> list[tuple[str, dict[str, float]]]:
        """The measures known, in the order shown: ``[("confidence", {...}), ...]``."""
        return list(self._measures)

    # --- one figure ---------------------------------------------------------------------------

    def figure(self, measure: str, share: float) -> str:
        """The figure shown: ``42%``; an agreement of K samples as ``2/3``."""
        agree = self._agreeing(measure, share)
        return f"{agree}/{self.samples}" if agree is not None else f"{percent(share)}%"

    def tip(self, measure: str, share: float) -> str:
        """The tooltip: ``confidence 42%``, ``2 of 3 samples agree``."""
        agree = self._agreeing(measure, share)
        if agree is not None:
            return f"{agree} of {self.samples} samples agree"
        return f"{measure} {percent(share)}%"

    def _agreeing(self, measure: str, share: float) -> int | None:
        """How many of the samples agree, when the share is a whole number of them."""
        if measure != "agreement" or self.samples < 2:
            return None
        count = share * self.samples
        return round(count) if abs(count - round(count)) < 1e-6 else None

    def gauge(self, measure: str, share: float) -> str:
        """A bar and its figure: ``[████░░] 42%``, marked under :data:`LOW`."""
        low = share < LOW
        fill = BAR_LOW if low else BAR_FILL
        mark = ' class="structmagic-gauge structmagic-low"' if low else (
            ' class="structmagic-gauge"')
        figure = (f'<b style="color:{WARN}">{esc(self.figure(measure, share))}</b>' if low
                  else f'<span style="color:{FG_MUTED}">{esc(self.figure(measure, share))}'
                       "</span>")
        return (f'<span{mark} title="{esc(self.tip(measure, share))}" '
                f'style="white-space:nowrap;font-size:85%">'
                f'<span class="structmagic-bar" style="{_TRACK}">'
                f'<span style="display:block;height:100%;width:{percent(share)}%;'
                f'background:{fill}"></span></span>{figure}</span>')

    def beside(self, parts: Sequence[str | int]) -> str:
        """The gauges of the value at ``parts`` (keys and indexes from the root): one per
        measure known for its path; ``""`` when none is."""
        path = path_of(parts)
        return "".join(self.gauge(name, scores[path]) for name, scores in self._measures
                       if path in scores)

    # --- the lowest -----------------------------------------------------------------------------

    def ranked(self, value: Any) -> list[tuple[str, float]]:
        """Every path with a score, lowest first (its lowest measure), ties in the answer's
        order (paths not in the answer after those that are, in their maps' order)."""
        order = {path: i for i, (path, _) in enumerate(leaves(value))}
        paths = list(order) + [p for _, scores in self.measures() for p in scores
                               if p not in order]
        lowest: dict[str, float] = {}
        for path in paths:
            scores = [s[path] for _, s in self.measures() if path in s]
            if scores and path not in lowest:
                lowest[path] = min(scores)
        return sorted(lowest.items(), key=lambda item: item[1])  # stable: ties keep order

    def lowest_html(self) -> str:
        """One line per measure naming its :data:`LOWEST` lowest values, those under
        :data:`LOW` in the warning colour."""
        lines = []
        for name, scores in self.measures():
            worst = sorted(scores.items(), key=lambda item: item[1])[:LOWEST]
            of = (f" of {plural(self.samples, 'sample')}"
                  if name == "agreement" and self.samples > 1 else "")
            items = " · ".join(
                f'<span title="{esc(self.tip(name, share))}"><code>{esc(path)}</code> '
                + (f'<b style="color:{WARN}">{esc(self.figure(name, share))}</b>'
                   if share < LOW else esc(self.figure(name, share)))
                + "</span>" for path, share in worst)
            lines.append(f'<div class="structmagic-lowest" style="{BLOCK}color:{FG};'
                         f'{TEXT_STYLE}"><span style="color:{FG_MUTED}">lowest {name}{of}:'
                         f"</span> {items}</div>")
        return "".join(lines)


def gauges_of(result: Any) -> Gauges | None:
    """The :class:`Gauges` of a result (its ``confidence``, ``agreement`` and ``samples``);
    None when neither measure is known."""
    gauges = Gauges(getattr(result, "confidence", None), getattr(result, "agreement", None),
                    getattr(result, "samples", 1))
    return gauges if gauges else None


def notes_html(result: Any) -> str:
    """The lines under a result's title: its lowest values per measure
    (:meth:`Gauges.lowest_html`), and, when confidence was asked for but not given, the
    muted "confidence: not available — <reason>" line; ``""`` when there is neither."""
    gauges = gauges_of(result)
    markup = gauges.lowest_html() if gauges is not None else ""
    reason = getattr(result, "confidence_reason", None)
    if getattr(result, "confidence", None) is None and isinstance(reason, str) and reason:
        markup += (f'<div class="structmagic-no-confidence" style="{BLOCK}color:{FG_MUTED};'
                   f'{TEXT_STYLE}">confidence: not available — {esc(reason)}</div>')
    return markup


def doubt_badge(result: Any) -> str:
    """The result's ``doubt`` as a small badge (``doubt 0.58``), in the warning colour above
    ``1 - LOW`` (a value under :data:`LOW`, or as much reason to doubt); ``""`` unless
    confidence or agreement is known."""
    if gauges_of(result) is None:
        return ""
    try:
        doubt = _share(getattr(result, "doubt", None))
    except (TypeError, ValueError):  # a map holding something not a number: no badge
        return ""
    if doubt is None:
        return ""
    return badge(f"doubt {doubt:.2f}", WARN if doubt > 1 - LOW else FG_MUTED,
                 title=DOUBT_TIP, name="structmagic-doubt")


def _value_text(value: Any) -> str:
    """A value as the table shows it: its text, cut after :data:`VALUE_CHARS` characters."""
    text = scalar(value)
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS - 1] + "…"


def table_html(result: Any) -> str:
    """A collapsed table of the result's values, lowest first: the path, the value and a
    gauge per measure, at most :data:`AT_MOST` rows and "… N more"; ``""`` when no measure
    is known or the line under the title already names every value."""
    gauges = gauges_of(result)
    if gauges is None:
        return ""
    value = getattr(result, "plain", None)
    ranked = gauges.ranked(value)
    if len(ranked) <= LOWEST:
        return ""
    found = dict(leaves(value))
    measures = gauges.measures()
    head = "".join(f'<th scope="col" style="{_CELL}color:{FG_MUTED}">{name.capitalize()}</th>'
                   for name, _ in measures)
    line = _CELL + edge("border-top", "1px solid", BORDER)
    rows = []
    for path, _ in ranked[:AT_MOST]:
        shown = (f'<span style="{TEXT_STYLE}">{esc(_value_text(found[path]))}</span>'
                 if path in found else "")
        cells = "".join(f'<td style="{line}white-space:nowrap">'
                        + (gauges.gauge(name, scores[path]) if path in scores else "")
                        + "</td>" for name, scores in measures)
        rows.append(f'<tr><td style="{line}"><code style="{TEXT_STYLE}">{esc(path)}</code>'
                    f'</td><td style="{line}">{shown}</td>{cells}</tr>')
    more = len(ranked) - AT_MOST
    if more > 0:
        rows.append(f'<tr><td colspan="{2 + len(measures)}" style="{_CELL}color:{FG_MUTED}">'
                    f"… {more} more</td></tr>")
    what = " and ".join(name for name, _ in measures)
    count = (f"the {AT_MOST} lowest of {len(ranked)} values" if more > 0
             else f"all {len(ranked)} values, lowest first")
    return (f'<details class="structmagic-confidence" style="{BLOCK}margin:0.3em 0;'
            f'color:{FG}"><summary style="cursor:pointer;color:{FG_MUTED}">'
            f"{what.capitalize()} by value: {count}</summary>"
            f'<div style="overflow-x:auto"><table style="border-collapse:collapse;'
            f'color:{FG}"><thead><tr><th scope="col" style="{_CELL}color:{FG_MUTED}">Path</th>'
            f'<th scope="col" style="{_CELL}color:{FG_MUTED}">Value</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div></details>')
