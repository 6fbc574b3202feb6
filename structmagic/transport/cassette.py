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
import stat
import threading
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import CassetteError
from ..redact import scrub

try:
    import fcntl
except ImportError:  # Windows: appends are not locked
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "Cassette",
    "CassetteWarning",
    "Exchange",
    "bad_entry",
    "cassette_for",
    "forget_cassettes",
    "request_key",
]

#: response headers a recording may keep; everything else (cookies, ids that could
#: identify an account, anything carrying a key) is dropped
KEPT_HEADERS = ("content-type", "x-request-id", "openai-model")
_STREAM_KEYS = ("stream", "stream_options")
#: what only asks a provider's prompt cache to serve the request (never what it answers)
_CACHE_KEYS = ("prompt_cache_key",)


def _normal_path(path: str) -> str:
    path = path.split("?", 1)[0]
    return re.sub(r":streamGenerateContent$", ":generateContent", path)


def _unmarked(content: Any) -> Any:
    """A system prompt or a turn's content without cache breakpoints: text blocks that
    carried one (and the text split off with it) read as the one string they were."""
    if not isinstance(content, list) or not any(
            isinstance(b, dict) and "cache_control" in b for b in content):
        return content
    blocks = [{k: v for k, v in b.items() if k != "cache_control"} if isinstance(b, dict)
              else b for b in content]
    if all(isinstance(b, dict) and b.keys() == {"type", "text"} and b["type"] == "text"
           for b in blocks):
        return "".join(b["text"] for b in blocks)
    return blocks


def request_key(provider: str, path: str, body: Any) -> str:
    """The cassette key of a request: provider + endpoint path + body, headers excluded; what
    only asks a prompt cache to serve it (OpenAI's ``prompt_cache_key``, Claude's
    ``cache_control`` breakpoints) is left out, so a recording made without them answers a
    request with them, and the other way round."""
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in _STREAM_KEYS and k not in _CACHE_KEYS}
        if "system" in body:
            body["system"] = _unmarked(body["system"])
        messages = body.get("messages")
        if isinstance(messages, list) and any(
                isinstance(m, dict) and isinstance(m.get("content"), list) for m in messages):
            body["messages"] = [{**m, "content": _unmarked(m["content"])}
                                if isinstance(m, dict) and "content" in m else m
                                for m in messages]
    text = json.dumps(
        {"provider": provider, "path": _normal_path(path), "body": body},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Exchange:
    """One recorded answer: a JSON body, or the raw text of an SSE stream.

    ``source`` and ``line`` say where it was read from (the cassette file and its 1-based
    line number; ``""`` and 0 for an exchange not read from a file), so that an entry that
    turns out not to be an answer can be named: see :func:`bad_entry`.
    """

    key: str
    provider: str
    path: str
    status: int
    headers: dict[str, str]
    stream: bool
    body: Any  # the parsed JSON body, or the SSE text when ``stream``
    request: Any = None
    source: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

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


class CassetteWarning(UserWarning):
    """A recording had a damaged line (skipped), or an answer could not be added to it."""


def bad_entry(exchange: Exchange, problem: object) -> CassetteError:
    """The error for a recorded entry that is not a usable answer, naming its file and line.

    Raise it where a cassette hit fails to parse: ``raise bad_entry(hit, exc) from None``.
    """
    where = f"{exchange.source}:{exchange.line}" if exchange.source else "the recording"
    return CassetteError(
        f"{where}: the recorded {exchange.provider} answer cannot be used ({problem}).",
        hint="Delete that line (or the file) and run with --cache cache or --cache record to "
        "record the answer again.",
    )


_warned: set[tuple[Any, ...]] = set()
_warned_lock = threading.Lock()


def _warn_once(key: tuple[Any, ...], message: str) -> None:
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(message, CassetteWarning, stacklevel=3)


def _flock(fd: int, *, exclusive: bool) -> bool:
    """An advisory lock on ``fd`` until it is closed; False where there is none to take."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    except OSError:  # a file system without locks
        return False
    return True


def _problem(exc: BaseException, raw: bytes) -> str:
    """What is wrong with a damaged line, without quoting it."""
    if raw.lstrip().startswith((b"<<<<<<<", b"=======", b">>>>>>>", b"|||||||")):
        return "a merge-conflict marker"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r} field"
    return str(exc)


def _unwritable(path: Path) -> str | None:
    """Why an exchange could not be appended to ``path`` now, or None. Changes nothing."""
    if os.path.lexists(path):
        if path.is_dir():
            return "it is a folder"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            return exc.strerror or type(exc).__name__
        os.close(fd)
        return None
    folder = path.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable"
    return None


_Stamp = tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns


def _stamp(st: os.stat_result) -> _Stamp:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class Cassette:
    """A JSON-lines file of exchanges, read incrementally, appended to under a lock.

    The index follows the file: each lookup checks the file's size and identity (one
    ``stat``) and reads only the lines appended since (by this process or another); a file
    that shrank or was replaced is read again from the start. A damaged line is skipped with
    a :class:`CassetteWarning` naming the file and line, once. Appends take an advisory lock
    (where the platform has one), start on a new line even after a line cut off by a killed
    writer, and never lose an answer: when the file cannot be written the exchange is kept
    in memory for this session and the failure is warned about once.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._index: dict[str, Exchange] = {}
        self._unsaved: dict[str, Exchange] = {}  # answers whose append failed
        self._offset = 0  # bytes of complete lines read so far
        self._lines = 0  # and how many lines they are
        self._stamp: _Stamp | None = None  # the file as it was when last read to its end
        self._writable = False  # check_writable() passed and no append failed since
        self._append_warned = False

    def __repr__(self) -> str:
        return f"<Cassette {str(self.path)!r}: {len(self._index) + len(self._unsaved)} exchanges>"

    # --- reading --------------------------------------------------------------------------

    def _forget(self) -> None:
        self._index = {}
        self._offset = self._lines = 0
        self._stamp = None

    def _sync(self, *, locked: bool = False) -> None:
        """Bring the index in step with the file, reading only what is new.

        ``locked``: the caller holds the exclusive append lock (no other writer is mid-line).
        """
        try:
            st = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            self._forget()
            return
        except OSError as exc:
            raise self._unreadable(exc) from None
        if self._stamp is not None and _stamp(st) == self._stamp:
            return
        try:
            with open(self.path, "rb") as fh:
                have_lock = locked or _flock(fh.fileno(), exclusive=False)
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):  # /dev/null, a pipe: nothing to read
                    self._forget()
                    self._stamp = _stamp(st)
                    return
                old = self._stamp
                if (
                    old is None
                    or old[:2] != (st.st_dev, st.st_ino)  # replaced
                    or st.st_size < self._offset  # shrank
                    or (st.st_size == old[2] and st.st_mtime_ns != old[3])  # rewritten
                ):
                    self._forget()
                elif self._offset:
                    fh.seek(self._offset - 1)
                    if fh.read(1) != b"\n":  # rewritten in place: what we read is gone
                        self._forget()
                fh.seek(self._offset)
                data = fh.read(st.st_size - self._offset)
        except OSError as exc:
            raise self._unreadable(exc) from None
        self._consume(data, st, complete=have_lock)
        self._stamp = _stamp(st)

    def _unreadable(self, exc: OSError) -> CassetteError:
        return CassetteError(
            f"The recording {self.path} cannot be read ({exc.strerror or exc})."
        )

    def _consume(self, data: bytes, st: os.stat_result, *, complete: bool) -> None:
        """Index the complete lines of ``data`` (which starts at ``self._offset``)."""
        *lines, tail = data.split(b"\n")
        for raw in lines:
            self._lines += 1
            self._offset += len(raw) + 1
            if raw.strip():
                exchange = self._parse(raw, self._lines, st)
                if exchange is not None:
                    self._index[exchange.key] = exchange  # the latest recording wins
        if tail.strip():
            # Bytes after the last newline: a line being written by another process, or
            # one cut off when its writer was killed. Not consumed: read again once it ends.
            exchange = self._parse(tail, self._lines + 1, st, quiet=not complete,
                                   cut=True)
            if exchange is not None:  # a whole entry that only lacks its newline
                self._index[exchange.key] = exchange

    def _parse(self, raw: bytes, lineno: int, st: os.stat_result, *, quiet: bool = False,
               cut: bool = False) -> Exchange | None:
        try:
            obj = json.loads(raw)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            key = obj["key"]
            if not isinstance(key, str) or not key:
                raise ValueError("the 'key' field is not a string")
            return Exchange(
                key=key,
                provider=str(obj.get("provider", "openai")),
                path=str(obj.get("path", "")),
                status=int(obj.get("status", 200)),
                headers=dict(obj.get("headers") or {}),
                stream=bool(obj.get("stream")),
                body=obj.get("body"),
                request=obj.get("request"),
                source=str(self.path),
                line=lineno,
            )
        except (ValueError, KeyError, TypeError) as exc:
            if not quiet:
                what = "is cut off (no end of line)" if cut else "is damaged"
                _warn_once(
                    (str(self.path), st.st_dev, st.st_ino, lineno),
                    f"{self.path}:{lineno}: this line of the recording {what} and was "
                    f"skipped ({_problem(exc, raw)}); the other entries still replay.",
                )
            return None

    def get(self, key: str) -> Exchange | None:
        with self._lock:
            self._sync()
            return self._unsaved.get(key) or self._index.get(key)

    def __len__(self) -> int:
        with self._lock:
            self._sync()
            return len(self._index.keys() | self._unsaved.keys())

    # --- writing --------------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise :class:`CassetteError` if an answer could not be appended to the file.

        Call it before paying for an answer that is to be recorded. Cheap: once it passed,
        it is checked again only after an append failed.
        """
        if self._writable:
            return
        problem = _unwritable(self.path)
        if problem is not None:
            raise CassetteError(
                f"The recording {self.path} cannot be written ({problem}); nothing was sent, "
                "since the answer could not be kept.",
                hint="Make the file (or its folder) writable, choose another file with "
                "%structured_config --cassette PATH, or use --cache replay to answer from it "
                "only.",
            )
        self._writable = True

    def add(self, exchange: Exchange) -> None:
        """Append one exchange (headers filtered, text scrubbed of any registered key).

        Never raises for a file that cannot be written: the exchange is then kept in memory
        (later lookups of this process find it) and a :class:`CassetteWarning` says so once.
        """
        headers = {k.lower(): v for k, v in exchange.headers.items() if k.lower() in KEPT_HEADERS}
        exchange = replace(exchange, headers=headers, source=str(self.path), line=0)
        data = (scrub(exchange.to_json()) + "\n").encode("utf-8")
        with self._lock:
            try:
                self._append(data)
            except OSError as exc:
                self._writable = False
                self._unsaved[exchange.key] = exchange
                if not self._append_warned:
                    self._append_warned = True
                    reason = _unwritable(self.path) or exc.strerror or str(exc)
                    warnings.warn(
                        f"Could not add an answer to the recording {self.path} ({reason}): "
                        "it was returned and is kept in memory for this session, but it is "
                        "not saved.",
                        CassetteWarning,
                        stacklevel=2,
                    )
                return
            self._append_warned = False
            self._unsaved.pop(exchange.key, None)
            if exchange.key not in self._index:  # e.g. a file that is not a regular file
                self._index[exchange.key] = exchange

    def _append(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            locked = _flock(fd, exclusive=True)
            self._sync(locked=locked)  # what others appended: read it, and see how it ends
            if self._stamp is not None and self._stamp[2] > self._offset:
                data = b"\n" + data  # the last line was cut off: ours starts on a new line
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            self._sync(locked=locked)  # index our line (and only it, normally)
        finally:
            os.close(fd)  # releases the lock


_cassettes: dict[str, Cassette] = {}
_cassettes_lock = threading.Lock()


def cassette_for(path: str) -> Cassette:
    """One shared :class:`Cassette` per file path (so concurrent calls share the index)."""
    resolved = str(Path(path).expanduser().resolve())
    with _cassettes_lock:
        if resolved not in _cassettes:
            _cassettes[resolved] = Cassette(resolved)
        return _cassettes[resolved]


def forget_cassettes() -> None:
    """Forget every open recording (each is read again from its file on next use)."""
    with _cassettes_lock:
        _cassettes.clear()
