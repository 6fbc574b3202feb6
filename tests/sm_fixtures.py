"""Fixtures that point structmagic at the fake server, and the canary-key check.

Loaded from conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import logging
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
    from structmagic.call import plan

    saved = config.configured()
    config.reset()
    config.configure(
        base_url=server.url + "/v1", api_key=CANARY, model="test-model", timeout=10.0,
        connect_timeout=2.0, clock=clock,
    )
    plan.forget_learned_modes()
    yield config.resolve()
    config.reset(saved)
    plan.forget_learned_modes()


class TestClock:
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
    """The clock structmagic waits on in every test (see :class:`TestClock`)."""
    from structmagic import config

    fake = TestClock()
    config.configure(clock=fake)
    yield fake
    config.configure(clock=None)


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
