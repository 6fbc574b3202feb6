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
server answers). The calls it makes as it streams (:class:`Relay`: partial values shown,
the widget updated) are made on the main thread, as if the request had run there.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import Any, TypeVar

from ..errors import Interrupted

__all__ = ["SLICE_SECONDS", "Relay", "Work", "current_work", "off_main", "workers"]

T = TypeVar("T")

#: the longest the main thread waits at a time for a request running on a worker
SLICE_SECONDS = 0.2

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
        self._cancels: dict[int, Callable[[], Any]] = {}
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
            cancels, self._cancels = list(self._cancels.values()), {}
            # Shut down while holding the lock: a connection another work takes over from
            # the pool (:meth:`take`) is either still ours here, or already theirs.
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for cancel in cancels:
            with contextlib.suppress(Exception):
                cancel()
        for part in parts:
            part.stop()

    @contextlib.contextmanager
    def cancelling(self, cancel: Callable[[], Any]) -> Iterator[None]:
        """While the block runs, :meth:`stop` calls ``cancel`` (a request that is no socket
        of structmagic's: one sent through the user's ``httpx.AsyncClient``). Raises
        :class:`~structmagic.Interrupted` at once if the work has been stopped."""
        key = id(cancel)
        with self._lock:
            stopped = self._stopped
            if not stopped:
                self._cancels[key] = cancel
        if stopped:
            cancel()
            self.check()
        try:
            yield
        finally:
            with self._lock:
                self._cancels.pop(key, None)

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


class Relay:
    """The calls a request makes as it goes (the partial values of a stream shown to the
    user, its widget updated): made at once, or, while :func:`off_main` runs the request on
    a worker, on the thread that waits for it, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self._queued = False
        self.ready = threading.Event()

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """``fn(*args, **kwargs)``: now, or queued for :meth:`flush`."""
        if not self._queued:
            fn(*args, **kwargs)
            return
        with self._lock:
            self._calls.append((fn, args, kwargs))
        self.ready.set()

    def queue(self, on: bool) -> None:
        """Keep the calls for :meth:`flush` (``on``), or make them at once."""
        self._queued = on

    def flush(self) -> None:
        """Make the calls kept (on the waiting thread)."""
        with self._lock:
            calls, self._calls = self._calls, []
            self.ready.clear()
        for fn, args, kwargs in calls:
            fn(*args, **kwargs)


def off_main(fn: Callable[[], T], *, relay: Relay | None = None,
             what: str = "the request") -> T:
    """``fn()``, run on a worker thread when called on the main thread (else here, as it
    is), as a :class:`Work` of its own; the main thread waits in slices of
    :data:`SLICE_SECONDS` and makes ``relay``'s calls. An interrupt (or an error in one of
    those calls) stops the work, cutting its connection, and is raised at once."""
    if threading.current_thread() is not threading.main_thread():
        return fn()
    work = Work(what)
    if relay is not None:
        relay.queue(True)
    try:
        future = workers().submit(work.bind(fn))
        if relay is None:
            while True:
                try:
                    return future.result(SLICE_SECONDS)
                except FuturesTimeout:
                    continue
        done = threading.Event()
        future.add_done_callback(lambda _: _both(done, relay.ready))
        while not done.is_set():
            relay.ready.wait(SLICE_SECONDS)
            relay.flush()
        relay.flush()
        return future.result()
    except BaseException:
        work.stop()  # nothing more of it is sent; its connection is cut
        raise
    finally:
        if relay is not None:
            relay.queue(False)


def _both(*events: threading.Event) -> None:
    for event in events:
        event.set()


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def workers() -> ThreadPoolExecutor:
    """The kept threads work runs on away from its caller: a request started on the main
    thread (:func:`off_main`), a call or a batch awaited by the async functions (starting a
    thread for each would cost more than a request to a server on this machine)."""
    global _POOL
    if _POOL is None:
        with _POOL_LOCK:
            if _POOL is None:
                _POOL = ThreadPoolExecutor(max_workers=32,
                                           thread_name_prefix="structmagic-worker")
    return _POOL
