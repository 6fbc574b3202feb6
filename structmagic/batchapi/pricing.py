"""The cost of a batch job, when structmagic knows prices.

The one place batch jobs ask for prices: :func:`batch_cost` uses the cost module
(``structmagic.cost``: ``price_for(provider, model)`` and ``cost_of(usage, price,
batch_tier=True)``) when it is there, and answers None otherwise — the progress bar then
leaves its cost slot empty. A pricing problem never stops a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["batch_cost", "batch_pricer", "estimated_usage"]

log = logging.getLogger("structmagic")


def _cost_module() -> Any:
    try:
        return import_module("structmagic.cost")
    except ImportError:
        return None


def batch_cost(provider: str, model: str, usage: Mapping[str, int]) -> float | None:
    """The batch-tier cost of ``usage`` (token counts), or None when no price is known."""
    module = _cost_module()
    price_for = getattr(module, "price_for", None)
    cost_of = getattr(module, "cost_of", None)
    if not callable(price_for) or not callable(cost_of):
        return None
    try:
        price = price_for(provider, model)
        if price is None:
            return None
        value = cost_of(dict(usage), price, batch_tier=True)
    except Exception as exc:  # an optional estimate: never a reason to fail a batch
        log.debug("no batch cost for %s %s: %s", provider, model, exc)
        return None
    return float(value) if isinstance(value, (int, float)) else None


def batch_pricer(provider: str, model: str) -> Callable[[Mapping[str, int]], float | None]:
    """What each row's answer cost at the batch tier: the price looked up once (a job's
    rows share it), then ``pricer(usage)`` per row; None per row when no price is known."""
    module = _cost_module()
    price_for = getattr(module, "price_for", None)
    cost_of = getattr(module, "cost_of", None)
    price = None
    if callable(price_for) and callable(cost_of):
        try:
            price = price_for(provider, model)
        except Exception as exc:  # an optional figure: never a reason to fail a batch
            log.debug("no batch price for %s %s: %s", provider, model, exc)
    if price is None or not callable(cost_of):
        return lambda usage: None
    calc: Callable[..., Any] = cost_of

    def pricer(usage: Mapping[str, int]) -> float | None:
        try:
            value = calc(dict(usage), price, batch_tier=True)
        except Exception:
            return None
        return float(value) if isinstance(value, (int, float)) else None

    return pricer


def estimated_usage(request_bytes: int) -> dict[str, int]:
    """Input tokens guessed from the requests' size (about 4 bytes a token), before any
    answer: what an expected cost can be based on while the job runs."""
    tokens = request_bytes // 4
    return {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens}
