"""Shared pieces of the cost tests: a responder whose token usage follows a known
distribution, and a synthetic column.

:class:`SyntheticUsage` answers item k (``"item k: ..."`` in the prompt) with
``{"n": k, "label": "item k"}`` and reports usage the server's own way:

- prompt tokens: ``input_scale`` times the "word pieces" of the request's texts (every run of
  letters, every digit, every other character that is not a space) -- a count independent
  of structmagic's heuristic (1.5x pieces is some 1.6x the heuristic on these prompts);
- completion tokens: drawn from a normal distribution (``mean``, ``sd``, at least 5), seeded
  by the item number, so the same row always reports the same count whatever the order.

It also answers the token-count endpoints (``/responses/input_tokens``,
``/messages/count_tokens``, ``:countTokens``) with the same prompt count.
"""

from __future__ import annotations

import json
import random
import re
import threading

from fakeserver import Reply, chat
from providers import anthropic, gemini, responses

PIECES = re.compile(r"[A-Za-z]+|\d|[^\sA-Za-z\d]")

SCHEMA = {
    "type": "object",
    "properties": {"n": {"type": "integer"}, "label": {"type": "string"}},
    "required": ["n", "label"],
    "additionalProperties": False,
}

_TEXT = ("the parcel arrived late and the box was torn but the drill inside works well "
         "battery life is short customer service answered within a day would buy again "
         "price was fair colour differs from the photo instructions missing")
_WORDS = _TEXT.split(" ")


def column(n: int, *, seed: int = 7) -> list[str]:
    """``n`` prompts ``"item k: <review text>"`` of seeded, varying length (5 to 120 words)."""
    rng = random.Random(seed)
    return [f"item {k}: " + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 120)))
            for k in range(n)]


def pieces(body: object) -> int:
    """The fake server's own input-token count of a request body (model and settings aside)."""
    if not isinstance(body, dict):
        return 0
    shown = {k: v for k, v in body.items()
             if k not in ("model", "stream", "stream_options", "max_tokens", "temperature",
                          "max_output_tokens")}
    return len(PIECES.findall(json.dumps(shown, ensure_ascii=False)))


def _item(body: dict) -> int:
    text = json.dumps(body, ensure_ascii=False)
    found = re.search(r"item (\d+)", text)
    return int(found.group(1)) if found else 0


class SyntheticUsage:
    """A responder with a known usage distribution (see the module docstring)."""

    def __init__(self, *, mean: float = 120.0, sd: float = 30.0, seed: int = 11,
                 input_scale: float = 1.5) -> None:
        self.mean, self.sd, self.seed, self.input_scale = mean, sd, seed, input_scale
        self.lock = threading.Lock()
        self.answered: list[int] = []  # item numbers answered (generation requests)
        self.counted = 0  # count-endpoint requests

    def prompt(self, body: object) -> int:
        """The input tokens this server reports for a request body."""
        return round(self.input_scale * pieces(body))

    def completion(self, k: int) -> int:
        rng = random.Random(self.seed * 100_003 + k)
        return max(5, round(rng.gauss(self.mean, self.sd)))

    def __call__(self, req) -> Reply:
        body = req.json or {}
        if req.path.endswith(("/input_tokens", "/count_tokens", ":countTokens")):
            with self.lock:
                self.counted += 1
            if req.path.endswith(":countTokens"):
                return Reply.json({"totalTokens": self.prompt(body.get(
                    "generateContentRequest"))})
            return Reply.json({"input_tokens": self.prompt(body)})
        k = _item(body)
        with self.lock:
            self.answered.append(k)
        usage = (self.prompt(body), self.completion(k))
        answer = json.dumps({"n": k, "label": f"item {k}"})
        if req.path.endswith("/responses"):
            return responses(answer, usage=usage)
        if req.path.endswith("/messages"):
            return anthropic(answer, usage=usage)
        if ":generateContent" in req.path:
            return gemini(answer, usage=usage)
        return chat(answer, usage=usage)
