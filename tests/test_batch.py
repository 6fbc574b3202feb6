"""batch() and %%structured --each against the fake server, with injected faults."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

import structmagic as sm
from structmagic.batching import BatchInterrupted, RateGate

from batch_helpers import SCHEMA, Faults, prompt_number
from fakeserver import Reply, chat


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
    active = 0
    peak = 0
    lock = threading.Lock()

    def responder(req):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        k = prompt_number(req)
        return chat(json.dumps({"n": k, "label": "x"}))

    server.responder = responder
    results = sm.batch([f"item {i}" for i in range(20)], SCHEMA, concurrency=5)
    assert [r.data["n"] for r in results] == list(range(20))
    assert 2 <= peak <= 5


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


def test_shared_backoff_pauses_every_worker():
    clock = [0.0]
    slept: list[float] = []

    def sleep(s):
        slept.append(s)
        clock[0] += s

    gate = RateGate(clock=lambda: clock[0], sleep=sleep)
    gate.pause(1.0)
    gate.before_request()
    assert clock[0] >= 1.0
    paced = RateGate(max_requests_per_minute=120, clock=lambda: clock[0], sleep=sleep)
    start = clock[0]
    for _ in range(3):
        paced.before_request()
    assert clock[0] - start == pytest.approx(1.0, abs=0.01)  # 2 gaps of 0.5 s


def test_a_gate_closed_by_an_interrupt_is_refused_before_any_request(server, settings):
    gate = RateGate()
    gate.stop()
    assert gate.stopped
    with pytest.raises(sm.ConfigError, match="closed by an interrupted batch"):
        sm.batch(["item 0"], SCHEMA, gate=gate)
    assert server.requests == []


def test_429_slows_the_whole_batch(server, settings):
    calls = []
    lock = threading.Lock()
    t429 = []

    def responder(req):
        k = prompt_number(req)
        now = time.monotonic()
        with lock:
            calls.append((now, k))
            first429 = k == 0 and sum(1 for _, j in calls if j == 0) == 1
        if first429:
            t429.append(now)
            return Reply.status(429, "slow", headers={"retry-after": "0.4"})
        time.sleep(0.1)  # the other worker is busy until the pause is surely set
        return chat(json.dumps({"n": k, "label": "x"}))

    server.responder = responder
    results = sm.batch([f"item {i}" for i in range(6)], SCHEMA, concurrency=2)
    assert all(r.ok for r in results)
    # after the 429, no request starts for ~0.4 s, from either worker
    later = [t - t429[0] for t, _ in calls if t > t429[0] + 0.05]
    assert min(later) >= 0.35


def test_interrupt_keeps_finished_results(server, settings):
    def responder(req):
        k = prompt_number(req)
        time.sleep(0.01 if k < 3 else 3)
        return chat(json.dumps({"n": k, "label": "x"}))

    server.responder = responder
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(BatchInterrupted) as info:
        sm.batch([f"item {i}" for i in range(6)], SCHEMA, concurrency=1)
    timer.join()
    assert time.monotonic() - t0 < 2
    results = info.value.results
    assert [r.data["n"] for r in results[:3]] == [0, 1, 2]
    assert all(r.error is not None and r.data is None for r in results[3:])


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
    from structmagic.batching import BatchProgress
    from structmagic.progress import BatchBar

    bar = BatchBar(4, title="<b>x</b>", live=True, min_interval=10)
    progress = BatchProgress(total=4, done=3, failed=1, tokens=40)
    bar.update(progress)  # the first update renders
    progress.done = 3
    bar.update(progress, final=True)
    assert bar.bar.value == 4 and bar.bar.max == 4
    assert bar.bar.bar_style == "warning"  # a failed item
    assert "3 ok" in bar.label.value and "1 failed" in bar.label.value
    assert "40 tokens" in bar.label.value
    assert "&lt;b&gt;" in bar.label.value  # the title is escaped
    bar.interrupted(progress)
    assert bar.bar.bar_style == "danger" and "interrupted" in bar.label.value
    assert repr(bar).startswith("<BatchBar")


# --- interrupts: nothing new is sent, what is in flight is cut, positions are kept ------------


def _interrupt_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def _slow_from(first_slow: int, seconds: float, fast: tuple[int, ...] = ()):
    def respond(req):
        k = prompt_number(req)
        if k >= first_slow and k not in fast:
            time.sleep(seconds)
        return chat(json.dumps({"n": k, "label": f"item {k}"}), usage=(1, 1))
    return respond


def test_an_interrupt_sends_nothing_new_and_cuts_what_is_in_flight(server, settings):
    server.responder = _slow_from(2, 1.2)
    timer = _interrupt_after(0.4)
    t0 = time.monotonic()
    with pytest.raises(BatchInterrupted) as info:
        sm.batch([f"item {i}" for i in range(12)], SCHEMA, concurrency=4, retries=3)
    timer.join()
    assert time.monotonic() - t0 < 1.1  # the cut requests did not wait for their answers
    sent = len(server.requests)
    time.sleep(1.4)  # long enough for the slow answers, and for retries if any were made
    assert len(server.requests) == sent, "a request was sent after the interrupt"
    results = info.value.results
    assert [r.data["n"] for r in results[:2]] == [0, 1]
    assert all(r.data is None and r.error is not None for r in results[2:])


def test_interrupted_results_stay_at_their_input_positions(server, settings):
    server.responder = _slow_from(0, 1.0, fast=(1, 2, 4))
    timer = _interrupt_after(0.4)
    with pytest.raises(BatchInterrupted) as info:
        sm.batch([f"item {i}" for i in range(8)], SCHEMA, concurrency=3)
    timer.join()
    results = info.value.results
    assert len(results) == 8
    assert [i for i, r in enumerate(results) if r.error is None] == [1, 2, 4]
    assert [results[i].data["n"] for i in (1, 2, 4)] == [1, 2, 4]


def test_an_unfinished_item_outliving_the_drain_keeps_every_position(server, settings,
                                                                     monkeypatch):
    """With the user's own http_client (its connections are not cut), an interrupt whose
    request in flight has not finished when the drain ends still gives every result at its
    input position: the unfinished item is marked where it was, the finished ones after it
    stay where they were."""
    import httpx

    from structmagic import batching

    monkeypatch.setattr(batching, "_DRAIN_SECONDS", 0.05)
    held, release = threading.Event(), threading.Event()

    def respond(req):
        k = prompt_number(req)
        if k == 0:  # item 0 stays in flight until the test lets it go
            held.set()
            release.wait(10)
        return chat(json.dumps({"n": k, "label": f"item {k}"}), usage=(1, 1))

    fired: list[int] = []

    def interrupt_once_two_finished(progress):
        if progress.finished >= 2 and not fired:
            fired.append(progress.finished)
            assert held.wait(5), "item 0 never reached the server"
            os.kill(os.getpid(), signal.SIGINT)

    server.responder = respond
    through_client: list[int] = []
    client = httpx.Client(timeout=10, event_hooks={"request": [
        lambda r: through_client.append(int(json.loads(r.content)["messages"][-1][
            "content"].split()[1]))]})
    before = set(threading.enumerate())
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(BatchInterrupted) as info:
            sm.batch([f"item {i}" for i in range(3)], SCHEMA, concurrency=3,
                     http_client=client, on_progress=interrupt_once_two_finished)
    finally:
        signal.signal(signal.SIGINT, previous)
        release.set()
        for thread in set(threading.enumerate()) - before:  # item 0's worker ends
            if thread.name.startswith("structmagic_"):  # the batch's pool
                thread.join(5)
        client.close()
    assert fired == [2]
    results = info.value.results
    assert len(results) == 3
    assert isinstance(results[0].error, batching.Interrupted) and results[0].data is None
    assert [r.data for r in results[1:]] == [{"n": 1, "label": "item 1"},
                                             {"n": 2, "label": "item 2"}]
    assert sorted(through_client) == [0, 1, 2]  # each item sent once, through that client
    assert sorted(prompt_number(r) for r in server.requests) == [0, 1, 2]


def test_a_rerun_after_an_interrupt_pays_for_nothing_twice(server, settings, tmp_path):
    cassette = str(tmp_path / "run.jsonl")
    server.responder = lambda req: (time.sleep(0.02 * (prompt_number(req) % 7)),
                                    chat(json.dumps({"n": prompt_number(req), "label": "x"}),
                                         usage=(1, 1)))[1]
    prompts = [f"item {i}" for i in range(60)]
    timer = _interrupt_after(0.3)
    with pytest.raises(BatchInterrupted) as info:
        sm.batch(prompts, SCHEMA, concurrency=6, cache="cache", cassette=cassette)
    timer.join()
    done = {i for i, r in enumerate(info.value.results) if r.error is None}
    assert 0 < len(done) < 60
    server.reset()
    server.responder = lambda req: chat(json.dumps({"n": prompt_number(req), "label": "x"}))
    again = sm.batch(prompts, SCHEMA, concurrency=6, cache="cache", cassette=cassette)
    assert all(r.error is None for r in again)
    asked = sorted(prompt_number(r) for r in server.requests)
    assert not done & set(asked), "an answer paid for before the interrupt was paid again"
    assert asked == sorted(set(range(60)) - done)


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
