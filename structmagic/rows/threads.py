"""Rows as parallel requests: one schema over many prompts, concurrently, in input order.

:func:`run_threads` is what :func:`structmagic.batch` runs with ``via="threads"`` (and what a
batch job's failed rows, an estimate's sample and a comparison run).

Worker threads run the same call as a single cell (so retries, re-asks, the cassette and
every error are the same); at most ``concurrency`` items are in flight and as many again are
queued, so memory stays flat in the number of items. Threads, not
asyncio: a Jupyter kernel already runs an event loop, and the main thread stays free to
take a KeyboardInterrupt at once.

Rows that would send the same request are sent once (``dedup``, :mod:`.unique`): the others
are never queued, and each gets a copy of its original's result when its turn comes. Results
are handed over in input order (:meth:`Rows.stream`): :func:`run_threads` collects them (or
hands each to ``on_result``), :func:`iter_rows` yields them, with at most a window of rows
sent ahead of the last one handed over.

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
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
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
from .unique import Repeats, copy_of

__all__ = ["ROW_OPTIONS", "Rows", "iter_rows", "run_threads", "window_for"]


def run_threads(
    prompts: Iterable[Any],
    schema: Any,
    *,
    concurrency: int = 16,
    on_progress: Callable[[BatchProgress], None] | None = None,
    on_result: Callable[[int, Result], None] | None = None,
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

    Rows that would send the same request are sent once (``dedup``, on by default: see
    :mod:`structmagic.rows.unique`). ``on_result(index, result)`` is called from the calling
    thread with each row's result, in input order, as soon as that row and every row before
    it have finished; the results it is given are not kept (an empty list is returned), so a
    column of any length runs in the memory of a bounded window of rows (see
    :func:`iter_rows`).

    Raises :class:`BatchInterrupted` (a KeyboardInterrupt carrying the results) on
    interrupt; bad input (schema, options, a cap without a price) raises before any request;
    a bad item (a prompt that cannot be sent) fails alone. An interrupt in ``on_result``
    stops the rows as any other does; the :class:`BatchInterrupted` then carries the rows
    from the first one not handed over (its ``start``).
    """
    rows = Rows(prompts, schema, concurrency=concurrency, on_progress=on_progress,
                max_requests_per_minute=max_requests_per_minute,
                max_tokens_per_minute=max_tokens_per_minute, gate=gate, images=images,
                files=files, detail=detail, inline=inline, downscale=downscale,
                max_cost=max_cost, cancel=cancel, source=source, on_note=on_note,
                options=options)
    results: list[Result] = []
    stream = rows.stream(None if on_result is None else window_for(concurrency))
    try:
        try:
            for index, res in stream:
                if on_result is None:
                    results.append(res)
                else:
                    on_result(index, res)
        except BatchInterrupted:
            raise
        except KeyboardInterrupt:  # in on_result: the rows stop as on any interrupt
            stream.throw(KeyboardInterrupt())
    except BatchInterrupted as stopped:
        if on_result is None:
            raise BatchInterrupted(results[:stopped.start] + stopped.results) from None
        raise
    return results


def iter_rows(prompts: Iterable[Any], schema: Any, *, concurrency: int = 16,
              window: int | None = None, **options: Any) -> Iterator[Result]:
    """The rows' results, each yielded as soon as it and every row before it have finished:
    :func:`run_threads` (its options) with a bounded reorder buffer. At most ``window`` rows
    (default :func:`window_for` ``concurrency``) past the last one yielded are sent ahead,
    and a result is held only until it is yielded (an original with repeats still to come,
    until its last copy), so memory does not grow with the column.

    Everything is checked, and the rows' repeats found, before this returns (bad input
    raises here, before any request); nothing is sent until the first result is asked for.
    Leaving the loop early (``break``, an exception in its body, the generator closed)
    stops the rows at once: nothing more is sent and the requests in flight are cut. An
    interrupt while waiting for the next result gives the requests in flight their grace and
    raises :class:`BatchInterrupted` with the rows from the first one not yielded (its
    ``start``) to the last one sent.
    """
    if window is not None and (not isinstance(window, int) or isinstance(window, bool)
                               or window < 1):
        raise ConfigError(f"window must be a whole number of at least 1, not {window!r}.")
    given = {name: options.pop(name) for name in ROW_OPTIONS if name in options}
    rows = Rows(prompts, schema, concurrency=concurrency, options=options, **given)
    return _results(rows.stream(window or window_for(concurrency)))


def _results(stream: Generator[tuple[int, Result], None, None]) -> Iterator[Result]:
    try:
        for _, res in stream:
            yield res
    finally:  # left early: the rows stop now, not when the stream is collected
        stream.close()


def window_for(concurrency: int) -> int:
    """How many rows past the last one handed over may be sent ahead when results are
    handed over in order (:func:`iter_rows`, ``on_result``): enough that a slow row does
    not idle the workers at once."""
    return max(256, 16 * concurrency)


#: what :class:`Rows` takes besides the options of a call
ROW_OPTIONS = ("on_progress", "max_requests_per_minute", "max_tokens_per_minute", "gate",
               "images", "files", "detail", "inline", "downscale", "max_cost", "cancel",
               "source", "on_note")


class Rows:
    """The rows of one run, checked and ready (nothing sent yet): :meth:`stream` runs them."""

    def __init__(self, prompts: Iterable[Any], schema: Any, *, concurrency: int = 16,
                 on_progress: Callable[[BatchProgress], None] | None = None,
                 max_requests_per_minute: float | None = None,
                 max_tokens_per_minute: float | None = None, gate: RateGate | None = None,
                 images: Sequence[Any] | None = None, files: Sequence[Any] | None = None,
                 detail: str | None = None, inline: bool = False, downscale: bool = True,
                 max_cost: float | None = None, cancel: threading.Event | None = None,
                 source: Sequence[Any] | None = None,
                 on_note: Callable[[str], None] | None = None,
                 options: dict[str, Any] | None = None) -> None:
        if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
            raise ConfigError(f"concurrency must be a whole number of at least 1, not "
                              f"{concurrency!r}.")
        options = dict(options or {})
        items: Sequence[Any] = prompts if isinstance(prompts, Sequence) else list(prompts)
        self.items = items
        self.each_row = {name: per_item(name, value, len(items))
                         for name, value in (("images", images), ("files", files))}
        self.each_row["source"] = per_item("source", source, len(items),
                                           entry="a text, or None")
        self.media = Media(detail=detail, inline=inline, downscale=downscale)
        self.spec = load_schema(schema)
        self.stream_answers = bool(options.pop("stream", False))
        self.steps_field = options.pop("steps_field", None)
        options.pop("on_partial", None)
        self.settings = settings = resolve(options)
        if gate is None:
            gate = RateGate(clock=settings.clock, max_requests_per_minute=max_requests_per_minute,
                            max_tokens_per_minute=max_tokens_per_minute)
        elif max_requests_per_minute is not None or max_tokens_per_minute is not None:
            raise ConfigError("Give either a gate or per-minute limits, not both: the gate "
                              "carries its own limits.")
        elif gate.stopped:
            raise ConfigError("This gate was closed by an interrupted batch and lets nothing "
                              "through: give a new RateGate.")
        self.gate = gate
        self.shared = shared_prefix(items)  # the rows' shared leading text, for the cache
        if items:
            try:
                note = Asking(self.spec, settings).cache_note(items[0], self.shared)
            except StructuredError:  # the first row cannot be sent: it fails alone, later
                note = None
            if note is not None:
                (on_note or _warn)(note)
        self.budget: Budget | None = None
        if max_cost is not None:
            self.budget = Budget(max_cost)  # the cap checked before the price is looked up
            self.budget.estimator = ItemEstimator(
                items, self.spec, settings, images=self.each_row["images"],
                files=self.each_row["files"], detail=detail)
        self.concurrency = concurrency
        self.on_progress = on_progress
        self.cancel = cancel
        self.repeats = Repeats.of(len(items), settings.dedup, items, self.each_row["images"],
                                  self.each_row["files"], self.each_row["source"])
        self.progress = BatchProgress(total=len(items), max_cost=max_cost,
                                      unique=self.repeats.unique if self.repeats.any else None)
        self.work = Work("the batch")  # its requests: counted in flight, cut together
        #: finished rows not handed over yet, and rows handed over whose repeats are not
        self.done: dict[int, Result] = {}
        self.kept: dict[int, Result] = {}
        #: the budget stopped the run before this row: rows from here not sent are not run
        self.stopped_at: int | None = None

    # --- one row -----------------------------------------------------------------------

    def _call(self, index: int) -> Result:
        each_row, settings = self.each_row, self.settings
        parts = self.media.parts(settings, images=each_row["images"][index],
                                 files=each_row["files"][index])
        return run(self.items[index], self.spec, settings, stream=self.stream_answers,
                   steps_field=self.steps_field, gate=self.gate, parts=parts,
                   source=each_row["source"][index], shared=self.shared)

    def _run_one(self, index: int) -> tuple[int, Result]:
        budget = self.budget
        if budget is not None and not budget.start(index):  # the cap, checked again now
            return index, budget.not_run(self.spec.name)
        try:
            res = guarded(self._call, index)
        except StructuredError as exc:
            res = Result(error=exc, schema_name=self.spec.name, attempts=exc.attempts,
                         usage=dict(exc.usage or {}), cost=exc.cost if exc.usage else 0.0)
        self.gate.spent(res.usage.get("total_tokens", 0))
        if budget is not None:  # here, so the next item this worker starts sees the cost
            budget.settle(index, res)
        return index, res

    def _take(self, finished: set[Future[tuple[int, Result]]]) -> None:
        for fut in finished:
            index, res = fut.result()
            self.done[index] = res
            self.progress.add(res)

    # --- handing over, in input order -------------------------------------------------------

    def _ready(self, position: int) -> Result | None:
        """Row ``position``'s result, if it can be handed over now: its own (finished, or
        not run: the budget stopped before it), or a copy of its original's."""
        original = self.repeats.original(position)
        if original != position:
            base = self.kept.get(original)
            if base is None:
                base = self._ready(original)
            return None if base is None else copy_of(base, original)
        res = self.done.get(position)
        if res is None and self.stopped_at is not None and position >= self.stopped_at:
            assert self.budget is not None
            res = self.budget.not_run(self.spec.name)
        return res

    def _handed(self, position: int, res: Result) -> None:
        """Row ``position``'s result was handed over: counted (a copy, a row not run),
        dropped, or kept for the rows that repeat it."""
        original = self.repeats.original(position)
        if original != position:
            self.progress.add(res)
            if self.repeats.delivered(original):
                self.kept.pop(original, None)
            return
        if self.done.pop(position, None) is None:  # not run: the budget stopped before it
            self.progress.add(res)
        if self.repeats.copies(position):
            self.kept[position] = res

    def _rest(self, start: int, stop: int) -> list[Result]:
        """Rows ``start`` to ``stop - 1`` after an interrupt: each finished one (or a copy of
        its finished original), the others marked unfinished."""
        name = self.spec.name
        return [res if (res := self._ready(p)) is not None else _interrupted(name)
                for p in range(start, stop)]

    # --- the run -------------------------------------------------------------------------

    def stream(self, window: int | None) -> Generator[tuple[int, Result], None, None]:
        """``(index, result)`` of every row, in input order, each as soon as it and every row
        before it have finished. With a ``window``, at most that many rows past the last one
        handed over are sent ahead (without one, the rows are sent as fast as the workers
        take them). Raises :class:`BatchInterrupted` on an interrupt (or ``cancel``), carrying
        the rows not handed over: to the last row sent with a window, else to the end."""
        n, concurrency, budget = len(self.items), self.concurrency, self.budget
        progress, on_progress = self.progress, self.on_progress
        pending: set[Future[tuple[int, Result]]] = set()
        next_in = next_out = 0
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="structmagic")
        try:
            while next_out < n:
                # One item queued behind each worker, so no worker waits for this thread to
                # hand it the next; memory stays bounded by 2 x concurrency items in flight.
                while (next_in < n and len(pending) < 2 * concurrency
                       and self.stopped_at is None
                       and (window is None or next_in < next_out + window)):
                    if self.repeats.original(next_in) != next_in:
                        next_in += 1  # a repeat: its original's answer is copied
                        continue
                    if budget is not None and not budget.admit(next_in):
                        if not pending:  # nothing in flight will free any of the budget
                            budget.stop(next_in)
                            self.stopped_at = next_in
                        break  # else wait for items in flight: their cost may leave room
                    pending.add(pool.submit(self.work.bind(self._run_one), next_in))
                    next_in += 1
                counted = progress.finished + progress.not_run
                while next_out < n and (res := self._ready(next_out)) is not None:
                    yield next_out, res
                    self._handed(next_out, res)
                    next_out += 1
                if on_progress is not None and progress.finished + progress.not_run > counted:
                    on_progress(progress)
                if next_out >= n:
                    break
                progress.in_flight = min(len(pending), concurrency)
                # Short waits so a KeyboardInterrupt lands in this (main) thread at once.
                finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                self._take(finished)
                if self.cancel is not None and self.cancel.is_set():
                    raise _Cancelled
                if finished:
                    progress.in_flight = min(len(pending), concurrency)
                    if on_progress is not None:
                        on_progress(progress)
        except (KeyboardInterrupt, _Cancelled) as stopped:
            stop_rows(pending, self._take, gate=self.gate, work=self.work,
                      clock=self.settings.clock,
                      on_finishing=lambda count: _say_finishing(progress, count, on_progress),
                      grace=0.0 if isinstance(stopped, _Cancelled) else None)
            pool.shutdown(wait=False, cancel_futures=True)
            rest = self._rest(next_out, n if window is None else max(next_in, next_out))
            raise BatchInterrupted(rest, start=next_out) from None
        except GeneratorExit:  # the loop over the results was left: stop at once
            stop_rows(pending, self._take, gate=self.gate, work=self.work,
                      clock=self.settings.clock, grace=0.0)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def _warn(text: str) -> None:
    warnings.warn(text, stacklevel=5)


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
