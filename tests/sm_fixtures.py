"""Fixtures that point structmagic at the fake server, and the canary-key check.

Loaded from conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import logging

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
def settings(server, tmp_path):
    """structmagic configured for the fake server, with the canary key; restored after."""
    from structmagic import config
    from structmagic.call import loop

    saved = config.configured()
    config.reset()
    config.configure(
        base_url=server.url + "/v1", api_key=CANARY, model="test-model", timeout=10.0,
        connect_timeout=2.0,
    )
    loop.forget_learned_modes()
    yield config.resolve()
    config.reset(saved)
    loop.forget_learned_modes()


@pytest.fixture(autouse=True)
def sleeps(monkeypatch):
    """Retry waits are recorded, not slept (the backoff is asserted, tests stay fast)."""
    import structmagic.transport.retry as retry

    waited: list[float] = []
    monkeypatch.setattr(retry, "_sleep", waited.append)
    return waited


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
