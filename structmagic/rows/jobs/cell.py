"""The magic's side of batch jobs: ``%%structured ... --each VAR --batch-api`` and
``%structured_batches``.

``--batch-api`` submits the rows (or re-attaches to the job that already holds them), shows
the job's progress bar while it waits, collects, and hands the results back to ``--each``,
which binds them as it binds its own (a list, or a DataFrame with an ``error`` column).
``--no-wait`` returns the job at once (the cell's value); running the cell again later
re-attaches and collects. ``--batch-api auto`` runs the rows with threads on a server
without batch routes, and says so in one line. The lines printed hold no clock, so saved
outputs stay the same from run to run.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from ... import errors as E

__all__ = ["list_batches", "via_batch_api"]


def _say(args: Any, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(f"structmagic: {text}")


def via_batch_api(magics: Any, args: Any, spec: Any, prompts: list[Any],
                  options: dict[str, Any]) -> Any:
    """The rows through the batch API: ``(results, interrupted)``; the job itself when not
    waiting for it (``--no-wait``); None to run them with threads instead (``auto`` on a
    server without batch routes)."""
    from ...display.kernel import has_kernel
    from .display import JobBar
    from .submit import submit_batch

    try:
        job = submit_batch(prompts, spec, **options)
    except E.BatchUnavailableError as exc:
        if args.batch_api != "auto":
            raise
        _say(args, f"{exc.message} Running the {len(prompts)} rows as parallel requests "
                   "instead.")
        return None
    record = job.record
    n_parts = len(record.parts)
    _say(args, f"{'re-attached to' if job.attached else 'submitted'} batch job "
               f"{job.key[:12]} ({record.provider}, {record.rows} rows in {n_parts} "
               f"{'part' if n_parts == 1 else 'parts'}; manifest {job.manifest.path.name})")
    bar = JobBar(title=spec.name, live=not args.quiet and has_kernel(magics.shell))
    bar.show()
    if args.no_wait:
        status = job.status()
        bar.update(status, final=True)
        if not status.ended:
            _say(args, f"not waiting ({status.status}, {status.counts()}); run this cell "
                       "again to collect: the job keeps running.")
            return job
    interrupted: E.BatchInterrupted | None = None
    try:
        results = job.results(retry=args.batch_retry, concurrency=args.concurrency or 16,
                              on_status=bar.update)
    except E.BatchInterrupted as exc:  # during the synchronous re-run of failed rows
        interrupted, results = exc, exc.results
    except KeyboardInterrupt:
        bar.note("left the wait; the job keeps running", style="warning")
        raise
    bar.update(job.status(), final=True)
    _say(args, job.summary_line())
    return results, interrupted


def list_batches(args: Any) -> None:
    """``%structured_batches``: the manifest's jobs with status and cost; ``--cancel ID``."""
    from ...config import resolve
    from .job import cancel_parts, poll_parts, record_status
    from .manifest import Manifest, manifest_path

    try:
        settings = resolve({})
    except E.StructuredError as exc:
        raise UsageError(str(exc)) from None
    store = Manifest(manifest_path(settings, args.manifest))
    if args.cancel:
        record = store.find(args.cancel)
        if record is None:
            raise UsageError(f"--cancel {args.cancel}: no such job in {store.path} (give the "
                             "job's key, at least 6 characters, or a provider batch id).")
        wire, api, base = _wire_for(record, settings)
        cancel_parts(record, wire, api, base)
        poll_parts(record, wire, api, base, {})
        store.put(record)
        status = record_status(record)
        print(f"structmagic: asked batch job {record.key[:12]} to cancel; now "
              f"{status.status} ({status.counts()}). Rows it finished are kept: run its cell "
              "again to collect them.")
        return
    jobs = store.jobs()
    if not jobs:
        print(f"structmagic: no batch jobs in {store.path}")
        return
    problems: list[str] = []
    if not args.no_refresh:
        for record in jobs:
            if not record_status(record).ended and any(p.batch_id for p in record.parts):
                try:
                    wire, api, base = _wire_for(record, settings)
                    if poll_parts(record, wire, api, base, {})[0]:
                        store.put(record)
                except E.StructuredError as exc:  # the others are still worth listing
                    problems.append(f"  {record.key[:12]}: not refreshed: "
                                    f"{exc.message.splitlines()[0]}")
    print(_table(jobs, store))
    if problems:
        print("\n".join(problems))


def _wire_for(record: Any, settings: Any) -> tuple[Any, Any, str]:
    """The wire, batch API and base URL of a job of the manifest."""
    from dataclasses import replace

    from ...config import normalize_base_url
    from ...providers import get_provider
    from .wire import Wire

    provider = get_provider(record.provider)
    if record.provider != settings.provider:
        settings = replace(settings, provider=record.provider, api_key_env=None)
    settings = replace(settings, base_url=normalize_base_url(record.base_url, record.provider),
                       model=record.model)
    from .job import _ended_by

    return (Wire(settings, provider, settled=_ended_by(provider.batch_api)),
            provider.batch_api, settings.base_url)


def _table(jobs: list[Any], store: Any) -> str:
    from ...cost.calc import money
    from .job import record_status

    rows = [("job", "provider", "model", "schema", "rows", "status", "done", "failed",
             "cost")]
    for record in jobs:
        st = record_status(record)
        cost = "—" if st.cost is None else (f"≥ {money(st.cost)}" if st.cost_estimated
                                            else money(st.cost))
        rows.append((record.key[:12], record.provider, record.model, record.schema,
                     str(record.rows), st.status, str(st.done), str(st.failed), cost))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"batch jobs in {store.path}:"]
    for r in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)
                                      ).rstrip())
    return "\n".join(lines)
