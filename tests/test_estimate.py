"""Cost before a column runs: structmagic.estimate() and ``--estimate`` (nothing sent by
default; ``--exact`` through each provider's count endpoint; ``--sample K`` within ±20% of
the real cost on a seeded synthetic column)."""

from __future__ import annotations

import html
import json

import pytest

import structmagic as sm
from structmagic import estimate
from structmagic.cost.tokens import answer_tokens, count_body, count_text
from structmagic.rows.estimate import spread

from cost_helpers import SCHEMA, SyntheticUsage, column
from htmlaudit import assert_inert

BASES = {"openai": "/v1", "responses": "/v1", "anthropic": "/v1", "gemini": "/v1beta"}


@pytest.fixture
def priced(settings):
    """test-model at $1 in / $2 out per million tokens."""
    sm.configure(prices={"test-model": (1, 2)})
    yield
    sm.configure(prices=None)


def real_cost(results) -> float:
    return sum(r.cost for r in results)


# --- the heuristics ----------------------------------------------------------------------------


def test_local_count_is_the_documented_heuristic():
    assert count_text("") == 0
    assert count_text("abcd" * 10) == 10           # four ASCII characters a token
    assert count_text("abcde") == 2                 # rounded up
    assert count_text("9.11和9.8谁大") == 2 + 3      # 6 ASCII -> 2, 3 CJK -> 3
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 400}],
            "stream": True}
    assert count_body(body) == count_text(json.dumps(
        {"messages": body["messages"]}, separators=(",", ":"))) + 4


def test_answer_size_follows_the_schema():
    low, typical = answer_tokens(SCHEMA)
    assert 1 <= low <= typical
    longer = {"type": "object", "properties": {"items": {"type": "array", "items": SCHEMA}},
              "required": ["items"]}
    assert answer_tokens(longer)[1] > 3 * typical  # an array counts three items
    recursive = {"$defs": {"node": {"type": "object", "properties": {
        "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
        "$ref": "#/$defs/node"}
    assert answer_tokens(recursive)[1] > 0  # bounded, no recursion error


def test_spread_picks_rows_over_the_whole_column():
    assert spread(100, 4) == [0, 25, 50, 75]
    assert spread(3, 10) == [0, 1, 2]
    assert spread(0, 3) == [] and spread(5, 0) == []


# --- nothing sent -------------------------------------------------------------------------------


def test_estimate_sends_nothing_and_counts_rows(server, priced):
    prompts = column(40)
    est = estimate(prompts, SCHEMA, max_tokens=200)
    assert server.requests == []
    assert est.rows == 40 and est.model == "test-model"
    assert est.input_tokens.low < est.input_tokens.expected < est.input_tokens.high
    assert est.output_tokens.high == 40 * 200  # --max-tokens bounds every answer
    assert est.cost.low < est.cost.expected < est.cost.high
    assert est.batch_cost.expected == pytest.approx(est.cost.expected / 2)
    text = est.text()
    assert "Estimate for 40 rows of response (model test-model, openai format)" in text
    assert "your price for test-model" in text and "nothing was sent" in text
    # with your own price, nothing in the text depends on the price table's version (so a
    # notebook's stored estimate stays equal for nbval when the table is upgraded)
    assert "genai-prices" not in text
    assert "batch API" in text and "half the price" in text


def test_the_estimate_shows_as_a_table_beside_its_text(server, priced):
    """A notebook shows an HTML table (no preformatted text that breaks words at a narrow
    width); its cells hold the same figures as the text, escaped."""
    est = estimate(column(3), SCHEMA, max_tokens=50, model="test<model>")
    page = est._repr_html_()
    shown = assert_inert(page)
    assert "<pre" not in page and "<table" in page and "structmagic-estimate" in page
    assert "test<model>" in shown
    for what, value, origin in est.items():
        if what:
            assert f">{html.escape(what)}</th>" in page
        assert html.escape(value) in page and html.escape(origin) in page
        assert value in est.text()
    assert "test&lt;model&gt;" in page and "test<model>" not in page
    # the text form is as it was: two columns of figures under the title
    lines = est.text().splitlines()
    assert lines[1].startswith("  input tokens   ") and lines[-1] == "  nothing was sent"


def test_without_max_tokens_or_a_sample_the_high_end_is_unbounded(server, priced):
    est = estimate(column(5), SCHEMA)
    assert est.output_tokens.high is None and est.cost.high is None
    assert "no bound (give --max-tokens or --sample K)" in est.text()


def test_each_end_of_the_cost_is_priced_with_that_ends_token_counts(server, settings):
    """low, expected and high cost are each the price of that end's input and output
    tokens (per row, times the rows): the high end uses the high input count."""
    n = 4
    est = estimate(["the same row, four times over"] * n, SCHEMA, model="m",
                   prices={"m": (1.0, 2.0)}, max_tokens=100, dedup=False)  # four sent
    inp, out = est.input_tokens, est.output_tokens
    assert est.price.source == "your price for m" and server.requests == []
    assert inp.low < inp.expected < inp.high and out.high == n * 100

    def priced(tokens_in: float, tokens_out: float, rate: float = 1.0) -> float:
        return n * (round(tokens_in / n) * 1.0 + round(tokens_out / n) * 2.0) * rate / 1e6

    assert est.cost.low == pytest.approx(priced(inp.low, out.low), rel=1e-12)
    assert est.cost.expected == pytest.approx(priced(inp.expected, out.expected), rel=1e-12)
    assert est.cost.high == pytest.approx(priced(inp.high, out.high), rel=1e-12)
    assert est.cost.high > priced(inp.expected, out.high)  # the high input costs more
    assert est.batch_cost.high == pytest.approx(priced(inp.high, out.high, 0.5), rel=1e-12)


def test_unknown_price_says_so(server, settings):
    est = estimate(column(3), SCHEMA)
    assert est.price is None and est.cost is None and est.batch_cost is None
    text = est.text()
    assert "unknown for test-model" in text
    assert "%structured_config --price test-model=INPUT,OUTPUT" in text
    assert server.requests == []


def test_a_row_that_cannot_be_sent_is_named(server, priced):
    with pytest.raises(sm.InputError, match="Row 1"):
        estimate(["fine", "bad \ud800"], SCHEMA)


# --- --sample ------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_sampled_estimate_is_within_20_percent_of_the_real_cost(server, priced, provider):
    sm.configure(base_url=server.url + BASES[provider])
    usage = SyntheticUsage(mean=40, sd=15)  # extraction: long texts in, short answers out
    server.responder = usage
    prompts = column(150, seed=3)
    est = estimate(prompts, SCHEMA, sample=8, provider=provider)
    assert len(usage.answered) == 8 and len(est.sample) == 8
    assert est.sample_cost == pytest.approx(real_cost(est.sample))
    results = sm.batch(prompts, SCHEMA, provider=provider, concurrency=8)
    real = real_cost(results)
    real_in = sum(r.usage["prompt_tokens"] for r in results)
    real_out = sum(r.usage["completion_tokens"] for r in results)
    assert abs(est.input_tokens.expected - real_in) / real_in <= 0.10
    assert abs(est.output_tokens.expected - real_out) / real_out <= 0.20
    assert abs(est.cost.expected - real) / real <= 0.20, (est.cost, real)
    assert est.cost.low <= real <= est.cost.high
    # the unsampled estimate, by the local heuristic alone, is much further off on this
    # server (it counts JSON punctuation as tokens): the sample is what calibrates it
    blind = estimate(prompts, SCHEMA, provider=provider)
    assert abs(blind.cost.expected - real) / real > 0.2


def test_sample_rows_recorded_are_not_paid_again(server, priced, tmp_path):
    usage = SyntheticUsage()
    server.responder = usage
    cassette = str(tmp_path / "c.jsonl")
    prompts = column(20)
    est = estimate(prompts, SCHEMA, sample=4, cache="cache", cassette=cassette)
    assert len(usage.answered) == 4
    results = sm.batch(prompts, SCHEMA, cache="cache", cassette=cassette)
    assert len(usage.answered) == 20  # 16 new requests: the sampled rows came from the file
    assert sum(r.from_cache for r in results) == 4
    assert real_cost(results) + est.sample_cost == pytest.approx(
        real_cost(results) + real_cost(est.sample))


# --- rows that repeat others ----------------------------------------------------------------------


def test_repeated_rows_are_estimated_once_as_the_run_sends_them(server, priced):
    prompts = column(10)
    est = estimate([*prompts, *prompts[:4], prompts[0]], SCHEMA, max_tokens=100)
    alone = estimate(prompts, SCHEMA, max_tokens=100)
    assert (est.rows, est.unique) == (15, 10) and server.requests == []
    assert est.input_tokens == alone.input_tokens and est.cost == alone.cost
    assert est.text().startswith("Estimate for 10 unique of 15 rows of response")
    every = estimate([*prompts, *prompts[:4], prompts[0]], SCHEMA, max_tokens=100,
                     dedup=False)
    assert every.unique == every.rows == 15 and every.cost.expected > est.cost.expected
    assert every.text().startswith("Estimate for 15 rows of response")


def test_a_sample_runs_rows_that_differ(server, priced):
    usage = SyntheticUsage()
    server.responder = usage
    prompts = column(3) * 4
    est = estimate(prompts, SCHEMA, sample=3)
    assert len(usage.answered) == 3 and est.unique == 3
    assert sorted(json.dumps(r.json["messages"]) for r in server.requests) == sorted(
        json.dumps([{"role": "user", "content": p}]) for p in prompts[:3])


def test_exact_counts_only_the_rows_sent(server, priced):
    sm.configure(base_url=server.url + "/v1")
    server.responder = SyntheticUsage()
    est = estimate(column(4) * 3, SCHEMA, exact=True, provider="anthropic")
    assert len(server.requests) == 4 and (est.rows, est.unique) == (12, 4)
    assert "sent only the 4 token-count requests" in est.text()


def test_an_estimate_reads_the_rows_one_at_a_time(settings, priced):
    """Each row's request is built, counted and let go: the memory an estimate takes does
    not grow with the column (a few bytes a row for its bookkeeping, none for requests)."""
    import tracemalloc

    def peak(rows: int) -> int:
        prompts = [f"Classify this product review, number {i}: fine." for i in range(rows)]
        tracemalloc.start()
        estimate(prompts, SCHEMA, max_tokens=100)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    peak(200)  # what loads once (the price table, the schema's conversion)
    small, large = peak(2_000), peak(20_000)
    assert (large - small) / 18_000 < 64  # bytes a row


# --- --exact --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "path"), [
    ("responses", "/v1/responses/input_tokens"),
    ("anthropic", "/v1/messages/count_tokens"),
    ("gemini", "/v1beta/models/test-model:countTokens"),
])
def test_exact_counts_come_from_the_providers_count_endpoint(server, priced, provider, path):
    sm.configure(base_url=server.url + BASES[provider])
    usage = SyntheticUsage()
    server.responder = usage
    prompts = column(6)
    est = estimate(prompts, SCHEMA, exact=True, provider=provider, system="Be brief.")
    assert usage.answered == [] and usage.counted == 6  # nothing generated
    assert {r.path for r in server.requests} == {path}
    sent = server.requests[0]
    assert sent.headers.get("x-api-key") or sent.headers.get("authorization") or \
        sent.headers.get("x-goog-api-key")
    body = sent.json
    if provider == "gemini":
        inner = body["generateContentRequest"]
        assert inner["model"] == "models/test-model"
        assert inner["systemInstruction"]["parts"][0]["text"].startswith("Be brief.")
        assert "responseJsonSchema" in inner["generationConfig"]
    else:
        assert "max_tokens" not in body and "stream" not in body
        assert "max_output_tokens" not in body and "temperature" not in body
    expected = sum(usage.prompt(r.json.get("generateContentRequest", r.json))
                   for r in server.requests)
    assert est.input_tokens.low == est.input_tokens.expected == est.input_tokens.high == expected
    assert "token-count endpoint" in est.text() and "token-count requests" in est.text()


def test_exact_with_chat_completions_names_the_formats_that_can(server, priced):
    with pytest.raises(sm.ConfigError) as info:
        estimate(["item 1"], SCHEMA, exact=True)
    text = str(info.value)
    assert "no token-count endpoint" in text
    assert "anthropic / gemini / responses" in text
    assert server.requests == []


def test_exact_count_errors_are_structmagic_errors(server, priced):
    from fakeserver import Reply

    sm.configure(base_url=server.url + "/v1")
    server.queue(Reply.status(401, "bad key"))
    with pytest.raises(sm.AuthenticationError):
        estimate(["item 1"], SCHEMA, exact=True, provider="anthropic")
    server.queue(Reply.status(503, "busy"), Reply.json({"input_tokens": 42}))
    est = estimate(["item 1"], SCHEMA, exact=True, provider="anthropic")
    assert est.input_tokens.expected == 42
    server.queue(Reply.json({"nothing": 1}))
    with pytest.raises(sm.BadRequestError, match="without a count"):
        estimate(["item 1"], SCHEMA, exact=True, provider="anthropic")


@pytest.mark.parametrize("count", [10**400, 10**12, -3, True, 4.5])
def test_an_absurd_exact_count_is_no_count(server, priced, count):
    from fakeserver import Reply

    sm.configure(base_url=server.url + "/v1")
    server.queue(Reply.json({"input_tokens": count}))
    with pytest.raises(sm.BadRequestError, match="without a count"):
        estimate(["item 1"], SCHEMA, exact=True, provider="anthropic")


# --- the magic ---------------------------------------------------------------------------------


def test_magic_estimate_prints_binds_and_sends_nothing(ip, server, priced, capfd):
    ip.user_ns.update(schema=SCHEMA, texts=column(12))
    res = ip.run_cell("%%structured schema --each texts --estimate --max-tokens 100 -o est\n"
                      "{item}", store_history=False)
    assert res.success, res.error_in_exec
    assert server.requests == []
    est = ip.user_ns["est"]
    assert est.rows == 12 and "Estimate for 12 rows" in capfd.readouterr().out
    ip.user_ns["texts"] = column(12) + column(3)
    res = ip.run_cell("%%structured schema --each texts --estimate\n{item}",
                      store_history=False)
    assert res.success and "Estimate for 12 unique of 15 rows" in capfd.readouterr().out
    res = ip.run_cell("%%structured schema --each texts --estimate --no-dedup\n{item}",
                      store_history=False)
    assert res.success and "Estimate for 15 rows" in capfd.readouterr().out
    # a single cell: one row
    res = ip.run_cell("%%structured schema --estimate\nitem 1", store_history=False)
    assert res.success and res.result.rows == 1


def test_magic_sample_and_exact(ip, server, priced):
    usage = SyntheticUsage()
    server.responder = usage
    ip.user_ns.update(schema=SCHEMA, texts=column(10))
    res = ip.run_cell("%%structured schema --each texts --estimate --sample 2 --quiet -o est\n"
                      "{item}", store_history=False)
    assert res.success, res.error_in_exec
    assert len(usage.answered) == 2 and len(ip.user_ns["est"].sample) == 2
    res = ip.run_cell("%%structured schema --each texts --estimate --exact\n{item}",
                      store_history=False)
    assert "no token-count endpoint" in str(res.error_in_exec)


@pytest.mark.parametrize(("line", "message"), [
    ("--each texts --exact", "--exact and --sample go with --estimate"),
    ("--each texts --sample 3", "--exact and --sample go with --estimate"),
    ("--each texts --estimate --sample 0", "--sample needs at least 1 row"),
])
def test_magic_cost_option_mistakes_are_usage_errors(ip, server, priced, line, message):
    from IPython.core.error import UsageError

    ip.user_ns.update(schema=SCHEMA, texts=["a"])
    res = ip.run_cell(f"%%structured schema {line}\n{{item}}", store_history=False)
    assert isinstance(res.error_in_exec, UsageError) and message in str(res.error_in_exec)
    assert server.requests == []


def test_help_lists_the_cost_options(ip):
    doc = ip.find_cell_magic("structured").__doc__
    for option in ("--estimate", "--exact", "--sample", "--max-cost"):
        assert option in doc
    assert "--price" in ip.find_line_magic("structured_config").__doc__


def test_a_sample_takes_the_batch_pacing_options(server, priced):
    usage = SyntheticUsage()
    server.responder = usage
    est = estimate(column(10), SCHEMA, sample=2, max_requests_per_minute=6000,
                   stream=True, max_cost=5)
    assert len(est.sample) == 2 and len(usage.answered) == 2
