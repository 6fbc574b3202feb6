"""What a batch job's rows cost at the batch price tier.

The one place batch jobs ask for prices: :class:`BatchPricer` looks up the price of the
job's settings once — your prices (configured, and any given for the call: ``submit_batch(...,
prices=...)``) first, then the price table by the base URL's vendor, as
:func:`structmagic.cost.prices.price_for` does for every call — and prices each request on
its own (price tiers are per request) with :func:`structmagic.cost.calc.cost_of`. Unknown is
None, never a guess; the progress bar then leaves its cost slot empty. A pricing problem
never stops a batch.

:func:`expected_cost` is what a job is expected to cost while it runs: each row's input
tokens (:func:`row_tokens`: counted as every estimate and cap counts them, its images and
documents by the provider's rule, never their data at 4 characters a token) priced on its
own, and summed — a lower bound, since no answer is counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...cost.calc import cost_of
from ...cost.media import inputs_tokens
from ...cost.prices import price_for
from ...inputs.measure import measure_part

if TYPE_CHECKING:
    from ...config import Settings
    from ...cost.price import Price
    from ...inputs.parts import InputLimits, Part

__all__ = ["BatchPricer", "expected_cost", "row_tokens"]

log = logging.getLogger("structmagic")


class BatchPricer:
    """The batch-tier cost of one request's usage, for the job of ``settings``: the price
    looked up once (a job's rows share it); ``price`` None when none is known."""

    def __init__(self, settings: Settings) -> None:
        self.price: Price | None = None
        try:
            self.price = price_for(settings.provider, settings.model,
                                   base_url=settings.base_url, overrides=settings.prices)
        except Exception as exc:  # an optional figure: never a reason to fail a batch
            log.debug("no batch price for %s %s: %s", settings.provider, settings.model, exc)

    def __call__(self, usage: Mapping[str, Any] | None) -> float | None:
        if self.price is None:
            return None
        try:
            return cost_of(usage, self.price, batch_tier=True)
        except Exception as exc:  # pragma: no cover - cost_of is total on its input
            log.debug("no batch cost for %s: %s", usage, exc)
            return None


def row_tokens(tokens: int, parts: Sequence[Part], limits: InputLimits) -> int:
    """A row's input tokens: ``tokens``, its request's text as :func:`build_line
    <structmagic.rows.jobs.lines.build_line>` counts it (the data of its images and
    documents left out), plus its ``parts`` by the provider's rule (``limits``) — the count
    of :func:`structmagic.cost.media.request_tokens`, as every estimate and cap makes it."""
    return tokens + inputs_tokens((measure_part(part) for part in parts), limits)


def expected_cost(pricer: BatchPricer, tokens: Iterable[int]) -> float | None:
    """The batch-tier cost of rows of ``tokens`` input tokens each, each priced on its own
    (no answer counted: a lower bound); None when no price is known."""
    if pricer.price is None:
        return None
    total = 0.0
    for n in tokens:
        cost = pricer({"prompt_tokens": n, "completion_tokens": 0})
        if cost is None:
            return None
        total += cost
    return total
