"""What tokens cost: :func:`cost_of` one request's usage, and money as text.

Usage is structmagic's: ``prompt_tokens`` (all input, cached included), ``completion_tokens``
(the answer, reasoning included), and when the server says so ``cached_tokens`` (input read
from the provider's prompt cache, priced lower) and ``cache_write_tokens`` (Anthropic's cache
writes, priced higher).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .price import Price

__all__ = ["cost_of", "money", "result_spend", "spend_label"]


def cost_of(usage: Mapping[str, Any] | None, price: Price | None, *,
            batch_tier: bool = False) -> float | None:
    """USD for one request's ``usage`` at ``price``; None when either is unknown (no price,
    no token counts from the server, or no batch tier for ``batch_tier=True``)."""
    if price is None or not usage:
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    if prompt is None and completion is None:
        return None
    prompt, completion = prompt or 0, completion or 0
    rates = price.rates(prompt, batch_tier=batch_tier)
    if rates is None:
        return None
    inp, out, cached_rate, write_rate = rates
    cached = min(_count(usage.get("cached_tokens")) or 0, prompt)
    written = min(_count(usage.get("cache_write_tokens")) or 0, prompt - cached)
    plain = prompt - cached - written
    return (plain * inp + cached * cached_rate + written * write_rate
            + completion * out) / 1_000_000


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return int(value)


def money(value: float | None) -> str:
    """``"$0.0123"``, ``"$3.29"``, ``"$1,234.50"``; ``"price unknown"`` for None.

    Amounts under a dollar keep three significant digits (a row costs fractions of a cent).
    """
    if value is None:
        return "price unknown"
    if value <= 0:
        return "$0"
    if value >= 1:
        return f"${value:,.2f}"
    decimals = min(10, max(2, 2 - math.floor(math.log10(value))))
    text = f"{value:.{decimals}f}".rstrip("0")
    if len(text.split(".")[1]) < 2:
        text = f"{value:.2f}"
    return f"${text}"


def spend_label(cost: float | None, saved: float | None = None) -> str:
    """The cost of a call or batch for a header: ``"$0.0042"``, ``"$0 · $0.0042 saved"``."""
    text = money(cost)
    if saved:
        text += f" · {money(saved)} saved"
    return text


def result_spend(result: Any) -> str:
    """What a finished call cost, for the widget's header (``""`` before it finishes, and
    while the price table is still loading: the header never waits for it)."""
    if result is None or getattr(result, "error", None) is not None:
        return ""
    if getattr(result, "cost_pending", False):
        return ""
    cost, saved = getattr(result, "cost", None), getattr(result, "saved", None)
    if cost is None and not saved and not getattr(result, "usage", None):
        return ""
    return spend_label(cost, saved)
