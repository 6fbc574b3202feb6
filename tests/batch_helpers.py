"""Shared pieces of the batch tests: a small schema, a responder whose item k answers
``{"n": k}`` (some items misbehaving once or always), one that holds some items' answers
back (interrupts land while they are in flight), and a fake clock for a RateGate."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable

from fakeserver import chat

SCHEMA = {
    "type": "object",
    "properties": {"n": {"type": "integer"}, "label": {"type": "string"}},
    "required": ["n", "label"],
    "additionalProperties": False,
}


def prompt_number(req) -> int:
    text = req.json["messages"][-1]["content"]
    if req.json["messages"][-1]["role"] != "user" or "did not match" in text:
        # a re-ask: find the item number in the first user turn
        text = next(m["content"] for m in req.json["messages"] if m["role"] == "user")
    return int(re.search(r"item (\d+)", text).group(1))


class Faults:
    """A responder: item k answers {"n": k}; some items misbehave once or always."""

    def __init__(self, *, once=None, always=None, delay=0.0):
        self.once = dict(once or {})
        self.always = dict(always or {})
        self.delay = delay
        self.lock = threading.Lock()
        self.count: dict[int, int] = {}

    def __call__(self, req):
        k = prompt_number(req)
        with self.lock:
            self.count[k] = self.count.get(k, 0) + 1
            first = self.count[k] == 1
        if self.delay:
            time.sleep(self.delay)
        if k in self.always:
            return self.always[k]
        if first and k in self.once:
            return self.once[k]
        return chat(json.dumps({"n": k, "label": f"item {k}"}), usage=(1, 1))


class Crowd:
    """A responder: item k answers ``{"n": k}``, but the first answers wait until ``until``
    requests are in flight at once (no sleep: if that never happens, they give up after
    5 s and ``peak``, the most ever in flight, says so)."""

    def __init__(self, until: int) -> None:
        self.until = until
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._full = threading.Event()

    def __call__(self, req):
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            if self.active == self.until:
                self._full.set()
        self._full.wait(5)
        with self._lock:
            self.active -= 1
        return chat(json.dumps({"n": prompt_number(req), "label": "x"}))


def answer(k: int):
    """Item k's good answer."""
    return chat(json.dumps({"n": k, "label": f"item {k}"}), usage=(1, 1))


class Held:
    """A responder: item k answers at once, unless ``hold(k)``: then its answer waits until
    :meth:`release` (or ``seconds``, so that a client that did not cut the request would
    still get its answer, and succeed, where the test expects a failure).

    Use it as a context manager: the held answers are released at the end.
    """

    def __init__(self, hold: Callable[[int], bool], *, seconds: float = 3.0) -> None:
        self.hold = hold
        self.seconds = seconds
        self._released = threading.Event()

    def __call__(self, req):
        k = prompt_number(req)
        if self.hold(k):
            self._released.wait(self.seconds)
        return answer(k)

    def release(self) -> None:
        self._released.set()

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
