"""Self-tests of the fake batch routes (``fakebatch.py``), with plain httpx (no structmagic):
the vendors' shapes, the state machines on the fake clock, the faults, and that the fake
server's own behaviour is unchanged under it."""

from __future__ import annotations

import json

import httpx
import pytest

from fakebatch import FakeBatchAPI, FakeClock
from fakeserver import FakeLLMServer, Reply, chat

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def fb():
    with FakeLLMServer() as server:
        server.responder = lambda req: chat('{"sync": true}')
        fake = FakeBatchAPI(server, clock=FakeClock())
        with httpx.Client(base_url=server.url, timeout=5) as http:
            yield fake, http


def line(cid: str, text: str = "item 1", url: str = "/v1/chat/completions") -> str:
    return json.dumps({"custom_id": cid, "method": "POST", "url": url,
                       "body": {"model": "m", "messages": [{"role": "user", "content": text}]}})


def openai_job(http, n: int = 4, **meta) -> dict:
    content = "\n".join(line(f"r{i}-{i:016x}", f"item {i}") for i in range(n)) + "\n"
    up = http.post("/v1/files", data={"purpose": "batch"},
                   files={"file": ("in.jsonl", content.encode(), "application/jsonl")})
    assert up.status_code == 200 and up.json()["filename"] == "in.jsonl"
    created = http.post("/v1/batches", json={"input_file_id": up.json()["id"],
                                             "endpoint": "/v1/chat/completions",
                                             "completion_window": "24h",
                                             "metadata": meta or None})
    assert created.status_code == 200
    return created.json()


def test_other_requests_reach_the_responder_before_it(fb):
    fake, http = fb
    r = http.post("/v1/chat/completions", json={"model": "m", "messages": []})
    assert r.json()["choices"][0]["message"]["content"] == '{"sync": true}'
    fake.server.queue(Reply.status(418, "queued first"))
    assert http.get("/v1/batches/x").status_code == 418  # the queue still comes first


def test_openai_state_machine_on_the_clock(fb):
    fake, http = fb
    job = openai_job(http, structmagic_job="name-0")
    assert job["status"] == "validating" and job["metadata"] == {"structmagic_job": "name-0"}
    seen = []
    for step in (5, 35, 35, 10, 10):
        fake.clock.advance(step)
        body = http.get(f"/v1/batches/{job['id']}").json()
        seen.append((body["status"], body["request_counts"]["completed"]))
    assert seen == [("validating", 0), ("in_progress", 2), ("finalizing", 4),
                    ("completed", 4), ("completed", 4)]
    out = http.get(f"/v1/files/{body['output_file_id']}/content").text.splitlines()
    lines = [json.loads(x) for x in out]
    assert sorted(x["custom_id"] for x in lines) == [f"r{i}-{i:016x}" for i in range(4)]
    assert [x["custom_id"] for x in lines] != sorted(x["custom_id"] for x in lines)  # shuffled
    assert all(x["response"]["status_code"] == 200 and x["error"] is None for x in lines)
    content = json.loads(lines[0]["response"]["body"]["choices"][0]["message"]["content"])
    assert content["label"] == f"item {content['n']}"
    assert body["error_file_id"] is None


def test_openai_row_faults(fb):
    fake, http = fb
    fake.faults = {0: "http400", 1: "status0", 2: "error_file", 3: "missing"}
    job = openai_job(http, 5)
    fake.clock.advance(1000)
    body = http.get(f"/v1/batches/{job['id']}").json()
    out = {json.loads(x)["custom_id"][:2]: json.loads(x) for x in
           http.get(f"/v1/files/{body['output_file_id']}/content").text.splitlines()}
    err = [json.loads(x) for x in
           http.get(f"/v1/files/{body['error_file_id']}/content").text.splitlines()]
    assert out["r0"]["response"]["status_code"] == 400 and out["r0"]["error"] is None
    assert out["r1"]["response"]["status_code"] == 0
    assert [e["custom_id"][:2] for e in err] == ["r2"] and err[0]["error"]["code"]
    assert "r3" not in out and out["r4"]["response"]["status_code"] == 200


def test_openai_expiry_cancel_and_failure(fb):
    fake, http = fb
    fake.expire_at = 0.5
    job = openai_job(http, 4)
    fake.clock.advance(10 + 30)
    body = http.get(f"/v1/batches/{job['id']}").json()
    assert body["status"] == "expired"
    errors = http.get(f"/v1/files/{body['error_file_id']}/content").text.splitlines()
    assert {json.loads(e)["error"]["code"] for e in errors} == {"batch_expired"}
    assert len(errors) == 2
    fake.expire_at = None
    job = openai_job(http, 4)
    fake.clock.advance(10 + 15)
    assert http.post(f"/v1/batches/{job['id']}/cancel").json()["status"] == "cancelling"
    fake.clock.advance(10)
    body = http.get(f"/v1/batches/{job['id']}").json()
    assert body["status"] == "cancelled" and body["request_counts"]["completed"] == 1
    fake.fail_lines = [(2, "invalid_request", "bad line")]
    job = openai_job(http, 3)
    fake.clock.advance(11)
    body = http.get(f"/v1/batches/{job['id']}").json()
    assert body["status"] == "failed"
    assert body["errors"]["data"][0] == {"code": "invalid_request", "line": 2,
                                         "message": "bad line", "param": None}


def test_openai_listing_and_validation(fb):
    _, http = fb
    ids = [openai_job(http, 1)["id"] for _ in range(3)]
    page = http.get("/v1/batches", params={"limit": 2}).json()
    assert [b["id"] for b in page["data"]] == ids[::-1][:2] and page["has_more"]
    rest = http.get("/v1/batches", params={"limit": 2, "after": page["last_id"]}).json()
    assert [b["id"] for b in rest["data"]] == [ids[0]] and not rest["has_more"]
    files = http.get("/v1/files", params={"purpose": "batch"}).json()["data"]
    assert len(files) == 3
    bad = http.post("/v1/batches", json={"input_file_id": "nope", "endpoint": "/v1/x",
                                         "completion_window": "24h"})
    assert bad.status_code == 400


def test_anthropic_message_batches(fb):
    fake, http = fb
    fake.faults = {1: "errored"}
    requests = [{"custom_id": f"r{i}-{i:016x}", "params": {"model": "m", "max_tokens": 9,
                                                             "messages": []}}
                for i in range(3)]
    job = http.post("/v1/messages/batches", json={"requests": requests}).json()
    assert job["processing_status"] == "in_progress" and job["type"] == "message_batch"
    assert job["request_counts"]["succeeded"] == 0 and job["results_url"] is None
    fake.clock.advance(1000)
    body = http.get(f"/v1/messages/batches/{job['id']}").json()
    assert body["processing_status"] == "ended" and body["request_counts"]["errored"] == 1
    results = [json.loads(x) for x in
               http.get(f"/v1/messages/batches/{job['id']}/results").text.splitlines()]
    kinds = {r["custom_id"][:2]: r["result"]["type"] for r in results}
    assert kinds == {"r0": "succeeded", "r1": "errored", "r2": "succeeded"}
    streamed = {**requests[0], "params": {**requests[0]["params"], "stream": True}}
    assert http.post("/v1/messages/batches", json={"requests": [streamed]}).status_code == 400
    listed = http.get("/v1/messages/batches").json()
    assert listed["data"][0]["id"] == job["id"] and listed["last_id"] == job["id"]


def test_gemini_inline_file_and_states(fb):
    fake, http = fb
    inline = {"batch": {"displayName": "d-0", "inputConfig": {"requests": {"requests": [
        {"request": {"contents": [{"parts": [{"text": "item 0"}]}]},
         "metadata": {"key": "r0-0000000000000000"}}]}}}}
    op = http.post("/v1beta/models/g:batchGenerateContent", json=inline).json()
    assert op["name"].startswith("batches/") and op["metadata"]["state"] == "BATCH_STATE_PENDING"
    fake.clock.advance(1000)
    op = http.get(f"/v1beta/{op['name']}").json()
    assert op["metadata"]["state"] == "BATCH_STATE_SUCCEEDED" and op["done"]
    item = op["response"]["inlinedResponses"]["inlinedResponses"][0]
    assert item["metadata"]["key"] == "r0-0000000000000000" and item["response"]["candidates"]

    start = http.post("/upload/v1beta/files", json={"file": {"displayName": "f.jsonl"}},
                      headers={"X-Goog-Upload-Command": "start"})
    target = start.headers["x-goog-upload-url"]
    content = json.dumps({"key": "r1-0000000000000001", "request": {"contents": []}}) + "\n"
    file = http.post(target, content=content.encode(),
                     headers={"X-Goog-Upload-Command": "upload, finalize",
                              "X-Goog-Upload-Offset": "0"}).json()["file"]
    assert file["displayName"] == "f.jsonl"
    op = http.post("/v1beta/models/g:batchGenerateContent", json={"batch": {
        "displayName": "d-1", "inputConfig": {"fileName": file["name"]}}}).json()
    fake.clock.advance(1000)
    op = http.get(f"/v1beta/{op['name']}").json()
    out = http.get(f"/download/v1beta/{op['response']['responsesFile']}:download",
                   params={"alt": "media"}).text
    assert json.loads(out)["key"] == "r1-0000000000000001"
    names = [o["metadata"]["displayName"] for o in http.get("/v1beta/batches").json()[
        "operations"]]
    assert names == ["d-1", "d-0"]


def test_step_per_poll_moves_one_state_a_poll(fb):
    fake, http = fb
    fake.step_per_poll = True
    job = openai_job(http, 2)
    seen = [http.get(f"/v1/batches/{job['id']}").json()["status"] for _ in range(4)]
    assert seen == ["in_progress", "finalizing", "completed", "completed"]


def test_unavailable_and_crash_points(fb):
    fake, http = fb
    fake.unavailable = 501
    r = http.post("/v1/files", data={"purpose": "batch"}, files={"file": ("x", b"{}")})
    assert r.status_code == 501 and r.json()["error"]["code"] == "api_not_implemented"
    fake.unavailable = None
    fake.drop_after_create = True
    with pytest.raises(httpx.TransportError):
        openai_job(http, 1)
    assert len(fake.creates) == 1  # created, but the answer never came


def test_anthropic_ids_are_checked_and_results_wait_for_the_end(fb):
    """As the real API: custom_id ``^[a-zA-Z0-9_-]{1,64}$`` and unique within a batch; a
    batch keeps nothing of ours but its requests, whose ids come back only in the results,
    once it has ended."""
    fake, http = fb

    def create(*ids: str) -> httpx.Response:
        return http.post("/v1/messages/batches", json={"requests": [
            {"custom_id": cid, "params": {"model": "m", "max_tokens": 9, "messages": []}}
            for cid in ids]})

    assert create("r0-x", "r0-x").status_code == 400
    assert create("r0 x").status_code == 400 and create("r" * 65).status_code == 400
    assert not fake.jobs
    job = create("r0-0000000000000000-abcdef0123").json()
    assert set(job) == {"id", "type", "processing_status", "request_counts", "ended_at",
                        "created_at", "expires_at", "archived_at", "cancel_initiated_at",
                        "results_url"}
    assert http.get(f"/v1/messages/batches/{job['id']}/results").status_code == 404
    fake.clock.advance(1000)
    results = http.get(f"/v1/messages/batches/{job['id']}/results").text.splitlines()
    assert [json.loads(x)["custom_id"] for x in results] == ["r0-0000000000000000-abcdef0123"]


@pytest.mark.parametrize("status", [500, 429])
def test_fail_after_create_keeps_the_job_and_answers_an_error(fb, status):
    fake, http = fb
    fake.fail_after_create = status
    content = line("r0-0000000000000000") + "\n"
    up = http.post("/v1/files", data={"purpose": "batch"},
                   files={"file": ("in.jsonl", content.encode(), "application/jsonl")})
    created = http.post("/v1/batches", json={"input_file_id": up.json()["id"],
                                             "endpoint": "/v1/chat/completions",
                                             "completion_window": "24h"})
    assert created.status_code == status and len(fake.creates) == 1
    assert fake.fail_after_create is None  # once
    listed = http.get("/v1/batches").json()["data"]
    assert [b["id"] for b in listed] == fake.creates
    assert openai_job(http)["id"] != fake.creates[0]
