"""Cost after a call: prices (the table, your overrides, unknown models), cost_of, Result.cost
from the fake server's usage (re-asks and retries counted, cache hits saved), the batch
totals, and where cost is shown (the widget header, never text/plain)."""

from __future__ import annotations

import json
import math
import pickle
from decimal import Decimal

import pytest

import structmagic as sm
from structmagic import config
from structmagic.cost.calc import cost_of, money, result_spend
from structmagic.cost.price import Price, parse_price
from structmagic.cost.prices import price_for, table_info
from structmagic.rows.counts import BatchProgress

from batch_helpers import Faults
from cost_helpers import SCHEMA
from fakeserver import Reply, chat

genai_prices = pytest.importorskip("genai_prices")


def oracle(usage: dict, model: str, provider: str, *, batch: bool = False) -> float:
    """What genai-prices itself says the usage costs (an independent calculation)."""
    u = genai_prices.Usage(input_tokens=usage["prompt_tokens"],
                           output_tokens=usage["completion_tokens"],
                           cache_read_tokens=usage.get("cached_tokens", 0))
    got = genai_prices.calc_price(u, model, provider_id=provider,
                                  price_context={"processing": "batch"} if batch else None)
    return float(got.total_price)


# --- the price table ---------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "model", "table_provider"), [
    ("openai", "gpt-4o-mini", "openai"),
    ("responses", "gpt-4o", "openai"),
    ("anthropic", "claude-3-5-haiku-latest", "anthropic"),
    ("gemini", "gemini-2.5-flash", "google"),
])
@pytest.mark.parametrize("usage", [
    {"prompt_tokens": 1234, "completion_tokens": 567},
    {"prompt_tokens": 5000, "completion_tokens": 20, "cached_tokens": 4096},
])
def test_cost_matches_the_tables_own_calculation(provider, model, table_provider, usage):
    price = price_for(provider, model, overrides={})
    assert price is not None and price.source.startswith("genai-prices ")
    assert cost_of(usage, price) == pytest.approx(oracle(usage, model, table_provider),
                                                  rel=1e-9)


def test_tiered_prices_follow_the_prompt_of_one_request():
    price = price_for("gemini", "gemini-2.5-pro", overrides={})
    assert price is not None and price.tiers  # more than 200k prompt tokens cost more
    for prompt in (199_000, 201_000):
        usage = {"prompt_tokens": prompt, "completion_tokens": 1000}
        assert cost_of(usage, price) == pytest.approx(oracle(usage, "gemini-2.5-pro", "google"))


def test_batch_tier_is_the_tables_batch_price_or_the_providers_factor():
    mini = price_for("openai", "gpt-4o-mini", overrides={})
    usage = {"prompt_tokens": 10_000, "completion_tokens": 2_000}
    assert cost_of(usage, mini, batch_tier=True) == pytest.approx(
        oracle(usage, "gpt-4o-mini", "openai", batch=True))
    assert cost_of(usage, mini, batch_tier=True) == pytest.approx(cost_of(usage, mini) / 2)
    # a model the table has no batch price for: the provider's documented factor (half)
    haiku = price_for("anthropic", "claude-3-5-haiku-latest", overrides={})
    assert haiku.batch_input is None
    assert cost_of(usage, haiku, batch_tier=True) == pytest.approx(cost_of(usage, haiku) * 0.5)
    from structmagic.providers import get_provider

    for name in ("openai", "responses", "anthropic", "gemini"):
        assert get_provider(name).batch_price_factor == 0.5


def test_relay_and_vendor_names_are_found():
    # a relay's vendor/model name, and a vendor known by its API host
    assert price_for("openai", "openai/gpt-4o-mini", overrides={}) is not None
    ds = price_for("openai", "deepseek-chat", base_url="https://api.deepseek.com/v1",
                   overrides={})
    assert ds is not None and "deepseek" in ds.source.lower()


def test_the_base_urls_vendor_is_priced_before_the_wire_formats():
    """A model two vendors list at different prices is priced as the vendor whose API the
    base URL names (Cerebras), not as the vendor of the wire format (OpenAI)."""
    usage = {"prompt_tokens": 10_000, "completion_tokens": 2_000}
    cerebras, openai = oracle(usage, "gpt-oss-120b", "cerebras"), oracle(
        usage, "gpt-oss-120b", "openai")
    assert cerebras != pytest.approx(openai)  # both list it, at different prices
    price = price_for("openai", "gpt-oss-120b", base_url="https://api.cerebras.ai/v1",
                      overrides={})
    assert price is not None and "cerebras" in price.source.lower()
    assert cost_of(usage, price) == pytest.approx(cerebras, rel=1e-9)
    # without the base URL, the wire format's vendor
    assert cost_of(usage, price_for("openai", "gpt-oss-120b", overrides={})) == pytest.approx(
        openai, rel=1e-9)


def test_unknown_model_has_no_price_never_a_guess():
    assert price_for("openai", "test-model", overrides={}) is None
    assert price_for("openai", "my-finetune-xyz-7b", overrides={}) is None
    assert cost_of({"prompt_tokens": 10, "completion_tokens": 5}, None) is None
    assert money(None) == "price unknown"


def test_table_info_names_the_package_and_its_date():
    info = table_info()
    assert info.startswith(f"genai-prices {genai_prices.__version__} (newest price dated 20")


def test_without_the_table_every_price_is_unknown(monkeypatch):
    from structmagic.cost import prices

    table = prices._Table()
    monkeypatch.setattr(prices, "_table", table)
    monkeypatch.setitem(__import__("sys").modules, "genai_prices", None)
    prices.clear_cache()
    try:
        assert price_for("openai", "gpt-4o-mini", overrides={}) is None
        assert "not installed (pip install 'structmagic[cost]')" in table_info()
        # your own prices still work
        assert price_for("openai", "gpt-4o-mini",
                         overrides={"gpt-4o-mini": parse_price("gpt-4o-mini", (1, 2))})
    finally:
        prices.clear_cache()


# --- your prices --------------------------------------------------------------------------------


def test_overrides_beat_the_table_and_take_several_shapes(settings):
    sm.configure(prices={"gpt-4o-mini": (1, 2), "relay-model": "0.5,1.5,0.1",
                         "other": {"input": 3, "output": 4, "batch_input": 1,
                                   "batch_output": 2}})
    try:
        mine = price_for("openai", "gpt-4o-mini")
        assert (mine.input, mine.output) == (1.0, 2.0) and mine.source.startswith("your price")
        relay = price_for("openai", "relay-model")
        assert relay.cached_input == 0.1
        usage = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000,
                 "cached_tokens": 500_000}
        assert cost_of(usage, relay) == pytest.approx(0.25 + 0.05 + 1.5)
        other = price_for("openai", "other")
        assert cost_of({"prompt_tokens": 10**6, "completion_tokens": 10**6}, other,
                       batch_tier=True) == pytest.approx(3.0)
    finally:
        sm.configure(prices=None)
    assert price_for("openai", "relay-model") is None


@pytest.mark.parametrize("bad", [(1,), (1, 2, 3, 4), ("x", 1), (-1, 2), (float("nan"), 1),
                                 {"input": 1}, {"input": 1, "output": 2, "typo": 3}, "1"])
def test_bad_prices_are_config_errors(settings, bad):
    with pytest.raises(sm.ConfigError, match="price"):
        sm.configure(prices={"m": bad})


#: prices that are not prices: a bool is not a number of dollars, nor NaN, inf, a negative
#: number, an int too large for a float, or a string that is not a number
NOT_PRICES = [(True, 1.0), (1.0, False), {"input": True, "output": 1}, (1, 2, True),
              (10**400, 1), ("inf", 1), ("1", "nan"), ("1", "-2"), ("1", "yes"), "true,1",
              {"input": 1, "output": 2, "batch_input": float("inf")},
              Price(input=True, output=1), Price(input=float("nan"), output=1),
              Price(1, 2, cached_input=-1), Price(1, 2, batch_factor=float("inf")),
              Price(1, 2, tiers=((100, float("inf"), 1.0, None),)),
              Price(1, 2, tiers=((True, 1.0, 1.0, None),))]


@pytest.mark.parametrize("bad", NOT_PRICES)
def test_a_price_is_a_finite_number_of_dollars_wherever_it_is_taken(server, settings, bad):
    from structmagic.cost.price import parse_price, parse_prices

    with pytest.raises(ValueError, match="must be"):
        parse_price("m", bad)
    with pytest.raises(ValueError, match="must be"):
        parse_prices({"m": bad})
    with pytest.raises(sm.ConfigError, match="must be"):
        sm.configure(prices={"m": bad})
    with pytest.raises(sm.ConfigError, match="must be"):
        sm.structured("item 1", SCHEMA, prices={"m": bad})
    assert server.requests == []


def test_numpy_numbers_are_prices_and_numpy_bools_are_not(settings):
    np = pytest.importorskip("numpy")
    from structmagic.cost.price import parse_price

    assert parse_price("m", (np.float32(0.5), np.int64(2))).output == 2.0
    with pytest.raises(ValueError, match="must be"):
        parse_price("m", (np.bool_(True), 1))


@pytest.mark.parametrize("spec", ["m=true,1", "m=1,nan", "m=1,inf", "m=1e400,1", "m=-1,1"])
def test_magic_price_options_that_are_not_prices(ip, settings, spec):
    from IPython.core.error import UsageError

    res = ip.run_cell(f"%structured_config --price {spec}", store_history=False)
    assert isinstance(res.error_in_exec, UsageError)
    assert "must be" in str(res.error_in_exec)
    assert "m" not in (config.configured().get("prices") or {})


def test_one_check_of_a_rate_for_your_prices_and_the_tables():
    from structmagic.cost.price import rate

    assert rate(1.5) == 1.5 and rate("0.25") == 0.25 and rate(0) == 0.0
    for odd in (None, True, float("nan"), float("inf"), -1.0, 10**400, "free", "nan", [1]):
        assert rate(odd) is None


def test_a_calls_prices_add_to_the_configured_ones(server, settings):
    sm.configure(prices={"test-model": (1, 1)})
    server.responder = lambda req: chat(json.dumps({"n": 1, "label": "a"}), usage=(1000, 1000))
    try:
        assert sm.structured("item 1", SCHEMA).cost == pytest.approx(0.002)
        res = sm.structured("item 1", SCHEMA, prices={"test-model": (2, 2)})
        assert res.cost == pytest.approx(0.004)
        assert config.resolve(prices={"x": (1, 1)}).prices.keys() == {"test-model", "x"}
    finally:
        sm.configure(prices=None)


def test_structured_config_price_sets_shows_and_removes(ip, server, settings, capfd):
    ip.run_line_magic("structured_config", "--price test-model=0.5,1.5 --price other=1,2")
    assert "set price of test-model, price of other" in capfd.readouterr().out
    assert price_for("openai", "test-model").input == 0.5
    ip.run_line_magic("structured_config", "")
    shown = capfd.readouterr().out
    assert "test-model $0.50 in / $1.50 out per million tokens" in shown
    assert "price_table" in shown and "genai-prices" in shown
    ip.run_line_magic("structured_config", "--price test-model=")
    assert price_for("openai", "test-model") is None
    assert price_for("openai", "other") is not None
    from IPython.core.error import UsageError

    for bad in ("--price nomodel", "--price =1,2", "--price m=a,b", "--price m=-1,2"):
        with pytest.raises(UsageError):
            ip.run_line_magic("structured_config", bad)
    sm.configure(prices=None)


# --- Result.cost from the fake server ---------------------------------------------------------


@pytest.fixture
def priced(settings):
    """test-model at $1 in / $2 out per million tokens."""
    sm.configure(prices={"test-model": (1, 2)})
    yield
    sm.configure(prices=None)


def test_result_cost_from_the_servers_usage(server, priced):
    server.queue(chat(json.dumps({"n": 1, "label": "a"}), usage=(1000, 200)))
    res = sm.structured("item 1", SCHEMA)
    assert res.cost == pytest.approx((1000 * 1 + 200 * 2) / 1e6)
    assert res.saved is None and not res.from_cache


def test_cached_input_tokens_are_priced_lower(server, settings):
    sm.configure(prices={"test-model": (1, 2, 0.1)})
    body = json.loads(chat(json.dumps({"n": 1, "label": "a"})).body)
    body["usage"] = {"prompt_tokens": 1000, "completion_tokens": 0, "total_tokens": 1000,
                     "prompt_tokens_details": {"cached_tokens": 800}}
    server.queue(Reply.json(body))
    try:
        res = sm.structured("item 1", SCHEMA)
        assert res.usage["cached_tokens"] == 800
        assert res.cost == pytest.approx((200 * 1 + 800 * 0.1) / 1e6)
    finally:
        sm.configure(prices=None)


def test_reasks_and_retries_are_counted(server, priced):
    server.queue(
        Reply.status(500, "boom"),                             # a retry: no usage, not billed
        chat('{"n": "not a number"}', usage=(1000, 100)),      # an invalid answer: paid
        chat(json.dumps({"n": 1, "label": "a"}), usage=(1500, 100)),  # the re-ask
    )
    res = sm.structured("item 1", SCHEMA)
    assert res.attempts == 3
    assert res.usage["prompt_tokens"] == 2500
    assert res.cost == pytest.approx((2500 * 1 + 200 * 2) / 1e6)


def test_a_failed_call_still_carries_what_it_cost(server, priced):
    server.queue(chat('{"n": "x"}', usage=(1000, 100)), chat('{"n": "y"}', usage=(1000, 100)))
    with pytest.raises(sm.InvalidOutputError) as info:
        sm.structured("item 1", SCHEMA)
    assert info.value.usage["prompt_tokens"] == 2000
    assert info.value.cost == pytest.approx((2000 + 400) / 1e6)
    back = pickle.loads(pickle.dumps(info.value))
    assert back.cost == info.value.cost and back.usage == info.value.usage


def test_cache_hits_cost_nothing_and_are_shown_as_saved(server, priced, tmp_path):
    cassette = str(tmp_path / "c.jsonl")
    server.responder = lambda req: chat(json.dumps({"n": 1, "label": "a"}), usage=(1000, 200))
    first = sm.structured("item 1", SCHEMA, cache="cache", cassette=cassette)
    again = sm.structured("item 1", SCHEMA, cache="cache", cassette=cassette)
    assert len(server.requests) == 1
    assert first.cost == pytest.approx(0.0014) and first.saved is None
    assert again.from_cache and again.cost == 0 and again.saved == pytest.approx(0.0014)
    assert result_spend(again) == "$0 · $0.0014 saved"
    assert result_spend(first) == "$0.0014"


def test_unknown_price_is_none_and_says_so(server, settings):
    server.queue(chat(json.dumps({"n": 1, "label": "a"}), usage=(1000, 200)))
    res = sm.structured("item 1", SCHEMA)  # test-model: in no table
    assert res.cost is None and res.usage
    assert result_spend(res) == "price unknown"
    # a cache hit costs nothing even without a price
    assert cost_of({}, Price(1, 1)) is None


def test_cost_survives_pickle(server, priced):
    server.queue(chat(json.dumps({"n": 1, "label": "a"}), usage=(1000, 200)))
    res = sm.structured("item 1", SCHEMA)
    back = pickle.loads(pickle.dumps(res))
    assert back.cost == res.cost


# --- where it is shown ---------------------------------------------------------------------------


def test_cost_is_in_the_widget_header_and_never_in_text_plain(server, priced):
    server.queue(chat(json.dumps({"n": 1, "label": "a"}), usage=(1000, 200)))
    res = sm.structured("item 1", SCHEMA)
    header = res.widget().header.value
    assert "$0.0014" in header and "1200 tokens" in header
    bundle = res._repr_mimebundle_()
    assert "$" not in bundle["text/plain"] and "0.0014" not in bundle["text/plain"]
    assert "$" not in repr(res)


def test_money_is_readable():
    assert [money(v) for v in (0, 0.0000123, 0.0123, 0.5, 3.2912, 1234.5)] == [
        "$0", "$0.0000123", "$0.0123", "$0.50", "$3.29", "$1,234.50"]


# --- batch totals ---------------------------------------------------------------------------------


def test_batch_totals_and_cost_per_item(server, priced):
    server.responder = Faults(always={2: chat(None, refusal="no")})
    seen = []
    results = sm.batch([f"item {i}" for i in range(5)], SCHEMA, concurrency=2,
                       on_progress=lambda p: seen.append(p.line()))
    # Faults answers with usage (1, 1): $3 per million; the refusal has chat()'s (10, 20)
    assert all(r.cost == pytest.approx(3e-6) for r in results if r.error is None)
    refused = results[2]
    assert refused.error is not None and refused.cost == pytest.approx((10 + 40) / 1e6)
    final = BatchProgress.of(results)
    assert final.cost == pytest.approx(4 * 3e-6 + 50e-6) and final.priced == 5
    assert seen[-1].endswith("· " + money(final.cost))


def test_progress_line_shows_saved_unknown_and_not_run():
    from structmagic.call.result import Result
    from structmagic.errors import NotRun

    p = BatchProgress.of([Result(cost=0.01), Result(cost=0.0, saved=0.02), Result(cost=None),
                          Result(error=NotRun("not run: budget"), cost=0.0)], max_cost=1.0)
    assert p.cost_text() == (" · $0.01 (+1 unknown) of $1.00 · $0.02 saved"
                             " · 1 not run: budget")
    assert BatchProgress.of([Result()]).cost_text() == " · price unknown"
    assert math.isclose(p.cost, 0.01)


def test_cost_of_ignores_nonsense_usage():
    price = Price(1, 2)
    assert cost_of({"prompt_tokens": -5, "completion_tokens": "x"}, price) is None
    assert cost_of({"prompt_tokens": 10, "completion_tokens": 0,
                    "cached_tokens": 99}, price) == pytest.approx(10 * 1 / 1e6 * 1)
    assert Decimal(str(cost_of({"prompt_tokens": 10**6, "completion_tokens": 10**6},
                               price))) == Decimal("3.0")


def test_the_table_loads_in_the_background_and_not_at_import():
    import subprocess
    import sys

    code = (
        "import sys, json, structmagic, structmagic.cost\n"
        "before = 'genai_prices' in sys.modules\n"
        "from structmagic.cost import prices\n"
        "prices.warm(); prices._table.thread.join(60)\n"
        "print(json.dumps({'before': before, 'loaded': prices._table.loaded,\n"
        "                  'after': 'genai_prices' in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "before": False, "loaded": True, "after": True}


def test_a_call_never_waits_for_the_price_table(server, settings, monkeypatch):
    """The first answer of a kernel may come back before the table has loaded: the call
    and the widget's header do not wait; reading ``cost`` prices it then."""
    from structmagic.cost import prices

    fresh = prices._Table()
    monkeypatch.setattr(prices, "_table", fresh)
    monkeypatch.setattr(prices, "warm", lambda delay=None: None)  # as if still loading
    prices.clear_cache()
    server.queue(chat(json.dumps({"n": 1, "label": "a"}), usage=(1000, 200)))
    res = sm.structured("item 1", SCHEMA, model="gpt-4o-mini")
    assert not fresh.loaded and res.cost_pending
    assert result_spend(res) == "" and "$" not in res.widget().header.value
    assert len(fresh.waiting) == 1  # the header asked to be told when the table loads
    usage = {"prompt_tokens": 1000, "completion_tokens": 200}
    assert res.cost == pytest.approx(oracle(usage, "gpt-4o-mini", "openai"))
    assert fresh.loaded and not res.cost_pending and result_spend(res).startswith("$")
    prices.clear_cache()


def test_the_header_shows_the_cost_once_the_price_table_has_loaded(server, settings,
                                                                   monkeypatch):
    """A widget that finished while the table was loading gains its cost when it loads,
    without anybody reading ``Result.cost``; a widget finished later shows it at once."""
    from structmagic.cost import prices

    fresh = prices._Table()
    monkeypatch.setattr(prices, "_table", fresh)
    started: list[float] = []
    monkeypatch.setattr(prices, "warm", lambda delay=None: started.append(delay))
    prices.clear_cache()
    server.queue(chat(json.dumps({"n": 1, "label": "a"}), usage=(1000, 200)))
    res = sm.structured("item 1", SCHEMA, model="gpt-4o-mini")
    widget = res.widget()
    assert "$" not in widget.header.value and "1200 tokens" in widget.header.value
    assert started == [0.0]  # the load was asked for now, not left to a later call
    fresh.load()  # what the loading thread does
    usage = {"prompt_tokens": 1000, "completion_tokens": 200}
    assert money(oracle(usage, "gpt-4o-mini", "openai")) in widget.header.value
    assert "1200 tokens" in widget.header.value and not fresh.waiting
    # once loaded, nothing waits: a callback runs at once
    seen: list[int] = []
    prices.when_loaded(lambda: seen.append(1))
    assert seen == [1] and not fresh.waiting
    prices.clear_cache()


def test_a_failing_callback_does_not_break_the_table_load(monkeypatch):
    from structmagic.cost import prices

    fresh = prices._Table()
    monkeypatch.setattr(prices, "_table", fresh)
    monkeypatch.setattr(prices, "warm", lambda delay=None: None)
    seen: list[str] = []
    prices.when_loaded(lambda: 1 / 0)
    prices.when_loaded(lambda: seen.append("second"))
    fresh.load()
    assert fresh.loaded and seen == ["second"]
