"""One request of a call: answered from the cassette when it can be, else sent over HTTP with
retries, and its answer read into a :class:`~structmagic.providers.base.Completion`.

::

    send(call, settings, provider)
      prepare      the URL, the JSON body (encoded once, checked: no lone surrogate, no NaN)
      cassette     replay / cache modes answer from the recording
      attempts     for retries_taken in 0..retries: gate -> one attempt -> retry policy
      one attempt  POST and read a JSON body, or stream: SSE -> provider's translator ->
                   Accumulator (-> the caller's sink, for partial values)
      record       record / cache modes append the exchange

httpx and json exceptions never leave this module: they become structmagic errors here.
Nothing is retried once content has streamed: a stream that breaks is a
:class:`~structmagic.StreamError`. A stream is also bounded by ``timeout`` seconds without
progress in the answer (keep-alive comments are not progress).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import errors as E
from ..inputs.record import message_parts, payload_refs
from ..providers.base import Accumulator, Call, Completion, Delta, Part
from .cassette import Exchange, bad_entry, cassette_for, request_key
from .http import client_for, is_loopback, key_auth
from .retry import should_retry, sleep_for_retry, wait_before_retry
from .sse import SSEDecoder
from .status import api_error, excerpt, not_json_error, transport_error

if TYPE_CHECKING:
    import httpx

    from ..config import Settings
    from ..providers import Provider

__all__ = ["DeltaSink", "Sent", "is_recorded", "send"]

log = logging.getLogger("structmagic")

DeltaSink = Callable[[list[Delta]], None]
_clock: Callable[[], float] = time.monotonic  # progress of a stream (tests replace it)


@dataclass
class Sent:
    """What one request gave: the completion, and how many requests were answered for it
    (HTTP attempts, or 1 for an answer from the recording)."""

    completion: Completion
    attempts: int
    from_cassette: bool = False


@dataclass(frozen=True)
class _Request:
    """What goes out, the same for every attempt."""

    url: str
    path: str
    body: dict[str, Any]
    content: bytes
    headers: dict[str, str]
    stream: bool
    parts: tuple[Part, ...] = ()  # the images and documents it carries

    def recorded_body(self) -> Any:
        """The body as a recording keys and keeps it: each payload replaced by its hash."""
        return payload_refs(self.body, self.parts) if self.parts else self.body


class _Retry(Exception):
    """Internal: this attempt failed in a way worth another attempt."""

    def __init__(self, error: E.StructuredError, wait: float | None = None) -> None:
        self.error = error
        self.wait = wait


def send(call: Call, settings: Settings, provider: Provider, *,
         on_deltas: DeltaSink | None = None, gate: Any = None) -> Sent:
    """Send one request (with retries) and return its completion.

    ``gate`` (a :class:`structmagic.rows.threads.RateGate`) paces the requests of a batch.
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
    if settings.key() is None and not is_loopback(request.url):
        raise E.ConfigError(f"No API key for {settings.base_url}.", hint=settings.key_help())
    if cassette is not None and settings.cache in ("record", "cache"):
        cassette.check_writable()  # before paying for an answer that could not be kept
    completion, attempts, recorded = _send_live(request, settings, provider, on_deltas, gate)
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
    request = _prepare(call, settings, provider)
    key = request_key(provider.name, request.path, request.recorded_body())
    return cassette_for(settings.cassette).get(key) is not None


def _prepare(call: Call, settings: Settings, provider: Provider) -> _Request:
    try:
        url, body = provider.build(call, settings.base_url)
    except ValueError as exc:  # a mode this format cannot send (e.g. a tool with thinking)
        raise E.ConfigError(
            f"The {provider.name} format cannot send this request as {call.mode}: {exc}",
            hint="--mode auto (the default) picks the ways this format can ask.") from None
    try:
        content = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        raise E.InputError(
            "The request holds text that cannot be sent: a lone surrogate (a half of a "
            "UTF-16 pair, such as '\\ud800') in the prompt or a value filled into it.",
            hint="Remove or replace the broken character (text.encode('utf-8', "
                 "'replace').decode() shows where).") from None
    except ValueError as exc:
        raise E.InputError(f"The request holds a value JSON cannot carry ({exc}): NaN or "
                           "infinity in an option or message.") from None
    except RecursionError:
        raise E.InputError("The request nests too deep to be sent.") from None
    headers = {"Accept": "text/event-stream" if call.stream else "application/json",
               "Content-Type": "application/json", **provider.extra_headers()}
    return _Request(url, urlsplit(url).path, body, content, headers, call.stream,
                    message_parts(call.messages))


def _replay(hit: Exchange, call: Call, provider: Provider, sink: DeltaSink | None
            ) -> Completion:
    try:
        if hit.stream:
            text = str(hit.body).encode("utf-8")
            acc = Accumulator()
            # Replay in pieces so a live widget shows the steps arrive, as when recorded.
            pieces = (text[i : i + 2048] for i in range(0, len(text), 2048))
            _play_sse(pieces, provider, sink if call.stream else None, acc)
            return _finished(acc)
        completion = provider.parse(hit.body)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise bad_entry(hit, exc) from None
    if call.stream and sink is not None:
        sink([Delta(text=completion.text, reasoning=completion.reasoning or "")])
    return completion


# --- the attempts -------------------------------------------------------------------------------


def _send_live(request: _Request, settings: Settings, provider: Provider,
               sink: DeltaSink | None, gate: Any) -> tuple[Completion, int, Any]:
    attempt = _Attempt(request, settings, provider, sink)
    last: E.StructuredError | None = None
    tries = 0
    for retries_taken in range(settings.retries + 1):
        tries = retries_taken + 1
        if gate is not None:
            gate.before_request()
        try:
            completion, recorded = attempt.run()
            return completion, tries, recorded
        except _Retry as retry:
            last = retry.error
            last.attempts = tries
            if retries_taken >= settings.retries:
                break
            wait = wait_before_retry(retries_taken, last, retry.wait, settings.max_retry_wait)
            log.info("retrying in %.2f s after: %s", wait, last.message)
            if gate is not None and isinstance(last, E.RateLimitError):
                gate.pause(wait)  # every worker of the batch slows down, not only this one
                continue  # gate.before_request() makes this worker wait too
            sleep_for_retry(wait)
        except E.StructuredError as err:
            err.attempts = tries
            raise
    assert last is not None
    if tries > 1:
        last.hint = (f"Gave up after {tries} attempts. " + (last.hint or "")).strip()
    raise last


class _Attempt:
    """One HTTP attempt of a request: POST and read a JSON body, or stream and read events."""

    def __init__(self, request: _Request, settings: Settings, provider: Provider,
                 sink: DeltaSink | None) -> None:

        self.request = request
        self.settings = settings
        self.provider = provider
        self.sink = sink
        self.http = client_for(settings)
        self.auth = key_auth(provider, settings)
        self.timeout = _timeout(settings.timeout, settings.connect_timeout)

    def run(self) -> tuple[Completion, Any]:
        """The completion, and what to record (the JSON body, or the SSE text)."""
        return self._stream() if self.request.stream else self._post()

    def _post(self) -> tuple[Completion, Any]:
        import httpx

        r = self.request
        try:
            resp = self.http.post(r.url, content=r.content, headers=r.headers, auth=self.auth,
                                  timeout=self.timeout)
        except httpx.TransportError as exc:
            raise _Retry(transport_error(exc, self.settings)) from None
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.settings) from None
        if resp.status_code >= 400:
            self._raise_status(resp)
        return self._read_body(resp)

    def _stream(self) -> tuple[Completion, Any]:
        import httpx

        r = self.request
        acc = Accumulator()
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
                    self._raise_status(resp)
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
                          stall_after=self.settings.timeout)
        except httpx.TransportError as exc:
            err = transport_error(exc, self.settings)
            if not acc.started:
                raise _Retry(err) from None
            raise E.StreamError(
                f"The stream broke off after part of the answer had arrived: {err.message}",
                raw=acc.partial_text(), hint="Nothing was bound; run the cell again.",
            ) from None
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.settings) from None
        except _Stalled as stall:
            err = E.APITimeoutError(
                f"No progress in the answer from {self.settings.base_url} for "
                f"{stall.seconds:g} s (the server sent only keep-alives).",
                hint="Raise --timeout SECONDS if the model needs longer to start.")
            if not acc.started:
                raise _Retry(err) from None
            raise E.StreamError(err.message, raw=acc.partial_text(), hint=err.hint) from None
        text = b"".join(raw).decode("utf-8", "replace")
        if not acc.started and not acc.complete and text.strip() and "data:" not in text:
            raise not_json_error(200, text, self.settings)
        return _finished(acc), text

    def _raise_status(self, resp: httpx.Response) -> None:
        err = api_error(resp.status_code, resp.text, resp.headers, self.provider, self.settings,
                        inputs=bool(self.request.parts))
        if not isinstance(err, (E.UnsupportedFormatError, E.UnsupportedInputError)) and \
                should_retry(resp.status_code, resp.headers):
            raise _Retry(err, err.retry_after)
        raise err

    def _read_body(self, resp: httpx.Response) -> tuple[Completion, Any]:
        """A whole JSON answer: its completion and the parsed body (for the recording)."""
        try:
            data = resp.json()
        except RecursionError:
            raise _too_deep(resp.text) from None
        except ValueError:
            raise not_json_error(resp.status_code, resp.text, self.settings) from None
        try:
            return self.provider.parse(data), data
        except RecursionError:
            raise _too_deep(resp.text) from None
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            raise E.BadRequestError(
                f"HTTP {resp.status_code} from {self.settings.base_url}, but the answer does "
                f"not have the {self.provider.name} shape: {exc}. Body: {excerpt(resp.text)}",
                status=resp.status_code,
                body_excerpt=excerpt(resp.text, 500),
            ) from None


@functools.lru_cache(maxsize=32)
def _timeout(read: float, connect: float) -> httpx.Timeout:
    import httpx

    return httpx.Timeout(read, connect=connect)


def _too_deep(text: str) -> E.InvalidOutputError:
    from ..call.prompt import MAX_ANSWER_DEPTH

    return E.InvalidOutputError(
        f"The answer nests deeper than {MAX_ANSWER_DEPTH} levels; it is not read.",
        errors=[E.ValidationIssue("$", f"nested deeper than {MAX_ANSWER_DEPTH} levels")],
        raw=text[:2000])


# --- reading a stream ---------------------------------------------------------------------------


class _Stalled(Exception):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


def _play_sse(chunks: Iterable[bytes], provider: Provider, sink: DeltaSink | None,
              acc: Accumulator, *, stall_after: float | None = None) -> None:
    """Decode SSE bytes chunk by chunk into ``acc``, calling ``sink`` once per chunk.

    With ``stall_after``, more than that many seconds without a piece of the answer (only
    comments, pings, empty events) raises :class:`_Stalled`.
    """
    decoder = SSEDecoder()
    translator = provider.stream()
    last_progress = _clock()

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
        return any(d.text or d.reasoning or d.refusal or d.finish or d.done for d in batch)

    for chunk in chunks:
        if handle(decoder.feed(chunk)):
            last_progress = _clock()
        elif stall_after is not None and _clock() - last_progress > stall_after:
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
