"""Provider batch APIs end to end against the fake server's batch routes (``fakebatch.py``):
submit, wait, collect, validate, re-run; every fault of the list, and a kernel restart in
every phase. No test sleeps: the job's waits advance the fake clock."""

from __future__ import annotations

import json
import re
import warnings

import pytest

import structmagic as sm
from structmagic.rows.jobs import job as jobmod
from structmagic.rows.jobs.manifest import Manifest

from batch_helpers import SCHEMA, Faults
from batchapi_helpers import items, manifest, manifest_text, restart, use
from fakeserver import Reply, chat
from sm_fixtures import CANARY

pytestmark = pytest.mark.timeout(60)
PROVIDERS = ("openai", "responses", "anthropic", "gemini")
ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def collect(n: int = 6, **kw) -> tuple[sm.BatchJob, list[sm.Result]]:
    job = sm.submit_batch(items(n), SCHEMA, **kw)
    return job, job.results(retry=kw.pop("retry", "none"))


def creates(fake) -> int:
    return len(fake.creates)


# --- each provider, end to end -------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_round_trip_each_provider(fake, server, provider, tmp_path):
    use(server, provider)
    job = sm.submit_batch(items(7), SCHEMA, max_requests=3)
    assert len(job.ids) == 3 and not job.attached
    assert job.status().status in ("validating", "in_progress")
    results = job.results()
    assert [r.data for r in results] == [{"n": i, "label": f"item {i}"} for i in range(7)]
    assert all(r.error is None and r.attempts == 1 for r in results)
    assert job.summary == {"ok": 7}
    assert creates(fake) == 3
    assert job.status().status == "completed"
    assert CANARY not in manifest_text(tmp_path)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_line_is_the_synchronous_request(fake, server, provider):
    """The body of each row is what structured() sends for the same prompt."""
    use(server, provider)
    job = sm.submit_batch(items(3), SCHEMA)
    sent = _sent_rows(fake, job.ids[0])
    server.queue(_sync_answer(provider))
    sm.structured("item 1", SCHEMA)
    sync = server.requests[-1].json
    assert sent[1] == sync
    assert all(ID.match(cid) for cid in _sent_ids(fake, job.ids[0]))


def _sent_rows(fake, job_id: str) -> list[dict]:
    return [body for _, body in fake.jobs[job_id].rows]


def _sent_ids(fake, job_id: str) -> list[str]:
    return [cid for cid, _ in fake.jobs[job_id].rows]


def _sync_answer(provider: str) -> Reply:
    from providers import anthropic, gemini, responses

    text = json.dumps({"n": 1, "label": "item 1"})
    return {"openai": chat(text), "responses": responses(text),
            "anthropic": anthropic(text), "gemini": gemini(text)}[provider]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_images_and_documents_go_into_the_lines_as_parts(fake, server, provider):
    """A row's images and files are rendered by provider.build, as in a synchronous call."""
    from media_helpers import PDF, png

    use(server, provider)
    image = png()
    job = sm.submit_batch(items(3), SCHEMA, images=[image, None, [image, image]],
                          files=[None, PDF, None])
    body = json.dumps(_sent_rows(fake, job.ids[0]), ensure_ascii=False)
    import base64

    data = base64.b64encode(image).decode()
    assert body.count(data) == 3 and base64.b64encode(PDF).decode() in body
    server.queue(_sync_answer(provider))
    sm.structured("item 1", SCHEMA, files=[PDF])
    assert _sent_rows(fake, job.ids[0])[1] == server.requests[-1].json
    fake.faults = {2: "http400"}
    job = sm.submit_batch(items(3, start=7), SCHEMA, images=[None, None, image])
    before = len(server.requests)
    results = job.results()
    retried = [r for r in server.requests[before:] if not r.path.startswith(
        ("/v1/files", "/v1/batches", "/v1/messages/batches", "/v1beta/batches",
         "/download/"))]
    assert len(retried) == 1 and data in retried[0].body.decode()  # re-run with its image
    assert results[2].ok
    bad = sm.submit_batch(items(2, start=20), SCHEMA, images=[b"not an image", None])
    assert isinstance(bad.results()[0].error, sm.InputError) and bad.summary["unsent"] == 1


def test_the_openai_line_shape(fake, server):
    use(server, "openai")
    job = sm.submit_batch(items(2), SCHEMA)
    file = fake.files[fake.jobs[job.ids[0]].input_file_id]
    lines = [json.loads(x) for x in file["content"].splitlines()]
    assert [set(x) for x in lines] == [{"custom_id", "method", "url", "body"}] * 2
    assert lines[0]["method"] == "POST" and lines[0]["url"] == "/v1/chat/completions"
    assert lines[0]["body"]["response_format"]["json_schema"]["strict"] is True
    assert "stream" not in lines[0]["body"]
    # the job's name, and its file's, carry the submission's random mark
    name = f"{job.record.parts[0].name}-{job.record.mark}"
    assert re.fullmatch(r"[0-9a-f]{10}", job.record.mark)
    assert file["filename"] == f"{name}.jsonl"
    assert lines[0]["custom_id"] == f"r0-{lines[0]['custom_id'][3:19]}"  # no mark: named
    upload = next(r for r in server.requests if r.path == "/v1/files")
    assert b'name="purpose"\r\n\r\nbatch' in upload.body
    create = next(r for r in server.requests if r.path == "/v1/batches")
    assert create.json["completion_window"] == "24h"
    assert create.json["metadata"] == {"structmagic_job": name}
    assert upload.headers["authorization"] == f"Bearer {CANARY}"


def test_responses_lines_go_to_the_responses_endpoint(fake, server):
    use(server, "responses")
    job = sm.submit_batch(items(1), SCHEMA)
    assert fake.jobs[job.ids[0]].endpoint == "/v1/responses"
    assert "text" in _sent_rows(fake, job.ids[0])[0]


def test_anthropic_sends_the_requests_inline(fake, server):
    use(server, "anthropic")
    job = sm.submit_batch(items(2), SCHEMA)
    create = next(r for r in server.requests if r.path == "/v1/messages/batches")
    assert set(create.json) == {"requests"}
    assert [set(r) for r in create.json["requests"]] == [{"custom_id", "params"}] * 2
    assert create.headers["x-api-key"] == CANARY
    assert create.headers["anthropic-version"] == "2023-06-01"
    assert int(create.headers["content-length"]) == len(create.body)
    assert not fake.uploads
    results = job.results()
    assert [r.data["n"] for r in results] == [0, 1]
    results_get = [r for r in server.requests if r.path.endswith("/results")]
    assert results_get and results_get[0].path == f"/v1/messages/batches/{job.ids[0]}/results"


def test_gemini_inline_under_the_limit_and_a_file_above(fake, server):
    use(server, "gemini")
    job = sm.submit_batch(items(2), SCHEMA)
    create = next(r for r in server.requests if r.path.endswith(":batchGenerateContent"))
    assert create.path == "/v1beta/models/test-model:batchGenerateContent"
    requests = create.json["batch"]["inputConfig"]["requests"]["requests"]
    assert [set(r) for r in requests] == [{"request", "metadata"}] * 2
    assert create.json["batch"]["displayName"] == (f"{job.record.parts[0].name}-"
                                                   f"{job.record.mark}")
    assert create.headers["x-goog-api-key"] == CANARY
    assert [r.data["n"] for r in job.results()] == [0, 1]

    job = sm.submit_batch(items(3, start=10), SCHEMA, inline_bytes=10)
    assert len(fake.uploads) == 1  # the resumable upload, then a create naming the file
    start = next(r for r in server.requests if r.path == "/upload/v1beta/files")
    assert start.headers["x-goog-upload-command"] == "start"
    create = [r for r in server.requests if r.path.endswith(":batchGenerateContent")][-1]
    assert create.json["batch"]["inputConfig"] == {"fileName": fake.uploads[0]}
    assert [r.data["n"] for r in job.results()] == [10, 11, 12]


def test_gemini_inline_results_without_keys_are_taken_in_input_order(fake, server):
    use(server, "gemini")
    fake.inline_keys = False
    job = sm.submit_batch(items(3), SCHEMA)
    assert [r.data["n"] for r in job.results(retry="none")] == [0, 1, 2]
    fake.faults = {1: "missing"}  # they no longer line up with the requests: no guessing
    job = sm.submit_batch(items(3, start=5), SCHEMA)
    results = job.results(retry="none")
    assert {r.error.outcome for r in results} == {"missing"}
    assert job.summary == {"missing": 3, "unknown_lines": 2}


def test_gemini_upload_is_never_sent_to_another_host(fake, server):
    use(server, "gemini")
    server.queue(Reply.json({}, headers={"x-goog-upload-url": "http://elsewhere.invalid/up"}))
    with pytest.raises(sm.BatchError, match="another host"):
        sm.submit_batch(items(2), SCHEMA, inline_bytes=10)
    assert not fake.uploads


# --- matching and per-row outcomes ---------------------------------------------------------------


def test_results_are_matched_by_custom_id_not_order(fake, server):
    use(server, "openai")
    job, results = collect(12)
    out = fake.files[fake.jobs[job.ids[0]].output_file_id]["content"].splitlines()
    order = [int(re.match(r"r(\d+)-", json.loads(x)["custom_id"]).group(1)) for x in out]
    assert order != sorted(order)  # the fake shuffles, as real servers do
    assert [r.data["n"] for r in results] == list(range(12))


def test_a_non_200_line_is_a_failure_even_with_a_null_error(fake, server):
    use(server, "openai")
    fake.faults = {1: "http400", 2: "status0"}
    _, results = collect(4)
    assert results[0].ok and results[3].ok
    for i, status in ((1, 400), (2, 0)):
        err = results[i].error
        assert isinstance(err, sm.BatchRowError) and err.outcome == "errored"
        assert err.status == status
    assert "HTTP 400" in str(results[1].error) and "bad row" in str(results[1].error)
    assert "status_code 0" in str(results[2].error)


def test_missing_lines_and_error_file_lines_are_reported_per_row(fake, server):
    use(server, "openai")
    fake.faults = {0: "missing", 3: "error_file"}
    job, results = collect(5)
    assert results[0].error.outcome == "missing" and "no result line" in str(results[0].error)
    assert results[3].error.outcome == "errored" and "upstream failed" in str(results[3].error)
    assert results[3].error.code == "server_error"
    assert job.summary == {"ok": 3, "errored": 1, "missing": 1}


@pytest.mark.parametrize("where", ["error_file", "output_file"])
def test_an_error_line_repeating_a_good_rows_id_keeps_the_good_result(fake, server, where):
    """A row whose good line came back stays ok with its value when an error line carries
    the same custom_id later (in the error file, or a second line in the output file)."""
    use(server, "openai")
    fake.faults = {2: "error_file"}  # the job has an error file, read after the output
    job = sm.submit_batch(items(3), SCHEMA)
    fake.clock.advance(10_000)
    job.status()
    done = fake.jobs[job.ids[0]]
    cid = done.rows[0][0]
    if where == "error_file":
        line = {"id": "batch_req_dup", "custom_id": cid, "response": None,
                "error": {"code": "server_error", "message": "upstream failed"}}
    else:
        line = {"id": "batch_req_dup", "custom_id": cid, "error": None, "response": {
            "status_code": 400, "request_id": "req_dup", "body": {"error": {
                "message": "bad row", "type": "invalid_request_error", "param": None,
                "code": None}}}}
    file = fake.files[done.error_file_id if where == "error_file" else done.output_file_id]
    file["content"] += json.dumps(line) + "\n"
    before = len(server.requests)
    results = job.results(retry="none")
    assert results[0].ok and results[0].error is None
    assert results[0].data == {"n": 0, "label": "item 0"} and results[0].attempts == 1
    assert results[1].data == {"n": 1, "label": "item 1"}
    assert results[2].error.outcome == "errored"
    assert job.summary == {"ok": 2, "errored": 1}
    assert not [r for r in server.requests[before:] if r.path == "/v1/chat/completions"]


def test_batch_level_errors_with_line_numbers_fail_their_rows(fake, server):
    use(server, "openai")
    fake.fail_lines = [(2, "invalid_request", "line 2 has no model")]
    job, results = collect(4)
    assert job.status().status == "failed"
    err = results[1].error
    assert err.outcome == "failed" and "line 2" in str(err) and "no model" in str(err)
    assert all(results[i].error.outcome == "failed" for i in (0, 2, 3))
    assert "line" not in str(results[0].error)


def test_a_whole_file_error_fails_every_row(fake, server):
    use(server, "openai")
    fake.fail_file = "The input file is not valid JSONL."
    _, results = collect(3)
    assert all("not valid JSONL" in str(r.error) for r in results)


def test_invalid_answers_are_validated_and_rerun_synchronously(fake, server):
    use(server, "openai")
    fake.faults = {2: "invalid"}
    job, results = collect(4)
    err = results[2].error
    assert isinstance(err, sm.InvalidOutputError) and "$.n" in {i.path for i in err.errors}
    assert job.summary == {"ok": 3, "invalid": 1}
    before = len(server.requests)
    results = job.results(retry="sync")
    assert results[2].data == {"n": 2, "label": "item 2"}
    sync = [r for r in server.requests[before:] if r.path == "/v1/chat/completions"]
    assert len(sync) == 1 and "item 2" in json.dumps(sync[0].json)
    assert job.summary == {"ok": 3, "invalid": 1, "retried": 1, "retried_ok": 1}
    assert "1 re-run synchronously: 1 ok, 0 failed" in job.summary_line()


def test_sync_retry_uses_the_usual_retries_and_reasks(fake, server):
    use(server, "openai")
    fake.faults = {0: "error_file", 1: "http400"}
    server.responder.inner = Faults(once={0: chat('{"n": "bad"}'), 1: Reply.status(500, "x")})
    job = sm.submit_batch(items(3), SCHEMA)
    results = job.results()
    assert [r.data["n"] for r in results] == [0, 1, 2]
    assert results[0].attempts == 2 and results[1].attempts == 2  # a re-ask, a retry


@pytest.mark.parametrize("provider", ("anthropic", "gemini"))
def test_errored_results_of_other_providers(fake, server, provider):
    use(server, provider)
    fake.faults = {1: "errored", 2: "missing"}
    job, results = collect(4)
    assert results[1].error.outcome == "errored" and "bad row" in str(results[1].error)
    assert results[2].error.outcome == "missing"
    assert job.summary == {"ok": 2, "errored": 1, "missing": 1}


def test_lines_of_other_jobs_and_damaged_lines_are_ignored(fake, server):
    use(server, "openai")
    job = sm.submit_batch(items(2), SCHEMA)
    fake.clock.advance(10_000)
    job.status()
    output = fake.files[fake.jobs[job.ids[0]].output_file_id]
    first = json.loads(output["content"].splitlines()[0])
    output["content"] += (json.dumps({**first, "custom_id": "r0-0000000000000000"}) + "\n"
                          + "{not json\n" + json.dumps({**first, "custom_id": "r9-x"}) + "\n")
    results = job.results(retry="none")
    assert [r.data["n"] for r in results] == [0, 1]
    assert job.summary == {"ok": 2, "unknown_lines": 2, "unreadable_lines": 1}


def test_rows_that_cannot_be_sent_fail_alone(fake, server):
    use(server, "openai")
    job = sm.submit_batch(["item 0", "bad \ud800", 7, "item 3"], SCHEMA)
    assert job.record.parts[0].count == 2
    results = job.results()
    assert isinstance(results[1].error, sm.InputError) and isinstance(results[2].error,
                                                                      sm.InputError)
    assert results[0].ok and results[3].ok
    assert job.summary == {"ok": 2, "unsent": 2}


# --- the re-run of failed rows, kept with the job ------------------------------------------------


def _sync(server, before: int = 0) -> list:
    return [r for r in server.requests[before:] if r.path == "/v1/chat/completions"]


def test_a_collected_jobs_failed_rows_are_paid_for_once(fake, server):
    use(server, "openai")
    fake.faults = {1: "http400", 2: "invalid"}
    runs = []
    for _ in range(3):
        restart()
        runs.append(sm.batch(items(4), SCHEMA, via="batch-api"))
    assert len(_sync(server)) == 2 and creates(fake) == 1
    for run in runs:
        assert [r.data for r in run] == [{"n": i, "label": f"item {i}"} for i in range(4)]
        assert [r.attempts for r in run] == [1, 1, 1, 1]


def test_kept_results_are_the_results_of_the_rerun(fake, server):
    """A value comes back as its type; a failure as its own error, with its issues."""
    pydantic = pytest.importorskip("pydantic")

    class Item(pydantic.BaseModel):
        n: int
        label: str

    use(server, "openai", reasks=1)
    fake.faults = {1: "invalid", 2: "http400"}
    server.responder.inner = Faults(always={2: chat('{"n": "bad"}')})
    first = sm.submit_batch(items(3), Item).results()
    assert isinstance(first[2].error, sm.InvalidOutputError) and first[2].attempts == 2
    sent = len(_sync(server))
    for retry in ("sync", "none"):
        restart()
        job = sm.submit_batch(items(3), Item)
        again = job.results(retry=retry)
        assert isinstance(again[1].data, Item) and again[1].data == first[1].data
        assert (again[1].raw, again[1].usage, again[1].attempts) == (
            first[1].raw, first[1].usage, first[1].attempts)
        err = again[2].error
        assert type(err) is sm.InvalidOutputError and str(err) == str(first[2].error)
        assert [i.path for i in err.errors] == [i.path for i in first[2].error.errors]
        assert err.raw == first[2].error.raw and again[2].attempts == 2
        assert job.summary == {"ok": 1, "invalid": 1, "errored": 1, "retried": 2,
                               "retried_ok": 1}
    assert len(_sync(server)) == sent


def test_retry_again_reruns_the_rows_still_failed_and_keeps_them(fake, server):
    use(server, "openai")
    fake.faults = {1: "http400", 2: "http400"}
    server.responder.inner = sync = Faults(always={2: Reply.status(400, "still bad")})
    job = sm.submit_batch(items(3), SCHEMA)
    assert [r.ok for r in job.results()] == [True, True, False] and sync.count == {1: 1, 2: 1}
    sync.always.clear()
    assert all(r.ok for r in job.results(retry="again"))
    assert sync.count == {1: 1, 2: 2}  # only the row still failed, paid again on purpose
    restart()
    again = sm.submit_batch(items(3), SCHEMA)
    assert all(r.ok for r in again.results()) and sync.count == {1: 1, 2: 2}
    assert again.summary == {"ok": 1, "errored": 2, "retried": 2, "retried_ok": 2}
    with pytest.raises(sm.ConfigError, match="sync, again, none"):
        again.results(retry="twice")


def test_an_interrupted_rerun_keeps_the_rows_it_finished(fake, server, monkeypatch):
    from structmagic.rows.jobs import job as jobs

    use(server, "openai")
    fake.faults = {1: "http400", 2: "http400"}
    real = jobs.run_threads

    def interrupted(prompts, *a, **kw):  # the first row finished, then the interrupt
        done = real(prompts[:1], *a, **kw)
        raise sm.BatchInterrupted([*done, sm.Result(error=sm.Interrupted("not finished"))])

    monkeypatch.setattr(jobs, "run_threads", interrupted)
    with pytest.raises(sm.BatchInterrupted) as info:
        sm.submit_batch(items(3), SCHEMA).results()
    assert [r.ok for r in info.value.results] == [True, True, False]
    monkeypatch.undo()
    sent = len(_sync(server))
    restart()
    job = sm.submit_batch(items(3), SCHEMA)
    assert all(r.ok for r in job.results())
    assert [json.loads(r.body)["messages"][0]["content"] for r in _sync(server, 0)[sent:]] == [
        "item 2"]  # only the unfinished row is sent


def test_magic_rerun_of_a_collected_cell_pays_nothing_new_unless_asked(ip, fake, server,
                                                                      capfd):
    use(server, "openai")
    fake.faults = {1: "http400"}
    server.responder.inner = sync = Faults(always={1: Reply.status(400, "still bad")})
    ip.user_ns.update(schema=SCHEMA, texts=items(3))
    cell = "%%structured schema --each texts -o out --batch-api{}\n{{item}}"

    def run(extra: str = "") -> tuple[list, str]:
        restart()
        capfd.readouterr()
        res = ip.run_cell(cell.format(extra), store_history=False)
        assert res.success, res.error_in_exec
        return ip.user_ns["out"], capfd.readouterr().out

    first, printed = run()
    assert sync.count == {1: 1} and "1 re-run synchronously: 0 ok, 1 failed" in printed
    for _ in range(2):
        again, printed = run()
        assert again == first and sync.count == {1: 1}
        assert "1 re-run synchronously: 0 ok, 1 failed" in printed
    sync.always.clear()  # the server would answer now: pay for it on purpose
    paid, printed = run(" --batch-retry again")
    assert sync.count == {1: 2} and paid[1] == {"n": 1, "label": "item 1"}
    assert "1 re-run synchronously: 1 ok, 0 failed" in printed
    kept, _ = run()
    assert kept == paid and sync.count == {1: 2} and creates(fake) == 1


# --- splitting -----------------------------------------------------------------------------------


def test_split_at_the_line_limit(fake, server):
    use(server, "openai")
    job = sm.submit_batch(items(7), SCHEMA, max_requests=2)
    sizes = [len(fake.jobs[i].rows) for i in job.ids]
    assert sizes == [2, 2, 2, 1]
    assert [(p.start, p.stop) for p in job.record.parts] == [(0, 2), (2, 4), (4, 6), (6, 7)]
    assert [r.data["n"] for r in job.results()] == list(range(7))


def test_split_at_the_byte_limit(fake, server):
    use(server, "openai")
    one = len(next(iter(_line_sizes(fake, sm.submit_batch(items(1), SCHEMA)))))
    job = sm.submit_batch(items(5, start=100), SCHEMA, max_bytes=2 * one + 10)
    assert len(job.ids) == 3
    for job_id in job.ids:
        content = fake.files[fake.jobs[job_id].input_file_id]["content"]
        assert len(content.encode()) <= 2 * one + 10
    too_big = sm.submit_batch(items(2, start=200), SCHEMA, max_bytes=one // 2)
    results = too_big.results()
    assert all(isinstance(r.error, sm.InputError) and "too large" in str(r.error)
               for r in results)


def _line_sizes(fake, job) -> list[str]:
    return fake.files[fake.jobs[job.ids[0]].input_file_id]["content"].splitlines(keepends=True)


def test_anthropic_split_counts_the_request_body(fake, server):
    use(server, "anthropic")
    job = sm.submit_batch(items(6), SCHEMA, max_requests=4)
    bodies = [r for r in server.requests if r.path == "/v1/messages/batches" and
              r.method == "POST"]
    assert [len(r.json["requests"]) for r in bodies] == [4, 2]
    limit = len(bodies[1].body) + 5
    sm.submit_batch(items(6, start=50), SCHEMA, max_bytes=limit)
    bodies = [r for r in server.requests if r.path == "/v1/messages/batches" and
              r.method == "POST"][2:]
    assert len(bodies) >= 3 and all(len(r.body) <= limit for r in bodies)
    assert job.results()[5].data["n"] == 5


def test_input_files_are_written_to_disk_not_held(fake, server, monkeypatch):
    """Building the parts keeps one line at a time in memory, not the file: the peak grows
    by the row index's few bytes per row, not by the line's kilobyte."""
    import tracemalloc

    from structmagic.rows.jobs import submit

    seen = []
    real = submit._write

    def measured(*args, **kw):
        tracemalloc.start()
        out = real(*args, **kw)
        seen.append((tracemalloc.get_traced_memory()[1], sum(p.size for p in out[0])))
        tracemalloc.stop()
        return out

    monkeypatch.setattr(submit, "_write", measured)
    use(server, "openai")
    for n in (500, 2500):
        sm.submit_batch([f"item {i} " + "x" * 1000 for i in range(n)], SCHEMA)
    (small, small_bytes), (large, large_bytes) = seen
    assert large_bytes - small_bytes > 2000 * 1000
    assert (large - small) / 2000 < 100


# --- ends of a job -------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ("openai", "anthropic", "gemini"))
def test_an_expired_job_keeps_its_finished_rows(fake, server, provider):
    use(server, provider)
    fake.expire_at = 0.5
    job, results = collect(6)
    assert job.status().status == "expired"
    assert [r.ok for r in results] == [True] * 3 + [False] * 3
    assert {r.error.outcome for r in results[3:]} == {"expired"}
    assert job.summary == {"ok": 3, "expired": 3}
    again = job.results()
    assert all(r.ok for r in again) and job.summary["retried_ok"] == 3


@pytest.mark.parametrize("provider", ("openai", "anthropic", "gemini"))
def test_cancel_keeps_the_finished_rows(fake, server, provider):
    use(server, provider)
    job = sm.submit_batch(items(4), SCHEMA)
    fake.clock.advance(10 + 30)  # half-way through the run
    job.cancel()
    assert fake.jobs[job.ids[0]].cancelled_at is not None
    results = job.results(retry="none")
    assert job.status().status == "cancelled"
    assert [r.ok for r in results] == [True, True, False, False]
    assert results[3].error.outcome == "cancelled"


def test_wait_polls_with_the_injected_clock_and_slices(fake, server, clock):
    use(server, "openai")
    slept = clock.waits
    job = sm.submit_batch(items(2), SCHEMA)
    seen = []
    status = job.wait(on_status=lambda st: seen.append(st.status))
    assert status.ended and seen[0] == "validating" and seen[-1] == "completed"
    assert "in_progress" in seen
    assert max(slept) <= jobmod.SLICE and sum(slept) >= 80


def test_wait_with_a_timeout_returns_the_running_status(fake, server):
    use(server, "openai")
    job = sm.submit_batch(items(2), SCHEMA)
    status = job.wait(timeout=12, poll=5)
    assert not status.ended and status.status == "in_progress"
    with pytest.raises(sm.BatchError, match="has not ended"):
        job.results(wait=False)


# --- never twice: re-attach and crashes ----------------------------------------------------------


def test_running_the_same_rows_again_reattaches(fake, server, tmp_path):
    use(server, "openai")
    first = sm.submit_batch(items(3), SCHEMA)
    restart()
    again = sm.submit_batch(items(3), SCHEMA)
    assert again.attached and again.ids == first.ids and creates(fake) == 1
    assert len(fake.uploads) == 1
    other = sm.submit_batch(items(3, start=1), SCHEMA)
    assert not other.attached and creates(fake) == 2
    assert set(manifest(tmp_path)["jobs"]) == {first.key, other.key}


def test_resubmit_sends_the_rows_again_when_asked(fake, server):
    use(server, "openai")
    first = sm.submit_batch(items(2), SCHEMA)
    again = sm.submit_batch(items(2), SCHEMA, resubmit=True)
    assert creates(fake) == 2 and again.ids != first.ids and again.key == first.key
    assert again.record.name.endswith("-g1")


PHASES = ("before_upload", "after_upload", "after_create", "validating", "in_progress",
          "ended", "collected")


@pytest.mark.parametrize("provider", ("openai", "anthropic", "gemini"))
@pytest.mark.parametrize("phase", PHASES)
def test_a_kernel_restart_in_every_phase_submits_once(fake, server, provider, phase,
                                                      monkeypatch):
    use(server, provider, retries=0)
    rows = items(4)
    submit = _crashing_submit(monkeypatch, phase, provider)
    if phase in ("before_upload", "after_upload", "after_create"):
        with pytest.raises((RuntimeError, sm.StructuredError)):
            submit(rows)
        monkeypatch.undo()
    else:
        job = submit(rows)
        fake.clock.advance({"validating": 0, "in_progress": 30, "ended": 500,
                            "collected": 500}[phase])
        job.status()
        if phase == "collected":
            job.results()
    restart()
    if provider == "anthropic" and phase in ("after_upload", "after_create"):
        # the batch was made and its answer lost: Anthropic keeps no name of ours, and a
        # running batch does not show its requests' ids, so it cannot be told to be ours
        # until it ends; nothing is sent meanwhile
        with pytest.raises(sm.BatchError, match="cannot be told apart") as info:
            sm.submit_batch(rows, SCHEMA)
        assert "resubmit=True" in str(info.value) and fake.creates[0] in str(info.value)
        fake.clock.advance(500)
        restart()
    job = sm.submit_batch(rows, SCHEMA)
    assert job.attached
    results = job.results()
    assert [r.data["n"] for r in results] == [0, 1, 2, 3]
    assert creates(fake) == 1
    assert len(fake.uploads) == (0 if provider == "anthropic" or (provider == "gemini")
                                 else 1)


def _crashing_submit(monkeypatch, phase: str, provider: str):
    """submit_batch, with the kernel 'dying' at ``phase``."""
    from structmagic.rows.jobs import submit as sub
    from structmagic.rows.jobs.wire import Wire

    def die(*a, **k):
        raise RuntimeError("the kernel died here")

    if phase == "before_upload":
        if provider == "openai":
            monkeypatch.setattr(Wire, "upload", die)
        else:
            monkeypatch.setattr(Wire, "stream_json", die)
    elif phase == "after_upload":
        if provider == "openai":
            real = Wire.json

            def json_(self, method, url, body=None, **kw):
                if method == "POST" and url.endswith("/batches"):
                    die()
                return real(self, method, url, body, **kw)

            monkeypatch.setattr(Wire, "json", json_)
        else:  # no upload: the create is sent, its answer lost
            monkeypatch.setattr(sub._Submitter, "_attach", die)
    elif phase == "after_create":
        monkeypatch.setattr(sub._Submitter, "_attach", die)
    return lambda rows: sm.submit_batch(rows, SCHEMA)


def test_a_dropped_create_is_found_not_sent_again(fake, server):
    use(server, "openai")
    fake.drop_after_create = True
    job = sm.submit_batch(items(3), SCHEMA)
    assert creates(fake) == 1 and len(job.ids) == 1
    assert [r.data["n"] for r in job.results()] == [0, 1, 2]


def test_a_dropped_upload_reuses_the_uploaded_file(fake, server):
    use(server, "openai", retries=0)
    fake.drop_after_upload = True
    with pytest.raises(sm.TransportError):
        sm.submit_batch(items(3), SCHEMA)
    restart()
    job = sm.submit_batch(items(3), SCHEMA)
    assert len(fake.uploads) == 1 and creates(fake) == 1
    assert fake.jobs[job.ids[0]].input_file_id == fake.uploads[0]


def test_no_second_submit_when_the_job_list_cannot_be_read(fake, server, monkeypatch):
    use(server, "openai", retries=0)
    from structmagic.rows.jobs import submit as sub

    monkeypatch.setattr(sub._Submitter, "_attach", lambda *a: (_ for _ in ()).throw(
        RuntimeError("died")))
    with pytest.raises(RuntimeError):
        sm.submit_batch(items(2), SCHEMA)
    monkeypatch.undo()
    server.queue(Reply.status(403, "listing batches is not allowed for this key"))
    with pytest.raises(sm.BatchError, match="cannot be read to check"):
        sm.submit_batch(items(2), SCHEMA)
    assert creates(fake) == 1


def test_an_interrupted_wait_leaves_the_job_running(fake, server, monkeypatch, clock):
    use(server, "openai")
    job = sm.submit_batch(items(3), SCHEMA)
    ticks = []

    def sleep(s):
        ticks.append(s)
        clock.advance(s)
        if len(ticks) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(clock, "sleep", sleep)
    with pytest.raises(KeyboardInterrupt, match="keeps running"):
        job.results()
    monkeypatch.undo()
    restart()
    again = sm.submit_batch(items(3), SCHEMA)
    assert again.attached and creates(fake) == 1
    assert [r.data["n"] for r in again.results()] == [0, 1, 2]


# --- a job lost in a crash is found by this submission's mark, never by its size --------------


@pytest.mark.parametrize("whose", ["this manifest's", "a colleague's"])
def test_anthropic_recovery_takes_only_this_submissions_batch(fake, server, tmp_path, whose):
    """A create answered 500 after the batch was made. Another batch of the same size made
    just before (another job of this manifest, or a colleague's on the same account) is
    never taken for it: while the batches run, nothing tells them apart (Anthropic keeps no
    name), so nothing is sent and the error says so; once they have ended, the one whose
    results carry this submission's ids is attached."""
    use(server, "anthropic")
    elsewhere = {} if whose == "this manifest's" else {"manifest": str(tmp_path / "c.json")}
    other = sm.submit_batch(items(3, start=10), SCHEMA, **elsewhere)
    fake.clock.advance(1)
    fake.fail_after_create = 500
    with pytest.raises(sm.BatchError, match="cannot be told apart") as info:
        sm.submit_batch(items(3), SCHEMA)
    ours = fake.creates[-1]
    assert creates(fake) == 2 and ours != other.ids[0]
    text = str(info.value)
    assert ours in text and "nothing was sent again" in text and "resubmit=True" in text
    assert (other.ids[0] in text) == (whose == "a colleague's")  # this manifest's is not ours

    fake.clock.advance(500)  # both have ended: their results say whose requests they hold
    restart()
    job = sm.submit_batch(items(3), SCHEMA)
    assert job.attached and job.ids == [ours] and creates(fake) == 2
    before = len(server.requests)
    assert [r.data["n"] for r in job.results()] == [0, 1, 2] and job.summary == {"ok": 3}
    assert not [r for r in server.requests[before:] if r.path == "/v1/messages"]
    assert [r.data["n"] for r in other.results()] == [10, 11, 12]


def test_anthropic_request_ids_carry_the_submissions_mark(fake, server):
    use(server, "anthropic")
    job = sm.submit_batch(items(2), SCHEMA)
    ids = _sent_ids(fake, job.ids[0])
    assert re.fullmatch(r"[0-9a-f]{10}", job.record.mark)
    assert all(ID.match(cid) and cid.endswith(f"-{job.record.mark}") for cid in ids)
    again = sm.submit_batch(items(2), SCHEMA, resubmit=True)  # a new submission, a new mark
    assert again.record.mark != job.record.mark
    assert all(cid.endswith(f"-{again.record.mark}") for cid in _sent_ids(fake, again.ids[0]))


def test_a_submission_resumed_after_a_crash_keeps_its_mark(fake, server, monkeypatch,
                                                          tmp_path):
    """The kernel died before the create was sent: the re-run (whose own new mark is not
    used) sends the requests with the mark the manifest recorded for the submission."""
    from structmagic.rows.jobs.wire import Wire

    use(server, "anthropic")
    monkeypatch.setattr(Wire, "stream_json", lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError("the kernel died here")))
    with pytest.raises(RuntimeError):
        sm.submit_batch(items(2), SCHEMA)
    monkeypatch.undo()
    mark = next(iter(manifest(tmp_path)["jobs"].values()))["mark"]
    restart()
    job = sm.submit_batch(items(2), SCHEMA)
    assert job.attached and job.record.mark == mark and creates(fake) == 1
    assert all(cid.endswith(f"-{mark}") for cid in _sent_ids(fake, job.ids[0]))
    assert [r.data["n"] for r in job.results()] == [0, 1]


def test_anthropic_create_refused_before_anything_was_made_is_sent_again(fake, server):
    """No batch of that size since the intent: certainly none was made, so the create is
    retried (the usual retries)."""
    use(server, "anthropic")
    server.queue(Reply.status(503, "overloaded"))
    job = sm.submit_batch(items(3), SCHEMA)
    assert creates(fake) == 1 and job.ids == fake.creates
    assert [r.data["n"] for r in job.results()] == [0, 1, 2]


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_a_job_lost_in_a_crash_is_found_by_this_submissions_mark(fake, server, tmp_path,
                                                                 provider, monkeypatch):
    """The kernel died after the create; then a colleague sent the same rows (their own
    manifest): their job has the same name but another mark, and is not taken for ours."""
    from structmagic.rows.jobs import submit as sub

    use(server, provider, retries=0)
    monkeypatch.setattr(sub._Submitter, "_attach", lambda *a: (_ for _ in ()).throw(
        RuntimeError("the kernel died here")))
    with pytest.raises(RuntimeError):
        sm.submit_batch(items(3), SCHEMA)
    monkeypatch.undo()
    ours = fake.creates[0]
    fake.clock.advance(5)
    theirs = sm.submit_batch(items(3), SCHEMA, manifest=str(tmp_path / "colleague.json"))
    assert theirs.ids != [ours]
    restart()
    job = sm.submit_batch(items(3), SCHEMA)
    assert job.attached and job.ids == [ours] and creates(fake) == 2
    assert [r.data["n"] for r in job.results()] == [0, 1, 2]


# --- relays without batch routes -----------------------------------------------------------------


def test_a_relay_without_batch_routes_says_so(fake, server):
    use(server, "openai")
    fake.unavailable = 501
    with pytest.raises(sm.BatchUnavailableError) as info:
        sm.submit_batch(items(2), SCHEMA)
    assert info.value.status == 501 and "no batch API" in str(info.value)
    assert "--batch-api auto" in str(info.value) and "\n" in str(info.value)
    assert creates(fake) == 0


def test_auto_falls_back_to_threads(fake, server):
    use(server, "openai")
    fake.unavailable = 404
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        results = sm.batch(items(3), SCHEMA, via="auto")
    notes = [str(w.message) for w in caught if w.category is UserWarning]
    assert len(notes) == 1 and "parallel requests instead" in notes[0]
    assert [r.data["n"] for r in results] == [0, 1, 2]
    with pytest.raises(sm.BatchUnavailableError):
        sm.batch(items(3), SCHEMA, via="batch-api")
    with pytest.raises(sm.ConfigError, match="via must be"):
        sm.batch(items(3), SCHEMA, via="carrier-pigeon")


def test_batch_via_the_batch_api(fake, server):
    use(server, "openai")
    fake.faults = {1: "http400"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = sm.batch(items(3), SCHEMA, via="batch-api", batch_retry="none")
    assert results[1].error.outcome == "errored" and results[2].ok
    results = sm.batch(items(3), SCHEMA, via="batch-api")
    assert all(r.ok for r in results) and creates(fake) == 1


# --- cost --------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_row_carries_its_batch_tier_cost(fake, server, provider):
    use(server, provider, prices={"test-model": (2.0, 10.0)})
    fake.usage = (1000, 200)
    results = sm.batch(items(3), SCHEMA, via="batch-api", batch_retry="none")
    one = (1000 * 2.0 + 200 * 10.0) / 1e6 * 0.5  # every provider here: half the price
    assert [r.cost for r in results] == pytest.approx([one] * 3)
    use(server, provider, prices={})
    restart()
    again = sm.batch(items(3), SCHEMA, via="batch-api", batch_retry="none")
    assert all(r.ok and r.cost is None for r in again)  # no price: unknown, not 0


def test_max_cost_is_checked_before_a_job_is_created(fake, server, tmp_path):
    use(server, "openai", prices={"test-model": (2.0, 10.0)})
    rows = items(4)
    with pytest.raises(sm.ConfigError, match="unbounded") as info:
        sm.submit_batch(rows, SCHEMA, max_cost=100.0)  # no max_tokens: answers unbounded
    assert "max_tokens" in str(info.value)
    # 4 rows of at most 1000 answer tokens at half of $10 per million: at least $0.02
    with pytest.raises(sm.ConfigError, match=r"may cost up to \$0\.02") as info:
        sm.batch(rows, SCHEMA, via="batch-api", max_cost=0.02, max_tokens=1000)
    assert "not submitted" in str(info.value) and "via='threads'" in str(info.value)
    assert creates(fake) == 0 and len(fake.uploads) == 0
    assert not (tmp_path / "batches.json").exists() or not manifest(tmp_path)["jobs"]
    job = sm.submit_batch(rows, SCHEMA, max_cost=0.05, max_tokens=1000)
    assert creates(fake) == 1
    again = sm.submit_batch(rows, SCHEMA, max_cost=0.0, max_tokens=1000)
    assert again.attached and again.ids == job.ids  # a job already paid for is collected
    with pytest.raises(sm.ConfigError, match="max_cost must be"):
        sm.submit_batch(rows, SCHEMA, max_cost=float("nan"), max_tokens=1000)


def test_max_cost_without_a_batch_price_says_what_to_do(fake, server):
    use(server, "openai", model="model-nobody-prices")
    with pytest.raises(sm.ConfigError, match="needs a batch price") as info:
        sm.submit_batch(items(2), SCHEMA, max_cost=1.0, max_tokens=10)
    assert "--price model-nobody-prices=" in str(info.value) and creates(fake) == 0


# --- the manifest --------------------------------------------------------------------------------


def test_the_manifest_holds_what_a_rerun_needs_and_never_the_key(fake, server, tmp_path):
    use(server, "openai")
    job, _ = collect(3)
    data = manifest(tmp_path)["jobs"][job.key]
    assert data["state"] == "collected" and data["rows"] == 3
    assert data["parts"][0]["batch_id"] == job.ids[0]
    assert data["parts"][0]["file_id"] and data["parts"][0]["intent_at"]
    assert data["summary"] == {"ok": 3}
    assert CANARY not in manifest_text(tmp_path)
    assert not list(tmp_path.glob(".*.tmp"))
    for f in fake.files.values():
        assert CANARY not in f["content"]


def test_a_damaged_manifest_stops_before_anything_is_sent(fake, server, tmp_path):
    use(server, "openai")
    (tmp_path / "batches.json").write_text("{oops")
    with pytest.raises(sm.BatchError, match="damaged"):
        sm.submit_batch(items(2), SCHEMA)
    assert not fake.uploads


def test_an_unwritable_manifest_stops_before_anything_is_sent(fake, server, tmp_path):
    use(server, "openai")
    (tmp_path / "m.json").mkdir()
    with pytest.raises(sm.BatchError, match="cannot be read"):
        sm.submit_batch(items(2), SCHEMA, manifest=str(tmp_path / "m.json"))
    (tmp_path / "file").write_text("")
    with pytest.raises(sm.BatchError, match="cannot be written"):
        sm.submit_batch(items(2), SCHEMA, manifest=str(tmp_path / "file" / "m.json"))
    assert not fake.uploads


def test_the_default_manifest_sits_beside_the_cassette(settings, tmp_path):
    from dataclasses import replace

    from structmagic.rows.jobs.manifest import manifest_path

    s = replace(settings, cassette=str(tmp_path / "nb.cassette.jsonl"), batch_manifest=None)
    assert manifest_path(s) == tmp_path / "nb.batches.json"
    assert str(manifest_path(replace(s, cassette=None))) == "structmagic-batches.json"


def test_manifest_writes_are_atomic(tmp_path):
    from structmagic.rows.jobs.manifest import JobRecord

    store = Manifest(tmp_path / "m.json")
    for i in range(3):
        store.put(JobRecord(key=f"{i}a" * 32, name="structmagic-" + "0" * 20,
                            provider="openai", base_url="https://api.openai.com/v1",
                            model="m", endpoint="/e", schema="s", rows=1, created=float(i)))
    assert [j.key for j in store.jobs()] == ["0a" * 32, "1a" * 32, "2a" * 32]
    assert store.find("1a1a1a").key == "1a" * 32
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.json.lock", "m.json"]


# --- recordings ----------------------------------------------------------------------------------


def test_a_recorded_job_replays_offline(fake, server, tmp_path):
    from structmagic import config

    use(server, "openai")
    cassette = tmp_path / "nb.cassette.jsonl"
    config.configure(cache="cache", cassette=str(cassette),
                     batch_manifest=str(tmp_path / "rec.json"))
    fake.faults = {1: "invalid"}
    job = sm.submit_batch(items(3), SCHEMA)
    first = job.status().status
    recorded = [r.data for r in job.results()]
    assert recorded[1] == {"n": 1, "label": "item 1"}  # re-run synchronously, recorded
    assert CANARY not in cassette.read_text()
    sent = len(server.requests)

    restart()
    config.configure(cache="replay", base_url="http://127.0.0.1:9/v1",
                     batch_manifest=str(tmp_path / "replay.json"))
    job = sm.submit_batch(items(3), SCHEMA)
    assert job.status().status == first
    assert [r.data for r in job.results()] == recorded
    assert job.summary == {"ok": 2, "invalid": 1, "retried": 1, "retried_ok": 1}
    assert len(server.requests) == sent  # nothing reached a server


def test_replay_of_a_job_that_is_not_recorded(fake, server, tmp_path):
    from structmagic import config

    use(server, "openai")
    config.configure(cache="replay", cassette=str(tmp_path / "empty.jsonl"))
    with pytest.raises(sm.CassetteMissError, match="batch-API request"):
        sm.submit_batch(items(2), SCHEMA)


# --- the magic -----------------------------------------------------------------------------------


def test_magic_binds_the_dataframe_with_an_error_column(ip, fake, server, capfd):
    pd = pytest.importorskip("pandas")
    use(server, "openai")
    fake.faults = {1: "http400"}
    ip.user_ns.update(schema=SCHEMA, df=pd.DataFrame({"t": items(3)}, index=["a", "b", "c"]))
    res = ip.run_cell("%%structured schema --each df -o out --batch-api --batch-retry none\n"
                      "{t}", store_history=False)
    assert res.success, res.error_in_exec
    out = ip.user_ns["out"]
    assert list(out.index) == ["a", "b", "c"] and list(out["n"][["a", "c"]]) == [0, 2]
    # named by its label in the frame's index, as --each names rows everywhere else
    assert out.loc["b", "error"].startswith("BatchRowError: Row 'b' came back with an error")
    assert "Row 1" not in out.loc["b", "error"]
    printed = capfd.readouterr().out
    assert "submitted batch job" in printed and "3 rows: 2 ok, 1 errored" in printed


def test_magic_max_cost_refuses_a_job_that_may_pass_it_and_binds_nothing(ip, fake, server):
    pd = pytest.importorskip("pandas")
    use(server, "openai", prices={"test-model": (2.0, 10.0)})
    fake.usage = (1000, 200)
    ip.user_ns.update(schema=SCHEMA, df=pd.DataFrame({"t": items(3)}), out="earlier")
    cell = "%%structured schema --each df -o out --batch-api --max-tokens 1000 --max-cost {}\n{{t}}"
    res = ip.run_cell(cell.format("0.01"), store_history=False)
    assert not res.success and "not submitted" in str(res.error_in_exec)
    assert ip.user_ns["out"] == "earlier" and creates(fake) == 0
    res = ip.run_cell(cell.format("1"), store_history=False)
    assert res.success, res.error_in_exec
    out = ip.user_ns["out"]
    assert list(out["n"]) == [0, 1, 2] and creates(fake) == 1
    assert list(out["cost"]) == pytest.approx([(1000 * 2.0 + 200 * 10.0) / 1e6 * 0.5] * 3)


def test_magic_no_wait_returns_the_job_and_a_rerun_collects(ip, fake, server, capfd):
    use(server, "openai")
    ip.user_ns.update(schema=SCHEMA, texts=items(3))
    cell = "%%structured schema --each texts -o out --batch-api --no-wait\n{item}"
    res = ip.run_cell(cell, store_history=False)
    assert res.success and isinstance(res.result, sm.BatchJob) and "out" not in ip.user_ns
    assert "not waiting" in capfd.readouterr().out
    restart()
    fake.clock.advance(3600)
    res = ip.run_cell(cell, store_history=False)
    assert res.success and ip.user_ns["out"] == [{"n": i, "label": f"item {i}"}
                                                 for i in range(3)]
    assert "re-attached to batch job" in capfd.readouterr().out
    assert creates(fake) == 1


def test_magic_interrupt_while_waiting_binds_nothing(ip, fake, server, monkeypatch, clock):
    use(server, "openai")
    monkeypatch.setattr(clock, "sleep", lambda s: (_ for _ in ()).throw(KeyboardInterrupt))
    ip.user_ns.update(schema=SCHEMA, texts=items(2), out="before")
    res = ip.run_cell("%%structured schema --each texts -o out --batch-api\n{item}",
                      store_history=False)
    assert isinstance(res.error_in_exec, KeyboardInterrupt)
    assert "keeps running" in str(res.error_in_exec) and ip.user_ns["out"] == "before"


def test_magic_auto_falls_back_with_one_line(ip, fake, server, capfd):
    use(server, "openai")
    fake.unavailable = 501
    ip.user_ns.update(schema=SCHEMA, texts=items(2))
    res = ip.run_cell("%%structured schema --each texts -o out --batch-api auto\n{item}",
                      store_history=False)
    assert res.success and [v["n"] for v in ip.user_ns["out"]] == [0, 1]
    notes = [ln for ln in capfd.readouterr().out.splitlines() if "no batch API" in ln]
    assert len(notes) == 1 and "parallel requests instead" in notes[0]
    res = ip.run_cell("%%structured schema --each texts -o out2 --batch-api\n{item}",
                      store_history=False)
    assert isinstance(res.error_in_exec, sm.BatchUnavailableError) and "out2" not in ip.user_ns


def test_magic_batch_options_are_checked(ip, fake):
    from IPython.core.error import UsageError

    ip.user_ns.update(schema=SCHEMA, texts=items(2))
    for line in ("schema --batch-api", "schema --each texts --no-wait",
                 "schema --each texts --batch-api sometimes",
                 "schema --each texts --batch-api --batch-retry maybe",
                 "schema --each texts --batch-api --compare a,b",
                 "schema --each texts --batch-api --engine dask"):
        res = ip.run_cell(f"%%structured {line}\n{{item}}", store_history=False)
        assert type(res.error_in_exec) is UsageError, line
    assert not fake.creates


def test_structured_batches_lists_and_cancels(ip, fake, server, capfd):
    use(server, "openai")
    done, _ = collect(2)
    running = sm.submit_batch(items(3, start=5), SCHEMA)
    capfd.readouterr()
    ip.run_line_magic("structured_batches", "")
    table = capfd.readouterr().out
    assert done.key[:12] in table and running.key[:12] in table
    assert re.search(rf"{running.key[:12]}\s+openai\s+test-model\s+\S+\s+3\s+validating",
                     table)
    assert re.search(rf"{done.key[:12]}.*completed\s+2\s+0", table)
    ip.run_line_magic("structured_batches", f"--cancel {running.ids[0]}")
    assert "asked batch job" in capfd.readouterr().out
    assert fake.jobs[running.ids[0]].cancelled_at is not None
    fake.clock.advance(100)
    ip.run_line_magic("structured_batches", "")
    assert re.search(rf"{running.key[:12]}.*cancelled", capfd.readouterr().out)
    res = ip.run_cell("%structured_batches --cancel nosuchjob", store_history=False)
    assert "no such job" in str(res.error_in_exec)


@pytest.fixture
def elsewhere():
    """Another loopback server: a host a hand-edited manifest names."""
    from fakeserver import FakeLLMServer

    with FakeLLMServer() as other:
        other.responder = lambda req: Reply.json({"id": "batch_0001", "status": "completed"})
        yield other


def _edit_manifest(tmp_path, **fields) -> None:
    data = manifest(tmp_path)
    for job in data["jobs"].values():
        job.update(fields)
    (tmp_path / "batches.json").write_text(json.dumps(data))


def test_a_recorded_job_is_followed_only_at_the_configured_base_url(ip, fake, server, tmp_path,
                                                                    elsewhere, capfd):
    """The manifest is a shared file: a record naming another host is listed, not polled,
    not cancelled there, and never sent the key — also when it names another provider."""
    use(server, "openai")
    job = sm.submit_batch(items(3), SCHEMA)
    _edit_manifest(tmp_path, base_url=elsewhere.url + "/v1")
    capfd.readouterr()
    ip.run_line_magic("structured_batches", "")
    out = capfd.readouterr().out
    assert re.search(rf"{job.key[:12]}\s+openai\s+test-model", out)  # shown
    noted = [ln for ln in out.splitlines() if "not refreshed" in ln]
    assert len(noted) == 1 and f"{elsewhere.url}/v1" in noted[0]
    assert "not contacted" in noted[0] and f"({server.url}/v1)" in noted[0]
    res = ip.run_cell(f"%structured_batches --cancel {job.ids[0]}", store_history=False)
    assert isinstance(res.error_in_exec, sm.BatchError)
    assert "not contacted" in str(res.error_in_exec)
    assert fake.jobs[job.ids[0]].cancelled_at is None
    with pytest.raises(sm.BatchError, match="damaged"):  # re-attached from the cell
        sm.submit_batch(items(3), SCHEMA)
    _edit_manifest(tmp_path, provider="anthropic")  # another provider's record
    ip.run_line_magic("structured_batches", "")
    assert "not contacted" in capfd.readouterr().out
    res = ip.run_cell(f"%structured_batches --cancel {job.ids[0]}", store_history=False)
    assert "not contacted" in str(res.error_in_exec)
    assert elsewhere.requests == []


def test_another_providers_job_is_followed_at_its_configured_base_url(ip, fake, server,
                                                                      monkeypatch, capfd):
    from structmagic import config

    monkeypatch.setenv("GEMINI_BASE_URL", server.url + "/v1beta")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    config.configure(provider="gemini", base_url=None)
    job = sm.submit_batch(items(2), SCHEMA)
    config.configure(provider="openai")
    fake.clock.advance(500)
    before = len(server.requests)
    capfd.readouterr()
    ip.run_line_magic("structured_batches", "")
    polls = [r for r in server.requests[before:] if r.path == f"/v1beta/{job.ids[0]}"]
    assert len(polls) == 1 and polls[0].headers["x-goog-api-key"] == CANARY
    assert re.search(rf"{job.key[:12]}.*completed", capfd.readouterr().out)


def test_structured_config_sets_the_manifest(ip, tmp_path, capfd):
    from structmagic.config import resolve

    ip.run_line_magic("structured_config", f"--batch-manifest {tmp_path}/x.json")
    assert resolve().batch_manifest == f"{tmp_path}/x.json"
    ip.run_line_magic("structured_batches", "")
    assert "no batch jobs" in capfd.readouterr().out


def test_help_names_the_batch_options(ip):
    from structmagic.rows.jobs.job import RETRY_MODES

    doc = ip.find_cell_magic("structured").__doc__
    assert "--batch-api" in doc and "--no-wait" in doc and "--batch-retry" in doc
    words = " ".join(doc.split())
    assert all(mode in words for mode in RETRY_MODES) and "pays nothing new" in words
    assert "--cancel" in ip.find_line_magic("structured_batches").__doc__


def test_the_progress_bar_has_a_cost_slot(settings):
    from dataclasses import replace

    from structmagic.display.progress import ProgressBar
    from structmagic.magic.batches import follow_job
    from structmagic.rows.jobs import pricing
    from structmagic.rows.jobs.job import BatchStatus

    bar = ProgressBar(live=True)
    st = BatchStatus(job="k", status="in_progress", total=10, done=3, failed=1, parts=1,
                     ended=False, elapsed=65, schema="invoice <b>", provider="openai",
                     model="m")
    follow_job(bar, st, final=True)
    assert bar.box.children == (bar.bar, bar.label) and "&lt;b&gt;" in bar.label.value
    assert "3/10 done · 1 failed · 0:01:05" in bar.label.value
    assert bar.bar.value == 4 and bar.bar.max == 10 and bar.bar.bar_style == "info"
    st.cost, st.cost_estimated = 0.25, True
    follow_job(bar, st, final=True)
    # the cost in the same line, after one separator (no second column, no dangling "·")
    assert bar.label.value.count("$0.25") == 1
    assert "0:01:05 · expected ≥ $0.25</div>" in bar.label.value
    assert bar.text.endswith("0:01:05 · expected ≥ $0.25")
    st.status, st.ended = "completed", True  # ended with a failed row: amber, as --each ends
    follow_job(bar, st)
    assert bar.bar.bar_style == "warning"
    st.failed, st.done = 0, 10
    fresh = ProgressBar(live=True)
    follow_job(fresh, st)
    assert fresh.bar.bar_style == "success"
    st.status = "failed"
    follow_job(bar, st)
    assert bar.bar.bar_style == "danger"
    unpriced = pricing.BatchPricer(replace(settings, model="m", prices={}))
    assert unpriced.price is None and unpriced({"prompt_tokens": 1}) is None  # no price for m


# --- the answer's text and the token limit, as in the synchronous path --------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_batch_row_at_the_token_limit_is_kept_when_its_json_is_whole(fake, server, provider):
    use(server, provider)
    fake.faults = {1: "length", 2: "length", 3: "length"}
    job, results = collect(4)  # rows 1-3 answer whole, then reach the limit
    assert [r.data for r in results] == [{"n": i, "label": f"item {i}"} for i in range(4)]
    assert [r.truncated for r in results] == [False, True, True, True]
    assert job.summary == {"ok": 4}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_batch_row_cut_at_the_token_limit_is_refused(fake, server, provider):
    use(server, provider)
    fake.faults = {1: "length", 2: "length"}
    fake.limited_text = '{"n": 1, "label": "it'
    job, results = collect(3)
    err = results[1].error
    assert isinstance(err, sm.TruncatedError) and err.raw == fake.limited_text
    assert "cut off before the JSON was complete" in err.message
    assert results[0].ok and job.summary == {"ok": 1, "refused": 2}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_batch_rows_raw_is_the_json_and_text_the_whole_answer(fake, server, provider):
    use(server, provider)
    prose = 'Here is the JSON:\n```json\n{"n": 1, "label": "item 1"}\n```\nHope this helps.'
    fake.faults, fake.invalid_text = {1: "invalid"}, prose
    job, results = collect(2)
    assert job.summary == {"ok": 2}
    assert results[1].raw == '{"n": 1, "label": "item 1"}' and results[1].text == prose
    assert results[0].raw == results[0].text == json.dumps({"n": 0, "label": "item 0"})
