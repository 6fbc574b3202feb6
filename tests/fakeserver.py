"""A real HTTP server on loopback that plays scripted LLM answers (and misbehaves on cue).

The server is format-agnostic: every request pops the next :class:`Reply` from a FIFO queue
(or asks ``responder`` when the queue is empty) and plays it byte for byte — a JSON body, an
SSE stream written piece by piece with delays, a stall, a dropped connection, raw bytes.
Helper functions build OpenAI Chat Completions answers (:func:`chat`, :func:`chat_stream`);
``tests/providers.py`` builds the other wire formats on top of :class:`Reply` and
:func:`sse_event`.

    with FakeLLMServer() as server:
        server.queue(chat('{"a": 1}'), Reply.status(429, "slow", headers={"retry-after": "1"}))
        ...  # point a client at server.url + "/v1"
        server.requests[0].json["response_format"]

Faults it reproduces (see DESIGN.md, "Untrusted text, secrets and faults"):

- error status with an OpenAI error body, retry headers, a key echoed back:
  ``Reply.status(401, "bad key", echo_auth=True)``, ``headers={"retry-after-ms": "1500"}``
- an HTML error page or an empty body instead of JSON: ``Reply.text(page, 502, "text/html")``
- ``data: {"error": ...}`` after HTTP 200 then EOF without ``[DONE]``:
  ``chat_stream(text, error_event={...})``
- EOF with neither ``[DONE]`` nor ``finish_reason``: ``chat_stream(text, done=False,
  finish_reason=None)``; a body cut mid-stream: ``break_after=N``
- empty ``choices`` chunks, ``finish_reason: ""``, keep-alive comments, empty ``data:``,
  ``data:`` without the space, CR / LF / CRLF endings: ``chat_stream`` flags
- UTF-8 characters and lines split across network writes: ``split_bytes=N`` /
  :func:`sse_split_bytes`; a proxy that buffers the whole body: :func:`sse_buffered`
- read timeouts: ``Reply.hang(s)``, ``stall_after=N, stall_seconds=s``; connection errors:
  ``Reply.drop()``; anything else at the byte level: ``Reply.raw([...])``
- a body sent slowly without waiting in real time: ``Reply.trickle(body, before_write=...)``
  calls ``before_write(i)`` before each write (a test moves its fake clock there)

Every wait ends early on :meth:`FakeLLMServer.stop`, which also shuts down every open
connection, so stopping takes well under a second even with hung handlers or idle
keep-alive connections.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import socket
import socketserver
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "CREATED",
    "FakeLLMServer",
    "RecordedRequest",
    "Reply",
    "chat",
    "chat_stream",
    "echo_schema_responder",
    "local_server_responder",
    "sse_buffered",
    "sse_event",
    "sse_split_bytes",
]

CREATED = 1_700_000_000
"""The fixed ``created`` timestamp of every helper-built answer."""

Framing = Literal["length", "chunked", "close"]
Responder = Callable[["RecordedRequest"], "Reply"]

_IDLE_TIMEOUT = 60.0  # seconds an idle keep-alive connection is kept open
_STOP_GRACE = 1.0  # seconds stop() waits for handler threads to end
_REASONS = {520: "Unknown Error", 521: "Web Server Is Down", 522: "Connection Timed Out",
            523: "Origin Is Unreachable", 524: "A Timeout Occurred", 529: "Site is overloaded"}


# --- requests ----------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    connection: int = 0  # serial number of the TCP connection (1, 2, ...): keep-alive checks
    time: float = 0.0  # time.monotonic() when the request was read
    #: every header name as sent, lower-case, in order, repeats kept (``headers`` keeps one)
    header_names: tuple[str, ...] = ()

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None (empty or not JSON)."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


# --- replies -----------------------------------------------------------------------------------


def _check_wait(name: str, seconds: float) -> float:
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, not {seconds!r}")
    return float(seconds)


def _merge(defaults: dict[str, str], extra: dict[str, str] | None) -> dict[str, str]:
    """Headers with lower-case names; ``extra`` overrides ``defaults``."""
    out = {k.lower(): v for k, v in defaults.items()}
    out.update({k.lower(): v for k, v in (extra or {}).items()})
    return out


@dataclass
class Reply:
    """One scripted answer. Build it with the classmethods; the server never mutates it, so
    one reply may be played many times (e.g. ``server.responder = lambda req: reply``).

    kinds: ``response`` (status line, headers, body in ``pieces``), ``raw`` (bytes as given,
    then close), ``hang`` (nothing for ``seconds``, then close), ``drop`` (close at once).
    """

    kind: Literal["response", "raw", "hang", "drop"]
    code: int = 200  # the HTTP status
    headers: dict[str, str] = field(default_factory=dict)
    pieces: list[bytes] = field(default_factory=list)  # one network write each
    framing: Framing = "length"  # content-length / chunked / close-delimited body
    delay: float = 0.0  # seconds between writes
    break_after: int | None = None  # close abruptly after this many pieces
    stall_after: int | None = None  # pause before piece number stall_after (0: before the 1st)
    stall_seconds: float = 0.0
    seconds: float = 0.0  # hang
    echo_auth: bool = False  # append the received credentials to error.message
    split_bytes: int | None = None  # re-cut the body into writes of this many bytes
    before_write: Callable[[int], None] | None = None  # called with i before body write i

    @property
    def body(self) -> bytes:
        """The whole body as scripted (all pieces)."""
        return b"".join(self.pieces)

    # -- plain bodies

    @classmethod
    def json(cls, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        """A JSON body (UTF-8, not ASCII-escaped) with ``Content-Length``."""
        data = json.dumps(body, ensure_ascii=False).encode()
        return cls("response", status, _merge({"content-type": "application/json"}, headers),
                   [data])

    @classmethod
    def text(cls, body: str | bytes, status: int = 200, content_type: str = "text/plain",
             headers: dict[str, str] | None = None) -> Reply:
        """Any body: an nginx/Cloudflare HTML error page, an empty body, plain text."""
        data = body.encode() if isinstance(body, str) else bytes(body)
        return cls("response", status, _merge({"content-type": content_type}, headers), [data])

    @classmethod
    def status(cls, code: int, message: str = "error", *, error_type: str | None = None,
               error_code: str | None = None, headers: dict[str, str] | None = None,
               echo_auth: bool = False) -> Reply:
        """An OpenAI-style error: ``{"error": {"message", "type", "param": null, "code"}}``.

        ``echo_auth=True`` appends the credentials the request carried (``Authorization``,
        ``x-api-key``, ``x-goog-api-key``, a ``key=`` query parameter) to the message, as
        some relays do — the client must scrub them before showing the error.
        """
        if error_type is None:
            error_type = ("server_error" if code >= 500 else "requests" if code == 429
                          else "invalid_request_error")
        body = {"error": {"message": message, "type": error_type, "param": None,
                          "code": error_code}}
        reply = cls.json(body, status=code, headers=headers)
        return dataclasses.replace(reply, echo_auth=echo_auth)

    # -- streams

    @classmethod
    def sse(cls, events: list[str | bytes], *, status: int = 200, delay: float = 0.0,
            headers: dict[str, str] | None = None, line_ending: str = "\n",
            break_after: int | None = None, stall_after: int | None = None,
            stall_seconds: float = 0.0, split_bytes: int | None = None,
            framing: Framing = "chunked") -> Reply:
        """A ``text/event-stream`` body, one write (and flush) per item of ``events``.

        Items are already formatted SSE text (see :func:`sse_event`); ``line_ending``
        (``"\\r\\n"`` or ``"\\r"``) replaces the ``"\\n"`` line breaks of the ``str`` items
        (``bytes`` items are sent verbatim). ``framing``: ``"chunked"`` (keep-alive, as real
        servers do), ``"length"`` (``Content-Length``) or ``"close"`` (the body ends when the
        connection closes). ``break_after=N``: close the socket after N items, with no
        terminating chunk. ``stall_after=N``: send nothing for ``stall_seconds`` before item N.
        ``split_bytes=N``: re-cut the body into writes of N bytes (UTF-8 characters and
        lines split across writes; ``break_after``/``stall_after`` still fall on item
        boundaries).
        """
        if line_ending not in ("\n", "\r\n", "\r"):
            raise ValueError(f"line_ending must be LF, CRLF or CR, not {line_ending!r}")
        pieces = [
            (e.replace("\n", line_ending) if line_ending != "\n" else e).encode()
            if isinstance(e, str) else bytes(e)
            for e in events
        ]
        return cls("response", status, _merge({"content-type": "text/event-stream",
                                                "cache-control": "no-cache"}, headers),
                   pieces, framing=framing, delay=_check_wait("delay", delay),
                   break_after=break_after, stall_after=stall_after,
                   stall_seconds=_check_wait("stall_seconds", stall_seconds),
                   split_bytes=split_bytes)

    @classmethod
    def trickle(cls, body: bytes, *, every: int = 1,
                before_write: Callable[[int], None] | None = None,
                content_type: str = "application/octet-stream",
                framing: Framing = "length") -> Reply:
        """``body`` written ``every`` bytes at a time, ``before_write(i)`` called before write
        ``i``: a server that sends a file slowly, where a test moves its fake clock on in
        ``before_write`` instead of waiting (the client sees the time pass per write, however
        its reads group the writes)."""
        return cls("response", 200, {"content-type": content_type}, [bytes(body)],
                   framing=framing, split_bytes=every, before_write=before_write)

    # -- connection-level faults

    @classmethod
    def raw(cls, chunks: list[bytes], delay: float = 0.0) -> Reply:
        """Bytes written as given (status line and headers included), then close."""
        return cls("raw", pieces=[bytes(c) for c in chunks], delay=_check_wait("delay", delay))

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        """Read the request, send nothing for ``seconds`` (less if the server stops), close."""
        return cls("hang", seconds=_check_wait("seconds", seconds))

    @classmethod
    def drop(cls) -> Reply:
        """Read the request and close the connection without an answer."""
        return cls("drop")


def sse_split_bytes(reply: Reply, every: int) -> Reply:
    """A copy of ``reply`` whose body is written ``every`` bytes at a time."""
    if every < 1:
        raise ValueError("every must be >= 1")
    return dataclasses.replace(reply, split_bytes=every)


def sse_buffered(reply: Reply) -> Reply:
    """A copy of ``reply`` as a buffering proxy delivers it: the whole body in one write with
    ``Content-Length`` (no delays, stalls or breaks)."""
    return dataclasses.replace(reply, pieces=[reply.body], framing="length", delay=0.0,
                               break_after=None, stall_after=None, split_bytes=None)


def sse_event(data: Any, *, event: str | None = None, line_ending: str = "\n",
              space: bool = True) -> str:
    """One SSE event: an ``event:`` line if given, ``data:`` line(s), a blank line.

    ``data`` that is not a ``str`` is JSON-encoded; ``space=False`` writes ``data:{...}``.
    """
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    prefix = "data: " if space else "data:"
    lines = [f"event: {event}"] if event else []
    lines += [prefix + line for line in text.split("\n")]
    return line_ending.join(lines) + line_ending + line_ending


# --- OpenAI Chat Completions helpers -----------------------------------------------------------


def _usage(usage: tuple[int, int] | None) -> dict[str, int] | None:
    if usage is None:
        return None
    p, c = usage
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def chat(content: str | None = None, *, reasoning: str | None = None,
         reasoning_field: str = "reasoning_content", refusal: str | None = None,
         finish_reason: str | None = "stop", usage: tuple[int, int] | None = (10, 20),
         model: str = "fake-model", tool_call: str | None = None, tool_name: str = "response",
         status: int = 200, headers: dict[str, str] | None = None,
         logprobs: list[dict[str, Any]] | None = None) -> Reply:
    """A ``chat.completion`` answer (``usage=None`` leaves the usage out; ``logprobs``: the
    content's tokens, ``{"token", "logprob", "bytes", "top_logprobs"}`` each)."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if reasoning is not None:
        message[reasoning_field] = reasoning
    if tool_call is not None:
        message["tool_calls"] = [{"id": "call_fake_1", "type": "function",
                                  "function": {"name": tool_name, "arguments": tool_call}}]
    body: dict[str, Any] = {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": CREATED, "model": model,
        "choices": [{"index": 0, "message": message,
                     "logprobs": None if logprobs is None else {"content": logprobs,
                                                                "refusal": None},
                     "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = _usage(usage)
    return Reply.json(body, status=status, headers=headers)


def _split(text: str, pieces: int | None, piece_size: int | None) -> list[str]:
    """``text`` cut by characters: into ``piece_size``-character pieces, or into ``pieces``
    near-equal pieces (8 if neither is given). Never an empty piece."""
    if not text:
        return []
    if piece_size is not None:
        if piece_size < 1:
            raise ValueError("piece_size must be >= 1")
        return [text[i : i + piece_size] for i in range(0, len(text), piece_size)]
    n = 8 if pieces is None else pieces
    if n < 1:
        raise ValueError("pieces must be >= 1")
    n = min(n, len(text))
    cuts = [i * len(text) // n for i in range(n + 1)]
    return [text[a:b] for a, b in itertools.pairwise(cuts)]


def chat_stream(
    content: str = "", *, pieces: int | None = None, piece_size: int | None = None,
    reasoning: str | None = None, reasoning_field: str = "reasoning_content",
    refusal: str | None = None, finish_reason: str | None = "stop",
    usage: tuple[int, int] | None = (10, 20), include_usage: bool = True, done: bool = True,
    model: str = "fake-model", delay: float = 0.0, line_ending: str = "\n",
    keepalive: bool = False, empty_first_chunk: bool = False,
    intermediate_empty_finish: bool = False, error_event: dict[str, Any] | None = None,
    tool_call: bool = False, tool_name: str = "response", break_after: int | None = None,
    stall_after: int | None = None, stall_seconds: float = 0.0, split_bytes: int | None = None,
    empty_data: bool = False, data_space: bool = True, status: int = 200,
    headers: dict[str, str] | None = None, framing: Framing = "chunked",
) -> Reply:
    """A Chat Completions SSE stream: one ``chat.completion.chunk`` event per item.

    Order: (``empty_first_chunk``: an Azure-style chunk with ``choices: []``), a delta with
    the role, the reasoning pieces (``delta[reasoning_field]``), the content pieces
    (``delta.content``, or with ``tool_call=True`` a tool-call header then
    ``delta.tool_calls[0].function.arguments``), the refusal pieces (``delta.refusal``), a
    chunk with ``finish_reason`` (none if it is None), a usage chunk with ``choices: []``
    (``include_usage``), ``data: [DONE]`` (``done``). Texts are cut by characters
    (``pieces`` near-equal pieces, or ``piece_size`` characters; 8 pieces by default), so
    pieces do not line up with JSON tokens but a multi-byte character stays whole.

    Faults: ``keepalive`` adds ``: OPENROUTER PROCESSING`` comments (before the first chunk
    and after every third); ``empty_data`` adds an empty ``data:`` event after the role
    chunk; ``data_space=False`` writes ``data:{...}``; ``intermediate_empty_finish`` puts
    ``"finish_reason": ""`` on the chunks before the last; ``error_event`` sends
    ``data: {"error": error_event}`` after half of the content pieces and ends the body there
    (no finish, no usage, no ``[DONE]``). ``delay``, ``line_ending``, ``break_after``,
    ``stall_after``/``stall_seconds``, ``split_bytes``, ``framing``: as :meth:`Reply.sse`
    (they count events, keep-alive comments included).
    """
    events: list[str] = []
    mid_finish = "" if intermediate_empty_finish else None
    n_chunks = 0

    def emit(data: Any) -> None:
        events.append(sse_event(data, space=data_space))

    def chunk(delta: dict[str, Any], finish: str | None = mid_finish) -> None:
        nonlocal n_chunks
        emit({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": CREATED,
              "model": model, "system_fingerprint": None,
              "choices": [{"index": 0, "delta": delta, "logprobs": None,
                           "finish_reason": finish}]})
        n_chunks += 1
        if keepalive and n_chunks % 3 == 0:
            events.append(": OPENROUTER PROCESSING\n\n")

    def stream() -> Reply:
        return Reply.sse(events, status=status, delay=delay, headers=headers,
                         line_ending=line_ending, break_after=break_after,
                         stall_after=stall_after, stall_seconds=stall_seconds,
                         split_bytes=split_bytes, framing=framing)

    if keepalive:
        events.append(": OPENROUTER PROCESSING\n\n")
    if empty_first_chunk:
        emit({"id": "", "object": "", "created": 0, "model": "", "choices": [],
              "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]})
    chunk({"role": "assistant", "content": None if tool_call else "", "refusal": None})
    if empty_data:
        events.append("data:\n\n")
    for piece in _split(reasoning or "", pieces, piece_size):
        chunk({reasoning_field: piece})
    if tool_call:
        chunk({"tool_calls": [{"index": 0, "id": "call_fake_1", "type": "function",
                               "function": {"name": tool_name, "arguments": ""}}]})
    content_pieces = _split(content, pieces, piece_size)
    error_at = len(content_pieces) // 2 if error_event is not None else None
    for i, piece in enumerate([*content_pieces, None]):
        if i == error_at:
            emit({"error": error_event})
            return stream()
        if piece is None:
            break
        if tool_call:
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        else:
            chunk({"content": piece})
    for piece in _split(refusal or "", pieces, piece_size):
        chunk({"refusal": piece})
    if finish_reason is not None:
        chunk({}, finish_reason)
    if include_usage and usage is not None:
        emit({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": CREATED,
              "model": model, "system_fingerprint": None, "choices": [],
              "usage": _usage(usage)})
    if done:
        events.append(("data: " if data_space else "data:") + "[DONE]\n\n")
    return stream()


def _requested_schema(body: Any) -> tuple[Any, str | None] | None:
    """The JSON schema a chat request asks for, and the forced tool's name if it used tools."""
    if not isinstance(body, dict):
        return None
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and isinstance(fmt.get("json_schema"), dict):
        schema = fmt["json_schema"].get("schema")
        if schema is not None:
            return schema, None
    for tool in body.get("tools") or ():
        function = (tool or {}).get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and function.get("parameters") is not None:
            return function["parameters"], function.get("name") or "response"
    return None


def echo_schema_responder(make_instance: Callable[[Any], Any], *,
                          pieces: int = 5) -> Responder:
    """A responder answering each chat request with ``make_instance(schema)``.

    The schema is ``response_format.json_schema.schema`` (or a forced tool's ``parameters``,
    answered as a tool call). The answer streams (``chat_stream(..., pieces=pieces)``) when
    the request has ``"stream": true``. A request with no schema gets a 400 that says so.
    """

    def respond(req: RecordedRequest) -> Reply:
        body = req.json
        found = _requested_schema(body)
        if found is None:
            return Reply.status(400, "fake server: echo_schema_responder found no JSON schema "
                                     "in the request (response_format json_schema or a tool)")
        schema, tool = found
        text = json.dumps(make_instance(schema), ensure_ascii=False)
        stream = bool(body.get("stream"))
        if tool is not None:
            if stream:
                return chat_stream(text, pieces=pieces, tool_call=True, tool_name=tool,
                                   finish_reason="tool_calls")
            return chat(None, tool_call=text, tool_name=tool, finish_reason="tool_calls")
        return chat_stream(text, pieces=pieces) if stream else chat(text)

    return respond


#: where each local server takes a schema of its own, and how to read it from the body
OWN_PARAMETERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "structured_outputs": lambda body: (body.get("structured_outputs") or {}).get("json"),
    "json_schema": lambda body: body.get("json_schema"),
    "format": lambda body: body.get("format"),
}
#: what an unconstrained model writes, by ``answers`` (``{}`` is the JSON it makes)
_UNCONSTRAINED = {
    "prose": "Sure! Here is the information you asked for:\n{}\nLet me know if you need more.",
    "fence": "Here you go:\n```json\n{}\n```",
    "wrapper": "{}",
    "other": "{}",
    "none": "I think the answer is 9.8, as 0.8 is larger than 0.11.",
}


def local_server_responder(make_instance: Callable[[Any], Any], *, answers: str = "prose",
                           enforces: str | None = None) -> Responder:
    """A local server (vLLM, llama.cpp, Ollama) whose model runs unconstrained: HTTP 200 to
    every chat request, ``response_format`` and ``tools`` ignored.

    What the model writes to a request whose system prompt carries no schema, by
    ``answers``: ``"prose"`` (prose around JSON of another shape), ``"fence"`` (that JSON in
    a Markdown fence), ``"wrapper"`` (``{"response": "<prose>"}``, a wrapper of its own),
    ``"other"`` (JSON of another shape alone), ``"none"`` (no JSON at all). A request whose
    system prompt carries the schema (``json_object``, ``prompt``: "JSON Schema:\n...") is
    followed as a model reads it: ``make_instance(that schema)``, with a line of prose before
    it. ``enforces``: the server's own parameter it does enforce (``"structured_outputs"``
    as vLLM, ``"json_schema"`` as llama.cpp, ``"format"`` as Ollama; see
    :data:`OWN_PARAMETERS`): a request carrying it is answered with
    ``make_instance(schema)``, the JSON alone. Streamed when the request asks for it.
    """
    other = {"weather": "sunny", "temperature_c": 21}

    def respond(req: RecordedRequest) -> Reply:
        body = req.json if isinstance(req.json, dict) else {}
        own = OWN_PARAMETERS[enforces](body) if enforces is not None else None
        system = next((m.get("content") for m in body.get("messages") or ()
                       if isinstance(m, dict) and m.get("role") == "system"), None)
        if own is not None:
            text = json.dumps(make_instance(own), ensure_ascii=False)
        elif isinstance(system, str) and "JSON Schema:\n" in system:
            schema = json.loads(system.split("JSON Schema:\n", 1)[1])
            text = "Here is the JSON:\n" + json.dumps(make_instance(schema), ensure_ascii=False)
        elif answers == "wrapper":
            text = json.dumps({"response": "It is sunny today, 21 degrees."})
        else:
            text = _UNCONSTRAINED[answers].replace("{}", json.dumps(other))
        return chat_stream(text, pieces=5) if body.get("stream") else chat(text)

    return respond


# --- the server --------------------------------------------------------------------------------


class _Abort(Exception):
    """The server is stopping: stop playing the reply and close."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one TCP segment per write, no delayed-ACK stalls
    timeout = _IDLE_TIMEOUT
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def handle(self) -> None:
        # Clients hang up mid-stream on purpose (interrupts, timeouts): not a server error.
        try:
            super().handle()
        except (OSError, ValueError, _Abort):
            self.close_connection = True

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        owner = self.server.owner
        body = self._read_body()
        parts = urlsplit(self.path)
        req = RecordedRequest(
            self.command, parts.path, parts.query,
            {k.lower(): v for k, v in self.headers.items()}, body,
            connection=owner._connection_id(self.connection), time=time.monotonic(),
            header_names=tuple(k.lower() for k, _ in self.headers.items()),
        )
        owner._play(self, req, owner._next(req))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle


class _Server(socketserver.TCPServer):
    """A TCP server with one daemon thread per connection, each tracked by the owner."""

    allow_reuse_address = True
    request_queue_size = 128
    owner: FakeLLMServer

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address),
                                  name=f"fakeserver-{client_address[1]}", daemon=True)
        self.owner._track(request, thread)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception as exc:
            self.owner._record_error(exc)
        finally:
            self.owner._untrack(request)
            self.shutdown_request(request)


class FakeLLMServer:
    """The loopback server (``127.0.0.1``, a free port). ``url`` has no path; clients add
    ``/v1``. Usable as a context manager; thread-safe."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread: threading.Thread | None = None
        self._lock = threading.Condition()
        self._queue: deque[Reply] = deque()
        self._stopping = threading.Event()
        self._conns: dict[Any, tuple[int, threading.Thread]] = {}
        self._conn_serial = 0
        self.requests: list[RecordedRequest] = []
        self.responder: Responder | None = None
        self.errors: list[BaseException] = []  # responder exceptions and handler bugs
        host, port = self._server.server_address[:2]
        self.host: str = str(host)
        self.port: int = int(port)
        self.url = f"http://{host}:{port}"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<FakeLLMServer {self.url} {state}, {len(self._queue)} queued>"

    def __enter__(self) -> FakeLLMServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._stopping.is_set()

    def start(self) -> FakeLLMServer:
        """Serve in a daemon thread (idempotent)."""
        if self._stopping.is_set():
            raise RuntimeError("a stopped FakeLLMServer cannot be restarted; make a new one")
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name="fakeserver-accept", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end every wait, shut every connection; at most about 1 s."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()  # returns once the accept loop has exited
            self._thread.join(_STOP_GRACE)
        self._server.server_close()
        with self._lock:
            conns = list(self._conns.items())
        for sock, _ in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + _STOP_GRACE
        for _, (_, thread) in conns:
            thread.join(max(0.0, deadline - time.monotonic()))

    def queue(self, *replies: Reply) -> None:
        """Append replies to the script; each request pops one (FIFO)."""
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"queue() takes Reply objects, not {type(reply).__name__}")
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """How many queued replies are still unplayed."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget the queue, the recorded requests, the responder and the errors."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.errors.clear()
            self.responder = None

    def wait_for_requests(self, count: int, timeout: float = 2.0) -> list[RecordedRequest]:
        """Block until at least ``count`` requests were received; TimeoutError otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"{len(self.requests)} of {count} requests after {timeout} s")
            return list(self.requests)

    # -- internals

    def _track(self, sock: Any, thread: threading.Thread) -> None:
        with self._lock:
            self._conn_serial += 1
            self._conns[sock] = (self._conn_serial, thread)

    def _untrack(self, sock: Any) -> None:
        with self._lock:
            self._conns.pop(sock, None)

    def _connection_id(self, sock: Any) -> int:
        with self._lock:
            return self._conns.get(sock, (0, None))[0]

    def _record_error(self, exc: BaseException) -> None:
        with self._lock:
            self.errors.append(exc)

    def _next(self, req: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(req)
            self._lock.notify_all()
            if self._queue:
                return self._queue.popleft()
            responder = self.responder
        if responder is None:
            return Reply.status(500, "fake server: no reply queued", error_type="server_error")
        try:
            reply = responder(req)
            if not isinstance(reply, Reply):
                raise TypeError(f"the responder returned {type(reply).__name__}, not a Reply")
        except Exception as exc:
            self._record_error(exc)
            return Reply.status(500, f"fake server: the responder raised {exc!r}",
                                error_type="server_error")
        return reply

    def _wait(self, seconds: float) -> None:
        """Sleep, unless the server stops first (then abort the reply)."""
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Abort
        if self._stopping.is_set():
            raise _Abort

    def _play(self, h: _Handler, req: RecordedRequest, reply: Reply) -> None:
        """Send ``reply`` on the handler's connection."""
        if reply.kind in ("drop", "hang", "raw"):
            h.close_connection = True
            if reply.kind == "hang":
                self._wait(reply.seconds)
            elif reply.kind == "raw":
                self._write_all(h, _cut(reply.pieces, reply.split_bytes), reply.delay)
                return
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return

        pieces = reply.pieces
        if reply.echo_auth:
            pieces = [_echo_credentials(reply.body, req)]
        headers = dict(reply.headers)
        if reply.framing == "length":
            headers.setdefault("content-length", str(sum(map(len, pieces))))
        elif reply.framing == "chunked":
            headers.setdefault("transfer-encoding", "chunked")
        else:
            headers["connection"] = "close"
        h.send_response(reply.code, _REASONS.get(reply.code))
        for name, value in headers.items():
            h.send_header(name, value)  # "connection: close" also ends the keep-alive
        h.end_headers()  # flushes the status line and headers

        writes, stall_at, break_at = _schedule(pieces, reply.split_bytes, reply.stall_after,
                                               reply.break_after)
        chunked = reply.framing == "chunked" and "chunked" in headers["transfer-encoding"]
        for i, data in enumerate(writes):
            if i == stall_at:
                self._wait(reply.stall_seconds)
            elif i and reply.delay:
                self._wait(reply.delay)
            if reply.before_write is not None:
                reply.before_write(i)
            if chunked:
                data = b"%x\r\n%s\r\n" % (len(data), data)
            h.wfile.write(data)
            h.wfile.flush()
        if break_at is not None:  # abrupt end: no terminating chunk, short body
            if stall_at == len(writes):
                self._wait(reply.stall_seconds)
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        if stall_at == len(writes):
            self._wait(reply.stall_seconds)
        if chunked:
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        if reply.framing == "close":
            h.close_connection = True

    def _write_all(self, h: _Handler, writes: list[bytes], delay: float) -> None:
        for i, data in enumerate(writes):
            if i and delay:
                self._wait(delay)
            h.wfile.write(data)
            h.wfile.flush()


def _echo_credentials(body: bytes, req: RecordedRequest) -> bytes:
    """``body`` (an error JSON) with the request's credentials appended to its message."""
    sent = [f"{name}: {req.headers[name]}" for name in ("authorization", "x-api-key",
                                                         "x-goog-api-key") if name in req.headers]
    sent += [f"query: {p}" for p in req.query.split("&") if p.startswith("key=")]
    data = json.loads(body)
    data["error"]["message"] += f" (you sent {'; '.join(sent) or 'no credentials'})"
    return json.dumps(data, ensure_ascii=False).encode()


def _cut(pieces: list[bytes], every: int | None) -> list[bytes]:
    """The pieces, or their concatenation re-cut into ``every``-byte writes."""
    if not every:
        return [p for p in pieces if p]
    blob = b"".join(pieces)
    return [blob[i : i + every] for i in range(0, len(blob), every)]


def _schedule(pieces: list[bytes], every: int | None, stall_after: int | None,
              break_after: int | None) -> tuple[list[bytes], int | None, int | None]:
    """The writes to make, the write index to stall before, and whether/where to break.

    ``stall_after`` and ``break_after`` count items of ``pieces``; after re-cutting they
    still fall on those item boundaries. A stall index equal to ``len(writes)`` means "after
    the last write". Empty pieces are skipped (an empty chunk would end a chunked body).
    """
    n = len(pieces)
    brk = None if break_after is None else max(0, min(break_after, n))
    kept = pieces if brk is None else pieces[:brk]
    stall = None if stall_after is None else max(0, min(stall_after, len(kept)))
    head = _cut(kept[:stall] if stall is not None else kept, every)
    tail = _cut(kept[stall:], every) if stall is not None else []
    writes = head + tail
    return writes, (len(head) if stall is not None else None), (len(writes) if brk is not None
                                                                else None)
