"""``batch()``: one schema over many prompts, concurrently, in input order.

Worker threads run the same call as a single cell (so retries, re-asks, the cassette and
every error are the same); at most ``concurrency`` items are in flight and as many again are
queued, so memory stays flat in the number of items. Threads, not
asyncio: a Jupyter kernel already runs an event loop, and the main thread stays free to
take a KeyboardInterrupt at once.

A failed item is a :class:`Result` with ``.error`` set and ``.data`` None; it never stops
the others. An interrupt sends nothing more (no new item, retry, re-ask or step down: every
request passes the shared gate, which is closed), cuts the requests in flight (the batch's
own connections are shut down; an answer that had fully arrived is kept, and recorded in a
cassette), and raises :class:`BatchInterrupted`, which carries every result at its input
position, unfinished items marked. With your own ``http_client`` the requests in flight are
left to finish on their own, but nothing new is sent.

Rate limits are shared: a 429 on one item pauses every worker (the shared backoff), and
``max_requests_per_minute`` / ``max_tokens_per_minute`` pace the whole batch.

``max_cost`` caps the spending (:mod:`structmagic.cost.budget`): an item starts only if the
cost so far, plus what the items in flight are expected to cost, plus its own estimate stays
within the cap; otherwise the batch stops cleanly there, the finished items kept and the
rest marked "not run: budget". Answers from the recording cost nothing, so a re-run in
``cache`` mode with a higher cap resumes without paying twice.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from .call.result import Result
from .errors import StructuredError

__all__ = ["BatchInterrupted", "BatchProgress", "RateGate", "batch"]


class BatchInterrupted(KeyboardInterrupt):
    """The batch was interrupted. ``results`` holds every item, unfinished ones marked."""

    def __init__(self, results: list[Result]) -> None:
        self.results = results
        done = sum(1 for r in results if r.error is None or not _unfinished(r))
        super().__init__(f"batch interrupted: {done} of {len(results)} items finished")

    def __reduce__(self) -> Any:
        return type(self), (self.results,)


class Interrupted(StructuredError):
    """Marks an item that had not finished when the batch was interrupted."""


def _unfinished(result: Result) -> bool:
    return isinstance(result.error, Interrupted)


@dataclass
class BatchProgress:
    """Counts shown by the progress bar; updated in place. ``cost`` sums the known costs
    (``unpriced`` counts items whose cost is unknown), ``saved`` what the recording saved,
    ``not_run`` the items a budget (``max_cost``) stopped."""

    total: int
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    cost: float = 0.0
    saved: float = 0.0
    priced: int = 0
    unpriced: int = 0
    not_run: int = 0
    max_cost: float | None = None

    @classmethod
    def of(cls, results: Sequence[Result], *, max_cost: float | None = None
           ) -> BatchProgress:
        """The final counts of a batch's results."""
        progress = cls(total=len(results), max_cost=max_cost)
        for res in results:
            progress.add(res)
        return progress

    def add(self, res: Result) -> None:
        """Count one finished item."""
        from .cost import NotRun

        if isinstance(res.error, NotRun):
            self.not_run += 1
            return
        if res.error is None:
            self.done += 1
        else:
            self.failed += 1
        self.tokens += res.usage.get("total_tokens", 0)
        if res.cost is None:
            self.unpriced += 1
        else:
            self.priced += 1
            self.cost += res.cost
        self.saved += res.saved or 0.0

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.finished / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        text = (
            f"{self.finished}/{self.total} · {self.done} ok · {self.failed} failed · "
            f"{self.in_flight} in flight · {self.rate:.1f}/s · {self.tokens} tokens"
        )
        return text + self.cost_text()

    def cost_text(self) -> str:
        """`` · $0.0123 (+2 unknown) of $1.00 · $0.004 saved · 3 not run: budget``."""
        from .cost import NOT_RUN, money

        text = ""
        if self.priced:
            text += f" · {money(self.cost)}"
            if self.unpriced:
                text += f" (+{self.unpriced} unknown)"
            if self.max_cost is not None:
                text += f" of {money(self.max_cost)}"
        elif self.unpriced:
            text += " · price unknown"
        if self.saved:
            text += f" · {money(self.saved)} saved"
        if self.not_run:
            text += f" · {self.not_run} {NOT_RUN}"
        return text


class RateGate:
    """Shared pacing for every worker: a pause after a 429, and per-minute budgets."""

    def __init__(
        self,
        *,
        max_requests_per_minute: float | None = None,
        max_tokens_per_minute: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self._paused_until = 0.0
        self._rpm = max_requests_per_minute
        self._tpm = max_tokens_per_minute
        self._next_request = 0.0
        self._tokens_free_at = 0.0
        self._stopped = False

    def stop(self) -> None:
        """Close the gate: every later :meth:`before_request` raises :class:`Interrupted`."""
        self._stopped = True

    @property
    def stopped(self) -> bool:
        """Whether an interrupted batch has closed this gate (it stays closed)."""
        return self._stopped

    def before_request(self) -> None:
        """Block until this worker may send (called before every HTTP attempt).

        Raises :class:`Interrupted` once the batch has been stopped.
        """
        while True:
            if self._stopped:
                raise Interrupted("not finished: the batch was interrupted")
            with self._lock:
                now = self._clock()
                ready = max(self._paused_until, self._next_request, self._tokens_free_at)
                if ready <= now:
                    if self._rpm:
                        self._next_request = max(now, self._next_request) + 60.0 / self._rpm
                    return
                delay = ready - now
            self._sleep(min(delay, 0.25))

    def pause(self, seconds: float) -> None:
        """A 429 came back: every worker waits ``seconds`` before its next request."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def spent(self, tokens: int) -> None:
        """Tokens used by a finished request (paces against ``max_tokens_per_minute``)."""
        if not self._tpm or tokens <= 0:
            return
        with self._lock:
            start = max(self._tokens_free_at, self._clock())
            self._tokens_free_at = start + 60.0 * tokens / self._tpm


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
    images: Sequence[Any] | None = None,
    files: Sequence[Any] | None = None,
    detail: str | None = None,
    inline: bool = False,
    downscale: bool = True,
    max_cost: float | None = None,
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
    docstring); it needs a known price.

    Raises :class:`BatchInterrupted` (a KeyboardInterrupt carrying the results) on
    interrupt; bad input (schema, options, a cap without a price) raises before any request;
    a bad item (a prompt that cannot be sent) fails alone.

    ``via="batch-api"`` sends the rows through the provider's asynchronous batch API
    instead (half the price, no rate limits, resumable: see
    :func:`structmagic.submit_batch`), waits, and re-runs the rows that failed there
    synchronously (``batch_retry="sync"``, or ``"none"`` to leave them failed);
    ``via="auto"`` does the same, or uses threads on a server without batch routes. A batch
    job cannot stop part way, so there ``max_cost`` is checked once, before the job is
    created: the job is submitted only if the high end of its batch-price estimate fits.
    """
    if via != "threads":
        from .batchapi import VIAS, run_batch

        if via not in VIAS:
            from .errors import ConfigError

            raise ConfigError(f"via must be one of {', '.join(VIAS)}, not {via!r}.")
        return run_batch(prompts, schema, via=via, batch_retry=batch_retry,
                         concurrency=concurrency, threads={
                             "on_progress": on_progress, "gate": gate,
                             "max_requests_per_minute": max_requests_per_minute,
                             "max_tokens_per_minute": max_tokens_per_minute},
                         images=images, files=files, detail=detail, inline=inline,
                         downscale=downscale, max_cost=max_cost, **options)
    from .api import Media, guarded, run
    from .config import resolve
    from .errors import ConfigError
    from .schema import load_schema

    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise ConfigError(f"concurrency must be a whole number of at least 1, not "
                          f"{concurrency!r}.")
    items: Sequence[Any] = prompts if isinstance(prompts, Sequence) else list(prompts)
    per_item = {name: _per_item(name, value, len(items))
                for name, value in (("images", images), ("files", files))}
    media = Media(detail=detail, inline=inline, downscale=downscale)
    spec = load_schema(schema)
    stream = bool(options.pop("stream", False))
    steps_field = options.pop("steps_field", None)
    options.pop("on_partial", None)
    settings = resolve(options)
    if gate is None:
        gate = RateGate(max_requests_per_minute=max_requests_per_minute,
                        max_tokens_per_minute=max_tokens_per_minute)
    elif max_requests_per_minute is not None or max_tokens_per_minute is not None:
        raise ConfigError("Give either a gate or per-minute limits, not both: the gate "
                          "carries its own limits.")
    elif gate.stopped:
        raise ConfigError("This gate was closed by an interrupted batch and lets nothing "
                          "through: give a new RateGate.")
    budget = None
    if max_cost is not None:
        from .cost.budget import Budget, ItemEstimator

        budget = Budget(max_cost)  # the cap checked before the price is looked up
        budget.estimator = ItemEstimator(items, spec, settings, images=per_item["images"],
                                         files=per_item["files"], detail=detail)
    progress = BatchProgress(total=len(items), max_cost=max_cost)
    results: list[Result | None] = [None] * len(items)
    owns_connections = settings.http_client is None  # structmagic's own client: cut on
    #                                                    an interrupt

    def call(index: int) -> Result:
        parts = media.parts(settings, images=per_item["images"][index],
                            files=per_item["files"][index])
        return run(items[index], spec, settings, stream=stream, steps_field=steps_field,
                   gate=gate, parts=parts)

    def run_one(index: int) -> tuple[int, Result]:
        try:
            res = guarded(call, index)
        except StructuredError as exc:
            res = Result(error=exc, schema_name=spec.name, attempts=exc.attempts,
                         usage=dict(exc.usage or {}), cost=exc.cost if exc.usage else 0.0)
        gate.spent(res.usage.get("total_tokens", 0))
        return index, res

    def take(finished: set[Future[tuple[int, Result]]]) -> None:
        for fut in finished:
            index, res = fut.result()
            results[index] = res
            if budget is not None:
                budget.settle(index, res)
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
                pending.add(pool.submit(run_one, next_index))
                next_index += 1
            progress.in_flight = min(len(pending), concurrency)
            # Short waits so a KeyboardInterrupt lands in this (main) thread at once.
            finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            take(finished)
            if finished:
                progress.in_flight = min(len(pending), concurrency)
                if on_progress is not None:
                    on_progress(progress)
    except KeyboardInterrupt:
        gate.stop()  # nothing new is sent: no item, retry, re-ask or step down
        if owns_connections:
            from .transport.http import cut_connections

            cut_connections()  # the requests in flight fail at once
        with contextlib.suppress(KeyboardInterrupt):
            finished, pending = wait(pending, timeout=_DRAIN_SECONDS)
            take(finished)  # answers that had arrived are kept (and recorded)
        pool.shutdown(wait=False, cancel_futures=True)
        marked = [r if r is not None else _interrupted(spec.name) for r in results]
        raise BatchInterrupted(marked) from None
    pool.shutdown(wait=True)
    return [r for r in results if r is not None]


def _per_item(name: str, value: Sequence[Any] | None, n: int) -> Sequence[Any]:
    """``images`` / ``files`` of a batch: one entry per prompt (None: none for any)."""
    if value is None:
        return [None] * n
    from .errors import InputError

    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise InputError(f"{name} of a batch needs one entry per prompt (a list), not a "
                         f"{type(value).__name__}.")
    value = list(value)
    if len(value) != n:
        raise InputError(f"{name} has {len(value)} entries for {n} prompts; give one entry "
                         "(an image, a list of them, or None) per prompt.")
    return value


#: how long an interrupted batch waits for its workers to notice (they are woken at once;
#: this bounds a worker stuck elsewhere)
_DRAIN_SECONDS = 5.0


def _interrupted(name: str) -> Result:
    return Result(error=Interrupted("not finished: the batch was interrupted"), schema_name=name)
