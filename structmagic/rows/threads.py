"""Rows as parallel requests: one schema over many prompts, concurrently, in input order.

:func:`run_threads` is what :func:`structmagic.batch` runs with ``via="threads"`` (and what a
batch job's failed rows, an estimate's sample and a comparison run).

Worker threads run the same call as a single cell (so retries, re-asks, the cassette and
every error are the same); at most ``concurrency`` items are in flight and as many again are
queued, so memory stays flat in the number of items. Threads, not
asyncio: a Jupyter kernel already runs an event loop, and the main thread stays free to
take a KeyboardInterrupt at once.

A failed item is a :class:`Result` with ``.error`` set and ``.data`` None; it never stops
the others. An interrupt (:mod:`.stop`) sends nothing more (no new item, retry, re-ask or
step down: every request passes the shared gate, which is closed) and gives the requests in
flight, already paid for, a short grace to finish (the progress bar says so); a second
interrupt, or the end of the grace, cuts them (the batch's own connections are shut down,
no other batch's; an answer that had fully arrived is kept, and recorded in a cassette).
Then :class:`BatchInterrupted` is raised, carrying every result at its input position,
unfinished items marked. With your own ``http_client`` the requests in flight are left to
finish on their own, but nothing new is sent.

Rate limits are shared: a 429 on one item pauses every worker (the shared backoff), and
``max_requests_per_minute`` / ``max_tokens_per_minute`` pace the whole batch.

``max_cost`` caps the spending (:mod:`structmagic.rows.budget`): an item is queued only if the
cost so far, plus what the items in flight are expected to cost, plus its own estimate stays
within the cap, and checked again in its worker just before its first request (what was
spent meanwhile counted); otherwise the batch stops cleanly there, the finished items kept
and the rest marked "not run: budget". Answers from the recording cost nothing, so a re-run in
``cache`` mode with a higher cap resumes without paying twice.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from ..api import guarded, run
from ..call.caching import shared_prefix
from ..call.media import Media, per_item
from ..call.plan import Asking
from ..call.result import Result
from ..config import resolve
from ..errors import BatchInterrupted, ConfigError, Interrupted, StructuredError
from ..schema import load_schema
from ..transport.work import Work
from .budget import Budget, ItemEstimator
from .counts import BatchProgress
from .gate import RateGate
from .stop import say_finishing, stop_rows

__all__ = ["run_threads"]


def run_threads(
    prompts: Iterable[Any],
    schema: Any,
    *,
    concurrency: int = 16,
    on_progress: Callable[[BatchProgress], None] | None = None,
    max_requests_per_minute: float | None = None,
    max_tokens_per_minute: float | None = None,
    gate: RateGate | None = None,
    images: Sequence[Any] | None = None,
    files: Sequence[Any] | None = None,
    detail: str | None = None,
    inline: bool = False,
    downscale: bool = True,
    max_cost: float | None = None,
    cancel: threading.Event | None = None,
    source: Sequence[Any] | None = None,
    on_note: Callable[[str], None] | None = None,
    **options: Any,
) -> list[Result]:
    """Run :func:`structured` over ``prompts``; results in input order, failures kept.

    ``options`` are those of :func:`structured` (``model``, ``system``, ``retries``,
    ``cache``, ``http_client`` ...). ``images`` and ``files`` are per item: one entry per
    prompt, each an image (or file), a list of them, or None; ``detail``, ``inline`` and
    ``downscale`` apply to all (see :func:`structured`). Each item's images are prepared in
    its worker; one that cannot be sent fails that item alone. ``on_progress(progress)`` is
    called from the calling thread after each item finishes. ``gate`` shares one
    :class:`RateGate` (its per-minute budgets and 429 pauses) among several batches, e.g. the
    partitions one worker runs; otherwise each batch has its own, from
    ``max_requests_per_minute`` / ``max_tokens_per_minute``. An interrupted batch closes its
    gate. ``max_cost`` (USD) stops the batch before it would pass that cap (see the module
    docstring); it needs a known price. ``cancel``, set from another thread (a cancelled
    task of :func:`~structmagic.abatch`), stops the batch as an interrupt does, but at once:
    the requests in flight are cut without a grace. ``source`` (with ``ground=True``): one
    text per prompt to ground its values in (None in the list: that row's default).
    The rows' shared leading text is offered to the provider's prompt cache
    (:mod:`structmagic.call.caching`); ``on_note(text)`` hears, once, when it is too short
    to be cached (default: a warning).

    Raises :class:`BatchInterrupted` (a KeyboardInterrupt carrying the results) on
    interrupt; bad input (schema, options, a cap without a price) raises before any request;
    a bad item (a prompt that cannot be sent) fails alone.
    """

    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise ConfigError(f"concurrency must be a whole number of at least 1, not "
                          f"{concurrency!r}.")
    items: Sequence[Any] = prompts if isinstance(prompts, Sequence) else list(prompts)
    each_row = {name: per_item(name, value, len(items))
                for name, value in (("images", images), ("files", files))}
    each_row["source"] = per_item("source", source, len(items), entry="a text, or None")
    media = Media(detail=detail, inline=inline, downscale=downscale)
    spec = load_schema(schema)
    stream = bool(options.pop("stream", False))
    steps_field = options.pop("steps_field", None)
    options.pop("on_partial", None)
    settings = resolve(options)
    if gate is None:
        gate = RateGate(clock=settings.clock, max_requests_per_minute=max_requests_per_minute,
                        max_tokens_per_minute=max_tokens_per_minute)
    elif max_requests_per_minute is not None or max_tokens_per_minute is not None:
        raise ConfigError("Give either a gate or per-minute limits, not both: the gate "
                          "carries its own limits.")
    elif gate.stopped:
        raise ConfigError("This gate was closed by an interrupted batch and lets nothing "
                          "through: give a new RateGate.")
    shared = shared_prefix(items)
    if items:
        try:
            note = Asking(spec, settings).cache_note(items[0], shared)
        except StructuredError:  # the first row cannot be sent: it fails alone, below
            note = None
        if note is not None:
            (on_note or _warn)(note)
    budget = None
    if max_cost is not None:

        budget = Budget(max_cost)  # the cap checked before the price is looked up
        budget.estimator = ItemEstimator(items, spec, settings, images=each_row["images"],
                                         files=each_row["files"], detail=detail)
    progress = BatchProgress(total=len(items), max_cost=max_cost)
    results: list[Result | None] = [None] * len(items)
    work = Work("the batch")  # its requests: counted in flight, cut together on an interrupt

    def call(index: int) -> Result:
        parts = media.parts(settings, images=each_row["images"][index],
                            files=each_row["files"][index])
        return run(items[index], spec, settings, stream=stream, steps_field=steps_field,
                   gate=gate, parts=parts, source=each_row["source"][index], shared=shared)

    def run_one(index: int) -> tuple[int, Result]:
        if budget is not None and not budget.start(index):  # the cap, checked again now
            return index, budget.not_run(spec.name)
        try:
            res = guarded(call, index)
        except StructuredError as exc:
            res = Result(error=exc, schema_name=spec.name, attempts=exc.attempts,
                         usage=dict(exc.usage or {}), cost=exc.cost if exc.usage else 0.0)
        gate.spent(res.usage.get("total_tokens", 0))
        if budget is not None:  # here, so the next item this worker starts sees the cost
            budget.settle(index, res)
        return index, res

    def take(finished: set[Future[tuple[int, Result]]]) -> None:
        for fut in finished:
            index, res = fut.result()
            results[index] = res
            progress.add(res)

    pending: set[Future[tuple[int, Result]]] = set()
    next_index = 0
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="structmagic")
    try:
        while next_index < len(items) or pending:
            # One item queued behind each worker, so no worker waits for this thread to hand
            # it the next; memory stays bounded by 2 x concurrency items.
            while next_index < len(items) and len(pending) < 2 * concurrency:
                if budget is not None and not budget.admit(next_index):
                    if not pending:  # nothing in flight will free any of the budget
                        budget.stop(next_index)
                        for i in range(next_index, len(items)):
                            results[i] = budget.not_run(spec.name)
                            progress.add(results[i])  # type: ignore[arg-type]
                        next_index = len(items)
                        if on_progress is not None:
                            on_progress(progress)
                    break  # wait for items in flight: their real cost may leave room
                pending.add(pool.submit(work.bind(run_one), next_index))
                next_index += 1
            progress.in_flight = min(len(pending), concurrency)
            # Short waits so a KeyboardInterrupt lands in this (main) thread at once.
            finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            take(finished)
            if cancel is not None and cancel.is_set():
                raise _Cancelled
            if finished:
                progress.in_flight = min(len(pending), concurrency)
                if on_progress is not None:
                    on_progress(progress)
    except (KeyboardInterrupt, _Cancelled) as stopped:
        stop_rows(pending, take, gate=gate, work=work, clock=settings.clock,
                  on_finishing=lambda count: _say_finishing(progress, count, on_progress),
                  grace=0.0 if isinstance(stopped, _Cancelled) else None)
        pool.shutdown(wait=False, cancel_futures=True)
        marked = [r if r is not None else _interrupted(spec.name) for r in results]
        raise BatchInterrupted(marked) from None
    pool.shutdown(wait=True)
    return [r for r in results if r is not None]


def _warn(text: str) -> None:
    warnings.warn(text, stacklevel=4)


class _Cancelled(Exception):
    """The batch was cancelled from another thread."""


def _say_finishing(progress: BatchProgress, count: int,
                   on_progress: Callable[[BatchProgress], None] | None) -> None:
    """The grace of an interrupt begins: the progress bar says so (else standard error)."""
    progress.finishing = count
    if on_progress is not None:
        on_progress(progress)
    else:
        say_finishing(count)


def _interrupted(name: str) -> Result:
    return Result(error=Interrupted("not finished: the batch was interrupted"), schema_name=name)
