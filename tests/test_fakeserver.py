"""Self-tests of the fake LLM server, with plain httpx (no structmagic involved)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from typing import Any

import httpx
import pytest

from fakeserver import (
    FakeLLMServer,
    RecordedRequest,
    Reply,
    chat,
    chat_stream,
    echo_schema_responder,
    sse_buffered,
    sse_event,
    sse_split_bytes,
)

pytestmark = pytest.mark.timeout(10)

TIMEOUT = httpx.Timeout(2.0, connect=1.0)
TEXT = '{"steps": ["比较 9.11 和 9.8", "0.8 > 0.11 ✅"], "answer": "9.8 更大"}'


def parse_sse(text: str) -> list[str]:
    """The ``data`` of each event (comments dropped, CR / LF / CRLF endings)."""
    events: list[str] = []
    data: list[str] = []
    for line in re.split(r"\r\n|\r|\n", text):
        if not line:
            if data:
                events.append("\n".join(data))
                data = []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            if name == "data":
                data.append(value.removeprefix(" "))
    if data:
        events.append("\n".join(data))
    return events


def chunks_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(d) for d in parse_sse(text) if d.strip() and d != "[DONE]"]


def joined(text: str, key: str) -> str:
    """Concatenated ``choices[0].delta[key]`` of a chat stream."""
    out = ""
    for obj in chunks_of(text):
        for choice in obj.get("choices") or ():
            out += choice["delta"].get(key) or ""
    return out


@pytest.fixture
def client(fake_server: FakeLLMServer):
    with httpx.Client(base_url=fake_server.url + "/v1", timeout=TIMEOUT) as c:
        yield c


def post(client: httpx.Client, body: Any = None, **kw: Any) -> httpx.Response:
    return client.post("/chat/completions", json=body or {"model": "m"}, **kw)


# --- reply kinds -------------------------------------------------------------------------------


def test_json_reply(fake_server, client):
    fake_server.queue(Reply.json({"a": "é", "b": [1]}, status=201, headers={"X-Test": "1"}))
    r = post(client)
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-test"] == "1"
    assert r.headers["content-length"] == str(len(r.content))
    assert r.json() == {"a": "é", "b": [1]}


def test_text_replies_html_error_page_and_empty_body(fake_server, client):
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    fake_server.queue(Reply.text(page, 502, "text/html"), Reply.text("", 524),
                      Reply.text(b"\xff\xfe", 200, "application/octet-stream"))
    r = post(client)
    assert (r.status_code, r.headers["content-type"], r.text) == (502, "text/html", page)
    r = post(client)
    assert (r.status_code, r.content, r.reason_phrase) == (524, b"", "A Timeout Occurred")
    assert post(client).content == b"\xff\xfe"


def test_status_reply_is_an_openai_error(fake_server, client):
    fake_server.queue(
        Reply.status(429, "slow down", headers={"retry-after-ms": "1500", "retry-after": "2"}),
        Reply.status(400, "bad", error_type="invalid_request_error", error_code="bad_schema"),
        Reply.status(503),
    )
    r = post(client)
    assert r.status_code == 429
    assert (r.headers["retry-after-ms"], r.headers["retry-after"]) == ("1500", "2")
    assert r.json() == {"error": {"message": "slow down", "type": "requests", "param": None,
                                  "code": None}}
    assert post(client).json()["error"] == {"message": "bad", "type": "invalid_request_error",
                                            "param": None, "code": "bad_schema"}
    assert post(client).json()["error"]["type"] == "server_error"


def test_status_echo_auth_repeats_the_credentials(fake_server, client):
    reply = Reply.status(401, "Incorrect API key provided", echo_auth=True)
    fake_server.queue(reply, reply)
    r = post(client, headers={"Authorization": "Bearer sk-canary-123456"})
    assert r.status_code == 401
    message = r.json()["error"]["message"]
    assert message.startswith("Incorrect API key provided")
    assert "Bearer sk-canary-123456" in message
    r = client.post("/x?alt=sse&key=AIza-secret", headers={"x-goog-api-key": "AIza-header"})
    assert "AIza-header" in r.json()["error"]["message"]
    assert "key=AIza-secret" in r.json()["error"]["message"]
    assert reply.body == Reply.status(401, "Incorrect API key provided").body  # not mutated


def test_default_reply_is_500_and_responder_follows_the_queue(fake_server, client):
    r = post(client)
    assert r.status_code == 500
    assert r.json()["error"]["message"] == "fake server: no reply queued"
    fake_server.responder = lambda req: Reply.json({"from": "responder", "path": req.path})
    fake_server.queue(Reply.json({"from": "queue"}))
    assert post(client).json() == {"from": "queue"}
    assert post(client).json() == {"from": "responder", "path": "/v1/chat/completions"}
    assert fake_server.pending == 0


def test_responder_exception_is_a_500_and_recorded(fake_server, client):
    def boom(req: RecordedRequest) -> Reply:
        raise ValueError("oops")

    fake_server.responder = boom
    r = post(client)
    assert r.status_code == 500 and "oops" in r.json()["error"]["message"]
    assert [type(e) for e in fake_server.errors] == [ValueError]
    fake_server.responder = None
    fake_server.queue(Reply.json({}))
    assert post(client).status_code == 200  # the connection and the server still work


def test_reset_forgets_everything(fake_server, client):
    fake_server.queue(Reply.json({}), Reply.json({}))
    fake_server.responder = lambda req: Reply.json({})
    post(client)
    fake_server.reset()
    assert (fake_server.requests, fake_server.pending, fake_server.responder) == ([], 0, None)
    assert post(client).status_code == 500


def test_raw_reply_bytes_as_given(fake_server, client):
    fake_server.queue(
        Reply.raw([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", b"X-Raw: yes\r\n\r\n", b"hello"],
                  delay=0.01),
        Reply.raw([b"this is not HTTP\r\n\r\n"]),
    )
    r = post(client)
    assert (r.status_code, r.headers["x-raw"], r.text) == (200, "yes", "hello")
    with pytest.raises(httpx.RemoteProtocolError):
        post(client)


def test_drop_is_a_connection_error(fake_server, client):
    fake_server.queue(Reply.drop())
    with pytest.raises(httpx.RemoteProtocolError):
        post(client)
    assert len(fake_server.requests) == 1  # the request was read before the drop


def test_hang_and_client_read_timeout(fake_server, client):
    fake_server.queue(Reply.hang(3))
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        post(client, timeout=httpx.Timeout(0.3, connect=1.0))
    assert time.monotonic() - start < 2.5


def test_hang_closes_after_its_time(fake_server, client):
    fake_server.queue(Reply.hang(0.2))
    with pytest.raises(httpx.RemoteProtocolError):
        post(client)


def test_connection_close_header_ends_keep_alive(fake_server, client):
    fake_server.queue(Reply.json({}, headers={"Connection": "close"}), Reply.json({}),
                      Reply.json({}))
    for _ in range(3):
        assert post(client).status_code == 200
    first, second, third = (r.connection for r in fake_server.requests)
    assert first != second == third


def test_sse_reply_chunked_keep_alive(fake_server, client):
    events = [sse_event({"n": 1}), b"data: 2\n\n", b"", ": comment\n\n", "data: [DONE]\n\n"]
    fake_server.queue(Reply.sse(events), Reply.json({"after": True}))
    r = post(client)
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in r.headers
    assert parse_sse(r.text) == ['{"n": 1}', "2", "[DONE]"]
    assert post(client).json() == {"after": True}
    assert fake_server.requests[0].connection == fake_server.requests[1].connection


@pytest.mark.parametrize("ending", ["\r\n", "\r"])
def test_sse_line_endings(fake_server, client, ending):
    fake_server.queue(Reply.sse([sse_event({"a": 1}), "data: [DONE]\n\n"], line_ending=ending))
    body = post(client).content
    assert body == f'data: {{"a": 1}}{ending}{ending}data: [DONE]{ending}{ending}'.encode()


def test_sse_framings(fake_server, client):
    events = [sse_event({"i": i}) for i in range(3)]
    fake_server.queue(Reply.sse(events, framing="close"), Reply.sse(events, framing="length"))
    r = post(client)
    assert r.headers["connection"] == "close" and "transfer-encoding" not in r.headers
    assert len(parse_sse(r.text)) == 3
    r = post(client)
    assert r.headers["content-length"] == str(len(r.content))
    assert len(parse_sse(r.text)) == 3
    assert fake_server.requests[0].connection != fake_server.requests[1].connection


def test_sse_delay_between_writes(fake_server, client):
    fake_server.queue(Reply.sse(["data: 1\n\n", "data: 2\n\n", "data: 3\n\n"], delay=0.15))
    start = time.monotonic()
    with client.stream("POST", "/chat/completions", json={}) as r:
        parts = r.iter_raw()
        first = next(parts)
        rest = b"".join(parts)
    assert first.startswith(b"data: 1\n\n")  # the first write did not wait for the others
    assert 0.29 <= time.monotonic() - start < 3
    assert first + rest == b"data: 1\n\ndata: 2\n\ndata: 3\n\n"


def test_break_after_truncates_the_body(fake_server, client):
    fake_server.queue(Reply.sse([f"data: {i}\n\n" for i in range(5)], break_after=2))
    received = b""
    with pytest.raises(httpx.RemoteProtocolError), \
            client.stream("POST", "/chat/completions", json={}) as r:
        for part in r.iter_raw():
            received += part
    assert received == b"data: 0\n\ndata: 1\n\n"


def test_stall_after_and_client_read_timeout(fake_server, client):
    fake_server.queue(Reply.sse([f"data: {i}\n\n" for i in range(5)], stall_after=2,
                                stall_seconds=3))
    received = b""
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout), client.stream(
            "POST", "/chat/completions", json={},
            timeout=httpx.Timeout(0.3, connect=1.0)) as r:
        for part in r.iter_raw():
            received += part
    assert received == b"data: 0\n\ndata: 1\n\n"
    assert time.monotonic() - start < 2.5


def test_short_stall_then_the_rest(fake_server, client):
    fake_server.queue(Reply.sse(["data: 0\n\n", "data: 1\n\n"], stall_after=1,
                                stall_seconds=0.2))
    start = time.monotonic()
    assert parse_sse(post(client).text) == ["0", "1"]
    assert time.monotonic() - start >= 0.18


def test_split_bytes_cuts_characters_and_lines(fake_server, client):
    reply = chat_stream(TEXT, pieces=4)
    fake_server.queue(sse_split_bytes(reply, 3), sse_split_bytes(reply, 1))
    seen: list[bytes] = []
    with client.stream("POST", "/chat/completions", json={}) as r:
        seen.extend(r.iter_raw())
    body = b"".join(seen)
    assert body == reply.body
    assert joined(body.decode(), "content") == TEXT
    assert post(client).content == reply.body


def test_trickle_calls_its_hook_before_each_write(fake_server, client):
    calls: list[int] = []
    fake_server.queue(Reply.trickle(b"abcdefg", every=3, before_write=calls.append))
    r = post(client)
    assert (r.content, r.headers["content-length"], calls) == (b"abcdefg", "7", [0, 1, 2])


def test_split_bytes_keeps_break_on_an_event_boundary(fake_server, client):
    events = ["data: ab\n\n", "data: cd\n\n", "data: ef\n\n"]
    fake_server.queue(Reply.sse(events, split_bytes=4, break_after=2))
    received = b""
    with pytest.raises(httpx.RemoteProtocolError), \
            client.stream("POST", "/chat/completions", json={}) as r:
        for part in r.iter_raw():
            received += part
    assert received == b"data: ab\n\ndata: cd\n\n"


def test_buffered_proxy_sends_one_body(fake_server, client):
    fake_server.queue(sse_buffered(chat_stream(TEXT, pieces=5, delay=1.0)))
    start = time.monotonic()
    r = post(client)
    assert time.monotonic() - start < 0.9
    assert r.headers["content-length"] == str(len(r.content))
    assert joined(r.text, "content") == TEXT


# --- chat helpers ------------------------------------------------------------------------------


def test_chat_body():
    body = json.loads(chat(TEXT, reasoning="think", usage=(3, 4), model="m1").body)
    assert body["object"] == "chat.completion" and body["model"] == "m1"
    assert body["created"] == 1_700_000_000
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"] == {"role": "assistant", "content": TEXT, "refusal": None,
                                 "reasoning_content": "think"}
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def test_chat_variants():
    refusal = json.loads(chat(None, refusal="no", reasoning="r", reasoning_field="reasoning",
                              usage=None).body)
    assert refusal["choices"][0]["message"]["content"] is None
    assert refusal["choices"][0]["message"]["refusal"] == "no"
    assert refusal["choices"][0]["message"]["reasoning"] == "r"
    assert "usage" not in refusal
    tool = json.loads(chat(None, tool_call='{"a": 1}', finish_reason="tool_calls").body)
    call = tool["choices"][0]["message"]["tool_calls"][0]
    assert call["type"] == "function"
    assert call["function"] == {"name": "response", "arguments": '{"a": 1}'}
    assert tool["choices"][0]["finish_reason"] == "tool_calls"


def test_chat_stream_over_http(fake_server, client):
    fake_server.queue(chat_stream(TEXT, pieces=7, reasoning="Let me think. 先想想。",
                                  usage=(5, 6)))
    r = post(client)
    objs = chunks_of(r.text)
    assert parse_sse(r.text)[-1] == "[DONE]"
    assert objs[0]["choices"][0]["delta"]["role"] == "assistant"
    assert {o["object"] for o in objs} == {"chat.completion.chunk"}
    assert joined(r.text, "reasoning_content") == "Let me think. 先想想。"
    assert joined(r.text, "content") == TEXT
    assert sum(1 for o in objs if o["choices"] and o["choices"][0]["delta"].get("content")) == 7
    assert objs[-2]["choices"][0]["finish_reason"] == "stop"
    assert objs[-1]["choices"] == []
    assert objs[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}
    # reasoning comes before content
    kinds = [next(iter(o["choices"][0]["delta"])) for o in objs[1:-2]]
    assert kinds == sorted(kinds, key=lambda k: k != "reasoning_content")


@pytest.mark.parametrize("kw", [{"piece_size": 1}, {"piece_size": 5}, {"pieces": 1},
                                {"pieces": 3}, {"pieces": 1000}, {}])
def test_chat_stream_pieces_rebuild_the_content(kw):
    text = chat_stream(TEXT, **kw).body.decode()
    assert joined(text, "content") == TEXT
    pieces = [o["choices"][0]["delta"]["content"] for o in chunks_of(text)
              if o["choices"] and o["choices"][0]["delta"].get("content")]
    assert all(pieces)
    if "pieces" in kw:
        assert len(pieces) == min(kw["pieces"], len(TEXT))
    if "piece_size" in kw:
        assert max(map(len, pieces)) == kw["piece_size"]


def test_chat_stream_refusal_and_no_usage():
    text = chat_stream("", refusal="I can't help with that.", pieces=3,
                       include_usage=False, finish_reason="stop").body.decode()
    assert joined(text, "refusal") == "I can't help with that."
    assert joined(text, "content") == ""
    assert all(o["choices"] for o in chunks_of(text))


def test_chat_stream_faults():
    text = chat_stream(TEXT, pieces=6, keepalive=True, empty_first_chunk=True,
                       intermediate_empty_finish=True, empty_data=True, data_space=False,
                       reasoning="x", reasoning_field="reasoning").body.decode()
    assert text.startswith(": OPENROUTER PROCESSING\n\n")
    assert text.count(": OPENROUTER PROCESSING") >= 3
    assert "\ndata:\n\n" in text
    assert "data: " not in text
    objs = chunks_of(text)
    assert objs[0]["choices"] == []
    finishes = [o["choices"][0]["finish_reason"] for o in objs if o["choices"]]
    assert finishes[:-1] == [""] * (len(finishes) - 1) and finishes[-1] == "stop"
    assert joined(text, "content") == TEXT and joined(text, "reasoning") == "x"
    assert parse_sse(text)[-1] == "[DONE]"


def test_chat_stream_without_end():
    text = chat_stream(TEXT, done=False, finish_reason=None, include_usage=False).body.decode()
    assert "[DONE]" not in text
    assert all(o["choices"][0]["finish_reason"] is None for o in chunks_of(text))
    assert joined(text, "content") == TEXT


@pytest.mark.parametrize("content", [TEXT, ""])
def test_chat_stream_error_event(content):
    err = {"message": "upstream overloaded", "type": "server_error", "code": 502}
    text = chat_stream(content, pieces=6, error_event=err).body.decode()
    objs = chunks_of(text)
    assert objs[-1] == {"error": err}
    assert "[DONE]" not in text
    assert all(o["choices"][0]["finish_reason"] is None for o in objs[:-1])
    got = joined("".join(sse_event(o) for o in objs[:-1]), "content")
    assert TEXT.startswith(got) and len(got) < max(1, len(content))


def test_chat_stream_tool_call():
    text = chat_stream(TEXT, pieces=4, tool_call=True, tool_name="math_reasoning",
                       finish_reason="tool_calls").body.decode()
    args, names = "", []
    for o in chunks_of(text):
        for choice in o["choices"]:
            assert not choice["delta"].get("content")
            for call in choice["delta"].get("tool_calls") or ():
                args += call["function"].get("arguments") or ""
                if "name" in call["function"]:
                    names.append(call["function"]["name"])
    assert args == TEXT and names == ["math_reasoning"]


def test_chat_stream_crlf_over_http_with_split_writes(fake_server, client):
    fake_server.queue(chat_stream(TEXT, pieces=9, line_ending="\r\n", split_bytes=2))
    r = post(client)
    assert "\r\n\r\n" in r.text and re.search(r"[^\r]\n", r.text) is None
    assert joined(r.text, "content") == TEXT


def test_chat_stream_break_after_over_http(fake_server, client):
    fake_server.queue(chat_stream(TEXT, pieces=10, break_after=4))
    received = b""
    with pytest.raises(httpx.RemoteProtocolError), \
            client.stream("POST", "/chat/completions", json={}) as r:
        for part in r.iter_raw():
            received += part
    content = joined(received.decode(), "content")
    assert TEXT.startswith(content) and 0 < len(content) < len(TEXT)


# --- echo_schema_responder ---------------------------------------------------------------------


def make_instance(schema: dict[str, Any]) -> dict[str, Any]:
    return {name: f"<{name}>" for name in schema.get("properties", {})}


def test_echo_schema_responder_plain_and_streamed(fake_server, client):
    fake_server.responder = echo_schema_responder(make_instance)
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}
    r = post(client, {"model": "m", "response_format": fmt})
    assert json.loads(r.json()["choices"][0]["message"]["content"]) == {"a": "<a>", "b": "<b>"}
    r = post(client, {"model": "m", "stream": True, "response_format": fmt})
    assert r.headers["content-type"] == "text/event-stream"
    assert json.loads(joined(r.text, "content")) == {"a": "<a>", "b": "<b>"}


def test_echo_schema_responder_tools_and_missing_schema(fake_server, client):
    fake_server.responder = echo_schema_responder(make_instance)
    tools = [{"type": "function", "function": {"name": "answer", "parameters": {
        "type": "object", "properties": {"k": {}}}}}]
    r = post(client, {"model": "m", "tools": tools})
    call = r.json()["choices"][0]["message"]["tool_calls"][0]["function"]
    assert call["name"] == "answer" and json.loads(call["arguments"]) == {"k": "<k>"}
    r = post(client, {"model": "m", "response_format": {"type": "json_object"}})
    assert r.status_code == 400 and "no JSON schema" in r.json()["error"]["message"]


# --- recording, keep-alive, concurrency --------------------------------------------------------


def test_requests_are_recorded(fake_server, client):
    fake_server.queue(Reply.json({}), Reply.json({}), Reply.json({}))
    post(client, {"model": "m", "messages": [{"role": "user", "content": "hé"}]},
         headers={"X-Custom-Header": "Yes", "Authorization": "Bearer k"})
    client.get("/models?limit=2")
    client.post("/raw", content=b"not json", headers={"content-type": "text/plain"})
    first, second, third = fake_server.requests
    assert (first.method, first.path, first.query) == ("POST", "/v1/chat/completions", "")
    assert first.headers["x-custom-header"] == "Yes"
    assert first.headers["authorization"] == "Bearer k"
    assert all(k == k.lower() for k in first.headers)
    assert first.json == {"model": "m", "messages": [{"role": "user", "content": "hé"}]}
    assert json.loads(first.body) == first.json
    assert (second.method, second.path, second.query, second.body) == ("GET", "/v1/models",
                                                                        "limit=2", b"")
    assert second.json is None
    assert (third.body, third.json) == (b"not json", None)
    assert first.time <= second.time <= third.time


def test_chunked_request_body_is_read(fake_server, client):
    fake_server.queue(Reply.json({}))
    client.post("/chunked", content=iter([b'{"a":', b" 1}"]))
    assert fake_server.requests[0].json == {"a": 1}
    assert "chunked" in fake_server.requests[0].headers["transfer-encoding"]


def test_keep_alive_over_several_requests(fake_server, client):
    fake_server.queue(Reply.json({"i": 0}), chat(TEXT), chat_stream(TEXT, pieces=3),
                      Reply.status(429, "slow"), Reply.text("ok"))
    results = [post(client) for _ in range(5)]
    assert [r.status_code for r in results] == [200, 200, 200, 429, 200]
    assert len({r.connection for r in fake_server.requests}) == 1


def test_concurrent_requests(fake_server):
    n = 24
    fake_server.responder = lambda req: Reply.json({"echo": req.json["i"]})
    results: dict[int, Any] = {}

    shared = httpx.Client(base_url=fake_server.url, timeout=TIMEOUT,
                          limits=httpx.Limits(max_connections=n))

    def worker(i: int) -> None:
        results[i] = shared.post("/v1/chat/completions", json={"i": i}).json()["echo"]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    with shared:
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
    assert results == {i: i for i in range(n)}
    assert sorted(r.json["i"] for r in fake_server.requests) == list(range(n))


def test_wait_for_requests(fake_server):
    fake_server.queue(Reply.hang(0.1))
    with pytest.raises(TimeoutError):
        fake_server.wait_for_requests(1, timeout=0.05)

    errors: list[Exception] = []

    def call() -> None:
        with httpx.Client(timeout=TIMEOUT) as c:
            try:
                c.post(fake_server.url + "/v1/chat/completions", json={})
            except httpx.HTTPError as exc:
                errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    assert fake_server.wait_for_requests(1, timeout=2)[0].path == "/v1/chat/completions"
    t.join(3)
    assert [type(e) for e in errors] == [httpx.RemoteProtocolError]  # closed after the hang


# --- lifecycle ---------------------------------------------------------------------------------


def test_url_and_context_manager():
    with FakeLLMServer() as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        assert server.running and str(server.port) in repr(server)
        server.queue(Reply.json({"ok": True}))
        assert httpx.get(server.url + "/v1/x", timeout=TIMEOUT).json() == {"ok": True}
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/v1/x", timeout=TIMEOUT)
    server.stop()  # idempotent


def test_stop_is_prompt_with_hung_and_idle_connections():
    server = FakeLLMServer().start()
    server.queue(Reply.json({}), Reply.hang(30), chat_stream(TEXT, stall_after=1,
                                                             stall_seconds=30))
    idle = httpx.Client(timeout=httpx.Timeout(20.0, connect=1.0))
    assert idle.get(server.url + "/idle").status_code == 200  # keep-alive connection left open
    errors: list[BaseException] = []

    def call() -> None:
        try:
            with httpx.Client(timeout=httpx.Timeout(20.0, connect=1.0)) as c:
                c.post(server.url + "/v1/chat/completions", json={}).read()
        except httpx.HTTPError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    server.wait_for_requests(3)
    time.sleep(0.05)  # the stream has sent its first event and is stalled
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 1.5
    for t in threads:
        t.join(2)
    assert not any(t.is_alive() for t in threads)
    assert len(errors) == 2  # both clients see their connection end
    idle.close()


def test_stop_without_start_and_no_restart():
    server = FakeLLMServer()
    server.stop()
    with pytest.raises(RuntimeError):
        server.start()


def test_no_network_beyond_loopback(fake_server):
    host, port = fake_server.url.removeprefix("http://").split(":")
    assert host == "127.0.0.1"
    with socket.create_connection((host, int(port)), timeout=1):
        pass


def test_invalid_arguments(fake_server):
    with pytest.raises(ValueError):
        Reply.hang(float("inf"))
    with pytest.raises(ValueError):
        Reply.sse([], line_ending="\n\r")
    with pytest.raises(ValueError):
        sse_split_bytes(chat_stream("x"), 0)
    with pytest.raises(TypeError):
        fake_server.queue(chat("x").body)  # type: ignore[arg-type]
