"""A spending cap for a batch (``--max-cost USD``, ``batch(..., max_cost=USD)``).

Before an item is handed to a worker, its cost is estimated and reserved; it is queued only
if what was spent, plus what the items in flight are expected to cost, plus its own estimate
stays within the cap. When an item does not fit, no new item is queued until those in flight
have finished (their real cost replaces their estimate); if it still does not fit, the batch
stops there: the finished items are kept, and every item from that one on is a
:class:`NotRun` ("not run: budget"). A queued item checks again in its worker, just before
its first request: what was spent while it waited (each item's cost counts as soon as its
worker has it), plus what the items running are expected to cost, plus its own estimate.
Items start in order, so once one is refused there, none after it starts. So the total can
pass the cap only by what the items running when it was passed cost beyond their estimates:
at most one in-flight window (``concurrency`` items).

An item's estimate (:class:`ItemEstimator`): its input tokens counted locally (as the
estimator counts them: :func:`structmagic.cost.media.request_tokens`), times the ratio of
real to counted input tokens of the items finished so far (1.25 before any has); its output
tokens: the mean plus two standard errors of the finished items' real output (re-asks
included), capped by ``max_tokens`` -- before any item has finished, ``max_tokens``, or
else twice the schema's typical answer. With ``samples=K`` the first guesses count K
answers (and K requests where the format asks for one answer at a time); the finished
items' real usage holds them already. The items in flight
are re-estimated as the finished ones teach (as that many items of their mean size). An
item the recording already holds (``cache`` / ``replay`` mode) is estimated at 0: it costs
nothing, which is how a re-run with a higher cap resumes without paying twice for the
finished rows.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..call.plan import Asking
from ..call.result import Result
from ..cost.calc import cost_of, money
from ..cost.media import request_tokens
from ..cost.price import rate
from ..cost.prices import price_for, unknown_price_hint
from ..cost.tokens import answer_tokens
from ..errors import NOT_RUN, ConfigError, NotRun, StructuredError
from ..inputs.measure import measure_inputs
from ..providers import get_provider
from ..transport.request import build
from ..transport.send import is_recorded

if TYPE_CHECKING:
    from ..call.result import Result
    from ..config import Settings
    from ..inputs.measure import Measured
    from ..schema import SchemaSpec

__all__ = ["Budget", "ItemEstimator", "check_cap"]

def check_cap(max_cost: Any) -> float:
    """``max_cost`` as a float of USD; :class:`~structmagic.ConfigError` for anything but a
    finite number >= 0."""
    cap = rate(max_cost) if isinstance(max_cost, (int, float)) else None
    if cap is None:  # a bool, NaN, an infinity, a negative number, an int past a float
        raise ConfigError(f"max_cost must be a number of USD >= 0, not {max_cost!r}.")
    return cap


class ItemEstimator:
    """The expected cost of one more item of a batch, learning from the finished ones."""

    def __init__(self, items: Sequence[Any], spec: SchemaSpec, settings: Settings, *,
                 images: Sequence[Any] | None = None, files: Sequence[Any] | None = None,
                 detail: str | None = None) -> None:
        self.items = items
        #: each item's images and files (one entry per item), counted by the provider's rule
        self.images, self.files, self.detail = images, files, detail
        self.spec = spec
        self.settings = settings
        self.provider = get_provider(settings.provider)
        self.price = price_for(self.provider, settings.model, base_url=settings.base_url,
                               overrides=settings.prices)
        if self.price is None:
            raise ConfigError(
                f"--max-cost needs a price, and the {unknown_price_hint(settings.model)}.")
        _, typical = answer_tokens(spec.original)
        # before any item has finished: the most an answer may take, else a generous guess;
        # with samples=K, K answers a row, and K requests where the format asks one at once
        self._first_output = float(settings.max_tokens or 2 * typical) * settings.samples
        self._first_ratio = 1.25 * (1 if self.provider.samples_in_one else settings.samples)
        self._asking: Asking | None = None  # how the items are asked, worked out once
        self._lock = threading.Lock()
        self._real_in = 0
        self._counted_in = 0
        self._n_out, self._sum_out, self._sq_out = 0, 0.0, 0.0

    def counted(self, index: int) -> int:
        """The local input-token count of item ``index``'s first request (-1 when the
        recording holds it, 0 when it cannot be sent: the item then fails alone, before any
        request, as it does without a cap)."""
        if self._asking is None:
            self._asking = Asking(self.spec, self.settings, self.provider)
        try:
            call = self._asking.first(self.items[index])
            if self.settings.cache in ("cache", "replay") and is_recorded(
                    call, self.settings, self.provider):
                return -1
            _, body = build(call, self.settings, self.provider)
            return request_tokens(body, self._media(index), self.provider.inputs)
        except (StructuredError, ValueError, TypeError, AttributeError, RecursionError):
            return 0  # ValueError: a value JSON cannot carry; RecursionError: nested too deep

    def _media(self, index: int) -> tuple[Measured, ...]:
        """Item ``index``'s images and documents, measured."""
        images = self.images[index] if self.images is not None else None
        files = self.files[index] if self.files is not None else None
        if images is None and files is None:
            return ()
        return measure_inputs(images, files, detail=self.detail)

    def learned(self) -> tuple[float, float]:
        """``(input ratio, output tokens)`` for the next estimates: the ratio of real to
        counted input tokens so far (1.25 before any item has finished), and the mean plus
        two standard errors of the real output tokens (before any: the first guess)."""
        with self._lock:
            ratio = self._real_in / self._counted_in if self._counted_in else self._first_ratio
            n, total, squares = self._n_out, self._sum_out, self._sq_out
        if not n:
            return ratio, self._first_output
        mean = total / n
        # one answer says little about the spread: assume half its size
        spread = (squares - n * mean * mean) / (n - 1) if n > 1 else (0.5 * mean) ** 2
        sd = math.sqrt(max(0.0, spread))
        guess = mean + 2 * sd / math.sqrt(n)
        cap = (self.settings.max_tokens or 0) * self.settings.samples  # K answers a row
        return ratio, (min(guess, cap) if cap else guess)

    def cost(self, tokens: int, learned: tuple[float, float] | None = None) -> float:
        """USD an item of ``tokens`` counted input tokens is expected to cost (0 for one the
        recording holds: ``tokens < 0``); ``learned`` as :meth:`learned` gives it."""
        if tokens < 0:
            return 0.0
        ratio, out = learned or self.learned()
        usage = {"prompt_tokens": math.ceil(tokens * ratio), "completion_tokens": math.ceil(out)}
        return cost_of(usage, self.price) or 0.0

    def learn(self, counted: int, result: Result) -> None:
        """Take a finished item's real usage (and its local count) into the estimates."""
        usage = result.usage or {}
        real_in, real_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
        with self._lock:
            if counted > 0 and isinstance(real_in, int):
                self._real_in += real_in
                self._counted_in += counted
            if isinstance(real_out, int):
                self._n_out += 1
                self._sum_out += real_out
                self._sq_out += real_out * real_out


class Budget:
    """A cap, what was spent, and the items in flight (estimated anew as the finished ones
    teach the estimator).

    The batch's submitting thread asks :meth:`admit` before it hands an item to a worker
    (only admitted items can start); each worker asks :meth:`start` just before an item's
    first request, and :meth:`settle` when it has finished (so the next item it
    starts sees that cost). Safe to use from all of them at once.
    """

    def __init__(self, max_cost: float, estimator: ItemEstimator | None = None) -> None:
        self.max_cost = check_cap(max_cost)
        self.estimator = estimator
        self.spent = 0.0
        self.saved = 0.0
        #: admitted items not yet finished -> their counted input tokens (-1: recorded)
        self._in_flight: dict[int, int] = {}
        self._started: set[int] = set()  # those of them that were let start
        self._n_flying = self._tokens_flying = 0  # the admitted ones (not recorded)
        self._n_started = self._tokens_started = 0  # the started ones (not recorded)
        self._lock = threading.RLock()
        self.stopped_at: int | None = None

    def _expected(self, tokens: int, learned: tuple[float, float] | None = None) -> float:
        if self.estimator is None:
            return 0.0
        return self.estimator.cost(tokens, learned)

    def _flying(self, n: int, tokens: int) -> float:
        """What ``n`` items of ``tokens`` counted input tokens in all are expected to cost
        (as that many items of their mean size: one sum, not one price per item)."""
        if self.estimator is None or not n:
            return 0.0
        return n * self.estimator.cost(round(tokens / n))

    @property
    def in_flight(self) -> float:
        """What the admitted items that have not finished (running or queued) are expected
        to cost now."""
        with self._lock:
            n, tokens = self._n_flying, self._tokens_flying
        return self._flying(n, tokens)

    def _stopped(self, index: int) -> bool:
        return self.stopped_at is not None and index >= self.stopped_at

    def admit(self, index: int) -> bool:
        """Whether item ``index`` may be handed to a worker: the cost so far, plus the items
        in flight, plus its own estimate stay within the cap (and no earlier item was
        refused). If so it counts as in flight."""
        if self._stopped(index):
            return False
        tokens = self.estimator.counted(index) if self.estimator is not None else -1
        with self._lock:
            ahead = self.spent + self.in_flight + self._expected(tokens)
            if self._stopped(index) or ahead > self.max_cost + 1e-12:
                return False
            self._in_flight[index] = tokens
            if tokens >= 0:  # a recorded item costs nothing: not counted as flying
                self._n_flying += 1
                self._tokens_flying += tokens
        return True

    def start(self, index: int) -> bool:
        """Whether the admitted item ``index`` may send its first request now (called by its
        worker): checked again against what has been spent since it was admitted, what the
        items already running are expected to cost, and its own estimate. Items start in
        the order they were admitted: those admitted before it that have not asked yet are
        decided first, so once one is refused, none after it starts. A refused item is out
        of the batch ("not run: budget", :meth:`not_run`)."""
        with self._lock:
            for i in sorted(i for i in self._in_flight
                            if i <= index and i not in self._started):
                self._decide(i)
            return index in self._started

    def _decide(self, index: int) -> None:
        tokens = self._in_flight[index]
        ahead = (self.spent + self._flying(self._n_started, self._tokens_started)
                 + self._expected(tokens))
        if not self._stopped(index) and ahead <= self.max_cost + 1e-12:
            self._started.add(index)
            if tokens >= 0:
                self._n_started += 1
                self._tokens_started += tokens
            return
        self.stop(index)
        del self._in_flight[index]
        if tokens >= 0:
            self._n_flying -= 1
            self._tokens_flying -= tokens

    def settle(self, index: int, result: Result) -> None:
        """Item ``index`` finished: its real cost (else its estimate) counts as spent. An
        item that is not in flight (refused, or settled already) changes nothing."""
        cost = result.cost  # read before the lock: the first read may price the answers
        with self._lock:
            if index not in self._in_flight:
                return
            tokens = self._in_flight.pop(index)
            started = index in self._started
            self._started.discard(index)
            if tokens >= 0:
                self._n_flying -= 1
                self._tokens_flying -= tokens
                if started:
                    self._n_started -= 1
                    self._tokens_started -= tokens
            self.spent += cost if cost is not None else self._expected(tokens)
            self.saved += result.saved or 0.0
        if self.estimator is not None:
            self.estimator.learn(tokens, result)

    def stop(self, index: int) -> None:
        """The batch stops before item ``index`` (or before an earlier item already)."""
        with self._lock:
            if self.stopped_at is None or index < self.stopped_at:
                self.stopped_at = index

    def not_run(self, schema_name: str) -> Result:
        """The result of an item the budget stopped."""

        return Result(error=NotRun(f"{NOT_RUN} (the cap {money(self.max_cost)} was reached)",
                                   hint="Run again with a higher --max-cost; with --cache "
                                        "cache the finished rows cost nothing again."),
                      schema_name=schema_name, cost=0.0)

    def __repr__(self) -> str:
        return (f"<Budget {money(self.spent)} spent of {money(self.max_cost)}, "
                f"{money(self.in_flight)} in flight>")
