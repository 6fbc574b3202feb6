"""A real HTTP server on loopback that plays scripted LLM answers (and misbehaves on cue).

The server is format-agnostic: every request pops the next :class:`Reply` from a queue (or
asks ``responder`` when the queue is empty) and plays it byte for byte — a JSON body, an SSE
stream written piece by piece with delays, a stall, a dropped connection, raw bytes. Helper
functions build OpenAI Chat Completions answers (:func:`chat`, :func:`chat_stream`).

    with FakeLLMServer() as server:
        server.queue(chat('{"a": 1}'))
        ...  # point a client at server.url + "/v1"
        server.requests[0].json["response_format"]
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "FakeLLMServer",
    "RecordedRequest",
    "Reply",
    "chat",
    "chat_stream",
    "echo_schema_responder",
    "sse_event",
]

CREATED = 1_700_000_000


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass
class Reply:
    """One scripted answer. Build with the classmethods."""

    kind: str  # body | sse | raw | hang | drop
    code: int = 200  # the HTTP status
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    pieces: list[bytes] = field(default_factory=list)
    delay: float = 0.0
    break_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float = 0.0
    seconds: float = 0.0
    echo_auth: bool = False
    split_bytes: int | None = None

    @classmethod
    def json(cls, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls("body", status, {"content-type": "application/json", **(headers or {})},
                   json.dumps(body, ensure_ascii=False).encode())

    @classmethod
    def text(cls, body: str | bytes, status: int = 200, content_type: str = "text/plain",
             headers: dict[str, str] | None = None) -> Reply:
        data = body.encode() if isinstance(body, str) else body
        return cls("body", status, {"content-type": content_type, **(headers or {})}, data)

    @classmethod
    def status(cls, code: int, message: str = "error", *, error_type: str | None = None,
               headers: dict[str, str] | None = None, echo_auth: bool = False) -> Reply:
        body = {"error": {"message": message, "type": error_type or "invalid_request_error",
                          "param": None, "code": None}}
        r = cls.json(body, status=code, headers=headers)
        r.echo_auth = echo_auth
        return r

    @classmethod
    def sse(cls, events: list[str | bytes], *, status: int = 200, delay: float = 0.0,
            headers: dict[str, str] | None = None, break_after: int | None = None,
            stall_after: int | None = None, stall_seconds: float = 0.0,
            split_bytes: int | None = None) -> Reply:
        pieces = [e.encode() if isinstance(e, str) else e for e in events]
        return cls("sse", status, {"content-type": "text/event-stream", **(headers or {})},
                   pieces=pieces, delay=delay, break_after=break_after,
                   stall_after=stall_after, stall_seconds=stall_seconds,
                   split_bytes=split_bytes)

    @classmethod
    def raw(cls, chunks: list[bytes], delay: float = 0.0) -> Reply:
        return cls("raw", pieces=list(chunks), delay=delay)

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        return cls("hang", seconds=seconds)

    @classmethod
    def drop(cls) -> Reply:
        return cls("drop")


def sse_event(data: Any, *, event: str | None = None, line_ending: str = "\n") -> str:
    """One SSE event: ``event:`` line if given, ``data:`` line(s), blank line."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    lines = [f"event: {event}"] if event else []
    lines += [f"data: {line}" for line in text.split("\n")]
    return line_ending.join(lines) + line_ending + line_ending


def _usage(usage: tuple[int, int] | None) -> dict[str, int] | None:
    if usage is None:
        return None
    p, c = usage
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def chat(content: str | None = None, *, reasoning: str | None = None,
         reasoning_field: str = "reasoning_content", refusal: str | None = None,
         finish_reason: str | None = "stop", usage: tuple[int, int] | None = (10, 20),
         model: str = "fake-model", tool_call: str | None = None, status: int = 200) -> Reply:
    """A ``chat.completion`` answer."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if reasoning is not None:
        message[reasoning_field] = reasoning
    if tool_call is not None:
        message["tool_calls"] = [{"id": "call_1", "type": "function",
                                  "function": {"name": "response", "arguments": tool_call}}]
    body: dict[str, Any] = {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": CREATED, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason,
                     "logprobs": None}],
    }
    if usage is not None:
        body["usage"] = _usage(usage)
    return Reply.json(body, status=status)


def _split(text: str, pieces: int | None, piece_size: int | None) -> list[str]:
    if not text:
        return []
    if piece_size is None:
        n = max(1, pieces or 8)
        piece_size = max(1, -(-len(text) // n))
    return [text[i : i + piece_size] for i in range(0, len(text), piece_size)]


def chat_stream(
    content: str = "", *, pieces: int | None = None, piece_size: int | None = None,
    reasoning: str | None = None, reasoning_field: str = "reasoning_content",
    refusal: str | None = None, finish_reason: str | None = "stop",
    usage: tuple[int, int] | None = (10, 20), include_usage: bool = True, done: bool = True,
    model: str = "fake-model", delay: float = 0.0, line_ending: str = "\n",
    keepalive: bool = False, empty_first_chunk: bool = False,
    intermediate_empty_finish: bool = False, error_event: dict[str, Any] | None = None,
    tool_call: bool = False, break_after: int | None = None, stall_after: int | None = None,
    stall_seconds: float = 0.0, split_bytes: int | None = None,
) -> Reply:
    """A Chat Completions SSE stream of ``content`` (and reasoning / refusal) in pieces."""
    events: list[str] = []
    mid_finish = "" if intermediate_empty_finish else None

    def chunk(delta: dict[str, Any], finish: str | None = mid_finish) -> None:
        obj = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": CREATED,
               "model": model, "choices": [{"index": 0, "delta": delta,
                                            "finish_reason": finish}]}
        events.append(sse_event(obj, line_ending=line_ending))
        if keepalive and len(events) % 3 == 0:
            events.append(": OPENROUTER PROCESSING" + line_ending + line_ending)

    if empty_first_chunk:
        events.append(sse_event({"id": "", "object": "", "created": 0, "model": "",
                                 "choices": [], "prompt_filter_results": []},
                                line_ending=line_ending))
    chunk({"role": "assistant", "content": ""})
    for piece in _split(reasoning or "", pieces, piece_size):
        chunk({reasoning_field: piece})
    content_pieces = _split(content, pieces, piece_size)
    error_at = len(content_pieces) // 2 if error_event is not None else None
    for i, piece in enumerate(content_pieces):
        if error_at is not None and i == error_at:
            events.append(sse_event({"error": error_event}, line_ending=line_ending))
            return Reply.sse(events, delay=delay, break_after=break_after,
                             stall_after=stall_after, stall_seconds=stall_seconds,
                             split_bytes=split_bytes)
        if tool_call:
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        else:
            chunk({"content": piece})
    for piece in _split(refusal or "", pieces, piece_size):
        chunk({"refusal": piece})
    if finish_reason is not None:
        chunk({}, finish_reason)
    if include_usage and usage is not None:
        events.append(sse_event({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                                 "created": CREATED, "model": model, "choices": [],
                                 "usage": _usage(usage)}, line_ending=line_ending))
    if done:
        events.append("data: [DONE]" + line_ending + line_ending)
    return Reply.sse(events, delay=delay, break_after=break_after, stall_after=stall_after,
                     stall_seconds=stall_seconds, split_bytes=split_bytes)


def echo_schema_responder(make_instance: Callable[[Any], Any]) -> Callable[[RecordedRequest],
                                                                             Reply]:
    """Answer each chat request with an instance of the schema it asked for."""

    def respond(req: RecordedRequest) -> Reply:
        body = req.json or {}
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
        text = json.dumps(make_instance(schema), ensure_ascii=False)
        return chat_stream(text, pieces=5) if body.get("stream") else chat(text)

    return respond


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between header and body
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def handle(self) -> None:
        # Clients hang up mid-stream on purpose (interrupts, timeouts): not a server error.
        try:
            super().handle()
        except (ConnectionError, OSError, ValueError):
            self.close_connection = True

    def finish(self) -> None:
        with contextlib.suppress(ConnectionError, OSError, ValueError):
            super().finish()

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        req = RecordedRequest(self.command, parts.path, parts.query,
                              {k.lower(): v for k, v in self.headers.items()}, body)
        reply = self.server.owner._next(req)
        self.server.owner._play(self, req, reply)

    do_POST = do_GET = _handle


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    owner: FakeLLMServer


class FakeLLMServer:
    """The loopback server. ``url`` has no path; clients add ``/v1``."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self.responder: Callable[[RecordedRequest], Reply] | None = None
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"

    def __enter__(self) -> FakeLLMServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.responder = None

    def _next(self, req: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(req)
            if self._queue:
                return self._queue.popleft()
            responder = self.responder
        if responder is not None:
            return responder(req)
        return Reply.status(500, "fake server: no reply queued")

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _play(self, h: _Handler, req: RecordedRequest, reply: Reply) -> None:
        wfile = h.wfile
        try:
            if reply.kind == "drop":
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply.kind == "hang":
                self._wait(reply.seconds)
                h.close_connection = True
                return
            if reply.kind == "raw":
                for piece in reply.pieces:
                    wfile.write(piece)
                    wfile.flush()
                    if reply.delay:
                        self._wait(reply.delay)
                h.close_connection = True
                return
            body = reply.body
            if reply.echo_auth:
                auth = req.headers.get("authorization", "")
                data = json.loads(body)
                data["error"]["message"] += f" (you sent: {auth})"
                body = json.dumps(data).encode()
            h.send_response(reply.code)
            for k, v in reply.headers.items():
                h.send_header(k, v)
            if reply.kind == "body":
                h.send_header("content-length", str(len(body)))
                h.end_headers()
                wfile.write(body)
                wfile.flush()
                return
            # SSE: chunked transfer encoding, one chunk per piece (or re-split bytes)
            h.send_header("transfer-encoding", "chunked")
            h.send_header("cache-control", "no-cache")
            h.end_headers()
            pieces = reply.pieces
            if reply.split_bytes:
                blob = b"".join(pieces)
                n = reply.split_bytes
                pieces = [blob[i : i + n] for i in range(0, len(blob), n)]
            for i, piece in enumerate(pieces):
                if reply.break_after is not None and i >= reply.break_after:
                    h.close_connection = True
                    h.connection.shutdown(socket.SHUT_RDWR)
                    return
                if reply.stall_after is not None and i == reply.stall_after:
                    self._wait(reply.stall_seconds)
                    if self._stopping.is_set():
                        return
                wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                wfile.flush()
                if reply.delay:
                    self._wait(reply.delay)
            wfile.write(b"0\r\n\r\n")
            wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            h.close_connection = True
