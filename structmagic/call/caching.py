"""How the rows of a run let the provider's prompt cache serve what they share.

Every request is laid out stable-first (:func:`~structmagic.call.prompt.build_messages`):
the system prompt, the schema's instructions, then the row. The rows of a column also share
the leading text of their prompts (a template's words before its first field):
:func:`shared_prefix` finds it (cut back to a word boundary), and the run passes its length
to every call. :func:`cache_hint` then says what the request carries:

- OpenAI (Chat Completions, the Responses API; :attr:`Provider.cache_style` ``"auto"``):
  caching is automatic for a prefix of 1,024 tokens or more; a ``prompt_cache_key``, the same
  for every row of a run (derived from the model, the system prompt, the shared text and the
  schema's name; or the ``prompt_cache_key`` setting), keeps the rows on the same cache. It is
  sent to OpenAI's own API (other servers may refuse a parameter they do not know), or
  anywhere when you set it.
- Claude (``"marked"``): only where a breakpoint asks; one ``cache_control`` on the last
  shared block (the shared leading text of the user's turn, else the system prompt), with
  ``cache_ttl``, when the shared part reaches the model's minimum cacheable length
  (:meth:`Provider.cache_minimum`) — below it Claude caches nothing and says nothing, so
  nothing is marked, and :func:`cache_note` says so.
- Gemini (``"auto"``): implicit caching needs no parameter; its cached tokens are reported.

A single call (no run) asks for nothing. The shared part's tokens are counted locally (the
estimator's rule, :func:`~structmagic.cost.tokens.count_text`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..cost.tokens import count_text
from ..providers.base import JSON_SCHEMA, TOOLS, CacheHint, content_text

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers import Provider

__all__ = ["KEY_HOSTS", "ExpectedCache", "cache_hint", "cache_note", "expected_cache",
           "shared_prefix", "shared_tokens"]

#: the hosts a derived ``prompt_cache_key`` is sent to (OpenAI's own API)
KEY_HOSTS = ("api.openai.com",)
#: the shortest shared leading text worth splitting off (characters)
_SHORTEST = 16


def shared_prefix(prompts: Sequence[Any]) -> int:
    """How many leading characters every prompt of a run shares (0 when a prompt is not a
    string, or when there are fewer than two), cut back to just after a space or line
    break so the split falls between words."""
    texts = [p for p in prompts if isinstance(p, str)]
    if len(texts) < 2 or len(texts) != len(prompts):
        return 0
    first, low, high = min(texts), 0, 0
    last = max(texts)  # the common prefix of all is that of the least and the greatest
    high = min(len(first), len(last))
    while low < high and first[low] == last[low]:
        low += 1
    cut = max(first.rfind(" ", 0, low), first.rfind("\n", 0, low)) + 1
    return cut if cut >= _SHORTEST else 0


def _json_tokens(value: Any) -> int:
    """Tokens of a value as the request carries it (its compact JSON), by the estimator's
    rule (:func:`~structmagic.cost.tokens.count_body` counts whole requests so)."""
    return count_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def shared_tokens(messages: Sequence[Mapping[str, Any]], prefix: int, schema: Any,
                  mode: str) -> int:
    """The tokens every row of a run shares: the system prompt, the schema where the mode
    sends it as its own parameter, and the first ``prefix`` characters of the user's text,
    each counted as the request carries it."""
    total = 0
    for message in messages:
        if message.get("role") in ("system", "developer"):
            total += _json_tokens(content_text(message.get("content")))
        elif message.get("role") == "user":
            content = message.get("content")
            if prefix and isinstance(content, str):
                total += _json_tokens(content[:prefix])
            break
    if mode in (JSON_SCHEMA, TOOLS):
        total += _json_tokens(schema)
    return total


def _derived_key(settings: Settings, messages: Sequence[Mapping[str, Any]], prefix: int,
                 schema_name: str) -> str:
    parts = [settings.model, schema_name]
    for message in messages:
        if message.get("role") in ("system", "developer"):
            parts.append(content_text(message.get("content")))
        elif message.get("role") == "user":
            content = message.get("content")
            parts.append(content[:prefix] if isinstance(content, str) else "")
            break
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return "structmagic-" + digest[:24]


def cache_hint(settings: Settings, provider: Provider, messages: Sequence[Mapping[str, Any]],
               schema: Any, schema_name: str, mode: str, shared: int | None
               ) -> CacheHint | None:
    """What a request of a run (``shared``: its prompts' shared leading characters; None
    for a single call) asks of the provider's prompt cache; None: nothing."""
    if shared is None and not settings.prompt_cache_key:
        return None
    prefix = shared or 0
    key = settings.prompt_cache_key
    host = (urlsplit(settings.base_url).hostname or "").lower()
    if key is None and shared is not None and provider.cache_style == "auto" and (
            host in KEY_HOSTS):
        key = _derived_key(settings, messages, prefix, schema_name)
    mark = False
    if provider.cache_style == "marked" and shared is not None:
        minimum = provider.cache_minimum(settings.model) or 0
        mark = shared_tokens(messages, prefix, schema, mode) >= minimum
    if key is None and not mark:
        return None
    return CacheHint(prefix=prefix, key=key, mark=mark, ttl=settings.cache_ttl)


def cache_note(settings: Settings, provider: Provider, messages: Sequence[Mapping[str, Any]],
               schema: Any, mode: str, shared: int) -> str | None:
    """One sentence when a run's shared part is below the provider's minimum cacheable
    length, so nothing of it will be cached — said when the shared part is at least a
    quarter of that minimum (someone is likely counting on the cache) or a cache setting
    was given; None otherwise."""
    minimum = provider.cache_minimum(settings.model)
    if minimum is None:
        return None
    tokens = shared_tokens(messages, shared, schema, mode)
    asked = settings.prompt_cache_key is not None or settings.cache_ttl != "5m"
    if tokens >= minimum or (tokens * 4 < minimum and not asked):
        return None
    return (f"nothing will be cached: the part every row shares is about {tokens:,} tokens, "
            f"below the {minimum:,} {provider.title} caches at least for {settings.model}; "
            "put more of what the rows share first (a longer system prompt or instructions "
            "before the row's own text) to be served from the cache.")


@dataclass(frozen=True)
class ExpectedCache:
    """What a run's requests are expected to read from and write to the provider's prompt
    cache, in all (tokens), and in words."""

    reads: float = 0.0
    writes: float = 0.0
    note: str = ""
    #: the writes last an hour (Claude's ``cache_ttl="1h"``: twice the input price)
    hour: bool = False


def expected_cache(provider: Provider, model: str, rows: int, shared: int, *,
                   ttl: str = "5m") -> ExpectedCache:
    """The prompt cache over ``rows`` requests that share ``shared`` tokens, by each
    provider's documented rules: nothing below the minimum (said only when the shared part
    is at least a quarter of it: else nothing was to be expected); OpenAI: every row after
    the first reads the shared part, counted from 1,024 tokens in steps of 128
    (:attr:`Provider.cache_step`), and nothing is charged for writes; Claude (its breakpoint
    set by :func:`cache_hint`): the first row writes it, the others read it; Gemini: the
    others read it (implicit caching is likely, not promised)."""
    minimum = provider.cache_minimum(model)
    if minimum is None or provider.cache_style is None or rows < 2:
        return ExpectedCache()
    if shared < minimum:
        if shared * 4 < minimum:
            return ExpectedCache()
        return ExpectedCache(note=f"the shared part (~{shared:,} tokens) is below the "
                                  f"{minimum:,} the provider caches at least: none cached")
    read = float(shared)
    if provider.cache_step:
        read = float(minimum + provider.cache_step * ((shared - minimum) // provider.cache_step))
    reads = read * (rows - 1)
    writes = float(shared) if provider.cache_style == "marked" else 0.0
    return ExpectedCache(reads, writes, f"rows 2 to {rows:,} read the ~{int(read):,}-token "
                                        "shared part" + (", the first writes it" if writes
                                                         else ""),
                         hour=bool(writes) and ttl == "1h")
