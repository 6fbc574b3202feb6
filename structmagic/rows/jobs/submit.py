"""Submitting a batch job — or re-attaching to the one that already holds the same rows.

::

    rows     each row's line, built as the synchronous call builds its request (rows.py),
             streamed into input files split at the provider's limits (jsonl.py); the job
             key is the hash of every row's id
    manifest the key looked up: a known job is re-attached (nothing is sent again); a new
             one is written down before anything is sent
    parts    per part: intent written → (upload the file → file id written) → create →
             job id written. A part with an intent but no job id (a crash, an interrupt)
             is first looked for at the provider — by the name in its metadata or display
             name, or (Anthropic) by creation time and size — and created only if absent.

A failed create that may have reached the server (a timeout, a dropped connection, a 5xx,
a 429) is never simply sent again: the job is looked for first. A relay without batch
routes (404, 405, 501 on the first request) is a
:class:`~structmagic.BatchUnavailableError`, before anything was created.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import errors as E
from ...call.media import Media, per_item
from ...config import resolve
from ...cost.calc import money
from ...providers import get_provider
from ...providers.batch import BatchLimits, JobInfo
from ...schema import load_schema
from ...transport.request import Retry, with_retries
from ..budget import check_cap
from ..estimate import local_estimate
from ..frame import rows_of
from .job import BatchJob, note_info
from .jsonl import Part, PartWriter, inline_body, inline_size, read_lines
from .lines import Plan, RowIndex, build_line, plan_for
from .manifest import (
    SUBMITTED,
    SUBMITTING,
    JobRecord,
    Manifest,
    PartRecord,
    manifest_path,
    safe_url,
)
from .pricing import BatchPricer, expected_cost, row_tokens

if TYPE_CHECKING:
    from ...inputs.parts import InputLimits
    from ...inputs.parts import Part as InputPart

__all__ = ["submit_batch"]

#: pages of the account's recent jobs looked through for one created before a crash
MAX_PAGES = 20
#: how much earlier than our intent a job may say it was created (clocks differ)
CLOCK_SLACK = 300.0
#: the answers that mean "this server has no batch API"
_UNAVAILABLE = (404, 405, 501)
_UNAVAILABLE_WORDS = ("not implemented", "not_implemented", "invalid url", "no route",
                      "unknown route", "not found")


def _check_cap(max_cost: float, counted: Sequence[int], spec: Any, settings: Any) -> None:
    """Refuse a new job whose batch-price estimate may pass ``max_cost``: once created, a
    job is paid for whatever it does. ``counted``: each sent row's input tokens, counted from
    its line as written (no request is built again), its images and documents by the
    provider's rule (:class:`RowTokens`), as :func:`structmagic.estimate` counts them."""

    found = local_estimate(counted, spec, settings, get_provider(settings.provider))
    if found.batch_cost is None:
        why = ("no price is known for " + settings.model if found.price is None
               else found.batch_note)
        raise E.ConfigError(f"max_cost needs a batch price, and {why}. Set one with "
                            f"%structured_config --price {settings.model}=INPUT,OUTPUT "
                            "(USD per million tokens), or run with via='threads'.")
    high = found.batch_cost.high
    if high is None or high > max_cost:
        expected = money(found.batch_cost.expected)
        upto = "an unbounded amount" if high is None else money(high)
        raise E.ConfigError(
            f"This batch job may cost up to {upto} (expected {expected}), more than "
            f"max_cost {money(max_cost)}; a job cannot stop part way, so it was not "
            "submitted. Raise the cap, set max_tokens to bound the answers, or use "
            "via='threads', which stops at the cap.")


def submit_batch(prompts: Iterable[Any], schema: Any, *, manifest: str | None = None,
                 max_requests: int | None = None, max_bytes: int | None = None,
                 inline_bytes: int | None = None, resubmit: bool = False,
                 images: Sequence[Any] | None = None, files: Sequence[Any] | None = None,
                 detail: str | None = None, inline: bool = False, downscale: bool = True,
                 max_cost: float | None = None, **options: Any) -> Any:
    """Submit one request per prompt to the provider's batch API; a :class:`BatchJob`.

    Each request is built exactly as :func:`structmagic.structured` builds its first one
    (same schema conversion, messages and options). If the manifest already holds a job for
    the same rows (same provider, base URL, model, schema and prompts), that job is
    re-attached instead and nothing is sent again — unless ``resubmit=True``.

    ``images`` / ``files``: one entry per prompt, as for :func:`structmagic.batch` (each
    row's parts go into its line; ``detail``, ``inline``, ``downscale`` apply to all).
    ``manifest``: the manifest file (default: the ``batch_manifest`` setting, else beside
    the cassette, else ``structmagic-batches.json`` here). ``max_requests`` / ``max_bytes``
    / ``inline_bytes`` replace the provider's limits per input file (tests use tiny ones).
    ``max_cost`` (USD): a new job is created only if the high end of its batch-price
    estimate (:func:`structmagic.estimate`) is within the cap; otherwise a
    :class:`~structmagic.ConfigError` says why and nothing is sent. A job being re-attached
    is not checked again (it was when it was created). What the job cost leaves of the cap
    bounds the synchronous re-run of its failed rows (:meth:`BatchJob.results`); the cap is
    kept in the manifest, so a job re-attached without one keeps it, and one given again
    replaces it. Other options are those of :func:`structmagic.structured`.

    Raises :class:`~structmagic.BatchUnavailableError` when the server has no batch API,
    and other :class:`~structmagic.StructuredError` subclasses; rows that cannot be sent
    fail alone (their results carry the error).
    """

    cap = check_cap(max_cost) if max_cost is not None else None
    items = rows_of(prompts, "prompts")
    rows_media = RowMedia(Media(detail=detail, inline=inline, downscale=downscale),
                          per_item("images", images, len(items)),
                          per_item("files", files, len(items)))
    spec = load_schema(schema)
    for name in ("stream", "on_partial", "steps_field", "observer"):
        options.pop(name, None)
    settings = resolve(options)
    plan = plan_for(spec, settings)
    defaults = plan.api.limits
    limits = BatchLimits(
        max_requests=max_requests if max_requests is not None else defaults.max_requests,
        max_bytes=max_bytes if max_bytes is not None else defaults.max_bytes,
        inline_bytes=inline_bytes if inline_bytes is not None else defaults.inline_bytes)
    store = Manifest(manifest_path(settings, manifest))
    try:
        folder = Path(tempfile.mkdtemp(prefix="structmagic-batch-"))
    except OSError as exc:  # no such folder, not writable, a full disk
        where = os.path.dirname(exc.filename) if exc.filename else tempfile.gettempdir()
        raise E.BatchError(
            f"Could not make a folder for the batch input files in {where} "
            f"({exc.strerror or exc}); nothing was submitted.",
            hint="Point TMPDIR at a writable folder with room (the input files are written "
            "there before they are sent).") from None
    try:
        tokens = RowTokens()
        parts, index, unsent, content = _write(plan, items, folder, limits, rows_media,
                                               tokens)
        # the manifest's key: the content, on this server; the job's name at the provider
        # (and in recordings): the content only, so a recording replays on any base URL
        key = hashlib.sha256(f"{content}\n{safe_url(settings.base_url)}".encode()).hexdigest()
        if not parts:  # nothing could be sent: no job, every row keeps its error
            record = _record(plan, key, content, items, [], generation=0)
            return BatchJob(record, store, plan, index, items, unsent, persisted=False,
                            media=rows_media)
        with store.locked():
            known = store.get(key)
            attached = known is not None and not resubmit
            if known is None or resubmit:
                if cap is not None:
                    _check_cap(cap, tokens.counted, spec, settings)
                store.check_writable()
                generation = known.generation + 1 if known is not None else 0
                record = _record(plan, key, content, items, parts, generation=generation)
                record.estimated_cost = expected_cost(BatchPricer(settings), tokens.counted)
                record.max_cost = cap
                store.put(record)
            else:
                record = known
            job = BatchJob(record, store, plan, index, items, unsent, attached=attached,
                           media=rows_media)
            if cap is not None:
                job.max_cost = cap  # this call's cap bounds what is spent from now on
            if record.state == SUBMITTING:
                try:
                    _Submitter(job, {p.index: p for p in parts}, limits,
                               now=settings.clock.time).run(
                        fresh=not attached)
                except E.BatchUnavailableError:
                    if not attached and not any(p.batch_id or p.file_id
                                                for p in record.parts):
                        store.remove(key)  # nothing exists at the provider: no job
                    raise
        return job
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class RowMedia:
    """The images and files of each row (one entry per row, None: none), and how to send
    them (a :class:`structmagic.call.media.Media`)."""

    media: Any
    images: Sequence[Any]
    files: Sequence[Any]

    def parts(self, settings: Any, position: int) -> tuple[Any, ...]:
        images, files = self.images[position], self.files[position]
        if images is None and files is None:
            return ()
        return tuple(self.media.parts(settings, images=images, files=files))

    def batch_options(self, positions: Sequence[int]) -> dict[str, Any]:
        """What :func:`structmagic.batch` takes for the rows at ``positions``."""
        out: dict[str, Any] = {"detail": self.media.detail, "inline": self.media.inline,
                               "downscale": self.media.downscale}
        for name, values in (("images", self.images), ("files", self.files)):
            if any(v is not None for v in values):
                out[name] = [values[p] for p in positions]
        return out


@dataclass
class RowTokens:
    """Each sent row's input tokens, in order, as the estimator counts them: its images and
    documents by the provider's rule, never their data
    (:func:`~structmagic.rows.jobs.pricing.row_tokens`)."""

    counted: list[int] = field(default_factory=list)

    def add(self, counted: int, parts: Sequence[InputPart], limits: InputLimits) -> None:
        self.counted.append(row_tokens(counted, parts, limits))


def _write(plan: Plan, items: Sequence[Any], folder: Path, limits: BatchLimits,
           media: RowMedia | None = None, tokens: RowTokens | None = None
           ) -> tuple[list[Part], RowIndex, dict[int, E.StructuredError], str]:
    """Every row's line into the input files; the parts, the row index, the rows that
    cannot be sent (with their errors), and the hash of the job's content. ``tokens``
    gets each sent row's input tokens."""
    api = plan.api
    container = api.inline_container("x" * 64)
    overhead = len(container[0]) + len(container[2]) if container else 0
    writer = PartWriter(folder, limits, overhead=overhead)
    index = RowIndex(len(items))
    unsent: dict[int, E.StructuredError] = {}
    key = hashlib.sha256("\n".join((
        "structmagic batch 1", plan.provider.name, plan.endpoint, plan.settings.model,
        plan.spec.name, "")).encode("utf-8"))
    for position, prompt in enumerate(items):
        try:
            parts = media.parts(plan.settings, position) if media is not None else ()
            line, digest, counted = build_line(plan, position, prompt, parts)
        except E.StructuredError as err:
            unsent[position] = err
            continue
        except RecursionError:
            unsent[position] = E.InputError("The prompt nests too deep to be sent.")
            continue
        if not writer.fits_alone(line):
            unsent[position] = E.InputError(
                f"Row {position} is too large for one batch input file ({len(line):,} bytes; "
                f"the limit is {limits.max_bytes:,}).")
            continue
        writer.add(position, line)
        index.add(position, digest)
        if tokens is not None:
            tokens.add(counted, parts, plan.provider.inputs)
        key.update(b"%d:%s;" % (position, digest))
    return writer.close(), index, unsent, key.hexdigest()


def _record(plan: Plan, key: str, content: str, items: Sequence[Any], parts: list[Part], *,
            generation: int) -> JobRecord:
    name = f"structmagic-{content[:20]}" + (f"-g{generation}" if generation else "")
    return JobRecord(
        key=key, name=name, provider=plan.provider.name,
        base_url=safe_url(plan.settings.base_url), model=plan.settings.model,
        endpoint=plan.endpoint, schema=plan.spec.name, rows=len(items),
        created=plan.settings.clock.time(),
        generation=generation,
        parts=[PartRecord(index=p.index, start=p.start, stop=p.stop, count=p.count,
                          bytes=p.size, sha256=p.sha256, name=f"{name}-{p.index}")
               for p in parts])


class _Submitter:
    """Creates the parts of a job that have no provider job yet."""

    def __init__(self, job: Any, files: dict[int, Part], limits: BatchLimits, *,
                 now: Any) -> None:
        self.job = job
        self.record: JobRecord = job.record
        self.store: Manifest = job.manifest
        self.plan: Plan = job.plan
        self.wire = job.wire
        self.files = files
        self.limits = limits
        self.now = now
        self.first = True  # the next request is the first of this submission

    def run(self, *, fresh: bool) -> None:
        for part in self.record.parts:
            if part.batch_id is not None:
                continue
            local = self.files.get(part.index)
            if local is None or (local.start, local.stop, local.sha256) != (
                    part.start, part.stop, part.sha256):
                raise E.BatchError(
                    f"The batch job {self.record.key[:12]} in the manifest was split into "
                    "other input files than this run makes (were the limits changed?).",
                    job=self.record.key,
                    hint="Use the same limits, or resubmit=True to send the rows again.")
            self._part(part, local, maybe_created=not fresh and part.intent_at is not None)
        self.record.state = SUBMITTED
        self.store.put(self.record)

    def _part(self, part: PartRecord, local: Part, *, maybe_created: bool) -> None:
        if maybe_created:
            found = self._find(part)
            if found is not None:
                self._attach(part, found)
                return
        part.intent_at = self.now()
        self.store.put(self.record)  # before anything of this part is sent
        try:
            self._send(part, local, maybe_created=maybe_created)
        except E.APIError as err:
            if err.status < 500 and err.status not in (408, 409, 429):
                part.intent_at = None  # refused outright: nothing was created
                self.store.put(self.record)
            raise

    def _send(self, part: PartRecord, local: Part, *, maybe_created: bool) -> None:
        api, base = self.plan.api, self.plan.settings.base_url
        container = api.inline_container(part.name)
        inline = self._inline_size(local, container)
        if inline is not None:
            assert container is not None
            head, sep, tail = container
            item = None if api.flow == "inline" else api.inline_item
            size = inline
            url, _ = api.create(base, endpoint=self.plan.endpoint, name=part.name,
                                file_id=None)
            info = self._create(part, lambda: self.wire.stream_json(
                "POST", url, lambda: inline_body(local, head, sep, tail, item), size,
                {"inline": part.name, "sha256": local.sha256}))
        else:
            if part.file_id is None and maybe_created:
                part.file_id = self._find_file(part)
            if part.file_id is None:
                part.file_id = self._upload(part, local)
                self.store.put(self.record)
            url, body = api.create(base, endpoint=self.plan.endpoint, name=part.name,
                                   file_id=part.file_id)
            info = self._create(part, lambda: self.wire.json("POST", url, body, once=True))
        self._attach(part, info)

    def _inline_size(self, local: Part, container: tuple[bytes, bytes, bytes] | None
                     ) -> int | None:
        """The size of the create body that carries ``local``'s requests inline, when they
        go inline: always for an API that takes them only so, else (``mixed``) when that
        body — each line made an inline item, larger than the line — is within
        ``inline_bytes``. None: the part goes as an uploaded file."""
        if container is None:
            return None
        api, limit = self.plan.api, self.limits.inline_bytes
        head, sep, tail = container
        if api.flow == "inline":
            return inline_size(local, head, sep, tail)
        if limit is not None and local.size - local.count > limit:
            return None  # the items are no smaller than the lines: too large already
        try:
            size = len(head) + len(tail) + max(0, local.count - 1) * len(sep) + sum(
                len(api.inline_item(line)) for line in read_lines(local.path))
        except OSError as exc:
            raise E.BatchError(f"Could not read the batch input file {local.path} "
                               f"({exc.strerror or exc}).", job=self.record.key) from None
        return size if limit is None or size <= limit else None

    def _upload(self, part: PartRecord, local: Part) -> str:
        api, base = self.plan.api, self.plan.settings.base_url
        upload = api.upload(base, f"{part.name}.jsonl", local.size)
        if upload is None:  # pragma: no cover - a flow without files never gets here
            raise E.BatchError("This batch API takes no input file.")
        try:
            answer = self._first(lambda: self.wire.upload(
                upload, local.path, f"{part.name}.jsonl", local.size, local.sha256))
            return api.file_id(answer.body)
        except ValueError as exc:
            raise E.BatchError(f"The upload of {part.name}.jsonl was answered oddly: {exc}.",
                               job=self.record.key) from None

    def _create(self, part: PartRecord, send: Any) -> JobInfo:
        """Create the job; after a failure that may have reached the server, look for the
        job before trying again (nothing is created twice)."""
        def attempt() -> JobInfo:
            try:
                answer = self._first(send)
            except (E.TransportError, E.ServerError, E.RateLimitError) as err:
                found = self._find(part)
                if found is not None:
                    return found
                raise Retry(err, getattr(err, "retry_after", None)) from None
            return self.job.read_info(answer.body)

        return with_retries(attempt, self.plan.settings)[0]

    def _first(self, send: Any) -> Any:
        """``send()``; an answer saying there is no batch route, to the first request, is a
        :class:`~structmagic.BatchUnavailableError`."""
        first, self.first = self.first, False
        try:
            return send()
        except E.APIError as err:
            if first and _no_batch_route(err):
                base = self.plan.settings.base_url
                raise E.BatchUnavailableError(
                    f"{base} has no batch API (HTTP {err.status} to the first batch request: "
                    f"{err.body_excerpt[:200] or err.message}).", status=err.status,
                    hint="Relays of the one-api / new-api family have none; use --batch-api "
                    "auto to run the rows as parallel requests there, or the provider's own "
                    "base URL.") from None
            raise

    def _attach(self, part: PartRecord, info: JobInfo) -> None:
        note_info(part, info)
        self.job.infos[part.index] = info
        self.store.put(self.record)

    # --- finding what a crash left behind --------------------------------------------------------

    def _pages(self, url_of: Any, page_of: Any) -> Iterable[list[Any]]:
        cursor = None
        for _ in range(MAX_PAGES):
            try:
                answer = self.wire.json("GET", url_of(cursor))
                items, cursor = page_of(answer.body)
            except ValueError as exc:
                raise self._cannot_check(str(exc)) from None
            except E.APIError as err:
                raise self._cannot_check(f"HTTP {err.status}: {err.message}") from None
            yield items
            if not cursor:
                return

    def _cannot_check(self, why: str) -> E.BatchError:
        return E.BatchError(
            f"The batch job {self.record.key[:12]} may have been created before an interrupt "
            f"or crash, and the provider's list of jobs cannot be read to check ({why}); "
            "nothing was sent again.", job=self.record.key,
            hint="Look at the provider's console; to send the rows again anyway, use "
            "submit_batch(..., resubmit=True).")

    def _find(self, part: PartRecord) -> JobInfo | None:
        """The provider job of ``part`` created by an earlier run, if any."""
        api, base = self.plan.api, self.plan.settings.base_url
        taken = {p.batch_id for p in self.record.parts if p.batch_id}
        since = (part.intent_at or self.record.created) - CLOCK_SLACK
        candidates: list[JobInfo] = []
        for jobs in self._pages(lambda c: api.list_url(base, c), api.list_page):
            for info in jobs:
                if info.id in taken:
                    continue
                if api.named:
                    if info.name == part.name:
                        return info
                elif info.total == part.count and info.created is not None and \
                        info.created >= since:
                    candidates.append(info)
            if not api.named and jobs and all(
                    j.created is not None and j.created < since for j in jobs):
                break  # newest first: the rest is older than our intent
        return min(candidates, key=lambda j: j.created or 0.0) if candidates else None

    def _find_file(self, part: PartRecord) -> str | None:
        """The input file of ``part`` uploaded by an earlier run, if any."""
        api, base = self.plan.api, self.plan.settings.base_url
        if api.files_url(base) is None:
            return None
        wanted = f"{part.name}.jsonl"
        for files in self._pages(lambda c: api.files_url(base, c), api.files_page):
            for file_id, name in files:
                if name == wanted:
                    return file_id
        return None


def _no_batch_route(err: E.APIError) -> bool:
    if err.status in _UNAVAILABLE:
        return True
    text = f"{err.message} {err.body_excerpt}".lower()
    return err.status == 400 and any(word in text for word in _UNAVAILABLE_WORDS)
