"""The steps widget without a frontend: structure, live updates, throttling, reveal, errors."""

from __future__ import annotations

import pytest

from structmagic.result import Result
from structmagic.widget import StructuredWidget


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def steps_value(n, *, last_partial=False, final=None):
    steps = [{"explanation": f"explain {i}", "output": f"out {i}"} for i in range(n)]
    if last_partial and steps:
        steps[-1] = {"explanation": "expl"}
    value = {"steps": steps}
    if final is not None:
        value["final_answer"] = final
    return value


def result_of(value, **kw):
    return Result(data=value, plain=value, raw='{"steps": []}', model="m", usage={
        "prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}, schema_name="math",
        **kw)


def test_live_updates_then_final_state():
    clock = Clock()
    wdg = StructuredWidget(title="math", model="m", clock=clock)
    wdg.start()
    assert wdg.status == "waiting"
    for n in range(1, 4):
        clock.t += 1
        wdg.update(steps_value(n, last_partial=True))
        assert wdg.status == "streaming"
        assert len(wdg.step_widgets) == n
    assert "expl" in wdg.step_widgets[-1].value
    final = steps_value(3, final="9.8")
    wdg.finish(result_of(final, reasoning="thinking hard"))
    assert wdg.status == "done"
    assert all(f"explain {i}" in c.value for i, c in enumerate(wdg.step_widgets))
    assert "9.8" in wdg.answer.value and "final_answer" in wdg.answer.value
    assert wdg.reasoning_box.selected_index is None  # collapsed
    assert "thinking hard" in wdg.reasoning_html.value
    assert wdg.raw_box.selected_index is None
    assert "done" in wdg.header.value and "3 tokens" in wdg.header.value
    assert repr(wdg) == "<StructuredWidget math: done, 3 steps>"


def test_updates_are_throttled_and_finish_always_renders():
    clock = Clock()
    wdg = StructuredWidget(title="t", clock=clock, min_interval=0.05)
    wdg.start()
    clock.t = 1.0
    for i in range(100):
        clock.t += 0.0001
        wdg.update(steps_value(1 + i // 10))
    assert wdg.renders <= 2
    wdg.finish(result_of(steps_value(12, final="x")))
    assert len(wdg.step_widgets) == 12


def test_finished_steps_render_once():
    clock = Clock()
    wdg = StructuredWidget(title="t", clock=clock, min_interval=0)
    wdg.start()
    first_cards = {}
    for n in range(1, 30):
        wdg.update(steps_value(n, last_partial=True))
        for i, child in enumerate(wdg.step_widgets[:-1]):
            first_cards.setdefault(i, child.value)
            assert child.value == first_cards[i]
    # the widget objects are kept, not rebuilt
    ids = [id(c) for c in wdg.step_widgets]
    wdg.update(steps_value(29, last_partial=False))
    assert [id(c) for c in wdg.step_widgets] == ids


def test_without_steps_the_value_is_a_tree():
    wdg = StructuredWidget(title="person", min_interval=0)
    wdg.start()
    wdg.update({"name": "Ada"})
    assert "Ada" in wdg.answer.value and wdg.step_widgets == ()
    wdg.finish(result_of({"name": "Ada", "age": 36}))
    assert "36" in wdg.answer.value


def test_fail_keeps_steps_and_shows_error():
    from structmagic.errors import StreamError

    wdg = StructuredWidget(title="t", min_interval=0)
    wdg.start()
    wdg.update(steps_value(2))
    wdg.fail(StreamError("The stream broke off"), partial=steps_value(3, last_partial=True))
    assert wdg.status == "error"
    assert len(wdg.step_widgets) == 3
    assert "The stream broke off" in wdg.error_html.value
    assert "StreamError" in wdg.error_html.value and "error" in wdg.header.value


def test_restart_forgets_steps():
    wdg = StructuredWidget(title="t", min_interval=0)
    wdg.update(steps_value(5))
    wdg.restart()
    wdg.update(steps_value(1))
    assert len(wdg.step_widgets) == 1


def test_reveal_mode_buttons():
    wdg = StructuredWidget(title="t", reveal=True, min_interval=0)
    wdg.start()
    wdg.update(steps_value(2, last_partial=True))
    assert "receiving step 2" in wdg.progress.value
    assert all(c.layout.display == "none" for c in wdg.step_widgets)
    assert wdg.next_button.disabled  # buttons only after the answer is complete
    wdg.finish(result_of(steps_value(3, final="9.8")))
    visible = lambda: [c.layout.display != "none" for c in wdg.step_widgets]  # noqa: E731
    assert visible() == [True, False, False] and wdg.revealed == 1
    assert wdg.prev_button.disabled and not wdg.next_button.disabled
    assert wdg.answer.layout.display == "none"
    wdg.next_button.click()
    assert visible() == [True, True, False]
    wdg.prev_button.click()
    assert visible() == [True, False, False]
    wdg.all_button.click()
    assert visible() == [True, True, True] and wdg.revealed == 3
    assert wdg.next_button.disabled and wdg.all_button.disabled
    assert wdg.answer.layout.display != "none"


@pytest.mark.parametrize("field", ["items", None])
def test_explicit_steps_field(field):
    value = {"items": [{"a": 1}, {"a": 2}], "other": [{"b": 1}]}
    wdg = StructuredWidget(title="t", steps_field=field, min_interval=0)
    wdg.finish(result_of(value))
    assert len(wdg.step_widgets) == 2
