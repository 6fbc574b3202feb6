"""How rows running in threads stop on an interrupt: :func:`stop_rows`.

A request in flight is paid for whether or not its answer is read (a non-streamed answer is
generated in full), so the first interrupt stops all new work at once — the gate closes: no
new row, retry, re-ask or step down — and gives the requests in flight up to
:data:`GRACE_SECONDS` to finish, their answers kept (and recorded in a cassette). A second
interrupt, or the end of the grace, cuts them: their connections are shut down, and only
theirs (another batch on the same shared client is not touched). Time is the settings'
clock's.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from ..config import Clock
from ..transport.work import Work
from .gate import RateGate

__all__ = ["DRAIN_SECONDS", "GRACE_SECONDS", "finishing_text", "say_finishing", "stop_rows"]

#: how long the requests in flight of an interrupted batch may take to finish
GRACE_SECONDS = 10.0
#: how long an interrupted batch waits for its workers to notice the cut (they are woken at
#: once; this bounds a worker stuck elsewhere, or a request through the user's own client)
DRAIN_SECONDS = 5.0


def finishing_text(count: int) -> str:
    """What the user is told as the grace begins for ``count`` requests in flight."""
    one = count == 1
    return (f"interrupted: finishing {count} {'request' if one else 'requests'} already paid "
            f"for (up to {GRACE_SECONDS:g} s) — interrupt again to abandon "
            f"{'it' if one else 'them'}")


def say_finishing(count: int) -> None:
    """:func:`finishing_text`, on standard error (where no progress bar says it)."""
    print(f"structmagic: {finishing_text(count)}", file=sys.stderr, flush=True)


def stop_rows(pending: set[Future[Any]], take: Callable[[set[Future[Any]]], None], *,
              gate: RateGate, work: Work, clock: Clock,
              on_finishing: Callable[[int], None] | None = None,
              grace: float | None = None, drain: float | None = None) -> set[Future[Any]]:
    """After the first interrupt: close ``gate``, let ``work``'s requests in flight finish
    (``on_finishing(count)`` says how many, if any) for up to ``grace`` seconds or until a
    second interrupt, then stop ``work`` and wait up to ``drain`` seconds for the workers.
    ``take(finished)`` keeps each finished row. ``pending`` is left holding the futures
    still unfinished, and returned."""
    grace = GRACE_SECONDS if grace is None else grace
    drain = DRAIN_SECONDS if drain is None else drain
    gate.stop()
    try:
        count = work.in_flight
        if count and grace > 0:
            deadline = clock.monotonic() + grace
            if on_finishing is not None:
                on_finishing(count)
            while pending and work.in_flight and clock.monotonic() < deadline:
                finished, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                _keep(finished, pending, take)
    except KeyboardInterrupt:
        pass  # the second interrupt: abandon them now
    work.stop()
    with contextlib.suppress(KeyboardInterrupt):
        finished, _ = wait(pending, timeout=drain)
        _keep(finished, pending, take)
    return pending


def _keep(finished: set[Future[Any]], pending: set[Future[Any]],
          take: Callable[[set[Future[Any]]], None]) -> None:
    """Each finished row taken, then no longer pending (an interrupt between the two loses
    nothing)."""
    for fut in finished:
        take({fut})
        pending.discard(fut)
