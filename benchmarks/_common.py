"""Shared by the benchmarks: the loopback fake server and timing helpers."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# The stub servers answer one fixed text whatever is asked: the server check of non-vendor
# servers would read that as a server ignoring the schema and ask in the prompt instead.
# What is measured here is each call's own cost, so the check is off (it is once per server).
os.environ["STRUCTMAGIC_SERVER_CHECK"] = "off"

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from fakeserver import FakeLLMServer, Reply, chat, chat_stream  # noqa: E402

__all__ = ["MATH_SCHEMA", "SCORE_SCHEMA", "FakeLLMServer", "Reply", "best", "chat",
           "chat_stream", "interleave", "median", "server_process"]

#: the seed's math_reasoning schema (from the test corpus)
from schema_corpus import MATH  # noqa: E402

MATH_SCHEMA = MATH["json_schema"]["schema"]

#: a small answer of two fields (the batch and memory benchmarks)
SCORE_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["name", "score"],
    "additionalProperties": False,
}


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def best(xs: list[float]) -> float:
    return min(xs)


def interleave(runs: int, **fns: Callable[[], object]) -> dict[str, list[float]]:
    """Time each function ``runs`` times, interleaved (a, b, a, b ...) against drift."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def _serve(responder: Callable[[Any], Any], urls: Any, stop: Any) -> None:
    with FakeLLMServer() as server:
        server.responder = responder
        urls.put(server.url)
        stop.wait()


@contextlib.contextmanager
def server_process(responder: Callable[[Any], Any]) -> Iterator[str]:
    """The loopback fake server in a child process (its threads never take the measured
    process's GIL), answering with ``responder`` (a module-level function); yields its URL."""
    ctx = multiprocessing.get_context("fork")
    urls, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_serve, args=(responder, urls, stop), daemon=True)
    child.start()
    try:
        yield urls.get(timeout=30)
    finally:
        stop.set()
        child.join(timeout=10)
