"""The steps widget without a frontend: structure, live updates, throttling, cost, reveal, errors.

ipywidgets objects work without a kernel comm, so these tests drive the widget as the magic
does (start, update per read, finish/fail) and read the widgets' values.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import structmagic as sm
from structmagic.call.result import Result
from structmagic.display import render
from structmagic.display.widget import StructuredWidget
from structmagic.errors import InvalidOutputError, RefusalError, StreamError, ValidationIssue
from structmagic.grounding.paths import leaves

from confidence_helpers import gauges_in
from htmlaudit import POISON, assert_inert, widget_texts


class Clock:
    """A fake clock for the widget's throttle: tests move ``t`` by hand."""

    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    time = monotonic

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def steps_value(n: int, *, last_partial: bool = False, final: str | None = None) -> dict:
    steps = [{"explanation": f"explain {i}", "output": f"out {i}"} for i in range(n)]
    if last_partial and steps:
        steps[-1] = {"explanation": "expl"}
    value: dict[str, Any] = {"steps": steps}
    if final is not None:
        value["final_answer"] = final
    return value


def result_of(value: Any, **kw: Any) -> Result:
    kw.setdefault("raw", '{"steps": []}')
    kw.setdefault("model", "m")
    kw.setdefault("schema_name", "math")
    kw.setdefault("usage", {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})
    return Result(data=value, plain=value, **kw)


def visible(wdg: StructuredWidget) -> list[bool]:
    """Which step cards the steps box shows (folded or recent)."""
    shown = wdg.shown_cards
    return [any(c is s for s in shown) for c in wdg.step_widgets]


# --- structure and the life of a call ----------------------------------------------------------


def test_live_updates_then_final_state():
    clock = Clock()
    wdg = StructuredWidget(title="math", model="m", clock=clock)
    assert wdg.status == "waiting" and "math" in wdg.header.value
    wdg.start()
    assert "waiting" in wdg.header.value
    for n in range(1, 4):
        clock.t += 1
        wdg.update(steps_value(n, last_partial=True))
        assert wdg.status == "streaming"
        assert len(wdg.step_widgets) == n
        assert f"{n}.0 s" in wdg.header.value  # elapsed, from the clock
    assert "expl" in wdg.steps_html[-1]
    final = steps_value(3, final="9.8")
    wdg.finish(result_of(final, reasoning="thinking hard", elapsed=2.25))
    assert wdg.status == "done"
    assert wdg.shown_cards == wdg.step_widgets
    assert all(f"explain {i}" in c.value and f"out {i}" in c.value
               for i, c in enumerate(wdg.step_widgets))
    assert [f"Step {i}<" in h for i, h in enumerate(wdg.steps_html, 1)] == [True] * 3
    assert "9.8" in wdg.answer.value and ">Final answer</b>" in wdg.answer.value
    assert "var(--jp-success-color1" in wdg.answer.value  # highlighted
    assert wdg.reasoning_box.selected_index is None  # collapsed
    assert wdg.reasoning_box.layout.display != "none"
    assert "thinking hard" in wdg.reasoning_html.value
    assert wdg.raw_box.selected_index is None and "&quot;steps&quot;" in wdg.raw_html.value
    header = wdg.header.value
    assert "done" in header and "3 tokens (1 prompt + 2 completion)" in header
    assert "2.2 s" in header  # the result's own elapsed time once done
    assert repr(wdg) == "<StructuredWidget math: done, 3 steps>"
    assert "structmagic-widget" in wdg.widget._dom_classes
    # the cards share one layout and one style (one comm per card in a kernel, not three)
    assert len({id(c.layout) for c in wdg.step_widgets}) == 1
    assert len({id(c.style) for c in wdg.step_widgets}) == 1


def test_repr_and_mimebundle():
    wdg = StructuredWidget(title="math")
    assert repr(wdg) == "<StructuredWidget math: waiting, 0 steps>"
    bundle = wdg._repr_mimebundle_()
    assert bundle["text/plain"] == repr(wdg)  # short and deterministic, not the VBox repr
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == wdg.widget.model_id
    wdg.finish(result_of(steps_value(1, final="x")))
    assert repr(wdg) == "<StructuredWidget math: done, 1 step>"


def test_without_steps_the_value_is_a_tree():
    wdg = StructuredWidget(title="person", min_interval=0)
    wdg.start()
    wdg.update({"name": "Ada"})
    assert "Ada" in wdg.answer.value and wdg.step_widgets == ()
    wdg.update({"name": "Ada", "langs": ["Analytical"]})
    assert "Analytical" in wdg.answer.value  # the tree updates live
    wdg.finish(result_of({"name": "Ada", "age": 36}))
    assert "36" in wdg.answer.value and wdg.step_widgets == ()


@pytest.mark.parametrize("field", ["items", None])
def test_explicit_or_detected_steps_field(field):
    value = {"items": [{"a": 1}, {"a": 2}], "other": [{"b": 1}]}
    wdg = StructuredWidget(title="t", steps_field=field, min_interval=0)
    wdg.finish(result_of(value))
    assert len(wdg.step_widgets) == 2
    assert "other" in wdg.answer.value


def test_root_list_of_steps():
    wdg = StructuredWidget(title="rows", steps_field="", min_interval=0)
    wdg.update([{"a": 1}])
    wdg.update([{"a": 1}, {"a": 2}])
    wdg.finish(result_of([{"a": 1}, {"a": 2}, {"a": 3}]))
    assert len(wdg.step_widgets) == 3 and wdg.answer.value == ""


def test_detected_field_changes_at_the_end():
    """Live detection sees 'items' first; the final value prefers 'steps': cards start over."""
    wdg = StructuredWidget(title="t", min_interval=0)
    wdg.update({"items": [{"i": "item 0"}, {"i": "item 1"}]})
    assert len(wdg.step_widgets) == 2
    wdg.update({"items": [{"i": "item 0"}, {"i": "item 1"}], "steps": [{"s": "step 0"}]})
    assert "item 1" in wdg.steps_html[1]  # kept while streaming (no flicker)
    wdg.finish(result_of({"items": [{"i": "item 0"}, {"i": "item 1"}],
                          "steps": [{"s": "step 0"}, {"s": "step 1"}, {"s": "step 2"}]}))
    assert len(wdg.step_widgets) == 3 and all("step" in h for h in wdg.steps_html)
    assert "item 0" in wdg.answer.value


def test_restart_forgets_steps():
    wdg = StructuredWidget(title="t", min_interval=0)
    wdg.update(steps_value(5))
    wdg.restart()
    assert wdg.step_widgets == () and wdg.shown_cards == ()
    wdg.update(steps_value(1))
    assert len(wdg.step_widgets) == 1


def test_a_shorter_attempt_without_restart_starts_over():
    wdg = StructuredWidget(title="t", min_interval=0)
    wdg.update(steps_value(5))
    wdg.update({"steps": [{"explanation": "again"}]})
    assert len(wdg.step_widgets) == 1 and "again" in wdg.steps_html[0]


def test_reasoning_shows_live_collapsed():
    wdg = StructuredWidget(title="t", min_interval=0)
    wdg.start()
    assert wdg.reasoning_box.layout.display == "none"  # nothing to show yet
    wdg.update(None, reasoning="First, compare")
    assert wdg.reasoning_box.layout.display != "none"
    assert wdg.reasoning_box.selected_index is None
    assert "First, compare" in wdg.reasoning_html.value
    assert wdg.reasoning_box.titles == ("Model reasoning",)


# --- throttling and cost -----------------------------------------------------------------------


def test_updates_are_throttled_and_finish_always_renders():
    clock = Clock()
    wdg = StructuredWidget(title="t", clock=clock, min_interval=0.05)
    wdg.start()
    clock.t = 1.0
    for i in range(100):  # 100 updates within 10 ms
        clock.t += 0.0001
        wdg.update(steps_value(1 + i // 10))
    assert wdg.renders <= 2
    assert len(wdg.step_widgets) == 1  # only the first update rendered
    wdg.finish(result_of(steps_value(12, final="x")))
    assert len(wdg.step_widgets) == 12 and "x" in wdg.answer.value


def test_a_render_once_the_interval_has_passed_shows_the_latest_state():
    clock = Clock()
    wdg = StructuredWidget(title="t", clock=clock, min_interval=0.05)
    wdg.update(steps_value(1))
    for n in range(2, 6):
        clock.t += 0.01
        wdg.update(steps_value(n), usage={"total_tokens": n})
    assert wdg.renders == 1
    clock.t += 0.05
    wdg.update(steps_value(6, last_partial=True))
    assert wdg.renders == 2 and len(wdg.step_widgets) == 6 and "5 tokens" in wdg.header.value


def test_fail_renders_the_latest_throttled_state():
    clock = Clock()
    wdg = StructuredWidget(title="t", clock=clock, min_interval=10)
    wdg.update(steps_value(1))
    wdg.update(steps_value(4, last_partial=True))  # throttled
    wdg.fail(StreamError("broke off"))
    assert len(wdg.step_widgets) == 4


def test_a_throttled_update_does_no_rendering(monkeypatch):
    clock = Clock()
    wdg = StructuredWidget(title="t", clock=clock, min_interval=1)
    wdg.update(steps_value(3, last_partial=True))

    def boom(*a: Any, **k: Any) -> Any:
        raise AssertionError("rendered while throttled")

    for name in ("find_steps", "step_html", "final_html", "value_html", "other_fields"):
        monkeypatch.setattr(render, name, boom)
    for n in range(4, 200):
        wdg.update(steps_value(n), reasoning="r" * n)


def test_finished_steps_render_once():
    wdg = StructuredWidget(title="t", min_interval=0)
    wdg.start()
    first_cards: dict[int, str] = {}
    for n in range(1, 30):
        wdg.update(steps_value(n, last_partial=True))
        for i, child in enumerate(wdg.step_widgets[:-1]):
            first_cards.setdefault(i, child.value)
            assert child.value == first_cards[i]
    ids = [id(c) for c in wdg.step_widgets]  # the widget objects are kept, not rebuilt
    wdg.update(steps_value(29, last_partial=False))
    assert [id(c) for c in wdg.step_widgets] == ids


def test_update_cost_is_linear_in_new_content(monkeypatch):
    """800 steps in ~20,000 deltas, every update rendered: earlier steps never re-render, and
    what goes to the frontend per step stays small (no message lists every card)."""
    import ipywidgets

    calls: dict[int, int] = {}
    real = render.step_html

    def counting(i: int, step: Any, **kw: Any) -> str:
        calls[i] = calls.get(i, 0) + 1
        return real(i, step, **kw)

    monkeypatch.setattr(render, "step_html", counting)
    sent: list[tuple[str, int]] = []  # (trait, length) of every state update a kernel sends

    def record(widget: Any, msg: dict[str, Any], buffers: Any = None) -> None:
        for name, value in msg.get("state", {}).items():
            sent.append((name, len(value) if isinstance(value, (list, tuple, str)) else 1))

    monkeypatch.setattr(ipywidgets.Widget, "_send", record)
    wdg = StructuredWidget(title="t", min_interval=0)
    value_changes: dict[int, int] = {}
    steps: list[dict[str, str]] = []
    value = {"steps": steps}
    updates = 0
    per_step = 25  # deltas per step: 800 * 25 = 20,000
    text = "compare the digits after the decimal point, one at a time"
    for i in range(800):
        for d in range(1, per_step + 1):
            step = {"explanation": text[: d * len(text) // per_step]}
            steps = [*steps[:i], step]  # a new partial value each time: arrays only grow
            wdg.update({"steps": steps})
            updates += 1
        if i < 3:
            for card in wdg.step_widgets[len(value_changes):]:
                k = len(value_changes)
                value_changes[k] = 0
                card.observe(lambda ch, k=k: value_changes.__setitem__(k, value_changes[k] + 1),
                             "value")
    value = {"steps": steps, "final_answer": "9.8"}
    wdg.finish(result_of(value))
    assert updates == 20_000 and len(wdg.step_widgets) == 800
    # each step renders while it is the open one, once more when it completes; never after
    assert all(calls[i] <= per_step + 1 for i in range(1, 801))
    assert sum(calls.values()) <= updates + 800
    assert value_changes[0] == 1  # step 1: rendered per delta, then its final form once
    # every card is on show, in order: the last few in view, the others folded
    assert wdg.shown_cards == wdg.step_widgets
    assert wdg.recent.children == wdg.step_widgets[-render.KEEP_RECENT:]
    # children lists sent: a few per step, none of them long (never the 800 cards at once)
    children = [n for name, n in sent if name == "children"]
    assert 800 <= len(children) <= 4 * 800
    assert max(children) <= max(render.COLLAPSE_AFTER, 32, 800 // 32 + 1)
    assert sum(children) <= 800 * (32 + render.COLLAPSE_AFTER)  # linear, not 800 * 800 / 2


# --- errors -------------------------------------------------------------------------------------


def test_fail_keeps_steps_and_shows_error():
    wdg = StructuredWidget(title="t", min_interval=0)
    wdg.start()
    wdg.update(steps_value(2))
    wdg.fail(StreamError("The stream broke off"), partial=steps_value(3, last_partial=True))
    assert wdg.status == "error"
    assert len(wdg.step_widgets) == 3 and "expl" in wdg.steps_html[-1]
    assert "The stream broke off" in wdg.error_view.value
    assert "StreamError" in wdg.error_view.value and "error" in wdg.header.value
    assert repr(wdg) == "<StructuredWidget t: error, 3 steps>"
    wdg.update(steps_value(9))  # late updates do not change the final state
    assert len(wdg.step_widgets) == 3


def test_fail_uses_the_errors_partial_and_raw():
    err = InvalidOutputError("No valid answer after 2 re-asks.", raw='{"steps": "<b>"}',
                             errors=[ValidationIssue("$.steps", "'<b>' is not of type 'array'")])
    wdg = StructuredWidget(title="t")
    wdg.fail(err)
    assert "$.steps" in wdg.error_view.value and "&lt;b&gt;" in wdg.error_view.value
    assert wdg.raw_box.layout.display != "none" and wdg.raw_box.titles == ("Raw answer",)
    assert "&lt;b&gt;" in wdg.raw_html.value and wdg.raw_box.selected_index is None
    wdg2 = StructuredWidget(title="t")
    wdg2.fail(StreamError("broke", partial=steps_value(2)))
    assert len(wdg2.step_widgets) == 2


def test_a_list_that_is_not_steps_shows_as_numbered_rows():
    """A receipt's lines stream in as numbered cards ("1.", "2."), never "Step 1"; the steps
    field (named like one, or by --steps) keeps "Step"."""
    wdg = StructuredWidget(title="receipt", min_interval=0)
    wdg.start()
    lines = {"shop": "Bakery", "lines": [{"item": f"thing {i}"} for i in range(1, 11)]}
    wdg.update(lines)
    wdg.finish(Result(data=lines, plain=lines, raw="{}", model="m", schema_name="receipt"))
    assert not any("Step" in card for card in wdg.steps_html)
    assert ">1.</div>" in wdg.steps_html[0] and ">10.</div>" in wdg.steps_html[-1]
    assert wdg.earlier.titles[0] == "… 6 earlier rows"
    chosen = StructuredWidget(title="receipt", steps_field="lines", min_interval=0)
    chosen.start()
    chosen.update(lines)
    assert ">Step 1</div>" in chosen.steps_html[0]


def test_fail_before_anything_arrived():
    wdg = StructuredWidget(title="t")
    wdg.start()
    wdg.fail(KeyboardInterrupt("interrupted; nothing was bound"))
    assert wdg.step_widgets == () and "interrupted; nothing was bound" in wdg.error_view.value
    # the user's own stop: a neutral badge and line, not an error's
    assert wdg.status == "interrupted" and ">interrupted</span>" in wdg.header.value
    assert render.BAD not in wdg.header.value and render.BAD not in wdg.error_view.value
    assert "structmagic-error" not in wdg.error_view.value


def test_the_header_names_a_wire_format_other_than_the_default():
    value = {"answer": "x"}
    for provider, said in (("anthropic", "Claude Messages format"),
                           ("gemini", "Gemini generateContent format"), ("openai", None)):
        result = Result(data=value, plain=value, raw="{}", model="m", schema_name="s",
                        provider=provider)
        wdg = StructuredWidget(title="s")
        wdg.finish(result)
        page = render.result_html(result)
        if said is None:
            assert " format" not in wdg.header.value and " format" not in page
        else:
            assert said in wdg.header.value and said in page


# --- reveal mode -------------------------------------------------------------------------------


def test_reveal_mode_buttons():
    wdg = StructuredWidget(title="t", reveal=True, min_interval=0)
    wdg.start()
    wdg.update(steps_value(2, last_partial=True))
    assert "receiving step 2" in wdg.progress.value and "1 step complete" in wdg.progress.value
    assert not any(visible(wdg))
    assert wdg.next_button.disabled  # buttons only after the answer is complete
    assert wdg.nav.layout.display == "none"
    wdg.update(steps_value(3, final="9.8"))
    assert not any(visible(wdg)) and wdg.answer.layout.display == "none"
    wdg.finish(result_of(steps_value(3, final="9.8")))
    assert "step 1 of 3" in wdg.progress.value and wdg.nav.layout.display != "none"
    assert visible(wdg) == [True, False, False] and wdg.revealed == 1
    assert wdg.prev_button.disabled and not wdg.next_button.disabled
    assert not wdg.all_button.disabled
    assert wdg.answer.layout.display == "none"
    assert ">step 1 of 3<" in wdg.progress.value
    wdg.prev_button.click()  # at the start: stays at step 1
    assert wdg.revealed == 1
    wdg.next_button.click()
    assert visible(wdg) == [True, True, False] and wdg.revealed == 2
    assert ">step 2 of 3<" in wdg.progress.value
    assert not wdg.prev_button.disabled and not wdg.next_button.disabled
    wdg.prev_button.click()
    assert visible(wdg) == [True, False, False]
    wdg.next_button.click()
    wdg.next_button.click()  # the last step: the final answer shows
    assert visible(wdg) == [True, True, True] and wdg.revealed == 3
    assert wdg.answer.layout.display != "none"
    assert wdg.next_button.disabled and wdg.all_button.disabled
    wdg.prev_button.click()
    assert wdg.answer.layout.display == "none"
    wdg.all_button.click()
    assert visible(wdg) == [True, True, True] and wdg.revealed == 3
    assert wdg.next_button.disabled and wdg.all_button.disabled
    assert not wdg.prev_button.disabled
    assert wdg.answer.layout.display != "none"


def test_reveal_mode_without_steps_shows_the_answer():
    wdg = StructuredWidget(title="t", reveal=True, min_interval=0)
    wdg.update({"name": "Ada"})
    wdg.finish(result_of({"name": "Ada"}))
    assert wdg.answer.layout.display != "none" and wdg.nav.layout.display == "none"


def test_reveal_mode_failure_shows_what_arrived():
    wdg = StructuredWidget(title="t", reveal=True, min_interval=0)
    wdg.update(steps_value(2, last_partial=True))
    wdg.fail(StreamError("broke"))
    assert all(visible(wdg)) and wdg.progress.value == ""
    assert wdg.nav.layout.display == "none" and wdg.next_button.disabled


def test_hide_answer_keeps_the_answer_and_what_holds_it_until_show_answer():
    wdg = StructuredWidget(title="t", reveal=True, hide_answer=True, min_interval=0)
    assert wdg.answer_button in wdg.nav.children
    wdg.start()
    wdg.update(steps_value(2, last_partial=True), reasoning="so the answer is 9.8")
    assert wdg.reasoning_box.layout.display == "none"  # the reasoning holds the answer
    wdg.finish(result_of(steps_value(3, final="9.8"), reasoning="so the answer is 9.8",
                         raw='{"final_answer": "9.8"}',
                         text='So: {"final_answer": "9.8"}'))
    hidden = (wdg.answer, wdg.reasoning_box, wdg.raw_box, wdg.text_box)
    assert all(x.layout.display == "none" for x in hidden)
    assert visible(wdg) == [True, False, False] and wdg.answer_button.disabled
    wdg.show_answer()  # not every step on show yet: nothing happens
    assert wdg.answer.layout.display == "none" and not wdg.answer_shown
    wdg.next_button.click()
    wdg.next_button.click()  # the last step: still no answer, Show answer enabled
    assert visible(wdg) == [True, True, True]
    assert all(x.layout.display == "none" for x in hidden) and not wdg.answer_button.disabled
    wdg.answer_button.click()
    assert all(x.layout.display != "none" for x in hidden)
    assert "9.8" in wdg.answer.value and wdg.answer_button.disabled and wdg.answer_shown
    wdg.prev_button.click()  # a step hidden again: the answer with it
    assert all(x.layout.display == "none" for x in hidden) and not wdg.answer_shown
    wdg.all_button.click()  # every step, not the answer
    assert visible(wdg) == [True, True, True] and wdg.answer.layout.display == "none"
    assert not wdg.answer_button.disabled
    wdg.answer_button.click()
    assert wdg.answer.layout.display != "none"


def test_the_raw_json_shows_the_json_and_the_answer_text_the_prose_around_it():
    raw = '{"steps": [], "final_answer": "<b>9.8</b>"}'
    prose = f"Here is the JSON:\n```json\n{raw}\n```\n<img src=x onerror=alert(1)>"
    wdg = StructuredWidget(title="t", min_interval=0)
    wdg.finish(result_of(steps_value(1, final="9.8"), raw=raw, text=prose))
    kids = wdg.widget.children
    assert kids.index(wdg.text_box) == kids.index(wdg.raw_box) + 1
    assert wdg.raw_box.titles == ("Raw JSON",) and wdg.text_box.titles == ("Answer text",)
    assert "Here is the JSON" not in wdg.raw_html.value and "&lt;b&gt;9.8" in wdg.raw_html.value
    assert wdg.text_box.layout.display != "none" and wdg.text_box.selected_index is None
    assert "&lt;img src=x onerror=alert(1)&gt;" in wdg.text_html.value
    assert_inert(wdg.text_html.value)
    alone = StructuredWidget(title="t", min_interval=0)
    alone.finish(result_of(steps_value(1, final="9.8"), raw=raw))  # the JSON alone
    assert alone.text_box.layout.display == "none" and alone.text_html.value == ""


def test_a_result_at_the_token_limit_says_so_in_the_header():
    note = ("the answer reached the token limit (max_tokens) just after its end: check it "
            "is whole")
    wdg = StructuredWidget(title="t", min_interval=0)
    wdg.start()
    assert note not in wdg.header.value
    wdg.finish(result_of(steps_value(1, final="9.8"), truncated=True))
    assert assert_inert(wdg.header.value).count(note) == 1
    whole = StructuredWidget(title="t", min_interval=0)
    whole.finish(result_of(steps_value(1, final="9.8")))
    assert note not in whole.header.value


def test_without_hide_answer_there_is_no_show_answer_button():
    wdg = StructuredWidget(title="t", reveal=True, min_interval=0)
    assert wdg.answer_button not in wdg.nav.children
    wdg.finish(result_of(steps_value(2, final="9.8"), reasoning="r"))
    assert wdg.raw_box.layout.display != "none"  # collapsed, but there, as before
    assert wdg.reasoning_box.layout.display != "none"


def test_hide_answer_and_ask_first_go_with_reveal():
    for kw in ({"hide_answer": True}, {"ask_first": True}):
        with pytest.raises(sm.ConfigError, match="reveal"):
            StructuredWidget(title="t", **kw)


def test_ask_first_checks_the_typed_answer_before_any_step_shows():
    wdg = StructuredWidget(title="t", reveal=True, ask_first=True, min_interval=0)
    assert wdg.ask_view.layout.display != "none"  # from the start: time to think
    assert wdg.ask_text.description == "Your answer:" and wdg.check_button.disabled
    wdg.start()
    wdg.update(steps_value(2, last_partial=True))
    wdg.ask_text.value = "whatever"  # typed while the answer streams: not checked yet
    assert wdg.checked is None and wdg.ask_feedback.value == ""
    value = steps_value(3, final="9.8 is larger")
    wdg.finish(result_of(value))
    assert not wdg.check_button.disabled
    assert not any(visible(wdg)) and wdg.revealed == 0  # no step until Next
    assert wdg.prev_button.disabled and not wdg.next_button.disabled
    assert wdg.answer.layout.display == "none"
    wdg.ask_text.value = "9.8"  # Enter in the box (continuous_update=False): checked
    assert wdg.checked is False
    feedback = assert_inert(wdg.ask_feedback.value)
    assert "Not quite" in feedback and "9.8 is larger" not in feedback  # never the answer
    assert "var(--jp-error-color1" in wdg.ask_feedback.value
    wdg.ask_text.value = "  9.8 IS   Larger "  # normalised as --expect compares strings
    assert wdg.checked is True and "Right" in wdg.ask_feedback.value
    assert "var(--jp-success-color1" in wdg.ask_feedback.value
    wdg.ask_text.value = ""
    wdg.check_button.click()
    assert wdg.checked is None and "Type your answer first" in wdg.ask_feedback.value
    assert not any(visible(wdg)) and wdg.answer.layout.display == "none"  # still nothing
    wdg.next_button.click()
    assert visible(wdg) == [True, False, False] and not wdg.prev_button.disabled
    wdg.prev_button.click()
    assert not any(visible(wdg)) and wdg.prev_button.disabled
    wdg.all_button.click()
    assert wdg.answer.layout.display != "none"  # without hide_answer: with the last step


def test_ask_first_without_a_final_answer_says_so():
    wdg = StructuredWidget(title="t", reveal=True, ask_first=True, min_interval=0)
    wdg.finish(result_of(steps_value(2)))
    wdg.ask_text.value = "x"
    assert wdg.checked is None and "no final answer" in wdg.ask_feedback.value


def test_ask_first_and_hide_answer_on_a_failure_show_what_arrived():
    wdg = StructuredWidget(title="t", reveal=True, ask_first=True, hide_answer=True,
                           min_interval=0)
    wdg.update(steps_value(2, last_partial=True))
    wdg.fail(StreamError("broke"))
    assert all(visible(wdg)) and wdg.ask_view.layout.display == "none"


def test_a_result_in_reveal_mode_is_a_handout_with_its_widget_to_match():
    value = steps_value(2, final="9.8")
    res = result_of(value, labels={"final_answer": "Answer"})
    plain_text, plain_html = res._text(), res._repr_html_()
    assert "structmagic-handout" not in plain_html
    res.reveal, res.hide_answer, res.ask_first = True, True, True
    html = res._repr_html_()
    assert "structmagic-handout" in html and "Your answer:" in html
    assert html == res.handout_html() and res.handout_html(ask_first=False) != html
    assert "Answer — show" in assert_inert(html)
    assert res._text() == plain_text  # text/plain stays as it was (nbval compares it)
    wdg = res.widget()
    assert wdg.reveal and wdg.hide_answer and wdg.ask_first
    assert wdg.revealed == 0 and wdg.answer.layout.display == "none"
    bundle = res._repr_mimebundle_()
    assert bundle["text/html"] == html and bundle["text/plain"] == plain_text
    lenient = result_of(value, hide_answer=True, ask_first=True)  # without reveal: ignored
    assert "structmagic-handout" not in lenient._repr_html_()
    assert not lenient.widget().hide_answer
    failed = Result(error=RefusalError("no"))
    assert "RefusalError" in failed.handout_html()


# --- untrusted text ----------------------------------------------------------------------------


def poisoned_value() -> dict[str, Any]:
    return {
        "steps": [{"explanation": p, "output": [p, {p: p}], p: "key is poison"} for p in POISON],
        **{p: p for p in POISON},
        "final_answer": " ".join(POISON),
    }


@pytest.mark.parametrize("mode", [{}, {"reveal": True},
                                  {"reveal": True, "hide_answer": True, "ask_first": True}])
def test_poisoned_strings_stay_text_everywhere(mode):
    value = poisoned_value()
    wdg = StructuredWidget(title=POISON[0], model=POISON[1], min_interval=0, **mode)
    wdg.start()
    wdg.update({"steps": value["steps"][:3]}, reasoning=POISON[2],
               usage={"total_tokens": POISON[3]})
    texts = widget_texts(wdg.widget)
    wdg.finish(result_of(value, raw=" ".join(POISON), reasoning=" ".join(POISON),
                         model=POISON[4], schema_name=POISON[5]))
    if mode.get("ask_first"):
        wdg.ask_text.value = POISON[0]  # a Text widget: plain text, never read as HTML...
        wdg.show_step(len(value["steps"]))
        wdg.show_answer()
        assert POISON[0] not in wdg.ask_feedback.value  # ...and never echoed into HTML
    texts += [t for t in widget_texts(wdg.widget) if t != wdg.ask_text.value]
    for text in texts:
        assert_inert(text)
    joined = "\n".join(texts)
    assert "&lt;img src=x onerror=alert(1)&gt;" in joined
    assert "&lt;script&gt;" in joined and "&lt;svg onload" in joined
    assert "![x](https://evil.example/x.png)" in joined  # shown as text, no image


def test_poisoned_error_and_tree_stay_text():
    wdg = StructuredWidget(title=POISON[2], min_interval=0)
    wdg.update({p: [p] for p in POISON})  # keys too, no steps: the tree
    texts = widget_texts(wdg.widget)
    wdg.fail(RefusalError(" ".join(POISON), raw=POISON[0]), partial={p: p for p in POISON})
    texts += widget_texts(wdg.widget)
    for text in texts:
        assert_inert(text)
    assert "&lt;img src=x onerror=alert(1)&gt;" in wdg.error_view.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in wdg.raw_html.value


# --- shape: line height, folding, waiting, labels ---------------------------------------------


def root_style(markup: str) -> str:
    """The style attribute of the first tag in ``markup``."""
    m = re.match(r'\s*<\w+[^>]*?style="([^"]*)"', markup)
    assert m, markup[:80]
    return m.group(1)


def test_every_block_sets_its_own_line_height():
    """An HTML widget's content inherits a 28 px line height; each of our blocks sets 1.5."""
    wdg = StructuredWidget(title="t", labels={"final_answer": "Answer"}, min_interval=0)
    wdg.start()
    wdg.update({"steps": [{"explanation": "a " * 200}]}, reasoning="r " * 100)
    wdg.finish(result_of(steps_value(12, final="9.8"), reasoning="why", raw='{"a": 1}'))
    failed = StructuredWidget(title="t")
    failed.start()
    failed.fail(RefusalError("no " * 100))
    values = [wdg.header.value, *wdg.steps_html, wdg.answer.value, wdg.raw_html.value,
              wdg.reasoning_html.value, failed.error_view.value, failed.header.value]
    waiting = StructuredWidget(title="t")
    waiting.start()
    values.append(waiting.progress.value)  # "waiting for the answer…"
    for value in values:
        assert "line-height:1.5" in root_style(value), value[:120]


def test_a_long_answer_folds_its_earlier_steps():
    keep, after = render.KEEP_RECENT, render.COLLAPSE_AFTER
    wdg = StructuredWidget(title="t", min_interval=0)
    wdg.start()
    for n in range(1, 41):
        wdg.update(steps_value(n, last_partial=True))
        cards = wdg.step_widgets
        assert wdg.shown_cards == cards  # every card on show, in order
        if n <= after:
            assert wdg.recent.children == cards and wdg.earlier.layout.display == "none"
        else:  # while streaming: the last few in view, the others folded
            assert wdg.recent.children == cards[-keep:]
            assert wdg.earlier.layout.display != "none"
            assert wdg.earlier.titles == (f"… {n - keep} earlier steps",)
    ids = [id(c) for c in wdg.step_widgets]
    wdg.finish(result_of(steps_value(40, final="9.8")))
    assert [id(c) for c in wdg.step_widgets] == ids  # folding moved cards, rebuilt none
    assert wdg.earlier.titles == ("… 36 earlier steps",)
    assert wdg.earlier.selected_index is None  # collapsed
    assert wdg.recent.children == wdg.step_widgets[-keep:]
    assert all(len(chunk.children) <= 32 for chunk in wdg.earlier_list.children)
    assert wdg.earlier_list.layout.max_height and wdg.earlier_list.layout.overflow == "auto"
    # the header first, the final answer right after the steps, both outside the fold
    kids = wdg.widget.children
    assert kids[0] is wdg.header and kids.index(wdg.answer) == kids.index(wdg.steps_box) + 1
    assert "9.8" in wdg.answer.value and wdg.answer.layout.display != "none"
    wdg.earlier.selected_index = 0  # opened (a click in the frontend): still the same cards
    assert wdg.shown_cards == wdg.step_widgets


def test_few_steps_do_not_fold():
    wdg = StructuredWidget(title="t", min_interval=0)
    wdg.finish(result_of(steps_value(render.COLLAPSE_AFTER, final="x")))
    assert wdg.recent.children == wdg.step_widgets and wdg.earlier_list.children == ()
    assert wdg.earlier.layout.display == "none"


def test_folding_follows_reveal_and_restart():
    wdg = StructuredWidget(title="t", reveal=True, min_interval=0)
    wdg.update(steps_value(20, last_partial=True))
    assert wdg.shown_cards == ()  # reveal: nothing shown while streaming
    wdg.finish(result_of(steps_value(20, final="x")))
    wdg.all_button.click()
    assert wdg.shown_cards == wdg.step_widgets and wdg.earlier.titles == ("… 16 earlier steps",)
    wdg.prev_button.click()
    assert wdg.shown_cards == wdg.step_widgets[:19]
    assert wdg.recent.children == wdg.step_widgets[15:19]
    wdg.show_step(3)
    assert wdg.shown_cards == wdg.step_widgets[:3] and wdg.earlier.layout.display == "none"
    assert wdg.earlier_list.children == ()
    plain = StructuredWidget(title="t", min_interval=0)
    plain.update(steps_value(40))
    plain.restart()
    assert plain.shown_cards == () and plain.earlier.layout.display == "none"
    assert all(chunk.children == () for chunk in plain._chunks)
    plain.update(steps_value(10))
    assert plain.shown_cards == plain.step_widgets


def test_waiting_state_until_content_arrives():
    """No "{}" (nor "[]") before the first step: the waiting line instead."""
    wdg = StructuredWidget(title="t", min_interval=0)
    wdg.start()
    assert "waiting for the answer" in wdg.progress.value and wdg.answer.value == ""
    for partial in ({}, {"steps": []}, {"final_answer": ""}, {"steps": [], "x": {}}):
        wdg.update(partial)
        texts = widget_texts(wdg.widget)
        assert not any("{}" in t or "[]" in t for t in texts), partial
        assert wdg.status == "waiting" and "waiting for the answer" in wdg.progress.value
        assert wdg.answer.value == ""
    wdg.update(None, reasoning="thinking")  # reasoning streams: no longer merely waiting
    assert wdg.status == "streaming" and "waiting for the answer" in wdg.progress.value
    thinking = StructuredWidget(title="t", min_interval=0)
    thinking.start()
    thinking.update(None, reasoning="First, compare")  # nothing of the answer yet
    assert thinking.status == "streaming" and "waiting for the answer" in thinking.progress.value
    assert thinking.answer.value == "" and "First, compare" in thinking.reasoning_html.value
    wdg.update({"steps": [{"explanation": "Align"}]}, reasoning="thinking")
    assert wdg.progress.value == "" and len(wdg.step_widgets) == 1
    wdg.update({"steps": [{"explanation": "Align"}], "final_answer": ""})
    assert wdg.progress.value == ""  # once something showed, the line does not come back
    tree = StructuredWidget(title="t", min_interval=0)
    tree.start()
    tree.update({"name": ""})
    assert tree.answer.value == "" and "waiting" in tree.header.value
    tree.update({"name": "Ada"})
    assert "Ada" in tree.answer.value and tree.progress.value == ""
    empty = StructuredWidget(title="t", min_interval=0)
    empty.start()
    empty.update({})
    empty.finish(result_of({}))  # an empty object really is the answer: shown as such
    assert "{}" in empty.answer.value and empty.progress.value == ""


def test_explicit_steps_field_waits_too():
    wdg = StructuredWidget(title="t", steps_field="items", min_interval=0)
    wdg.start()
    wdg.update({})
    assert wdg.answer.value == "" and "waiting for the answer" in wdg.progress.value
    wdg.fail(StreamError("broke off"))
    assert wdg.progress.value == "" and "broke off" in wdg.error_view.value


def test_labels_humanised_by_default_and_renamed_on_request():
    value = {"steps": [{"explanation": "why", "output": "x", "unitPrice": 1}],
             "final_answer": "9.8"}
    wdg = StructuredWidget(title="t", min_interval=0)
    wdg.finish(result_of(value))
    card = wdg.steps_html[0]
    assert ">Explanation</b>" in card and ">Output</b>" in card and ">Unit price</b>" in card
    assert ">explanation<" not in card
    assert ">Final answer</b>" in wdg.answer.value
    assert 'title="final_answer"' in wdg.answer.value  # the key, as a tooltip
    named = StructuredWidget(title="t", min_interval=0,
                             labels={"final_answer": "Answer", "explanation": "Why so"})
    named.finish(result_of(value))
    assert ">Why so</b>" in named.steps_html[0] and ">Output</b>" in named.steps_html[0]
    assert ">Answer</b>" in named.answer.value
    tree = StructuredWidget(title="t", min_interval=0, labels={"age": "Age (years)"})
    tree.finish(result_of({"first_name": "Ada", "age": 36, "tags": {"raw_key": 1}}))
    assert ">First name</b>" in tree.answer.value and ">Age (years)</b>" in tree.answer.value
    assert ">raw_key<" in tree.answer.value  # deeper keys may be data: shown as they are


def test_result_labels_reach_its_widget_and_html():
    res = result_of(steps_value(2, final="9.8"), labels={"final_answer": "Answer"})
    assert ">Answer</b>" in res.widget().answer.value
    assert ">Answer</b>" in res._repr_html_()
    assert "final_answer: 9.8" in res._text()  # the text keeps the keys


def test_poisoned_labels_stay_text():
    labels = {"final_answer": POISON[0], "explanation": POISON[2]}
    wdg = StructuredWidget(title="t", labels=labels, min_interval=0)
    wdg.finish(result_of(steps_value(2, final="x")))
    for text in widget_texts(wdg.widget):
        assert_inert(text)
    assert "&lt;img src=x onerror=alert(1)&gt;" in wdg.answer.value


# --- an error shows once: in the widget (the magic) ---------------------------------------------

MATH = {
    "type": "object",
    "properties": {
        "steps": {"type": "array", "items": {"type": "object", "properties": {
            "explanation": {"type": "string", "title": "Why"}, "output": {"type": "string"}}}},
        "final_answer": {"type": "string"},
    },
    "required": ["steps", "final_answer"],
}


@pytest.fixture
def kernel_ip(ip, monkeypatch):
    """The shell as a kernel's: the magic draws its widget. Records what it displays."""
    monkeypatch.setattr(ip, "kernel", object(), raising=False)
    shown: list[tuple[dict[str, Any], bool]] = []
    real = ip.display_pub.publish

    def publish(data: dict[str, Any], *args: Any, update: bool = False, **kw: Any) -> None:
        shown.append((data, update))
        real(data, *args, update=update, **kw)

    monkeypatch.setattr(ip.display_pub, "publish", publish)
    ip.user_ns["math"] = MATH
    ip.shown = shown
    return ip


def failing_reply(kind: str) -> Any:
    from fakeserver import Reply, chat_stream

    if kind == "refusal":
        return chat_stream("", refusal="I can't help with <that>.", pieces=2)
    return Reply.status(401, "Incorrect API key provided.")


@pytest.mark.parametrize("kind", ["refusal", "401"])
def test_a_failed_call_shows_its_error_once(kernel_ip, server, settings, capfd, kind):
    from structmagic.display.render import error_text

    server.queue(failing_reply(kind))
    res = kernel_ip.run_cell("%%structured math -o x --mode json_schema --retries 0\nq",
                             store_history=False)
    exc = res.error_in_exec
    assert isinstance(exc, (RefusalError, sm.AuthenticationError))  # the cell failed
    assert "x" not in kernel_ip.user_ns
    # the traceback IPython shows is one short line; the message is in the widget's display
    assert exc._render_traceback_() == [f"\x1b[0;31m{type(exc).__name__}\x1b[0m: see above"]
    (live, _), (emptied, update), (final, final_update) = kernel_ip.shown
    assert update and emptied == {"text/plain": ""}  # the live display makes way...
    assert not final_update  # ...for a final one, as on success (nbval sees no updates)
    view = "application/vnd.jupyter.widget-view+json"
    assert final[view] == live[view]  # the same widget, now showing the error
    assert final["text/plain"] == error_text(exc)  # where no widget is drawn: text...
    html = assert_inert(final["text/html"])  # ...and HTML, escaped
    assert str(exc).splitlines()[0] in html
    out = capfd.readouterr().out
    first_line = str(exc).splitlines()[0]
    assert out.count(first_line) == 1, out  # once (the display's text), not twice
    assert f"{type(exc).__name__}\x1b[0m: see above" in out


@pytest.mark.parametrize("stream", [True, False])
def test_an_interrupted_call_says_so_once_in_one_line(kernel_ip, server, settings, capfd,
                                                       sigint, stream):
    """The stop button: the widget says "interrupted" (a neutral badge) with the one
    message; IPython's traceback is one short line, not frames through the magic and the
    API with a second message."""
    from fakeserver import Reply

    server.queue(Reply.hang(5))
    kernel_ip.user_ns["x"] = "before"
    sigint.after_requests(1)
    flag = "" if stream else " --no-stream"
    res = kernel_ip.run_cell(f"%%structured math -o x{flag}\nq", store_history=False)
    exc = res.error_in_exec
    assert isinstance(exc, sm.CallInterrupted) and isinstance(exc, KeyboardInterrupt)
    assert kernel_ip.user_ns["x"] == "before"
    assert exc._render_traceback_() == ["\x1b[0;31mKeyboardInterrupt\x1b[0m: see above"]
    final = kernel_ip.shown[-1][0]
    assert final["text/plain"] == str(exc)
    assert "structmagic-stopped" in final["text/html"] and render.BAD not in final["text/html"]
    out, err = capfd.readouterr()
    assert out.count(str(exc)) == 1, out  # one message, one wording
    assert "Traceback" not in out + err and "magic.py" not in out + err
    assert "KeyboardInterrupt\x1b[0m: see above" in out


def test_without_a_widget_the_error_stays_one_paragraph(ip, kernel_ip, server, settings, capfd):
    server.queue(failing_reply("refusal"))
    res = kernel_ip.run_cell("%%structured math -o x --quiet\nq", store_history=False)
    assert isinstance(res.error_in_exec, RefusalError)
    assert not getattr(res.error_in_exec, "_shown_in_widget", False)
    out = capfd.readouterr().out
    assert "The model refused to answer: I can't help with <that>." in out
    assert "see above" not in out
    lines = res.error_in_exec._render_traceback_()
    assert lines[0].endswith("The model refused to answer: I can't help with <that>.")


def test_the_magic_passes_labels_from_the_schema_and_the_option(kernel_ip, server, settings):
    import json

    from fakeserver import chat_stream

    answer = {"steps": [{"explanation": "e", "output": "o"}], "final_answer": "f"}
    server.queue(chat_stream(json.dumps(answer), pieces=3))
    res = kernel_ip.run_cell("%%structured math --label \"final_answer=The answer\" "
                             "--label 'output=Result so far'\nq", store_history=False)
    assert res.success, res.error_in_exec
    result = res.result
    assert result.labels == {"explanation": "Why", "final_answer": "The answer",
                             "output": "Result so far"}
    wdg = result.widget(create=False)
    assert ">Why</b>" in wdg.steps_html[0] and ">Result so far</b>" in wdg.steps_html[0]
    assert ">The answer</b>" in wdg.answer.value
    bad = kernel_ip.run_cell("%%structured math --label final_answer\nq", store_history=False)
    assert "FIELD=TEXT" in str(bad.error_in_exec)


# --- a partial answer deeper than any answer may be -----------------------------------------


def test_a_streamed_answer_nested_too_deep_fails_cleanly_in_the_widget(server, settings):
    """The call refuses an answer 1,500 levels deep; the live widget has followed its partial
    values and then shows the failure: every renderer stops at the parser's depth limit
    (no RecursionError while it follows, fails, or prints)."""
    from fakeserver import chat_stream

    deep = '{"steps": [{"explanation": "e", "output": ' + "[" * 1500 + "]" * 1500 + "}]}"
    server.queue(chat_stream(deep, pieces=40))
    wdg = StructuredWidget(title="t", min_interval=0)
    wdg.start()
    with pytest.raises(InvalidOutputError, match="more than 100 levels deep") as info:
        sm.structured("q", {"type": "object"}, stream=True, observer=wdg, reasks=0)
    wdg.fail(info.value, partial=getattr(info.value, "partial", None))
    assert wdg.status == "error"
    assert render.DEEPER in "".join(wdg.steps_html)
    nested: Any = []
    for _ in range(1500):
        nested = [nested]
    for shown in (render.value_text(nested), render.value_html(nested),
                  render.value_html({"a": nested}, {})):
        assert shown.count(render.DEEPER) == 1
    for _ in range(100_000):
        nested = [nested]
    assert render.esc(nested) == render.DEEPER  # deeper than json.dumps goes
    assert repr(wdg).startswith("<StructuredWidget t: error")


# --- confidence and agreement -----------------------------------------------------------------


def steps_confidence(n: int) -> dict[str, float]:
    """A confidence per value of ``steps_value(n, final=...)``: step i's output is the
    weakest (0.3 for the first), the final answer 0.8."""
    confidence = {"final_answer": 0.8}
    for i in range(n):
        confidence[f"steps[{i}].explanation"] = 0.9
        confidence[f"steps[{i}].output"] = 0.3 + i / 100
    return confidence


def test_a_finished_answer_shows_a_bar_beside_each_value_in_its_cards_and_answer():
    """While the answer streams nothing is known; once finished with confidence, every
    card is rendered once more with its values' bars (the cards kept), the final answer
    has its bar, the header names the lowest and shows the doubt, and the table of values
    lowest first is there (collapsed)."""
    wdg = StructuredWidget(title="math", min_interval=0)
    wdg.start()
    for n in range(1, 6):
        wdg.update(steps_value(n, last_partial=True))
    assert not any(gauges_in(h) for h in wdg.steps_html)
    cards = [id(c) for c in wdg.step_widgets]
    confidence = steps_confidence(5)
    wdg.finish(result_of(steps_value(5, final="9.8"), confidence=confidence))
    assert [id(c) for c in wdg.step_widgets] == cards
    for i, markup in enumerate(wdg.steps_html):
        shown = gauges_in(markup)
        assert [g.figure for g in shown] == ["90%", f"{30 + i}%"]
        assert [g.low for g in shown] == [False, True]
    assert [g.figure for g in gauges_in(wdg.answer.value)] == ["80%"]
    header = assert_inert(wdg.header.value)
    assert ("lowest confidence: steps[0].output 30% · steps[1].output 31% · "
            "steps[2].output 32%") in header
    assert "doubt 0.70" in header
    table = wdg.confidence_view.value
    assert wdg.confidence_view.layout.display != "none"
    assert "<details" in table and "<details open" not in table
    assert "all 11 values, lowest first" in assert_inert(table)
    assert [g.figure for g in gauges_in(table)][:3] == ["30%", "31%", "32%"]
    assert wdg.steps_html == [
        render.step_html(i + 1, s, gauges=wdg._gauges, at=("steps", i))
        for i, s in enumerate(steps_value(5)["steps"])]


def test_without_confidence_the_finished_cards_are_not_rendered_again():
    wdg = StructuredWidget(title="math", min_interval=0)
    wdg.start()
    wdg.update(steps_value(4, last_partial=False))
    before = list(wdg.steps_html)
    wdg.finish(result_of(steps_value(4, final="x")))
    assert wdg.steps_html[:3] == before[:3]  # the finished ones were not rendered again
    assert wdg.confidence_view.value == "" and wdg.confidence_view.layout.display == "none"
    assert "doubt" not in wdg.header.value and "lowest" not in wdg.header.value


def test_a_tree_and_rows_get_their_bars_by_path():
    tree = StructuredWidget(title="person")
    tree.finish(result_of({"name": "Ada", "langs": ["en", "fr"]},
                          confidence={"name": 0.95, "langs[0]": 0.9, "langs[1]": 0.4}))
    assert [(g.figure, g.low) for g in gauges_in(tree.answer.value)] == [
        ("95%", False), ("90%", False), ("40%", True)]
    rows = StructuredWidget(title="receipt")
    value = {"lines": [{"item": "a", "qty": 1}, {"item": "b", "qty": 2}], "total": 3}
    rows.finish(result_of(value, agreement={"lines[1].qty": 0.5, "total": 1.0}, samples=2))
    assert gauges_in(rows.steps_html[0]) == []
    assert [(g.title, g.figure) for g in gauges_in(rows.steps_html[1])] == [
        ("1 of 2 samples agree", "1/2")]
    assert "lowest agreement of 2 samples: lines[1].qty 1/2 · total 2/2" in assert_inert(
        rows.header.value)


def test_no_confidence_says_why_in_the_header_without_a_badge():
    reason = "Claude's Messages API gives no log-probabilities."
    wdg = StructuredWidget(title="t")
    wdg.finish(result_of({"a": 1}, confidence_reason=reason, reasks=1))
    header = assert_inert(wdg.header.value)
    assert header.count(f"confidence: not available — {reason}") == 1
    assert "doubt" not in header and not gauges_in(wdg.answer.value)


def test_the_table_hides_with_the_answer_and_a_comparisons_column_keeps_one_line():
    wdg = StructuredWidget(title="t", reveal=True, hide_answer=True, min_interval=0)
    wdg.finish(result_of(steps_value(2, final="9.8"), confidence=steps_confidence(2)))
    assert wdg.confidence_view.value and wdg.confidence_view.layout.display == "none"
    wdg.all_button.click()
    wdg.answer_button.click()
    assert wdg.confidence_view.layout.display != "none"
    column = StructuredWidget(title="t", compact=True)
    column.finish(result_of({"a": 1}, confidence={"a": 0.2}))
    assert "lowest" not in column.header.value and "doubt 0.80" in column.header.value


def test_a_result_with_confidence_shows_its_bars_in_its_own_widget():
    res = result_of({"name": "Ada"}, confidence={"name": 0.25})
    wdg = res.widget()
    assert [(g.figure, g.low) for g in gauges_in(wdg.answer.value)] == [("25%", True)]
    bundle = res._repr_mimebundle_()
    assert bundle["text/plain"] == result_of({"name": "Ada"})._text()  # no bar in text


def test_poisoned_paths_and_reasons_stay_text_in_the_widget():
    value = {p: [p, {p: p}] for p in POISON}
    confidence = {path: 0.1 for path, _ in leaves(value)}
    confidence["<svg onload=alert(1)>"] = 0.0
    wdg = StructuredWidget(title="t")
    wdg.finish(result_of(value, confidence=confidence, agreement=confidence, samples=3))
    assert len(gauges_in(wdg.answer.value)) == 2 * len(leaves(value))  # both measures
    other = StructuredWidget(title="t")
    other.finish(result_of(value, confidence_reason=" ".join(POISON)))
    texts = widget_texts(wdg.widget) + widget_texts(other.widget)
    assert any("&lt;img src=x onerror=alert(1)&gt;" in t for t in texts)
    for text in texts:
        assert_inert(text)
