"""Submitting a batch job — or re-attaching to the one that already holds the same rows.

::

    rows     each row's line, built as the synchronous call builds its request (lines.py),
             streamed into input files split at the provider's limits (jsonl.py); the job
             key is the hash of every row's id. A row that repeats an earlier one has no
             line (``dedup``): it gets a copy of that row's result (structmagic.rows.unique)
    manifest the key looked up: a known job is re-attached (nothing is sent again); a new
             one is written down before anything is sent
    parts    per part: intent written → (upload the file → file id written) → create →
             job id written. A part with an intent but no job id (a crash, an interrupt)
             is first looked for at the provider, and created only if it is certainly
             absent.

Each submission has its own random mark (the record's ``mark``, :mod:`.manifest`): the job's
name carries it (OpenAI's metadata and file name, Gemini's display names), and where the API
keeps no name (Anthropic) so does each request's ``custom_id``. A job created just before a
crash is found by it and by nothing else — never by its size or time alone, and never one
the manifest gives to another part or job: by its name; or (Anthropic) among the jobs of
the same size made since the intent, by the ids in its results, which the API gives only
once a job has ended. While a job that may be ours cannot be told apart that way (it is
still running, or its results cannot be read), nothing is sent: a
:class:`~structmagic.BatchError` says which jobs, how to look at them, and how to send the
rows again on purpose (``resubmit=True``).

A failed create that may have reached the server (a timeout, a dropped connection, a 5xx,
a 429) is never simply sent again: the job is looked for first. A relay without batch
routes (404, 405, 501 on the first request) is a
:class:`~structmagic.BatchUnavailableError`, before anything was created.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
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
from ...inputs.pdftext import check_reader
from ...providers import get_provider
from ...providers.batch import BatchLimits, JobInfo
from ...schema import load_schema
from ...transport.request import Retry, with_retries
from ..budget import check_cap
from ..estimate import local_estimate
from ..frame import rows_of
from ..unique import Repeats
from .job import BatchJob, note_info
from .jsonl import Part, PartWriter, inline_body, inline_size, read_lines
from .lines import Plan, RowIndex, build_lines, mark_of, plan_for
from .manifest import (
    SUBMITTED,
    SUBMITTING,
    JobRecord,
    Manifest,
    PartRecord,
    manifest_path,
    safe_url,
    usable_id,
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
#: result lines read of a job that may be ours before giving up telling (Anthropic)
PEEK_LINES = 20
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
                 max_cost: float | None = None, source: Sequence[Any] | None = None,
                 **options: Any) -> Any:
    """Submit one request per prompt to the provider's batch API; a :class:`BatchJob`.

    Each request is built exactly as :func:`structmagic.structured` builds its first one
    (same schema conversion, messages and options). If the manifest already holds a job for
    the same rows (same provider, base URL, model, schema and prompts), that job is
    re-attached instead and nothing is sent again — unless ``resubmit=True``.

    ``images`` / ``files``: one entry per prompt, as for :func:`structmagic.batch` (each
    row's parts go into its line; ``detail``, ``inline``, ``downscale`` apply to all);
    ``source``, one text per prompt to ground its values in (``ground=True``; see
    :func:`structmagic.batch`).
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
                          per_item("files", files, len(items)),
                          per_item("source", source, len(items), entry="a text, or None"))
    spec = load_schema(schema)
    for name in ("stream", "on_partial", "steps_field", "observer"):
        options.pop(name, None)
    settings = resolve(options)
    if settings.samples > 1:
        raise E.ConfigError(
            f"samples={settings.samples} reads several answers a row and combines them as "
            "they come; a provider batch job answers each row once. Run the rows as parallel "
            "requests (via='threads', or without --batch-api).")
    if settings.grounds and any(f is not None for f in rows_media.files):
        check_reader()  # the answers are grounded in their PDFs' text: pypdf, before paying
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
        mark = secrets.token_hex(5)  # this submission's, if it is a new one
        repeats = rows_media.repeats(len(items), items, settings.dedup)
        parts, index, unsent, content = _write(plan, items, folder, limits, rows_media,
                                               tokens, mark=mark, repeats=repeats)
        # the manifest's key: the content, on this server; the job's name at the provider
        # (and in recordings): the content only, so a recording replays on any base URL
        key = hashlib.sha256(f"{content}\n{safe_url(settings.base_url)}".encode()).hexdigest()
        if not parts:  # nothing could be sent: no job, every row keeps its error
            record = _record(plan, key, content, items, [], generation=0, mark=mark)
            return BatchJob(record, store, plan, index, items, unsent, persisted=False,
                            media=rows_media, repeats=repeats)
        with store.locked():
            known = store.get(key)
            if known is not None:
                _check_known(known, plan, len(items), store)
            attached = known is not None and not resubmit
            if known is None or resubmit:
                if cap is not None:
                    _check_cap(cap, tokens.counted, spec, settings)
                store.check_writable()
                generation = known.generation + 1 if known is not None else 0
                record = _record(plan, key, content, items, parts, generation=generation,
                                 mark=mark)
                record.estimated_cost = expected_cost(BatchPricer(settings), tokens.counted)
                record.max_cost = cap
                store.put(record)
            else:
                record = known
                if (record.state == SUBMITTING and record.mark != mark
                        and not plan.api.named):  # the rows' ids carry the record's mark
                    parts = _write(plan, items, folder, limits, rows_media,
                                   mark=record.mark, repeats=repeats)[0]
            job = BatchJob(record, store, plan, index, items, unsent, attached=attached,
                           media=rows_media, repeats=repeats)
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
    #: each row's text to ground its values in (``source=``; None: the row's default)
    source: Sequence[Any] = ()

    def parts(self, settings: Any, position: int) -> tuple[Any, ...]:
        images, files = self.images[position], self.files[position]
        if images is None and files is None:
            return ()
        return tuple(self.media.parts(settings, images=images, files=files))

    def batch_options(self, positions: Sequence[int]) -> dict[str, Any]:
        """What :func:`structmagic.batch` takes for the rows at ``positions``."""
        out: dict[str, Any] = {"detail": self.media.detail, "inline": self.media.inline,
                               "downscale": self.media.downscale}
        for name, values in (("images", self.images), ("files", self.files),
                             ("source", self.source)):
            if any(v is not None for v in values):
                out[name] = [values[p] for p in positions]
        return out

    def source_of(self, position: int) -> Any:
        """Row ``position``'s ``source=`` (None: its default)."""
        return self.source[position] if self.source else None

    def repeats(self, size: int, prompts: Sequence[Any], on: bool) -> Repeats:
        """The rows (of ``prompts``, with these images, files and sources) that repeat an
        earlier row: sent once (``dedup``, :mod:`structmagic.rows.unique`)."""
        none = [None] * size
        return Repeats.of(size, on, prompts, self.images or none, self.files or none,
                          self.source or none)


@dataclass
class RowTokens:
    """Each sent row's input tokens, in order, as the estimator counts them: its images and
    documents by the provider's rule, never their data
    (:func:`~structmagic.rows.jobs.pricing.row_tokens`)."""

    counted: list[int] = field(default_factory=list)

    def add(self, counted: int, parts: Sequence[InputPart], limits: InputLimits) -> None:
        self.counted.append(row_tokens(counted, parts, limits))


def _write(plan: Plan, items: Sequence[Any], folder: Path, limits: BatchLimits,
           media: RowMedia | None = None, tokens: RowTokens | None = None, *, mark: str = "",
           repeats: Repeats | None = None
           ) -> tuple[list[Part], RowIndex, dict[int, E.StructuredError], str]:
    """Every row's line into the input files; the parts, the row index, the rows that
    cannot be sent (with their errors), and the hash of the job's content. ``tokens``
    gets each sent row's input tokens; ``mark``, the submission's, goes into each row's id
    where the API keeps no name of ours. A row that ``repeats`` an earlier one has no line
    (it gets a copy of that row's result)."""
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
        if repeats is not None and repeats.original(position) != position:
            continue
        try:
            parts = media.parts(plan.settings, position) if media is not None else ()
            line, digest, counted, plain = build_lines(plan, position, prompt, parts, mark)
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
        writer.add(position, line, plain)
        index.add(position, digest)
        if tokens is not None:
            tokens.add(counted, parts, plan.provider.inputs)
        key.update(b"%d:%s;" % (position, digest))
    return writer.close(), index, unsent, key.hexdigest()


def _check_known(record: JobRecord, plan: Plan, rows: int, store: Manifest) -> None:
    """The record filed under this run's key must be about this run's rows, asked this way
    of this server; otherwise it was edited: the damaged-manifest error."""
    settings = plan.settings
    for name, mine in (("provider", plan.provider.name),
                       ("base_url", safe_url(settings.base_url)), ("model", settings.model),
                       ("endpoint", plan.endpoint), ("schema", plan.spec.name),
                       ("rows", rows)):
        if getattr(record, name) != mine:
            raise store.damaged(f"job {record.key[:12]} is filed under the key of these "
                                f"rows, but its {name!r} is not theirs")


def _record(plan: Plan, key: str, content: str, items: Sequence[Any], parts: list[Part], *,
            generation: int, mark: str) -> JobRecord:
    name = f"structmagic-{content[:20]}" + (f"-g{generation}" if generation else "")
    return JobRecord(
        key=key, name=name, mark=mark, provider=plan.provider.name,
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

    def sent_name(self, part: PartRecord) -> str:
        """The name ``part``'s job and file carry at the provider: its name in the manifest
        and the submission's mark (recordings key them by the name alone)."""
        return f"{part.name}-{self.record.mark}" if self.record.mark else part.name

    def _part(self, part: PartRecord, local: Part, *, maybe_created: bool) -> None:
        if maybe_created:
            found = self._find(part, "an earlier run stopped after it had asked for it")
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
        api, base, endpoint = self.plan.api, self.plan.settings.base_url, self.plan.endpoint
        name = self.sent_name(part)
        container = api.inline_container(name)
        inline = self._inline_size(local, container)
        if inline is not None:
            assert container is not None
            head, sep, tail = container
            item = None if api.flow == "inline" else api.inline_item
            size = inline
            url, _ = api.create(base, endpoint=endpoint, name=name, file_id=None)
            info = self._create(part, lambda: self.wire.stream_json(
                "POST", url, lambda: inline_body(local, head, sep, tail, item), size,
                {"inline": part.name, "sha256": local.sha256}))
        else:
            if part.file_id is None and maybe_created:
                part.file_id = self._find_file(part)
            if part.file_id is None:
                part.file_id = self._upload(part, local)
                self.store.put(self.record)
            url, body = api.create(base, endpoint=endpoint, name=name, file_id=part.file_id)
            _, keyed = api.create(base, endpoint=endpoint, name=part.name,
                                  file_id=part.file_id)
            info = self._create(part, lambda: self.wire.json("POST", url, body, once=True,
                                                             key=keyed))
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
        filename = f"{self.sent_name(part)}.jsonl"
        upload = api.upload(base, filename, local.size)
        if upload is None:  # pragma: no cover - a flow without files never gets here
            raise E.BatchError("This batch API takes no input file.")
        try:
            answer = self._first(lambda: self.wire.upload(
                upload, local.path, filename, local.size, local.sha256,
                keyed_as=f"{part.name}.jsonl"))
            file_id = api.file_id(answer.body)
            if not usable_id(file_id):
                raise ValueError(f"its file id {json.dumps(file_id)[:80]} cannot stand in a "
                                 "URL")
            return file_id
        except ValueError as exc:
            raise E.BatchError(f"The upload of {filename} was answered oddly: {exc}.",
                               job=self.record.key) from None

    def _create(self, part: PartRecord, send: Any) -> JobInfo:
        """Create the job; after a failure that may have reached the server, look for the
        job before trying again (nothing is created twice)."""
        def attempt() -> JobInfo:
            try:
                answer = self._first(send)
            except (E.TransportError, E.ServerError, E.RateLimitError) as err:
                found = self._find(part, "the request that creates it failed ("
                                   f"{err.message.splitlines()[0][:120]})")
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

    def _claimed(self) -> set[str]:
        """Every provider job id the manifest gives to a part (of this job or another)."""
        taken = {p.batch_id for p in self.record.parts if p.batch_id}
        for record in self.store.jobs():
            taken.update(p.batch_id for p in record.parts if p.batch_id)
        return taken

    def _find(self, part: PartRecord, why: str) -> JobInfo | None:
        """The provider job of ``part`` that an earlier request may have created (``why``
        says what makes it possible), if it certainly exists; None if it certainly does not;
        :class:`~structmagic.BatchError` when that cannot be told."""
        api, base = self.plan.api, self.plan.settings.base_url
        taken = self._claimed()
        since = (part.intent_at or self.record.created) - CLOCK_SLACK
        name = self.sent_name(part)
        unsure: list[JobInfo] = []
        for jobs in self._pages(lambda c: api.list_url(base, c), api.list_page):
            for info in jobs:
                if info.id in taken or not usable_id(info.id):
                    continue
                if api.named:  # the name carries the mark: certain, whatever the clocks say
                    if info.name == name:
                        return info
                elif (info.total == part.count and info.created is not None
                      and info.created >= since):
                    ours = self._holds(part, info)
                    if ours:
                        return info
                    if ours is None:
                        unsure.append(info)
            if not api.named and jobs and all(
                    j.created is not None and j.created < since for j in jobs):
                break  # newest first: the rest is older than our intent
        if unsure:
            raise self._cannot_tell(part, why, unsure)
        return None

    def _holds(self, part: PartRecord, info: JobInfo) -> bool | None:
        """Whether the job ``info`` holds ``part``'s requests of this submission, by the ids
        in its results (the rows of the part, this submission's mark); None when that cannot
        be told (it has not ended, its results cannot be read, the record has no mark)."""
        if not self.record.mark or not info.ended:
            return None
        api, base = self.plan.api, self.plan.settings.base_url
        try:
            for url in api.result_urls(base, info):
                with contextlib.closing(self.wire.lines(url)) as lines:
                    for n, line in enumerate(lines):
                        if n >= PEEK_LINES:
                            break
                        try:
                            cid = api.outcome(json.loads(line)).custom_id
                        except (ValueError, KeyError, TypeError, AttributeError,
                                RecursionError):
                            continue
                        found = mark_of(cid)
                        if found is None:
                            continue
                        position, mark = found
                        return (mark == self.record.mark and part.start <= position < part.stop
                                and self.job.index.position(cid) == position)
        except E.StructuredError:
            return None
        return None

    def _cannot_tell(self, part: PartRecord, why: str, unsure: list[JobInfo]) -> E.BatchError:
        api, base = self.plan.api, self.plan.settings.base_url
        ids = ", ".join(j.id for j in unsure[:5]) + (", ..." if len(unsure) > 5 else "")
        running = [j for j in unsure if not j.ended]
        which = (f"{len(unsure)} {'job' if len(unsure) == 1 else 'jobs'} of the same size "
                 f"made since ({ids})")
        when = ("cannot be told apart from it until they end" if running
                else "cannot be told apart from it (their results could not be read)")
        return E.BatchError(
            f"Part {part.index} of the batch job {self.record.key[:12]} may exist at "
            f"{self.plan.provider.name} already ({why}), and {which} {when}; nothing was "
            "sent again.", job=self.record.key,
            hint=f"Look at them (the provider's console, or GET {api.list_url(base)}). Once "
            "they have ended, run this again: the one whose results carry this submission's "
            "ids is attached, and if none does the part is created. To send the rows again "
            "now anyway, as a new job, use submit_batch(..., resubmit=True).")

    def _find_file(self, part: PartRecord) -> str | None:
        """The input file of ``part`` uploaded by an earlier run of this submission, if
        any (by its name, which carries the submission's mark)."""
        api, base = self.plan.api, self.plan.settings.base_url
        if api.files_url(base) is None:
            return None
        wanted = f"{self.sent_name(part)}.jsonl"
        claimed = {p.file_id for r in self.store.jobs() for p in r.parts if p.file_id}
        for files in self._pages(lambda c: api.files_url(base, c), api.files_page):
            for file_id, name in files:
                if name == wanted and usable_id(file_id) and file_id not in claimed:
                    return file_id
        return None


def _no_batch_route(err: E.APIError) -> bool:
    if err.status in _UNAVAILABLE:
        return True
    text = f"{err.message} {err.body_excerpt}".lower()
    return err.status == 400 and any(word in text for word in _UNAVAILABLE_WORDS)
