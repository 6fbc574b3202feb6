"""Work whose requests stop together, and only they; the main thread never blocked in a read.

A :class:`Work` is one piece of work: a call, a batch, a comparison. The requests made while
it is the current work (a context variable, so it follows the work into the threads that
run it: :meth:`Work.bind`) belong to it: :meth:`Work.stop` shuts down the connections its
requests are using, at once, and nothing of it is sent after (a retry, a re-ask, a new
connection: :meth:`Work.check` raises :class:`~structmagic.Interrupted`). The connections of
other work — another batch running in another thread on the same shared client — are not
touched. :attr:`Work.in_flight` counts its requests sent and not yet answered: what an
interrupted batch gives a grace to finish (they are paid for whether or not their answers
are read).

:func:`off_main` runs a request on a worker thread when it is called on the main thread,
which meanwhile waits in short slices: an interrupt lands within a fraction of a second
even where it is delivered only between bytecodes (on Windows, ipykernel interrupts by
``_thread.interrupt_main()``; a thread blocked in a socket read would see it only when the
server answers). What the request reports as it streams (:class:`Relay`) is handed to the
main thread and handled there, as if the request had run on it.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from ..errors import Interrupted

__all__ = ["SLICE_SECONDS", "Relay", "Work", "current_work", "off_main"]

T = TypeVar("T")
D = TypeVar("D")

#: the longest the main thread waits at a time for a request running on a worker
SLICE_SECONDS = 0.2
#: how long an interrupted call waits for its worker to notice its cut connection
_JOIN_SECONDS = 2.0

_current: contextvars.ContextVar[Work | None] = contextvars.ContextVar(
    "structmagic_work", default=None)


def current_work() -> Work | None:
    """The work the requests made here belong to (None: no work of structmagic's)."""
    return _current.get()


class Work:
    """One piece of work's requests: counted, and stopped together (see the module doc)."""

    def __init__(self, what: str = "the work") -> None:
        self.what = what
        self._lock = threading.Lock()
        self._sockets: dict[int, socket.socket] = {}  # by the id of the stream using it
        self._stopped = False
        self._in_flight = 0
        self._parts: list[Work] = []
        parent = current_work()  # a work begun within another is part of it
        if parent is not None:
            with parent._lock:
                parent._parts.append(self)
                self._stopped = parent._stopped

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else f"{self._in_flight} in flight"
        return f"<Work {self.what}: {state}>"

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopped

    @property
    def in_flight(self) -> int:
        """How many requests of this work (and of the work begun within it) have been sent
        and not yet answered."""
        return self._in_flight + sum(part.in_flight for part in list(self._parts))

    def check(self) -> None:
        """Raise :class:`~structmagic.Interrupted` once the work has been stopped."""
        if self._stopped:
            raise Interrupted(f"not finished: {self.what} was interrupted")

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        """Count one request in flight while the block runs."""
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def stop(self) -> None:
        """Nothing more of this work (nor of the work begun within it) is sent, and the
        connections its requests are using are shut down: those requests fail at once.
        Other work's connections stay open."""
        with self._lock:
            self._stopped = True
            sockets, self._sockets = list(self._sockets.values()), {}
            parts = list(self._parts)
            # Shut down while holding the lock: a connection another work takes over from
            # the pool (:meth:`take`) is either still ours here, or already theirs.
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for part in parts:
            part.stop()

    def take(self, key: int, sock: socket.socket | None, previous: Work | None) -> None:
        """A connection (``key``: its stream) starts a request of this work; it was
        ``previous``'s. Raises :class:`OSError` if this work has been stopped."""
        if previous is not None and previous is not self:
            previous.drop(key)
        with self._lock:
            if self._stopped:
                raise OSError(f"{self.what} was interrupted")
            if sock is not None:
                self._sockets[key] = sock

    def drop(self, key: int) -> None:
        """The connection ``key`` is no longer this work's (closed, or taken by another)."""
        with self._lock:
            self._sockets.pop(key, None)

    def bind(self, fn: Callable[..., T]) -> Callable[..., T]:
        """``fn`` to run in another thread as part of this work (a copy of the current
        context, with this work current)."""
        context = contextvars.copy_context()
        context.run(_current.set, self)

        def bound(*args: Any, **kwargs: Any) -> T:
            return context.copy().run(fn, *args, **kwargs)

        return bound


class Relay(Generic[D]):
    """What a request reports as it goes (the pieces of a stream), handed to ``deliver``:
    at once, or, while :func:`off_main` runs the request on a worker, on the thread that
    waits for it, in order, several at a time."""

    def __init__(self, deliver: Callable[[list[D]], None]) -> None:
        self._deliver = deliver
        self._lock = threading.Lock()
        self._items: list[D] = []
        self._queued = False
        self.ready = threading.Event()

    def put(self, items: list[D]) -> None:
        """Report ``items`` (on the thread making the request)."""
        if not self._queued:
            self._deliver(items)
            return
        with self._lock:
            self._items.extend(items)
        self.ready.set()

    def queue(self, on: bool) -> None:
        """Keep what is reported for :meth:`flush` (``on``), or deliver it at once."""
        self._queued = on

    def flush(self) -> None:
        """Deliver what was reported (on the waiting thread)."""
        with self._lock:
            items, self._items = self._items, []
            self.ready.clear()
        if items:
            self._deliver(items)


def off_main(fn: Callable[[], T], *, relay: Relay[Any] | None = None,
             what: str = "the request") -> T:
    """``fn()``, run on a worker thread when called on the main thread (else here, as it
    is), as a :class:`Work` of its own; the main thread waits in slices of
    :data:`SLICE_SECONDS` and delivers ``relay``'s items. An interrupt (or an error while
    delivering) stops the work, cutting its connection, and is raised at once."""
    if threading.current_thread() is not threading.main_thread():
        return fn()
    work = Work(what)
    outcome: list[Any] = []
    done = threading.Event()
    wake = relay.ready if relay is not None else done

    def run() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # handed to the main thread, raised there
            outcome.append((False, exc))
        finally:
            done.set()
            wake.set()

    worker = threading.Thread(target=work.bind(run), name="structmagic-request", daemon=True)
    if relay is not None:
        relay.queue(True)
    try:
        worker.start()
        while not done.is_set():
            wake.wait(SLICE_SECONDS)
            if relay is not None:
                relay.flush()
    except BaseException:
        work.stop()
        worker.join(_JOIN_SECONDS)
        raise
    finally:
        if relay is not None:
            relay.queue(False)
    if relay is not None:
        relay.flush()
    ok, value = outcome[0]
    if ok:
        return value
    raise value
