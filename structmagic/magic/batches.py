"""The magic's side of many rows: their progress bar, a batch job followed in the cell, and
``%structured_batches``.

``--each`` hands its rows to :func:`run_rows`, which sends them on their way through the one
dispatcher (:func:`structmagic.rows.start`): as parallel requests, followed by a bar of rows;
or, with ``--batch-api``, as a provider batch job, followed by a bar of the job (a line
says it was submitted or re-attached, and how its rows ended). ``--no-wait`` returns the job
at once; running the cell again later re-attaches and collects. ``--batch-api auto`` runs
the rows as parallel requests on a server without batch routes, and says so in one line. The
lines printed hold no clock, so saved outputs stay the same from run to run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from IPython.core.error import UsageError

from .. import rows
from ..call.result import Result
from ..config import resolve
from ..cost.calc import money
from ..display.kernel import has_kernel
from ..display.progress import ProgressBar, ended_style
from ..errors import BatchInterrupted, StructuredError
from ..schema import SchemaSpec
from .options import CellOptions

__all__ = ["doubt_counted", "finish_rows", "follow_rows", "list_batches", "run_rows"]

#: what ``--batch-api`` names each road
VIA = {None: "threads", "on": "batch-api", "auto": "auto"}

Ran = tuple[list[Result], BatchInterrupted | None]


def say(opts: CellOptions, text: str) -> None:
    """One line of the magic's own (nothing with ``--quiet``)."""
    if not opts.quiet:
        print(f"structmagic: {text}")


def run_rows(magics: Any, opts: CellOptions, spec: SchemaSpec, prompts: Sequence[Any],
             options: dict[str, Any], index: Sequence[Any] | None = None
             ) -> Ran | rows.jobs.BatchJob:
    """The rows' results and the interrupt that stopped them (if one did); the job itself
    when not waiting for it (``--no-wait``). A batch job's messages name each row by its
    label in ``index`` (the frame's index), as the rest of ``--each`` does."""
    live = not opts.quiet and has_kernel(magics.shell)
    run = rows.start(prompts, spec, via=VIA[opts.batch_api], concurrency=opts.concurrency or 16,
                batch_retry=opts.batch_retry, on_note=lambda text: say(opts, text), **options)
    if run.job is not None:
        run.job.row_names = index
        return _follow_job(opts, run, run.job, live)
    bar = ProgressBar(spec.name, live=live, total=len(prompts))
    bar.show()
    started = time.monotonic()
    interrupted: BatchInterrupted | None = None
    try:
        results = run.results(on_progress=follow_rows(bar))
    except BatchInterrupted as exc:
        interrupted, results = exc, exc.results
    finish_rows(bar, rows.counts.BatchProgress.of(
        results, max_cost=options.get("max_cost"), started=started,
        doubt_above=doubt_counted(opts, results)),
        interrupted=interrupted is not None, quiet=opts.quiet)
    return results, interrupted


def doubt_counted(opts: CellOptions, results: Sequence[Result]) -> float | None:
    """The doubt above which the bar's last line counts rows as doubtful: when
    ``--doubt-above`` was given, or doubt was measured (confidence, samples); else None."""
    if opts.doubt_above is not None or any(rows.frame.measured_doubt(r) for r in results):
        return opts.threshold
    return None


def follow_rows(bar: ProgressBar) -> Callable[[rows.counts.BatchProgress], None]:
    """The ``on_progress`` that draws a batch's progress on ``bar``."""
    def follow(progress: rows.counts.BatchProgress) -> None:
        bar.update(progress.finished, progress.total, progress.line())
        if progress.finishing and not noted:  # an interrupt's grace: said at once, once
            noted.append(True)
            bar.note(progress.finishing_line(), style="warning")
            if bar.box is None:
                print(f"structmagic: {progress.finishing_line()}", flush=True)

    noted: list[bool] = []

    return follow


def finish_rows(bar: ProgressBar, progress: rows.counts.BatchProgress, *, interrupted: bool = False,
                quiet: bool = False) -> None:
    """The bar's last state: green when every row is done, amber when some failed or a
    budget stopped them, red when interrupted; printed where no widget shows it."""
    style = ended_style(progress.failed, stopped=progress.not_run)
    bar.update(progress.finished, progress.total, progress.line(), style=style, final=True)
    if interrupted:
        bar.note("interrupted", style="danger")
    if bar.box is None and not quiet:
        print(bar.text)


def _follow_job(opts: CellOptions, run: rows.dispatch.Run, job: rows.jobs.BatchJob,
                live: bool) -> Ran | rows.jobs.BatchJob:
    """A batch job in the cell: a line, a bar, the wait, the summary."""
    record = job.record
    parts = len(record.parts)
    unique = f", {job.unique} unique," if job.unique < record.rows else ""
    say(opts, f"{'re-attached to' if job.attached else 'submitted'} batch job {job.key[:12]} "
              f"({record.provider}, {record.rows} rows{unique} in {parts} "
              f"{'part' if parts == 1 else 'parts'}; manifest {job.manifest.path.name})")
    bar = ProgressBar(live=live)
    bar.show()
    if not opts.wait:
        status = job.status()
        follow_job(bar, status, final=True)
        if not status.ended:
            say(opts, f"not waiting ({status.status}, {status.counts()}); run this cell "
                      "again to collect: the job keeps running.")
            return job
    interrupted: BatchInterrupted | None = None
    try:
        results = run.results(on_status=lambda status: follow_job(bar, status))
    except BatchInterrupted as exc:  # during the synchronous re-run of failed rows
        interrupted, results = exc, exc.results
    except KeyboardInterrupt:
        bar.note("left the wait; the job keeps running", style="warning")
        raise
    follow_job(bar, job.status(), final=True)
    say(opts, job.summary_line())
    return results, interrupted


def follow_job(bar: ProgressBar, status: rows.jobs.BatchStatus, *, final: bool = False
               ) -> None:
    """Draw a job's status on ``bar``: the counts as its line, the cost aside; ended, in the
    colour every bar ends in (:func:`~structmagic.display.progress.ended_style`: amber when
    some of its rows failed)."""
    line = status.line()
    aside = ""
    if status.cost is not None:
        line = line.rsplit(" · ", 1)[0]
        what = "expected ≥" if status.cost_estimated else "cost"
        aside = f"{what} {money(status.cost)}"
    bar.update(status.done + status.failed, status.total, line, aside=aside,
               style=ended_style(status.failed, status=status.status) if status.ended
               else None, final=final or status.ended)


# --- %structured_batches ------------------------------------------------------------------------


def list_batches(cancel: str | None, manifest: str | None, refresh: bool) -> None:
    """``%structured_batches``: the manifest's jobs with status and cost; ``--cancel ID``."""
    try:
        settings = resolve({})
    except StructuredError as exc:
        raise UsageError(str(exc)) from None
    store = rows.jobs.manifest.Manifest(rows.jobs.manifest.manifest_path(settings, manifest))
    if cancel:
        _cancel(store, cancel, settings)
        return
    jobs = store.jobs()
    if not jobs:
        print(f"structmagic: no batch jobs in {store.path}")
        return
    problems: list[str] = []
    if refresh:
        for record in jobs:
            running = not rows.jobs.job.record_status(record).ended
            if running and any(p.batch_id for p in record.parts):
                try:
                    wire, api, base = rows.jobs.job.wire_for(record, settings)
                    if rows.jobs.job.poll_parts(record, wire, api, base, {})[0]:
                        store.put(record)
                except StructuredError as exc:  # the others are still worth listing
                    problems.append(f"  {record.key[:12]}: not refreshed: "
                                    f"{exc.message.splitlines()[0]}")
    print(jobs_table(jobs, store))
    if problems:
        print("\n".join(problems))


def _cancel(store: rows.jobs.manifest.Manifest, wanted: str, settings: Any) -> None:
    record = store.find(wanted)
    if record is None:
        raise UsageError(f"--cancel {wanted}: no such job in {store.path} (give the job's "
                         "key, at least 6 characters, or a provider batch id).")
    wire, api, base = rows.jobs.job.wire_for(record, settings)
    rows.jobs.job.cancel_parts(record, wire, api, base)
    rows.jobs.job.poll_parts(record, wire, api, base, {})
    store.put(record)
    status = rows.jobs.job.record_status(record)
    print(f"structmagic: asked batch job {record.key[:12]} to cancel; now {status.status} "
          f"({status.counts()}). Rows it finished are kept: run its cell again to collect "
          "them.")


def jobs_table(jobs: list[rows.jobs.manifest.JobRecord], store: rows.jobs.manifest.Manifest
               ) -> str:
    """The jobs as an aligned table of text."""
    table = [("job", "provider", "model", "schema", "rows", "status", "done", "failed",
             "cost")]
    for record in jobs:
        st = rows.jobs.job.record_status(record)
        cost = "—" if st.cost is None else (f"≥ {money(st.cost)}" if st.cost_estimated
                                            else money(st.cost))
        table.append((record.key[:12], record.provider, record.model, record.schema,
                     str(record.rows), st.status, str(st.done), str(st.failed), cost))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = [f"batch jobs in {store.path}:"]
    for r in table:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)
                                      ).rstrip())
    return "\n".join(lines)
