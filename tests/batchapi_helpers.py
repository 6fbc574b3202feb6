"""Shared pieces of the provider batch API tests: the fake's fixture and small helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakebatch import FakeBatchAPI
from fakeserver import CREATED, RecordedRequest, Reply, chat
from providers import anthropic, gemini, responses

#: where each provider's base URL points on the fake server
BASES = {"openai": "/v1", "responses": "/v1", "anthropic": "/v1", "gemini": "/v1beta"}


@pytest.fixture
def fake(server, settings, tmp_path, clock):
    """The fake server with batch routes (its synchronous answers from ``Faults``), on the
    tests' clock (which the job's waits advance, see ``ManualClock``), and a manifest in
    ``tmp_path``."""
    from structmagic import config
    from structmagic.rows.jobs import wire

    server.responder = SyncAnswers()
    clock.advance(CREATED - clock.now)
    api = FakeBatchAPI(server, clock=clock)
    wire.forget_counts()
    config.configure(batch_manifest=str(tmp_path / "batches.json"))
    yield api
    wire.forget_counts()


class SyncAnswers:
    """Answers in the format of the endpoint asked: item k answers ``{"n": k}`` (the item's
    number found anywhere in the request, whatever its content parts)."""

    def __call__(self, req: RecordedRequest) -> Reply:
        import re

        text = json.dumps(req.json, ensure_ascii=False)
        k = int(re.search(r"item (\d+)", text).group(1))
        answer = json.dumps({"n": k, "label": f"item {k}"})
        if req.path.endswith("/chat/completions"):
            return chat(answer, usage=(1, 1))
        if req.path.endswith("/responses"):
            return responses(answer)
        if req.path.endswith("/messages"):
            return anthropic(answer)
        return gemini(answer)


def use(server, provider: str, **more) -> None:
    """Point structmagic at the fake server in ``provider``'s format."""
    from structmagic import config

    config.configure(provider=provider, base_url=server.url + BASES[provider], **more)


def items(n: int, start: int = 0) -> list[str]:
    return [f"item {i}" for i in range(start, start + n)]


def restart() -> None:
    """What a new kernel forgets: every in-memory count and learned mode (the manifest and
    the provider's jobs stay)."""
    from structmagic.call import plan
    from structmagic.rows.jobs import wire

    wire.forget_counts()
    plan.forget_learned_modes()


def manifest_text(tmp_path: Path) -> str:
    return (tmp_path / "batches.json").read_text()


def manifest(tmp_path: Path) -> dict:
    return json.loads(manifest_text(tmp_path))


def record(key: str = "a" * 64, **over) -> dict:
    """A manifest record as structmagic writes one (one part of one row), ``over`` replacing
    its fields (``None`` values too); a part's fields with ``part={...}``."""
    part = {"index": 0, "start": 0, "stop": 1, "count": 1, "bytes": 10, "sha256": "5" * 64,
            "name": "structmagic-" + "0" * 20 + "-0", **over.pop("part", {})}
    return {"key": key, "name": "structmagic-" + "0" * 20, "provider": "openai",
            "base_url": "https://api.openai.com/v1", "model": "m", "endpoint": "/v1/e",
            "schema": "s", "rows": 1, "created": 1.0, "parts": [part], **over}


def write_manifest(path: Path, *records: dict) -> None:
    path.write_text(json.dumps({"version": 1, "jobs": {r["key"]: r for r in records}}))
