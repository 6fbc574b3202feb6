"""Shared pacing for the requests of a batch: :class:`RateGate`.

Every HTTP attempt of every worker passes the gate (:meth:`RateGate.before_request`): a 429
on one item pauses all of them (:meth:`RateGate.pause`), ``max_requests_per_minute`` and
``max_tokens_per_minute`` pace the whole batch, and an interrupted batch closes the gate, so
nothing more is sent (no new item, retry, re-ask or step down). It waits on the clock it is
given (a batch's: its settings' clock).
"""

from __future__ import annotations

import threading

from ..config import SYSTEM_CLOCK, Clock
from ..errors import Interrupted

__all__ = ["RateGate"]


class RateGate:
    """Shared pacing for every worker: a pause after a 429, and per-minute budgets."""

    def __init__(
        self,
        *,
        max_requests_per_minute: float | None = None,
        max_tokens_per_minute: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock.monotonic
        self._sleep = clock.sleep
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
