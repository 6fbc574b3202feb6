"""The grounded view: each value beside its source text, linked both ways with no script.

The records are built by hand here (offsets by ``str.find``), as the aligner would make them;
the markup is parsed back (:class:`View`) to check what a browser would show: the source
text as it is, each mark where its value is, the links and ids, the page headers, the
windows of a long source, and that nothing a model or a document wrote becomes live.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structmagic.call.result import Result
from structmagic.display import grounded as G
from structmagic.display.grounded import (
    CONTEXT,
    FLASH,
    GROUNDED_CSS,
    LONG_SOURCE,
    MARK_TEXT,
    PALETTE,
    contrast,
    field_label,
    grounded_html,
    grounding_text,
    status_text,
)
from structmagic.display.render import result_html, result_text
from structmagic.display.widget import StructuredWidget
from structmagic.grounding import Grounding, Source

from htmlaudit import POISON, assert_inert, widget_texts

ROOT = Path(__file__).resolve().parents[1]


def found(text: str, value: Any, sub: str | None = None, *, status: str = "exact",
          score: float = 1.0, page: int | None = None, after: int = 0) -> Grounding:
    """The record of ``value`` found as ``sub`` (default: its text) in ``text``."""
    sub = sub if sub is not None else str(value)
    start = text.find(sub, after)
    assert start >= 0, sub
    return Grounding(status, start, start + len(sub), page=page, text=sub, score=score,
                     value=value)


# --- reading the markup back -------------------------------------------------------------------


@dataclass
class Segment:
    """One linked mark of the source: where it is in the text, its link, title and ids."""

    start: int
    end: int = -1
    href: str = ""
    title: str = ""
    ids: list[str] = field(default_factory=list)
    text: str = ""


class View(HTMLParser):
    """The parts of a grounded view a test looks at: the source text shown (offsets counted
    in the text of its ``<pre>``\\ s), its segments, the field rows, every id and link."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = ""  # the text shown in the source box, pieces and all
        self.pieces: list[tuple[int, str]] = []  # each <pre>: where it starts in .source
        self.segments: list[Segment] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.rows: dict[str, str] = {}  # field row id -> its text
        self.headers: list[str] = []  # page headers
        self.gaps: list[str] = []
        self.tags: list[str] = []
        self._in_pre = False
        self._href = ""
        self._segment: Segment | None = None
        self._row: str | None = None
        self._row_depth = 0
        self._depth = 0
        self._collect: str | None = None
        self._collect_depth = 0
        self._collected = ""
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        self._depth += 1
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "a":
            self.hrefs.append(a.get("href", ""))
            self._href = a.get("href", "")
        if tag == "pre":
            self._in_pre = True
            self.pieces.append((len(self.source), ""))
        if tag == "mark":
            if self._segment is None:
                self._segment = Segment(len(self.source), href=self._href,
                                        title=a.get("title", ""))
            if "id" in a:
                self._segment.ids.append(a["id"])
        if tag == "div" and "sm-g-field" in a.get("class", ""):
            self._row, self._row_depth = a["id"], self._depth
            self.rows[self._row] = ""
        if tag == "div" and a.get("class") in ("sm-g-page", "sm-g-gap"):
            self._collect, self._collect_depth, self._collected = a["class"], self._depth, ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._in_pre = False
        if tag == "a" and self._segment is not None:
            self._segment.end = len(self.source)
            self.segments.append(self._segment)
            self._segment = None
        if tag == "div" and self._row is not None and self._depth == self._row_depth:
            self._row = None
        if tag == "div" and self._collect is not None and self._depth == self._collect_depth:
            (self.headers if self._collect == "sm-g-page" else self.gaps).append(self._collected)
            self._collect = None
        self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_pre:
            self.source += data
            start, text = self.pieces[-1]
            self.pieces[-1] = (start, text + data)
        if self._segment is not None:
            self._segment.text += data
        if self._row is not None:
            self.rows[self._row] += data
        if self._collect is not None:
            self._collected += data

    def covering(self, label: str) -> list[Segment]:
        """The segments whose title names the field ``label``."""
        return [s for s in self.segments if label in s.title.split(", ")]


def uid_of(markup: str) -> str:
    return re.search(r'id="(smg[0-9a-f]+-\d+|[A-Za-z][\w-]*)-f0"', markup).group(1)


INVOICE = ("ACME Supplies Ltd\nInvoice no: INV-2024-001\nDate: 5 January 2024\n"
           "Qty 3 × widget at 9.99\nTotal: 29.97 EUR\n")


def invoice_grounding(text: str = INVOICE) -> dict[str, Grounding]:
    return {
        "supplier": found(text, "ACME Supplies Ltd"),
        "invoice_no": found(text, "INV-2024-001"),
        "date": found(text, "2024-01-05", "5 January 2024", status="normalized"),
        "lines[0].qty": found(text, 3, "3", after=text.find("Qty")),
        'lines[0]["unit price"]': found(text, 9.99, "9.99", status="fuzzy", score=0.874),
        "total": Grounding("ungrounded", value=30.0),
        "paid": Grounding("not_applicable", value=False),
    }


# --- labels, statuses, the text line ----------------------------------------------------------


@pytest.mark.parametrize(("path", "labels", "label"), [
    ("invoice_no", None, "Invoice no"),
    ("lines[0].qty", None, "Lines[0].qty"),
    ('lines[0]["unit price"]', None, 'Lines[0]["unit price"]'),
    ("lines[0].qty", {"lines": "Line items"}, "Line items[0].qty"),
    ('["unit price"]', None, "unit price"),  # not a plain name: as it is
    ('["unit_price"].x', None, "Unit price.x"),
    ("[0].qty", None, "[0].qty"),  # a root list
    ("$", None, "Answer"),  # a root scalar
    ("答案", None, "答案"),
    ("a..b", None, "a..b"),  # does not parse: the path as it is
])
def test_field_label(path, labels, label):
    assert field_label(path, labels) == label


def test_status_text():
    assert [status_text(Grounding(s)) for s in
            ("exact", "normalized", "ungrounded", "unverifiable", "not_applicable")] == [
        "exact", "normalized", "not found in the source", "no source text to check",
        "not checked"]
    assert status_text(Grounding("fuzzy", score=0.874)) == "fuzzy 87%"
    assert status_text(Grounding("fuzzy")) == "fuzzy"


def test_grounding_text():
    grounding = {f"f{i}": Grounding("exact", 0, 1) for i in range(5)}
    grounding |= {"n": Grounding("normalized", 0, 1), "z": Grounding("fuzzy", 0, 1, score=0.9),
                  "total": Grounding("ungrounded"), "lines[1].qty": Grounding("ungrounded")}
    assert grounding_text(grounding) == (
        "grounded: 7 of 9 values (exact 5, normalized 1, fuzzy 1); "
        "not found: total, lines[1].qty")
    more = {"a": Grounding("exact", 0, 1), "b": Grounding("not_applicable"),
            "c": Grounding("unverifiable"), "d": Grounding("unverifiable")}
    assert grounding_text(more) == (
        "grounded: 1 of 1 value (exact 1); no source text to check: 2; not checked: 1")
    assert grounding_text({"c": Grounding("unverifiable")}) == (
        "grounded: nothing to check; no source text to check: 1")
    assert grounding_text({}) == "grounded: no values"
    assert grounding_text(None) == ""
    many = {f"x{i}": Grounding("ungrounded") for i in range(13)}
    assert grounding_text(many) == (
        "grounded: 0 of 13 values; not found: x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, "
        "and 3 more")


# --- structure ---------------------------------------------------------------------------------


def test_each_value_links_to_its_mark_and_back():
    grounding = invoice_grounding()
    markup = grounded_html({}, grounding, Source(INVOICE), uid="u")
    view = View(markup)
    assert view.source == INVOICE  # the whole text, as it is
    assert len(view.ids) == len(set(view.ids))  # no id twice
    paths = list(grounding)
    for k, (path, record) in enumerate(grounding.items()):
        assert f"u-f{k}" in view.rows, path  # every value has its row, found or not
        label = field_label(path)
        if record.found:
            assert f"#u-s{k}" in view.hrefs  # the value links to its span...
            (first,) = [s for s in view.segments if f"u-s{k}" in s.ids]
            assert first.start == record.start and first.href == f"#u-f{k}"  # ...and back
            spans = view.covering(label)
            assert "".join(s.text for s in spans) == INVOICE[record.start:record.end]
            assert spans[0].start == record.start and spans[-1].end == record.end
        else:
            assert f"#u-s{k}" not in view.hrefs and f"u-s{k}" not in view.ids
    # the statuses, in words; the value not found is there, bold, never hidden
    rows = view.rows
    assert "exact" in rows["u-f0"] and "normalized" in rows["u-f2"]
    assert "fuzzy 87%" in rows["u-f4"] and "in the source: “9.99”" not in rows["u-f4"]
    assert "in the source: “5 January 2024”" in rows["u-f2"]
    assert "30.0" in rows["u-f5"] and "not found in the source" in rows["u-f5"]
    assert re.search(r'<b style="[^"]*">✗ not found in the source</b>', markup)
    assert "not checked" in rows["u-f6"] and "false" in rows["u-f6"]
    assert "Lines[0].qty" in rows[f"u-f{paths.index('lines[0].qty')}"]
    assert "grounded: 5 of 6 values (exact 3, normalized 1, fuzzy 1); not found: Total" in (
        assert_inert(markup))
    assert markup.count("<style>") == 1 and GROUNDED_CSS in markup
    for href in view.hrefs:
        assert href.startswith("#u-")  # nothing that leaves the page


def test_no_script_no_request_and_readable_without_style():
    markup = grounded_html({}, invoice_grounding(), Source(INVOICE), uid="u")
    lowered = markup.lower()
    for bad in ("<script", "<img", "<link", "<iframe", " src=", "url(", "@import", "http:",
                "https:", "javascript:"):
        assert bad not in lowered, bad
    assert not re.search(r"\son[a-z]+=", lowered)  # no event handler
    assert set(re.findall(r'href="([^"]*)"', markup)) <= {f"#u-s{k}" for k in range(7)} | {
        f"#u-f{k}" for k in range(7)}
    # JupyterLab's sanitizer drops the <style> and every style using var(): the structure
    # still says it all, and the marks keep their own colours (no var() in them)
    bare = re.sub(r"<style>.*?</style>", "", markup)
    bare = re.sub(r' style="[^"]*var\([^"]*"', "", bare)
    view = View(bare)
    assert view.source == INVOICE
    assert {"dl", "dt", "dd", "b", "mark", "pre", "a"} <= set(view.tags)
    for mark in re.findall(r"<mark[^>]*>", bare):
        assert f"color:{MARK_TEXT}" in mark or "color:inherit" in mark
    assert "not found in the source" in assert_inert(bare)


def test_overlapping_nested_and_shared_spans_are_cut_into_segments():
    text = "Pay 1,234.56 EUR to ACME Ltd by 2024-03-01."
    amount = text.find("1,234.56")
    grounding = {
        "amount": found(text, "1,234.56 EUR"),  # crosses "currency_and_more"
        "currency_and_more": found(text, "EUR to ACME"),
        "payee": found(text, "ACME Ltd"),  # inside nothing, overlapping the one before
        "whole": found(text, "1,234.56 EUR to ACME Ltd"),  # holds the three
        "same": found(text, "1,234.56 EUR"),  # exactly the span of "amount"
        "cents": found(text, "56", after=amount),  # inside "amount"
        "date": found(text, "2024-03-01"),
    }
    markup = grounded_html({}, grounding, Source(text), uid="u")
    assert_inert(markup)
    view = View(markup)
    assert view.source == text
    assert len(view.ids) == len(set(view.ids))
    for k, (path, record) in enumerate(grounding.items()):
        spans = view.covering(field_label(path))
        assert "".join(s.text for s in spans) == text[record.start:record.end], path
        (first,) = [s for s in view.segments if f"u-s{k}" in s.ids]
        assert first.start == record.start, path
    # "amount" and "same" start on one segment: two ids on it (nested marks), one title
    shared = next(s for s in view.segments if "u-s0" in s.ids)
    assert "u-s4" in shared.ids and "u-s3" in shared.ids
    assert shared.text == "1,234."
    assert shared.title == "Amount, Same, Whole"  # every field on it, innermost first
    cents = next(s for s in view.segments if "u-s5" in s.ids)
    assert cents.text == "56" and cents.href == "#u-f5"  # the innermost field's link
    assert set(cents.title.split(", ")) == {"Cents", "Amount", "Same", "Whole"}
    # a segment of more than one field is striped with a second colour
    assert "repeating-linear-gradient" in markup
    # no segment is empty or out of order
    assert all(s.start < s.end for s in view.segments)
    assert [s.start for s in view.segments] == sorted(s.start for s in view.segments)


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=1, max_size=60),
       cuts=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=8),
       pages=st.lists(st.integers(1, 59), max_size=3, unique=True))
def test_any_spans_on_any_text_render_whole(text, cuts, pages):
    """Whatever the spans (nested, crossing, shared, empty) and the pages: the text shows as
    it is, each span's segments are exactly its text, its id on the first, no id twice."""
    size = len(text)
    grounding = {}
    for n, (a, b) in enumerate(cuts):
        a, b = sorted((min(a, size), min(b, size)))
        grounding[f"f{n}"] = Grounding("exact", a, b, text=text[a:b], value=text[a:b])
    starts = tuple(sorted({0, *(p for p in pages if p < size)}))
    markup = grounded_html({}, grounding, Source(text, pages=starts if pages else ()), uid="u")
    assert_inert(markup)
    view = View(markup)
    assert view.source == text.replace("\x00", "\ufffd")
    assert len(view.ids) == len(set(view.ids))
    for k, (path, record) in enumerate(grounding.items()):
        spans = view.covering(field_label(path))
        assert "".join(s.text for s in spans) == view.source[record.start:record.end]
        (first,) = [s for s in view.segments if f"u-s{k}" in s.ids]
        assert first.start == record.start


def test_a_short_source_with_many_values():
    text = "".join(f"w{i:05d} " for i in range(25_000))  # 175,000 characters, all shown
    grounding = {f"w[{i}]": found(text, f"w{i:05d} w{i + 1:05d}") for i in range(0, 24_999, 4)}
    view = View(grounded_html({}, grounding, Source(text), uid="u"))
    assert view.source == text
    first = {i: s for s in view.segments for i in s.ids}
    assert len(first) == len(grounding)
    for k, record in enumerate(grounding.values()):
        assert first[f"u-s{k}"].start == record.start
        assert first[f"u-s{k}"].text == text[record.start:record.end]


def test_cjk_and_emoji_offsets_are_rendered_right():
    text = ("供应商：上海星辰贸易有限公司 😀🎉 Stars\n发票号码：发票-甲-001\n"
            "合计：¥1,234.00 👍🏽 完\n")
    grounding = {
        "supplier": found(text, "上海星辰贸易有限公司"),
        "party": found(text, "😀🎉 Stars"),  # two astral characters: one index each
        "invoice_no": found(text, "发票-甲-001"),
        "total": found(text, 1234.0, "¥1,234.00", status="normalized"),
        "thumb": found(text, "👍🏽"),  # an emoji and its skin tone modifier
        "end": found(text, "完"),
    }
    assert grounding["end"].start == len(text) - 2
    view = View(grounded_html({}, grounding, Source(text), uid="u"))
    assert view.source == text
    for k, (path, record) in enumerate(grounding.items()):
        (first,) = [s for s in view.segments if f"u-s{k}" in s.ids]
        assert first.text == record.text == text[record.start:record.end], path
        assert first.start == record.start, path
    # the text around the marks is whole too
    assert view.source[:4] == "供应商：" and "\n发票号码：" in view.source


def test_a_value_found_as_empty_text_and_bad_offsets():
    text = "abc def"
    grounding = {
        "empty": Grounding("exact", 3, 3, text="", score=1.0, value=""),
        "past": Grounding("exact", 5, 99, text="x", value="x"),  # not in this text
        "backwards": Grounding("fuzzy", 5, 2, text="x", score=0.5, value="x"),
        "ok": found(text, "def"),
    }
    markup = grounded_html({}, grounding, Source(text), uid="u")
    view = View(markup)
    assert view.source == text
    assert "u-s0" in view.ids and "#u-s0" in view.hrefs  # an empty mark, where it was
    assert "u-s1" not in view.ids and "u-s2" not in view.ids  # no span: no link either
    assert "#u-s1" not in view.hrefs and "#u-s2" not in view.hrefs
    assert "fuzzy 50%" in view.rows["u-f2"]
    assert "u-s3" in view.ids


def test_a_value_without_its_own_value_shows_the_leaf_at_its_path():
    value = {"lines": [{"qty": 3, "unit price": 9.5}], "$x": "y"}
    grounding = {"lines[0].qty": Grounding("ungrounded"),
                 'lines[0]["unit price"]': Grounding("ungrounded"),
                 "missing[3]": Grounding("ungrounded")}
    view = View(grounded_html(value, grounding, Source("nothing"), uid="u"))
    assert view.rows["u-f0"].startswith("Lines[0].qty3")
    assert "9.5" in view.rows["u-f1"]
    assert "null" in view.rows["u-f2"]


def test_no_source_text():
    grounding = {"a": Grounding("unverifiable", value="x"),
                 "b": Grounding("not_applicable", value=None)}
    for source in (None, Source("")):
        markup = grounded_html({"a": "x"}, grounding, source, uid="u")
        assert "No source text." in assert_inert(markup)
        assert "no source text to check" in View(markup).rows["u-f0"]


# --- pages and long sources -------------------------------------------------------------------


def test_pages_have_headers_and_a_span_across_a_page_break_is_cut_there():
    pages = ["Page one text, ends with Total due:", " 42.00 EUR\nPage two.", "Third page."]
    text = "".join(pages)
    starts = (0, len(pages[0]), len(pages[0]) + len(pages[1]))
    grounding = {
        "due": Grounding("exact", text.find("due: 42"), text.find("due: 42") + 7, page=1,
                         text="due: 42", value="due: 42"),
        "third": found(text, "Third", page=3),
    }
    view = View(grounded_html({}, grounding, Source(text, pages=starts), uid="u"))
    assert view.headers == ["page 1", "page 2", "page 3"]
    assert view.source == text
    assert [t for _, t in view.pieces] == pages  # one <pre> per page
    due = view.covering("Due")
    assert [s.text for s in due] == ["due:", " 42"]  # cut at the page break
    assert "page 1" in view.rows["u-f0"] and "page 3" in view.rows["u-f1"]


def test_pages_of_several_documents_are_named():
    text = "A first. A second. B first."
    starts = (0, 9, 19)
    source = Source(text, pages=starts, numbers=(1, 2, 1), names=("a.pdf", "a.pdf", "b.pdf"))
    grounding = {"b": found(text, "B first", page=1)}
    view = View(grounded_html({}, grounding, source, uid="u"))
    assert view.headers == ["a.pdf · page 1", "a.pdf · page 2", "b.pdf · page 1"]
    assert "b.pdf · page 1" in view.rows["u-f0"]
    # one document: no name
    one = Source(text, pages=starts, names=("a.pdf",) * 3)
    assert View(grounded_html({}, grounding, one, uid="u")).headers == [
        "page 1", "page 2", "page 3"]
    # text before the first page has no header
    late = Source(text, pages=(9,))
    assert View(grounded_html({}, grounding, late, uid="u")).headers == ["page 1"]


def test_a_long_source_shows_the_text_around_its_values():
    filler = "lorem ipsum dolor sit amet " * 20_000  # 540,000 characters
    text = f"Contract no. C-77\n{filler}\nThe fee is 12,500 EUR.\n{filler}\nSigned: Ada Lovelace"
    assert len(text) > LONG_SOURCE
    grounding = {
        "contract": found(text, "C-77"),
        "fee": found(text, 12500, "12,500 EUR", status="normalized"),
        "signed": found(text, "Ada Lovelace"),
        "party": Grounding("ungrounded", value="Charles Babbage"),
    }
    markup = grounded_html({}, grounding, Source(text), uid="u")
    assert len(markup) < 20_000  # light, whatever the source's size
    assert_inert(markup)
    view = View(markup)
    counts = [int(g.strip("… ").split()[0].replace(",", "")) for g in view.gaps]
    assert len(counts) == 2 and all(n > 500_000 for n in counts)
    assert sum(counts) + len(view.source) == len(text)  # every character shown or counted
    assert re.fullmatch(r"… [\d,]+ characters …", view.gaps[0])
    assert f"A long source ({len(text):,} characters)" in assert_inert(markup)
    for k, record in enumerate(grounding.values()):
        if record.found:
            (first,) = [s for s in view.segments if f"u-s{k}" in s.ids]
            assert first.text == text[record.start:record.end]
    # each window is its span and at most CONTEXT characters of text each side
    for _, piece in view.pieces:
        assert len(piece) <= 2 * CONTEXT + len("12,500 EUR"), piece[:40]
        assert piece in text


def test_a_long_paged_source_says_which_page_each_window_is_on():
    page = "word " * 20_000  # 100,000 characters a page
    text = page * 2 + page.replace("word word", "THE VALUE", 1) + page
    starts = tuple(i * len(page) for i in range(4))
    grounding = {"v": found(text, "THE VALUE", page=3)}
    view = View(grounded_html({}, grounding, Source(text, pages=starts), uid="u"))
    assert view.headers == ["page 2, continued", "page 3"]  # the context before it too
    grounding = {"v": found(text, "word", after=len(page) * 3 + 50_000, page=4)}
    view = View(grounded_html({}, grounding, Source(text, pages=starts), uid="u"))
    assert view.headers == ["page 4, continued"]


def test_a_long_source_with_nothing_found_shows_its_start():
    text = "x " * (LONG_SOURCE + 10)
    view = View(grounded_html({}, {"a": Grounding("ungrounded", value="y")}, Source(text),
                              uid="u"))
    assert view.pieces[0][0] == 0 and len(view.gaps) == 1
    assert len(view.source) == 4 * CONTEXT


def test_many_values_in_a_long_source_stay_light():
    text = "".join(f"item {i:06d}; " for i in range(40_000))  # 520,000 characters
    grounding = {f"items[{i}]": found(text, f"item {i:06d}") for i in range(0, 40_000, 10)}
    markup = grounded_html({}, grounding, Source(text), uid="u")
    assert len(markup) < 1_200 * len(grounding)  # a row, a mark and a window per value
    view = View(markup)
    assert len(view.source) <= LONG_SOURCE  # less context around each: never more text
    first = {i: s for s in view.segments for i in s.ids}
    assert len(first) == len(grounding)
    for k, record in enumerate(grounding.values()):
        assert first[f"u-s{k}"].text == text[record.start:record.end]


# --- safety ------------------------------------------------------------------------------------


HOSTILE = [*POISON, '"><img src=x onerror=alert(1)>', "javascript:alert(1)",
           "background:url(https://evil.example/x.png)", "x\ud800y", "nul\x00here",
           "</pre></div><script>alert(2)</script>", "&lt;already&gt; &amp;"]


def test_hostile_values_sources_and_labels_render_inert():
    text = " | ".join(HOSTILE) + " | end"
    grounding: dict[str, Grounding] = {}
    for i, h in enumerate(HOSTILE):
        grounding[f"k{i}"] = found(text, h)
        grounding[f'["{i}{h}"]'.replace('"', "'")] = Grounding("ungrounded", value=h)
    labels = {f"k{i}": h for i, h in enumerate(HOSTILE)}
    markup = grounded_html({"x": HOSTILE}, grounding, Source(text), labels)
    markup.encode("utf-8")  # no lone surrogate left: it encodes, and a notebook saves
    shown = assert_inert(markup)
    for h in HOSTILE:
        cleaned = h.replace("\ud800", "\ufffd").replace("\x00", "\ufffd")
        assert cleaned in shown, h
    assert "<script" not in markup and "<img" not in markup
    view = View(markup)
    assert view.source == text.replace("\ud800", "\ufffd").replace("\x00", "\ufffd")
    assert all(h.startswith("#smg") for h in view.hrefs)
    assert all(re.fullmatch(r"smg[0-9a-f]{10}-\d+-[fs]\d+", i) for i in view.ids)


def test_a_uid_must_be_a_plain_id():
    with pytest.raises(ValueError, match="plain HTML id"):
        grounded_html({}, {}, Source("x"), uid='x" onclick="y')


# --- ids and determinism ----------------------------------------------------------------------


def test_ids_are_unique_per_rendering_and_deterministic_per_process_order():
    grounding, source = invoice_grounding(), Source(INVOICE)
    first, second = (grounded_html({}, grounding, source) for _ in range(2))
    a, b = uid_of(first), uid_of(second)
    assert a != b  # two renderings on one page never share ids
    assert a.split("-")[0] == b.split("-")[0]  # the same content, the same hash
    assert first.replace(a, "U") == second.replace(b, "U")  # and nothing else differs
    other = grounded_html({}, invoice_grounding(INVOICE + "more"), Source(INVOICE + "more"))
    assert uid_of(other).split("-")[0] != a.split("-")[0]
    # the same renderings in the same order in a new process: the same markup
    code = ("from test_grounded_view import invoice_grounding, INVOICE\n"
            "from structmagic.display.grounded import grounded_html\n"
            "from structmagic.grounding import Source\n"
            "print(grounded_html({}, invoice_grounding(), Source(INVOICE)))\n"
            "print(grounded_html({}, invoice_grounding(), Source(INVOICE)))\n")
    runs = [subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                           text=True, encoding="utf-8", cwd=ROOT / "tests",
                           env={"PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}", "PATH": "/usr/bin"},
                           timeout=60).stdout for _ in range(2)]
    assert runs[0] == runs[1]
    assert len(set(re.findall(r'id="(smg[0-9a-f]+-\d+)-f0"', runs[0]))) == 2


# --- colours -----------------------------------------------------------------------------------


def test_contrast():
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_the_palette_keeps_the_marks_readable_in_both_themes():
    assert len(set(PALETTE)) == len(PALETTE) >= 8
    for colour in (*PALETTE, FLASH):
        assert re.fullmatch(r"#[0-9a-f]{6}", colour)  # no var(): a sanitizer keeps it
        assert contrast(MARK_TEXT, colour) >= 4.5, colour
    # the target's outline stands out (3:1, for a non-text mark) on the light and the dark
    # themes' backgrounds (JupyterLab's --jp-layout-color0)
    for page in ("#ffffff", "#111111"):
        assert contrast(G.TARGET, page) >= 3, page
    # each mark names its colour and its text colour itself
    markup = grounded_html({}, invoice_grounding(), Source(INVOICE), uid="u")
    for style in re.findall(r'<mark id="u-s\d+" title="[^"]*" style="([^"]*)"', markup):
        assert f"color:{MARK_TEXT}" in style and "background-color:#" in style
    colours = re.findall(r"<mark id=\"u-s\d+\"[^>]*background-color:(#[0-9a-f]{6})", markup)
    assert colours == list(PALETTE[:len(colours)])  # a colour each, in turn


# --- in a result and in the widget ------------------------------------------------------------


def grounded_result(**kw: Any) -> Result:
    value = {"supplier": "ACME Supplies Ltd", "invoice_no": "INV-2024-001",
             "date": "2024-01-05", "lines": [{"qty": 3, "unit price": 9.99}],
             "total": 30.0, "paid": False}
    kw.setdefault("grounding", invoice_grounding())
    kw.setdefault("source", Source(INVOICE))
    return Result(data=value, plain=value, raw='{"x": 1}', model="m", schema_name="invoice",
                  reasoning="thought", **kw)


def test_result_html_shows_the_view_below_the_answer():
    res = grounded_result(labels={"invoice_no": "Invoice number"})
    markup = result_html(res)
    assert_inert(markup)
    answer = markup.index("ACME Supplies Ltd")
    view = markup.index('class="structmagic-grounded"')
    reasoning = markup.index("Model reasoning")
    assert answer < view < reasoning  # below the answer, above the details
    assert "<b title=\"invoice_no\">Invoice number</b>" in markup  # the labels
    assert res._repr_mimebundle_()["text/html"].count('class="structmagic-grounded"') == 1
    plain = grounded_result(grounding=None, source=None)
    assert "structmagic-grounded" not in result_html(plain)
    # the rest is as it was without grounding
    before = result_html(plain)
    assert markup[:answer] == before[:answer]
    assert markup.endswith(before[before.index("<details"):])


def test_result_text_ends_with_the_grounding_line():
    text = result_text(grounded_result())
    assert text.splitlines()[-1] == (
        "grounded: 5 of 6 values (exact 3, normalized 1, fuzzy 1); not found: total; "
        "not checked: 1")
    assert result_text(grounded_result()) == text  # deterministic
    plain = grounded_result(grounding=None, source=None)
    assert text == result_text(plain) + "\n" + text.splitlines()[-1]
    steps = grounded_result(grounding={"$": Grounding("ungrounded")})
    steps.plain = {"steps": [{"a": 1}], "final_answer": "x"}
    assert result_text(steps).splitlines()[-1] == "grounded: 0 of 1 value; not found: $"


def test_the_widget_shows_the_view_once_a_grounded_result_finishes():
    wdg = StructuredWidget(title="invoice", labels={"invoice_no": "Invoice number"})
    assert wdg.ground_view in wdg.widget.children
    children = list(wdg.widget.children)
    assert children.index(wdg.ground_view) == children.index(wdg.answer) + 1
    assert wdg.ground_view.layout.display == "none" and wdg.ground_view.value == ""
    wdg.start()
    wdg.update({"supplier": "ACME"})
    assert wdg.ground_view.layout.display == "none"
    wdg.finish(grounded_result())
    assert wdg.ground_view.layout.display != "none"
    view = View(wdg.ground_view.value)
    assert view.source == INVOICE and "Invoice number" in wdg.ground_view.value
    assert len(view.segments) >= 5
    # a result without grounding: the view stays hidden
    other = StructuredWidget(title="invoice")
    other.finish(grounded_result(grounding=None, source=None))
    assert other.ground_view.layout.display == "none" and other.ground_view.value == ""
    # the result's own widget
    assert grounded_result().widget().ground_view.layout.display != "none"


def test_the_widget_holds_the_view_back_with_the_answer_in_reveal_mode():
    value = {"steps": [{"e": "one"}, {"e": "two"}], "final_answer": "ACME Supplies Ltd"}
    res = grounded_result(grounding={"final_answer": found(INVOICE, "ACME Supplies Ltd")})
    res.data = res.plain = value
    wdg = StructuredWidget(title="t", reveal=True, hide_answer=True)
    wdg.finish(res)
    assert wdg.ground_view.value and wdg.ground_view.layout.display == "none"
    wdg.show_step(2)
    assert wdg.ground_view.layout.display == "none"  # the answer is held back still
    wdg.show_answer()
    assert wdg.ground_view.layout.display != "none"
    wdg.show_step(1)
    assert wdg.ground_view.layout.display == "none"


def test_the_widget_keeps_hostile_values_and_sources_inert():
    text = " | ".join(HOSTILE)
    grounding = {f"k{i}": found(text, h) for i, h in enumerate(HOSTILE)}
    res = grounded_result(grounding=grounding, source=Source(text),
                          labels={"k0": HOSTILE[0]})
    wdg = StructuredWidget(title=HOSTILE[0], labels=res.labels)
    wdg.finish(res)
    for value in widget_texts(wdg.widget):
        assert_inert(value)
        value.encode("utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;" in wdg.ground_view.value
    assert_inert(result_html(res))


def test_grounding_and_confidence_show_together_the_table_after_the_view():
    """A result both grounded and with confidence: the bars beside the answer's values, the
    grounded view below it, then the table of values lowest first (in the widget too)."""
    confidence = {"supplier": 0.99, "invoice_no": 0.97, "date": 0.9, "lines[0].qty": 0.45,
                  'lines[0]["unit price"]': 0.8, "total": 0.6, "paid": 0.95}
    res = grounded_result(confidence=confidence)
    markup = result_html(res)
    assert_inert(markup)
    view = markup.index('class="structmagic-grounded"')
    table = markup.index('class="structmagic-confidence"')
    assert markup.index("structmagic-gauge") < view < table
    assert "doubt 0.55" in markup  # 1 - 0.45 beats the 1 of 6 values not found
    wdg = StructuredWidget(title="invoice")
    wdg.finish(res)
    children = list(wdg.widget.children)
    assert children.index(wdg.confidence_view) == children.index(wdg.ground_view) + 1
    assert wdg.ground_view.value and wdg.confidence_view.value
    assert "structmagic-gauge" in wdg.answer.value
