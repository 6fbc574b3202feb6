"""Faults and bad answers against the loopback fake server made to misbehave.

Every case is named; the README's "Reliability" section lists them with their behaviour.
Every test here runs with a distinctive canary key; an autouse check searches each error's
text and repr, the captured output and the log records for it after every case.
"""

from __future__ import annotations

import _thread
import json
import threading
import time

import pytest

import structmagic as sm

from fakeserver import Reply, chat, chat_stream

SCHEMA = {
    "type": "object",
    "properties": {
        "steps": {"type": "array", "items": {"type": "string"}},
        "answer": {"type": "string"},
    },
    "required": ["steps", "answer"],
    "additionalProperties": False,
}
GOOD = {"steps": ["compare 9.11 and 9.80", "0.80 > 0.11"], "answer": "9.8"}
GOOD_TEXT = json.dumps(GOOD)
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
    "Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n"
)
CF_524 = (
    "<!DOCTYPE html><html><head><title>api.example.com | 524: A timeout occurred</title>"
    "<style>body{font-family:sans-serif}</style><script>var x = 1;</script></head><body>"
    + "<div class='cf-error-details'>The origin web server timed out responding.</div>" * 20
    + "</body></html>"
)


def ask(**kw):
    return sm.structured("Which is larger, 9.11 or 9.8?", SCHEMA, **kw)


# --- transport retries --------------------------------------------------------------------


def test_connection_refused_is_a_transport_error(settings):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(sm.TransportError) as info:
        ask(base_url=f"http://127.0.0.1:{port}/v1", retries=1)
    assert "Could not reach" in str(info.value)
    assert "Gave up after 2 attempts" in str(info.value)


def test_dropped_connection_is_retried(server, settings):
    server.queue(Reply.drop(), chat(GOOD_TEXT))
    res = ask()
    assert res.data == GOOD and res.attempts == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 409])
def test_retryable_statuses(server, settings, status):
    server.queue(Reply.status(status, "try again"), chat(GOOD_TEXT))
    res = ask()
    assert res.attempts == 2


def test_retries_exhausted_reports_last_error(server, settings):
    server.queue(*[Reply.status(503, "overloaded")] * 3)
    with pytest.raises(sm.ServerError) as info:
        ask(retries=2)
    assert info.value.status == 503
    assert "Gave up after 3 attempts" in str(info.value)
    assert len(server.requests) == 3


def test_retries_zero_means_one_attempt(server, settings):
    server.queue(Reply.status(500, "x"), chat(GOOD_TEXT))
    with pytest.raises(sm.ServerError):
        ask(retries=0)
    assert len(server.requests) == 1


def test_429_retry_after_seconds_is_honoured(server, settings, sleeps):
    server.queue(Reply.status(429, "slow down", headers={"retry-after": "2"}), chat(GOOD_TEXT))
    res = ask()
    assert res.attempts == 2
    assert sleeps == [2.0]


def test_429_retry_after_ms_wins(server, settings, sleeps):
    server.queue(
        Reply.status(429, "slow", headers={"retry-after-ms": "1500", "retry-after": "9"}),
        chat(GOOD_TEXT),
    )
    ask()
    assert sleeps == [1.5]


def test_429_retry_after_http_date(server, settings, clock, sleeps):
    from email.utils import formatdate

    server.queue(
        Reply.status(429, "slow", headers={"retry-after": formatdate(clock.time() + 3,
                                                                     usegmt=True)}),
        chat(GOOD_TEXT),
    )
    ask()
    assert len(sleeps) == 1 and 2 < sleeps[0] <= 3  # until then, on structmagic's clock


def test_429_retry_after_beyond_cap_fails_at_once(server, settings, sleeps):
    server.queue(Reply.status(429, "quota", headers={"retry-after": "3600"}))
    with pytest.raises(sm.RateLimitError, match="3600 s"):
        ask()
    assert sleeps == [] and len(server.requests) == 1


def test_backoff_doubles_with_jitter(server, settings, sleeps):
    server.queue(*[Reply.status(500, "x")] * 3, chat(GOOD_TEXT))
    ask(retries=3)
    assert len(sleeps) == 3
    for got, base in zip(sleeps, (0.5, 1.0, 2.0), strict=True):
        assert base * 0.75 <= got <= base


def test_x_should_retry_overrides(server, settings):
    server.queue(Reply.status(500, "no", headers={"x-should-retry": "false"}))
    with pytest.raises(sm.ServerError):
        ask()
    assert len(server.requests) == 1
    server.reset()
    server.queue(Reply.status(400, "flaky", headers={"x-should-retry": "true"}), chat(GOOD_TEXT))
    assert ask().attempts == 2


@pytest.mark.parametrize("status", [400, 404, 422])
def test_other_4xx_not_retried(server, settings, status):
    server.queue(Reply.status(status, "you sent something odd"))
    with pytest.raises(sm.BadRequestError, match="you sent something odd"):
        ask(mode="json_schema")
    assert len(server.requests) == 1


# --- error bodies -------------------------------------------------------------------------


def test_html_error_page_gives_status_and_short_excerpt(server, settings):
    server.queue(*[Reply.text(HTML_502, status=502, content_type="text/html")] * 3)
    with pytest.raises(sm.ServerError) as info:
        ask()
    text = str(info.value)
    assert "HTTP 502" in text and "502 Bad Gateway" in text
    assert "<" not in text and "center" not in text
    assert len(text) < 600


def test_cloudflare_524_is_short(server, settings):
    server.queue(*[Reply.text(CF_524, status=524, content_type="text/html")] * 3)
    with pytest.raises(sm.ServerError) as info:
        ask()
    assert "524" in str(info.value)
    assert "var x" not in str(info.value) and "font-family" not in str(info.value)
    assert len(str(info.value)) < 600


def test_empty_error_body(server, settings):
    server.queue(*[Reply.text("", status=500)] * 3)
    with pytest.raises(sm.ServerError, match="empty body"):
        ask()


def test_200_with_html_body(server, settings):
    server.queue(Reply.text("<html><body>Welcome to nginx!</body></html>", status=200,
                            content_type="text/html"))
    with pytest.raises(sm.BadRequestError, match="not JSON") as info:
        ask()
    assert "Welcome to nginx!" in str(info.value) and "<body>" not in str(info.value)


# --- authentication -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_name_the_key_source_never_the_key(server, settings, status):
    server.queue(Reply.status(status, "Incorrect API key provided"))
    with pytest.raises(sm.AuthenticationError) as info:
        ask()
    assert info.value.key_source == "structmagic.configure(api_key=...)"
    assert "structmagic.configure(api_key=...)" in str(info.value)
    assert len(server.requests) == 1


def test_401_echoing_the_key_is_scrubbed(server, settings, canary):
    server.queue(Reply.status(401, "bad key", echo_auth=True))
    with pytest.raises(sm.AuthenticationError) as info:
        ask()
    assert canary not in str(info.value) and canary[-6:] not in str(info.value)
    assert canary not in info.value.body_excerpt


def test_missing_key_for_remote_host_is_a_config_error(settings):
    sm.configure(api_key=None)
    with pytest.raises(sm.ConfigError, match="OPENAI_API_KEY"):
        ask(base_url="https://api.invalid.example/v1")


# --- answers that are not values ---------------------------------------------------------


def test_refusal_is_not_retried(server, settings):
    server.queue(chat(None, refusal="I'm sorry, I can't help with that."))
    with pytest.raises(sm.RefusalError) as info:
        ask()
    assert info.value.refusal == "I'm sorry, I can't help with that."
    assert len(server.requests) == 1


def test_refusal_stream(server, settings):
    server.queue(chat_stream("", refusal="I can't do that.", pieces=3))
    with pytest.raises(sm.RefusalError, match=r"I can't do that\."):
        ask(stream=True)


def test_truncation_suggests_max_tokens(server, settings):
    server.queue(chat('{"steps": ["a", "b', finish_reason="length"))
    with pytest.raises(sm.TruncatedError, match="--max-tokens"):
        ask()
    assert len(server.requests) == 1


def test_truncated_stream(server, settings):
    server.queue(chat_stream('{"steps": ["a", "b', finish_reason="length", pieces=4))
    with pytest.raises(sm.TruncatedError):
        ask(stream=True)


def test_content_filter(server, settings):
    server.queue(chat("", finish_reason="content_filter"))
    with pytest.raises(sm.ContentFilterError):
        ask()


def test_invalid_twice_carries_every_error_and_raw(server, settings):
    bad = json.dumps({"steps": [1, 2], "answer": None, "extra": True})
    server.queue(chat(bad, usage=(5, 5)), chat(bad, usage=(5, 5)))
    with pytest.raises(sm.InvalidOutputError) as info:
        ask()
    paths = sorted(i.path for i in info.value.errors)
    assert paths == ["$", "$.answer", "$.steps[0]", "$.steps[1]"]
    assert info.value.raw == bad
    assert "after 2 tries" in str(info.value)


def test_reasks_option(server, settings):
    server.queue(*[chat("{}")] * 3, chat(GOOD_TEXT))
    res = ask(reasks=3)
    assert res.attempts == 4
    assert len(server.requests) == 4
    assert len(server.requests[-1].json["messages"]) == 1 + 2 * 3


def test_no_json_at_all_steps_down_at_once_or_is_reasked(server, settings):
    # --mode auto: the server ignored json_schema; asked the next way, no re-ask spent
    server.queue(chat("I believe 9.8 is larger."), chat(GOOD_TEXT))
    res = ask()
    assert res.data == GOOD and res.mode == "json_object" and res.attempts == 2
    second = server.requests[1].json
    assert second["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in second["messages"]] == ["system", "user"]
    # a mode chosen explicitly is re-asked, the problem listed
    server.reset()
    server.queue(chat("I believe 9.8 is larger."), chat(GOOD_TEXT))
    assert ask(mode="json_schema").data == GOOD
    assert "contains no JSON" in server.requests[1].json["messages"][-1]["content"]


def test_prose_around_json_is_recovered(server, settings):
    server.queue(chat("Sure! " + GOOD_TEXT + " Hope that helps."))
    assert ask().data == GOOD and len(server.requests) == 1


def test_fenced_json_in_stream_is_recovered(server, settings):
    server.queue(chat_stream("```json\n" + GOOD_TEXT + "\n```", pieces=7))
    assert ask(stream=True).data == GOOD


def test_echoed_other_model_is_reported(server, settings):
    server.queue(chat(GOOD_TEXT, model="gpt-4o-mini-2024-07-18"))
    assert ask().model == "gpt-4o-mini-2024-07-18"


# --- response format fallbacks ---------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "response_format json_schema is not supported with this model",
        "Invalid value for 'response_format': supported values are: `json_object` and `text`.",
        "The following features are not supported by xgrammar: pattern",
    ],
)
def test_auto_steps_down_and_remembers(server, settings, message):
    server.queue(Reply.status(400, message), Reply.status(400, message), chat(GOOD_TEXT))
    res = ask()
    assert res.data == GOOD and res.mode == "json_object"
    kinds = [r.json.get("response_format", {}) for r in server.requests]
    assert kinds[0]["json_schema"]["strict"] is True
    assert kinds[1]["json_schema"]["strict"] is False
    assert kinds[2] == {"type": "json_object"}
    assert "JSON Schema" in server.requests[2].json["messages"][0]["content"]
    server.reset()
    server.queue(chat(GOOD_TEXT))
    assert ask().mode == "json_object"  # remembered for this (provider, base URL, model)
    assert server.requests[0].json["response_format"] == {"type": "json_object"}


def test_auto_reaches_tools(server, settings):
    reject = Reply.status(400, "response_format is not supported by this server")
    tool_answer = chat(None, tool_call=GOOD_TEXT, finish_reason="tool_calls")
    server.queue(reject, reject, reject, tool_answer)
    res = ask()
    assert res.mode == "tools" and res.data == GOOD
    body = server.requests[-1].json
    assert body["tools"][0]["function"]["parameters"]["required"] == ["steps", "answer"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "response"}}


def test_rejection_behind_a_502_is_recognised(server, settings):
    wrapped = "upstream error: 400 response_format json_schema not supported"
    server.queue(Reply.status(502, wrapped), chat(GOOD_TEXT))
    assert ask().data == GOOD
    assert len(server.requests) == 2  # not retried as a 502, stepped down once


def test_explicit_mode_skips_detection(server, settings):
    server.queue(Reply.status(400, "json_schema not supported with this model"))
    with pytest.raises(sm.UnsupportedFormatError):
        ask(mode="json_schema")
    assert len(server.requests) == 1
    server.queue(chat(GOOD_TEXT))
    ask(mode="json_object")
    assert server.requests[-1].json["response_format"] == {"type": "json_object"}


# --- streams that end badly ----------------------------------------------------------------


def test_stream_without_done_or_finish_is_an_error(server, settings):
    server.queue(chat_stream(GOOD_TEXT, pieces=5, done=False, finish_reason=None,
                             include_usage=False))
    with pytest.raises(sm.StreamError, match="ended before the answer was complete"):
        ask(stream=True)


def test_stream_with_finish_but_no_done_is_accepted(server, settings):
    server.queue(chat_stream(GOOD_TEXT, pieces=5, done=False))
    assert ask(stream=True).data == GOOD


def test_stream_error_event_after_200(server, settings):
    server.queue(chat_stream(GOOD_TEXT, pieces=6,
                             error_event={"message": "upstream overloaded", "code": 502}))
    with pytest.raises(sm.StreamError, match="upstream overloaded") as info:
        ask(stream=True)
    assert info.value.partial is not None


def test_stream_broken_mid_way_keeps_partial_and_is_not_retried(server, settings):
    server.queue(chat_stream(GOOD_TEXT, pieces=10, break_after=6), chat(GOOD_TEXT))
    with pytest.raises(sm.StreamError, match="broke off") as info:
        ask(stream=True)
    assert isinstance(info.value.partial, dict)
    assert len(server.requests) == 1


def test_stalled_stream_is_a_timeout_not_a_hang(server, settings):
    server.queue(chat_stream(GOOD_TEXT, pieces=10, stall_after=4, stall_seconds=5))
    t0 = time.monotonic()
    with pytest.raises(sm.StreamError, match="Timed out"):
        ask(stream=True, timeout=0.5)
    assert time.monotonic() - t0 < 4


def test_read_timeout_before_any_answer(server, settings):
    server.queue(Reply.hang(5), Reply.hang(5))
    t0 = time.monotonic()
    with pytest.raises(sm.APITimeoutError, match="--timeout"):
        ask(timeout=0.3, retries=1)
    assert time.monotonic() - t0 < 4
    assert len(server.requests) == 2


def test_messy_but_valid_stream(server, settings):
    server.queue(chat_stream(GOOD_TEXT, pieces=9, keepalive=True, empty_first_chunk=True,
                             intermediate_empty_finish=True, line_ending="\r\n"))
    assert ask(stream=True).data == GOOD


def test_stream_split_into_tiny_writes(server, settings):
    text = json.dumps({"steps": ["比较 9.11 和 9.8", "0.8 > 0.11 ✅"], "answer": "9.8 更大"},
                      ensure_ascii=False)
    server.queue(chat_stream(text, pieces=13, split_bytes=3))
    assert ask(stream=True).data["answer"] == "9.8 更大"


def test_proxy_that_ignores_stream(server, settings):
    server.queue(chat(GOOD_TEXT))
    seen = []
    assert ask(stream=True, on_partial=seen.append).data == GOOD
    assert seen and seen[-1] == GOOD


# --- interrupts -----------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_interrupt_while_waiting_leaves_everything_usable(server, settings, sigint, stream):
    if stream:
        server.queue(chat_stream(GOOD_TEXT, pieces=10, stall_after=3, stall_seconds=5))
    else:
        server.queue(Reply.hang(5))
    sigint.after_requests(1)  # the server holds the answer back: the interrupt lands there
    with pytest.raises(KeyboardInterrupt):
        ask(stream=stream)
    server.queue(chat(GOOD_TEXT))
    # usable at once: the next request does not go down the interrupted connection (with no
    # retry, a request sent there would fail: the server still holds it)
    assert ask(retries=0).data == GOOD
    assert server.requests[1].connection != server.requests[0].connection


@pytest.mark.parametrize("stream", [False, True])
def test_an_interrupt_delivered_between_bytecodes_lands_while_the_server_holds_the_answer(
        server, settings, sigint, stream):
    """On Windows, ipykernel interrupts with ``_thread.interrupt_main()``, which Python
    delivers only between bytecodes: a main thread blocked in a socket read would see it
    when the server answers. The request runs on a worker and the main thread waits in short
    slices, so the interrupt lands while the answer is still held."""
    release, answered = threading.Event(), threading.Event()

    def respond(req):
        release.wait(10)
        answered.set()
        return chat_stream(GOOD_TEXT, pieces=3) if stream else chat(GOOD_TEXT)

    server.responder = respond

    def interrupt() -> None:
        server.wait_for_requests(1, 10)
        _thread.interrupt_main()

    thread = threading.Thread(target=interrupt, daemon=True)
    thread.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            ask(stream=stream)
        assert not answered.is_set(), "the interrupt waited for the server's answer"
    finally:
        release.set()
        thread.join(5)
    server.responder = None
    server.queue(chat(GOOD_TEXT))
    assert ask(retries=0).data == GOOD  # and everything is usable at once


def test_the_system_clock_sleeps_in_slices_an_interrupt_can_land_between(sigint):
    from structmagic.config import SYSTEM_CLOCK

    timer = threading.Timer(0.05, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        SYSTEM_CLOCK.sleep(30)
    timer.join()
    assert time.monotonic() - started < 5


def test_interrupt_in_magic_keeps_name(ip, server, settings, sigint):
    server.queue(Reply.hang(5))
    ip.user_ns.update(schema=SCHEMA, out="before")
    sigint.after_requests(1)
    res = ip.run_cell("%%structured schema -o out\nq", store_history=False)
    assert isinstance(res.error_in_exec, KeyboardInterrupt)
    assert ip.user_ns["out"] == "before"
