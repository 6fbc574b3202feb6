"""Where each value came from: an answer's values beside their source text, each found value
linked to its place and back. Pure, stdlib only.

:func:`grounded_html` renders a result's grounding (``result.grounding``: a
:class:`~structmagic.grounding.Grounding` per leaf value's path, over ``result.source``) as
self-contained, deterministic HTML with no script::

    div.structmagic-grounded
    ├── <style>     GROUNDED_CSS, a constant: the :target outline and flash, scroll margins
    ├── head        "Where the values are in the source" · the summary ("7 of 9 found …")
    └── body        (side by side; stacked on a narrow page)
        ├── <dl>    the values, in the grounding's order, a box that scrolls inside itself:
        │           <div id="{uid}-f{k}"><dt><b>Lines[0].qty</b></dt>
        │           <dd><a href="#{uid}-s{k}">3</a> <small>exact</small> page 2</dd></div>
        │           (a value not found is bold "not found in the source", never hidden)
        └── source  a box that scrolls inside itself (max-height 24em): per page a header
                    ("page 3"; "b.pdf · page 3" when the pages come from several documents)
                    and a <pre> of the text, each found span
                    <a href="#{uid}-f{k}"><mark id="{uid}-s{k}" title="Lines[0].qty">3</mark></a>
                    in its field's colour; "… 12,345 characters …" between the windows of a
                    source longer than LONG_SOURCE characters

Clicking needs no JavaScript: a value is a fragment link to its span, a span a fragment link
back to its value. Following one, the browser scrolls every scrolling box around the target
(the source box, then the notebook or the page) to show it, and the scoped ``:target`` rules
of :data:`GROUNDED_CSS` outline it and flash it once. This works in the widget (an ipywidgets
``HTML`` value is set as it is) and in an exported page, JavaScript on or off. Where the
``<style>`` is stripped (JupyterLab's sanitizer drops it from untrusted output, with every
style value using ``var()``, and keeps each ``id`` as ``data-jupyter-id``, which its own
fragment handling scrolls to), the links still scroll, without the outline and the flash,
and the structure still reads: a ``<dl>`` of bold labels, the spans in ``<mark>`` elements in
their own colours (plain hex values, which the sanitizer keeps), ``<pre>`` text.

Overlapping and shared spans are cut into segments at every start and end; a segment is
one ``<mark>`` whose title lists every field on it, in the colour of the innermost field
(striped with the next one's), linked to that field. A field's ``id`` is on the first
segment of its span (several fields starting there: nested ``<mark>`` elements, one id each).

``uid`` (the ids' prefix) is a hash of the content and a per-process counter: two renderings
on one page never share ids, and a notebook re-run in the same order renders the same.

Colours: each found field takes the next colour of :data:`PALETTE`, light backgrounds with
:data:`MARK_TEXT` set explicitly on every mark, so the marks read the same in JupyterLab's
light and dark themes (contrast well over 4.5:1, see :func:`contrast`).

Safety: every value, label, path and the source text are escaped into our own templates
(:func:`structmagic.display.markup.esc`, as everywhere), lone surrogates and NUL shown as
U+FFFD; the only links are our own ``#{uid}-…`` fragments, the only ids ours, the
``<style>`` a constant. Nothing is loaded.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..grounding.record import Grounding, Source
from . import markup as M

__all__ = [
    "CONTEXT",
    "FLASH",
    "GROUNDED_CLASS",
    "GROUNDED_CSS",
    "LONG_SOURCE",
    "MARK_TEXT",
    "PALETTE",
    "SOURCE_MAX_HEIGHT",
    "TARGET",
    "contrast",
    "field_label",
    "grounded_html",
    "grounding_text",
    "status_text",
]

#: the class of the view's root element (the ``<style>`` rules are scoped to it)
GROUNDED_CLASS = "structmagic-grounded"
#: sources longer than this many characters show only the text around the found spans
LONG_SOURCE = 200_000
#: characters of context shown on each side of a span in a long source (at most)
CONTEXT = 300
#: the source box (and the list of values) scroll inside themselves beyond this height
SOURCE_MAX_HEIGHT = "24em"
#: the text colour of every mark, set explicitly (dark on the light backgrounds below)
MARK_TEXT = "#1a1a1a"
#: the fields' colours, in turn: light backgrounds that keep MARK_TEXT readable (WCAG
#: contrast ≥ 4.5) in both themes
PALETTE = (
    "#fff59d",  # yellow
    "#b3e5fc",  # light blue
    "#c8e6c9",  # green
    "#f8bbd0",  # pink
    "#d1c4e9",  # lavender
    "#ffcc80",  # orange
    "#b2dfdb",  # teal
    "#e6ee9c",  # lime
    "#d7ccc8",  # taupe
    "#cfd8dc",  # blue grey
)
#: the outline of the target (a span or a value jumped to): visible on light and dark pages
TARGET = "#e65100"
#: the colour a target flashes with, once (MARK_TEXT stays readable on it)
FLASH = "#ffab40"
#: the most names "not found: …" lists before "and N more"
LIST_AT_MOST = 10

_C = GROUNDED_CLASS
#: the view's only ``<style>``, constant (no model or source text ever reaches it)
GROUNDED_CSS = (
    f".{_C} mark{{scroll-margin:2.5em 0}}"
    f".{_C} .sm-g-field{{scroll-margin:1em 0}}"
    f".{_C} mark:target{{outline:2px solid {TARGET};outline-offset:1px;"
    "animation:structmagic-grounded-flash 1.6s ease-out}"
    f".{_C} .sm-g-field:target{{outline:2px solid {TARGET};outline-offset:-2px;"
    "animation:structmagic-grounded-pulse 1.6s ease-out}"
    f".{_C} .sm-g-source a{{text-decoration:none}}"
    f".{_C} a:hover>mark,.{_C} a:focus>mark{{outline:1px solid {MARK_TEXT}}}"
    f"@keyframes structmagic-grounded-flash{{0%,35%{{background-color:{FLASH};"
    "background-image:none}}"
    f"@keyframes structmagic-grounded-pulse{{0%,35%{{box-shadow:0 0 0 4px {FLASH}}}"
    "100%{box-shadow:0 0 0 0 transparent}}"
    f"@media (prefers-reduced-motion:reduce){{.{_C} mark:target,"
    f".{_C} .sm-g-field:target{{animation:none}}}}"
)

# the statuses as the view says them
_STATUS_TEXT = {
    "exact": "exact",
    "normalized": "normalized",
    "fuzzy": "fuzzy",
    "ungrounded": "not found in the source",
    "unverifiable": "no source text to check",
    "not_applicable": "not checked",
}
_STATUS_COLOUR = {
    "exact": M.OK, "normalized": M.OK, "fuzzy": M.WARN, "ungrounded": M.BAD,
    "unverifiable": M.FG_MUTED, "not_applicable": M.FG_MUTED,
}
_FOUND = ("exact", "normalized", "fuzzy")
# JupyterLab lays out an output's <dt> and <dd> as floats side by side (20% and 80%): ours
# are a label above its value, inside the row that holds them
_UNFLOAT = "float:none;width:auto;"
_ROOT_LABEL = "Answer"  # the label of ``$``, a root scalar
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_PATH_TOKEN = re.compile(r'\["(?:[^"\\]|\\.)*"\]|\[\d+\]|\.?[^.\[]+')
_counter = itertools.count(1)
_RECORD = ("status", "start", "end", "page", "text", "score", "value")  # what the uid hashes


# --- text --------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """``text`` with NUL and lone surrogates as U+FFFD (one character each: offsets hold),
    so that the markup always encodes as UTF-8."""
    return _BAD_TEXT.sub("\ufffd", text)


def _e(value: Any) -> str:
    """Escaped for HTML (quotes too), non-strings as JSON; never unencodable."""
    return _clean(M.esc(value))


def contrast(foreground: str, background: str) -> float:
    """The WCAG 2 contrast ratio of two ``#rrggbb`` colours (1 to 21)."""

    def luminance(colour: str) -> float:
        channels = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
                  for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# --- paths and labels --------------------------------------------------------------------------


def _split_path(path: str) -> tuple[Any, str] | None:
    """A path's top-level key and the rest as written: ``lines[0].qty`` → ``("lines",
    "[0].qty")``, ``["unit price"]`` → ``("unit price", "")``; None for ``$``, a root list's
    path (``[0].qty``) or a path that does not parse."""
    if not path or path == "$":
        return None
    tokens = _PATH_TOKEN.findall(path)
    if "".join(tokens) != path:
        return None
    first, rest = tokens[0], path[len(tokens[0]):]
    if first.startswith('["'):
        try:
            return json.loads(first[1:-1]), rest
        except ValueError:
            return None
    if first.startswith(("[", ".")):
        return None
    return first, rest


def field_label(path: str, labels: Mapping[str, str] | None = None) -> str:
    """What a value is called in the view: its top-level key's label
    (:func:`structmagic.display.render.label_for`: ``labels``, else the key made readable)
    and the rest of its path as written: ``lines[0].qty`` → ``"Lines[0].qty"``;
    ``$`` (a root scalar) → ``"Answer"``; a root list's path as it is."""
    if path == "$":
        return _ROOT_LABEL
    split = _split_path(path)
    if split is None:
        return path
    key, rest = split
    return M.label_for(key, labels) + rest


def _lookup(value: Any, path: str) -> tuple[bool, Any]:
    """The leaf at ``path`` in ``value``: ``(found, leaf)``."""
    if path == "$":
        return True, value
    tokens = _PATH_TOKEN.findall(path)
    if "".join(tokens) != path:
        return False, None
    node = value
    for token in tokens:
        if token.startswith('["'):
            try:
                key: Any = json.loads(token[1:-1])
            except ValueError:
                return False, None
        elif token.startswith("["):
            key = int(token[1:-1])
        else:
            key = token.lstrip(".")
        present = ((isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node))
                   or (isinstance(node, dict) and isinstance(key, str) and key in node))
        if not present:
            return False, None
        node = node[key]
    return True, node


# --- status ------------------------------------------------------------------------------------


def _status(record: Any) -> str:
    return str(getattr(record, "status", ""))


def status_text(record: Any) -> str:
    """A status as the view says it: ``"exact"``, ``"fuzzy 87%"``, ``"not found in the
    source"``, ``"no source text to check"``, ``"not checked"``."""
    status = _status(record)
    text = _STATUS_TEXT.get(status, str(status))
    score = getattr(record, "score", None)
    if status == "fuzzy" and isinstance(score, (int, float)) and not isinstance(score, bool):
        text += f" {max(0, min(100, int(score * 100)))}%"
    return text


def _counts(grounding: Mapping[str, Any]) -> dict[str, int]:
    counts = dict.fromkeys(_STATUS_TEXT, 0)
    for record in grounding.values():
        status = _status(record)
        counts[status] = counts.get(status, 0) + 1
    return counts


def _names(names: list[str]) -> str:
    """``a, b, c``; past :data:`LIST_AT_MOST`, ``…, and 12 more``."""
    if len(names) <= LIST_AT_MOST:
        return ", ".join(names)
    return f"{', '.join(names[:LIST_AT_MOST])}, and {len(names) - LIST_AT_MOST} more"


def _summary(grounding: Mapping[str, Any], name: Any) -> str:
    """The one-line summary, the values not found named by ``name(path)``."""
    counts = _counts(grounding)
    found = sum(counts[s] for s in _FOUND)
    checked = found + counts["ungrounded"]
    if not grounding:
        return "grounded: no values"
    parts = []
    if checked:
        detail = ", ".join(f"{s} {counts[s]}" for s in _FOUND if counts[s])
        parts.append(f"grounded: {found} of {M.plural(checked, 'value')}"
                     + (f" ({detail})" if detail else ""))
    else:
        parts.append("grounded: nothing to check")
    missing = [name(p) for p, r in grounding.items()
               if _status(r) == "ungrounded"]
    if missing:
        parts.append(f"not found: {_names(missing)}")
    if counts["unverifiable"]:
        parts.append(f"no source text to check: {counts['unverifiable']}")
    if counts["not_applicable"]:
        parts.append(f"not checked: {counts['not_applicable']}")
    other = sum(n for s, n in counts.items() if s not in _STATUS_TEXT)
    if other:
        parts.append(f"unknown status: {other}")
    return "; ".join(parts)


def grounding_text(grounding: Mapping[str, Any] | None) -> str:
    """One deterministic line for ``text/plain``: ``grounded: 7 of 9 values (exact 5,
    normalized 1, fuzzy 1); not found: total, lines[1].qty`` (paths as they are; values with
    no source text to check and values not checked counted after); ``""`` without
    grounding."""
    if grounding is None:
        return ""
    return _summary(grounding, lambda path: path)


# --- the spans ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    k: int  # the field's index in the grounding
    start: int
    end: int
    colour: str
    label: str


def _spans(fields: list[tuple[str, Any, str]], source: Source | None) -> list[_Span]:
    """The found values whose offsets are in the source text, in field order."""
    if source is None:
        return []
    size = len(source.text)
    spans: list[_Span] = []
    for k, (_, record, label) in enumerate(fields):
        start, end = getattr(record, "start", None), getattr(record, "end", None)
        if (_status(record) in _FOUND and isinstance(start, int)
                and isinstance(end, int) and 0 <= start <= end <= size):
            spans.append(_Span(k, start, end, PALETTE[len(spans) % len(PALETTE)], label))
    return spans


def _windows(text: str, spans: list[_Span]) -> list[tuple[int, int]]:
    """The ranges of the text shown: all of it, or for a text longer than
    :data:`LONG_SOURCE` the found spans with up to :data:`CONTEXT` characters each side
    (less when there are many: all shown stays within LONG_SOURCE, but for the spans
    themselves), merged when close, cut at a blank near each end."""
    size = len(text)
    if size <= LONG_SOURCE:
        return [(0, size)]
    if not spans:
        return [(0, min(size, 4 * CONTEXT))]
    covered: list[list[int]] = []  # the spans, merged where they overlap or touch
    for start, end in sorted((s.start, s.end) for s in spans):
        if covered and start <= covered[-1][1]:
            covered[-1][1] = max(covered[-1][1], end)
        else:
            covered.append([start, end])
    inside = sum(end - start for start, end in covered)
    # each window shows its two sides and at most one context's worth of text between it
    # and the window before (when they merge): 3 contexts a window at most
    context = max(0, min(CONTEXT, (LONG_SOURCE - inside) // (3 * len(covered))))
    merged: list[list[int]] = []
    for start, end in covered:
        a, b = max(0, start - context), min(size, end + context)
        if merged and a <= merged[-1][1] + context:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    out = []
    snap = min(40, context)
    for a, b in merged:
        # start after a blank and end before one when one is near (never inside a span:
        # each end is a whole context away from the nearest span)
        if a > 0 and snap:
            cut = min((i for i in (text.find(" ", a, a + snap), text.find("\n", a, a + snap))
                       if i >= 0), default=-1)
            a = cut + 1 if cut >= 0 else a
        if b < size and snap:
            cut = max(text.rfind(" ", b - snap, b), text.rfind("\n", b - snap, b))
            b = cut if cut >= 0 else b
        out.append((a, b))
    return out


def _pieces(source: Source, windows: list[tuple[int, int]]
            ) -> list[tuple[int, int, int | None, bool]]:
    """The shown ranges cut at page starts: ``(start, end, page index or None, whether it
    starts its page)``."""
    pages = source.pages
    out = []
    for a, b in windows:
        cuts = sorted({a, b, *(p for p in pages if a < p < b)})
        for x, y in itertools.pairwise(cuts):
            index = source.page_index(x) if pages and x >= pages[0] else None
            out.append((x, y, index, index is not None and pages[index] == x))
    return out


def _page_label(source: Source, index: int, several: bool) -> str:
    number = source.numbers[index] if index < len(source.numbers) else index + 1
    name = source.names[index] if several and index < len(source.names) else ""
    return f"{name} · page {number}" if name else f"page {number}"


def _segment(text: str, covering: list[_Span], new_ids: list[_Span], uid: str) -> str:
    """One segment of the source on which ``covering`` spans lie (innermost first)."""
    primary = covering[0]
    title = _e(", ".join(dict.fromkeys(s.label for s in covering)))
    style = f"background-color:{primary.colour};color:{MARK_TEXT};border-radius:2px"
    if len(covering) > 1:  # striped with the next field's colour: more than one field here
        style += (f";background-image:repeating-linear-gradient(135deg,{primary.colour} 0 "
                  f"6px,{covering[1].colour} 6px 12px)")
    first = f' id="{uid}-s{new_ids[0].k}"' if new_ids else ""
    inner = "".join(
        f'<mark id="{uid}-s{s.k}" title="{title}" style="background:transparent;color:inherit">'
        for s in new_ids[1:])
    closing = "</mark>" * len(new_ids[1:])
    return (f'<a href="#{uid}-f{primary.k}">'
            f'<mark{first} title="{title}" style="{style}">{inner}{_e(text)}{closing}</mark></a>')


class _Marker:
    """Marks the source text piece by piece, in order, in one sweep over the spans: the
    text is cut into segments at every start and end, each segment marked for the spans on
    it (the innermost first), each span's id on its first segment."""

    def __init__(self, text: str, spans: list[_Span], uid: str) -> None:
        self.text, self.uid = text, uid
        self.order = sorted(spans, key=lambda s: (s.start, s.k))
        self.next = 0  # the first span of ``order`` not yet reached
        self.active: list[_Span] = []  # the spans reached and not yet ended
        self.placed: set[int] = set()  # the spans whose id is given

    def mark(self, a: int, b: int) -> str:
        """The text ``[a, b)``, marked (``a`` at or after the end of the piece before)."""
        out = []
        x = a
        while True:
            while self.next < len(self.order) and self.order[self.next].start <= x:
                self.active.append(self.order[self.next])
                self.next += 1
            for s in self.active:  # a value found as "": an empty mark, for its link
                if s.start == s.end == x and s.k not in self.placed:
                    self.placed.add(s.k)
                    out.append(_segment("", [s], [s], self.uid))
            self.active = [s for s in self.active if s.end > x]
            if x >= b:
                return "".join(out)
            upcoming = self.order[self.next].start if self.next < len(self.order) else b
            y = min(b, upcoming, *(s.end for s in self.active))
            if not self.active:
                out.append(_e(self.text[x:y]))
            else:
                # the innermost first: the latest start, then the shortest, then field order
                covering = sorted(self.active, key=lambda s: (-s.start, s.end - s.start, s.k))
                new_ids = sorted((s for s in covering if s.k not in self.placed),
                                 key=lambda s: s.k)
                self.placed.update(s.k for s in new_ids)
                out.append(_segment(self.text[x:y], covering, new_ids, self.uid))
            x = y


def _source_html(source: Source | None, spans: list[_Span], uid: str) -> str:
    """The source box: pages (or windows of a long source) of marked text."""
    box = (f'class="sm-g-source" style="flex:2 1 24em;min-width:0;max-height:{SOURCE_MAX_HEIGHT};'
           f'overflow:auto;border:1px solid {M.BORDER};border-radius:4px;padding:0.3em 0.6em;'
           f'background:{M.BG_CARD};color:{M.FG}"')
    if source is None or not source.text:
        return f'<div {box}><em>No source text.</em></div>'
    text = source.text
    windows = _windows(text, spans)
    several = len({n for n in source.names if n}) > 1
    pre = (f'<pre style="{M.TEXT_STYLE}font-family:inherit;font-size:inherit;'
           'margin:0 0 0.4em 0;color:inherit">')
    marker = _Marker(text, spans, uid)
    out = []
    if len(text) > LONG_SOURCE:
        out.append(f'<div style="color:{M.FG_MUTED}"><small>A long source ({len(text):,} '
                   "characters): the text around each value found.</small></div>")
    shown = 0  # where the text shown so far ends
    for a, b, index, starts in _pieces(source, windows):
        if a > shown:
            out.append(_gap(a - shown))
        if index is not None and (starts or a > shown):
            label = _page_label(source, index, several)
            out.append(f'<div class="sm-g-page" style="color:{M.FG_MUTED};'
                       f'border-top:1px solid {M.BORDER};margin-top:0.2em;font-size:90%">'
                       f"<b>{_e(label if starts else label + ', continued')}</b></div>")
        out.append(f"{pre}{marker.mark(a, b)}</pre>")
        shown = max(shown, b)
    if shown < len(text):
        out.append(_gap(len(text) - shown))
    return f'<div {box}>{"".join(out)}</div>'


def _gap(n: int) -> str:
    return (f'<div class="sm-g-gap" style="color:{M.FG_MUTED};text-align:center;'
            f'margin:0.2em 0"><small>… {n:,} {"character" if n == 1 else "characters"} …'
            "</small></div>")


# --- the values --------------------------------------------------------------------------------


def _chip(record: Any) -> str:
    status = _status(record)
    colour = _STATUS_COLOUR.get(status, M.FG_MUTED)
    text = _e(status_text(record))
    if status == "ungrounded":  # never hidden: bold, in the error colour, in words
        return f' <b style="color:{colour}">✗ {text}</b>'
    mark = "≈ " if status == "fuzzy" else "✓ " if status in _FOUND else ""
    return (f' <small style="color:{colour};border:1px solid;border-radius:8px;'
            f'padding:0 0.45em;white-space:nowrap">{mark}{text}</small>')


def _where(record: Any, source: Source | None) -> str:
    """Where a found value is: its page (and document), and the source text when it differs
    from the value (a normalized or fuzzy match)."""
    notes = []
    page = getattr(record, "page", None)
    start = getattr(record, "start", None)
    if isinstance(page, int):
        name = source.name_of(start) if source is not None and isinstance(start, int) else None
        several = source is not None and len({n for n in source.names if n}) > 1
        notes.append(f"{name} · page {page}" if name and several else f"page {page}")
    found = getattr(record, "text", None)
    if (isinstance(found, str) and _status(record) in ("normalized", "fuzzy")
            and found != M.scalar(getattr(record, "value", None))):
        notes.append(f"in the source: “{found}”")
    return "".join(f' <small style="color:{M.FG_MUTED}">{_e(n)}</small>' for n in notes)


def _fields_html(fields: list[tuple[str, Any, str]], spans: list[_Span], source: Source | None,
                 value: Any, uid: str) -> str:
    by_field = {s.k: s for s in spans}
    rows = []
    for k, (path, record, label) in enumerate(fields):
        shown = getattr(record, "value", None)
        if shown is None:
            found, leaf = _lookup(value, path)
            shown = leaf if found else None
        text = _e(M.scalar(shown))
        span = by_field.get(k)
        status = _status(record)
        if span is not None:
            swatch = f";border-left:0.6em solid {span.colour}"
            body = (f'<a href="#{uid}-s{k}" style="color:{M.ACCENT};'
                    f'text-decoration:underline">{text}</a>')
        else:
            swatch = f";border-left:0.6em solid {M.BAD}" if status == "ungrounded" else (
                f";border-left:0.6em solid {M.BORDER}")
            body = f"<span>{text}</span>"
        tip = f' title="{_e(path)}"' if label != path else ""
        rows.append(
            f'<div id="{uid}-f{k}" class="sm-g-field" style="padding:0.1em 0.4em{swatch};'
            f'margin:0 0 0.25em 0">'
            f'<dt style="{_UNFLOAT}color:{M.FG_MUTED}"><b{tip}>{_e(label)}</b></dt>'
            f'<dd style="{_UNFLOAT}margin:0 0 0 0.6em">{body}{_chip(record)}'
            f"{_where(record, source)}</dd>"
            "</div>")
    return (f'<dl class="sm-g-fields" style="{M.TEXT_STYLE}flex:1 1 16em;min-width:0;margin:0;'
            f'max-height:{SOURCE_MAX_HEIGHT};overflow:auto">{"".join(rows)}</dl>')


# --- the view ----------------------------------------------------------------------------------


def _uid(value: Any, grounding: Mapping[str, Any], source: Source | None) -> str:
    """A prefix for the ids: the content's hash and this process's count of renderings."""
    digest = hashlib.sha256()
    records = (f"{p}\x00" + "\x00".join(M.scalar(getattr(r, a, None)) for a in _RECORD)
               for p, r in grounding.items())
    for part in (M.scalar(value), *records, source.text if source is not None else ""):
        digest.update(_clean(part).encode("utf-8"))
        digest.update(b"\x01")
    return f"smg{digest.hexdigest()[:10]}-{next(_counter)}"


def grounded_html(value: Any, grounding: Mapping[str, Grounding], source: Source | None,
                  labels: Mapping[str, str] | None = None, *, uid: str | None = None) -> str:
    """The grounded view: each value with its status beside the source text, every found
    value linked to its span and back (see the module doc). Self-contained, escaped, no
    script. ``value`` is the answer (a record without its ``value`` shows the leaf at its
    path), ``labels`` the fields' labels (:func:`field_label`), ``uid`` the ids' prefix
    (default: a hash of the content and a per-process counter)."""
    if uid is None:
        uid = _uid(value, grounding, source)
    elif not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", uid):
        raise ValueError(f"uid must be a plain HTML id (letters, digits, - and _), not {uid!r}")
    fields = [(str(path), record, field_label(str(path), labels))
              for path, record in grounding.items()]
    spans = _spans(fields, source)
    by_path = {path: label for path, _, label in fields}
    summary = _summary(grounding, lambda path: by_path.get(path, path))
    head = (f'<div style="margin:0 0 0.3em 0"><b>Where the values are in the source</b> '
            f'<span style="color:{M.FG_MUTED}">· {_e(summary)}</span></div>')
    body = (f'<div style="display:flex;flex-wrap:wrap;gap:0.6em;align-items:flex-start">'
            f"{_fields_html(fields, spans, source, value, uid)}"
            f"{_source_html(source, spans, uid)}</div>")
    return (f'<div class="{GROUNDED_CLASS}" style="{M.BLOCK}color:{M.FG};margin:0.4em 0">'
            f"<style>{GROUNDED_CSS}</style>{head}{body}</div>")

