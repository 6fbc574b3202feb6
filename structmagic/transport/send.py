"""One request of a call: answered from the cassette when it can be, else sent over HTTP with
retries, and its answer read into a :class:`~structmagic.providers.base.Completion`.

::

    send(call, settings, provider)
      prepare      the URL, the JSON body (encoded once, checked: no lone surrogate, no NaN)
      cassette     replay / cache modes answer from the recording
      attempts     the one retry loop (:func:`.request.with_retries`): gate -> one attempt
      one attempt  POST and read a JSON body, or stream: SSE -> provider's translator ->
                   Accumulator (-> the caller's sink, for partial values)
      record       record / cache modes append the exchange

httpx and json exceptions never leave this module: they become structmagic errors here.
Nothing is retried once content has streamed: a stream that breaks is a
:class:`~structmagic.StreamError`. A stream is also bounded by ``timeout`` seconds without
progress in the answer (keep-alive comments are not progress).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import errors as E
from ..config import SYSTEM_CLOCK, Clock
from ..inputs.record import message_parts, payload_refs
from ..providers.base import Accumulator, Call, Completion, Delta, Part
from .auth import request_auth
from .cassette import Exchange, bad_entry, cassette_for, request_key
from .http import client_for
from .request import (
    Retry,
    build,
    encode,
    raise_for_status,
    require_key,
    retry_transport,
    timeout_for,
    with_retries,
)
from .sse import SSEDecoder
from .status import excerpt, not_json_error, too_deep, transport_error
from .work import Relay

if TYPE_CHECKING:
    import httpx

    from ..config import Settings
    from ..providers import Provider

__all__ = ["DeltaSink", "Sent", "is_recorded", "key_of", "send"]

log = logging.getLogger("structmagic")

DeltaSink = Callable[[list[Delta]], None]


@dataclass
class Sent:
    """What one request gave: the completion, and how many requests were answered for it
    (HTTP attempts, or 1 for an answer from the recording)."""

    completion: Completion
    attempts: int
    from_cassette: bool = False


@dataclass(frozen=True)
class Prepared:
    """What goes out, the same for every attempt."""

    url: str
    path: str
    body: dict[str, Any]
    content: bytes
    headers: dict[str, str]
    stream: bool
    parts: tuple[Part, ...] = ()  # the images and documents it carries
    tool: str | None = None  # the schema's tool: of several tool calls, the answer

    def recorded_body(self) -> Any:
        """The body as a recording keys and keeps it: each payload replaced by its hash."""
        return payload_refs(self.body, self.parts) if self.parts else self.body


def send(call: Call, settings: Settings, provider: Provider, *,
         on_deltas: DeltaSink | None = None, gate: Any = None, relay: Relay | None = None
         ) -> Sent:
    """Send one request (with retries) and return its completion.

    ``gate`` (a :class:`structmagic.rows.gate.RateGate`) paces the requests of a batch.
    ``on_deltas`` hears each piece of a stream on the thread that reads it; the calls it
    makes through ``relay`` (what the user sees) are made on the calling thread.
    Errors carry ``attempts``: how many HTTP attempts were made.
    """
    request = _prepare(call, settings, provider)
    cassette = None
    key = ""
    recorded_body: Any = None
    if settings.cache != "off" and settings.cassette:
        cassette = cassette_for(settings.cassette)
        recorded_body = request.recorded_body()
        key = request_key(provider.name, request.path, recorded_body)
        if settings.cache in ("replay", "cache"):
            hit = cassette.get(key)
            if hit is not None:
                return Sent(_replay(hit, call, provider, on_deltas), 1, from_cassette=True)
            if settings.cache == "replay":
                raise E.CassetteMissError(
                    f"Replay mode: this request is not in the recording {cassette.path} "
                    f"(key {key[:12]}…, {provider.name} {request.path}, model {call.model}).",
                    hint="Use --cache cache (or record) to call the server and record it, "
                    "or check that the prompt, schema and options match the recording.",
                )
    require_key(settings, request.url)
    if cassette is not None and settings.cache in ("record", "cache"):
        cassette.check_writable()  # before paying for an answer that could not be kept
    completion, attempts, recorded = _send_live(request, settings, provider, on_deltas, gate,
                                                relay)
    if cassette is not None and settings.cache in ("record", "cache"):
        streamed = isinstance(recorded, str)  # SSE text, or a JSON body
        cassette.add(Exchange(
            key=key, provider=provider.name, path=request.path, status=200,
            headers={"content-type": "text/event-stream" if streamed else "application/json"},
            stream=streamed, body=recorded, request=recorded_body,
        ))
    return Sent(completion, attempts)


def is_recorded(call: Call, settings: Settings, provider: Provider) -> bool:
    """Whether the recording holds an answer to ``call`` (False when none is configured)."""
    if settings.cache == "off" or not settings.cassette:
        return False
    return cassette_for(settings.cassette).get(key_of(call, settings, provider)) is not None


def key_of(call: Call, settings: Settings, provider: Provider) -> str:
    """The recording's key of ``call`` (:func:`~.cassette.request_key` of the body as it
    would be recorded), whether or not a recording is configured; nothing is encoded or
    sent."""
    url, body = build(call, settings, provider)
    parts = message_parts(call.messages)
    return request_key(provider.name, urlsplit(url).path,
                       payload_refs(body, parts) if parts else body)


def _prepare(call: Call, settings: Settings, provider: Provider) -> Prepared:
    url, body = build(call, settings, provider)
    content = encode(body)
    headers = {"Accept": "text/event-stream" if call.stream else "application/json",
               "Content-Type": "application/json"}
    for name, value in provider.extra_headers().items():  # the format's own: each sent once
        for same in [k for k in headers if k.lower() == name.lower()]:
            del headers[same]
        headers[name] = value
    return Prepared(url, urlsplit(url).path, body, content, headers, call.stream,
                    message_parts(call.messages), call.schema_name)


def _replay(hit: Exchange, call: Call, provider: Provider, sink: DeltaSink | None
            ) -> Completion:
    try:
        if hit.stream:
            text = str(hit.body).encode("utf-8")
            acc = Accumulator(tool=call.schema_name)
            # Replay in pieces so a live widget shows the steps arrive, as when recorded.
            pieces = (text[i : i + 2048] for i in range(0, len(text), 2048))
            _play_sse(pieces, provider, sink if call.stream else None, acc)
            return _finished(acc)
        completion = provider.parse(hit.body, tool=call.schema_name)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise bad_entry(hit, exc) from None
    if call.stream and sink is not None:
        sink([Delta(text=completion.text, reasoning=completion.reasoning or "")])
    return completion


# --- the attempts -------------------------------------------------------------------------------


def _send_live(request: Prepared, settings: Settings, provider: Provider,
               sink: DeltaSink | None, gate: Any, relay: Relay | None
               ) -> tuple[Completion, int, Any]:
    attempt = _Attempt(request, settings, provider, sink)
    (completion, recorded), tries = with_retries(attempt.run, settings, gate=gate,
                                                 relay=relay)
    return completion, tries, recorded


class _Attempt:
    """One HTTP attempt of a request: POST and read a JSON body, or stream and read events."""

    def __init__(self, request: Prepared, settings: Settings, provider: Provider,
                 sink: DeltaSink | None) -> None:
        self.request = request
        self.settings = settings
        self.provider = provider
        self.sink = sink
        self.http = client_for(settings)
        self.auth = request_auth(provider, settings)
        self.timeout = timeout_for(settings)

    def run(self) -> tuple[Completion, Any]:
        """The completion, and what to record (the JSON body, or the SSE text)."""
        return self._stream() if self.request.stream else self._post()

    def _post(self) -> tuple[Completion, Any]:
        import httpx

        r = self.request
        try:
            resp = self.http.post(r.url, content=r.content, headers=r.headers, auth=self.auth,
                                  timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise retry_transport(exc, self.settings, self.provider) from None
        raise_for_status(resp, self.settings, self.provider, inputs=bool(r.parts))
        return self._read_body(resp)

    def _stream(self) -> tuple[Completion, Any]:
        import httpx

        r = self.request
        acc = Accumulator(tool=r.tool)
        raw: list[bytes] = []

        def chunks(resp: httpx.Response) -> Iterator[bytes]:
            for chunk in resp.iter_bytes():
                raw.append(chunk)
                yield chunk

        try:
            with self.http.stream("POST", r.url, content=r.content, headers=r.headers,
                                  auth=self.auth, timeout=self.timeout) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise_for_status(resp, self.settings, self.provider,
                                     inputs=bool(r.parts))
                ctype = resp.headers.get("content-type", "").lower()
                if "event-stream" not in ctype and ("json" in ctype or "html" in ctype):
                    # A server (or proxy) that ignored stream=true and sent one JSON body,
                    # or a page from a proxy or captive portal.
                    resp.read()
                    completion, data = self._read_body(resp)
                    if self.sink is not None:
                        self.sink([Delta(text=completion.text,
                                         reasoning=completion.reasoning or "")])
                    return completion, data
                _play_sse(chunks(resp), self.provider, self.sink, acc,
                          stall_after=self.settings.timeout, clock=self.settings.clock)
        except E.StreamError as busy:
            if acc.error is not None and acc.transient and not acc.started:
                # the server is busy (Claude's overloaded_error ...) and nothing of the
                # answer came: another attempt, as for a 529
                raise Retry(busy) from None
            raise
        except httpx.TransportError as exc:
            err = transport_error(exc, self.settings)
            if not acc.started:
                raise Retry(err) from None
            raise E.StreamError(
                f"The stream broke off after part of the answer had arrived: {err.message}",
                raw=acc.partial_text(), hint="Nothing was bound; run the cell again.",
            ) from None
        except httpx.HTTPError as exc:
            raise retry_transport(exc, self.settings, self.provider) from None
        except _Stalled as stall:
            err = E.APITimeoutError(
                f"No progress in the answer from {self.settings.base_url} for "
                f"{stall.seconds:g} s (the server sent only keep-alives).",
                hint="Raise --timeout SECONDS if the model needs longer to start.")
            if not acc.started:
                raise Retry(err) from None
            raise E.StreamError(err.message, raw=acc.partial_text(), hint=err.hint) from None
        text = b"".join(raw).decode("utf-8", "replace")
        if not acc.started and not acc.complete and text.strip() and "data:" not in text:
            raise not_json_error(200, text, self.settings)
        return _finished(acc), text

    def _read_body(self, resp: httpx.Response) -> tuple[Completion, Any]:
        """A whole JSON answer: its completion and the parsed body (for the recording)."""
        try:
            data = resp.json()
        except RecursionError:
            raise too_deep(resp.text) from None
        except ValueError:
            raise not_json_error(resp.status_code, resp.text, self.settings) from None
        try:
            return self.provider.parse(data, tool=self.request.tool), data
        except RecursionError:
            raise too_deep(resp.text) from None
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            raise E.BadRequestError(
                f"HTTP {resp.status_code} from {self.settings.base_url}, but the answer does "
                f"not have the {self.provider.name} shape: {exc}. Body: {excerpt(resp.text)}",
                status=resp.status_code,
                body_excerpt=excerpt(resp.text, 500),
            ) from None


# --- reading a stream ---------------------------------------------------------------------------


class _Stalled(Exception):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


def _play_sse(chunks: Iterable[bytes], provider: Provider, sink: DeltaSink | None,
              acc: Accumulator, *, stall_after: float | None = None,
              clock: Clock = SYSTEM_CLOCK) -> None:
    """Decode SSE bytes chunk by chunk into ``acc``, calling ``sink`` once per chunk.

    With ``stall_after``, more than that many seconds without a piece of the answer (only
    comments, pings, empty events) raises :class:`_Stalled`.
    """
    decoder = SSEDecoder()
    translator = provider.stream()
    last_progress = clock.monotonic()

    def handle(events: list[Any]) -> bool:
        batch: list[Delta] = []
        for ev in events:
            try:
                batch.extend(translator.feed(ev.event, ev.data))
            except (ValueError, RecursionError) as exc:
                raise E.StreamError(
                    f"The stream carried an event that is not valid JSON ({exc}).",
                    raw=acc.partial_text(),
                ) from None
        if batch:
            acc.add(batch)
            if sink is not None:
                sink(batch)
        if acc.error:
            raise E.StreamError(
                f"The server sent an error in the stream: {excerpt(acc.error, 300)}",
                raw=acc.partial_text(),
            )
        return any(d.text or d.tool or d.reasoning or d.refusal or d.finish or d.done
                   for d in batch)

    for chunk in chunks:
        if handle(decoder.feed(chunk)):
            last_progress = clock.monotonic()
        elif stall_after is not None and clock.monotonic() - last_progress > stall_after:
            raise _Stalled(stall_after)
        if acc.done:
            return
    handle(decoder.close())


def _finished(acc: Accumulator) -> Completion:
    if not acc.complete:
        raise E.StreamError(
            "The stream ended before the answer was complete (no finish reason and no "
            "end-of-stream marker); the connection may have been cut.",
            raw=acc.partial_text(),
            hint="Run the cell again; nothing was bound.",
        )
    if acc.finish == "error":
        raise E.StreamError("The server ended the answer with an error (finish reason "
                            "'error') and gave no message.", raw=acc.partial_text())
    return acc.completion()
