"""The async surface: astructured, astream and abatch, awaited in a running loop, against the
loopback fake server; an httpx.AsyncClient of the user's; cancellation; the sync functions
inside a running loop."""

from __future__ import annotations

import asyncio
import json
import sys
import threading

import httpx
import pytest

import structmagic as sm

from batch_helpers import SCHEMA, Crowd, Held, prompt_number
from fakeserver import chat, chat_stream

ANSWER = {"n": 7, "label": "seven"}
TEXT = json.dumps(ANSWER)


def test_astructured_sends_what_structured_sends_and_gives_the_same_result(server, settings):
    server.queue(chat(TEXT), chat(TEXT))
    sync = sm.structured("item 7", SCHEMA, temperature=0.2)
    got = asyncio.run(sm.astructured("item 7", SCHEMA, temperature=0.2))
    assert got.data == sync.data == ANSWER
    assert server.requests[1].json == server.requests[0].json
    assert server.requests[1].json["temperature"] == 0.2
    assert got.attempts == 1 and got.usage == sync.usage


def test_astructured_raises_as_structured_raises(server, settings):
    server.queue(chat('{"n": "x"}'), chat('{"n": "x"}'))
    with pytest.raises(sm.InvalidOutputError):
        asyncio.run(sm.astructured("item 1", SCHEMA, reasks=1))
    assert len(server.requests) == 2  # re-asked once, as the sync call does


def test_on_partial_and_the_observer_run_on_the_loops_thread(server, settings):
    server.queue(chat_stream(TEXT, pieces=12))
    threads: set[str] = set()
    seen: list = []

    class Observer:
        def update(self, partial, *, reasoning=None, usage=None) -> None:
            threads.add(threading.current_thread().name)

    def on_partial(value) -> None:
        threads.add(threading.current_thread().name)
        seen.append(value)

    async def main():
        return await sm.astructured("item 7", SCHEMA, stream=True, on_partial=on_partial,
                                    observer=Observer())

    res = asyncio.run(main())
    assert threads == {threading.current_thread().name}  # asyncio.run's loop: this thread
    assert seen[-1] == ANSWER == res.data


def test_astream_yields_growing_partial_values_then_the_answer(server, settings):
    server.queue(chat_stream(TEXT, pieces=12))

    async def main():
        return [value async for value in sm.astream("item 7", SCHEMA)]

    values = asyncio.run(main())
    assert values[-1] == ANSWER and len(values) >= 2
    sizes = [len(json.dumps(v)) for v in values]
    assert sizes == sorted(sizes)
    assert server.requests[0].json["stream"] is True


def test_leaving_astream_early_cancels_the_request(server, settings):
    server.responder = lambda req: chat_stream(TEXT, pieces=12, stall_after=3,
                                               stall_seconds=5)

    async def main():
        async for value in sm.astream("item 7", SCHEMA):
            return value  # break out after the first partial value

    first = asyncio.run(main())  # not 5 s: the stalled stream was cut
    assert isinstance(first, dict)
    server.responder = None
    server.queue(chat(TEXT))
    assert sm.structured("item 7", SCHEMA).data == ANSWER  # usable at once


def test_cancelling_astructured_cuts_its_request(server, settings):
    release, answered = threading.Event(), threading.Event()

    def respond(req):
        release.wait(10)
        answered.set()
        return chat(TEXT)

    server.responder = respond

    async def main():
        task = asyncio.create_task(sm.astructured("item 7", SCHEMA))
        await asyncio.get_running_loop().run_in_executor(None, server.wait_for_requests, 1, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return answered.is_set()

    try:
        assert not asyncio.run(main()), "the cancel waited for the server's answer"
    finally:
        release.set()
    assert len(server.requests) == 1  # not sent again


def test_a_sync_call_works_inside_a_running_loop(server, settings):
    """No "event loop is already running": the sync functions never start a loop."""
    server.queue(chat(TEXT), chat(TEXT), chat(TEXT))

    async def main():
        one = sm.structured("item 7", SCHEMA)
        many = sm.batch(["item 7", "item 7"], SCHEMA, concurrency=2)
        return one, many

    one, many = asyncio.run(main())
    assert one.data == ANSWER and [r.data for r in many] == [ANSWER, ANSWER]


def test_a_plain_asyncio_run_script(server, settings, tmp_path):
    """A script of its own: ``asyncio.run`` of a coroutine that awaits the async API."""
    import subprocess

    script = tmp_path / "script.py"
    script.write_text(
        "import asyncio, json, sys\n"
        "import structmagic as sm\n"
        "SCHEMA = json.loads(sys.argv[2])\n"
        "async def main():\n"
        "    one = await sm.astructured('item 1', SCHEMA)\n"
        "    rows = await sm.abatch(['item 2', 'item 3'], SCHEMA, concurrency=2)\n"
        "    return [one.data] + [r.data for r in rows]\n"
        "sm.configure(base_url=sys.argv[1], api_key='sk-local')\n"
        "print(json.dumps(asyncio.run(main())))\n")
    server.responder = lambda req: chat(json.dumps({"n": prompt_number(req), "label": "x"}))
    out = subprocess.run([sys.executable, str(script), server.url + "/v1", json.dumps(SCHEMA)],
                         capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == [{"n": k, "label": "x"} for k in (1, 2, 3)]


# --- abatch --------------------------------------------------------------------------------


def test_abatch_keeps_input_order_and_bounds_concurrency(server, settings):
    server.responder = crowd = Crowd(until=4)
    progress: list[int] = []
    loop_thread = threading.current_thread().name
    threads: set[str] = set()

    def on_progress(p) -> None:
        threads.add(threading.current_thread().name)
        progress.append(p.finished)

    results = asyncio.run(sm.abatch([f"item {i}" for i in range(20)], SCHEMA, concurrency=4,
                                    on_progress=on_progress))
    assert [r.data["n"] for r in results] == list(range(20))
    assert crowd.peak == 4
    assert progress[-1] == 20 and threads == {loop_thread}


def test_cancelling_abatch_sends_nothing_new_and_keeps_what_arrived(server, settings,
                                                                     tmp_path):
    cassette = str(tmp_path / "rows.jsonl")
    prompts = [f"item {i}" for i in range(12)]
    with Held(lambda k: k >= 4, seconds=10) as held:
        server.responder = held

        async def main():
            task = asyncio.create_task(sm.abatch(prompts, SCHEMA, concurrency=2,
                                                 cache="cache", cassette=cassette))
            # items 0-3 answered, 4 and 5 in flight on the two workers
            await asyncio.get_running_loop().run_in_executor(
                None, server.wait_for_requests, 6, 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError) as info:
                await task
            return info.value

        cancelled = asyncio.run(main())
    results = cancelled.results
    assert len(results) == 12
    assert [r.data["n"] for r in results[:4]] == [0, 1, 2, 3]
    assert all(isinstance(r.error, sm.Interrupted) or r.data is None for r in results[4:])
    with pytest.raises(TimeoutError):  # nothing new was sent after the cancel
        server.wait_for_requests(7, timeout=0.5)
    assert len(server.requests) == 6
    server.reset()
    server.responder = lambda req: chat(json.dumps({"n": prompt_number(req), "label": "x"}))
    again = sm.batch(prompts, SCHEMA, concurrency=2, cache="cache", cassette=cassette)
    assert all(r.error is None for r in again)
    asked = sorted(prompt_number(r) for r in server.requests)
    assert asked == list(range(4, 12))  # the four answers that arrived were recorded


# --- the user's httpx.AsyncClient ----------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_an_async_client_of_the_users_carries_the_requests(server, settings, stream):
    seen: list[tuple[str, str]] = []

    async def hook(request: httpx.Request) -> None:  # an async hook: run on the loop
        seen.append((request.url.path, threading.current_thread().name))

    server.responder = lambda req: (chat_stream(TEXT, pieces=5) if req.json.get("stream")
                                    else chat(TEXT))

    async def main():
        async with httpx.AsyncClient(event_hooks={"request": [hook]}) as client:
            one = await sm.astructured("item 7", SCHEMA, http_client=client, stream=stream)
            rows = await sm.abatch(["item 7"] * 3, SCHEMA, http_client=client,
                                   concurrency=3, stream=stream, dedup=False)
            return one, rows, client.is_closed

    one, rows, closed = asyncio.run(main())
    assert one.data == ANSWER and [r.data for r in rows] == [ANSWER] * 3
    assert not closed  # never closed by structmagic
    assert seen == [("/v1/chat/completions", threading.current_thread().name)] * 4
    assert all(r.headers["authorization"] == f"Bearer {settings_key()}"
               for r in server.requests)


def test_an_async_client_is_for_the_async_functions(server, settings):
    client = httpx.AsyncClient()
    with pytest.raises(sm.ConfigError, match="for the async functions"):
        sm.structured("item 7", SCHEMA, http_client=client)
    assert server.requests == []


def settings_key() -> str:
    from structmagic import config

    return config.resolve().key().get_secret_value()
