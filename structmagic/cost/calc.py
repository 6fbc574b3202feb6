"""What tokens cost: :func:`cost_of` one request's usage, and money as text.

Usage is structmagic's: ``prompt_tokens`` (all input, cached included), ``completion_tokens``
(the answer, reasoning included), and when the server says so ``cached_tokens`` (input read
from the provider's prompt cache, priced lower) and ``cache_write_tokens`` (Anthropic's cache
writes, priced higher; ``cache_write_1h_tokens`` of them were written for an hour, at twice
the input price). A usage whose counts were not understood
(:data:`~structmagic.providers.base.NOT_UNDERSTOOD`), or any count that is not a number of
tokens (a bool, a string, NaN, infinite, negative, too large for a float), has no cost: None,
never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..providers.base import NOT_UNDERSTOOD
from .price import Price

__all__ = ["cache_saving", "cost_of", "money", "result_spend", "spend_label"]

#: Claude's price of an hour-long cache write, as a multiple of the input price
HOUR_WRITE = 2.0


def cost_of(usage: Mapping[str, Any] | None, price: Price | None, *,
            batch_tier: bool = False) -> float | None:
    """USD for one request's ``usage`` at ``price``; None when either is unknown (no price,
    no token counts from the server, or no batch tier for ``batch_tier=True``)."""
    if price is None or not usage or usage.get(NOT_UNDERSTOOD):
        return None
    counts: dict[str, float] = {}
    for key in ("prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens",
                "cache_write_1h_tokens"):
        value = usage.get(key)
        if value is None:
            continue
        count = _count(value)
        if count is None:  # a count that is not one: the usage is not understood
            return None
        counts[key] = count
    if "prompt_tokens" not in counts and "completion_tokens" not in counts:
        return None
    prompt, completion = counts.get("prompt_tokens", 0.0), counts.get("completion_tokens", 0.0)
    rates = price.rates(int(prompt), batch_tier=batch_tier)
    if rates is None:
        return None
    inp, out, cached_rate, write_rate = rates
    cached = min(counts.get("cached_tokens", 0.0), prompt)
    written = min(counts.get("cache_write_tokens", 0.0), prompt - cached)
    hour = min(counts.get("cache_write_1h_tokens", 0.0), written)  # of them, an hour long
    plain = prompt - cached - written
    total = (plain * inp + cached * cached_rate + (written - hour) * write_rate
             + hour * inp * HOUR_WRITE + completion * out) / 1_000_000
    return total if math.isfinite(total) else None


def cache_saving(usage: Mapping[str, Any] | None, price: Price | None, *,
                 batch_tier: bool = False) -> float | None:
    """USD the provider's prompt cache saved on one request: its cost with every input token
    at the input price, less its cost (negative when cache writes cost more than reads
    saved); None when either cost is unknown, 0.0 when nothing was read or written."""
    if not usage or not (usage.get("cached_tokens") or usage.get("cache_write_tokens")):
        return 0.0 if usage and not usage.get(NOT_UNDERSTOOD) else None
    plain = {k: v for k, v in usage.items() if not k.startswith("cache")}
    paid = cost_of(usage, price, batch_tier=batch_tier)
    without = cost_of(plain, price, batch_tier=batch_tier)
    return None if paid is None or without is None else without - paid


def _count(value: Any) -> float | None:
    """A number of tokens as a float (a fraction rounds down); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        count = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return float(math.floor(count)) if math.isfinite(count) and count >= 0 else None


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
    usage = getattr(result, "usage", None)
    if cost is None and not saved and not usage:
        return ""
    if cost is None and isinstance(usage, Mapping) and usage.get(NOT_UNDERSTOOD):
        return "usage not understood"
    return spend_label(cost, saved)
