"""A submitted batch job: its state machine, and what a notebook does with it.

::

    submit_batch()  ─ build rows → write parts → manifest (intent) → upload → create ─┐
                    └ (the same rows again) re-attach through the manifest ─────────────┤
    BatchJob.status()   one poll of each part that has not ended (manifest updated)   ◄─┘
    BatchJob.wait()     polls until every part has ended, sleeping in short slices
    BatchJob.results()  downloads, matches by id, validates, re-runs what failed
    BatchJob.cancel()   asks each running part to stop (finished rows are kept)

Leaving :meth:`BatchJob.wait` (an interrupt, a timeout) leaves the job running: it is in the
manifest, and running the same rows again (the same cell, in a new kernel, the next day)
re-attaches to it instead of submitting again.

Waiting uses the clock of the job's settings (``configure(clock=...)``: tests give a fake
one, so no test sleeps), in slices of at most :data:`SLICE` seconds so that an interrupt
lands at once. Polls that were answered from a recording are not waited for.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ... import errors as E
from ...call.grounding import Grounder, grounder_for
from ...call.result import Result
from ...config import SYSTEM_CLOCK, Clock, normalize_base_url, resolve
from ...cost.calc import money
from ...errors import NOT_RUN, BatchInterrupted, CallInterrupted, NotRun
from ...grounding import NO_TEXT
from ...providers import get_provider
from ...providers.batch import (
    CANCELLED,
    CANCELLING,
    COMPLETED,
    EXPIRED,
    FAILED,
    STATUSES,
    TERMINAL,
    JobInfo,
)
from ..threads import run_threads
from ..unique import Repeats, copy_of, renumber
from .collect import RETRIED, Collector
from .kept import kept_result, restore
from .manifest import COLLECTED, JobRecord, Manifest, PartRecord, safe_url, usable_id
from .wire import Wire

if TYPE_CHECKING:
    from .lines import Plan, RowIndex

__all__ = ["RETRY_MODES", "SLICE", "BatchJob", "BatchStatus", "cancel_parts", "ended_by",
           "note_info", "poll_parts", "read_job", "record_status", "settings_options",
           "wire_for"]

#: what ``results(retry=...)`` (``--batch-retry``) does with the rows that failed in the job:
#: re-run them once, kept with the job (sync); once more, paying again (again); nothing (none)
RETRY_MODES = ("sync", "again", "none")


#: the longest single sleep while waiting (an interrupt lands within it)
SLICE = 0.25
#: the first wait between polls, and the longest
FIRST_POLL, MAX_POLL = 5.0, 60.0
#: outcomes in the order a summary lists them
_ORDER = ("ok", "invalid", "refused", "errored", "expired", "cancelled", "missing", "failed",
          "unsent")


@dataclass
class BatchStatus:
    """Where a job stands: its common status (see
    :mod:`structmagic.providers.batch`), and its rows."""

    job: str
    status: str
    total: int
    done: int
    failed: int
    parts: int
    ended: bool
    elapsed: float
    schema: str = ""
    provider: str = ""
    model: str = ""
    cost: float | None = None
    cost_estimated: bool = False
    summary: dict[str, int] = field(default_factory=dict)

    def counts(self) -> str:
        """``done/total done · failed failed`` (no clock: stable for saved outputs)."""
        return f"{self.done}/{self.total} done · {self.failed} failed"

    def line(self) -> str:
        """One line for a progress bar."""
        parts = [self.schema or "batch", f"{self.provider} {self.model}".strip(), self.status,
                 self.counts(), _clock_text(self.elapsed)]
        if self.cost is not None:
            parts.append(f"{'expected ≥' if self.cost_estimated else 'cost'} "
                         f"{money(self.cost)}")
        return " · ".join(p for p in parts if p)


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class BatchJob:
    """A provider batch job over the rows of one schema: ``status()``, ``wait()``,
    ``results()``, ``cancel()``.

    Made by :func:`structmagic.submit_batch` (which submits the rows, or re-attaches to the
    job that already holds them). ``key`` is the job's content hash (its manifest entry),
    ``ids`` the provider's job ids (one per part), ``summary`` the count of each row outcome
    once collected.
    """

    def __init__(self, record: JobRecord, manifest: Manifest, plan: Plan, index: RowIndex,
                 prompts: Sequence[Any], unsent: dict[int, E.StructuredError], *,
                 attached: bool = False, persisted: bool = True, media: Any = None,
                 repeats: Repeats | None = None) -> None:
        self.record = record
        self.manifest = manifest
        self.plan = plan
        self.index = index
        self.prompts = prompts
        self.unsent = unsent
        self.media = media  # each row's images and files (submit.RowMedia), for re-runs
        #: the rows that repeat an earlier row: not sent, given a copy of its result
        self.repeats = repeats if repeats is not None else Repeats(len(prompts), None)
        #: True when this job was found in the manifest (submitted earlier)
        self.attached = attached
        #: what each row is called in its error messages, by position (``--each`` sets its
        #: frame's index); None: its position
        self.row_names: Sequence[Any] | None = None
        self._persisted = persisted
        self.wire = Wire(plan.settings, plan.provider, settled=ended_by(plan.api))
        #: the provider's latest view of each part, by part index
        self.infos: dict[int, JobInfo] = {}
        self._replayed = False  # the last poll was answered from the recording
        self._repeated = False  # ... by an answer it had given already
        self.summary: dict[str, int] = dict(record.summary)
        #: the cap (USD) on what this job and the re-run of its failed rows cost
        self.max_cost: float | None = record.max_cost

    # --- identity -----------------------------------------------------------------------

    @property
    def key(self) -> str:
        return self.record.key

    @property
    def unique(self) -> int:
        """How many rows the job sends: each row that repeats an earlier row
        (:mod:`structmagic.rows.unique`) gets a copy of that row's result instead."""
        return self.repeats.unique

    @property
    def ids(self) -> list[str]:
        """The provider's job ids, one per part (parts not yet created left out)."""
        return [p.batch_id for p in self.record.parts if p.batch_id]

    def __repr__(self) -> str:
        st = self._last_status()
        return (f"<BatchJob {self.key[:12]} {self.record.provider} {self.record.model}: "
                f"{st.status}, {st.counts()}, {len(self.record.parts)} "
                f"{'part' if len(self.record.parts) == 1 else 'parts'}>")

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        return f"<code>{html.escape(repr(self))}</code>"

    # --- the state machine -----------------------------------------------------------------------

    def status(self) -> BatchStatus:
        """Poll each part that has not ended (and each part once per session), keep what
        was seen in the manifest, and return where the job stands."""
        changed, replayed, repeated = poll_parts(self.record, self.wire, self.plan.api,
                                                 self.plan.settings.base_url, self.infos)
        self._replayed, self._repeated = replayed, repeated
        status = self._last_status()
        if changed or self.record.status != status.status:
            self.record.status = status.status
            self._save()
        return status

    def wait(self, *, poll: float | None = None, timeout: float | None = None,
             on_status: Callable[[BatchStatus], None] | None = None) -> BatchStatus:
        """Poll until every part has ended; ``on_status`` sees each poll.

        ``poll`` fixes the seconds between polls (default: 5 s growing to 60 s);
        ``timeout`` returns the status not ended after that many seconds. An interrupt
        leaves the wait and the job running (a ``KeyboardInterrupt`` saying how to come
        back).
        """
        interval = poll if poll is not None else FIRST_POLL
        now = self.plan.settings.clock.time
        started = now()
        try:
            while True:
                status = self.status()
                if on_status is not None:
                    on_status(status)
                if status.ended:
                    return status
                if self._repeated:
                    raise E.CassetteMissError(
                        f"The recording ends before the batch job {self.key[:12]} did "
                        f"(last status {status.status}).",
                        hint="Record it to the end with --cache cache, or wait live.")
                if timeout is not None and now() - started >= timeout:
                    return status
                if not self._replayed:
                    self._pause(interval if timeout is None
                                else min(interval, timeout - (now() - started)))
                if poll is None:
                    interval = min(MAX_POLL, interval * 1.5)
        except KeyboardInterrupt:
            raise CallInterrupted(
                f"left the wait: the batch job {self.key[:12]} keeps running at "
                f"{self.record.provider}; run the same cell (or submit_batch with the same "
                "rows) again to re-attach") from None

    def _pause(self, seconds: float) -> None:
        clock = self.plan.settings.clock
        end = clock.time() + max(0.0, seconds)
        while True:
            left = end - clock.time()
            if left <= 0:
                return
            clock.sleep(min(SLICE, left))

    def cancel(self) -> BatchStatus:
        """Ask every part that has not ended to stop. Rows it finished are kept (and billed);
        :meth:`results` collects them."""
        cancel_parts(self.record, self.wire, self.plan.api, self.plan.settings.base_url)
        self._save()
        return self.status()

    # --- results -----------------------------------------------------------------------

    def results(self, *, retry: str = "sync", wait: bool = True, concurrency: int = 16,
                on_status: Callable[[BatchStatus], None] | None = None) -> list[Result]:
        """Every row's :class:`~structmagic.Result`, in input order.

        Waits for the job unless ``wait=False`` (then a job that has not ended is a
        :class:`~structmagic.BatchError`). Each answer is validated against the schema;
        rows that came back errored, expired, cancelled, missing, failed or invalid are
        re-run through the synchronous path (with its retries and re-asks) once, with
        ``retry="sync"``: their results are kept in the manifest with the job
        (:mod:`.kept`), so collecting it again — the same cell run again, the next day —
        shows them and sends nothing. ``retry="again"`` re-runs the rows still failed once
        more (paying again, on purpose); ``retry="none"`` re-runs nothing (rows re-run
        earlier still show their kept results). With a :attr:`max_cost`, the re-run gets
        what the job's cost and the earlier re-runs left of it as its own ``max_cost``: the
        rows it cannot afford are "not run: budget" (and are not kept: a later re-run sends
        them). :attr:`summary` counts each outcome.
        """
        if retry not in RETRY_MODES:
            raise E.ConfigError(f"retry must be one of {', '.join(RETRY_MODES)}, not "
                                f"{retry!r}.")
        status = self.wait(on_status=on_status) if wait else self.status()
        if not status.ended:
            raise E.BatchError(
                f"The batch job {self.key[:12]} has not ended ({status.status}, "
                f"{status.counts()}).", job=self.key,
                hint="Wait for it (results() waits by default), or run the cell again later.")
        collector = self._collect()
        kinds = collector.kinds
        repeats = self.repeats
        results: list[Result] = []
        for p, res in enumerate(collector.results):  # a repeated row: its original's, for now
            original = repeats.original(p)
            results.append(res if res is not None else results[original] if original != p
                           else _lost(self.plan))
        self.record.usage = dict(collector.usage)
        self.record.cost = collector.cost()
        self._rerun(results, kinds, concurrency, retry)
        for p in range(len(results)):  # each repeated row: a copy of its original's result
            original = repeats.original(p)
            if original != p:
                results[p] = copy_of(results[original], original)
                kinds[p] = kinds[original]
        counts = self._counts(results, kinds)
        self.summary = {k: counts[k] for k in (*_ORDER, "retried", "retried_ok", "not_run",
                                               "repeated") if counts.get(k)}
        if collector.unknown:
            self.summary["unknown_lines"] = collector.unknown
        if collector.unreadable:
            self.summary["unreadable_lines"] = collector.unreadable
        self.record.summary = self.summary
        self.record.state = COLLECTED
        self._save()
        return results

    def summary_line(self) -> str:
        """How many rows ended how, in one line (after :meth:`results`)."""
        s = self.summary
        head = ", ".join(f"{s[k]} {k}" for k in _ORDER if s.get(k))
        text = f"{self.record.rows} rows: {head or 'none'}"
        if s.get("retried"):
            text += (f"; {s['retried']} re-run synchronously: {s.get('retried_ok', 0)} ok, "
                     f"{s['retried'] - s.get('retried_ok', 0)} failed")
        if s.get("not_run"):
            text += f"; {s['not_run']} {NOT_RUN}"
        if s.get("repeated"):
            text += (f"; {self.record.rows - s['repeated']} unique of {self.record.rows} rows "
                     "(each repeat got its original's answer)")
        return text

    def _collect(self) -> Collector:
        api, base = self.plan.api, self.plan.settings.base_url
        collector = Collector(self.plan, self.index, self.key, grounder=self._grounder,
                              names=self.row_names)
        for position, error in self.unsent.items():
            collector.unsent(position, error)
        for part in self.record.parts:
            info = self.infos.get(part.index)
            if info is None:
                continue
            if info.inline is not None:
                collector.feed_inline(api.inline_outcomes(info), [
                    p for p in range(part.start, part.stop) if self.index.sent(p)])
            for url in api.result_urls(base, info):
                collector.feed_lines(self.wire.lines(url))
            collector.line_errors(part.start, part.stop, info.errors)
            collector.finish_part(part.start, part.stop, info.status)
        return collector

    def _grounder(self, position: int) -> Grounder | None:
        """Row ``position``'s grounder (None when grounding is off): its ``source=``, else
        the text layer of its files, else its prompt (:mod:`structmagic.call.grounding`)."""
        settings, media = self.plan.settings, self.media
        if not settings.grounds:
            return None
        source, parts = media.source_of(position) if media is not None else None, ()
        if source is None and media is not None:
            if media.files[position] is not None:  # its PDFs' text layer
                parts = media.parts(settings, position)
            elif media.images[position] is not None:  # pictures only: no text to check
                source = NO_TEXT
        return grounder_for(settings, self.plan.spec, self.prompts[position], parts, source)

    def _rerun(self, results: list[Result], kinds: list[str | None], concurrency: int,
               retry: str) -> None:
        """The failed rows: their kept results from an earlier re-run, and (``retry``) those
        to run now, run, and kept."""
        failed = [p for p, kind in enumerate(kinds) if kind in RETRIED]
        kept: dict[int, Result] = {}
        for p in failed:
            entry = self.record.rerun.get(str(p))
            found = restore(entry, self.plan) if entry is not None else None
            if found is not None:
                grounder = self._grounder(p) if found.error is None else None
                if grounder is not None:  # the manifest keeps the value, not its grounding
                    found.grounding, found.source = grounder.check(found.plain), grounder.source
                kept[p] = results[p] = found
        if retry == "sync":
            positions = [p for p in failed if p not in kept]
        elif retry == "again":
            positions = [p for p in failed if p not in kept or kept[p].error is not None]
        else:
            positions = []
        try:
            again = self._run(positions, concurrency, kept)
        except BatchInterrupted as exc:
            self._keep(positions, exc.results, results, kept)
            self._save()
            raise BatchInterrupted(results) from None
        self._keep(positions, again, results, kept)

    def _counts(self, results: list[Result], kinds: list[str | None]) -> Counter[str]:
        """Each row's outcome in the job (a repeated row's is its original's), the failed
        rows re-run synchronously (kept with the job), how many of them ended well, those
        a cap left out, and the rows that repeat an earlier one."""
        counts = Counter(k for k in kinds if k is not None)
        original = self.repeats.original
        failed = [p for p, kind in enumerate(kinds) if kind in RETRIED]
        reran = [p for p in failed if str(original(p)) in self.record.rerun]
        counts["retried"] = len(reran)
        counts["retried_ok"] = sum(1 for p in reran if results[p].error is None)
        counts["not_run"] = sum(1 for p in failed if isinstance(results[p].error, NotRun))
        counts["repeated"] = len(results) - self.repeats.unique
        return counts

    def _keep(self, positions: list[int], again: Sequence[Result], results: list[Result],
              kept: dict[int, Result]) -> None:
        """Put the re-run's results in place, and keep those that were run (a row not run or
        not finished keeps showing its earlier kept result, if it has one)."""
        for p, res in zip(positions, again, strict=True):
            entry = kept_result(res)
            if entry is not None:
                self.record.rerun[str(p)] = entry
                results[p] = res
            else:
                results[p] = kept.get(p, res)

    def _run(self, positions: list[int], concurrency: int, kept: dict[int, Result]
             ) -> list[Result]:
        """Run the rows at ``positions`` through the synchronous path, within what the job
        and the earlier re-runs (``kept``) left of the cap."""
        if not positions:
            return []
        options = settings_options(self.plan.settings)
        if self.media is not None:
            options.update(self.media.batch_options(positions))
        cap, spent = self.max_cost, self.record.cost
        if spent is not None:
            for res in kept.values():
                cost = res.cost
                if cost is None and res.usage:
                    spent = None  # an earlier re-run's answer that could not be priced
                    break
                spent += cost or 0.0
        if cap is not None and spent is None:
            what = ("the batch job's cost" if self.record.cost is None
                    else "the cost of its earlier re-runs")
            return [self._not_run(f"{what} is unknown, so what is left of the cap "
                                  f"{money(cap)} cannot be told") for _ in positions]
        if cap is not None and spent is not None:
            options["max_cost"] = max(0.0, cap - spent)  # what the job left of the cap
        try:
            again = run_threads([self.prompts[p] for p in positions], self.plan.spec,
                                concurrency=concurrency, **options)
            renumber(again, positions)
        except E.ConfigError as exc:  # the re-run's cap cannot be kept (no price)
            if cap is None:
                raise
            return [self._not_run(exc.message) for _ in positions]
        if cap is not None:
            reached = f"the cap {money(cap)} was reached: the batch job cost {money(spent)}"
            if kept:
                reached += " with its earlier re-runs"
            again = [self._not_run(reached) if isinstance(r.error, NotRun) else r
                     for r in again]
        return again

    def _not_run(self, why: str) -> Result:
        """A failed row the cap leaves out of the re-run."""
        return Result(error=NotRun(f"{NOT_RUN} ({why})", hint="Run again with a higher "
                                   "max_cost (--max-cost) to re-run it."),
                      schema_name=self.plan.spec.name, cost=0.0)

    # --- pieces -----------------------------------------------------------------------

    def read_info(self, body: Any) -> JobInfo:
        """The job a create answered with."""
        return read_job(self.plan.api, body, self.plan.provider.name, job=self.key)

    def _last_status(self) -> BatchStatus:
        return record_status(self.record, self.summary, clock=self.plan.settings.clock)

    def _save(self) -> None:
        if self._persisted:
            self.manifest.put(self.record)


#: what a batch API's ``job()`` raises for an answer that is not one of its jobs
_NOT_A_JOB = (ValueError, KeyError, TypeError, AttributeError)


def read_job(api: Any, body: Any, provider: str, *, job: str, about: str | None = None
             ) -> JobInfo:
    """The provider job in an answer (about the provider job ``about``, of our job
    ``job``); :class:`~structmagic.BatchError` when it is not one."""
    try:
        info: JobInfo = api.job(body)
        if not usable_id(info.id):
            raise ValueError(f"its id {json.dumps(info.id)[:80]} cannot stand in a URL")
    except _NOT_A_JOB as exc:
        raise E.BatchError(f"The answer about batch job {about or '?'} is not a job of the "
                           f"{provider} batch API ({exc}).", job=job) from None
    return info


def ended_by(api: Any) -> Callable[[Any], bool]:
    """Whether an answer is final: a job that has ended, or anything that is not a job
    (a downloaded results file)."""
    def settled(body: Any) -> bool:
        if not isinstance(body, dict):
            return True
        try:
            return bool(api.job(body).ended)
        except _NOT_A_JOB:
            return True

    return settled


def record_status(record: JobRecord, summary: dict[str, int] | None = None, *,
                  clock: Clock = SYSTEM_CLOCK) -> BatchStatus:
    """Where a job stands by its record: the least advanced status of the parts still
    running; once all have ended, the first of failed, expired, cancelled that one of them
    ended with, else completed."""
    parts = record.parts
    summary = summary if summary is not None else record.summary
    statuses = [p.status or "validating" for p in parts]
    running = [s for s in statuses if s not in TERMINAL]
    if running:
        order = {s: i for i, s in enumerate((*STATUSES[:3], CANCELLING))}
        status = min(running, key=lambda s: order.get(s, 1))
    elif not parts:
        status = COMPLETED
    else:
        status = next((s for s in (FAILED, EXPIRED, CANCELLED) if s in statuses), COMPLETED)
    sent = sum(p.count for p in parts)
    done = sum(p.completed for p in parts)
    failed = sum(p.failed for p in parts)
    if summary:
        done = summary.get("ok", 0) + summary.get("retried_ok", 0)
        failed = record.rows - done
        sent = record.rows
    cost, estimated = record.cost, False
    if cost is None and record.state != COLLECTED:
        cost, estimated = record.estimated_cost, True
    return BatchStatus(
        job=record.key, status=status, total=sent, done=done, failed=failed,
        parts=len(parts), ended=not running, elapsed=clock.time() - record.created,
        schema=record.schema, provider=record.provider, model=record.model,
        cost=cost, cost_estimated=estimated, summary=dict(summary))


def poll_parts(record: JobRecord, wire: Wire, api: Any, base: str, infos: dict[int, JobInfo]
               ) -> tuple[bool, bool, bool]:
    """One poll of each part of ``record`` that has not ended (or has no entry in
    ``infos``, which gets the polls). Whether a part changed, whether every answer came from
    a recording, and whether each was one it had given already."""
    replayed = repeated = True
    changed = False
    for part in record.parts:
        if part.batch_id is None:
            continue
        if part.status in TERMINAL and part.index in infos:
            continue
        try:
            answer = wire.json("GET", api.job_url(base, part.batch_id))
        except E.APIError as err:
            if err.status == 404:
                raise E.BatchError(
                    f"The batch job {part.batch_id} is not known to {base} (HTTP 404): it "
                    "was deleted, or belongs to another account or base URL.",
                    job=record.key) from None
            raise
        info = read_job(api, answer.body, wire.provider.name, job=record.key,
                        about=part.batch_id)
        if info.id != part.batch_id:
            raise E.BatchError(f"The answer about batch job {part.batch_id} is about another "
                               f"job ({info.id}).", job=record.key)
        replayed = replayed and answer.from_cassette
        repeated = repeated and answer.repeated
        infos[part.index] = info
        changed = note_info(part, info) or changed
    return changed, replayed, repeated and replayed


def cancel_parts(record: JobRecord, wire: Wire, api: Any, base: str) -> None:
    """Ask every part of ``record`` that has not ended to stop."""
    for part in record.parts:
        if part.batch_id is None or part.status in TERMINAL:
            continue
        answer = wire.json("POST", api.cancel_url(base, part.batch_id))
        if isinstance(answer.body, dict) and answer.body:
            try:
                info = api.job(answer.body)
            except _NOT_A_JOB:
                continue
            if info.id == part.batch_id:
                note_info(part, info)


def note_info(part: PartRecord, info: JobInfo) -> bool:
    """Copy a poll into the part's record; whether anything changed."""
    before = (part.status, part.raw_status, part.total, part.completed, part.failed)
    part.batch_id = info.id
    part.status, part.raw_status = info.status, info.raw_status
    part.total = info.total
    part.completed, part.failed = info.completed, info.failed
    return before != (part.status, part.raw_status, part.total, part.completed, part.failed)


def _lost(plan: Plan) -> Result:  # pragma: no cover - every row gets an outcome
    return Result(error=E.BatchRowError("This row has no outcome.", outcome="missing"),
                  schema_name=plan.spec.name)


def settings_options(settings: Any) -> dict[str, Any]:
    """Options that :func:`structmagic.config.resolve` turns back into ``settings``."""
    from dataclasses import fields

    return {f.name: getattr(settings, f.name) for f in fields(settings)
            if getattr(settings, f.name) is not None}


def wire_for(record: JobRecord, settings: Any) -> tuple[Wire, Any, str]:
    """The wire, batch API and base URL to follow a job of the manifest with ``settings``:
    the record's provider and model, at the base URL configured now for that provider
    (``settings``' own, or what the configuration gives the record's provider) with that
    configuration's key. The record's ``base_url`` is only compared, never contacted on its
    own word (the manifest is a shared file): a record that names another base URL is a
    :class:`~structmagic.BatchError` saying so in one line, and nothing is sent."""
    provider = get_provider(record.provider)
    if provider.batch_api is None:
        raise E.BatchError(f"The batch job {record.key[:12]} names {record.provider}, which "
                           "has no batch API in structmagic.", job=record.key)
    if record.provider != settings.provider:
        base = resolve({"provider": record.provider}).base_url
        settings = replace(settings, provider=record.provider, api_key_env=None,
                           base_url=base)
    configured = safe_url(settings.base_url)
    if safe_url(normalize_base_url(record.base_url, record.provider)) != configured:
        raise E.BatchError(
            f"The batch job {record.key[:12]} was submitted to {record.base_url}, not to the "
            f"base URL configured for {record.provider} now ({configured}): not contacted.",
            job=record.key,
            hint="Requests about a job of the manifest go only to the base URL you configure, "
            "with its key. If that server is yours, configure it (%structured_config "
            "--base-url URL) and run this again.")
    settings = replace(settings, model=record.model)
    return (Wire(settings, provider, settled=ended_by(provider.batch_api)),
            provider.batch_api, settings.base_url)
