"""The manifest: which batch jobs this notebook submitted, so a re-run re-attaches to them.

One JSON file (by default beside the cassette as ``<cassette>.batches.json``, else
``structmagic-batches.json`` in the working folder — a notebook's kernel runs in the
notebook's folder; ``%structured_config --batch-manifest PATH`` or ``batch_manifest=`` put it
elsewhere)::

    {"version": 1, "jobs": {"<key>": {"key", "name", "provider", "base_url", "model",
      "endpoint", "schema", "rows", "state", "status", "parts": [{"index", "start", "stop",
      "count", "bytes", "name", "intent_at", "file_id", "batch_id", "status", ...}],
      "cost", "estimated_cost", "max_cost", ...}}}

``key`` is the SHA-256 of the job's content — provider, endpoint, model, schema name, and
every row's id (its position and the hash of its request) — and of the base URL, so the
same rows asked the same way of the same server find the same job (``name``, the job's name
at the provider, hashes the content only); each part's ``start``/``stop`` give its rows,
whose ids the re-run rebuilds.
A part's ``intent_at`` is written before anything of it is sent, and its ``file_id`` /
``batch_id`` as soon as they are known: a re-run that finds an intent without a job id
looks the job up at the provider (by its name, or by creation time and size) before
creating one, so a crash between upload and create, or between create and this write, never
submits twice.

Writes are atomic (a temporary file, then ``os.replace``) under an advisory lock, and
scrubbed of any registered key like every other file structmagic writes; the key itself is
never part of a record.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from collections.abc import Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ... import errors as E
from ...redact import scrub

try:
    import fcntl
except ImportError:  # Windows: not locked
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from ...config import Settings

__all__ = ["DEFAULT_NAME", "JobRecord", "Manifest", "PartRecord", "manifest_path"]

DEFAULT_NAME = "structmagic-batches.json"
VERSION = 1

# job states (ours, beside the provider's statuses)
SUBMITTING = "submitting"  # parts are being uploaded and created
SUBMITTED = "submitted"  # every part has a job at the provider
COLLECTED = "collected"  # the results were read


@dataclass
class PartRecord:
    """One part of a job: an input file and the provider job made from it."""

    index: int
    start: int
    stop: int
    count: int
    bytes: int
    sha256: str
    name: str
    intent_at: float | None = None
    file_id: str | None = None
    batch_id: str | None = None
    status: str | None = None
    raw_status: str | None = None
    total: int | None = None
    completed: int = 0
    failed: int = 0

    @classmethod
    def from_json(cls, data: Any) -> PartRecord:
        """The part of a manifest record; ``ValueError`` when it is damaged (a field
        missing or of another type)."""
        return cls(**_values(cls, data))


@dataclass
class JobRecord:
    """One job of the manifest."""

    key: str
    name: str
    provider: str
    base_url: str
    model: str
    endpoint: str
    schema: str
    rows: int
    created: float
    state: str = SUBMITTING
    status: str | None = None
    generation: int = 0
    parts: list[PartRecord] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    cost: float | None = None
    estimated_cost: float | None = None
    #: the job's ``max_cost`` (USD): what is left of it bounds the re-run of failed rows
    max_cost: float | None = None

    @classmethod
    def from_json(cls, data: Any) -> JobRecord:
        """A record of the manifest; ``ValueError`` when it is damaged (a field missing or
        of another type)."""
        values = _values(cls, data)
        values["parts"] = [PartRecord.from_json(p) for p in values.get("parts") or ()]
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def find_part(self, batch_id: str) -> PartRecord | None:
        return next((p for p in self.parts if p.batch_id == batch_id), None)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


#: what a record's field may hold, by its declared type (``X | None`` also takes null)
_KINDS: dict[str, Any] = {
    "int": _is_int,
    "float": lambda v: (_is_int(v) or isinstance(v, float)) and math.isfinite(v),
    "str": lambda v: isinstance(v, str),
    "dict[str, int]": lambda v: isinstance(v, dict) and all(_is_int(x) for x in v.values()),
    "list[PartRecord]": lambda v: isinstance(v, list),
}


def _values(cls: Any, data: Any) -> dict[str, Any]:
    """The fields of ``cls`` found in ``data`` (others left out), each checked against its
    declared type; ``ValueError`` for one missing without a default, or of another type."""
    what = cls.__name__.removesuffix("Record").lower()  # job, part
    if not isinstance(data, dict):
        raise ValueError(f"a {what} is {type(data).__name__}, not an object")
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ValueError(f"a {what} has no {f.name!r}")
            continue
        value, kind = data[f.name], str(f.type)
        if not ((value is None and kind.endswith(" | None"))
                or _KINDS[kind.removesuffix(" | None")](value)):
            raise ValueError(f"the {f.name!r} of a {what} is {json.dumps(value)[:40]}")
        values[f.name] = value
    return values


def safe_url(url: str) -> str:
    """``url`` without user name or password (never written to a file)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def manifest_path(settings: Settings, given: str | os.PathLike[str] | None = None) -> Path:
    """Where the manifest of ``settings`` is: given, configured, beside the cassette, or in
    the working folder."""
    chosen = given or settings.batch_manifest
    if chosen:
        return Path(chosen).expanduser()
    if settings.cassette:
        cassette = Path(settings.cassette).expanduser()
        stem = cassette.name.removesuffix(".jsonl").removesuffix(".cassette")
        return cassette.with_name(f"{stem}.batches.json")
    return Path(DEFAULT_NAME)


_locks: dict[str, _FileLock] = {}
_locks_lock = threading.Lock()


class Manifest:
    """The manifest file at ``path``: read whole (it is small: a few records per job), written
    atomically."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"<Manifest {str(self.path)!r}>"

    # --- reading -----------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text("utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return {"version": VERSION, "jobs": {}}
        except (OSError, UnicodeDecodeError) as exc:
            raise E.BatchError(f"The batch manifest {self.path} cannot be read ({exc})."
                               ) from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("jobs"), dict):
                raise ValueError("no 'jobs' object")
            for job in data["jobs"].values():
                JobRecord.from_json(job)
        except (ValueError, RecursionError) as exc:
            raise E.BatchError(
                f"The batch manifest {self.path} is damaged ({exc}); nothing was sent.",
                hint="Move it away to start a new one (jobs it named keep running at the "
                "provider; %structured_batches lists those of a good manifest).") from None
        return data

    def jobs(self) -> list[JobRecord]:
        """Every job, oldest first."""
        found = [JobRecord.from_json(j) for j in self._read()["jobs"].values()]
        return sorted(found, key=lambda j: j.created)

    def get(self, key: str) -> JobRecord | None:
        data = self._read()["jobs"].get(key)
        return None if data is None else JobRecord.from_json(data)

    def find(self, ident: str) -> JobRecord | None:
        """The job whose key starts with ``ident`` (at least 6 characters), or one of whose
        parts has the provider id ``ident``."""
        ident = ident.strip()
        for job in self.jobs():
            if (len(ident) >= 6 and job.key.startswith(ident)) or any(
                    p.batch_id == ident for p in job.parts):
                return job
        return None

    # --- writing -----------------------------------------------------------------------------

    def check_writable(self) -> None:
        """:class:`~structmagic.BatchError` now, before anything is sent, if the manifest could
        not be written."""
        folder = self.path.parent
        problem: str | None
        if self.path.is_dir():
            problem = "it is a folder"
        elif not folder.exists():
            problem = None if os.access(_existing(folder), os.W_OK) else "no such folder"
        elif not os.access(folder, os.W_OK | os.X_OK):
            problem = f"the folder {folder} is not writable"
        elif self.path.exists() and not os.access(self.path, os.W_OK):
            problem = "the file is not writable"
        else:
            problem = None
        if problem:
            raise E.BatchError(
                f"The batch manifest {self.path} cannot be written ({problem}); nothing was "
                "sent, since the job could not be found again.",
                hint="Choose another file with %structured_config --batch-manifest PATH.")

    def put(self, job: JobRecord) -> None:
        """Write ``job`` (replacing the record of its key); the other records stay."""
        with self.locked():
            data = self._read()
            data["version"] = VERSION
            data["jobs"][job.key] = job.to_json()
            self._write(data)

    def remove(self, key: str) -> None:
        with self.locked():
            data = self._read()
            if data["jobs"].pop(key, None) is not None:
                self._write(data)

    def _write(self, data: dict[str, Any]) -> None:
        text = scrub(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True)) + "\n"
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}"
                                  ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise E.BatchError(
                f"Could not write the batch manifest {self.path} "
                f"({exc.strerror or exc}).",
                hint="Jobs already submitted keep running; a re-run finds them at the "
                "provider once the manifest can be written.") from None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the manifest's lock (other threads, and other processes); reentrant."""
        key = str(self.path.resolve())
        with _locks_lock:
            lock = _locks.setdefault(key, _FileLock())
        with lock:
            lock.depth += 1
            try:
                if lock.depth == 1:
                    lock.fd = _flock(self.path)
                yield
            finally:
                lock.depth -= 1
                if lock.depth == 0 and lock.fd is not None:
                    os.close(lock.fd)  # releases the lock
                    lock.fd = None


class _FileLock:
    """A reentrant lock of this process, holding the file lock while held."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.depth = 0
        self.fd: int | None = None

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def _flock(path: Path) -> int | None:
    """An exclusive advisory lock on ``path``'s lock file (None where there is none)."""
    if fcntl is None:
        return None
    lock_path = path.with_name(f".{path.name}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        return None  # an unwritable folder: put() says so
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder
