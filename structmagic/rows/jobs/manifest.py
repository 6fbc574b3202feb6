"""The manifest: which batch jobs this notebook submitted, so a re-run re-attaches to them.

One JSON file (by default beside the cassette as ``<cassette>.batches.json``, else
``structmagic-batches.json`` in the working folder — a notebook's kernel runs in the
notebook's folder; ``%structured_config --batch-manifest PATH`` or ``batch_manifest=`` put it
elsewhere)::

    {"version": 1, "jobs": {"<key>": {"key", "name", "mark", "provider", "base_url", "model",
      "endpoint", "schema", "rows", "state", "status", "parts": [{"index", "start", "stop",
      "count", "bytes", "name", "intent_at", "file_id", "batch_id", "status", ...}],
      "cost", "estimated_cost", "max_cost", "rerun": {"<row>": <result>}, ...}}}

``key`` is the SHA-256 of the job's content — provider, endpoint, model, schema name, and
every row's id (its position and the hash of its request) — and of the base URL, so the
same rows asked the same way of the same server find the same job (``name``, the job's name
at the provider, hashes the content only); each part's ``start``/``stop`` give its rows,
whose ids the re-run rebuilds. ``mark`` is a random token of this submission (a new one
for each record, and for each ``resubmit``): the job's name at the provider carries it, and
so does each request's id where the API keeps no name (Anthropic), so that a job created
just before a crash is told from every other job of the account.
A part's ``intent_at`` is written before anything of it is sent, and its ``file_id`` /
``batch_id`` as soon as they are known: a re-run that finds an intent without a job id
looks the job up at the provider (by the mark, see :mod:`.submit`) before creating one, so
a crash between upload and create, or between create and this write, never submits twice.
``rerun`` keeps the results of the synchronous re-run of the job's failed rows
(:mod:`.kept`), so a re-attach of a collected job pays for nothing again.

The file is shared and committed, and may be edited by hand, so every record is checked
as a whole when it is read (:func:`check_record`: the type and range of each field, the
parts' rows within the job's and in order, the ids usable in a URL, no provider id claimed
twice); anything else is the "damaged manifest" :class:`~structmagic.BatchError`, before
anything is sent. Requests about a recorded job go only to the base URL configured now: the
record's ``base_url`` is never contacted on its own word (:func:`structmagic.rows.jobs.job.
wire_for`).

Writes are atomic (a temporary file, then ``os.replace``) under an advisory lock, and
scrubbed of any registered key like every other file structmagic writes; the key itself is
never part of a record.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ... import errors as E
from ...providers.batch import STATUSES
from ...redact import scrub
from .kept import check_kept

try:
    import fcntl
except ImportError:  # Windows: not locked
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from ...config import Settings

__all__ = ["DEFAULT_NAME", "STATES", "JobRecord", "Manifest", "PartRecord", "check_record",
           "manifest_path", "safe_url", "usable_id"]

DEFAULT_NAME = "structmagic-batches.json"
VERSION = 1

# job states (ours, beside the provider's statuses)
SUBMITTING = "submitting"  # parts are being uploaded and created
SUBMITTED = "submitted"  # every part has a job at the provider
COLLECTED = "collected"  # the results were read
STATES = (SUBMITTING, SUBMITTED, COLLECTED)


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
    #: this submission's random token (empty in a record made before there were marks)
    mark: str = ""
    #: the synchronous re-run of failed rows: each row's result, by its position (:mod:`.kept`)
    rerun: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> JobRecord:
        """A record of the manifest; ``ValueError`` when it is damaged (a field missing or
        of another type, or out of its range: :func:`check_record`)."""
        values = _values(cls, data)
        values["parts"] = [PartRecord.from_json(p) for p in values.get("parts") or ()]
        record = cls(**values)
        check_record(record)
        return record

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
    "dict[str, Any]": lambda v: isinstance(v, dict),
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


#: a provider's id (of a job, of a file), as it may stand in a URL's path: letters, digits and
#: ``_ . = ~ -``, at most one ``/`` between two such words (Gemini's ``batches/...``), never a
#: word that starts with a dot, never ``?``, ``#``, ``%``, ``@``, ``:`` or a space
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=~-]{0,255}(?:/[A-Za-z0-9][A-Za-z0-9_.=~-]{0,255})?")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"structmagic-[0-9a-f]{20}(?:-g[1-9][0-9]{0,5})?")
_MARK = re.compile(r"(?:[0-9a-f]{10})?")
#: the outcomes a job's summary counts (collect.py, job.py)
_SUMMARY = frozenset({"ok", "invalid", "refused", "errored", "expired", "cancelled", "missing",
                      "failed", "unsent", "retried", "retried_ok", "not_run", "repeated",
                      "unknown_lines", "unreadable_lines"})
#: bounds on what a record may hold: rows, bytes of a part, generations, Unix times
MAX_ROWS = 10**9
MAX_BYTES = 2**50
MAX_GENERATION = 10**6
MAX_TIME = 10.0**11


def usable_id(value: Any) -> bool:
    """Whether ``value`` is a provider id that can stand in a URL's path (:data:`_ID`)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _url_ok(url: str) -> bool:
    """An http(s) URL with a host, and neither credentials, query nor fragment."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname)
            and parts.username is None and parts.password is None
            and not parts.query and not parts.fragment)


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(what)


def _amount(value: float | None) -> bool:
    return value is None or 0 <= value < 10.0**12


def check_record(job: JobRecord) -> None:
    """Every field of ``job`` that the code relies on, in its range; ``ValueError`` naming
    the first that is not (its types were checked when it was read)."""
    _need(_SHA256.fullmatch(job.key) is not None, "a job's 'key' is not a SHA-256")
    where = f"job {job.key[:12]}"
    _need(_NAME.fullmatch(job.name) is not None, f"the 'name' of {where} is not one of ours")
    _need(_MARK.fullmatch(job.mark) is not None, f"the 'mark' of {where} is not one of ours")
    _need(job.provider.isidentifier(), f"the 'provider' of {where} is not a provider's name")
    _need(_url_ok(job.base_url), f"the 'base_url' of {where} is not an http(s) URL")
    _need(bool(job.model) and bool(job.endpoint), f"{where} names no model or endpoint")
    _need(0 <= job.rows <= MAX_ROWS, f"the 'rows' of {where} is out of range")
    _need(0 <= job.created < MAX_TIME, f"the 'created' of {where} is out of range")
    _need(job.state in STATES, f"the 'state' of {where} is none of {', '.join(STATES)}")
    _need(job.status is None or job.status in STATUSES, f"the 'status' of {where} is unknown")
    _need(0 <= job.generation <= MAX_GENERATION, f"the 'generation' of {where} is out of range")
    for name in ("cost", "estimated_cost", "max_cost"):
        _need(_amount(getattr(job, name)), f"the {name!r} of {where} is out of range")
    _need(all(k in _SUMMARY and 0 <= v <= (MAX_ROWS if k.endswith("_lines") else job.rows)
              for k, v in job.summary.items()),
          f"the 'summary' of {where} counts something else, or more rows than it has")
    _need(all(0 <= v < 2**63 for v in job.usage.values()),
          f"the 'usage' of {where} is not token counts")
    stop = 0
    for i, part in enumerate(job.parts):
        at = f"part {i} of {where}"
        _need(part.index == i, f"the parts of {where} are not numbered 0, 1, ... in order")
        _need(part.name == f"{job.name}-{i}", f"the 'name' of {at} is not its job's")
        _need(stop <= part.start < part.stop <= job.rows,
              f"the rows of {at} ({part.start} to {part.stop}) are not within the job's "
              f"{job.rows}, after those of the part before")
        stop = part.stop
        _need(1 <= part.count <= part.stop - part.start, f"the 'count' of {at} is out of range")
        _need(0 <= part.bytes <= MAX_BYTES, f"the 'bytes' of {at} is out of range")
        _need(_SHA256.fullmatch(part.sha256) is not None, f"the 'sha256' of {at} is not one")
        _need(part.intent_at is None or 0 <= part.intent_at < MAX_TIME,
              f"the 'intent_at' of {at} is out of range")
        for name in ("file_id", "batch_id"):
            value = getattr(part, name)
            _need(value is None or usable_id(value),
                  f"the {name!r} of {at} is not a provider's id")
        _need(part.status is None or part.status in STATUSES, f"the 'status' of {at} is unknown")
        _need(part.total is None or 0 <= part.total <= MAX_ROWS,
              f"the 'total' of {at} is out of range")
        _need(0 <= part.completed <= MAX_ROWS and 0 <= part.failed <= MAX_ROWS,
              f"the counts of {at} are out of range")
        _need(job.state == SUBMITTING or part.batch_id is not None,
              f"{at} has no job id, though the job is {job.state}")
    for row, entry in job.rerun.items():
        _need(row.isdigit() and int(row) < job.rows and len(row) <= 10
              and row == str(int(row)), f"the 'rerun' of {where} names no row of it")
        try:
            check_kept(entry)
        except ValueError as exc:
            raise ValueError(f"the 'rerun' of row {row} of {where}: {exc}") from None


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
            claimed: set[str] = set()
            for key, job in data["jobs"].items():
                record = JobRecord.from_json(job)
                _need(record.key == key, f"job {key[:12]!r} is filed under another key")
                for part in record.parts:
                    for ident in (part.batch_id, part.file_id):
                        _need(ident is None or ident not in claimed,
                              f"the provider id {ident} is claimed twice")
                        if ident is not None:
                            claimed.add(ident)
        except (ValueError, RecursionError) as exc:
            raise self.damaged(str(exc)) from None
        return data

    def damaged(self, why: str) -> E.BatchError:
        """The error for a manifest that cannot be used as it is (``why``)."""
        return E.BatchError(
            f"The batch manifest {self.path} is damaged ({why}); nothing was sent.",
            hint="Move it away to start a new one (jobs it named keep running at the "
            "provider; %structured_batches lists those of a good manifest).")

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
