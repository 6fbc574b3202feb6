"""Provider batch jobs under faults of the answers, the wire, the disk and the manifest, and
their costs: what a job does with a damaged result, a corrupt download, a full disk, a
damaged manifest, a price given for one call, and a cap on the re-run of failed rows.
Against the fake server's batch routes (``fakebatch.py``); no test sleeps."""

from __future__ import annotations

import pytest

import structmagic as sm

from batch_helpers import SCHEMA
from batchapi_helpers import items, use

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
