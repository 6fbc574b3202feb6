"""HTTP: one request of a call, with the cassette, retries and error mapping at the boundary.

:func:`send` builds the request from a wire format, answers it from the cassette when it can,
otherwise posts it with httpx, retrying as the official SDKs do (2 retries, 0.5 s doubling
to 8 s with up to 25% jitter, on connection errors, timeouts, 408, 409, 429 and 5xx;
``x-should-retry``, ``retry-after-ms`` and ``retry-after`` honoured up to a cap). Nothing is
retried once content has streamed: a stream that breaks is a :class:`StreamError`.

httpx and json exceptions never leave this module: they become structmagic errors here.
The key is attached by an ``httpx.Auth`` at the last moment, so no local variable of ours
holds it, and no header is logged or recorded.
"""

from __future__ import annotations

import email.utils
import html
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import errors as E
from .cache import Exchange, cassette_for, request_key
from .config import Settings
from .transport.sse import SSEDecoder
from .wire.base import Call, Completion, Delta, WireFormat

if TYPE_CHECKING:
    import httpx

__all__ = ["Sent", "send"]

log = logging.getLogger("structmagic")

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524, 529})
INITIAL_DELAY = 0.5
MAX_DELAY = 8.0

DeltaSink = Callable[[list[Delta]], None]
_sleep = time.sleep  # the retry wait (tests replace it)


@dataclass
class Sent:
    """What one request gave: the completion and how many HTTP attempts it took."""

    completion: Completion
    attempts: int
    from_cassette: bool = False


# --- the shared httpx client ------------------------------------------------------------------

_http: httpx.Client | None = None
_http_lock = threading.Lock()


def _client() -> httpx.Client:
    global _http
    if _http is None:
        with _http_lock:
            if _http is None:
                import httpx

                _http = httpx.Client(
                    limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
                    follow_redirects=False,
                    trust_env=True,
                )
    return _http


_KeyAuth: Any = None


def _auth(wire: WireFormat, settings: Settings) -> Any:
    """An ``httpx.Auth`` that adds the key headers as the request leaves (repr: no key)."""
    global _KeyAuth
    if _KeyAuth is None:
        import httpx

        class KeyAuth(httpx.Auth):
            def __init__(self, wire: WireFormat, key: Any) -> None:
                self._wire = wire
                self._key = key

            def __repr__(self) -> str:
                return f"<KeyAuth {self._key.source if self._key else 'no key'}>"

            def auth_flow(self, request: httpx.Request) -> Any:
                if self._key is not None:
                    request.headers.update(self._wire.auth_headers(
                        self._key.get_secret_value()))
                yield request

        _KeyAuth = KeyAuth
    return _KeyAuth(wire, settings.key())


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


# --- error mapping ------------------------------------------------------------------------------

_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.S | re.I)
_SPACE = re.compile(r"\s+")


def excerpt(text: str, limit: int = 200) -> str:
    """A short plain-text excerpt of an error body (an HTML page loses its tags)."""
    if "<" in text and ">" in text:
        text = html.unescape(_TAGS.sub(" ", text))
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            return max(0.0, when.timestamp() - time.time())
    return None


def _api_error(
    status: int, body_text: str, headers: Any, wire: WireFormat, settings: Settings
) -> E.APIError:
    try:
        message = wire.error_message(json.loads(body_text)) if body_text else None
    except ValueError:
        message = None
    short = excerpt(message or body_text) or "(empty body)"
    where = f"{settings.base_url} ({settings.provider}, model {settings.model})"
    retry_after = _retry_after(headers)
    kw: dict[str, Any] = {"status": status, "body_excerpt": excerpt(body_text, 500)}
    if status in (401, 403):
        key = settings.key()
        source = key.source if key else "no key was set"
        return E.AuthenticationError(
            f"HTTP {status} from {where}: {short}",
            key_source=source,
            hint=f"The key came from {source}. {settings.key_help()}",
            **kw,
        )
    if wire.rejects_format(status, message or body_text):
        return E.UnsupportedFormatError(
            f"HTTP {status} from {where}: the server does not take this response format: "
            f"{short}",
            hint="Try --mode auto (the default), or --mode json_object / tools.",
            **kw,
        )
    if status == 429:
        return E.RateLimitError(
            f"HTTP 429 (rate limited) from {where}: {short}", retry_after=retry_after, **kw
        )
    if status >= 500:
        return E.ServerError(
            f"HTTP {status} (server error) from {where}: {short}", retry_after=retry_after, **kw
        )
    hint = None
    if status == 404:
        hint = "Check the base URL (it usually ends in /v1) and the model name."
    return E.BadRequestError(f"HTTP {status} from {where}: {short}", hint=hint, **kw)


def _should_retry(status: int, headers: Any) -> bool:
    override = (headers.get("x-should-retry") or "").lower()
    if override == "true":
        return True
    if override == "false":
        return False
    return status in RETRY_STATUSES or status >= 500


def _backoff(attempt: int) -> float:
    delay = min(INITIAL_DELAY * 2**attempt, MAX_DELAY)
    return delay * (1 - 0.25 * random.random())


class _Retry(Exception):
    """Internal: this attempt failed in a retryable way."""

    def __init__(self, error: E.StructuredError, wait: float | None = None) -> None:
        self.error = error
        self.wait = wait


# --- assembling a streamed answer ------------------------------------------------------------


class _Assembly:
    """Collects deltas into a Completion."""

    __slots__ = ("done", "error", "finish", "model", "reasoning", "refusal", "text", "usage")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.finish: str | None = None
        self.usage: dict[str, int] = {}
        self.model: str | None = None
        self.done = False
        self.error: str | None = None

    def add(self, deltas: list[Delta]) -> None:
        for d in deltas:
            if d.text:
                self.text.append(d.text)
            if d.reasoning:
                self.reasoning.append(d.reasoning)
            if d.refusal:
                self.refusal.append(d.refusal)
            if d.finish:
                self.finish = d.finish
            if d.usage:
                self.usage = d.usage
            if d.model:
                self.model = d.model
            if d.error:
                self.error = d.error
            if d.done:
                self.done = True

    @property
    def started(self) -> bool:
        return bool(self.text or self.reasoning or self.refusal)

    def completion(self) -> Completion:
        return Completion(
            text="".join(self.text),
            reasoning="".join(self.reasoning) or None,
            refusal="".join(self.refusal) or None,
            finish=self.finish,
            usage=self.usage,
            model=self.model,
        )


def _play_sse(
    chunks: Any, wire: WireFormat, sink: DeltaSink | None, asm: _Assembly
) -> None:
    """Decode SSE bytes chunk by chunk into ``asm``, calling ``sink`` once per chunk."""
    decoder = SSEDecoder()
    translator = wire.stream()

    def handle(events: list[Any]) -> None:
        batch: list[Delta] = []
        for ev in events:
            try:
                batch.extend(translator.feed(ev.event, ev.data))
            except ValueError as exc:
                raise E.StreamError(
                    f"The stream carried an event that is not valid JSON ({exc}).",
                    raw="".join(asm.text),
                ) from None
        if batch:
            asm.add(batch)
            if sink is not None:
                sink(batch)
        if asm.error:
            raise E.StreamError(
                f"The server sent an error in the stream: {excerpt(asm.error, 300)}",
                raw="".join(asm.text),
            )

    for chunk in chunks:
        handle(decoder.feed(chunk))
        if asm.done:
            return
    handle(decoder.close())


def _finish_stream(asm: _Assembly, settings: Settings) -> Completion:
    if not asm.done and asm.finish is None:
        raise E.StreamError(
            "The stream ended before the answer was complete (no finish reason and no "
            "end-of-stream marker); the connection may have been cut.",
            raw="".join(asm.text),
            hint="Run the cell again; nothing was bound.",
        )
    return asm.completion()


# --- the request --------------------------------------------------------------------------------


def send(
    call: Call,
    settings: Settings,
    wire: WireFormat,
    *,
    on_deltas: DeltaSink | None = None,
    gate: Any = None,
) -> Sent:
    """Send one request (with retries) and return its completion.

    ``gate`` (a :class:`structmagic.batching.RateGate`) paces requests shared by a batch.
    """
    try:
        url, body = wire.build(call, settings.base_url)
    except ValueError as exc:  # this format cannot carry this schema in this mode
        raise E.UnsupportedFormatError(
            f"The {wire.name} format cannot send this schema as {call.mode}: {exc}",
            status=0,
            hint="--mode auto (the default) steps down to the next way of asking.",
        ) from None
    path = urlsplit(url).path
    cassette = None
    key = ""
    if settings.cache != "off" and settings.cassette:
        cassette = cassette_for(settings.cassette)
        key = request_key(wire.name, path, body)
        if settings.cache in ("replay", "cache"):
            hit = cassette.get(key)
            if hit is not None:
                return Sent(_replay(hit, call, wire, settings, on_deltas), 1, from_cassette=True)
            if settings.cache == "replay":
                raise E.CassetteMissError(
                    f"Replay mode: this request is not in the recording {cassette.path} "
                    f"(key {key[:12]}…, {wire.name} {path}, model {call.model}).",
                    hint="Use --cache cache (or record) to call the server and record it, "
                    "or check that the prompt, schema and options match the recording.",
                )
    if settings.key() is None and not _is_loopback(url):
        raise E.ConfigError(f"No API key for {settings.base_url}.", hint=settings.key_help())
    completion, attempts, exchange_body = _send_live(
        url, body, call, settings, wire, on_deltas, gate
    )
    if cassette is not None and settings.cache in ("record", "cache"):
        streamed = isinstance(exchange_body, str)  # SSE text, or a JSON body
        cassette.add(
            Exchange(
                key=key,
                provider=wire.name,
                path=path,
                status=200,
                headers={"content-type": "text/event-stream" if streamed else "application/json"},
                stream=streamed,
                body=exchange_body,
                request=body,
            )
        )
    return Sent(completion, attempts)


def _replay(
    hit: Exchange, call: Call, wire: WireFormat, settings: Settings, sink: DeltaSink | None
) -> Completion:
    if hit.stream:
        text = str(hit.body).encode("utf-8")
        asm = _Assembly()
        # Replay in pieces so a live widget shows the steps arrive, as it did when recorded.
        pieces = (text[i : i + 2048] for i in range(0, len(text), 2048))
        _play_sse(pieces, wire, sink if call.stream else None, asm)
        return _finish_stream(asm, settings)
    completion = wire.parse(hit.body)
    if call.stream and sink is not None:
        sink([Delta(text=completion.text, reasoning=completion.reasoning or "")])
    return completion


def _send_live(
    url: str,
    body: dict[str, Any],
    call: Call,
    settings: Settings,
    wire: WireFormat,
    sink: DeltaSink | None,
    gate: Any = None,
) -> tuple[Completion, int, Any]:
    import httpx

    http = _client()
    timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
    headers = {"Accept": "text/event-stream" if call.stream else "application/json"}
    headers.update(wire.extra_headers())
    auth = _auth(wire, settings)
    attempts = 0
    last: E.StructuredError | None = None
    for attempt in range(settings.retries + 1):
        attempts += 1
        if gate is not None:
            gate.before_request()
        try:
            if call.stream:
                completion, raw = _stream_once(http, url, body, headers, auth, timeout,
                                               call, settings, wire, sink)
            else:
                completion, raw = _post_once(http, url, body, headers, auth, timeout,
                                             settings, wire)
            return completion, attempts, raw
        except _Retry as retry:
            last = retry.error
            if attempt >= settings.retries:
                break
            wait = retry.wait if retry.wait is not None else _backoff(attempt)
            if wait > settings.max_retry_wait:
                raise type(last)(
                    f"{last.message} The server asks to wait {wait:.0f} s before retrying, "
                    f"more than the {settings.max_retry_wait:.0f} s cap.",
                    **_error_kwargs(last),
                ) from None
            log.info("retrying in %.2f s after: %s", wait, last.message)
            if gate is not None and isinstance(last, E.RateLimitError):
                gate.pause(wait)  # every worker of the batch slows down, not only this one
                continue  # gate.before_request() makes this worker wait too
            _sleep(wait)
    assert last is not None
    if attempts > 1:
        last.hint = (f"Gave up after {attempts} attempts. " + (last.hint or "")).strip()
    raise last


def _error_kwargs(err: E.StructuredError) -> dict[str, Any]:
    if isinstance(err, E.APIError):
        return {"status": err.status, "body_excerpt": err.body_excerpt, "hint": err.hint}
    return {"hint": err.hint}


def _transport_error(exc: Exception, settings: Settings) -> E.TransportError:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        kind = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for data"
        limit = settings.connect_timeout if kind == "connecting" else settings.timeout
        return E.APITimeoutError(
            f"Timed out {kind} from {settings.base_url} (limit {limit:g} s).",
            hint="Raise it with --timeout SECONDS (or the timeout setting).",
        )
    detail = excerpt(str(exc) or type(exc).__name__, 200)
    return E.TransportError(f"Could not reach {settings.base_url}: {detail}")


def _post_once(
    http: httpx.Client,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    auth: Any,
    timeout: Any,
    settings: Settings,
    wire: WireFormat,
) -> tuple[Completion, Any]:
    import httpx

    try:
        resp = http.post(url, json=body, headers=headers, auth=auth, timeout=timeout)
    except httpx.TransportError as exc:
        raise _Retry(_transport_error(exc, settings)) from None
    if resp.status_code >= 400:
        _raise_status(resp.status_code, resp.text, resp.headers, wire, settings)
    return _read_body(resp, wire, settings)


def _read_body(resp: httpx.Response, wire: WireFormat, settings: Settings) -> tuple[Completion,
                                                                                     Any]:
    """A whole JSON answer: its completion and the parsed body (for the recording)."""
    try:
        data = resp.json()
    except ValueError:
        raise E.BadRequestError(
            f"HTTP {resp.status_code} from {settings.base_url}, but the body is not JSON: "
            f"{excerpt(resp.text) or '(empty body)'}",
            status=resp.status_code,
            body_excerpt=excerpt(resp.text, 500),
            hint="Is the base URL right? It usually ends in /v1.",
        ) from None
    try:
        return wire.parse(data), data
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise E.BadRequestError(
            f"HTTP {resp.status_code} from {settings.base_url}, but the answer does not have "
            f"the {wire.name} shape: {exc}. Body: {excerpt(resp.text)}",
            status=resp.status_code,
            body_excerpt=excerpt(resp.text, 500),
        ) from None


def _raise_status(
    status: int, text: str, headers: Any, wire: WireFormat, settings: Settings
) -> None:
    err = _api_error(status, text, headers, wire, settings)
    if not isinstance(err, E.UnsupportedFormatError) and _should_retry(status, headers):
        raise _Retry(err, err.retry_after)
    raise err


def _stream_once(
    http: httpx.Client,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    auth: Any,
    timeout: Any,
    call: Call,
    settings: Settings,
    wire: WireFormat,
    sink: DeltaSink | None,
) -> tuple[Completion, Any]:
    import httpx

    asm = _Assembly()
    raw: list[bytes] = []

    def chunks(resp: httpx.Response) -> Any:
        for chunk in resp.iter_bytes():
            raw.append(chunk)
            yield chunk

    try:
        with http.stream("POST", url, json=body, headers=headers, auth=auth,
                         timeout=timeout) as resp:
            if resp.status_code >= 400:
                resp.read()
                _raise_status(resp.status_code, resp.text, resp.headers, wire, settings)
            ctype = resp.headers.get("content-type", "")
            if "json" in ctype and "event-stream" not in ctype:
                # A server (or proxy) that ignored stream=true and sent one JSON body.
                resp.read()
                completion, data = _read_body(resp, wire, settings)
                if sink is not None:
                    sink([Delta(text=completion.text, reasoning=completion.reasoning or "")])
                return completion, data
            _play_sse(chunks(resp), wire, sink, asm)
    except httpx.TransportError as exc:
        err = _transport_error(exc, settings)
        if not asm.started:
            raise _Retry(err) from None
        raise E.StreamError(
            f"The stream broke off after part of the answer had arrived: {err.message}",
            raw="".join(asm.text),
            hint="Nothing was bound; run the cell again.",
        ) from None
    return _finish_stream(asm, settings), b"".join(raw).decode("utf-8", "replace")
