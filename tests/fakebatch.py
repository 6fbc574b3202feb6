"""The providers' batch APIs on the loopback fake server, with their state machines.

Mounted on a :class:`fakeserver.FakeLLMServer` through its responder hook: batch routes are
answered here, every other request goes on to the responder that was there before (so the
synchronous re-runs of failed rows reach it). Queued replies still come first, so a test can
put a 501 or a dropped connection in front of any request.

    fake = FakeBatchAPI(server, clock=FakeClock())
    fake.faults = {3: "http400", 5: "missing"}      # by row position (the custom_id's r<n>)
    ...                                             # submit through structmagic
    fake.clock.advance(3600)                        # time passes: validating -> ... completed

Routes (all with the vendors' documented shapes):

- OpenAI: ``POST /v1/files`` (multipart, ``purpose=batch``), ``GET /v1/files``,
  ``GET /v1/files/{id}/content``, ``POST /v1/batches``, ``GET /v1/batches``,
  ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``; and the same under an Azure
  resource's ``/openai/files`` and ``/openai/batches``, each with ``api-version`` (404
  without, as Azure answers), the lines naming ``/chat/completions``;
- Anthropic: ``POST /v1/messages/batches``, ``GET /v1/messages/batches[/{id}]``,
  ``POST /v1/messages/batches/{id}/cancel``, ``GET /v1/messages/batches/{id}/results``;
- Gemini: ``POST /v1beta/models/{m}:batchGenerateContent``, ``GET /v1beta/batches[/{id}]``,
  ``POST /v1beta/batches/{id}:cancel``, the resumable upload on ``/upload/v1beta/files``,
  ``GET /v1beta/files``, ``GET /download/v1beta/files/{id}:download``.

The state machine of a job, driven by ``clock`` (never by sleeping)::

    validating --validating_s--> in_progress --running_s--> finalizing --finalizing_s-->
    completed | expired (expire_at: the share of rows done by then) | failed (fail_lines /
    fail_file: after validating); cancel: cancelling --cancel_s--> cancelled (rows done by
    then kept). ``step_per_poll=True`` instead moves a job one state on per poll of it.

Row faults (``faults``, by row position): ``http400`` (a line with ``status_code`` 400 and
``"error": null``), ``status0``, ``error_file`` (a line only in the error file), ``missing``
(no line), ``invalid`` (an answer that does not match ``invalid_text``), ``errored`` (the
provider's per-request error), ``length`` (the row's usual answer, with the format's finish at
the token limit: ``length``, ``incomplete``/``max_output_tokens``, ``max_tokens``,
``MAX_TOKENS``; ``limited_text`` instead, when set),
``garbled`` (Gemini: a result that is not a JSON object, inline
or in the file). Output lines are shuffled (seeded) — results must be matched
by id. Crash points: ``drop_after_upload`` / ``drop_after_create`` store the upload / job
and then drop the connection instead of answering, as if the kernel died in between;
``fail_after_create`` (an HTTP status, e.g. 500 or 429) stores the job and answers that
status instead, as a gateway in front of the API may.

As the real APIs: a create whose request ids repeat is refused (400), and so is an Anthropic
``custom_id`` that is not ``^[a-zA-Z0-9_-]{1,64}$``; a batch keeps only what the API keeps
(OpenAI: ``metadata``; Gemini: ``displayName``; Anthropic: nothing of ours — its requests'
ids come back only in the results, once it has ended); lists are newest first.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs

from fakeserver import CREATED, FakeLLMServer, RecordedRequest, Reply, chat
from providers import anthropic_body, gemini_body, responses_body

__all__ = ["FakeBatchAPI", "FakeClock", "item_answer"]

STATES = ("validating", "in_progress", "finalizing", "completed")


class FakeClock:
    """A clock that moves only when told (Unix time)."""

    def __init__(self, start: float = float(CREATED)) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def item_answer(body: dict[str, Any]) -> str:
    """The default answer: ``{"n": k, "label": "item k"}`` for a prompt saying ``item k``."""
    found = re.search(r"item (\d+)", json.dumps(body, ensure_ascii=False))
    k = int(found.group(1)) if found else -1
    return json.dumps({"n": k, "label": f"item {k}"})


def _iso(t: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FakeJob:
    """One batch job of the fake."""

    id: str
    kind: str  # openai | anthropic | gemini
    rows: list[tuple[str, dict[str, Any]]]  # (custom_id, request body) in input order
    created: float
    endpoint: str = ""
    name: str = ""  # metadata / display name
    input_file_id: str = ""
    model: str = ""
    inline: bool = False
    polls: int = 0
    cancelled_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    done_files: bool = False
    state_override: str | None = None


class FakeBatchAPI:
    """The batch routes of the three API families (see the module docstring)."""

    def __init__(self, server: FakeLLMServer, *, clock: Callable[[], float] | None = None,
                 answer: Callable[[dict[str, Any]], str] = item_answer,
                 validating_s: float = 10.0, running_s: float = 60.0,
                 finalizing_s: float = 10.0, cancel_s: float = 5.0,
                 step_per_poll: bool = False, seed: int = 7) -> None:
        self.server = server
        self.clock = clock or FakeClock()
        self.answer = answer
        self.validating_s, self.running_s = validating_s, running_s
        self.finalizing_s, self.cancel_s = finalizing_s, cancel_s
        self.step_per_poll = step_per_poll
        self.rng = random.Random(seed)
        self.inner = server.responder
        server.responder = self
        self.lock = threading.RLock()
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.uploads: list[str] = []  # file ids, in upload order
        self.creates: list[str] = []  # job ids, in creation order
        self.faults: dict[int, str] = {}
        self.invalid_text = '{"n": "not a number"}'
        self.limited_text: str | None = None  # a "length" row's text (None: its usual one)
        self.expire_at: float | None = None  # share of rows done when the job expires
        self.fail_lines: list[tuple[int, str, str]] = []
        self.fail_file: str | None = None
        self.unavailable: int | None = None  # 501 / 404 on every batch route
        self.drop_after_upload = False
        self.drop_after_create = False
        self.fail_after_create: int | None = None  # the status answered after a create
        self.shuffle = True
        self.inline_keys = True  # Gemini's inline results carry their request's key
        self.usage = (12, 8)
        self._serial = 0
        self._uploads: dict[str, dict[str, Any]] = {}  # resumable uploads in progress

    # --- routing --------------------------------------------------------------------------

    def __call__(self, req: RecordedRequest) -> Reply:
        if req.path.startswith(("/openai/files", "/openai/batches")):  # an Azure resource
            if "api-version" not in parse_qs(req.query):
                return Reply.json({"error": {"code": "404", "message": "Resource not found"}},
                                  status=404)
            req = replace(req, path="/v1" + req.path[len("/openai"):])
        path = req.path
        batchy = (path.startswith(("/v1/files", "/v1/batches", "/v1/messages/batches",
                                   "/v1beta/batches", "/v1beta/files", "/upload/",
                                   "/download/"))
                  or path.endswith(":batchGenerateContent"))
        if not batchy:
            if self.inner is None:
                return Reply.status(500, "fake batch server: no responder for " + path)
            return self.inner(req)
        if self.unavailable is not None:
            return Reply.status(self.unavailable, "API not implemented",
                                error_type="new_api_error", error_code="api_not_implemented")
        with self.lock:
            return self._route(req)

    def _route(self, req: RecordedRequest) -> Reply:
        m, path = req.method, req.path
        query = {k: v[-1] for k, v in parse_qs(req.query).items()}
        # OpenAI
        if path == "/v1/files" and m == "POST":
            return self._openai_upload(req)
        if path == "/v1/files" and m == "GET":
            return self._page([self._file_obj(f) for f in self.files.values()
                               if f["purpose"] == "batch"], query, "after")
        if (found := re.fullmatch(r"/v1/files/([^/]+)/content", path)) and m == "GET":
            file = self.files.get(found.group(1))
            if file is None:
                return Reply.status(404, "No such file")
            return Reply.text(file["content"], content_type="application/octet-stream")
        if path == "/v1/batches" and m == "POST":
            return self._openai_create(req.json or {})
        if path == "/v1/batches" and m == "GET":
            return self._page([self._openai_obj(j) for j in self._newest("openai")], query,
                              "after")
        if found := re.fullmatch(r"/v1/batches/([^/]+)(/cancel)?", path):
            return self._job_route(found.group(1), bool(found.group(2)), m, "openai")
        # Anthropic
        if path == "/v1/messages/batches" and m == "POST":
            return self._anthropic_create(req.json or {})
        if path == "/v1/messages/batches" and m == "GET":
            return self._page([self._anthropic_obj(j) for j in self._newest("anthropic")],
                              query, "after_id", anthropic=True)
        if found := re.fullmatch(r"/v1/messages/batches/([^/]+)/results", path):
            job = self.jobs.get(found.group(1))
            if job is None or self._state(job) not in ("ended",):
                return Reply.status(404, "results not available")
            return Reply.text("\n".join(json.dumps(x) for x in self._anthropic_results(job)),
                              content_type="application/binary")
        if found := re.fullmatch(r"/v1/messages/batches/([^/]+)(/cancel)?", path):
            return self._job_route(found.group(1), bool(found.group(2)), m, "anthropic")
        # Gemini
        if (found := re.fullmatch(r"/v1beta/models/([^/:]+):batchGenerateContent", path)) \
                and m == "POST":
            return self._gemini_create(found.group(1), req.json or {})
        if path == "/v1beta/batches" and m == "GET":
            ops = [self._gemini_obj(j) for j in self._newest("gemini")]
            return Reply.json({"operations": ops})
        if found := re.fullmatch(r"/v1beta/(batches/[^/:]+)(:cancel)?", path):
            return self._job_route(found.group(1), bool(found.group(2)), m, "gemini")
        if path == "/upload/v1beta/files" and m == "POST":
            return self._gemini_upload(req)
        if path == "/v1beta/files" and m == "GET":
            return Reply.json({"files": [{"name": f["id"], "displayName": f["filename"]}
                                         for f in self.files.values()]})
        if (found := re.fullmatch(r"/download/v1beta/(files/[^/:]+):download", path)):
            file = self.files.get(found.group(1))
            if file is None:
                return Reply.status(404, "No such file")
            return Reply.text(file["content"], content_type="application/octet-stream")
        return Reply.status(404, f"fake batch server: no route {m} {path}")

    def _job_route(self, job_id: str, cancel: bool, method: str, kind: str) -> Reply:
        job = self.jobs.get(job_id)
        if job is None or job.kind != kind:
            return Reply.status(404, f"No batch {job_id}")
        if cancel:
            if method != "POST":
                return Reply.status(405, "POST only")
            if job.cancelled_at is None and self._common(job) not in (
                    "completed", "failed", "expired", "cancelled"):
                job.cancelled_at = self.clock()
        elif self.step_per_poll:
            job.polls += 1
        return Reply.json(self._obj(job))

    # --- the state machine ----------------------------------------------------------------

    def _phase(self, job: FakeJob) -> tuple[str, float]:
        """The OpenAI-style status, and the share of rows done."""
        if job.state_override:
            return job.state_override, 1.0
        now = self.clock()
        if self.step_per_poll:
            status = STATES[min(job.polls, len(STATES) - 1)]
            done = {"validating": 0.0, "in_progress": 0.5}.get(status, 1.0)
            return status, done
        t = now - job.created
        failing = bool(self.fail_lines or self.fail_file)
        run_share = (min(1.0, max(0.0, (t - self.validating_s) / self.running_s))
                     if self.running_s else 1.0)
        if job.cancelled_at is not None:
            at = job.cancelled_at - job.created
            share = (min(1.0, max(0.0, (at - self.validating_s) / self.running_s))
                     if self.running_s else 1.0)
            return ("cancelling" if now - job.cancelled_at < self.cancel_s else "cancelled",
                    share)
        if t < self.validating_s:
            return "validating", 0.0
        if failing:
            return "failed", 0.0
        if self.expire_at is not None and run_share >= self.expire_at:
            return "expired", self.expire_at
        if t < self.validating_s + self.running_s:
            return "in_progress", run_share
        if t < self.validating_s + self.running_s + self.finalizing_s:
            return "finalizing", 1.0
        return "completed", 1.0

    def _common(self, job: FakeJob) -> str:
        return self._phase(job)[0]

    def _done_rows(self, job: FakeJob) -> int:
        return int(len(job.rows) * self._phase(job)[1] + 1e-9)

    def _state(self, job: FakeJob) -> str:
        """The provider's own status word."""
        status = self._common(job)
        if job.kind == "anthropic":
            return {"cancelling": "canceling", "completed": "ended", "expired": "ended",
                    "cancelled": "ended", "failed": "ended"}.get(status, "in_progress")
        if job.kind == "gemini":
            return {"validating": "BATCH_STATE_PENDING", "in_progress": "BATCH_STATE_RUNNING",
                    "finalizing": "BATCH_STATE_RUNNING", "cancelling": "BATCH_STATE_RUNNING",
                    "completed": "BATCH_STATE_SUCCEEDED", "failed": "BATCH_STATE_FAILED",
                    "expired": "BATCH_STATE_EXPIRED",
                    "cancelled": "BATCH_STATE_CANCELLED"}[status]
        return status

    def _ended(self, job: FakeJob) -> bool:
        return self._common(job) in ("completed", "failed", "expired", "cancelled")

    # --- rows -------------------------------------------------------------------------------

    def _position(self, custom_id: str) -> int | None:
        found = re.match(r"r(\d+)-", custom_id)
        return int(found.group(1)) if found else None

    def _fault(self, custom_id: str) -> str | None:
        pos = self._position(custom_id)
        return self.faults.get(pos) if pos is not None else None

    def _text(self, custom_id: str, body: dict[str, Any]) -> str:
        fault = self._fault(custom_id)
        if fault == "length" and self.limited_text is not None:
            return self.limited_text
        return self.invalid_text if fault == "invalid" else self.answer(body)

    def _limited(self, custom_id: str) -> bool:
        return self._fault(custom_id) == "length"

    def _openai_answer(self, job: FakeJob, text: str, *, limited: bool = False
                       ) -> dict[str, Any]:
        if job.endpoint == "/v1/responses":
            if limited:
                return responses_body(text, usage=self.usage, status="incomplete",
                                      incomplete_reason="max_output_tokens")
            return responses_body(text, usage=self.usage)
        return json.loads(chat(text, usage=self.usage,
                               finish_reason="length" if limited else "stop").body)

    def _outcomes(self, job: FakeJob) -> tuple[list[tuple[int, str, dict]], list[int]]:
        """``(position in job, custom_id, body)`` of the rows done, and those left undone."""
        n = self._done_rows(job)
        return ([(i, cid, body) for i, (cid, body) in enumerate(job.rows[:n])],
                list(range(n, len(job.rows))))

    def _shuffled(self, items: list[Any]) -> list[Any]:
        items = list(items)
        if self.shuffle:
            self.rng.shuffle(items)
        return items

    def _materialize_openai(self, job: FakeJob) -> None:
        if job.done_files or not self._ended(job):
            return
        job.done_files = True
        status = self._common(job)
        if status == "failed":
            return
        out: list[dict[str, Any]] = []
        err: list[dict[str, Any]] = []
        done, undone = self._outcomes(job)
        for i, cid, body in done:
            fault = self._fault(cid)
            line: dict[str, Any] = {"id": f"batch_req_{i}", "custom_id": cid}
            if fault == "missing":
                continue
            if fault == "error_file":
                err.append({**line, "response": None,
                            "error": {"code": "server_error", "message": "upstream failed"}})
                continue
            if fault == "http400":
                line["response"] = {"status_code": 400, "request_id": f"req_{i}", "body": {
                    "error": {"message": "Invalid 'messages': bad row", "type":
                              "invalid_request_error", "param": None, "code": None}}}
                line["error"] = None
            elif fault == "status0":
                line["response"] = {"status_code": 0, "request_id": f"req_{i}", "body": None}
                line["error"] = None
            else:
                line["response"] = {"status_code": 200, "request_id": f"req_{i}",
                                    "body": self._openai_answer(
                                        job, self._text(cid, body),
                                        limited=self._limited(cid))}
                line["error"] = None
            out.append(line)
        code = {"expired": "batch_expired", "cancelled": "batch_cancelled"}.get(status)
        if code:
            for i in undone:
                cid = job.rows[i][0]
                err.append({"id": f"batch_req_{i}", "custom_id": cid, "response": None,
                            "error": {"code": code, "message": f"This request {status}."}})
        if out:
            job.output_file_id = self._store_file(
                f"{job.id}_output.jsonl", "batch_output", self._shuffled(out))
        if err:
            job.error_file_id = self._store_file(
                f"{job.id}_error.jsonl", "batch_output", self._shuffled(err))

    def _anthropic_results(self, job: FakeJob) -> list[dict[str, Any]]:
        status = self._common(job)
        done, undone = self._outcomes(job)
        results = []
        for _, cid, body in done:
            fault = self._fault(cid)
            if fault == "missing":
                continue
            if fault in ("http400", "status0", "error_file", "errored"):
                result: dict[str, Any] = {"type": "errored", "error": {
                    "type": "error", "error": {"type": "invalid_request_error",
                                               "message": "bad row"}}}
            else:
                result = {"type": "succeeded", "message": anthropic_body(
                    self._text(cid, body), usage=self.usage,
                    stop_reason="max_tokens" if self._limited(cid) else "end_turn")}
            results.append({"custom_id": cid, "result": result})
        left = {"cancelled": "canceled", "expired": "expired"}.get(status)
        for i in undone if left else ():
            results.append({"custom_id": job.rows[i][0], "result": {"type": left}})
        return self._shuffled(results)

    def _gemini_results(self, job: FakeJob) -> list[dict[str, Any]]:
        """In input order, as Gemini gives them."""
        done, _ = self._outcomes(job)
        results = []
        for _, cid, body in done:
            fault = self._fault(cid)
            if fault == "missing":
                continue
            if fault == "garbled":
                results.append(["not", "an", "object"])
                continue
            if fault in ("http400", "status0", "error_file", "errored"):
                item: dict[str, Any] = {"error": {"code": 400, "message": "bad row"}}
            else:
                item = {"response": gemini_body(
                    self._text(cid, body), usage=self.usage,
                    finish="MAX_TOKENS" if self._limited(cid) else "STOP")}
            if job.inline:
                results.append(item | ({"metadata": {"key": cid}} if self.inline_keys
                                       else {}))
            else:
                results.append(item | {"key": cid})
        return results

    # --- objects ------------------------------------------------------------------------------

    def _obj(self, job: FakeJob) -> dict[str, Any]:
        return {"openai": self._openai_obj, "anthropic": self._anthropic_obj,
                "gemini": self._gemini_obj}[job.kind](job)

    def _openai_obj(self, job: FakeJob) -> dict[str, Any]:
        self._materialize_openai(job)
        status = self._common(job)
        done = self._done_rows(job)
        failed = sum(1 for cid, _ in job.rows[:done]
                     if self._fault(cid) in ("http400", "status0", "error_file"))
        errors = None
        if status == "failed":
            data = [{"code": code, "line": line, "message": msg, "param": None}
                    for line, code, msg in self.fail_lines]
            if self.fail_file:
                data.append({"code": "invalid_file", "line": None, "message": self.fail_file,
                             "param": None})
            errors = {"object": "list", "data": data}
        return {
            "id": job.id, "object": "batch", "endpoint": job.endpoint, "errors": errors,
            "input_file_id": job.input_file_id, "completion_window": "24h", "status": status,
            "output_file_id": job.output_file_id, "error_file_id": job.error_file_id,
            "created_at": int(job.created), "in_progress_at": None, "expires_at":
            int(job.created) + 86400, "completed_at": None, "failed_at": None,
            "expired_at": None, "request_counts": {"total": len(job.rows),
                                                   "completed": done - failed,
                                                   "failed": failed},
            "metadata": {"structmagic_job": job.name} if job.name else None,
        }

    def _anthropic_obj(self, job: FakeJob) -> dict[str, Any]:
        raw = self._state(job)
        counts = {"processing": len(job.rows), "succeeded": 0, "errored": 0, "canceled": 0,
                  "expired": 0}
        if raw == "ended":
            results = self._anthropic_results(job)
            counts["processing"] = 0
            for r in results:
                kind = r["result"]["type"]
                counts[{"succeeded": "succeeded", "errored": "errored", "canceled": "canceled",
                        "expired": "expired"}[kind]] += 1
        return {
            "id": job.id, "type": "message_batch", "processing_status": raw,
            "request_counts": counts, "ended_at": _iso(self.clock()) if raw == "ended" else None,
            "created_at": _iso(job.created), "expires_at": _iso(job.created + 86400),
            "archived_at": None,
            "cancel_initiated_at": _iso(job.cancelled_at) if job.cancelled_at else None,
            "results_url": (f"https://api.anthropic.invalid/v1/messages/batches/{job.id}/"
                            "results" if raw == "ended" else None),
        }

    def _gemini_obj(self, job: FakeJob) -> dict[str, Any]:
        raw = self._state(job)
        done = self._done_rows(job)
        meta: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main."
                     "GenerateContentBatch",
            "model": f"models/{job.model}", "displayName": job.name,
            "createTime": _iso(job.created), "updateTime": _iso(self.clock()), "state": raw,
            "batchStats": {"requestCount": str(len(job.rows)),
                           "successfulRequestCount": str(done),
                           "pendingRequestCount": str(len(job.rows) - done)},
        }
        op: dict[str, Any] = {"name": job.id, "metadata": meta,
                              "done": self._ended(job)}
        if raw in ("BATCH_STATE_SUCCEEDED", "BATCH_STATE_EXPIRED", "BATCH_STATE_CANCELLED"):
            results = self._gemini_results(job)
            if job.inline:
                op["response"] = {"@type": "type.googleapis.com/google.ai.generativelanguage."
                                  "v1main.GenerateContentBatchOutput",
                                  "inlinedResponses": {"inlinedResponses": results}}
            else:
                if job.output_file_id is None:
                    job.output_file_id = self._store_file(f"{job.id}-output.jsonl",
                                                          "batch_output", results,
                                                          gemini=True)
                op["response"] = {"@type": "type.googleapis.com/google.ai.generativelanguage."
                                  "v1main.GenerateContentBatchOutput",
                                  "responsesFile": job.output_file_id}
        if raw == "BATCH_STATE_FAILED":
            op["error"] = {"code": 3, "message": self.fail_file or "the batch failed"}
        return op

    def _page(self, items: list[dict[str, Any]], query: dict[str, str], after_key: str, *,
              anthropic: bool = False) -> Reply:
        limit = int(query.get("limit", 20))
        after = query.get(after_key)
        if after is not None:
            ids = [x["id"] for x in items]
            items = items[ids.index(after) + 1:] if after in ids else []
        page = items[:limit]
        body: dict[str, Any] = {"data": page, "has_more": len(items) > limit}
        if anthropic:
            body["first_id"] = page[0]["id"] if page else None
            body["last_id"] = page[-1]["id"] if page else None
        else:
            body["object"] = "list"
            body["first_id"] = page[0]["id"] if page else None
            body["last_id"] = page[-1]["id"] if page else None
        return Reply.json(body)

    def _newest(self, kind: str) -> list[FakeJob]:
        return sorted((j for j in self.jobs.values() if j.kind == kind),
                      key=lambda j: (j.created, j.id), reverse=True)

    # --- files -----------------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{self._serial:04d}"

    def _file_obj(self, f: dict[str, Any]) -> dict[str, Any]:
        return {"id": f["id"], "object": "file", "bytes": len(f["content"]),
                "created_at": int(f["created"]), "filename": f["filename"],
                "purpose": f["purpose"]}

    def _store_file(self, name: str, purpose: str, lines: list[dict[str, Any]], *,
                    gemini: bool = False) -> str:
        file_id = self._next_id("files/" if gemini else "file-")
        self.files[file_id] = {"id": file_id, "filename": name, "purpose": purpose,
                               "content": "\n".join(json.dumps(x, ensure_ascii=False)
                                                    for x in lines) + "\n",
                               "created": self.clock()}
        return file_id

    def _openai_upload(self, req: RecordedRequest) -> Reply:
        ctype = req.headers.get("content-type", "")
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + req.body)
        fields: dict[str, Any] = {}
        filename = ""
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename():
                filename = part.get_filename()
            fields[name] = part.get_content()
        if fields.get("purpose") != "batch" or "file" not in fields:
            return Reply.status(400, "purpose must be 'batch' and a file given")
        content = fields["file"]
        content = content.decode() if isinstance(content, bytes) else content
        file_id = self._next_id("file-")
        self.files[file_id] = {"id": file_id, "filename": filename, "purpose": "batch",
                               "content": content, "created": self.clock()}
        self.uploads.append(file_id)
        if self.drop_after_upload:
            self.drop_after_upload = False
            return Reply.drop()
        return Reply.json(self._file_obj(self.files[file_id]))

    def _gemini_upload(self, req: RecordedRequest) -> Reply:
        command = req.headers.get("x-goog-upload-command", "")
        if command == "start":
            upload_id = self._next_id("up")
            name = ((req.json or {}).get("file") or {}).get("displayName", "")
            self._uploads[upload_id] = {"name": name}
            url = f"{self.server.url}/upload/v1beta/files?upload_id={upload_id}"
            return Reply.json({}, headers={"x-goog-upload-url": url,
                                           "x-goog-upload-status": "active"})
        upload_id = parse_qs(req.query).get("upload_id", [""])[-1]
        pending = self._uploads.pop(upload_id, None)
        if pending is None or "finalize" not in command:
            return Reply.status(400, "bad upload")
        file_id = self._next_id("files/")
        self.files[file_id] = {"id": file_id, "filename": pending["name"], "purpose": "batch",
                               "content": req.body.decode(), "created": self.clock()}
        self.uploads.append(file_id)
        return Reply.json({"file": {"name": file_id, "displayName": pending["name"],
                                    "mimeType": "application/jsonl",
                                    "sizeBytes": str(len(req.body)), "state": "ACTIVE"}})

    # --- creating jobs ----------------------------------------------------------------------

    def _add_job(self, job: FakeJob) -> Reply:
        if len({cid for cid, _ in job.rows}) != len(job.rows):
            return Reply.status(400, "custom_id values must be unique within a batch")
        self.jobs[job.id] = job
        self.creates.append(job.id)
        if self.drop_after_create:
            self.drop_after_create = False
            return Reply.drop()
        if self.fail_after_create is not None:
            status, self.fail_after_create = self.fail_after_create, None
            return Reply.status(status, "upstream timed out" if status >= 500
                                else "rate limited")
        return Reply.json(self._obj(job))

    def _openai_create(self, body: dict[str, Any]) -> Reply:
        file = self.files.get(body.get("input_file_id", ""))
        if file is None:
            return Reply.status(400, "input_file_id does not exist")
        if body.get("endpoint") not in ("/v1/chat/completions", "/v1/responses",
                                        "/chat/completions"):  # Azure's lines name no /v1
            return Reply.status(400, f"endpoint {body.get('endpoint')!r} is not supported")
        if body.get("completion_window") != "24h":
            return Reply.status(400, "completion_window must be 24h")
        rows = []
        for line in file["content"].split("\n"):  # JSONL: "\n" only
            if not line.strip():
                continue
            obj = json.loads(line)
            if obj.get("method") != "POST" or obj.get("url") != body["endpoint"]:
                return Reply.status(400, "every line must POST to the batch's endpoint")
            rows.append((obj["custom_id"], obj["body"]))
        return self._add_job(FakeJob(
            id=self._next_id("batch_"), kind="openai", rows=rows, created=self.clock(),
            endpoint=body["endpoint"], name=(body.get("metadata") or {}).get(
                "structmagic_job", ""), input_file_id=file["id"]))

    def _anthropic_create(self, body: dict[str, Any]) -> Reply:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return Reply.status(400, "requests: a non-empty list is required")
        rows = []
        for r in requests:
            params = r.get("params") or {}
            if "stream" in params:
                return Reply.status(400, "params.stream is not allowed in a batch")
            if not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", str(r.get("custom_id"))):
                return Reply.status(400, "requests.custom_id: String should match pattern "
                                    "'^[a-zA-Z0-9_-]{1,64}$'")
            rows.append((r["custom_id"], params))
        return self._add_job(FakeJob(id=self._next_id("msgbatch_"), kind="anthropic",
                                     rows=rows, created=self.clock()))

    def _gemini_create(self, model: str, body: dict[str, Any]) -> Reply:
        batch = body.get("batch") or {}
        config = batch.get("inputConfig") or {}
        rows = []
        inline = "requests" in config
        if inline:
            for r in (config["requests"] or {}).get("requests") or ():
                rows.append(((r.get("metadata") or {}).get("key", ""), r["request"]))
        else:
            file = self.files.get(config.get("fileName", ""))
            if file is None:
                return Reply.status(400, "fileName does not exist")
            for line in file["content"].split("\n"):  # JSONL: "\n" only
                if line.strip():
                    obj = json.loads(line)
                    rows.append((obj["key"], obj["request"]))
        if not rows:
            return Reply.status(400, "no requests")
        return self._add_job(FakeJob(id=self._next_id("batches/"), kind="gemini", rows=rows,
                                     created=self.clock(), name=batch.get("displayName", ""),
                                     model=model, inline=inline))

