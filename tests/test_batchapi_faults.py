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


# --- result lines split on "\n" only --------------------------------------------------------------

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
    from structmagic.batchapi.wire import Wire
    from structmagic.config import resolve
    from structmagic.providers import get_provider

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
    from structmagic.batchapi.wire import Wire
    from structmagic.config import resolve
    from structmagic.providers import get_provider

    from fakeserver import Reply

    use(server, "openai")
    wire = Wire(resolve({}), get_provider("openai"))
    server.queue(Reply.text(b"\x1f\x8b\x08\x00 this is not gzip at all" * 20,
                            content_type="application/octet-stream",
                            headers={"content-encoding": "gzip"}))
    with pytest.raises(sm.TransportError) as info:
        list(wire.lines(server.url + "/v1/files/x/content"))
    assert info.value.attempts == 1
