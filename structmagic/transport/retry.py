"""The retry policy, as the official SDKs have it, in small named steps.

- :func:`should_retry` — connection errors and timeouts, 408, 409, 429 and 5xx are retried;
  an ``x-should-retry: true/false`` header overrides the status;
- :func:`retry_after` — how long the server asks to wait: ``retry-after-ms``, then
  ``retry-after`` in seconds or as an HTTP date; a value that is not a finite number or a
  date is ignored (the normal back-off applies);
- :func:`backoff` — 0.5 s doubling to 8 s, with up to 25% jitter;
- :func:`wait_before_retry` — the wait for one retry, or an error at once when the server
  asks for longer than the cap.

The loop that uses them, and waits on the settings' clock, is
:func:`structmagic.transport.request.with_retries`.

Two retries by default (three attempts). Nothing is retried once content has streamed.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from .. import errors as E

__all__ = [
    "INITIAL_DELAY",
    "MAX_DELAY",
    "RETRY_STATUSES",
    "backoff",
    "retry_after",
    "should_retry",
    "wait_before_retry",
]

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524, 529})
INITIAL_DELAY = 0.5
MAX_DELAY = 8.0

def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """Whether an answer with ``status`` is worth another attempt."""
    override = (headers.get("x-should-retry") or "").lower()
    if override == "true":
        return True
    if override == "false":
        return False
    return status in RETRY_STATUSES or status >= 500


def retry_after(headers: Mapping[str, str], *, now: Callable[[], float] = time.time
                ) -> float | None:
    """Seconds the server asks to wait, or None (absent, unparseable or not finite)."""
    value = headers.get("retry-after-ms")
    if value:
        seconds = _finite(value)
        if seconds is not None:
            return max(0.0, seconds / 1000)
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _finite(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    try:
        return max(0.0, when.timestamp() - now())
    except (OverflowError, OSError, ValueError):
        return None


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def backoff(retries_taken: int, *, jitter: Callable[[], float] = random.random) -> float:
    """The wait before retry number ``retries_taken + 1`` when the server names none."""
    delay = min(INITIAL_DELAY * 2**retries_taken, MAX_DELAY)
    return delay * (1 - 0.25 * jitter())


def wait_before_retry(retries_taken: int, error: E.StructuredError, asked: float | None,
                      cap: float) -> float:
    """The wait before the next attempt; raises ``error`` (a copy, saying why) when the server
    asks for longer than ``cap`` seconds."""
    wait = asked if asked is not None else backoff(retries_taken)
    if wait > cap:
        raise type(error)(
            f"{error.message} The server asks to wait {wait:.0f} s before retrying, more than "
            f"the {cap:.0f} s cap.", **error_kwargs(error)) from None
    return wait


def error_kwargs(err: E.StructuredError) -> dict[str, Any]:
    """The keyword arguments that rebuild ``err`` with another message."""
    if isinstance(err, E.APIError):
        out: dict[str, Any] = {"status": err.status, "body_excerpt": err.body_excerpt,
                               "hint": err.hint, "retry_after": err.retry_after}
        if isinstance(err, E.AuthenticationError):
            out["key_source"] = err.key_source
        return out
    return {"hint": err.hint}
