"""Token log-probabilities as servers send them, provider-neutral: :class:`LogProbs`.

Chat Completions (``choices[0].logprobs.content``, whole or a piece per streamed chunk), the
Responses API (``output_text.logprobs``, and ``logprobs`` on each ``output_text.delta``
event), and the OpenAI-compatible servers (llama.cpp's, vLLM's) all send a list of
``{"token", "logprob", "bytes", "top_logprobs"}``; :func:`read_logprobs` reads it.
What they mean for the answer's values is :mod:`structmagic.call.confidence`'s to say.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["LogProbs", "logprobs_of", "read_logprobs"]


@dataclass(frozen=True, slots=True)
class LogProbs:
    """The tokens of an answer, in order: each token's UTF-8 bytes and its log-probability."""

    tokens: tuple[bytes, ...]
    logprobs: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.tokens)

    def __add__(self, other: LogProbs) -> LogProbs:
        return LogProbs(self.tokens + other.tokens, self.logprobs + other.logprobs)


def read_logprobs(items: Any) -> LogProbs:
    """The OpenAI shape of token log-probabilities (Chat Completions'
    ``choices[0].logprobs.content``, the Responses API's ``output_text.logprobs``,
    llama.cpp's and vLLM's servers alike): a list of ``{"token", "logprob", "bytes"?}``.
    ``bytes`` (a list of byte values) wins over ``token`` where given. ``ValueError`` for
    anything else (a log-probability that is not a finite number at most 0, bytes that are
    not bytes)."""
    if not isinstance(items, list):
        raise ValueError("the log-probabilities are not a list")
    tokens: list[bytes] = []
    logprobs: list[float] = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("a token's log-probability is not an object")
        lp = item.get("logprob")
        if isinstance(lp, bool) or not isinstance(lp, (int, float)) or not math.isfinite(lp) \
                or lp > 1e-6:
            raise ValueError(f"a log-probability is not a finite number at most 0: {lp!r}")
        raw = item.get("bytes")
        if isinstance(raw, list):
            if not all(type(b) is int and 0 <= b <= 255 for b in raw):
                raise ValueError("a token's bytes are not byte values")
            token = bytes(raw)
        elif isinstance(item.get("token"), str):
            token = item["token"].encode("utf-8", "surrogatepass")
        else:
            raise ValueError("a token has neither 'bytes' nor 'token'")
        tokens.append(token)
        logprobs.append(min(float(lp), 0.0))
    return LogProbs(tuple(tokens), tuple(logprobs))


def logprobs_of(items: Any) -> tuple[LogProbs | None, str | None]:
    """:func:`read_logprobs` of ``items``, or ``(None, why)``; ``(None, None)`` when the
    server sent none (``items`` None, or an empty list: what the Responses API sends when
    they were not asked for)."""
    if items is None or items == []:
        return None, None
    try:
        return read_logprobs(items), None
    except ValueError as exc:
        return None, f"the server's log-probabilities could not be read ({exc})"
