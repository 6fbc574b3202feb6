"""render.py: where the steps are, deterministic text, and HTML in which model text stays inert."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from structmagic.display.confidence import (
    AT_MOST,
    BAR_EDGE,
    BAR_FILL,
    BAR_LOW,
    BAR_TRACK,
    percent,
)
from structmagic.display.grounded import contrast
from structmagic.display.handout import (
    HANDOUT_CSS,
    NEST_LIMIT,
    PRINT_CSS,
    answer_field,
    answer_label,
    check_answer,
    handout_html,
    normalised,
)
from structmagic.display.markup import FG_MUTED, NO_MATH, WARN
from structmagic.display.render import (
    error_html,
    error_text,
    field_labels,
    final_html,
    find_steps,
    humanize,
    label_for,
    other_fields,
    pre_html,
    result_html,
    result_text,
    schema_titles,
    step_html,
    step_text,
    steps_html,
    value_html,
    value_text,
    waiting_html,
)
from structmagic.errors import InvalidOutputError, RefusalError, StreamError, ValidationIssue
from structmagic.grounding.paths import leaves, path_of

from confidence_helpers import answer_of, gauges_in, outside_table
from htmlaudit import POISON, POISON_HTML, assert_inert


@dataclass
class FakeResult:
    """A duck-typed result, as the lead's Result provides it."""

    plain: Any
    raw: str = ""
    reasoning: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    model: str | None = "fake-model"
    attempts: int = 1
    elapsed: float = 1.234
    schema_name: str = "math_reasoning"
    steps_field: str | None = None
    text: str = ""
    truncated: bool = False

    @property
    def data(self) -> Any:
        return self.plain


MATH = {
    "steps": [
        {"explanation": "Align the decimals: 9.80 and 9.11.", "output": "9.80 vs 9.11"},
        {"explanation": "Compare the tenths: 8 > 1.", "output": "9.8 > 9.11"},
        {"explanation": "So 9.8 is larger.", "output": "9.8"},
    ],
    "final_answer": "9.8",
}


# --- find_steps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "field", "expected"),
    [
        # explicit field
        ({"items": [{"a": 1}], "steps": [{"b": 2}]}, "items", ("items", [{"a": 1}])),
        ({"final": "x"}, "items", ("items", [])),  # not arrived yet
        (None, "items", ("items", [])),
        ({"items": "not a list"}, "items", ("items", [])),
        ([{"a": 1}, "x"], "", ("", [{"a": 1}, "x"])),  # "" is the root list
        ([], "", ("", [])),
        # detected: a root list of objects
        ([{"a": 1}, {"a": 2}], None, ("", [{"a": 1}, {"a": 2}])),
        ([1, 2], None, (None, None)),
        ([], None, (None, None)),
        # detected: preferred names first, in order, then any key in order
        ({"thoughts": [{"t": 1}], "steps": [{"s": 1}]}, None, ("steps", [{"s": 1}])),
        ({"chain_of_thought": [{"c": 1}], "reasoning_steps": [{"r": 1}]}, None,
         ("reasoning_steps", [{"r": 1}])),
        ({"a": [{"x": 1}], "thoughts": [{"t": 1}]}, None, ("thoughts", [{"t": 1}])),
        ({"a": [{"x": 1}], "b": [{"y": 1}]}, None, ("a", [{"x": 1}])),
        ({"reasoning": "prose", "items": [{"x": 1}]}, None, ("items", [{"x": 1}])),
        ({"steps": [], "items": [{"x": 1}]}, None, ("items", [{"x": 1}])),  # non-empty only
        ({"steps": ["a", "b"]}, None, (None, None)),  # a list of strings is not steps
        ({"steps": [{"a": 1}, "b"]}, None, (None, None)),
        ({"name": "Ada", "age": 36}, None, (None, None)),
        ("text", None, (None, None)),
        (None, None, (None, None)),
    ],
)
def test_find_steps(value, field, expected):
    assert find_steps(value, field=field) == expected


def test_other_fields():
    assert other_fields(MATH, "steps") == {"final_answer": "9.8"}
    assert other_fields(MATH, None) == MATH
    assert other_fields([{"a": 1}], "") == {}
    assert list(other_fields({"z": 1, "steps": [], "a": 2}, "steps")) == ["z", "a"]  # in order


# --- plain text -------------------------------------------------------------------------------


def test_value_text_tree():
    value = {"name": "Ada", "tags": ["x", {"k": 1}], "empty": {}, "none": None,
             "note": "line one\nline two", "ok": True}
    assert value_text(value) == (
        "name: Ada\n"
        "tags:\n"
        "  - x\n"
        "  - k: 1\n"
        "empty: {}\n"
        "none: null\n"
        "note: line one\n"
        "  line two\n"
        "ok: true"
    )
    assert value_text([]) == "[]"
    assert value_text("s", 1) == "  s"
    assert value_text({"a": {"b": [1, 2]}}, 1) == "  a:\n    b:\n      - 1\n      - 2"


def test_step_text():
    assert step_text(3, {"explanation": "why", "output": "x"}) == (
        "  3. explanation: why\n     output: x")
    assert step_text(1, {"e": "a\nb"}) == "  1. e: a\n        b"
    assert step_text(2, "plain") == "  2. plain"
    assert step_text(4, {}) == "  4."


def test_result_text_is_deterministic():
    text = result_text(FakeResult(MATH))
    assert text == (
        "math_reasoning — 3 steps (model fake-model)\n"
        "  1. explanation: Align the decimals: 9.80 and 9.11.\n"
        "     output: 9.80 vs 9.11\n"
        "  2. explanation: Compare the tenths: 8 > 1.\n"
        "     output: 9.8 > 9.11\n"
        "  3. explanation: So 9.8 is larger.\n"
        "     output: 9.8\n"
        "final_answer: 9.8"
    )
    # same value, another run: other timing, tokens, attempts -> the same text
    again = FakeResult(MATH, elapsed=99.9, attempts=3, usage={"total_tokens": 7},
                       reasoning="r", raw="{}")
    assert result_text(again) == text
    assert "1.2" not in text and "99.9" not in text


def test_result_text_variants():
    one = FakeResult({"steps": [{"a": "x"}]}, model=None)
    assert result_text(one) == "math_reasoning — 1 step\n  1. a: x"
    tree = FakeResult({"name": "Ada", "age": 36}, schema_name="person")
    assert result_text(tree) == "person (model fake-model)\n  name: Ada\n  age: 36"
    root = FakeResult([{"a": 1}, {"a": 2}], schema_name="rows")
    assert result_text(root).startswith("rows — 2 steps")
    explicit = FakeResult({"items": [{"a": 1}], "steps": [{"b": 2}]}, steps_field="items")
    assert result_text(explicit) == (
        "math_reasoning — 1 step (model fake-model)\n  1. a: 1\nsteps:\n  - b: 2")


# --- HTML -------------------------------------------------------------------------------------


def test_result_html():
    res = FakeResult(MATH, raw='{"steps": [], "final_answer": "9.8"}', reasoning="I think",
                     usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12})
    markup = result_html(res)
    shown = assert_inert(markup)
    assert "Step 1" in shown and "Step 3" in shown
    assert "Compare the tenths: 8 &gt; 1." in markup  # escaped
    assert "var(--jp-success-color1" in markup and "final_answer" in shown  # highlighted
    assert markup.count("<details") == 2 and "<details open" not in markup  # collapsed
    assert "I think" in shown and "Model reasoning" in shown and "Raw JSON" in shown
    assert "&quot;final_answer&quot;" in markup  # raw JSON escaped, quotes too
    assert "fake-model" in shown
    assert "var(--jp-border-color2, #e0e0e0)" in markup  # theme variables with fallbacks
    assert "pre-wrap" in markup and "overflow-wrap: anywhere" in markup
    assert "max-height" in markup and "overflow:auto" in markup
    assert result_html(res) == markup  # deterministic
    assert "1.2" not in shown  # no elapsed time


def test_a_result_at_the_token_limit_says_so_in_text_and_html():
    res = FakeResult(MATH, raw="{}", truncated=True)
    note = ("the answer reached the token limit (max_tokens) just after its end: check it "
            "is whole")
    lines = result_text(res).splitlines()
    assert lines[0].startswith("math_reasoning — 3 steps") and lines[1] == f"note: {note}"
    tree = FakeResult({"name": "Ada"}, truncated=True)
    assert result_text(tree).splitlines()[1] == f"note: {note}"
    shown = assert_inert(result_html(res))
    assert shown.count(note) == 1 and shown.index(note) < shown.index("Step 1")
    assert note not in result_text(replace(res, truncated=False))
    assert note not in assert_inert(result_html(replace(res, truncated=False)))


def test_prose_around_the_json_has_its_own_answer_text_section():
    raw = '{"name": "<b>Ada</b>"}'
    res = FakeResult({"name": "<b>Ada</b>"}, raw=raw,
                     text=f"Here is the JSON: {raw} <script>alert(1)</script>")
    markup = result_html(res)
    shown = assert_inert(markup)
    assert "Raw JSON" in shown and "Answer text" in shown and markup.count("<details") == 2
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup and "<script" not in markup
    raw_section = markup.split("Raw JSON", 1)[1].split("</details>", 1)[0]
    assert "Here is the JSON" not in raw_section  # the raw section holds the JSON alone
    alone = replace(res, text=raw)  # nothing around the JSON: no second section
    assert "Answer text" not in assert_inert(result_html(alone))


def test_result_html_without_steps_is_a_tree():
    shown = assert_inert(result_html(FakeResult({"name": "Ada", "tags": ["a", "b"]})))
    assert shown.endswith("NameAdaTagsab") and "Step" not in shown  # top-level keys labelled


def test_step_and_value_html():
    card = step_html(2, {"explanation": "a\nb", "data": {"k": [1, 2]}})
    shown = assert_inert(card)
    assert shown.startswith("Step 2") and "Explanation a\nb" in shown and "Data k" in shown
    assert "<b" in card  # field names in bold
    assert step_html(1, {"a": "x"}, partial=True) != step_html(1, {"a": "x"})
    tree = value_html({"a": [1, "two", None, {}], "b": {"c": True}})
    assert assert_inert(tree) == "a1twonull{}bctrue"


def test_errors():
    err = StreamError("The stream broke off after 2 steps.",
                      partial={"steps": [{"explanation": "half"}]}, raw='{"steps": [')
    assert error_text(err) == "StreamError: The stream broke off after 2 steps."
    shown = assert_inert(error_html(err))
    assert "StreamError" in shown and "broke off" in shown
    assert "Received before the error" in shown and "half" in shown and "Raw answer" in shown
    bare = assert_inert(error_html(err, details=False))
    assert "half" not in bare
    invalid = InvalidOutputError("No valid answer.", errors=[
        ValidationIssue("$.steps[0].output", "'<b>' is not of type 'integer'")])
    assert "&#x27;&lt;b&gt;&#x27;" in error_html(invalid)
    assert error_text(KeyboardInterrupt("interrupted")) == "KeyboardInterrupt: interrupted"


# --- untrusted text ---------------------------------------------------------------------------


def poisoned_value() -> dict[str, Any]:
    return {
        "steps": [{"explanation": p, "output": [p, {p: p}], p: "key is poison"} for p in POISON],
        **{p: p for p in POISON},
        "final_answer": " ".join(POISON),
    }


def test_poisoned_strings_render_inert():
    value = poisoned_value()
    res = FakeResult(value, raw=str(value), reasoning=" ".join(POISON), model=POISON[0],
                     schema_name=POISON[2], usage={"total_tokens": POISON[1]},  # type: ignore
                     text=" ".join(POISON), truncated=True)
    outputs = [result_html(res), value_html(value), *(step_html(i, s) for i, s in
                                                      enumerate(value["steps"], 1))]
    for p in POISON:
        outputs.append(error_html(RefusalError(p, raw=p)))
        outputs.append(error_html(StreamError(p, partial={p: p}, raw=p)))
    tree = FakeResult({p: [p] for p in POISON}, schema_name=POISON[0])  # keys too, no steps
    outputs.append(result_html(tree))
    for markup in outputs:
        shown = assert_inert(markup)
        if "![x]" not in shown:  # (the Markdown image has no tag: it stays plain text)
            assert "<" in shown  # the poison is shown as text...
            assert "&lt;" in markup  # ...because it was escaped
    page = result_html(res)
    for p in POISON:
        assert p in assert_inert(page)  # every poisoned string shows as itself, as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img" not in page and "<a " not in page and "<script" not in page
    assert "href=" not in page.replace("href=&quot;", "") and "src=" not in page.replace(
        "src=x", "")


json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(value=json_value, title=st.text(), model=st.text() | st.none())
def test_any_value_renders_inert_and_deterministic(value, title, model):
    res = FakeResult(value, raw=repr(value), reasoning=title, model=model, schema_name=title)
    for markup in (value_html(value), result_html(res),
                   error_html(StreamError(title, partial=value, raw=title))):
        assert_inert(markup)
    # deterministic: a re-run's result (the value built anew, equal but sharing no object;
    # another elapsed time, token count and attempt count) has the same text/plain...
    rerun = FakeResult(copy.deepcopy(value), raw=repr(value), reasoning=title, model=model,
                       schema_name=title, usage={"total_tokens": 12345}, attempts=3,
                       elapsed=98.765)
    assert result_text(rerun) == result_text(res)
    # ...and an equal result built apart has the same markup
    assert result_html(replace(res, plain=copy.deepcopy(value))) == result_html(res)
    assert value_text(copy.deepcopy(value)) == value_text(value)
    if isinstance(value, str):
        assert assert_inert(value_html(value)) == value  # text round-trips through escaping


def test_render_imports_no_widgets():
    code = ("import sys, structmagic.display.render; "
            "assert 'ipywidgets' not in sys.modules "
            "and 'structmagic.display.widget' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("markup", [
    *POISON_HTML,
    '<div onclick="x()">a</div>',
    '<span style="background:URL(https://evil.example/a.png)">a</span>',
    '<div style="width:expression(alert(1))">a</div>',
    '<ol start="3"><li>a</li></ol>',
    "<form><table><tr><td>a</td></tr></table></form>",  # tables are ours, forms never
    "<img src=x/>",
    "<style>.structmagic-handout{display:none}</style>",  # only the handout's own CSS
    '<style media="print">x</style>',
    '<input type="checkbox">',
    '<input type="text" onfocus="x()">',
    '<input>',
    '<span type="text">a</span>',
    '<a href="https://evil.example/">a</a>',  # a link only to a fragment of ours
    '<a href="//evil.example/#x">a</a>',
    '<a href="#x" onclick="x()">a</a>',
    '<a href="#a b">a</a>',
    '<span href="#x">a</span>',
    '<mark id="x" onmouseover="x()">a</mark>',
    '<mark id="1 x">a</mark>',
])
def test_the_audit_rejects_live_markup(markup):
    """The shared audit (tests/htmlaudit.py) fails on markup a model could have slipped in."""
    with pytest.raises(AssertionError):
        assert_inert(markup)
    assert assert_inert(error_html(RefusalError(markup))).count(markup) == 1  # escaped: text


# --- labels -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "label"), [
    ("final_answer", "Final answer"),
    ("finalAnswer", "Final answer"),
    ("FinalAnswer", "Final answer"),
    ("explanation", "Explanation"),
    ("unit-price", "Unit price"),
    ("HTTPStatus", "HTTP status"),
    ("page_URL", "Page URL"),
    ("step2", "Step 2"),
    ("x", "X"),
    ("答案", "答案"),  # not a plain ASCII name: as it is
    ("two words", "two words"),
    ("_private", "_private"),
    ("<img src=x>", "<img src=x>"),
    ("", ""),
])
def test_humanize(key, label):
    assert humanize(key) == label


def test_schema_titles_from_properties_refs_and_items():
    schema = {
        "$defs": {"Step": {"type": "object", "properties": {
            "explanation": {"type": "string", "title": "Why"},
            "output": {"type": "string"}}}},
        "type": "object",
        "properties": {
            "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}},
            "final_answer": {"type": "string", "title": "  Answer  "},
            "notes": {"anyOf": [{"type": "array", "items": {"type": "object", "properties": {
                "text": {"title": "Note"}}}}, {"type": "null"}]},
            "blank": {"type": "string", "title": " "},
        },
    }
    assert schema_titles(schema) == {"final_answer": "Answer", "explanation": "Why",
                                     "text": "Note"}
    root_list = {"type": "array", "items": {"properties": {"a": {"title": "A!"}}}}
    assert schema_titles(root_list) == {"a": "A!"}
    recursive = {"$ref": "#/$defs/N", "$defs": {"N": {"$ref": "#/$defs/N"}}}
    assert schema_titles(recursive) == {}
    assert schema_titles(True) == {} and schema_titles(None) == {}
    # the user's labels win over the titles
    assert field_labels(schema, {"final_answer": "Result", "output": "Out"}) == {
        "final_answer": "Result", "explanation": "Why", "text": "Note", "output": "Out"}


def test_schema_titles_of_a_pydantic_model():
    pydantic = pytest.importorskip("pydantic")

    class Step(pydantic.BaseModel):
        explanation: str = pydantic.Field(title="Reasoning")
        output: str

    class Math(pydantic.BaseModel):
        steps: list[Step]
        final_answer: str

    titles = schema_titles(Math.model_json_schema())
    assert titles["explanation"] == "Reasoning" and titles["final_answer"] == "Final Answer"
    assert label_for("output", titles) == "Output"


def test_labels_in_html():
    res = FakeResult(MATH)
    shown = assert_inert(result_html(res))
    assert "Explanation" in shown and "Final answer" in shown and "explanation" not in shown
    res.labels = {"final_answer": "Answer"}  # type: ignore[attr-defined]
    markup = result_html(res)
    assert '<b title="final_answer">Answer</b>' in markup
    card = step_html(1, {"explanation": "x"}, labels={"explanation": "<b>Why</b>"})
    assert "&lt;b&gt;Why&lt;/b&gt;" in card and 'title="explanation"' in card
    assert 'title=' not in step_html(1, {"答案": "x", POISON[0]: "y"})  # no key as tooltip


# --- line height, fonts, shape ----------------------------------------------------------------


def _root_style(markup: str) -> str:
    m = re.match(r'<\w+[^>]*?style="([^"]*)"', markup)
    assert m, markup[:80]
    return m.group(1)


def test_blocks_set_line_height_and_cjk_fonts():
    """Each block sets its own line height (an ipywidgets HTML value inherits 28 px) and a
    font list ending in CJK fonts."""
    err = StreamError("broke", partial={"a": 1}, raw="{")
    blocks = [step_html(1, {"a": "b"}), final_html({"a": "b"}), result_html(FakeResult(MATH)),
              error_html(err), waiting_html(), steps_html([{"a": i} for i in range(20)])]
    for markup in blocks:
        style = _root_style(markup)
        assert "line-height:1.5" in style
        assert "'Noto Sans CJK SC'" in style and "'WenQuanYi Zen Hei'" in style
        assert style.index("--jp-content-font-family") < style.index("'Noto Sans CJK SC'")
    assert "line-height:1.5" in _root_style(pre_html("x\ny", mono=True))
    assert "'Noto Sans CJK SC'" in _root_style(pre_html("x", mono=True))


def test_long_answers_fold_their_earlier_steps():
    steps = [{"explanation": f"step text {i}"} for i in range(1, 41)]
    markup = result_html(FakeResult({"steps": steps, "final_answer": "done"}))
    shown = assert_inert(markup)
    assert markup.count("<details") == 1  # the fold (no reasoning, no raw JSON here)
    assert '<details class="structmagic-earlier"' in markup and "<details open" not in markup
    assert "… 36 earlier steps" in shown
    folded, _, rest = markup.partition("</details>")
    assert "step text 36<" in folded and "step text 37<" not in folded  # last 4 in view
    assert all(f"step text {i}<" in rest for i in range(37, 41))
    assert "overflow:auto" in folded and "max-height:60vh" in folded  # opened: it scrolls
    assert rest.index("step text 40") < rest.index("done")  # the answer after the steps
    few = result_html(FakeResult(MATH))
    assert "earlier step" not in few and few.count("<details") == 0
    assert steps_html(steps[:8]).count("<details") == 0  # COLLAPSE_AFTER steps: no fold
    assert "… 5 earlier steps" in steps_html(steps[:9])


def test_waiting_html():
    assert assert_inert(waiting_html()) == "waiting for the answer…"
    assert assert_inert(waiting_html("<b>")) == "<b>"


# --- the exported page ------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
_DATA_SCRIPTS = {"application/vnd.jupyter.widget-state+json",
                 "application/vnd.jupyter.widget-view+json"}


class _PageAudit(HTMLParser):
    """Everything in a page that could make a request: scripts, links, sources, CSS urls."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.requests: list[str] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("type") not in _DATA_SCRIPTS:
            self.requests.append(f"<script type={a.get('type')!r} src={a.get('src')!r}>")
        if tag in ("link", "iframe", "embed", "object"):
            self.requests.append(f"<{tag}>")
        for name in ("src", "href", "srcset", "data", "poster"):
            value = a.get(name)
            if value is not None and not value.startswith(("#", "data:")):
                self.requests.append(f"{name}={value!r} on <{tag}>")
        self._style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._style:
            if "@import" in data:
                self.requests.append("@import")
            for target in re.findall(r"url\(\s*['\"]?([^'\")\s]*)", data):
                if not target.startswith("data:"):
                    self.requests.append(f"url({target})")

    def handle_endtag(self, tag: str) -> None:
        self._style = False


def test_the_exported_page_loads_nothing_from_the_network(tmp_path):
    """The README's export config: no script, stylesheet, font or image from anywhere."""
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--config", "notebooks/export_config.py",
         "--to", "html", "notebooks/walkthrough.ipynb", "--output-dir", str(tmp_path)],
        cwd=ROOT, check=True, capture_output=True, timeout=120)
    page = (tmp_path / "walkthrough.html").read_text(encoding="utf-8")
    audit = _PageAudit()
    audit.feed(page)
    audit.close()
    assert audit.requests == []
    assert "cdnjs" not in page and "unpkg" not in page
    assert "mathjax" not in page.lower().replace(NO_MATH, "")  # our class keeps it off: no loader
    assert len(re.findall(r'class="structmagic-result[ "]', page)) >= 2  # the content is there
    assert page.count(f'class="structmagic-result structmagic-handout {NO_MATH}"') == 1
    assert "'WenQuanYi Zen Hei'" in page and "--jp-code-font-family" in page  # CJK fonts
    # the failed cell's message shows once without a widget renderer: its display's HTML
    # (the saved widget state, inert data here, holds it too), then a one-line traceback
    shown = re.sub(r"<script type=\"application/vnd\.jupyter\.widget-state\+json\">.*?</script>",
                   "", page, flags=re.S)
    assert shown.count("The model refused to answer") == 1
    assert "RefusalError</span>: see above" in shown


def test_a_list_of_objects_not_named_like_steps_is_counted_by_its_own_name():
    receipt = FakeResult({"shop": "Bakery", "items": [{"d": "bread"}, {"d": "milk"}]},
                         schema_name="Receipt", model=None)
    assert result_text(receipt).splitlines()[0] == "Receipt — 2 items"
    lines = FakeResult({"line_items": [{"d": "x"}]}, schema_name="Invoice", model=None)
    assert result_text(lines).splitlines()[0] == "Invoice — 1 line item"


def test_only_reasoning_steps_are_called_steps():
    """A receipt's lines are rows, not steps: a compact table when every item has the same
    flat fields (labelled, numbered, numbers to the right), numbered cards otherwise; "Step"
    for the steps field alone (named like one, or by --steps)."""
    receipt = FakeResult({"shop": "Bakery <b>", "lines": [
        {"item": "bread <i>", "qty": 2, "price": 3.5}, {"item": "milk", "qty": 1, "price": 1.2}]},
        schema_name="Receipt", model=None)
    page = result_html(receipt)
    shown = assert_inert(page)
    assert "Step" not in shown
    table = page.split('class="structmagic-rows"')[1].split("</table>")[0]
    heads = re.findall(r"<th[^>]*>(.*?)</th>", table)
    assert [re.sub("<[^>]+>", "", h) for h in heads] == ["#", "Item", "Qty", "Price"]
    cells = [re.sub("<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", table)]
    assert cells == ["1", "bread &lt;i&gt;", "2", "3.5", "2", "milk", "1", "1.2"]
    assert "text-align:right" in table.split(">3.5<")[0].rsplit("<td", 1)[1]
    # items of different shapes: numbered rows, folded past the limit as steps are
    ragged = FakeResult({"entries": [{"a": i} if i % 2 else {"b": [i]} for i in range(12)]},
                        schema_name="Log", model=None)
    page = result_html(ragged)
    assert "Step" not in assert_inert(page) and "… 8 earlier rows" in page
    assert re.findall(r">(\d+)\.</div>", page) == [str(i) for i in range(1, 13)]
    # reasoning steps, and a list named by --steps, are steps
    steps = FakeResult({"steps": [{"x": 1}, {"x": 2}]}, model=None)
    assert ">Step 2</div>" in result_html(steps)
    chosen = FakeResult({"lines": [{"x": 1}]}, steps_field="lines", model=None)
    assert ">Step 1</div>" in result_html(chosen) and "structmagic-rows" not in result_html(
        chosen)


# --- the handout (reveal mode's text/html) ----------------------------------------------------


class _Node:
    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag, self.attrs = tag, attrs
        self.children: list[_Node | str] = []

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children
                       if not (isinstance(c, _Node) and c.tag == "style"))

    def find(self, tag: str) -> list[_Node]:
        found = [c for c in self.children if isinstance(c, _Node) and c.tag == tag]
        for c in self.children:
            if isinstance(c, _Node):
                found += c.find(tag)
        return found

    def kids(self, tag: str) -> list[_Node]:
        return [c for c in self.children if isinstance(c, _Node) and c.tag == tag]


class _Tree(HTMLParser):
    """The element tree of a fragment (void elements closed at once)."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("root", {})
        self.stack = [self.root]
        self.feed(markup)
        self.close()
        assert self.stack == [self.root], "unbalanced markup"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in ("input", "br"):  # void elements
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, (self.stack[-1].tag, tag)
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def _chain(root: _Node) -> list[_Node]:
    """The handout's sections: the first ``<details>``, then each one nested in it."""
    sections = [d for d in root.find("details") if "structmagic-step" in d.classes]
    chain = [sections[0]]
    while True:
        inner = [d for d in chain[-1].kids("details") if "structmagic-step" in d.classes]
        assert len(inner) <= 1
        if not inner:
            return chain
        chain.append(inner[0])


def test_handout_nests_each_step_in_the_one_before_with_the_answer_last_and_closed():
    res = FakeResult(MATH, raw='{"final_answer": "9.8"}', reasoning="I think 9.8")
    markup = handout_html(res)
    assert handout_html(res) == markup  # deterministic
    root = _Tree(markup).root
    assert not any("open" in d.attrs for d in root.find("details"))  # every section closed
    chain = _chain(root)
    summaries = [d.kids("summary")[0].text() for d in chain]
    assert summaries == ["Step 1 — show", "Step 2 — show", "Step 3 — show",
                         "Final answer — show"]
    assert all(d.children[0].tag == "summary" for d in chain)  # type: ignore[union-attr]
    # each step's own text is in its section, before the next section
    for i, section in enumerate(chain[:3]):
        own = "".join(c if isinstance(c, str) else c.text() for c in section.children
                      if not (isinstance(c, _Node) and c.tag == "details"))
        assert MATH["steps"][i]["explanation"] in own
        assert all(s["explanation"] not in own for j, s in enumerate(MATH["steps"]) if j != i)
    final = chain[-1]
    assert "structmagic-final" in final.classes
    (answer,) = [d for d in root.find("div") if "structmagic-answer" in d.classes]
    assert answer in final.kids("div")  # the answer box only in the last section
    extras = final.kids("details")
    assert [d.kids("summary")[0].text() for d in extras] == ["Model reasoning", "Raw JSON"]
    assert "I think 9.8" in final.text()  # the reasoning holds the answer: behind it too
    outside = root.text().replace(chain[0].text(), "")
    assert "I think" not in outside and "final_answer" not in outside  # nothing before it
    # opened all at once (GitHub's notebook view), the steps read in order with numbers
    shown = assert_inert(markup)
    marks = ["Step 1", MATH["steps"][0]["explanation"], "Step 2",
             MATH["steps"][1]["explanation"], "Step 3", MATH["steps"][2]["explanation"],
             "Final answer — show", "Model reasoning", "Raw JSON"]
    positions = [shown.index(t) for t in marks]
    assert positions == sorted(positions)
    assert shown.count("Step 1") == 1  # the card has no second title: the summary numbers it


def test_handout_steps_need_no_script_and_keep_their_look_in_both_themes():
    markup = handout_html(FakeResult(MATH))
    root = _Tree(markup).root
    assert "<script" not in markup and "onclick" not in markup.lower()
    first = root.children[0]
    assert isinstance(first, _Node) and {"structmagic-result", "structmagic-handout"} <= set(
        first.classes)
    # inline styles carry the screen look (JupyterLab's sanitizer keeps them), with the
    # theme's variables and light fallbacks
    for summary in root.find("summary"):
        assert "cursor:pointer" in summary.attrs["style"]
    assert "var(--jp-brand-color1, #1976d2)" in markup
    assert "var(--jp-ui-font-color1, #1f1f1f)" in markup
    assert "var(--jp-layout-color1, #ffffff)" in markup
    assert "line-height:1.5" in _root_style(markup) and "'Noto Sans CJK SC'" in _root_style(
        markup)


def _sanitized_styles(markup: str) -> list[str]:
    """Each style attribute as JupyterLab leaves it in untrusted output: every declaration
    whose value uses var() dropped."""
    out = []
    for style in re.findall(r'style="([^"]*)"', markup):
        kept = [d for d in style.split(";") if d.strip() and "var(" not in d]
        out.append(";".join(kept))
    return out


def test_the_static_html_keeps_its_edges_where_output_is_sanitized():
    """Untrusted output loses every style value with a var(): the step cards, the answer's
    box, the result's box and an error's edge keep a plain colour given first (an edge reads
    on a light and a dark page alike); the text keeps the page's own colour."""
    page = result_html(FakeResult(MATH))
    styles = _sanitized_styles(page)
    assert any("border:1px solid #e0e0e0" in x for x in styles)  # the result's box
    assert sum("border-left:3px solid #1976d2" in x for x in styles) == len(MATH["steps"])
    assert any("border:2px solid #388e3c" in x for x in styles)  # the answer's box
    assert not any(re.search(r"(^|;)\s*(color|background):", x) for x in styles)
    error = _sanitized_styles(error_html(RefusalError("no")))
    assert any("border-left:3px solid #d32f2f" in x for x in error)


def test_no_view_of_ours_is_typeset_as_math():
    """JupyterLab runs MathJax over rendered HTML: every static view's root carries the class
    that keeps it off, so "$3 and $4" (money, or a model's text) stays text."""
    for page in (result_html(FakeResult({"answer": "$3 and $4"})), error_html(ValueError("$x$")),
                 handout_html(FakeResult(MATH))):
        first = _Tree(page).root.children[0]
        assert NO_MATH in first.classes, page[:80]


def test_handout_print_rules_open_every_step_and_nothing_else():
    markup = handout_html(FakeResult(MATH, raw="{}", reasoning="r"))
    root = _Tree(markup).root
    styles = root.find("style")
    assert len(styles) == 1 and styles[0].text() == HANDOUT_CSS and not styles[0].attrs
    screen, _, printed = HANDOUT_CSS.partition("@media print{")
    assert printed and "@media print{" + printed == PRINT_CSS  # the print rules come last
    # on screen, one rule: an open section drops its "— show" hint
    assert screen == (".structmagic-handout details[open]>summary>.structmagic-show"
                      "{display:none}")
    assert PRINT_CSS.startswith("@media print{") and PRINT_CSS.endswith("}")
    assert PRINT_CSS.count("{") == PRINT_CSS.count("}")
    rules = re.findall(r"([^{}]+)\{([^{}]*)\}", PRINT_CSS[len("@media print{"):-1])
    assert rules and all(sel.startswith(".structmagic-handout ") for sel, _ in rules)  # scoped
    opened = dict(rules)[".structmagic-handout details.structmagic-step::details-content"]
    assert "content-visibility:visible" in opened
    assert ".structmagic-handout .structmagic-show" in dict(rules)  # "— show" hidden in print
    # the raw JSON and reasoning sections are not steps: print leaves them closed
    extras = [d for d in root.find("details") if "structmagic-step" not in d.classes]
    assert [d.kids("summary")[0].text() for d in extras] == ["Model reasoning", "Raw JSON"]
    assert "url(" not in PRINT_CSS and "@import" not in PRINT_CSS


def test_handout_asks_first_before_the_steps():
    markup = handout_html(FakeResult(MATH), ask_first=True)
    root = _Tree(markup).root
    shown = assert_inert(markup)
    assert "Try it first. Your answer:" in shown
    (box,) = root.find("input")
    assert box.attrs.get("type") == "text" and set(box.attrs) == {"type", "style"}
    assert shown.index("Your answer:") < shown.index("Step 1")
    (label,) = root.find("label")
    assert label.find("input") == [box]  # the label names the box (no aria attribute)
    assert "9.8" in _chain(root)[-1].text() and "9.8" not in label.text()
    assert "<input" not in handout_html(FakeResult(MATH))


def test_handout_shapes():
    # no steps: the whole value behind one closed section
    tree = _Tree(handout_html(FakeResult({"name": "Ada"}))).root
    (only,) = tree.find("details")
    assert only.kids("summary")[0].text() == "Answer — show" and "Ada" in only.text()
    # steps and no answer: the extras close the last step
    steps_only = FakeResult({"steps": [{"a": "x"}, {"a": "y"}]}, raw='{"steps": []}')
    chain = _chain(_Tree(handout_html(steps_only)).root)
    assert [d.kids("summary")[0].text() for d in chain] == ["Step 1 — show", "Step 2 — show"]
    assert "Raw JSON" in chain[-1].text()
    # several fields besides the steps: "Answer" holds them all; labels are used
    many = FakeResult({"steps": [{"a": 1}], "final_answer": "x", "confidence": 0.9})
    chain = _chain(_Tree(handout_html(many)).root)
    assert chain[-1].kids("summary")[0].text() == "Answer — show"
    assert "Confidence" in chain[-1].text()
    labelled = FakeResult(MATH)
    labelled.labels = {"final_answer": "The answer"}  # type: ignore[attr-defined]
    assert _chain(_Tree(handout_html(labelled)).root)[-1].kids("summary")[0].text() == (
        "The answer — show")
    # a root list of steps, and an explicit steps field
    assert len(_chain(_Tree(handout_html(FakeResult([{"a": 1}, {"a": 2}]))).root)) == 2
    explicit = FakeResult({"items": [{"a": 1}], "final": "f"}, steps_field="items")
    assert [d.kids("summary")[0].text() for d in _chain(_Tree(handout_html(explicit)).root)
            ] == ["Step 1 — show", "Final — show"]


def test_handout_of_many_steps_nests_at_most_nest_limit_levels():
    steps = [{"explanation": f"step text {i}"} for i in range(1, NEST_LIMIT + 41)]
    markup = handout_html(FakeResult({"steps": steps, "final_answer": "done"}))
    chain = _chain(_Tree(markup).root)
    assert len(chain) == NEST_LIMIT + 1  # 99 steps, one shared section, the answer
    titles = [d.kids("summary")[0].text() for d in chain]
    assert titles[NEST_LIMIT - 2] == f"Step {NEST_LIMIT - 1} — show"
    assert titles[NEST_LIMIT - 1] == f"Steps {NEST_LIMIT}–{NEST_LIMIT + 40} — show"
    shared = chain[NEST_LIMIT - 1]
    assert all(f"Step {i}" in shared.text() for i in range(NEST_LIMIT, NEST_LIMIT + 41))
    assert titles[-1] == "Final answer — show" and "done" in chain[-1].text()
    assert "earlier step" not in markup  # a handout does not fold: each step opens alone


def test_handout_keeps_poisoned_text_inert():
    value = poisoned_value()
    res = FakeResult(value, raw=" ".join(POISON), reasoning=" ".join(POISON),
                     model=POISON[0], schema_name=POISON[2])
    res.labels = {"final_answer": POISON[4], "explanation": POISON[1]}  # type: ignore
    for markup in (handout_html(res), handout_html(res, ask_first=True)):
        shown = assert_inert(markup)
        for p in POISON:
            assert p in shown  # shown as text
        assert "&lt;style&gt;body{display:none}&lt;/style&gt;" in markup
        assert markup.count("<style>") == 1 and "<img" not in markup


@settings(max_examples=60, deadline=None)
@given(value=json_value, title=st.text())
def test_any_value_makes_an_inert_handout(value, title):
    res = FakeResult(value, raw=repr(value), reasoning=title, schema_name=title)
    assert_inert(handout_html(res, ask_first=True))
    assert handout_html(replace(res, plain=copy.deepcopy(value))) == handout_html(res)


@pytest.mark.parametrize(("typed", "expected", "right"), [
    ("9.8 比 9.11 大。", "9.8 比 9.11 大。", True),
    ("  9.8   IS larger ", "9.8 is larger", True),   # case and whitespace
    ("ＡＢＣ", "abc", True),                          # NFKC: full-width letters
    ("Straße", "STRASSE", True),                     # case folding
    ("9.8", "9.8 is larger", False),                 # the whole answer, not a part
    ("", "", False),                                 # nothing typed is never right
    ("60", 60, True), ("60.0", 60, True), ("1,000", 1000, True), ("59.99", 60, False),
    ("true", True, True), ("1", True, False),
    ('["a", "b"]', ["a", "b"], True),
    ("sixty", 60, False),
])
def test_check_answer(typed, expected, right):
    assert check_answer(typed, expected) is right


def test_check_answer_normalises_as_expect_scores_strings():
    """The same normalisation as --expect's ``normalised`` measure (rows/score.py)."""
    from structmagic.rows.score import score

    schema = {"type": "object", "properties": {"final_answer": {"type": "string"}}}
    pairs = [("９.８ IS\tlarger", "9.8 is larger"), ("Ǆ", "ǆ"), ("a b", "ab")]
    for typed, expected in pairs:
        table = score([{"final_answer": typed}], [{"final_answer": expected}], schema).table
        rows = table.to_dict("records") if hasattr(table, "to_dict") else table
        measured = next(r for r in rows if r.get("normalised") is not None)["normalised"]
        assert check_answer(typed, expected) is (measured == 1.0), (typed, expected)
    assert normalised("  Ａ\u3000b  ") == "a b"


def test_answer_field_and_label():
    assert answer_field(MATH) == "final_answer"
    assert answer_field({"steps": [{"a": 1}], "note": "n", "answer": 3}) == "answer"
    assert answer_field({"steps": [{"a": 1}], "total": 3}) == "total"
    assert answer_field({"steps": [{"a": 1}]}) is None and answer_field([{"a": 1}]) is None
    assert answer_label(MATH) == "Final answer"
    assert answer_label(MATH, labels={"final_answer": "Answer"}) == "Answer"
    assert answer_label({"steps": [{"a": 1}], "x": 1, "y": 2}) == "Answer"


def test_a_list_of_one_is_counted_in_the_singular():
    from structmagic.display.render import count_steps

    assert [count_steps(f, [1]) for f in ("lines", "entries", "addresses", "boxes", "status",
                                          "line_items")] == [
        "1 line", "1 entry", "1 address", "1 box", "1 status", "1 line item"]
    assert count_steps("lines", [1, 2]) == "2 lines"
    assert count_steps("steps", [1], explicit=True) == "1 step"


# --- confidence and agreement -----------------------------------------------------------------

INVOICE = {"invoice_no": "INV-7", "total": 12.5,
           "lines": [{"item": "bolt", "qty": 3, "unit price": 1.5},
                     {"item": "nut", "qty": 10, "unit price": 0.2}]}
INVOICE_CONFIDENCE = {"invoice_no": 0.97, "total": 0.61, "lines[0].item": 0.99,
                      "lines[0].qty": 0.42, 'lines[0]["unit price"]': 0.88,
                      "lines[1].item": 0.95, "lines[1].qty": 0.7,
                      'lines[1]["unit price"]': 0.8}


def test_each_value_has_its_bar_with_its_percentage_beside_it():
    """Every value shown has a gauge beside it, in the order the view shows the values (the
    rows' table, then the final answer), its fill as wide as its figure says; under 50% the
    bar turns the warning colour and is marked."""
    res = answer_of(INVOICE, confidence=INVOICE_CONFIDENCE)
    markup = result_html(res)
    assert_inert(markup)
    shown = gauges_in(outside_table(markup))
    order = ["lines[0].item", "lines[0].qty", 'lines[0]["unit price"]', "lines[1].item",
             "lines[1].qty", 'lines[1]["unit price"]', "invoice_no", "total"]
    assert [g.title for g in shown] == [
        f"confidence {percent(INVOICE_CONFIDENCE[p])}%" for p in order]
    assert [g.figure for g in shown] == ["99%", "42%", "88%", "95%", "70%", "80%", "97%", "61%"]
    assert [g.width for g in shown] == [99, 42, 88, 95, 70, 80, 97, 61]
    assert [g.low for g in shown] == [False, True] + [False] * 6
    assert [g.fill for g in shown] == [BAR_FILL, BAR_LOW] + [BAR_FILL] * 6
    # the cell of lines[0].qty holds its value and then its bar
    assert re.search(r">3<span class=\"structmagic-gauge structmagic-low\"", markup)


@pytest.mark.parametrize(("value", "confidence"), [
    ("just text", {"$": 0.3}),  # a scalar root
    ([{"name": "a"}, {"name": "b"}], {"[0].name": 0.9, "[1].name": 0.2}),  # a root list
    ({"steps": [{"explanation": "e", "output": "o"}], "final_answer": "x"},
     {"steps[0].explanation": 0.8, "steps[0].output": 0.1, "final_answer": 0.6}),
    ({"a": {"b": [1, {"c d": True}]}, "e": None},
     {"a.b[0]": 0.5, 'a.b[1]["c d"]': 0.49, "e": 1.0}),
])
def test_bars_follow_the_answers_paths_in_every_shape(value, confidence):
    """Paths as grounding writes them (``$``, ``[0].name``, ``a.b[1]["c d"]``): each leaf's
    bar shows its own figure, whatever shape the view gives the answer."""
    shown = gauges_in(outside_table(result_html(answer_of(value, confidence=confidence))))
    assert sorted(g.title for g in shown) == sorted(
        f"confidence {percent(p)}%" for p in confidence.values())
    assert sum(g.low for g in shown) == sum(p < 0.5 for p in confidence.values())


def test_the_lowest_values_are_named_under_the_title():
    markup = result_html(answer_of(INVOICE, confidence=INVOICE_CONFIDENCE))
    head = markup.split('<div class="structmagic-lowest"', 1)[1].split("</div>", 1)[0]
    assert assert_inert("<div" + head + "</div>").endswith(
        "lowest confidence: lines[0].qty 42% · total 61% · lines[1].qty 70%")
    assert head.count(f'color:{WARN}') == 1  # only the one under 50% in the warning colour
    shown = assert_inert(markup)
    assert shown.index("lowest confidence") < shown.index("Total")  # at the top


def test_the_table_lists_the_values_lowest_first_and_stops_at_twenty():
    """200 values: the table's rows are the 20 lowest, lowest first (ties in the answer's
    order), then "… 180 more"; three values: the line under the title names them all and
    there is no table."""
    lines = [{"sku": f"s{i}", "qty": i} for i in range(100)]
    confidence = {}
    for i in range(100):
        confidence[f"lines[{i}].sku"] = 0.9
        confidence[f"lines[{i}].qty"] = ((i * 37) % 100) / 100
    markup = result_html(answer_of({"lines": lines}, confidence=confidence))
    assert_inert(markup)
    table = markup.split('<details class="structmagic-confidence"', 1)[1]
    assert "<details open" not in markup  # collapsed
    rows = re.findall(r"<tr><td[^>]*><code[^>]*>([^<]*)</code>", table)
    expected = sorted(confidence, key=lambda p: confidence[p])[:20]
    assert rows == expected and len(rows) == AT_MOST
    assert [g.width for g in gauges_in(table)] == [percent(confidence[p]) for p in expected]
    assert "… 180 more" in assert_inert(table)
    assert "Confidence by value: the 20 lowest of 200 values" in assert_inert(table)
    assert len(gauges_in(outside_table(markup))) == 200  # every value has its bar
    three = result_html(answer_of({"a": 1, "b": 2, "c": 3},
                                  confidence={"a": 0.2, "b": 0.9, "c": 0.5}))
    assert "structmagic-confidence" not in three
    assert "lowest confidence: a 20% · c 50% · b 90%" in assert_inert(three)


def test_ties_in_the_table_keep_the_answers_order():
    value = {"d": 1, "c": 2, "b": 3, "a": 4}
    confidence = {"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.5}
    table = result_html(answer_of(value, confidence=confidence))
    assert re.findall(r"<code[^>]*>([a-d])</code></td>", table) == ["d", "c", "b", "a"]


def test_agreement_is_shown_as_the_samples_that_agree():
    value = {"steps": [{"explanation": "e", "output": "o"}], "final_answer": "x"}
    res = answer_of(value, agreement={"steps[0].explanation": 1.0, "steps[0].output": 1 / 3,
                                      "final_answer": 2 / 3}, samples=3)
    markup = result_html(res)
    shown = gauges_in(outside_table(markup))
    assert [(g.title, g.figure, g.width, g.low) for g in shown] == [
        ("3 of 3 samples agree", "3/3", 100, False),
        ("1 of 3 samples agree", "1/3", 33, True),
        ("2 of 3 samples agree", "2/3", 66, False)]
    assert "lowest agreement of 3 samples: steps[0].output 1/3 · final_answer 2/3 · " \
           "steps[0].explanation 3/3" in assert_inert(markup)
    # a share of no whole number of samples (or one sample: a comparison) as a percentage
    odd = answer_of({"a": 1}, agreement={"a": 0.5}, samples=1)
    assert [(g.title, g.figure) for g in gauges_in(result_html(odd))] == [
        ("agreement 50%", "50%")]


def test_confidence_and_agreement_together():
    res = answer_of({"a": "x", "b": "y", "c": "z", "d": "w"},
                    confidence={"a": 0.9, "b": 0.3, "c": 0.8, "d": 0.7},
                    agreement={"a": 0.25, "b": 1.0, "c": 1.0, "d": 0.75}, samples=4)
    markup = result_html(res)
    shown = gauges_in(outside_table(markup))
    assert [g.figure for g in shown] == ["90%", "1/4", "30%", "4/4", "80%", "4/4", "70%", "3/4"]
    text = assert_inert(markup)
    assert "lowest confidence: b 30% · d 70% · c 80%" in text
    assert "lowest agreement of 4 samples: a 1/4 · d 3/4 · b 4/4" in text
    table = markup.split('<details class="structmagic-confidence"', 1)[1]
    assert "Confidence and agreement by value: all 4 values, lowest first" in assert_inert(table)
    # lowest first by the lower of the two: a (0.25), b (0.3), d (0.7), c (0.8)
    assert re.findall(r"<code[^>]*>([a-d])</code></td>", table) == ["a", "b", "d", "c"]


def test_without_confidence_one_muted_line_says_why():
    reason = "Claude's Messages API gives no log-probabilities."
    markup = result_html(answer_of({"a": 1}, confidence_reason=reason))
    shown = assert_inert(markup)
    assert shown.count(f"confidence: not available — {reason}") == 1
    line = markup.split('class="structmagic-no-confidence"', 1)[1].split(">", 1)[0]
    assert FG_MUTED in line
    assert not gauges_in(markup) and "structmagic-doubt" not in markup  # nothing known
    assert "not available" not in assert_inert(result_html(answer_of({"a": 1})))
    # with agreement known, the reason still says why confidence is missing
    both = assert_inert(result_html(answer_of({"a": 1}, confidence_reason=reason,
                                              agreement={"a": 1.0}, samples=2)))
    assert "lowest agreement of 2 samples: a 2/2" in both and "not available" in both


def test_the_doubt_badge_shows_only_with_confidence_or_agreement():
    assert "structmagic-doubt" not in result_html(answer_of({"a": 1}, reasks=1))
    markup = result_html(answer_of(INVOICE, confidence=INVOICE_CONFIDENCE))
    badge = markup.split('<span class="structmagic-doubt"', 1)[1].split("</span>", 1)[0]
    assert badge.endswith(">doubt 0.58") and f"color:{WARN}" in badge
    calm = result_html(answer_of({"a": 1}, confidence={"a": 0.9}))
    badge = calm.split('<span class="structmagic-doubt"', 1)[1].split("</span>", 1)[0]
    assert badge.endswith(">doubt 0.10") and f"color:{FG_MUTED}" in badge
    head = assert_inert(calm.split("</div>", 1)[0])
    assert head == "invoice · m doubt 0.10"  # beside the title


def test_figures_are_floored_and_odd_numbers_ignored():
    assert [percent(p) for p in (0.0, 0.29, 0.5, 0.999, 1.0)] == [0, 29, 50, 99, 100]
    value = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
    res = answer_of(value, confidence={"a": 1.5, "b": -0.2, "c": float("nan"), "d": "high",
                                       "e": True})
    shown = gauges_in(outside_table(result_html(res)))
    assert [(g.title, g.width) for g in shown] == [("confidence 100%", 100),
                                                  ("confidence 0%", 0)]
    nothing = answer_of(value, confidence={"a": float("inf")})
    assert not gauges_in(result_html(nothing))


def test_confidence_never_reaches_text_plain():
    reason = "no log-probabilities"
    for value in (INVOICE, MATH, "text", [{"a": 1}]):
        plain = answer_of(value)
        for extra in ({"confidence": {"total": 0.1, "$": 0.2}},
                      {"agreement": {"total": 0.5}, "samples": 2},
                      {"confidence_reason": reason}):
            res = answer_of(value, **extra)
            assert result_text(res) == result_text(plain)
            assert res._text() == plain._text() and repr(res) == repr(plain)
            assert "%" not in res._text() and "doubt" not in res._text()


def test_poisoned_paths_values_and_reasons_stay_inert():
    value = {p: p for p in POISON}
    value["lines"] = [{p: p} for p in POISON]
    confidence = {**{path_of([p]): 0.1 for p in POISON},
                  **{path_of(["lines", i, p]): 0.2 for i, p in enumerate(POISON)},
                  "<script>alert(1)</script>": 0.0}  # a path not in the answer
    res = answer_of(value, confidence=confidence, agreement=confidence, samples=2,
                    schema_name=POISON[0])
    reasoned = answer_of(value, confidence_reason=" ".join(POISON))
    for markup in (result_html(res), result_html(reasoned)):
        shown = assert_inert(markup)
        assert "&lt;img src=x onerror=alert(1)&gt;" in markup
        assert "<img" not in markup and "<script" not in markup
        assert POISON_HTML[0] in shown
    table = result_html(res).split('<details class="structmagic-confidence"', 1)[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table  # the stray path, escaped
    assert len(gauges_in(outside_table(result_html(res)))) == 2 * 2 * len(POISON)


def test_the_bars_keep_their_colours_and_widths_where_output_is_sanitized():
    """Untrusted output drops every style value with a var(): the bars' fills, widths,
    tracks and edges are plain values, so they stay. The fills read on the track, and the bar
    on every background of both themes (3:1 at least, as a chart's marks should): by its edge
    on light ones, by its track on dark ones."""
    styles = _sanitized_styles(result_html(answer_of(INVOICE, confidence=INVOICE_CONFIDENCE)))
    assert sum(f"width:42%;background:{BAR_LOW}" in x for x in styles) == 2  # beside, table
    assert sum(f"background:{BAR_TRACK};border:1px solid {BAR_EDGE}" in x
               and "display:inline-block" in x for x in styles) == 2 * len(INVOICE_CONFIDENCE)
    for fill in (BAR_FILL, BAR_LOW):
        assert contrast(fill, BAR_TRACK) >= 3, fill
    # light: the page, the answer's box, the track itself; dark: the same, and the page
    for page in ("#ffffff", "#eeeeee", "#e0e0e0", "#212121", "#424242", "#111111"):
        assert max(contrast(BAR_EDGE, page), contrast(BAR_TRACK, page)) >= 3, page


json_key = st.text(max_size=6)
json_tree = st.recursive(
    json_leaf, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(json_key, inner, max_size=4), max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(value=json_tree, share=st.floats(0, 1))
@example(value={"": [{"": None}]}, share=0.0)  # a field called "" is not the root
@example(value=[{"": None}], share=0.0)
def test_any_answer_has_one_bar_per_value_and_stays_inert(value, share):
    """Whatever its shape (tree, steps, rows' table, a root list), every leaf the view
    shows gets exactly one bar, found by the path grounding gives it."""
    confidence = {path: share for path, _ in leaves(value)}
    markup = result_html(answer_of(value, confidence=confidence))
    assert_inert(markup)
    assert len(gauges_in(outside_table(markup))) == len(confidence)
    assert result_html(answer_of(copy.deepcopy(value), confidence=confidence)) == markup
