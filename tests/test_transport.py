"""The transport: the user's own ``http_client``, the retry policy's steps, stream progress,
and answers that are not what the API sends. (The catalogue of server faults is
``test_reliability.py``.)"""

from __future__ import annotations

import json
import math

import httpx
import pytest

import structmagic as sm
from structmagic import config
from structmagic.transport import retry

from fakeserver import Reply, chat, chat_stream
from schema_corpus import MATH
from sm_fixtures import CANARY

SCHEMA = MATH["json_schema"]["schema"]
ANSWER = {"steps": [{"explanation": "e", "output": "o"}], "final_answer": "9.8"}
TEXT = json.dumps(ANSWER)


def _ok_handler(seen: list[httpx.Request]):
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=json.loads(chat(TEXT).body))
    return handle


# --- the user's own client ---------------------------------------------------------------------


def test_a_mock_transport_client_sees_the_request_and_is_never_closed(settings):
    seen: list[httpx.Request] = []
    client = httpx.Client(transport=httpx.MockTransport(_ok_handler(seen)))
    res = sm.structured("q", SCHEMA, base_url="https://api.example.test/v1", http_client=client)
    assert res.data == ANSWER and res.attempts == 1
    (request,) = seen
    assert str(request.url) == "https://api.example.test/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {CANARY}"
    assert json.loads(request.content)["response_format"]["json_schema"]["schema"] == SCHEMA
    assert not client.is_closed
    client.close()


def test_configure_and_batch_take_the_client(settings):
    seen: list[httpx.Request] = []
    client = httpx.Client(transport=httpx.MockTransport(_ok_handler(seen)))
    config.configure(http_client=client, base_url="https://relay.example.test/v1")
    try:
        results = sm.batch(["a", "b", "c"], SCHEMA, concurrency=2)
        assert [r.data for r in results] == [ANSWER] * 3
        assert len(seen) == 3
        assert "http_client" in config.resolve().masked()
        assert "MockTransport" not in repr(config.resolve())
    finally:
        config.configure(http_client=None)
    assert not client.is_closed
    client.close()


def test_the_clients_own_headers_and_hooks_apply(server, settings):
    hooked: list[str] = []
    client = httpx.Client(headers={"x-proxy-token": "team-7"},
                          event_hooks={"request": [lambda r: hooked.append(r.url.path)]})
    server.queue(chat(TEXT))
    sm.structured("q", SCHEMA, http_client=client)
    assert server.requests[0].headers["x-proxy-token"] == "team-7"
    assert hooked == ["/v1/chat/completions"]
    client.close()


@pytest.mark.parametrize(("client", "message"), [
    (httpx.AsyncClient(), "for the async functions"),
    ("http://proxy:3128", "must be an httpx.Client"),
])
def test_a_client_that_cannot_be_used_is_a_config_error(settings, client, message):
    with pytest.raises(sm.ConfigError, match=message):
        sm.structured("q", SCHEMA, http_client=client)


def test_a_closed_client_is_a_config_error(settings):
    client = httpx.Client()
    client.close()
    with pytest.raises(sm.ConfigError, match="has been closed"):
        sm.structured("q", SCHEMA, http_client=client)


def test_transport_failures_through_the_users_client_are_retried(settings, sleeps):
    calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ConnectError("refused by the mock")
        return httpx.Response(200, json=json.loads(chat(TEXT).body))

    client = httpx.Client(transport=httpx.MockTransport(flaky))
    res = sm.structured("q", SCHEMA, base_url="https://x.test/v1", http_client=client)
    assert res.attempts == 3 and len(sleeps) == 2
    client.close()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_status_error_raised_by_the_users_hook_is_read_as_the_answer_it_carries(
        server, settings, sleeps, stream):
    """httpx documents ``event_hooks={"response": [lambda r: r.raise_for_status()]}``: the
    ``HTTPStatusError`` it raises carries the server's answer. A 429 is retried after the
    wait it asks for; a 401 is an AuthenticationError; not "could not reach"."""
    client = httpx.Client(event_hooks={"response": [lambda r: r.raise_for_status()]})
    server.queue(Reply.status(429, "slow down", headers={"retry-after": "2"}),
                 chat_stream(TEXT) if stream else chat(TEXT))
    try:
        res = sm.structured("q", SCHEMA, http_client=client, stream=stream)
        assert res.data == ANSWER and res.attempts == 2
        assert sleeps == [2.0] and len(server.requests) == 2
        server.queue(Reply.status(401, "bad key"))
        with pytest.raises(sm.AuthenticationError, match="HTTP 401"):
            sm.structured("q", SCHEMA, http_client=client, stream=stream)
        assert len(server.requests) == 3  # never retried
    finally:
        client.close()


# --- the retry policy, step by step ------------------------------------------------------------


@pytest.mark.parametrize(("status", "headers", "expected"), [
    (408, {}, True), (409, {}, True), (429, {}, True), (500, {}, True), (503, {}, True),
    (599, {}, True), (400, {}, False), (404, {}, False), (422, {}, False),
    (400, {"x-should-retry": "true"}, True), (503, {"x-should-retry": "false"}, False),
])
def test_should_retry(status, headers, expected):
    assert retry.should_retry(status, headers) is expected


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, None),
    ({"retry-after": "2"}, 2.0),
    ({"retry-after": "0.25"}, 0.25),
    ({"retry-after": "-3"}, 0.0),
    ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
    ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
    ({"retry-after": "inf"}, None),
    ({"retry-after": "1e999"}, None),
    ({"retry-after": "nan"}, None),
    ({"retry-after-ms": "inf"}, None),
    ({"retry-after": "whenever"}, None),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0),
    ({"retry-after": "Wed, 21 Oct 2015 07:27:00 GMT"}, 0.0),
])
def test_retry_after(headers, expected):
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry.retry_after(headers, now=lambda: now) == expected


def test_backoff_doubles_to_the_cap_with_up_to_a_quarter_of_jitter():
    assert [retry.backoff(n, jitter=lambda: 0.0) for n in range(6)] == [0.5, 1, 2, 4, 8, 8]
    assert retry.backoff(0, jitter=lambda: 1.0) == 0.375
    assert all(0.375 <= retry.backoff(0) <= 0.5 for _ in range(50))


def test_wait_before_retry_names_what_the_server_asked_beyond_the_cap():
    err = sm.RateLimitError("HTTP 429", status=429, retry_after=90.0)
    assert retry.wait_before_retry(0, err, 3.0, cap=60.0) == 3.0
    assert math.isclose(retry.wait_before_retry(2, err, None, cap=60.0), 2.0, rel_tol=0.25)
    with pytest.raises(sm.RateLimitError, match="asks to wait 90 s") as info:
        retry.wait_before_retry(0, err, 90.0, cap=60.0)
    assert info.value.status == 429


@pytest.mark.parametrize("value", ["inf", "1e999", "NaN"])
def test_a_non_finite_retry_after_falls_back_to_the_backoff(server, settings, sleeps, value):
    server.queue(Reply.status(429, "slow down", headers={"retry-after": value}), chat(TEXT))
    res = sm.structured("q", SCHEMA)
    assert res.data == ANSWER and res.attempts == 2
    assert len(sleeps) == 1 and 0.375 <= sleeps[0] <= 0.5


# --- streams -----------------------------------------------------------------------------------


def test_keep_alives_alone_do_not_hold_the_timeout_off(server, settings, clock, sleeps):
    clock.step = 0.4  # every reading of the clock moves it 0.4 s
    pings = Reply.sse([": OPENROUTER PROCESSING\n\n"] * 40, delay=0.005)
    server.queue(pings, pings, pings)
    with pytest.raises(sm.APITimeoutError, match="No progress in the answer") as info:
        sm.structured("q", SCHEMA, stream=True, timeout=1)
    assert info.value.attempts == 3  # nothing had arrived: retried like a timeout
    assert len(server.requests) == 3


def test_keep_alives_after_part_of_the_answer_are_a_stream_error(server, settings, clock):
    clock.step = 0.4  # every reading of the clock moves it 0.4 s
    head = chat_stream(TEXT[:20], finish_reason=None, include_usage=False, done=False)
    server.queue(Reply.sse([head.pieces[0].decode(), head.pieces[1].decode(),
                            *[": keep-alive\n\n"] * 30], delay=0.005))
    with pytest.raises(sm.StreamError, match="No progress") as info:
        sm.structured("q", SCHEMA, stream=True, timeout=1)
    assert info.value.attempts == 1 and len(server.requests) == 1


def test_a_steady_stream_is_not_cut_by_the_progress_check(server, settings, clock):
    clock.step = 0.4  # every reading of the clock moves it 0.4 s
    server.queue(chat_stream(TEXT, pieces=30, keepalive=True))
    assert sm.structured("q", SCHEMA, stream=True, timeout=1).data == ANSWER


def test_an_html_page_to_a_stream_request_is_not_json(server, settings):
    page = "<html><head><title>Sign in</title></head><body><h1>Wi-Fi login</h1></body></html>"
    server.queue(Reply.text(page, 200, "text/html"))
    with pytest.raises(sm.BadRequestError, match="the body is not JSON: Sign in Wi-Fi login"):
        sm.structured("q", SCHEMA, stream=True)
    assert len(server.requests) == 1


def test_plain_text_that_is_no_event_stream_is_not_json(server, settings):
    server.queue(Reply.text("upstream connect error or disconnect/reset before headers", 200))
    with pytest.raises(sm.BadRequestError, match="upstream connect error"):
        sm.structured("q", SCHEMA, stream=True)


def test_an_error_chunk_beside_choices_is_a_stream_error_and_not_reasked(server, settings):
    from fakeserver import sse_event

    chunk = {"id": "gen-1", "object": "chat.completion.chunk", "model": "m",
             "error": {"code": 502, "message": "Upstream provider returned an error"},
             "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}
    head = chat_stream(TEXT[:15], finish_reason=None, include_usage=False, done=False)
    server.queue(Reply.sse([*[p.decode() for p in head.pieces[:2]], sse_event(chunk),
                            "data: [DONE]\n\n"]))
    with pytest.raises(sm.StreamError, match="Upstream provider returned an error") as info:
        sm.structured("q", SCHEMA, stream=True)
    assert len(server.requests) == 1 and info.value.attempts == 1


def test_a_lone_surrogate_is_an_input_error_before_any_request(server, settings):
    with pytest.raises(sm.InputError, match="lone surrogate"):
        sm.structured("bad \ud800 text", SCHEMA)
    with pytest.raises(sm.InputError, match="NaN"):
        sm.structured("q", SCHEMA, temperature=float("nan"))
    assert server.requests == []


def test_the_shared_client_is_closed_at_exit(server):
    """A script that made a call exits without an unclosed socket (a ResourceWarning
    under ``python -X dev``): the shared client closes its connections at exit."""
    import subprocess
    import sys

    server.queue(chat(TEXT))
    code = (
        "import structmagic as sm\n"
        f"sm.configure(base_url={server.url + '/v1'!r}, api_key='sk-exit-test', cache='off')\n"
        f"print(sm.structured('hi', {SCHEMA!r}).plain['final_answer'])\n"
    )
    out = subprocess.run([sys.executable, "-X", "dev", "-W", "always::ResourceWarning",
                          "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "9.8"
    assert "ResourceWarning" not in out.stderr, out.stderr


# --- the one retry loop: every kind of request retries alike ----------------------------------


def _a_call(server):
    from providers import anthropic

    server.queue(anthropic(TEXT))
    return sm.structured("q", SCHEMA, provider="anthropic", retries=2).data


def _a_count(server):
    server.queue(Reply.json({"input_tokens": 42}))
    return sm.estimate(["q"], SCHEMA, provider="anthropic", exact=True,
                       prices={"test-model": (1, 1)}).input_tokens.expected


@pytest.mark.parametrize(("ask", "answer"), [(_a_call, ANSWER), (_a_count, 42)],
                         ids=["call", "token count"])
def test_every_kind_of_request_retries_through_the_one_loop(server, settings, sleeps, ask,
                                                            answer):
    """A call and a token count: the same statuses retried, the same back-off waited on
    structmagic's clock, the same error when the attempts are spent."""
    server.queue(Reply.status(503, "busy"), Reply.status(502, "bad gateway"))
    assert ask(server) == answer
    assert len(server.requests) == 3 and len(sleeps) == 2
    assert 0.375 <= sleeps[0] <= 0.5 and 0.75 <= sleeps[1] <= 1.0  # 0.5 s doubling, jitter
    server.reset()
    sleeps.clear()
    server.queue(*[Reply.status(503, "busy")] * 3)
    with pytest.raises(sm.ServerError, match="HTTP 503") as info:
        ask(server)
    assert info.value.attempts == 3 and len(server.requests) == 3 and len(sleeps) == 2
    assert "Gave up after 3 attempts" in str(info.value)
    server.reset()
    server.queue(Reply.status(400, "no such thing"))
    with pytest.raises(sm.BadRequestError) as info:
        ask(server)
    assert info.value.attempts == 1 and len(server.requests) == 1


# --- the main thread waits, the request runs on a worker -------------------------------------


def test_a_stream_is_read_on_a_worker_and_shown_on_the_calling_thread(server, settings):
    """Called on the main thread, the request runs on a worker (an interrupt lands at once,
    see test_reliability.py); ``on_partial`` and the widget are still called on the main
    thread, in order, and the last partial value is the answer."""
    import threading

    class Observer:
        def __init__(self) -> None:
            self.threads: set[str] = set()
            self.values: list = []

        def update(self, partial, *, reasoning=None, usage=None) -> None:
            self.threads.add(threading.current_thread().name)
            self.values.append(partial)

    seen_threads: set[str] = set()
    partials: list = []

    def on_partial(value) -> None:
        seen_threads.add(threading.current_thread().name)
        partials.append(value)

    requests_on: list[str] = []
    client = httpx.Client(event_hooks={"request": [
        lambda r: requests_on.append(threading.current_thread().name)]})
    observer = Observer()
    server.queue(chat_stream(TEXT, pieces=30, delay=0.001))
    try:
        res = sm.structured("q", SCHEMA, stream=True, on_partial=on_partial,
                            observer=observer, http_client=client)
    finally:
        client.close()
    main = threading.main_thread().name
    assert seen_threads == {main} and observer.threads == {main}
    assert requests_on and requests_on[0].startswith("structmagic-worker")
    assert partials[-1] == ANSWER == res.data and observer.values[-1] == ANSWER
    sizes = [len(json.dumps(p)) for p in partials]
    assert sizes == sorted(sizes)  # in the order they were parsed
