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
  :mod:`~structmagic.cost.media` — each provider's rule for images and PDF pages, and
  :func:`~structmagic.cost.media.request_tokens`, the one count of a request's input tokens
  for every estimate and cap;
  :mod:`~structmagic.cost.count` — exact counts from a provider's count endpoint.

Estimating a column before it runs (:func:`structmagic.estimate`) and capping it while it
runs (``max_cost``) work on many rows, so they live with them: :mod:`structmagic.rows`.

This package's ``__init__`` imports nothing, so that :mod:`~structmagic.cost.price` stays a
leaf the configuration can use; import what you need from its modules::

    from structmagic.cost.calc import cost_of
    from structmagic.cost.prices import price_for
    price = price_for("anthropic", "claude-sonnet-4-5")           # Price or None
    cost_of({"prompt_tokens": 900, "completion_tokens": 120}, price, batch_tier=True)
"""

from __future__ import annotations

__all__ = ["calc", "count", "media", "price", "prices", "spend", "tokens"]
