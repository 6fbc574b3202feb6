"""Cost capped while a column runs: ``max_cost`` / ``--max-cost`` stops a batch cleanly
within one in-flight window of the cap, loses nothing, and resumes in ``cache`` mode
without paying twice."""

from __future__ import annotations

import pytest

import structmagic as sm
from structmagic.errors import NOT_RUN, NotRun

from cost_helpers import SCHEMA, SyntheticUsage, column


@pytest.fixture
def priced(settings):
    """test-model at $1 in / $2 out per million tokens."""
    sm.configure(prices={"test-model": (1, 2)})
    yield
    sm.configure(prices=None)


def spent(results) -> float:
    return sum(r.cost or 0.0 for r in results)


def most_per_item(usage: SyntheticUsage, results) -> float:
    return max(r.cost for r in results if r.error is None)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_stops_within_one_in_flight_window_and_loses_nothing(server, priced, concurrency):
    usage = SyntheticUsage(mean=150, sd=50)
    server.responder = usage
    prompts = column(60)
    full = sm.batch(prompts, SCHEMA, concurrency=concurrency)
    total = spent(full)
    usage.answered.clear()
    cap = total / 3
    results = sm.batch(prompts, SCHEMA, concurrency=concurrency, max_cost=cap)
    assert len(results) == 60
    ran = [r for r in results if not isinstance(r.error, NotRun)]
    stopped = [r for r in results if isinstance(r.error, NotRun)]
    assert ran and stopped
    # the finished rows are a prefix, every one answered and kept at its position
    first_stop = results.index(stopped[0])
    assert all(isinstance(r.error, NotRun) for r in results[first_stop:])
    assert [r.data["n"] for r in results[:first_stop]] == list(range(first_stop))
    assert sorted(usage.answered) == list(range(first_stop))  # nothing else was sent
    window = 2 * concurrency * most_per_item(usage, full)
    assert spent(results) <= cap + window
    assert spent(results) >= cap - window  # and it did not stop far too early
    assert str(stopped[0].error).startswith(NOT_RUN)
    assert stopped[0].cost == 0.0


def test_resumes_with_a_higher_cap_without_paying_twice(server, priced, tmp_path):
    usage = SyntheticUsage()
    server.responder = usage
    cassette = str(tmp_path / "column.jsonl")
    prompts = column(30)
    first = sm.batch(prompts, SCHEMA, concurrency=3, max_cost=0.004, cache="cache",
                     cassette=cassette)
    done = [i for i, r in enumerate(first) if r.error is None]
    assert 0 < len(done) < 30
    paid_first = spent(first)
    usage.answered.clear()
    second = sm.batch(prompts, SCHEMA, concurrency=3, max_cost=1.0, cache="cache",
                      cassette=cassette)
    assert all(r.error is None for r in second)
    assert sorted(usage.answered) == [i for i in range(30) if i not in done]  # only the rest
    assert all(second[i].from_cache and second[i].cost == 0 for i in done)
    assert sum(second[i].saved for i in done) == pytest.approx(paid_first)
    # both runs together paid for every row exactly once
    fresh = sm.batch(prompts, SCHEMA, concurrency=3)
    assert paid_first + spent(second) == pytest.approx(spent(fresh))


def test_a_zero_cap_sends_nothing(server, priced):
    server.responder = SyntheticUsage()
    results = sm.batch(column(5), SCHEMA, max_cost=0)
    assert server.requests == []
    assert all(isinstance(r.error, NotRun) for r in results)


def test_a_cap_needs_a_price(server, settings):
    server.responder = SyntheticUsage()
    with pytest.raises(sm.ConfigError, match="price unknown for model 'test-model'"):
        sm.batch(column(3), SCHEMA, max_cost=1.0)
    assert server.requests == []
    with pytest.raises(sm.ConfigError, match="max_cost"):
        sm.batch(column(3), SCHEMA, max_cost=-1)


@pytest.mark.parametrize("cap", [10**400, True, float("inf"), float("nan"), "1", -0.5])
def test_a_cap_is_a_finite_number_of_dollars(server, priced, cap):
    with pytest.raises(sm.ConfigError, match="max_cost must be a number of USD"):
        sm.batch(column(3), SCHEMA, max_cost=cap)
    assert server.requests == []


def test_recorded_rows_cost_nothing_against_the_cap(server, priced, tmp_path):
    server.responder = SyntheticUsage()
    cassette = str(tmp_path / "c.jsonl")
    prompts = column(10)
    sm.batch(prompts, SCHEMA, cache="cache", cassette=cassette)
    server.reset()
    # every row is in the recording: a cap of zero still lets them all through, for free
    again = sm.batch(prompts, SCHEMA, cache="cache", cassette=cassette, max_cost=0)
    assert all(r.error is None and r.from_cache for r in again)
    assert server.requests == []


def test_magic_max_cost_binds_finished_rows_and_marks_the_rest(ip, server, priced, capfd):
    pd = pytest.importorskip("pandas")
    server.responder = SyntheticUsage()
    df = pd.DataFrame({"text": column(20)}, index=[f"r{i}" for i in range(20)])
    ip.user_ns.update(schema=SCHEMA, df=df)
    res = ip.run_cell("%%structured schema --each df --max-cost 0.003 -o out --concurrency 2\n"
                      "{text}", store_history=False)
    assert res.success, res.error_in_exec
    out = ip.user_ns["out"]
    assert list(out.index) == list(df.index)
    stopped = out["error"] == NOT_RUN
    assert 0 < stopped.sum() < 20
    assert out.loc[~stopped, "n"].tolist() == list(range(int((~stopped).sum())))
    assert (out.loc[stopped, "cost"] == 0).all() and (out.loc[~stopped, "cost"] > 0).all()
    assert out["cost"].sum() <= 0.003 + 4 * out["cost"].max()


@pytest.mark.parametrize(("line", "message"), [
    ("--max-cost 1", "--max-cost caps a column: use it with --each VAR"),
    ("--each texts --max-cost -1", "--max-cost must be a number of USD >= 0"),
    ("--each texts --max-cost nan", "--max-cost must be a number of USD >= 0"),
    ("--each texts --estimate --max-cost 1", "--max-cost caps a run"),
])
def test_magic_max_cost_mistakes_are_usage_errors(ip, server, priced, line, message):
    from IPython.core.error import UsageError

    ip.user_ns.update(schema=SCHEMA, texts=["a"])
    res = ip.run_cell(f"%%structured schema {line}\n{{item}}", store_history=False)
    assert isinstance(res.error_in_exec, UsageError) and message in str(res.error_in_exec)
    assert server.requests == []


def test_magic_max_cost_without_a_price_is_a_usage_error(ip, server, settings):
    from IPython.core.error import UsageError

    ip.user_ns.update(schema=SCHEMA, texts=["a"])
    res = ip.run_cell("%%structured schema --each texts --max-cost 1\n{item}",
                      store_history=False)
    assert isinstance(res.error_in_exec, UsageError)
    assert "price unknown for model 'test-model'" in str(res.error_in_exec)
    assert "--price test-model=INPUT,OUTPUT" in str(res.error_in_exec)
    assert server.requests == []


class _Flat:
    """A stand-in estimator: every item is expected to cost $1 (recorded ones nothing)."""

    def __init__(self, recorded=()):
        self.recorded = set(recorded)
        self.taught = []

    def counted(self, index):
        return -1 if index in self.recorded else 100

    def learned(self):
        return 1.0, 0.0

    def cost(self, tokens, learned=None):
        return 0.0 if tokens < 0 else 1.0

    def learn(self, tokens, result):
        self.taught.append(tokens)


def test_budget_counts_what_is_in_flight():
    from structmagic.call.result import Result
    from structmagic.rows.budget import Budget

    budget = Budget(10.0, _Flat(recorded={7}))
    budget.spent = 6.0
    assert budget.admit(0) and budget.admit(1) and budget.admit(2)  # 6 + 3 in flight
    assert budget.admit(3)                                          # 6 + 3 + 1 = 10: fits
    assert not budget.admit(4)                                      # 11 would not
    assert budget.admit(7)                                          # recorded: free
    budget.settle(0, Result(cost=0.25))                             # real cost replaces
    assert budget.spent == pytest.approx(6.25) and budget.in_flight == pytest.approx(3.0)
    assert not budget.admit(4)                                      # 6.25 + 3 + 1 > 10
    budget.settle(1, Result(cost=None))                             # unknown: the estimate
    assert budget.spent == pytest.approx(7.25)
    budget.settle(2, Result(cost=0.0, saved=0.5))
    assert budget.saved == 0.5 and budget.admit(4)                  # 7.25 + 1 + 1 <= 10
    assert "spent of $10.00" in repr(budget)


# --- items queued behind the workers re-check the cap when they start --------------------------


class _Costly:
    """A responder: every answer costs far more than estimated (5,000 completion tokens);
    the first ``together`` items' answers wait until all of them have arrived, so they are
    in flight at once and the items queued behind them start only after they have cost."""

    def __init__(self, together: int) -> None:
        import threading

        self.together = together
        self.barrier = threading.Barrier(together, timeout=10)
        self.lock = threading.Lock()
        self.answered: list[int] = []

    def __call__(self, req):
        import json

        from batch_helpers import prompt_number
        from fakeserver import chat

        k = prompt_number(req)
        with self.lock:
            self.answered.append(k)
        if k < self.together:
            self.barrier.wait()
        return chat(json.dumps({"n": k, "label": f"item {k}"}), usage=(30, 5000))


def test_queued_items_recheck_the_cap_when_they_start(server, priced):
    server.responder = costly = _Costly(together=2)
    # estimated at a tenth of a cent or less each, four items (two running, two queued)
    # fit under the cap; each answer costs a cent
    results = sm.batch([f"item {k}" for k in range(8)], SCHEMA, concurrency=2,
                       max_cost=0.001)
    assert sorted(costly.answered) == [0, 1]  # the queued items 2 and 3 did not start
    assert [r.data["n"] for r in results[:2]] == [0, 1]
    assert all(isinstance(r.error, NotRun) for r in results[2:])
    assert all(str(r.error).startswith(NOT_RUN) and r.cost == 0.0 for r in results[2:])
    # past the cap by at most the items that were running when it was passed
    assert spent(results) == pytest.approx(2 * (30 * 1 + 5000 * 2) / 1e6)


def test_the_budget_lets_items_start_in_order_and_none_after_a_refusal():
    from structmagic.call.result import Result
    from structmagic.rows.budget import Budget

    budget = Budget(10.0, _Flat())
    assert all(budget.admit(i) for i in range(4))      # 0 + 4 in flight: fits
    assert budget.start(0)
    budget.settle(0, Result(cost=8.5))                  # far more than its estimate
    # item 2's worker asks first: item 1 (queued before it) is decided first, and fits
    # (8.5 + 1); item 2 does not (8.5 + 1 + 1), and nothing after it starts
    assert not budget.start(2)
    assert budget.start(1)
    assert not budget.start(3)
    assert budget.stopped_at == 2
    assert not budget.admit(4)                          # the batch stops there
    budget.settle(1, Result(cost=0.5))
    budget.settle(2, Result(cost=0.0))                  # a refused item: nothing to settle
    budget.settle(1, Result(cost=0.5))                  # settled once only
    assert budget.spent == pytest.approx(9.0)
    assert budget.in_flight == 0.0
    assert not budget.admit(5)


def test_runners_that_cannot_stop_at_a_cap_refuse_one(server, priced):
    """Only the threads stop at a cap (and a batch job checks it before it is created);
    a comparison and an Extractor partition refuse max_cost before any request."""
    from structmagic.rows.engines import Extractor

    with pytest.raises(sm.ConfigError, match="max_cost"):
        sm.compare("item 1", SCHEMA, "a,b", max_cost=1.0)
    with pytest.raises(sm.ConfigError, match="max_cost"):
        sm.compare_each(["item 1"], SCHEMA, "a,b", max_cost=1.0)
    with pytest.raises(sm.ConfigError, match="max_cost"):
        Extractor(SCHEMA, "item {k}", max_cost=1.0)
    assert server.requests == []
