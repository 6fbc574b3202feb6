"""Per-field confidence from token log-probabilities.

A server asked for log-probabilities (``confidence=True``) sends, beside the answer, each
token it wrote with its log-probability (and, in the OpenAI shape, the token's UTF-8
``bytes``: a token may end inside a multi-byte character). The confidence of one leaf value
of the answer is the probability the model gave the tokens that wrote it:

    confidence(path) = exp(sum of the log-probabilities of the tokens that overlap the
                           value's own characters in the answer's text)

A value's own characters are a number's, a ``true``/``false``/``null``'s, or a string's
characters between its quotes (escapes included as written); the quotes, keys, colons,
commas and brackets are not the value's, but a token that holds structure and value
together (``":"`` plus a value's first letters) counts for the value. An empty string
``""`` has no characters of its own: the token holding its closing quote stands for it.

Offsets are counted in bytes of UTF-8 on both sides, so a character split across two
tokens is counted in both, as it should be. The tokens must spell the answer's text byte
for byte; when they do not (a server that sent the log-probabilities of something else),
no confidence is made up: :func:`field_confidence` says why instead.

Paths are those of :mod:`structmagic.grounding.paths` (``lines[0].qty``), of the value as
the user's schema shapes it: a wrapped root (``{"value": ...}``) is unwrapped, and a
``null`` the request's strict shape had the model write for a left-out field has no path.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from ..grounding.paths import path_of, walk
from ..providers.logprobs import LogProbs

__all__ = ["field_confidence", "value_spans"]

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_SPACE = re.compile(r"[ \t\n\r]*")
_LITERALS = ("true", "false", "null")


def value_spans(text: str, start: int = 0) -> list[tuple[tuple[str | int, ...], int, int]]:
    """Every leaf value of the JSON value at ``text[start:]``, in document order: its keys
    and indexes from the root, and the character offsets of its own characters (a string's
    without its quotes). Empty objects and arrays have none. Iterative (no recursion);
    ``ValueError`` where the text is not JSON."""
    out: list[tuple[tuple[str | int, ...], int, int]] = []
    parts: list[str | int] = []
    arrays: list[bool] = []
    pos = _SPACE.match(text, start).end()  # type: ignore[union-attr]
    expect = "value"
    try:
        while True:
            if expect == "value":
                ch = text[pos]
                if ch == "{":
                    pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
                    if text[pos] == "}":
                        pos += 1
                        expect = "after"
                    else:
                        arrays.append(False)
                        expect = "key"
                    continue
                if ch == "[":
                    pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
                    if text[pos] == "]":
                        pos += 1
                        expect = "after"
                    else:
                        arrays.append(True)
                        parts.append(0)
                    continue
                if ch == '"':
                    m = _STRING.match(text, pos)
                    if m is None:
                        raise ValueError("an unterminated string")
                    out.append((tuple(parts), pos + 1, m.end() - 1))
                    pos = m.end()
                else:
                    literal = next((w for w in _LITERALS if text.startswith(w, pos)), None)
                    if literal is not None:
                        end = pos + len(literal)
                    else:
                        n = _NUMBER.match(text, pos)
                        if n is None or n.end() == pos:
                            raise ValueError(f"no JSON value at offset {pos}")
                        end = n.end()
                    out.append((tuple(parts), pos, end))
                    pos = end
                expect = "after"
            elif expect == "key":
                m = _STRING.match(text, pos)
                if m is None:
                    raise ValueError(f"no key at offset {pos}")
                parts.append(json.loads(m.group()))
                pos = _SPACE.match(text, m.end()).end()  # type: ignore[union-attr]
                if text[pos] != ":":
                    raise ValueError(f"no ':' at offset {pos}")
                pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
                expect = "value"
            else:  # after a value
                pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
                if not arrays:
                    return out
                ch = text[pos]
                if ch == ",":
                    pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
                    if arrays[-1]:
                        index = parts[-1]
                        assert isinstance(index, int)
                        parts[-1] = index + 1
                        expect = "value"
                    else:
                        parts.pop()
                        expect = "key"
                elif ch == ("]" if arrays[-1] else "}"):
                    parts.pop()
                    arrays.pop()
                    pos += 1
                else:
                    raise ValueError(f"unexpected {ch!r} at offset {pos}")
    except IndexError:
        raise ValueError("the JSON text ends early") from None


def _byte_offsets(text: str, offsets: Sequence[int]) -> dict[int, int]:
    """The UTF-8 byte offset of each character offset (one pass over the text)."""
    out: dict[int, int] = {}
    done_chars = done_bytes = 0
    for off in sorted(set(offsets)):
        done_bytes += len(text[done_chars:off].encode("utf-8", "surrogatepass"))
        done_chars = off
        out[off] = done_bytes
    return out


def field_confidence(text: str, json_text: str, logprobs: LogProbs | None, plain: Any, *,
                     wrapped: bool = False) -> tuple[dict[str, float] | None, str | None]:
    """Each leaf path of ``plain`` (the accepted value) and the probability of the tokens
    that wrote it, or ``(None, reason)`` when there is none to give.

    ``text`` is the answer's whole text as the tokens spell it, ``json_text`` the JSON that
    was read from it (a substring), ``wrapped`` whether the request wrapped a root that is
    not an object as ``{"value": ...}``."""
    if logprobs is None or not len(logprobs):
        return None, "the server sent no log-probabilities with the answer"
    whole = text.encode("utf-8", "surrogatepass")
    if b"".join(logprobs.tokens) != whole:
        return None, ("the log-probabilities the server sent do not spell the answer's text, "
                      "so they cannot be matched to its values")
    at = text.find(json_text) if json_text else -1
    if at < 0:
        return None, "the answer's JSON could not be found in its text"
    try:
        spans = value_spans(text, at)
    except ValueError as exc:
        return None, f"the answer's JSON could not be read for its values ({exc})"
    starts: list[int] = []
    ends: list[int] = []
    total = 0
    for token in logprobs.tokens:
        starts.append(total)
        total += len(token)
        ends.append(total)
    offsets = _byte_offsets(text, [o for _, s, e in spans for o in (s, e)])
    order = walk(plain).paths
    wanted = set(order)
    found: dict[str, float] = {}
    for parts, s, e in spans:
        if wrapped:
            if not parts or parts[0] != "value":
                continue
            parts = parts[1:]
        path = path_of(parts)
        if path not in wanted:
            continue
        bs, be = offsets[s], offsets[e]
        first = bisect.bisect_right(ends, bs)  # the first token that ends after bs
        if bs == be:  # an empty string: the token holding its closing quote
            picked = logprobs.logprobs[first:first + 1]
        else:
            last = bisect.bisect_left(starts, be)  # tokens from first up to last start < be
            picked = logprobs.logprobs[first:last]
        found[path] = math.exp(math.fsum(picked))
    # in the order of the value's leaves
    return {p: found[p] for p in order if p in found}, None
