"""The one way many rows run, whichever road they take: :func:`batch` and :func:`start`.

::

    batch(prompts, schema, via=...)        start(...) -> Run, then Run.results()
    batch_iter(prompts, schema)            parallel requests, each result yielded in order
      via="threads"     parallel requests           (:mod:`.threads`, paced by :mod:`.gate`)
      via="batch-api"   a provider batch job         (:mod:`.jobs`; its failed rows re-run
                                                      with threads)
      via="auto"        a batch job, or parallel requests on a server without batch routes
                        (one note says so: a warning from Python, a line in the magic)

:func:`start` is the same in two steps, for a front end that shows the job before waiting
for it (the magic's ``--batch-api``, ``--no-wait``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..call.result import Result
from ..errors import BatchUnavailableError, ConfigError
from .counts import BatchProgress
from .frame import rows_of
from .gate import RateGate
from .jobs.job import RETRY_MODES, BatchJob, BatchStatus
from .jobs.submit import submit_batch
from .threads import iter_rows, run_threads

__all__ = ["VIAS", "Run", "batch", "batch_iter", "start"]

#: the roads many rows can take
VIAS = ("threads", "batch-api", "auto")
#: what only a batch job takes
JOB_OPTIONS = ("manifest", "max_requests", "max_bytes", "inline_bytes", "resubmit")
#: what only parallel requests take
THREAD_OPTIONS = ("gate", "max_requests_per_minute", "max_tokens_per_minute")


@dataclass
class Run:
    """Rows on their way: through a provider batch job (:attr:`job`), or as parallel requests
    (``job`` None; :attr:`note` says why when a batch job was asked for)."""

    prompts: Sequence[Any]
    schema: Any
    concurrency: int
    options: dict[str, Any]
    job: BatchJob | None = None
    batch_retry: str = "sync"
    note: str | None = None
    threads: dict[str, Any] = field(default_factory=dict)
    #: hears what the run has to say (the prompt cache, a road not taken); None: warnings
    on_note: Callable[[str], None] | None = None

    def results(self, *, on_progress: Callable[[BatchProgress], None] | None = None,
                on_status: Callable[[BatchStatus], None] | None = None,
                on_result: Callable[[int, Result], None] | None = None) -> list[Result]:
        """Every row's :class:`~structmagic.Result`, in input order: the job waited for and
        collected (``on_status`` sees each poll), or the rows run (``on_progress`` sees each
        finished row). With ``on_result(index, result)``, each row's result is handed to it
        in input order instead, and not kept (an empty list is returned). Raises
        :class:`~structmagic.BatchInterrupted` on an interrupt."""
        if self.job is not None:
            results = self.job.results(retry=self.batch_retry, concurrency=self.concurrency,
                                       on_status=on_status)
            if on_result is None:
                return results
            for index, res in enumerate(results):
                on_result(index, res)
            return []
        return run_threads(self.prompts, self.schema, concurrency=self.concurrency,
                           on_progress=on_progress, on_result=on_result,
                           on_note=self.on_note, **self.threads,
                           **self.options)


def start(prompts: Iterable[Any], schema: Any, *, via: str = "threads",
          concurrency: int = 16, batch_retry: str = "sync",
          on_note: Callable[[str], None] | None = None, **options: Any) -> Run:
    """Send the rows on their way (a batch job is submitted, or re-attached, now); the
    :class:`Run` gives the results. ``on_note(text)`` hears why rows asked for ``via="auto"``
    run as parallel requests (default: a warning). Options as for :func:`batch`."""
    if via not in VIAS:
        raise ConfigError(f"via must be one of {', '.join(VIAS)}, not {via!r}.")
    if batch_retry not in RETRY_MODES:
        raise ConfigError(f"batch_retry must be one of {', '.join(RETRY_MODES)}, not "
                          f"{batch_retry!r}.")
    items = rows_of(prompts, "prompts")
    threads = {name: options.pop(name) for name in THREAD_OPTIONS if name in options}
    run = Run(items, schema, concurrency, options, batch_retry=batch_retry, threads=threads,
              on_note=on_note)
    if via == "threads":
        for name in JOB_OPTIONS:
            if name in options:
                raise ConfigError(f"{name} is an option of a batch job: give it with "
                                  "via='batch-api' (or 'auto').")
        return run
    try:
        run.job = submit_batch(items, schema, **options)
    except BatchUnavailableError as exc:
        if via != "auto":
            raise
        run.note = (f"{exc.message} Running the {len(items)} rows as parallel requests "
                    "instead.")
        (on_note or _warn)(run.note)
        for name in JOB_OPTIONS:
            options.pop(name, None)
    return run


def _warn(text: str) -> None:
    warnings.warn(text, stacklevel=4)


def batch(
    prompts: Iterable[Any],
    schema: Any,
    *,
    concurrency: int = 16,
    on_progress: Callable[[BatchProgress], None] | None = None,
    max_requests_per_minute: float | None = None,
    max_tokens_per_minute: float | None = None,
    gate: RateGate | None = None,
    via: str = "threads",
    batch_retry: str = "sync",
    on_result: Callable[[int, Result], None] | None = None,
    **options: Any,
) -> list[Result]:
    """Run :func:`structured` over ``prompts``; results in input order, failures kept.

    ``options`` are those of :func:`structured` (``model``, ``system``, ``retries``,
    ``cache``, ``http_client`` ...). ``images`` and ``files`` are per item: one entry per
    prompt, each an image (or file), a list of them, or None; ``detail``, ``inline`` and
    ``downscale`` apply to all (see :func:`structured`). Each item's images are prepared in
    its worker; one that cannot be sent fails that item alone. ``on_progress(progress)`` is
    called from the calling thread after each item finishes. ``gate`` shares one
    :class:`~structmagic.rows.gate.RateGate` (its per-minute budgets and 429 pauses) among
    several batches, e.g. the partitions one worker runs; otherwise each batch has its own,
    from ``max_requests_per_minute`` / ``max_tokens_per_minute``. An interrupted batch
    closes its gate. ``max_cost`` (USD) stops the batch before it would pass that cap (see
    :mod:`structmagic.rows.threads`); it needs a known price.

    Rows of the run that would send the same request (the same prompt, images, files and
    source) are sent once, and the others get a copy of the answer (``duplicate_of`` names
    the row sent; it costs 0 and ``saved`` says what it saved); ``dedup=False`` sends every
    row (see :mod:`structmagic.rows.unique`). ``on_result(index, result)`` is called with
    each row's result in input order, as soon as that row and every row before it have
    finished (from the calling thread); the results it is given are not kept, and ``batch``
    returns an empty list: a column of any length then runs in bounded memory (so does
    :func:`batch_iter`).

    Raises :class:`~structmagic.BatchInterrupted` (a KeyboardInterrupt carrying the results)
    on interrupt; bad input (schema, options, a cap without a price) raises before any
    request; a bad item (a prompt that cannot be sent) fails alone.

    ``via="batch-api"`` sends the rows through the provider's asynchronous batch API
    instead (half the price, no rate limits, resumable: see
    :func:`structmagic.submit_batch`, whose options it takes too), waits, and re-runs the
    rows that failed there synchronously once (``batch_retry="sync"``: their results are kept
    with the job, so running the same rows again collects them and pays nothing new;
    ``"again"`` re-runs the rows still failed once more, paying again; ``"none"`` leaves
    them failed); ``via="auto"`` does the same, or uses threads on a server without batch
    routes (with a warning). A batch job cannot stop part way, so there ``max_cost`` is
    checked once, before the job is created: the job is submitted only if the high end of
    its batch-price estimate fits.
    """
    for name, value in (("gate", gate), ("max_requests_per_minute", max_requests_per_minute),
                        ("max_tokens_per_minute", max_tokens_per_minute)):
        if value is not None:
            options[name] = value
    run = start(prompts, schema, via=via, concurrency=concurrency, batch_retry=batch_retry,
                **options)
    return run.results(on_progress=on_progress, on_result=on_result)


def batch_iter(prompts: Iterable[Any], schema: Any, *, concurrency: int = 16,
               window: int | None = None, **options: Any) -> Iterator[Result]:
    """Run :func:`structured` over ``prompts`` as parallel requests, yielding each row's
    :class:`~structmagic.Result` in input order as soon as it and every row before it have
    finished: write them out in chunks (to Parquet, a database) without holding them all.

    Options are those of :func:`batch` (``on_progress``, ``max_cost``, ``gate``, ``images``
    ...; identical rows are sent once unless ``dedup=False``), except ``via``: a provider
    batch job answers every row at once (use :func:`batch` with ``via="batch-api"``). At most
    ``window`` rows (default ``max(256, 16 * concurrency)``) past the last one yielded are
    sent ahead, and a result is held only until it is yielded (one that later rows repeat,
    until the last of them), so memory stays bounded whatever the number of rows.

    Bad input raises here, before anything is sent; the rows are sent as the results are
    asked for. Leaving the loop early (``break``, an exception in its body) stops the rows
    at once: nothing more is sent and the requests in flight are cut. An interrupt while
    waiting gives the requests in flight their grace and raises
    :class:`~structmagic.BatchInterrupted`, whose ``results`` are the rows from the first
    one not yielded (its ``start``) to the last one sent.

    ::

        for i, res in enumerate(structmagic.batch_iter(texts, Invoice)):
            writer.add(i, res)
    """
    for name in ("via", "batch_retry", *JOB_OPTIONS):
        if name in options:
            raise ConfigError(f"{name} is an option of a provider batch job, whose rows come "
                              "back at once: use batch(..., via='batch-api').")
    return iter_rows(rows_of(prompts, "prompts"), schema, concurrency=concurrency,
                     window=window, **options)
