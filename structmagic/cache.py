"""Record and replay: a cassette of exchanges, one JSON object per line.

Each exchange is keyed by a SHA-256 of the provider, the endpoint path and the request body
(the ``stream`` switches left out, so a streamed recording also answers a plain request and
the other way round) — never of headers, so no key can reach the file or change a key.
Only these response headers are kept: ``content-type``, ``x-request-id``, ``openai-model``.

Modes (``%structured_config --cache MODE`` or ``STRUCTMAGIC_CACHE``, with the file set by
``--cassette PATH`` or ``STRUCTMAGIC_CASSETTE``):

- ``replay``: answer from the file only; a request that is not in it is an error;
- ``record``: always call the server, append every successful exchange;
- ``cache``: answer from the file when the request is there, otherwise call and append.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import scrub

__all__ = ["Cassette", "Exchange", "cassette_for", "request_key"]

#: response headers a recording may keep; everything else (cookies, ids that could
#: identify an account, anything carrying a key) is dropped
KEPT_HEADERS = ("content-type", "x-request-id", "openai-model")
_STREAM_KEYS = ("stream", "stream_options")


def _normal_path(path: str) -> str:
    path = path.split("?", 1)[0]
    return re.sub(r":streamGenerateContent$", ":generateContent", path)


def request_key(provider: str, path: str, body: Any) -> str:
    """The cassette key of a request: provider + endpoint path + body, headers excluded."""
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in _STREAM_KEYS}
    text = json.dumps(
        {"provider": provider, "path": _normal_path(path), "body": body},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Exchange:
    """One recorded answer: a JSON body, or the raw text of an SSE stream."""

    key: str
    provider: str
    path: str
    status: int
    headers: dict[str, str]
    stream: bool
    body: Any  # the parsed JSON body, or the SSE text when ``stream``
    request: Any = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "key": self.key,
                "provider": self.provider,
                "path": self.path,
                "request": self.request,
                "status": self.status,
                "headers": self.headers,
                "stream": self.stream,
                "body": self.body,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


class Cassette:
    """A JSON-lines file of exchanges, loaded once, appended to under a lock."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._index: dict[str, Exchange] | None = None
        self._loaded_size = -1

    def __repr__(self) -> str:
        n = len(self._index) if self._index is not None else "?"
        return f"<Cassette {str(self.path)!r}: {n} exchanges>"

    def _load(self) -> dict[str, Exchange]:
        size = self.path.stat().st_size if self.path.exists() else 0
        if self._index is not None and size == self._loaded_size:
            return self._index
        index: dict[str, Exchange] = {}
        if size:
            with self.path.open(encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        raw = json.loads(line)
                        ex = Exchange(
                            key=raw["key"],
                            provider=raw.get("provider", "openai"),
                            path=raw.get("path", ""),
                            status=int(raw.get("status", 200)),
                            headers=dict(raw.get("headers") or {}),
                            stream=bool(raw.get("stream")),
                            body=raw.get("body"),
                            request=raw.get("request"),
                        )
                    except (ValueError, KeyError, TypeError) as exc:
                        raise ValueError(
                            f"{self.path}:{lineno}: not a structmagic cassette line ({exc})"
                        ) from None
                    index[ex.key] = ex  # the latest recording of a request wins
        self._index, self._loaded_size = index, size
        return index

    def get(self, key: str) -> Exchange | None:
        with self._lock:
            return self._load().get(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._load())

    def add(self, exchange: Exchange) -> None:
        """Append one exchange (headers filtered, text scrubbed of any registered key)."""
        headers = {k.lower(): v for k, v in exchange.headers.items() if k.lower() in KEPT_HEADERS}
        exchange = Exchange(**{**exchange.__dict__, "headers": headers})
        line = scrub(exchange.to_json())
        with self._lock:
            index = self._load()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
            index[exchange.key] = exchange
            self._loaded_size = self.path.stat().st_size


_cassettes: dict[str, Cassette] = {}
_cassettes_lock = threading.Lock()


def cassette_for(path: str) -> Cassette:
    """One shared :class:`Cassette` per file path (so concurrent calls share the index)."""
    resolved = str(Path(path).expanduser().resolve())
    with _cassettes_lock:
        if resolved not in _cassettes:
            _cassettes[resolved] = Cassette(resolved)
        return _cassettes[resolved]
