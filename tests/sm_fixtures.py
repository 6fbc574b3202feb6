"""Fixtures that point structmagic at the fake server, the canary-key check, interrupts, and
an install without Pillow.

Loaded from conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

import pytest

CANARY = "sk-canary-7f3e9b2c1d4aZQ"


@pytest.fixture
def canary() -> str:
    return CANARY


@pytest.fixture
def server(fake_server):
    """The session's fake server, emptied for this test."""
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@pytest.fixture
def settings(server, tmp_path, clock):
    """structmagic configured for the fake server, with the canary key and the tests'
    clock; restored after."""
    from structmagic import config
    from structmagic.call import plan, servercheck

    saved = config.configured()
    config.reset()
    config.configure(
        base_url=server.url + "/v1", api_key=CANARY, model="test-model", timeout=10.0,
        connect_timeout=2.0, clock=clock, server_check="off",
    )
    plan.forget_learned_modes()
    servercheck.forget_server_checks()
    yield config.resolve()
    config.reset(saved)
    plan.forget_learned_modes()
    servercheck.forget_server_checks()


class ManualClock:
    """structmagic's clock in the tests (``configure(clock=...)``): time moves only when
    something sleeps on it (each wait recorded in ``waits``), or by ``step`` seconds each
    time it is read; so no retry, rate gate or batch job waits in a test."""

    def __init__(self, start: float = 1_767_225_600.0, step: float = 0.0) -> None:
        self.now = start
        self.step = step
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            self.now += self.step
            return self.now

    time = monotonic

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def __call__(self) -> float:  # as the fake batch routes read their clock
        return self.time()


@pytest.fixture(autouse=True)
def clock():
    """The clock structmagic waits on in every test (see :class:`ManualClock`); and the
    server check off (every test talks to a loopback server, which the check would ask
    first: each test counts only its own requests; the check's tests turn it on). Both are
    configured again by ``settings``, and the check is off in the environment too
    (conftest), for tests that reset the configuration."""
    from structmagic import config

    fake = ManualClock()
    config.configure(clock=fake, server_check="off")
    yield fake
    config.configure(clock=None, server_check=None)


@pytest.fixture
def sleeps(clock):
    """The waits structmagic asked for (retries, rate gates, batch jobs): recorded, never
    slept, so the back-off is asserted and the tests stay fast."""
    return clock.waits


@pytest.fixture(autouse=True)
def no_key_leaks(caplog, capfd):
    """After every test: the canary key is in no log record and no captured output."""
    caplog.set_level(logging.DEBUG)
    yield
    out, err = capfd.readouterr()
    texts = [out, err, *(r.getMessage() for r in caplog.records)]
    for text in texts:
        assert CANARY not in text and CANARY[-6:] not in text, "the API key leaked"
    # give the output back so failing tests still show it
    print(out, end="")


@pytest.fixture
def ip(settings):
    """A real InteractiveShell with the extension loaded and a clean namespace."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "structmagic")
    saved = dict(shell.user_ns)
    yield shell
    shell.user_ns.clear()
    shell.user_ns.update(saved)


class Interrupter:
    """Sends this process a SIGINT from a helper thread when something has happened on the
    fake server, not after a fixed delay (see the ``sigint`` fixture)."""

    def __init__(self, server) -> None:
        self._server = server
        self._threads: list[threading.Thread] = []
        #: why an interrupt was not sent (the awaited requests never came), or None
        self.problem: str | None = None
        #: how many interrupts were sent
        self.sent = 0

    def after_requests(self, count: int, *, timeout: float = 10.0) -> None:
        """Interrupt once the server has received ``count`` requests (in all, this test)."""

        def run() -> None:
            try:
                self._server.wait_for_requests(count, timeout)
            except TimeoutError as exc:
                self.problem = f"no interrupt was sent: {exc}"
                return
            self.sent += 1
            os.kill(os.getpid(), signal.SIGINT)

        thread = threading.Thread(target=run, name="test-sigint", daemon=True)
        thread.start()
        self._threads.append(thread)

    def join(self, timeout: float = 15.0) -> None:
        for thread in self._threads:
            thread.join(timeout)


@pytest.fixture
def sigint(server):
    """Interrupts that work however pytest was started.

    A shell starts a background job (``python -m pytest ... &``, non-interactive) with
    SIGINT ignored, and Python then installs no handler of its own: a SIGINT would do
    nothing. This fixture installs the default handler (SIGINT raises KeyboardInterrupt in
    the main thread) for the test and restores the previous one after. It gives an
    :class:`Interrupter`: ``sigint.after_requests(n)`` interrupts once the fake server has
    received ``n`` requests (hold their answers, e.g. ``Reply.hang``, so that the interrupt
    lands while they are in flight).
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    sender = Interrupter(server)
    try:
        yield sender
        sender.join()
    finally:
        if previous is not None:  # None: a handler not set from Python, which cannot be put back
            signal.signal(signal.SIGINT, previous)
    assert sender.problem is None, sender.problem


@pytest.fixture
def no_pillow(monkeypatch):
    """An install without Pillow: ``import PIL`` fails."""
    for name in list(sys.modules):
        if name == "PIL" or name.startswith("PIL."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
