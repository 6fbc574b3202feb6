"""Test configuration: a loopback fake server for the session, and a clean environment."""

from __future__ import annotations

import pytest

from fakeserver import FakeLLMServer

pytest_plugins = ["sm_fixtures"]

_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
        "GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_BASE_URL")


@pytest.fixture(scope="session")
def fake_server():
    with FakeLLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch):
    """No test sees a developer's real key or settings, nor reaches the network."""
    import os

    for name in list(os.environ):
        if name in _ENV or name.startswith("STRUCTMAGIC_"):
            monkeypatch.delenv(name, raising=False)
