"""Cost accounting: known before a column runs, capped while it runs, shown after.

- :mod:`~structmagic.cost.prices` — the price of a model: your prices
  (``configure(prices=...)``, ``%structured_config --price``) first, then the price table
  (``genai-prices``, the optional extra ``cost``); unknown is None, never a guess;
- :mod:`~structmagic.cost.calc` — :func:`cost_of` one request's usage (cached input, the
  batch tier), and money as text;
- :mod:`~structmagic.cost.tokens` — the documented local token heuristics;
  :mod:`~structmagic.cost.count` — exact counts from a provider's count endpoint;
- :mod:`~structmagic.cost.estimator` — :func:`estimate` a column before it runs;
- :mod:`~structmagic.cost.budget` — ``max_cost``: a batch stops before it would pass its cap.

The small API other parts use (the batch API's expected cost among them)::

    from structmagic import cost
    price = cost.price_for("anthropic", "claude-sonnet-4-5")      # Price or None
    cost.cost_of({"prompt_tokens": 900, "completion_tokens": 120}, price, batch_tier=True)
    cost.estimate(prompts, schema, model=..., max_tokens=...)     # nothing sent
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = [
    "NOT_RUN",
    "Budget",
    "Estimate",
    "NotRun",
    "Price",
    "Range",
    "answer_tokens",
    "cost_of",
    "count_body",
    "count_text",
    "estimate",
    "money",
    "parse_price",
    "parse_prices",
    "price_for",
    "spend_label",
    "table_info",
    "warm",
]

# Loaded on first use: a Result imports only what prices a call (spend, calc, prices).
_WHERE = {
    "NOT_RUN": "budget", "Budget": "budget", "NotRun": "budget",
    "Estimate": "estimator", "Range": "estimator", "estimate": "estimator",
    "Price": "price", "parse_price": "price", "parse_prices": "price",
    "price_for": "prices", "table_info": "prices", "warm": "prices",
    "cost_of": "calc", "money": "calc", "spend_label": "calc",
    "answer_tokens": "tokens", "count_body": "tokens", "count_text": "tokens",
}

if TYPE_CHECKING:
    from .budget import NOT_RUN, Budget, NotRun
    from .calc import cost_of, money, spend_label
    from .estimator import Estimate, Range, estimate
    from .price import Price, parse_price, parse_prices
    from .prices import price_for, table_info, warm
    from .tokens import answer_tokens, count_body, count_text


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'structmagic.cost' has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
