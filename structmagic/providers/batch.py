"""The provider-neutral shapes of the asynchronous batch APIs, and the interface each
provider's batch API implements (pure: no I/O).

A provider with a batch API sets ``batch_api`` on its class to an instance of a
:class:`BatchAPI` subclass, defined in the provider's own module: its facts as data (limits,
status names and their common meaning, the price tier, the flow) and its translations —
one request as a line of the input file, the requests that submit, poll, list, cancel and
download a job, a polled job as a :class:`JobInfo`, a result line as a :class:`RowOutcome`.
:mod:`structmagic.rows.jobs` does the I/O with them.

The common job statuses are OpenAI's (every provider's own are mapped onto them)::

    validating -> in_progress -> finalizing -> completed
                                            \\-> failed | expired
    (any) -> cancelling -> cancelled
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "CANCELLED",
    "CANCELLING",
    "COMPLETED",
    "ERRORED",
    "EXPIRED",
    "FAILED",
    "FINALIZING",
    "IN_PROGRESS",
    "STATUSES",
    "SUCCEEDED",
    "TERMINAL",
    "VALIDATING",
    "BatchAPI",
    "BatchLimits",
    "JobInfo",
    "LineError",
    "RowOutcome",
    "Upload",
    "as_object",
    "dump",
    "json_int",
    "unix_time",
]

# --- the common job statuses -------------------------------------------------------------------

VALIDATING = "validating"
IN_PROGRESS = "in_progress"
FINALIZING = "finalizing"
COMPLETED = "completed"
FAILED = "failed"
EXPIRED = "expired"
CANCELLING = "cancelling"
CANCELLED = "cancelled"
#: every common status, in the order a job goes through them
STATUSES = (VALIDATING, IN_PROGRESS, FINALIZING, COMPLETED, FAILED, EXPIRED, CANCELLING,
            CANCELLED)
#: the statuses a job does not leave
TERMINAL = frozenset({COMPLETED, FAILED, EXPIRED, CANCELLED})

# --- the outcome of one row ------------------------------------------------------------------

SUCCEEDED = "succeeded"
ERRORED = "errored"
# EXPIRED and CANCELLED (above) are row outcomes too


@dataclass(frozen=True)
class BatchLimits:
    """How much one job may hold: requests and bytes per input file (or create body), and
    the size under which the requests go inline in the create request (Gemini)."""

    max_requests: int | None
    max_bytes: int
    #: parts up to this many bytes are sent inline; None: always inline (when the flow can)
    inline_bytes: int | None = None


@dataclass(frozen=True)
class LineError:
    """A job-level error about one line of the input file (OpenAI's ``errors.data[]``)."""

    line: int | None  # 1-based, of the part's input file; None: about the whole file
    code: str | None
    message: str


@dataclass
class JobInfo:
    """One provider job as polled, provider-neutral."""

    id: str
    status: str  # one of STATUSES
    raw_status: str  # the provider's own word
    total: int | None = None
    completed: int = 0
    failed: int = 0
    #: our name, carried in the job's metadata or display name (None: the API keeps none)
    name: str | None = None
    #: when the job was created (Unix time), if the provider says
    created: float | None = None
    #: what to download for the results: file ids / result references, in order
    outputs: tuple[str, ...] = ()
    errors: tuple[LineError, ...] = ()
    #: results carried in the job itself (Gemini's inline responses), in input order
    inline: list[Any] | None = None

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL


@dataclass
class RowOutcome:
    """One result line, provider-neutral. ``kind`` is ``succeeded`` (``body`` holds the
    answer, to be read by the provider's :meth:`~structmagic.providers.Provider.parse`),
    ``errored``, ``expired`` or ``cancelled``."""

    custom_id: str | None
    kind: str
    body: Any = None
    status: int | None = None
    code: str | None = None
    message: str = ""


@dataclass(frozen=True)
class Upload:
    """How an input file is uploaded: ``multipart`` (form ``fields`` plus the file) or
    ``resumable`` (a start request with ``headers`` and ``json``, answered with the URL the
    bytes go to)."""

    kind: str
    url: str
    fields: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None


def dump(value: Any) -> str:
    """Compact JSON text, as every line and body of a batch is written."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def as_object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def json_int(value: Any, default: int = 0) -> int:
    """An integer from a JSON value (Gemini writes int64 counts as strings)."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return default


_FRACTION = re.compile(r"(\.\d{6})\d+")


def unix_time(value: Any) -> float | None:
    """Unix time from an RFC 3339 timestamp (``2024-10-02T15:01:23.045123456Z``), or None."""
    if not isinstance(value, str) or not value:
        return None
    from datetime import datetime

    text = _FRACTION.sub(r"\1", value.strip()).replace("z", "Z").replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


class BatchAPI:
    """A provider's batch API: facts as class attributes, translations as pure methods.

    ``flow`` says how a job is submitted: ``files`` (upload the input file, then create a job
    naming it: OpenAI), ``inline`` (the requests in the create body: Anthropic), ``mixed``
    (inline up to ``limits.inline_bytes``, else an uploaded file: Gemini).
    """

    flow: ClassVar[str]
    #: the vendor's limits per input file / create body
    limits: ClassVar[BatchLimits]
    #: the provider's status words and their common meaning
    statuses: ClassVar[Mapping[str, str]]
    #: whether a job keeps a name of ours (metadata, display name), which carries the
    #: submission's mark: a job created just before a crash is then found by it; otherwise
    #: each request's id carries the mark, and such a job is told by the ids in its results
    named: ClassVar[bool] = True
    #: the batch price as a share of the synchronous price
    price_factor: ClassVar[float] = 0.5
    #: how long the provider takes at most
    window: ClassVar[str] = "24h"

    # --- input --------------------------------------------------------------------------

    def endpoint(self, url: str, base_url: str) -> str:
        """What every request of a job goes to, from one request's full URL."""
        return url[len(base_url):] if url.startswith(base_url) else url

    def line(self, custom_id: str, endpoint: str, body_json: str) -> str:
        """One request as a line of the input file (no newline); ``body_json`` is the
        request body as compact JSON text (embedded as it is, not parsed again)."""
        raise NotImplementedError

    def inline_container(self, name: str) -> tuple[bytes, bytes, bytes] | None:
        """``(head, separator, tail)`` around the items of a create body that carries the
        requests, or None when this API never takes them inline."""
        return None

    def inline_item(self, line: bytes) -> bytes:
        """One input line as an item of the inline create body (never shorter than the
        line: a part whose lines alone pass ``limits.inline_bytes`` goes as a file unread)."""
        return line

    def upload(self, base_url: str, name: str, size: int) -> Upload | None:
        """How the input file goes up (None: this API takes no file)."""
        return None

    def file_id(self, body: Any) -> str:
        """The id of an uploaded file, from the upload's answer."""
        raise NotImplementedError

    # --- the job ----------------------------------------------------------------------------

    def create(self, base_url: str, *, endpoint: str, name: str, file_id: str | None
               ) -> tuple[str, dict[str, Any] | None]:
        """The URL and JSON body that create a job (body None: the inline container, with
        the requests, is the body)."""
        raise NotImplementedError

    def job_url(self, base_url: str, job_id: str) -> str:
        raise NotImplementedError

    def cancel_url(self, base_url: str, job_id: str) -> str:
        raise NotImplementedError

    def list_url(self, base_url: str, cursor: str | None = None) -> str:
        """The first (or the ``cursor``) page of the account's recent jobs."""
        raise NotImplementedError

    def list_page(self, body: Any) -> tuple[list[JobInfo], str | None]:
        """The jobs of a page, and the cursor of the next page (None: the last)."""
        raise NotImplementedError

    def files_url(self, base_url: str, cursor: str | None = None) -> str | None:
        """A page of uploaded input files (None: this API has no file listing)."""
        return None

    def files_page(self, body: Any) -> tuple[list[tuple[str, str]], str | None]:
        """``(file id, name)`` of the files of a page, and the next page's cursor."""
        return [], None

    def job(self, body: Any) -> JobInfo:
        """A job as created or polled. ``ValueError`` for another shape."""
        raise NotImplementedError

    def status_of(self, raw: Any) -> str:
        """The common status of the provider's word (unknown words count as in progress)."""
        return self.statuses.get(str(raw), IN_PROGRESS)

    # --- results ---------------------------------------------------------------------------

    def result_urls(self, base_url: str, info: JobInfo) -> list[str]:
        """What to download for the results of an ended job (empty: none, or inline)."""
        raise NotImplementedError

    def outcome(self, obj: Any) -> RowOutcome:
        """One result line (or inline result) as a :class:`RowOutcome`. ``ValueError`` for
        another shape."""
        raise NotImplementedError

    def inline_outcomes(self, info: JobInfo) -> list[RowOutcome | None]:
        """The results carried inline in an ended job, in input order, each read on its own
        by :meth:`outcome`: None for one not in this API's shape (it is one row's result;
        the others are still read)."""
        out: list[RowOutcome | None] = []
        for item in info.inline or ():
            try:
                out.append(self.outcome(item))
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
                out.append(None)
        return out
