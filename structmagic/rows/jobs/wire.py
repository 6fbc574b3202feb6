"""The HTTP of the batch APIs: uploads, creates, polls, lists, downloads and cancels.

Every request goes through the same client as a synchronous call
(:func:`structmagic.transport.http.client_for`: the user's ``http_client`` or the shared
one), with the key added as the request leaves (:func:`~structmagic.transport.auth.request_auth`)
and through the one request path of :mod:`structmagic.transport.request` (the key checked,
errors mapped at the boundary, the one retry loop). Reads (polls, lists, downloads) and
cancels are retried; a request that creates something is sent once — the job decides what
to do after a failure (look the job up first, so nothing is created twice).

Recordings: in the cache modes the exchanges of the batch API go into the same cassette as
the synchronous answers. Each is keyed by provider, method, path and body (an upload by its
file's name and SHA-256, never its bytes; a request that carries the submission's mark by
what it is without it, so a recording replays for any submission of the same rows) plus how
many times that request was made in this process: the n-th poll of a job replays the n-th
recorded answer (a poll made more often than recorded replays the last one in the replay
mode, and in the cache mode when that one says the job has ended), so a recorded job
replays its whole life —
``validating`` → ``in_progress`` → ... → ``completed`` — offline. Downloads record their
text; a recording holds no header and no key.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ... import errors as E
from ...transport.auth import request_auth
from ...transport.cassette import Exchange, cassette_for, request_key
from ...transport.http import client_for
from ...transport.request import (
    raise_for_status,
    require_key,
    retry_transport,
    timeout_for,
    with_retries,
)
from ...transport.status import excerpt, transport_error

if TYPE_CHECKING:
    import httpx

    from ...config import Settings
    from ...providers import Provider
    from ...providers.batch import Upload

__all__ = ["Answer", "Wire", "forget_counts"]

_counts: dict[tuple[str, str], int] = {}
_counts_lock = threading.Lock()


def forget_counts() -> None:
    """Start every request's count again (a fresh kernel does; tests call it)."""
    with _counts_lock:
        _counts.clear()


@dataclass
class Answer:
    """A JSON answer (or a download's text), and whether it came from the recording."""

    status: int
    body: Any
    from_cassette: bool = False
    #: a recorded answer given again: the request was made more often than recorded
    repeated: bool = False


class Wire:
    """The batch API's requests for one provider and settings."""

    def __init__(self, settings: Settings, provider: Provider,
                 settled: Callable[[Any], bool] | None = None) -> None:
        self.settings = settings
        self.provider = provider
        #: whether a recorded answer is final (a job that has ended): only such an answer is
        #: given again, in the cache mode, to a request made more often than recorded
        self.settled = settled or (lambda body: True)
        self.cassette = (cassette_for(settings.cassette)
                         if settings.cache != "off" and settings.cassette else None)

    # --- the requests ----------------------------------------------------------------------

    def json(self, method: str, url: str, body: Any = None, *, once: bool = False,
             key: Any = None) -> Answer:
        """A JSON request and its JSON answer. ``once``: not retried (it creates); ``key``:
        what a recording keys it by (default: the body)."""
        def send(http: httpx.Client, auth: Any, timeout: Any) -> httpx.Response:
            return http.request(method, url, json=body, headers=self._headers(), auth=auth,
                                timeout=timeout)

        return self._exchange(method, url, body if key is None else key, send, once=once)

    def stream_json(self, method: str, url: str, content: Callable[[], Iterable[bytes]],
                    size: int, key: Any, *, once: bool = True) -> Answer:
        """A request whose JSON body is streamed from disk (``size`` bytes); recorded under
        ``key`` (e.g. the SHA-256 of the file it is made of)."""
        def send(http: httpx.Client, auth: Any, timeout: Any) -> httpx.Response:
            headers = {**self._headers(), "Content-Type": "application/json",
                       "Content-Length": str(size)}
            return http.request(method, url, content=content(), headers=headers, auth=auth,
                                timeout=timeout)

        return self._exchange(method, url, key, send, once=once)

    def upload(self, upload: Upload, path: Path, filename: str, size: int, sha256: str, *,
               keyed_as: str | None = None) -> Answer:
        """Upload an input file (multipart, or the resumable protocol); a recording keys it
        by the file's name (or ``keyed_as``), size and SHA-256."""
        key = {"upload": keyed_as or filename, "bytes": size, "sha256": sha256}
        if upload.kind == "multipart":
            def send(http: httpx.Client, auth: Any, timeout: Any) -> httpx.Response:
                with open(path, "rb") as fh:
                    return http.post(upload.url, data=dict(upload.fields),
                                     files={"file": (filename, fh, "application/jsonl")},
                                     headers=self._headers(json=False), auth=auth,
                                     timeout=timeout)
        else:
            def send(http: httpx.Client, auth: Any, timeout: Any) -> httpx.Response:
                return self._resumable(http, auth, timeout, upload, path, size)
        return self._exchange("POST", upload.url, key, send)

    def lines(self, url: str) -> Iterator[bytes]:
        """The lines of a download (a JSONL results file), read as they arrive: split on
        ``\n`` only (U+2028, U+0085 ... may stand unescaped inside a JSON string), blank
        lines left out. Retried until its first line has arrived, never after."""
        if self.cassette is not None:
            found = self._recorded("GET", url, None)
            if found is not None:
                yield from _split_lines([str(found[0].body).encode("utf-8")])
                return
        import httpx

        record = self.cassette is not None and self.settings.cache in ("record", "cache")
        kept: list[bytes] = []
        self._ready()
        (stack, first, rest), tries = with_retries(lambda: self._open(url), self.settings)
        with stack:
            try:
                for data in itertools.chain(first, rest):
                    if record:
                        kept.append(data)
                    yield data
            except httpx.HTTPError as exc:  # after the first line: never retried
                err = transport_error(exc, self.settings)
                err.attempts = tries
                raise err from None
        if record:
            self._record("GET", url, None, 200, b"\n".join(kept).decode("utf-8", "replace"))

    def _open(self, url: str) -> tuple[contextlib.ExitStack, list[bytes], Iterator[bytes]]:
        """One attempt at a download: the open response (closed by the stack), its first
        line (none for an empty file), and an iterator over the rest."""
        import httpx

        stack = contextlib.ExitStack()
        try:
            resp = stack.enter_context(self._http().stream(
                "GET", url, headers=self._headers(json=False), auth=self._auth(),
                timeout=timeout_for(self.settings)))
            if resp.status_code >= 400:
                resp.read()
                raise_for_status(resp, self.settings, self.provider)
            rest = _split_lines(resp.iter_bytes())
            first = next(rest, None)
        except httpx.HTTPError as exc:
            stack.close()
            raise retry_transport(exc, self.settings, self.provider) from None
        except BaseException:
            stack.close()
            raise
        return stack, [] if first is None else [first], rest

    # --- the exchange ----------------------------------------------------------------------

    def _exchange(self, method: str, url: str, key: Any,
                  send: Callable[[httpx.Client, Any, Any], httpx.Response], *,
                  once: bool = False) -> Answer:
        if self.cassette is not None:
            found = self._recorded(method, url, key)
            if found is not None:
                return Answer(found[0].status, found[0].body, from_cassette=True,
                              repeated=found[1])
        import httpx

        def attempt() -> httpx.Response:
            try:
                resp = send(self._http(), self._auth(), timeout_for(self.settings))
            except httpx.HTTPError as exc:
                raise retry_transport(exc, self.settings, self.provider) from None
            except OSError as exc:  # the input file went away
                raise E.BatchError(f"Could not read the batch input file: {exc}") from None
            raise_for_status(resp, self.settings, self.provider)
            return resp

        self._ready()
        resp, _ = with_retries(attempt, self.settings, retries=0 if once else None)
        body = self._body(resp)
        self._record(method, url, key, resp.status_code, body)
        return Answer(resp.status_code, body)

    def _body(self, resp: httpx.Response) -> Any:
        if not resp.content:
            return None
        try:
            return resp.json()
        except (ValueError, RecursionError):
            raise E.BadRequestError(
                f"HTTP {resp.status_code} from {self.settings.base_url}, but the body is not "
                f"JSON: {excerpt(resp.text) or '(empty)'}", status=resp.status_code,
                body_excerpt=excerpt(resp.text, 500),
                hint="Is the base URL right? A proxy may have answered instead of the API."
            ) from None

    def _resumable(self, http: httpx.Client, auth: Any, timeout: Any, upload: Upload,
                   path: Path, size: int) -> httpx.Response:
        """Gemini's resumable upload: a start request, then the bytes to the URL it names
        (only on the same host as the start: the key goes with it)."""
        start = http.post(upload.url, json=upload.json,
                          headers={**self._headers(), **upload.headers}, auth=auth,
                          timeout=timeout)
        if start.status_code >= 400:
            return start
        target = start.headers.get("x-goog-upload-url") or ""
        if urlsplit(target).netloc != urlsplit(upload.url).netloc:
            raise E.BatchError(
                f"The upload of the batch input was redirected to another host "
                f"({urlsplit(target).netloc or 'none given'}); it was not sent there.")
        with open(path, "rb") as fh:
            return http.post(target, content=_chunks(fh), auth=auth, timeout=timeout,
                             headers={"Content-Length": str(size),
                                      "X-Goog-Upload-Offset": "0",
                                      "X-Goog-Upload-Command": "upload, finalize"})

    # --- pieces ------------------------------------------------------------------------------

    def _ready(self) -> None:
        """Before anything is sent: a key for a remote host, a recording that can be kept."""
        require_key(self.settings)
        if self.cassette is not None and self.settings.cache in ("record", "cache"):
            self.cassette.check_writable()

    def _http(self) -> httpx.Client:
        return client_for(self.settings)

    def _auth(self) -> Any:
        return request_auth(self.provider, self.settings)

    def _headers(self, *, json: bool = True) -> dict[str, str]:
        headers = {"Accept": "application/json", **self.provider.extra_headers()}
        if not json:
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            headers["Accept"] = "*/*"
        return headers

    def _key(self, method: str, url: str, key: Any) -> str:
        parts = urlsplit(url)
        return request_key(self.provider.name, f"{method} {parts.path}",
                           {"query": parts.query, "body": key})

    def _recorded(self, method: str, url: str, key: Any) -> tuple[Exchange, bool] | None:
        """The recorded answer to this request's next occurrence, and whether it is an
        earlier occurrence's given again (None: not recorded)."""
        assert self.cassette is not None
        if self.settings.cache not in ("replay", "cache"):
            return None
        base = self._key(method, url, key)
        with _counts_lock:
            n = _counts.get((str(self.cassette.path), base), 0)
        hit = self.cassette.get(f"{base}#{n}")
        repeated = False
        if hit is None and method == "GET" and n:  # polled more often than recorded
            last = next((h for m in range(n - 1, -1, -1)
                         if (h := self.cassette.get(f"{base}#{m}")) is not None), None)
            if last is not None and (self.settings.cache == "replay"
                                     or self.settled(last.body)):
                hit, repeated = last, True
        if hit is not None:
            self._count(base)
            return hit, repeated
        if self.settings.cache == "replay":
            raise E.CassetteMissError(
                f"Replay mode: this batch-API request is not in the recording "
                f"{self.cassette.path} ({self.provider.name} {method} {urlsplit(url).path}, "
                f"occurrence {n + 1}).",
                hint="Use --cache cache (or record) to call the server and record it.")
        return None

    def _record(self, method: str, url: str, key: Any, status: int, body: Any) -> None:
        if self.cassette is None:
            return
        base = self._key(method, url, key)
        n = self._count(base)
        if self.settings.cache not in ("record", "cache"):
            return
        self.cassette.add(Exchange(
            key=f"{base}#{n}", provider=self.provider.name,
            path=f"{method} {urlsplit(url).path}", status=status,
            headers={"content-type": "application/json"}, stream=False, body=body,
            request=key if isinstance(key, dict) else None))

    def _count(self, base: str) -> int:
        """This request's occurrence number (0 first), counted now."""
        assert self.cassette is not None
        with _counts_lock:
            k = (str(self.cassette.path), base)
            n = _counts.get(k, 0)
            _counts[k] = n + 1
        return n


def _split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The non-blank lines of a byte stream, split on ``b"\n"`` only (a ``\r`` before it
    dropped); only the unfinished line is held between chunks."""
    pending = bytearray()
    for chunk in chunks:
        end = chunk.rfind(b"\n")
        if end < 0:
            pending += chunk
            continue
        pending += chunk[:end]
        for line in bytes(pending).split(b"\n"):
            line = line.rstrip(b"\r")
            if line.strip():
                yield line
        pending = bytearray(chunk[end + 1:])
    line = bytes(pending).rstrip(b"\r")
    if line.strip():
        yield line


def _chunks(fh: Any, size: int = 1 << 16) -> Iterator[bytes]:
    while True:
        data = fh.read(size)
        if not data:
            return
        yield data
