"""Provider batch jobs under faults of the answers, the wire, the disk and the manifest, and
their costs: what a job does with a damaged result, a corrupt download, a full disk, a
damaged manifest, a price given for one call, and a cap on the re-run of failed rows.
Against the fake server's batch routes (``fakebatch.py``); no test sleeps."""

from __future__ import annotations

import pytest

import structmagic as sm

from batch_helpers import SCHEMA
from batchapi_helpers import items, record, use, write_manifest

pytestmark = pytest.mark.timeout(60)


# --- a result that is not a JSON object ----------------------------------------------------------


@pytest.mark.parametrize("inline", (True, False))
def test_a_gemini_result_that_is_not_an_object_fails_its_row_alone(fake, server, inline):
    use(server, "gemini")
    fake.faults = {1: "garbled"}
    job = sm.submit_batch(items(3), SCHEMA, **({} if inline else {"inline_bytes": 10}))
    results = job.results(retry="none")
    assert [r.data["n"] for r in (results[0], results[2])] == [0, 2]
    err = results[1].error
    assert isinstance(err, sm.BatchRowError) and err.outcome in ("errored", "missing")
    assert job.summary["unreadable_lines"] == 1 and job.summary["ok"] == 2
    again = sm.submit_batch(items(3), SCHEMA, **({} if inline else {"inline_bytes": 10}))
    assert [r.data["n"] for r in again.results()] == [0, 1, 2]  # re-run synchronously


# --- result lines split on "\n" only -------------------------------------------------------------

ODD = "a\u2028b\u2029c\x85d\x1ce\x0bf"  # line breaks to str.splitlines(), not to JSON


def _odd_answer(body: dict) -> str:
    import json
    import re

    k = int(re.search(r"item (\d+)", json.dumps(body, ensure_ascii=False)).group(1))
    return json.dumps({"n": k, "label": f"item {k} {ODD}"}, ensure_ascii=False)


@pytest.mark.parametrize("provider", ("openai", "anthropic", "gemini"))
def test_result_lines_with_unicode_line_breaks_in_strings(fake, server, provider, tmp_path):
    """U+2028, U+0085 ... inside a JSON string are not line breaks: neither in the download
    nor when a recording of it replays."""
    from structmagic import config

    from batchapi_helpers import restart

    use(server, provider)
    config.configure(cache="cache", cassette=str(tmp_path / "c.jsonl"))
    fake.answer = _odd_answer
    prompts = [f"item {i} {ODD}" for i in range(3)]
    filed = {"inline_bytes": 10} if provider == "gemini" else {}  # a results file
    job = sm.submit_batch(prompts, SCHEMA, **filed)
    results = job.results(retry="none")
    assert [r.data for r in results] == [{"n": i, "label": f"item {i} {ODD}"}
                                         for i in range(3)]
    assert job.summary == {"ok": 3}
    sent = len(server.requests)

    restart()
    config.configure(cache="replay", batch_manifest=str(tmp_path / "replay.json"))
    job = sm.submit_batch(prompts, SCHEMA, **filed)
    assert [r.data for r in job.results(retry="none")] == [r.data for r in results]
    assert job.summary == {"ok": 3} and len(server.requests) == sent


def test_lines_are_split_on_newlines_only_however_the_bytes_arrive(fake, server):
    from structmagic.config import resolve
    from structmagic.providers import get_provider
    from structmagic.rows.jobs.wire import Wire

    from fakeserver import Reply

    use(server, "openai")
    text = f'{{"a":"{ODD}"}}\r\n\n{{"b":"\u00e9\u2028"}}\n  \n{{"c":1}}'.encode()
    wire = Wire(resolve({}), get_provider("openai"))
    for size in (1, 2, 3, 7, len(text)):
        server.queue(Reply("response", 200, {"content-type": "application/octet-stream"},
                           [text], framing="chunked", split_bytes=size))
        lines = list(wire.lines(server.url + "/v1/files/x/content"))
        assert lines == [f'{{"a":"{ODD}"}}'.encode(), '{"b":"\u00e9\u2028"}'.encode(),
                         b'{"c":1}'], size


def test_a_download_that_does_not_decode_is_a_structmagic_error(fake, server):
    """A corrupt gzip body (httpx.DecodingError, not a TransportError) is mapped like any
    other failure of the wire."""
    from structmagic.config import resolve
    from structmagic.providers import get_provider
    from structmagic.rows.jobs.wire import Wire

    from fakeserver import Reply

    use(server, "openai")
    wire = Wire(resolve({}), get_provider("openai"))
    server.queue(Reply.text(b"\x1f\x8b\x08\x00 this is not gzip at all" * 20,
                            content_type="application/octet-stream",
                            headers={"content-encoding": "gzip"}))
    with pytest.raises(sm.TransportError) as info:
        list(wire.lines(server.url + "/v1/files/x/content"))
    assert info.value.attempts == 1


# --- prices, and the job's cost ------------------------------------------------------------------


@pytest.mark.parametrize("provider", ("openai", "anthropic", "gemini"))
def test_prices_given_for_one_call_price_the_rows_and_the_job(fake, server, provider,
                                                              monkeypatch):
    from structmagic.rows.jobs import pricing

    asked: list[dict] = []
    real = pricing.price_for

    def spy(*args, **kw):
        asked.append(kw)
        return real(*args, **kw)

    monkeypatch.setattr(pricing, "price_for", spy)
    use(server, provider)  # no price configured for test-model
    fake.usage = (1000, 200)
    one = (1000 * 2.0 + 200 * 10.0) / 1e6 * 0.5  # the batch tier: half the price
    job = sm.submit_batch(items(3), SCHEMA, prices={"test-model": (2.0, 10.0)})
    assert job.record.estimated_cost and job.record.estimated_cost > 0
    results = job.results(retry="none")
    assert [r.cost for r in results] == pytest.approx([one] * 3)
    assert job.record.cost == pytest.approx(3 * one)
    assert job.status().cost == pytest.approx(3 * one)
    assert asked and all(kw["base_url"] == job.plan.settings.base_url
                         and "test-model" in kw["overrides"] for kw in asked)
    again = sm.batch(items(3, start=10), SCHEMA, via="batch-api", batch_retry="none",
                     prices={"test-model": (4.0, 20.0)})
    assert [r.cost for r in again] == pytest.approx([2 * one] * 3)


def test_the_job_costs_the_sum_of_its_rows_each_priced_at_its_tier(fake, server, tmp_path):
    """A price tier applies per request: three rows of 1,000 input tokens stay under a tier
    that starts at 1,500, though together they are past it."""
    from structmagic.cost.price import Price

    from batchapi_helpers import manifest

    tiered = Price(input=1.0, output=1.0, tiers=((1500, 3.0, 3.0, None),), batch_factor=0.5)
    use(server, "openai", prices={"test-model": tiered})
    fake.usage = (1000, 200)
    fake.faults = {1: "invalid"}  # an answer that is not valid is billed all the same
    one = (1000 + 200) * 1.0 * 0.5 / 1e6
    job = sm.submit_batch(items(3), SCHEMA)
    results = job.results(retry="none")
    assert results[1].error is not None and results[1].cost == pytest.approx(one)
    assert results[1].error.usage["prompt_tokens"] == 1000
    assert job.record.cost == pytest.approx(3 * one)
    assert manifest(tmp_path)["jobs"][job.key]["cost"] == pytest.approx(3 * one)


def test_the_expected_cost_prices_each_row_on_its_own(fake, server):
    from structmagic.cost.price import Price

    tiered = Price(input=1.0, output=1.0, tiers=((2000, 3.0, 3.0, None),), batch_factor=0.5)
    use(server, "openai", prices={"test-model": tiered})
    text = "word " * 1200  # some 1,600 tokens a row: under the tier; three rows: over it
    job = sm.submit_batch([f"item {i} {text}" for i in range(3)], SCHEMA)
    tokens = sum(p.bytes for p in job.record.parts) / 4
    assert job.record.estimated_cost == pytest.approx(tokens * 1.0 * 0.5 / 1e6, rel=0.2)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_the_expected_cost_counts_an_image_by_the_providers_rule(fake, server, provider):
    from structmagic.providers import get_provider

    from media_helpers import encoded, photo

    use(server, provider, prices={"test-model": (1.0, 1.0)})
    image = encoded(photo((400, 300)), "PNG")
    assert len(image) > 100_000
    job = sm.submit_batch(items(2), SCHEMA, images=[image, None])
    text_only = sm.submit_batch(items(2), SCHEMA)
    assert job.record.parts[0].bytes > 100_000
    # the image counts as the provider counts a 400 × 300 image (openai 255, claude 160,
    # gemini 258), not as its 130k+ characters of base64 / 4; the part's JSON wrapper
    # adds a few tokens
    limits = get_provider(provider).inputs
    rule = limits.tokens.image(limits, 400, 300)
    extra = (job.record.estimated_cost - text_only.record.estimated_cost) / (0.5 / 1e6)
    assert rule <= extra <= rule + 40, (extra, rule)


# --- a damaged manifest --------------------------------------------------------------------------

_OK = {"plain": {"n": 0}, "raw": '{"n": 0}', "reasoning": None, "usage": {}, "model": "m",
       "attempts": 1, "mode": "json_schema", "provider": "openai", "cost": None}


def _without(data: dict, name: str) -> dict:
    return {k: v for k, v in data.items() if k != name}


def _part(index: int, start: int, stop: int, **more) -> dict:
    return {"index": index, "start": start, "stop": stop, "count": stop - start, "bytes": 9,
            "sha256": "5" * 64, "name": f"structmagic-{'0' * 20}-{index}", **more}


#: (label, the record) — each damaged in one way
DAMAGED = [
    ("missing", _without(record(), "model")),
    ("created-null", record(created=None)),
    ("rows-text", record(rows="3")),
    ("parts-number", record(parts=5)),
    ("part-missing", record(parts=[_without(record()["parts"][0], "start")])),
    ("part-null", record(part={"stop": None})),
    ("summary-text", record(summary={"ok": "3"})),
    ("cost-text", record(cost="cheap")),
    ("state-number", record(state=1)),
    ("stop-past-rows", record(part={"stop": 5})),
    ("negative-start", record(part={"start": -2})),
    ("empty-range", record(part={"start": 1, "stop": 1})),
    ("count-past-range", record(part={"count": 3})),
    ("overlapping", record(rows=4, parts=[_part(0, 0, 3), _part(1, 2, 4)])),
    ("out-of-order", record(rows=4, parts=[_part(1, 0, 2), _part(0, 2, 4)])),
    ("absurd-rows", record(rows=10**30)),
    ("absurd-bytes", record(part={"bytes": 10**30})),
    ("absurd-time", record(created=1e300)),
    ("negative-usage", record(usage={"prompt_tokens": -5})),
    ("negative-cap", record(max_cost=-1.0)),
    ("unknown-state", record(state="lost")),
    ("unknown-status", record(status="weird", part={"status": "weird"})),
    ("negative-summary", record(summary={"ok": -1})),
    ("summary-past-rows", record(summary={"ok": 7})),
    ("id-path", record(part={"batch_id": "../../files/file-1/content"})),
    ("id-query", record(part={"batch_id": "batch_1?x=1"})),
    ("id-host", record(part={"file_id": "@evil.example"})),
    ("key-not-a-hash", record("k" * 64)),
    ("name-not-ours", record(name="../x", part={"name": "../x-0"})),
    ("part-name-not-its-jobs", record(part={"name": "elsewhere-0"})),
    ("base-url-credentials", record(base_url="https://user:pw@api.openai.com/v1")),
    ("base-url-not-http", record(base_url="file:///etc/passwd")),
    ("provider-not-a-name", record(provider="open ai")),
    ("mark-not-ours", record(mark="ZZ")),
    ("submitted-without-id", record(state="submitted")),
    ("rerun-row-past-rows", record(rerun={"3": _OK})),
    ("rerun-row-not-a-number", record(rerun={"-0": _OK})),
    ("rerun-no-value", record(rerun={"0": _without(_OK, "plain")})),
    ("rerun-unknown-error", record(rerun={"0": {"error": "SystemExit", "message": "x",
                                                "hint": None, "attempts": 1, "usage": {},
                                                "cost": None, "fields": {}}})),
]


def test_a_good_record_is_read(tmp_path):
    from structmagic.rows.jobs.manifest import Manifest

    write_manifest(tmp_path / "m.json", record(), record("b" * 64, rerun={"0": _OK}))
    assert [j.key for j in Manifest(tmp_path / "m.json").jobs()] == ["a" * 64, "b" * 64]


@pytest.mark.parametrize("job", [job for _, job in DAMAGED], ids=[i for i, _ in DAMAGED])
def test_a_damaged_manifest_record_is_a_batch_error(fake, server, tmp_path, job):
    import json

    from structmagic.rows.jobs.manifest import Manifest

    path = tmp_path / "batches.json"
    other = record("b" * 64, created=2.0)
    path.write_text(json.dumps({"version": 1, "jobs": {job.get("key", "a" * 64): job,
                                                        other["key"]: other}}))
    store = Manifest(path)
    for read in (store.jobs, lambda: store.get("a" * 64), lambda: store.find("bbbbbb")):
        with pytest.raises(sm.BatchError, match="damaged"):
            read()
    use(server, "openai")
    before = len(server.requests)
    with pytest.raises(sm.BatchError, match="damaged"):
        sm.submit_batch(items(2), SCHEMA)
    assert len(server.requests) == before and not fake.uploads
    assert Manifest(tmp_path / "fine.json").jobs() == []


@pytest.mark.parametrize("jobs", [
    {"a" * 64: record(part={"batch_id": "batch_1"}),
     "b" * 64: record("b" * 64, part={"batch_id": "batch_1"})},
    {"a" * 64: record(rows=4, parts=[_part(0, 0, 2, file_id="file-1"),
                                     _part(1, 2, 4, file_id="file-1")])},
    {"c" * 64: record()},
], ids=["batch-id-twice", "file-id-twice", "filed-under-another-key"])
def test_a_manifest_whose_records_disagree_is_damaged(tmp_path, jobs):
    import json

    from structmagic.rows.jobs.manifest import Manifest

    (tmp_path / "m.json").write_text(json.dumps({"version": 1, "jobs": jobs}))
    with pytest.raises(sm.BatchError, match="damaged"):
        Manifest(tmp_path / "m.json").jobs()


@pytest.mark.parametrize("edit", ["stop-past-rows", "negative-start", "overlap"])
def test_a_hand_edited_row_range_is_a_damaged_manifest_and_nothing_is_sent(ip, fake, server,
                                                                          tmp_path, edit):
    import json

    from batchapi_helpers import manifest, restart

    use(server, "openai")
    job = sm.submit_batch(items(4), SCHEMA, max_requests=2)
    data = manifest(tmp_path)
    parts = data["jobs"][job.key]["parts"]
    if edit == "stop-past-rows":
        parts[1]["stop"] = 9
    elif edit == "negative-start":
        parts[0]["start"] = -2
    else:
        parts[1]["start"] = 1
    (tmp_path / "batches.json").write_text(json.dumps(data))
    fake.clock.advance(500)
    restart()
    before = len(server.requests)
    with pytest.raises(sm.BatchError, match="damaged") as info:
        sm.submit_batch(items(4), SCHEMA, max_requests=2).results()
    assert "nothing was sent" in str(info.value)
    res = ip.run_cell("%structured_batches", store_history=False)
    assert isinstance(res.error_in_exec, sm.BatchError) and "damaged" in str(res.error_in_exec)
    assert len(server.requests) == before


def test_structured_batches_says_the_manifest_is_damaged(ip, fake, tmp_path):
    write_manifest(tmp_path / "batches.json", record(created=None), record("b" * 64))
    res = ip.run_cell("%structured_batches --no-refresh")
    assert isinstance(res.error_in_exec, sm.BatchError)
    assert "damaged" in str(res.error_in_exec)


# --- the input files cannot be written -----------------------------------------------------------


def test_no_folder_for_the_input_files_is_a_batch_error(fake, server, tmp_path, monkeypatch):
    import tempfile

    use(server, "openai")
    real = tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", lambda **kw: real(
        dir=str(tmp_path / "no" / "such" / "folder"), **kw))  # e.g. a bad TMPDIR
    with pytest.raises(sm.BatchError, match="input files") as info:
        sm.submit_batch(items(2), SCHEMA)
    assert str(tmp_path / "no" / "such" / "folder") in str(info.value)
    assert "nothing was submitted" in str(info.value)
    assert not fake.uploads and not fake.creates
    assert not (tmp_path / "batches.json").exists()


@pytest.mark.skipif(not __import__("os").path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("provider", ("openai", "anthropic"))
def test_a_full_disk_while_writing_the_input_files_is_a_batch_error(fake, server, tmp_path,
                                                                    monkeypatch, provider):
    """The input file is /dev/full: every write fails with ENOSPC, as on a full disk."""
    import tempfile

    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "part-0.jsonl").symlink_to("/dev/full")
    monkeypatch.setattr(tempfile, "mkdtemp", lambda **kw: str(folder))
    use(server, provider)
    with pytest.raises(sm.BatchError, match="No space left on device") as info:
        sm.submit_batch(items(3), SCHEMA)
    assert "part-0.jsonl" in str(info.value) and "nothing was submitted" in str(info.value)
    assert not fake.uploads and not fake.creates
    assert not (tmp_path / "batches.json").exists()
    assert not folder.exists()  # cleaned up all the same


# --- the cap and the synchronous re-run ----------------------------------------------------------


def _sync_requests(server, before: int) -> list:
    return [r for r in server.requests[before:] if r.path == "/v1/chat/completions"]


def test_the_rerun_of_failed_rows_gets_what_is_left_of_the_cap(fake, server, tmp_path):
    from batchapi_helpers import manifest, restart

    use(server, "openai", prices={"test-model": (2.0, 10.0)}, max_tokens=1000)
    fake.usage = (1000, 1500)  # each answered row: $0.0085 at the batch tier
    fake.faults = {1: "http400", 2: "http400"}
    # the high end: 4 rows of ~60 tokens in and at most 1000 out, at half price: ~$0.0203
    job = sm.submit_batch(items(4), SCHEMA, max_cost=0.021)
    assert job.max_cost == 0.021 and manifest(tmp_path)["jobs"][job.key]["max_cost"] == 0.021
    before = len(server.requests)
    results = job.results()
    assert job.record.cost == pytest.approx(2 * 0.0085)
    # $0.004 left: less than one synchronous row may cost (up to 1000 tokens at $10/M)
    assert not _sync_requests(server, before)
    for i in (1, 2):
        assert isinstance(results[i].error, sm.NotRun)
        assert "not run: budget" in str(results[i].error)
    assert results[0].ok and results[3].ok
    assert job.summary["not_run"] == 2 and "2 not run: budget" in job.summary_line()

    restart()  # a new kernel re-attaches: the job keeps its cap
    again = sm.submit_batch(items(4), SCHEMA)
    assert again.attached and again.max_cost == 0.021
    before = len(server.requests)
    assert [r.ok for r in again.results()] == [True, False, False, True]
    assert not _sync_requests(server, before)

    restart()  # a cap given again is the one the re-run keeps to
    wide = sm.submit_batch(items(4), SCHEMA, max_cost=1.0)
    before = len(server.requests)
    assert all(r.ok for r in wide.results())
    assert len(_sync_requests(server, before)) == 2
    assert wide.summary["retried"] == 2 and "not_run" not in wide.summary


def test_a_job_without_a_cap_reruns_every_failed_row(fake, server):
    use(server, "openai", prices={"test-model": (2.0, 10.0)})
    fake.faults = {1: "http400"}
    job = sm.submit_batch(items(3), SCHEMA)
    assert job.max_cost is None and job.record.max_cost is None
    assert all(r.ok for r in job.results()) and job.summary["retried_ok"] == 1


def test_without_the_jobs_cost_the_capped_rerun_sends_nothing(fake, server):
    """Answers without token counts: the job's cost is unknown, so is what is left of the
    cap; the failed rows are not re-run (never a made-up figure)."""
    use(server, "openai", prices={"test-model": (2.0, 10.0)}, max_tokens=1000)
    fake.usage = None
    fake.faults = {1: "http400"}
    job = sm.submit_batch(items(3), SCHEMA, max_cost=1.0)
    before = len(server.requests)
    results = job.results()
    assert job.record.cost is None and results[0].ok and results[0].cost is None
    assert isinstance(results[1].error, sm.NotRun)
    assert "cost is unknown" in str(results[1].error) and "$1.00" in str(results[1].error)
    assert not _sync_requests(server, before)


# --- inline or a file ----------------------------------------------------------------------------


def test_gemini_goes_inline_only_when_the_inline_body_fits(fake, server):
    """The inline body is larger than the input file (each line becomes a request with its
    metadata): the limit is held against the body, not the file."""
    use(server, "gemini")
    first = sm.submit_batch(items(3), SCHEMA)
    create = next(r for r in server.requests if r.path.endswith(":batchGenerateContent"))
    body, file = len(create.body), first.record.parts[0].bytes
    assert body > file
    sm.submit_batch(items(3, start=3), SCHEMA, inline_bytes=body - 1)  # the file would fit
    assert len(fake.uploads) == 1
    sm.submit_batch(items(3, start=6), SCHEMA, inline_bytes=body)
    assert len(fake.uploads) == 1 and len(fake.creates) == 3
    assert "requests" in fake.server.requests[-1].json["batch"]["inputConfig"]


def test_an_api_that_only_takes_requests_inline_ignores_inline_bytes(fake, server):
    use(server, "anthropic")
    job = sm.submit_batch(items(3), SCHEMA, inline_bytes=10)
    assert [r.data["n"] for r in job.results()] == [0, 1, 2]


# --- money as the rest of structmagic writes it --------------------------------------------------


def test_job_costs_are_written_as_money_everywhere(ip, fake, capfd, tmp_path):

    from structmagic.display.progress import ProgressBar
    from structmagic.magic.batches import follow_job
    from structmagic.rows.jobs.job import BatchStatus

    st = BatchStatus(job="k", status="completed", total=2, done=2, failed=0, parts=1,
                     ended=True, elapsed=5, cost=0.0000909, cost_estimated=True)
    assert st.line().endswith("expected ≥ $0.0000909")
    st.cost, st.cost_estimated = 1234.5, False
    assert st.line().endswith("cost $1,234.50")
    bar = ProgressBar(live=True)
    follow_job(bar, st, final=True)
    assert bar.text.endswith(" · cost $1,234.50") and bar.text.count("$1,234.50") == 1
    done = record(state="collected", cost=0.0123, estimated_cost=0.02, parts=[])
    running = record("b" * 64, state="submitted", cost=None, estimated_cost=0.0000909,
                     part={"status": "in_progress", "batch_id": "batch_1"})
    write_manifest(tmp_path / "batches.json", done, running)
    capfd.readouterr()
    ip.run_line_magic("structured_batches", "--no-refresh")
    table = capfd.readouterr().out
    assert "completed" in table and table.count("$0.0123") == 1
    assert "≥ $0.0000909" in table


def test_an_answer_that_is_not_a_job_names_the_batch_api(fake, server):
    from fakeserver import Reply

    use(server, "anthropic")
    job = sm.submit_batch(items(2), SCHEMA)
    server.queue(Reply.json({"type": "not a batch"}))
    with pytest.raises(sm.BatchError, match="not a job of the anthropic batch API"):
        job.status()
    server.queue(Reply.json(["nor this"]))
    with pytest.raises(sm.BatchError, match=r"batch job \? is not a job of the anthropic"):
        sm.submit_batch(items(2, start=5), SCHEMA)
