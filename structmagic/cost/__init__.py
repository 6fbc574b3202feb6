"""Cost: pricing facts, and what a call or a request costs.

- :mod:`~structmagic.cost.price` — :class:`Price` (USD per million tokens) and reading your
  own prices (a leaf: the configuration checks prices through it);
- :mod:`~structmagic.cost.prices` — the price of a model: your prices
  (``configure(prices=...)``, ``%structured_config --price``) first, then the price table
  (``genai-prices``, the optional extra ``cost``); unknown is None, never a guess;
- :mod:`~structmagic.cost.calc` — :func:`cost_of` one request's usage (cached input, the
  batch tier), and money as text; :mod:`~structmagic.cost.spend` — what a call's answers
  cost, priced when first read;
- :mod:`~structmagic.cost.tokens` — the documented local token heuristics;
  :mod:`~structmagic.cost.media` — each provider's rule for images and PDF pages;
  :mod:`~structmagic.cost.count` — exact counts from a provider's count endpoint.

Estimating a column before it runs (:func:`structmagic.estimate`) and capping it while it
runs (``max_cost``) work on many rows, so they live with them: :mod:`structmagic.rows`.

::

    from structmagic import cost
    price = cost.price_for("anthropic", "claude-sonnet-4-5")      # Price or None
    cost.cost_of({"prompt_tokens": 900, "completion_tokens": 120}, price, batch_tier=True)
"""

from __future__ import annotations

from .calc import cost_of, money, spend_label
from .price import Price, parse_price, parse_prices
from .prices import price_for, table_info, warm
from .tokens import answer_tokens, count_body, count_text

__all__ = [
    "Price",
    "answer_tokens",
    "cost_of",
    "count_body",
    "count_text",
    "money",
    "parse_price",
    "parse_prices",
    "price_for",
    "spend_label",
    "table_info",
    "warm",
]
