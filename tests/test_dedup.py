"""Identical rows sent once (``dedup``), and results handed over one by one in input order
(``batch_iter``, ``on_result``): exact request counts against the fake server, the copies
each row gets, the rule that keys a row, and what an interrupt or an early exit leaves."""

from __future__ import annotations

import json
import pickle
import random
import re
import signal
import threading

import pytest

import structmagic as sm
from structmagic.errors import BatchInterrupted
from structmagic.rows.unique import FirstSeen, Repeats, row_key

from batch_helpers import SCHEMA, Faults, Held, prompt_number
from fakeserver import chat

PRICES = {"test-model": (2.0, 10.0)}  # USD per million tokens: every answer has a cost


def column(n: int, repeated: float, seed: int = 7) -> list[str]:
    """``n`` rows ``item k``, of which the share ``repeated`` repeats an earlier row (chosen
    at random, seeded), the others each new."""
    rng = random.Random(seed)
    repeats = set(rng.sample(range(1, n), round(n * repeated)))
    rows: list[str] = []
    new = 0
    for i in range(n):
        if i in repeats:
            rows.append(rows[rng.randrange(len(rows))])
        else:
            rows.append(f"item {new}")
            new += 1
    return rows


def _numbers(rows: list[str]) -> list[int]:
    return [int(r.split()[1]) for r in rows]


# --- the threads path -----------------------------------------------------------------------


def test_ten_thousand_rows_with_30_percent_repeats_make_7000_requests(ip, server, settings):
    pd = pytest.importorskip("pandas")
    rows = column(10_000, 0.3)
    df = pd.DataFrame({"text": rows}, index=[f"r{i}" for i in range(len(rows))])
    server.responder = faults = Faults()
    ip.user_ns.update(schema=SCHEMA, df=df)
    res = ip.run_cell("%%structured schema --each df -o out --concurrency 32 --quiet\n{text}",
                      store_history=False)
    assert res.success, res.error_in_exec
    assert len(server.requests) == 7_000
    assert sorted(faults.count) == list(range(7_000)) and set(faults.count.values()) == {1}
    out = ip.user_ns["out"]
    assert len(out) == 10_000 and list(out.index) == list(df.index)
    assert list(out["n"]) == _numbers(rows)
    assert out["error"].isna().all()


def test_a_copy_is_its_own_result_costs_nothing_and_names_its_original(server, settings):
    server.responder = Faults()
    results = sm.batch(["item 1", "item 2", "item 1", "item 1"], SCHEMA, prices=PRICES)
    assert len(server.requests) == 2
    first, copy = results[0], results[2]
    assert [r.duplicate_of for r in results] == [None, None, 0, 0]
    assert copy is not first and results[3] is not copy
    assert copy.data == first.data and copy.data is not first.data
    assert copy.usage == first.usage and copy.usage is not first.usage
    assert first.cost == pytest.approx(2e-6 * 1 + 1e-5 * 1) and first.saved is None
    assert copy.cost == 0 and copy.saved == pytest.approx(first.cost)
    assert (copy.attempts, copy.elapsed) == (0, 0.0)
    assert copy.cache_saved is None  # no request: the prompt cache saved nothing on it
    copy.data["label"] = "changed"  # a user's edit of one row leaves the others alone
    assert first.data["label"] == "item 1" and results[3].data["label"] == "item 1"
    back = pickle.loads(pickle.dumps(copy))
    assert back.duplicate_of == 0 and back.cost == 0 and back.saved == copy.saved


def test_a_copy_has_no_widget_of_its_own_until_asked(server, settings):
    pytest.importorskip("ipywidgets")
    server.responder = Faults()
    first, copy = sm.batch(["item 1", "item 1"], SCHEMA)
    assert first.widget() is not None
    assert copy._widget is None and copy.widget() is not first.widget()


def test_a_failed_original_fails_each_of_its_copies(server, settings):
    server.responder = Faults(always={3: chat(None, refusal="no")})
    results = sm.batch(["item 3", "item 4", "item 3"], SCHEMA)
    assert len(server.requests) == 2
    assert isinstance(results[0].error, sm.RefusalError)
    assert isinstance(results[2].error, sm.RefusalError) and results[2] is not results[0]
    assert results[2].duplicate_of == 0 and results[2].data is None


def test_dedup_false_sends_every_row(server, settings):
    server.responder = Faults()
    results = sm.batch(["item 1"] * 5, SCHEMA, dedup=False)
    assert len(server.requests) == 5
    assert all(r.duplicate_of is None and r.attempts == 1 for r in results)


def test_no_dedup_on_the_magic_line_sends_every_row(ip, server, settings, capfd):
    server.responder = Faults()
    ip.user_ns.update(schema=SCHEMA, texts=["1", "1", "2", "1"])
    assert ip.run_cell("%%structured schema --each texts -o out\nitem {item}",
                       store_history=False).success
    assert len(server.requests) == 2
    printed = capfd.readouterr().out  # the progress bar's last line, with no widget
    assert "4/4 · 4 ok" in printed and "2 unique of 4 rows" in printed
    server.reset()
    server.responder = Faults()
    assert ip.run_cell("%%structured schema --each texts -o out --quiet --no-dedup\n"
                       "item {item}", store_history=False).success
    assert len(server.requests) == 4
    assert [v["n"] for v in ip.user_ns["out"]] == [1, 1, 2, 1]
    help_text = sm.StructuredMagics.structured.__doc__
    assert "--no-dedup" in help_text and "temperature above 0" in help_text


def test_the_progress_line_says_how_many_rows_are_unique(server, settings):
    server.responder = Faults()
    seen = []
    sm.batch(["item 1", "item 2", "item 1", "item 3", "item 2"], SCHEMA,
             on_progress=lambda p: seen.append(p.line()))
    assert "3 unique of 5 rows" in seen[-1] and seen[-1].startswith("5/5 · 5 ok")
    assert "6 tokens" in seen[-1]  # the requests sent: a copy's tokens were not spent
    seen.clear()
    sm.batch(["item 1", "item 2"], SCHEMA, on_progress=lambda p: seen.append(p.line()))
    assert "unique" not in seen[-1]


def test_a_budget_reserves_only_the_rows_it_sends(server, settings):
    """Ten rows, two of them new, each answer costing $0.0021: a cap of 2.5 answers runs
    them all (the repeats reserve nothing); sending every row, it stops after two."""
    def respond(req):
        k = prompt_number(req)
        return chat(json.dumps({"n": k, "label": "x"}), usage=(1000, 10))

    server.responder = respond
    rows = ["item 1", "item 2"] * 5
    cap = 2.5 * (1000 * 2.0 + 10 * 10.0) / 1e6
    results = sm.batch(rows, SCHEMA, prices=PRICES, max_cost=cap, concurrency=1)
    assert len(server.requests) == 2 and all(r.ok for r in results)
    assert sum(r.cost for r in results) == pytest.approx(2 * 0.0021)
    server.reset()
    server.responder = respond
    results = sm.batch(rows, SCHEMA, prices=PRICES, max_cost=cap, concurrency=1, dedup=False)
    assert len(server.requests) == 2
    assert all(isinstance(r.error, sm.NotRun) for r in results[2:])


def test_a_row_is_keyed_by_its_prompt_images_files_and_source(server, settings):
    server.responder = lambda req: chat(json.dumps(
        {"n": prompt_number(req), "label": "x"}))
    picture = object()  # compared by identity: never sent (the rows fail alone)
    assert row_key("a") == row_key("a") != row_key("a", images=[b"x"])
    assert row_key("a", images=[b"x"]) == row_key("a", images=(b"x",))
    assert row_key("a", images=[picture]) == row_key("a", images=[picture])
    assert row_key("a", images=[picture]) != row_key("a", images=[object()])
    assert row_key("a", source="s") != row_key("a", source="t")
    assert row_key("a", files=[1]) != row_key("a", files=[1.0]) != row_key("a", files=[True])
    messages = [{"role": "user", "content": "item 5"}]
    assert row_key(messages) == row_key([dict(m) for m in messages])
    assert row_key(messages) != row_key(json.dumps(messages, separators=(",", ":")))
    results = sm.batch([messages, [dict(m) for m in messages], "item 5", "item 6"], SCHEMA,
                       source=["a", "a", "a", "b"], ground=True)
    assert len(server.requests) == 3 and [r.duplicate_of for r in results] == [
        None, 0, None, None]


def test_the_same_image_object_twice_is_one_request(server, settings):
    pytest.importorskip("PIL")
    from media_helpers import picture, png

    server.responder = _any_parts
    image, alike = picture(), picture()
    results = sm.batch(["item 1"] * 4, SCHEMA, images=[image, image, alike, png()])
    assert len(server.requests) == 3  # an object by identity: two alike images are two
    assert [r.duplicate_of for r in results] == [None, 0, None, None]
    server.reset()
    server.responder = _any_parts
    results = sm.batch(["item 1"] * 3, SCHEMA, images=[png(), [png()], (png(),)])
    assert len(server.requests) == 2  # bytes by value, a list and a tuple alike
    assert [r.duplicate_of for r in results] == [None, None, 1]


def _any_parts(req):
    """Item k answers ``{"n": k}``, whatever parts its message has."""
    k = int(re.search(r"item (\d+)", json.dumps(req.json)).group(1))
    return chat(json.dumps({"n": k, "label": "x"}))


def test_first_seen_finds_each_rows_first_occurrence_past_hash_collisions():
    class Clash:  # every key hashes alike: the table compares the keys themselves
        def __init__(self, v):
            self.v = v

        def __hash__(self):
            return 42

        def __eq__(self, other):
            return self.v == other.v

    keys = [Clash(v) for v in [1, 2, 1, 3, 2, 1]]
    seen = FirstSeen(len(keys), lambda i: keys[i])
    assert [seen.first(i) for i in range(len(keys))] == [0, 1, 0, 3, 1, 0]
    repeats = Repeats(len(keys), lambda i: keys[i])
    assert repeats.unique == 3 and [repeats.copies(i) for i in (0, 1, 3)] == [2, 1, 0]
    assert not Repeats(3, lambda i: i).any and Repeats(3, None).unique == 3


# --- results one by one, in input order ------------------------------------------------------


def test_on_result_hands_each_row_over_in_input_order_and_keeps_none(server, settings):
    server.responder = Faults()
    got = []
    kept = sm.batch(["item 2", "item 1", "item 2", "item 0"], SCHEMA, concurrency=4,
                    on_result=lambda i, r: got.append((i, r.data["n"], r.duplicate_of)))
    assert kept == []
    assert got == [(0, 2, None), (1, 1, None), (2, 2, 0), (3, 0, None)]
    assert len(server.requests) == 3


def test_batch_iter_yields_in_input_order_before_the_last_rows_finish(server, settings):
    """The last rows' answers are held until the first results were taken: a batch_iter
    that waited for every row before yielding would never get them."""
    taken = threading.Event()
    n = 8

    def respond(req):
        k = prompt_number(req)
        if k >= n - 2:
            assert taken.wait(5), "the first results were not yielded before the last rows"
        return chat(json.dumps({"n": k, "label": f"item {k}"}))

    server.responder = respond
    got = []
    for res in sm.batch_iter([f"item {i}" for i in range(n)], SCHEMA, concurrency=n):
        got.append(res.data["n"])
        if len(got) == n - 2:
            taken.set()
    assert got == list(range(n))


def test_batch_iter_sends_at_most_a_window_ahead(server, settings):
    server.responder = Faults()
    results = sm.batch_iter([f"item {i}" for i in range(40)], SCHEMA, concurrency=2, window=3)
    assert server.requests == []  # nothing is sent until a result is asked for
    first = next(results)
    assert first.data["n"] == 0 and len(server.requests) <= 4
    assert [r.data["n"] for r in results] == list(range(1, 40))


def test_batch_iter_checks_its_input_before_anything_is_sent(server, settings):
    with pytest.raises(sm.SchemaError):
        sm.batch_iter(["item 1"], {"type": "nope"})
    with pytest.raises(sm.ConfigError, match="via"):
        sm.batch_iter(["item 1"], SCHEMA, via="batch-api")
    with pytest.raises(sm.ConfigError, match="window"):
        sm.batch_iter(["item 1"], SCHEMA, window=0)
    assert server.requests == []


def test_leaving_batch_iter_early_stops_the_rows(server, settings):
    with Held(lambda k: k >= 2) as held:
        server.responder = held
        results = sm.batch_iter([f"item {i}" for i in range(30)], SCHEMA, concurrency=2)
        for res in results:
            if res.data["n"] == 1:
                break
        results.close()  # the requests in flight (items 2 and 3) are cut, nothing more sent
    # (a request cut while it was being sent may reach the server in part, or not at all)
    sent = [r.json["messages"][-1]["content"] for r in server.requests if r.json]
    assert len(server.requests) <= 4 and set(sent) <= {f"item {i}" for i in range(4)}


def test_an_interrupt_during_batch_iter_keeps_what_finished(server, settings, sigint):
    """Items 0-2 answered and taken, 3 and 4 in flight when the interrupt lands: their
    answers, paid for, are waited for; nothing more is sent."""
    with Held(lambda k: k >= 3, seconds=10) as held:
        server.responder = held
        sigint.after_requests(5)
        got = []
        with pytest.raises(BatchInterrupted) as info:
            for res in sm.batch_iter([f"item {i}" for i in range(50)], SCHEMA, concurrency=2,
                                     on_progress=lambda p: p.finishing and held.release()):
                got.append(res.data["n"])
    assert got == [0, 1, 2]
    stopped = info.value
    assert stopped.start == 3
    assert [r.data["n"] for r in stopped.results[:2]] == [3, 4]
    assert all(isinstance(r.error, sm.Interrupted) for r in stopped.results[2:])
    assert len(stopped.results) < 50 - 3  # the rows never sent are not listed
    assert len(server.requests) == 5


def test_an_interrupt_in_on_result_stops_the_rows(server, settings, sigint):
    server.responder = Faults()
    got = []

    def keep(i, res):
        got.append(i)
        if i == 3:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(BatchInterrupted) as info:
        sm.batch([f"item {i}" for i in range(500)], SCHEMA, concurrency=2, on_result=keep)
    assert got == [0, 1, 2, 3]
    assert info.value.start == 3 and info.value.results[0].data["n"] == 3
    assert len(server.requests) < 500


# --- a provider batch job --------------------------------------------------------------------


def test_a_batch_job_has_one_line_per_unique_request(ip, fake, server, tmp_path, capfd):
    """10,000 rows, 30% of them repeats: 7,000 lines in the job, every row answered in the
    bound frame, in input order; collecting again sends nothing."""
    pd = pytest.importorskip("pandas")
    rows = column(10_000, 0.3, seed=11)
    df = pd.DataFrame({"text": rows}, index=[f"r{i}" for i in range(len(rows))])
    ip.user_ns.update(schema=SCHEMA, df=df)
    cell = "%%structured schema --each df -o out --batch-api\n{text}"
    res = ip.run_cell(cell, store_history=False)
    assert res.success, res.error_in_exec
    (job_id,) = fake.creates
    sent = [body["messages"][-1]["content"] for _, body in fake.jobs[job_id].rows]
    assert len(sent) == 7_000 and sorted(set(sent)) == sorted(set(rows))
    out = ip.user_ns["out"]
    assert len(out) == 10_000 and list(out.index) == list(df.index)
    assert list(out["n"]) == _numbers(rows) and out["error"].isna().all()
    printed = capfd.readouterr().out
    assert "10000 rows, 7000 unique, in 1 part" in printed
    assert "10000 rows: 10000 ok; 7000 unique of 10000 rows" in printed
    assert ip.run_cell(cell, store_history=False).success  # re-attached, collected again
    assert fake.creates == [job_id]


def test_a_failed_line_fails_its_repeats_and_is_re_run_once(fake, server, settings):
    fake.faults = {1: "http400"}  # row 1's line ("item 1"), repeated by rows 3 and 4
    job = sm.submit_batch(["item 0", "item 1", "item 2", "item 1", "item 1"], SCHEMA)
    results = job.results(retry="none")
    assert [r.duplicate_of for r in results] == [None, None, None, 1, 1]
    assert all(isinstance(r.error, sm.BatchRowError) for r in (results[1], *results[3:]))
    assert results[3] is not results[1] and results[3].error is results[1].error
    assert job.summary == {"ok": 2, "errored": 3, "repeated": 2}
    before = len(server.requests)
    again = job.results()  # the failed line re-run synchronously, once (not three times)
    synchronous = [r for r in server.requests[before:] if r.path.endswith("/completions")]
    assert len(synchronous) == 1 and all(r.ok for r in again)
    assert [r.data["n"] for r in again] == [0, 1, 2, 1, 1]
    assert job.summary["retried"] == 3 and job.summary["retried_ok"] == 3


def test_a_batch_job_without_dedup_sends_every_row(fake, server, settings):
    job = sm.submit_batch(["item 0", "item 0", "item 0"], SCHEMA, dedup=False)
    assert len(fake.jobs[job.ids[0]].rows) == 3 and job.unique == 3
    assert all(r.ok and r.duplicate_of is None for r in job.results())
