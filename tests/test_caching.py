"""Paying once for the shared prefix: requests laid out stable-first, the prompt cache asked
(Claude's ``cache_control`` breakpoint, OpenAI's ``prompt_cache_key``) only in a run, the
minimum cacheable length, cache reads and writes in usage and cost, the progress line, and the
estimate with and without the cache — against a fake server that bills like the providers
(:mod:`cache_billing`)."""

from __future__ import annotations

import json

import pytest

import structmagic as sm
from structmagic.call.caching import cache_hint, expected_cache, shared_prefix
from structmagic.config import resolve
from structmagic.cost.calc import cache_saving, cost_of
from structmagic.cost.price import Price
from structmagic.providers import get_provider
from structmagic.rows.counts import BatchProgress
from structmagic.transport.cassette import request_key

from batch_helpers import SCHEMA
from cache_billing import BillingCache

#: a long instruction every row shares (about 1,400 tokens), then the row
INSTRUCTION = " ".join(f"Rule {i}: read the ticket carefully, keep its numbers exact, and "
                       f"never guess a field the ticket does not state." for i in range(60))
TEMPLATE = INSTRUCTION + "\n\nThe ticket: item {k}, filed by customer number {k}."
ROWS = [TEMPLATE.format(k=k) for k in range(30)]
OPENAI_PRICE = Price(1.0, 2.0, cached_input=0.5)
CLAUDE_PRICE = Price(1.0, 2.0, cached_input=0.1, cache_write=1.25)


# --- the shared part -------------------------------------------------------------------------


def test_shared_prefix_is_cut_at_a_word():
    rows = ["Classify the fruit: red apple", "Classify the fruit: red pear"]
    assert shared_prefix(rows) == len("Classify the fruit: red ")
    assert shared_prefix(["abc", "xyz"]) == 0
    assert shared_prefix(["only one row is no run"]) == 0
    assert shared_prefix(["Classify: a", [{"role": "user", "content": "b"}]]) == 0
    assert shared_prefix(ROWS) == ROWS[0].index("item ") + len("item ")
    assert all(r[:shared_prefix(ROWS)] == ROWS[0][:shared_prefix(ROWS)] for r in ROWS)


def test_requests_are_laid_out_stable_first(server, settings):
    server.responder = BillingCache("openai")
    sm.batch(ROWS[:3], SCHEMA, system="You read support tickets.", concurrency=1)
    for req in server.requests:
        roles = [m["role"] for m in req.json["messages"]]
        assert roles == ["system", "user"]
        assert req.json["messages"][1]["content"].startswith(INSTRUCTION)  # the row last


# --- what a request asks of the cache ------------------------------------------------------------


def test_a_single_call_asks_nothing(server, settings):
    server.responder = BillingCache("anthropic")
    sm.structured(ROWS[0], SCHEMA, provider="anthropic", system=INSTRUCTION)
    body = server.requests[0].json
    assert "cache_control" not in json.dumps(body) and "prompt_cache_key" not in body


def test_claude_marks_the_shared_text_of_a_run(server, settings):
    server.responder = BillingCache("anthropic")
    results = sm.batch(ROWS[:4], SCHEMA, provider="anthropic", concurrency=1)
    cut = shared_prefix(ROWS[:4])
    for req, row in zip(server.requests, ROWS, strict=False):
        (turn,) = req.json["messages"]
        first, rest = turn["content"]
        assert first == {"type": "text", "text": row[:cut],
                         "cache_control": {"type": "ephemeral"}}
        assert rest == {"type": "text", "text": row[cut:]}
    assert [r.usage.get("cache_write_tokens", 0) > 0 for r in results] == [True] + [False] * 3
    assert all(r.usage["cached_tokens"] > 0 for r in results[1:])


def test_claude_marks_a_long_system_prompt_with_an_hour(server, settings):
    server.responder = BillingCache("anthropic")
    rows = [f"item {k}" for k in range(3)]
    results = sm.batch(rows, SCHEMA, provider="anthropic", system=INSTRUCTION,
                       cache_ttl="1h", concurrency=1, prices={"test-model": CLAUDE_PRICE})
    system = server.requests[0].json["system"]
    assert system == [{"type": "text", "text": INSTRUCTION,
                       "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    assert results[0].usage["cache_write_1h_tokens"] == results[0].usage["cache_write_tokens"]
    # an hour-long write costs twice the input price
    usage = results[0].usage
    plain = usage["prompt_tokens"] - usage["cache_write_tokens"]
    want = (plain * 1.0 + usage["cache_write_tokens"] * 2.0
            + usage["completion_tokens"] * 2.0) / 1e6
    assert results[0].cost == pytest.approx(want)


def test_below_the_minimum_nothing_is_marked_and_the_run_says_so(server, settings):
    server.responder = BillingCache("anthropic")
    short = INSTRUCTION[:1600]  # about 400 tokens: a quarter of the minimum, or more
    with pytest.warns(UserWarning, match="nothing will be cached.*below the 1,024"):
        sm.batch([short + f" item {k}" for k in range(3)], SCHEMA, provider="anthropic",
                 concurrency=1)
    assert all("cache_control" not in json.dumps(r.json) for r in server.requests)


def test_short_prompts_say_nothing(server, settings, recwarn):
    server.responder = BillingCache("anthropic")
    sm.batch(["item 1", "item 2"], SCHEMA, provider="anthropic")
    assert not [w for w in recwarn if "cached" in str(w.message)]


def test_openai_gets_one_cache_key_a_run(server, settings):
    server.responder = BillingCache("openai")
    sm.batch(ROWS[:3], SCHEMA, prompt_cache_key="tickets-v1")
    assert [r.json["prompt_cache_key"] for r in server.requests] == ["tickets-v1"] * 3
    # derived for OpenAI's own API: the same for every row, another for another schema
    on_openai = resolve({"base_url": "https://api.openai.com/v1", "model": "gpt-4o"})
    openai = get_provider("openai")
    shared = shared_prefix(ROWS)

    def key(row: str, name: str = "ticket") -> str | None:
        hint = cache_hint(on_openai, openai, [{"role": "user", "content": row}], {}, name,
                          "json_schema", shared)
        return hint.key if hint is not None else None

    assert key(ROWS[0]) == key(ROWS[7]) and key(ROWS[0]).startswith("structmagic-")
    assert key(ROWS[0], "other") != key(ROWS[0])
    elsewhere = resolve({"base_url": "http://127.0.0.1:9/v1", "model": "m"})
    assert cache_hint(elsewhere, openai, [{"role": "user", "content": ROWS[0]}], {}, "t",
                      "json_schema", shared) is None  # another server may refuse the key


def test_a_recording_without_the_hints_answers_a_request_with_them():
    plain = {"model": "m", "system": "S" * 10,
             "messages": [{"role": "user", "content": "shared part, then the row"}]}
    marked = {"model": "m", "system": [{"type": "text", "text": "S" * 10,
                                        "cache_control": {"type": "ephemeral"}}],
              "messages": [{"role": "user", "content": [
                  {"type": "text", "text": "shared part, ",
                   "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                  {"type": "text", "text": "then the row"}]}],
              "prompt_cache_key": "k"}
    assert request_key("anthropic", "/v1/messages", plain) == request_key(
        "anthropic", "/v1/messages", marked)
    other = {**plain, "messages": [{"role": "user", "content": "another row"}]}
    assert request_key("anthropic", "/v1/messages", other) != request_key(
        "anthropic", "/v1/messages", marked)


# --- what it cost, and what it saved --------------------------------------------------------


def test_cache_saving_prices_reads_and_writes():
    usage = {"prompt_tokens": 2000, "completion_tokens": 10, "cached_tokens": 1500}
    assert cache_saving(usage, CLAUDE_PRICE) == pytest.approx(1500 * (1.0 - 0.1) / 1e6)
    write = {"prompt_tokens": 2000, "completion_tokens": 10, "cache_write_tokens": 1500}
    assert cache_saving(write, CLAUDE_PRICE) == pytest.approx(-1500 * 0.25 / 1e6)
    assert cache_saving({"prompt_tokens": 5}, CLAUDE_PRICE) == 0.0
    assert cache_saving(usage, None) is None
    assert cost_of({**write, "cache_write_1h_tokens": 1500}, CLAUDE_PRICE) == pytest.approx(
        (500 + 1500 * 2.0 + 10 * 2.0) / 1e6)


@pytest.mark.parametrize("fmt, price", [("openai", OPENAI_PRICE), ("anthropic", CLAUDE_PRICE)])
def test_a_run_is_billed_its_shared_prefix_from_the_cache(server, settings, fmt, price):
    prices = {"test-model": price}
    # the estimate first: its sample of 3 rows measures the answers' length
    server.responder = BillingCache(fmt)
    est = sm.estimate(ROWS, SCHEMA, provider=fmt, prices=prices, sample=3)
    server.responder = BillingCache(fmt)  # a fresh cache for the run
    results = sm.batch(ROWS, SCHEMA, provider=fmt, concurrency=1, prices=prices)
    assert all(r.ok for r in results)
    shared_tokens = len(json.dumps(ROWS[0][:shared_prefix(ROWS)])) // 4
    for res in results[1:]:  # rows 2..n: at least 90% of the shared prefix read from cache
        assert res.usage["cached_tokens"] >= 0.9 * shared_tokens
    progress = BatchProgress.of(results)
    share = sum(r.usage.get("cached_tokens", 0) for r in results) / sum(
        r.usage["prompt_tokens"] for r in results)
    saved = sum(r.cache_saved for r in results)
    assert saved > 0
    assert f"cached {share:.0%} of input · {sm_money(saved)} saved by the cache" in (
        progress.line())
    # the estimate, with the cache, is within 10% of what the server billed
    billed = sum(r.cost for r in results)
    assert est.cost.expected == pytest.approx(billed, rel=0.10)
    assert est.uncached_cost.expected > est.cost.expected
    text = est.text()
    assert "prompt cache" in text and "without cache" in text and "rows 2 to 30" in text
    assert "no prompt cache counted" in text  # the batch path


def test_the_estimate_says_when_nothing_will_be_cached(settings):
    rows = [INSTRUCTION[:1600] + f" item {k}" for k in range(3)]  # ~400 tokens shared
    est = sm.estimate(rows, SCHEMA, prices={"test-model": OPENAI_PRICE})
    assert est.uncached_cost is None and "below the 1,024" in est.text()
    one = expected_cache(get_provider("gemini"), "gemini-2.5-pro", 10, 2000)
    assert one.reads == 0 and "4,096" in one.note
    # short prompts: nothing was to be expected, nothing is said
    est = sm.estimate(["item 1", "item 2"], SCHEMA, prices={"test-model": OPENAI_PRICE})
    assert "prompt cache" not in est.text()


def sm_money(value: float) -> str:
    from structmagic.cost.calc import money

    return money(value)


def test_the_magic_shows_the_caches_share_and_says_when_nothing_is_cached(ip, server,
                                                                          settings, capfd):
    pd = pytest.importorskip("pandas")
    server.responder = BillingCache("anthropic")
    ip.user_ns.update(schema=SCHEMA, tickets=pd.Series(range(6)), rule=INSTRUCTION)
    sm.configure(prices={"test-model": CLAUDE_PRICE})
    try:
        assert ip.run_cell("%%structured schema --each tickets -o out --provider anthropic "
                           "--cache-ttl 1h --concurrency 1\n{rule}\n\nThe ticket: item {item}",
                           store_history=False).success
        out = capfd.readouterr().out
        assert "cached 8" in out and "saved by the cache" in out
        assert server.requests[0].json["messages"][0]["content"][0]["cache_control"] == {
            "type": "ephemeral", "ttl": "1h"}
        server.reset()
        server.responder = BillingCache("anthropic")
        ip.user_ns["rule"] = INSTRUCTION[:1600]
        assert ip.run_cell("%%structured schema --each tickets -o out --provider anthropic\n"
                           "{rule}\n\nThe ticket: item {item}", store_history=False).success
        out = capfd.readouterr().out
        assert out.count("structmagic: nothing will be cached") == 1
    finally:
        sm.configure(prices=None)
