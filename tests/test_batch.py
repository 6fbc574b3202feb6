"""batch() and %%structured --each against the fake server, with injected faults."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sys
import threading

import pytest

import structmagic as sm
from structmagic.display.progress import BAR_WIDTH
from structmagic.errors import BatchInterrupted
from structmagic.rows.gate import RateGate

from batch_helpers import SCHEMA, Crowd, Faults, Held, prompt_number
from fakeserver import Reply, chat
from sm_fixtures import ManualClock


def test_order_kept_with_faults(server, settings):
    faults = Faults(
        once={1: Reply.status(500, "flaky"), 2: Reply.status(429, "slow",
                                                             headers={"retry-after": "0"}),
              3: chat('{"n": "three"}'), 4: Reply.drop()},
        always={5: chat(None, refusal="no"), 6: Reply.status(400, "bad item")},
    )
    server.responder = faults
    results = sm.batch([f"item {i}" for i in range(12)], SCHEMA, concurrency=4,
                       mode="json_schema")
    assert len(results) == 12
    for i, res in enumerate(results):
        if i == 5:
            assert isinstance(res.error, sm.RefusalError) and res.data is None
        elif i == 6:
            assert isinstance(res.error, sm.BadRequestError) and res.data is None
        else:
            assert res.error is None, (i, res.error)
            assert res.data == {"n": i, "label": f"item {i}"}
    assert results[1].attempts == 2 and results[3].attempts == 2
    # nothing duplicated: every item asked once, plus the retries and the one re-ask
    assert sum(faults.count.values()) == 12 + 4 + 0


def test_concurrency_is_bounded_and_used(server, settings):
    server.responder = crowd = Crowd(until=5)
    results = sm.batch([f"item {i}" for i in range(20)], SCHEMA, concurrency=5)
    assert [r.data["n"] for r in results] == list(range(20))
    assert crowd.peak == 5


def test_progress_reports_end_state(server, settings):
    server.responder = Faults(always={2: chat(None, refusal="no")})
    seen = []
    sm.batch([f"item {i}" for i in range(6)], SCHEMA, concurrency=3,
             on_progress=lambda p: seen.append((p.done, p.failed, p.in_flight, p.tokens)))
    assert seen[-1] == (5, 1, 0, 10 + 30)  # the refusal's 30 tokens were paid for too
    assert [d + f for d, f, _, _ in seen] == sorted(d + f for d, f, _, _ in seen)


def test_bad_input_fails_before_any_request(server, settings):
    with pytest.raises(sm.SchemaError):
        sm.batch(["item 1"], {"type": "nope"})
    with pytest.raises(sm.ConfigError):
        sm.batch(["item 1"], SCHEMA, retries=-1)
    assert server.requests == []


def test_shared_backoff_pauses_every_worker(clock):
    gate = RateGate(clock=clock)
    start = clock.now
    gate.pause(1.0)
    gate.before_request()
    assert clock.now - start >= 1.0
    paced = RateGate(max_requests_per_minute=120, clock=clock)
    start = clock.now
    for _ in range(3):
        paced.before_request()
    assert clock.now - start == pytest.approx(1.0, abs=0.01)  # 2 gaps of 0.5 s


def test_a_gate_closed_by_an_interrupt_is_refused_before_any_request(server, settings):
    gate = RateGate()
    gate.stop()
    assert gate.stopped
    with pytest.raises(sm.ConfigError, match="closed by an interrupted batch"):
        sm.batch(["item 0"], SCHEMA, gate=gate)
    assert server.requests == []


class _Watched(RateGate):
    """A gate on a fake clock that logs when each request passes it, and each pause."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock=clock)
        self.clock = clock
        self.passed: list[float] = []
        self.pauses: list[tuple[float, float]] = []
        self.paused = threading.Event()

    def before_request(self) -> None:
        super().before_request()
        self.passed.append(self.clock.time())

    def pause(self, seconds: float) -> None:
        start = self.clock.time()
        super().pause(seconds)
        self.pauses.append((start, seconds))
        self.paused.set()


def test_429_slows_the_whole_batch(server, settings):
    # Two workers; item 0's first answer is a 429 asking for 0.4 s, sent once item 1 is in
    # flight too, and item 1's answer waits until the gate has been paused: so the other
    # worker's next request comes after the pause, and must wait it out as well. The gate
    # runs on a fake clock: nothing waits in real time.
    gate = _Watched(ManualClock(start=0.0))
    seen: dict[int, int] = {}
    lock = threading.Lock()

    def responder(req):
        k = prompt_number(req)
        with lock:
            seen[k] = seen.get(k, 0) + 1
            first = seen[k] == 1
        if k == 0 and first:
            server.wait_for_requests(2)
            return Reply.status(429, "slow", headers={"retry-after": "0.4"})
        if k == 1:
            gate.paused.wait(5)
        return chat(json.dumps({"n": k, "label": "x"}))

    server.responder = responder
    results = sm.batch([f"item {i}" for i in range(6)], SCHEMA, concurrency=2, gate=gate)
    assert [r.data["n"] for r in results] == list(range(6))
    assert gate.pauses == [(0.0, 0.4)]
    # items 0 and 1 passed at 0; every later request (item 0's retry, items 2-5) waited for
    # the pause to end, from either worker
    assert gate.passed[:2] == [0.0, 0.0] and len(gate.passed) == 7
    assert min(gate.passed[2:]) >= 0.4
    assert sum(gate.clock.waits) >= 0.4


def test_rerun_with_cache_does_not_pay_twice(server, settings, tmp_path):
    server.responder = Faults()
    cassette = str(tmp_path / "batch.jsonl")
    prompts = [f"item {i}" for i in range(5)]
    first = sm.batch(prompts, SCHEMA, cache="cache", cassette=cassette)
    assert len(server.requests) == 5
    second = sm.batch(prompts, SCHEMA, cache="cache", cassette=cassette)
    assert len(server.requests) == 5
    assert [r.data for r in first] == [r.data for r in second]
    assert all(r.from_cache for r in second)


def test_progress_bar_final_state():
    from structmagic.display.progress import ProgressBar
    from structmagic.magic.batches import finish_rows, follow_rows
    from structmagic.rows.counts import BatchProgress

    bar = ProgressBar("<b>x</b>", live=True, total=4, min_interval=10)
    progress = BatchProgress(total=4, done=2, failed=1, tokens=40)
    follow_rows(bar)(progress)  # the first update renders
    assert bar.bar.value == 3 and "2 ok" in bar.label.value
    progress.done = 3
    follow_rows(bar)(progress)  # within min_interval: not drawn
    assert bar.bar.value == 3 and "2 ok" in bar.label.value
    finish_rows(bar, progress)  # the final state always is
    assert bar.bar.value == 4 and bar.bar.max == 4
    assert bar.bar.bar_style == "warning"  # a failed item
    assert "3 ok" in bar.label.value and "1 failed" in bar.label.value
    assert "40 tokens" in bar.label.value
    assert "&lt;b&gt;" in bar.label.value  # the title is escaped
    finish_rows(bar, progress, interrupted=True)
    assert bar.bar.bar_style == "danger" and "interrupted" in bar.label.value
    finish_rows(bar, BatchProgress(total=4, done=4))  # a failure stays visible
    assert bar.bar.bar_style == "danger"
    assert repr(bar).startswith("<ProgressBar <b>x</b>: 4/4 · 4 ok")
    # one bar: a narrow bar of its own width, one line beside it taking the rest
    assert bar.box.children == (bar.bar, bar.label)
    assert bar.bar.layout.width == BAR_WIDTH and bar.label.layout.flex == "1 1 auto"


def test_the_final_line_has_the_runs_real_rate_and_elapsed_time():
    import time

    from structmagic.call.result import Result
    from structmagic.rows.counts import BatchProgress

    final = BatchProgress.of([Result(), Result(), Result(), Result()],
                             started=time.monotonic() - 8.0)
    line = final.line()
    assert re.search(r"· 0\.5/s · 8\.0 s · ", line), line
    assert "in flight" not in line  # nothing is, at the end


def test_the_magics_bar_ends_on_the_runs_rate(ip, server, settings, monkeypatch):
    """The final line of ``--each`` is counted from the start of the run (before the first
    request), not from the moment the final counts were made (which gave rates of 250,000
    rows a second)."""
    import time

    from structmagic.magic import batches

    bars: list[object] = []
    real = batches.ProgressBar

    def record(*args, **kwargs):
        bars.append(real(*args, **kwargs))
        return bars[-1]

    asked: list[float] = []

    def respond(req):
        asked.append(time.monotonic())
        return chat('{"n": "x"}')

    monkeypatch.setattr(batches, "ProgressBar", record)
    monkeypatch.setattr(ip, "kernel", object(), raising=False)
    server.responder = respond
    ip.user_ns.update(schema=SCHEMA, items=["a", "b", "c"])
    res = ip.run_cell("%%structured schema --each items -o out\n{item}", store_history=False)
    ended = time.monotonic()
    assert res.error_in_exec is None
    (bar,) = bars
    rate, elapsed = map(float, re.search(r"· ([\d.]+)/s · ([\d.]+) s", bar.line).groups())
    # at least the time from the first request to the end, at most the whole cell's
    assert ended - min(asked) - 0.01 <= elapsed
    assert rate <= 3 / max(ended - min(asked) - 0.01, 1e-3)


# --- interrupts: nothing new is sent, what is in flight (paid for) finishes, positions kept ---


class _Counted(RateGate):
    """A gate that counts the requests it let through."""

    def __init__(self) -> None:
        super().__init__()
        self.passed = 0

    def before_request(self) -> None:
        super().before_request()
        self.passed += 1


def _when_finishing(then):
    """An ``on_progress`` that calls ``then(progress)`` once, as an interrupt's grace
    begins."""
    seen: list[int] = []

    def follow(progress):
        if progress.finishing and not seen:
            seen.append(progress.finishing)
            then(progress)

    follow.seen = seen
    return follow


def test_the_first_interrupt_lets_the_requests_in_flight_finish(server, settings, sigint):
    """Items 0-2 answered, item 3 in flight when the interrupt lands: nothing new is sent
    (4 and 5), and item 3's answer, already paid for, is waited for and kept."""
    gate = _Counted()
    with Held(lambda k: k >= 3, seconds=10) as held:
        server.responder = held
        sigint.after_requests(4)
        with pytest.raises(BatchInterrupted) as info:
            sm.batch([f"item {i}" for i in range(6)], SCHEMA, concurrency=1, gate=gate,
                     on_progress=_when_finishing(lambda p: held.release()))
    results = info.value.results
    assert [r.data["n"] for r in results[:4]] == [0, 1, 2, 3]
    assert all(isinstance(r.error, sm.Interrupted) for r in results[4:])
    assert gate.passed == 4 and len(server.requests) == 4


def test_without_a_progress_bar_the_grace_is_told_on_standard_error(server, settings, sigint,
                                                                   monkeypatch):
    release = threading.Event()

    class Stderr(io.StringIO):
        def write(self, text: str) -> int:
            if "finishing" in text:
                release.set()  # the held answer goes once the grace has been announced
            return super().write(text)

    told = Stderr()
    monkeypatch.setattr(sys, "stderr", told)

    def respond(req):
        k = prompt_number(req)
        if k == 1:
            release.wait(10)
        return chat(json.dumps({"n": k, "label": "x"}))

    server.responder = respond
    sigint.after_requests(2)
    try:
        with pytest.raises(BatchInterrupted) as info:
            sm.batch([f"item {i}" for i in range(4)], SCHEMA, concurrency=1)
    finally:
        release.set()
    assert [r.error is None for r in info.value.results] == [True, True, False, False]
    assert told.getvalue() == ("structmagic: interrupted: finishing 1 request already paid "
                               "for (up to 10 s) — interrupt again to abandon it\n")


def test_a_second_interrupt_cuts_what_is_in_flight_at_once(server, settings, sigint):
    gate = _Counted()
    with Held(lambda k: k >= 2) as held:
        server.responder = held
        # items 0 and 1 answered, items 2-5 in flight on the four workers, 6-11 waiting
        sigint.after_requests(6)
        with pytest.raises(BatchInterrupted) as info:
            sm.batch([f"item {i}" for i in range(12)], SCHEMA, concurrency=4, retries=3,
                     gate=gate,
                     on_progress=_when_finishing(lambda p: os.kill(os.getpid(),
                                                                   signal.SIGINT)))
    results = info.value.results
    assert [r.data["n"] for r in results[:2]] == [0, 1]
    # the four in flight were cut: their answers (held 3 s) did not make them successes
    assert all(r.data is None and r.error is not None for r in results[2:])
    # nothing went through the gate after the first interrupt: no new item, retry or
    # re-ask...
    assert gate.passed == 6 and gate.stopped
    # ...and nothing reached the server (the held answers are out now; an absence is only
    # waited for so long)
    with pytest.raises(TimeoutError):
        server.wait_for_requests(7, timeout=0.5)
    assert len(server.requests) == 6


def test_the_grace_ends_on_the_clock(server, settings, sigint, clock):
    """Answers that do not come within the grace (on the settings' clock) are cut."""
    from structmagic.rows.stop import GRACE_SECONDS

    with Held(lambda k: k not in (1, 2, 4)) as held:
        server.responder = held
        # workers on 0, 1, 2; then 1 and 2 answer and they take 3 and 4; 4 answers, one takes
        # 5: items 0, 3 and 5 are in flight
        sigint.after_requests(6)
        follow = _when_finishing(lambda p: clock.advance(GRACE_SECONDS + 0.01))
        with pytest.raises(BatchInterrupted) as info:
            sm.batch([f"item {i}" for i in range(8)], SCHEMA, concurrency=3,
                     on_progress=follow)
    assert follow.seen == [3]
    results = info.value.results
    assert len(results) == 8  # every result at its input position
    assert [i for i, r in enumerate(results) if r.error is None] == [1, 2, 4]
    assert [results[i].data["n"] for i in (1, 2, 4)] == [1, 2, 4]


def test_an_interrupt_cuts_only_its_own_batch(server, settings, sigint):
    """Another batch running at the same time, in another thread, on the same shared
    client, is not touched: its requests in flight are answered, each sent once."""
    other_in_flight = threading.Event()
    release_other = threading.Event()

    def respond(req):
        k = prompt_number(req)
        if k >= 100:  # the other batch: held until this one has been cut
            other_in_flight.set()
            release_other.wait(10)
        elif k >= 1:
            threading.Event().wait(3)  # this batch's item in flight: cut before it answers
        return chat(json.dumps({"n": k, "label": "x"}))

    server.responder = respond
    other: list = []
    thread = threading.Thread(target=lambda: other.extend(sm.batch(
        [f"item {i}" for i in range(100, 104)], SCHEMA, concurrency=4)), daemon=True)
    thread.start()
    assert other_in_flight.wait(5)
    sigint.after_requests(6)  # the other batch's 4, and this one's items 0 and 1

    def cut_now(progress):
        os.kill(os.getpid(), signal.SIGINT)

    try:
        with pytest.raises(BatchInterrupted) as info:
            sm.batch([f"item {i}" for i in range(3)], SCHEMA, concurrency=1,
                     on_progress=_when_finishing(cut_now))
    finally:
        release_other.set()
        thread.join(10)
    assert [r.error is None for r in info.value.results] == [True, False, False]
    assert [r.error for r in other] == [None] * 4
    assert [r.data["n"] for r in other] == [100, 101, 102, 103]
    sent = sorted(prompt_number(r) for r in server.requests)
    assert sent == [0, 1, 100, 101, 102, 103]  # the other batch's requests each sent once


def test_an_unfinished_item_outliving_the_drain_keeps_every_position(server, settings,
                                                                     monkeypatch, sigint,
                                                                     clock):
    """With the user's own http_client (its connections are not cut), an interrupt whose
    request in flight has not finished when the grace and the drain end still gives every
    result at its input position: the unfinished item is marked where it was, the finished
    ones after it stay where they were."""
    import httpx

    from structmagic.rows import stop

    monkeypatch.setattr(stop, "DRAIN_SECONDS", 0.05)
    held, release = threading.Event(), threading.Event()

    def respond(req):
        k = prompt_number(req)
        if k == 0:  # item 0 stays in flight until the test lets it go
            held.set()
            release.wait(10)
        return chat(json.dumps({"n": k, "label": f"item {k}"}), usage=(1, 1))

    fired: list[int] = []

    def interrupt_once_two_finished(progress):
        if progress.finishing:  # the grace ends at once
            clock.advance(stop.GRACE_SECONDS + 1)
        elif progress.finished >= 2 and not fired:
            fired.append(progress.finished)
            assert held.wait(5), "item 0 never reached the server"
            os.kill(os.getpid(), signal.SIGINT)

    server.responder = respond
    through_client: list[int] = []
    client = httpx.Client(timeout=10, event_hooks={"request": [
        lambda r: through_client.append(int(json.loads(r.content)["messages"][-1][
            "content"].split()[1]))]})
    before = set(threading.enumerate())
    try:
        with pytest.raises(BatchInterrupted) as info:
            sm.batch([f"item {i}" for i in range(3)], SCHEMA, concurrency=3,
                     http_client=client, on_progress=interrupt_once_two_finished)
    finally:
        release.set()
        for thread in set(threading.enumerate()) - before:  # item 0's worker ends
            if thread.name.startswith("structmagic_"):  # the batch's pool
                thread.join(5)
        client.close()
    assert fired == [2]
    results = info.value.results
    assert len(results) == 3
    assert isinstance(results[0].error, sm.Interrupted) and results[0].data is None
    assert [r.data for r in results[1:]] == [{"n": 1, "label": "item 1"},
                                             {"n": 2, "label": "item 2"}]
    assert sorted(through_client) == [0, 1, 2]  # each item sent once, through that client
    assert sorted(prompt_number(r) for r in server.requests) == [0, 1, 2]


def test_a_rerun_after_an_interrupt_pays_for_nothing_twice(server, settings, tmp_path, sigint):
    cassette = str(tmp_path / "run.jsonl")
    prompts = [f"item {i}" for i in range(60)]
    with Held(lambda k: k >= 20, seconds=10) as held:
        server.responder = held
        sigint.after_requests(26)  # items 0-19 answered, 20-25 in flight on the six workers
        with pytest.raises(BatchInterrupted) as info:
            sm.batch(prompts, SCHEMA, concurrency=6, cache="cache", cassette=cassette,
                     on_progress=_when_finishing(lambda p: held.release()))
    done = {i for i, r in enumerate(info.value.results) if r.error is None}
    assert done == set(range(26))  # the six in flight finished within the grace, recorded
    server.reset()
    server.responder = lambda req: chat(json.dumps({"n": prompt_number(req), "label": "x"}))
    again = sm.batch(prompts, SCHEMA, concurrency=6, cache="cache", cassette=cassette)
    assert all(r.error is None for r in again)
    asked = sorted(prompt_number(r) for r in server.requests)
    assert not done & set(asked), "an answer paid for before the interrupt was paid again"
    assert asked == list(range(26, 60))


# --- one bad item never sinks a batch --------------------------------------------------------


def test_items_that_cannot_be_sent_fail_alone(server, settings):
    server.responder = lambda req: chat(json.dumps({"n": prompt_number(req), "label": "x"}))
    prompts = ["item 0", "item 1 \ud800", float("nan"), [{"role": "user"}], None, "item 5"]
    results = sm.batch(prompts, SCHEMA, concurrency=3)
    assert [r.data["n"] if r.ok else None for r in results] == [0, None, None, None, None, 5]
    assert all(isinstance(r.error, sm.InputError) for r in results[1:5])
    assert "lone surrogate" in str(results[1].error)
    assert len(server.requests) == 2


def test_an_answer_nested_too_deep_fails_alone(server, settings):
    def respond(req):
        k = prompt_number(req)
        if k == 1:
            return chat('{"n": ' + "[" * 1500 + "]" * 1500 + ', "label": "x"}')
        return chat(json.dumps({"n": k, "label": "x"}))

    server.responder = respond
    results = sm.batch([f"item {i}" for i in range(3)], SCHEMA)
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, sm.InvalidOutputError)
    assert "more than 100 levels deep" in str(results[1].error)
