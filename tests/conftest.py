"""Test configuration: a loopback fake server for the session, and a clean environment.

- ``fake_server``: the session's :class:`fakeserver.FakeLLMServer` (started once), emptied
  (queue, recorded requests, responder) before and after each test that uses it.
- ``isolated_env`` (autouse): no test sees a developer's API keys, base URLs, structmagic
  settings or HTTP proxies, so nothing reaches the network; and the server check is off
  (``STRUCTMAGIC_SERVER_CHECK=off``: every test talks to a loopback server, which the check
  would otherwise ask first), so each test counts only its own requests. The tests of the
  check turn it on (``server_check="auto"``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fakeserver import FakeLLMServer

pytest_plugins = ["sm_fixtures", "batchapi_helpers"]

CLEARED_ENV = frozenset({
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
    "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY",
    "GEMINI_BASE_URL", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION",
    "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "VERTEX_BASE_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
    # httpx honours these (trust_env): a proxy would see loopback traffic or reach the network
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
})


@pytest.fixture(scope="session")
def fake_server_session() -> Iterator[FakeLLMServer]:
    """The one server of the session (for fixtures with a wider scope; not reset)."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def fake_server(fake_server_session: FakeLLMServer) -> Iterator[FakeLLMServer]:
    """The session's fake server, with an empty script and no recorded requests."""
    fake_server_session.reset()
    yield fake_server_session
    fake_server_session.reset()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a developer's real key or settings, nor reaches the network."""
    for name in list(os.environ):
        if name in CLEARED_ENV or name.startswith("STRUCTMAGIC_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STRUCTMAGIC_SERVER_CHECK", "off")


# fixtures for structmagic configuration are added below by the lead
# (the current ones live in tests/sm_fixtures.py, loaded through ``pytest_plugins`` above)
