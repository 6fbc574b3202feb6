"""What a call's answers cost, priced when first asked.

The price table may still be loading when an answer arrives (it loads in the background
while the first request is out): a :class:`Spend` keeps each answer's usage, and
:meth:`Spend.resolve` prices them when the cost is first read — at once when the price is
already known (your price, or the table loaded), else after the table has loaded. So a
call never waits for the price table; reading ``Result.cost`` may, once per kernel.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from .calc import cache_saving, cost_of
from .price import Price
from .prices import price_for, table_ready

__all__ = ["Lazy", "Spend"]


class Spend:
    """The usage of each answer of one call (from the recording or not), and how to price it."""

    __slots__ = ("_lock", "answers", "base_url", "model", "overrides", "provider")

    def __init__(self, provider: str, model: str, base_url: str | None,
                 overrides: Mapping[str, Price] | None) -> None:
        self.provider, self.model, self.base_url = provider, model, base_url
        self.overrides = dict(overrides or {})
        self.answers: list[tuple[dict[str, int], bool]] = []
        self._lock = threading.Lock()

    def add(self, usage: Mapping[str, int], from_recording: bool) -> None:
        with self._lock:
            self.answers.append((dict(usage), from_recording))

    def joined(self, others: list[Spend]) -> Spend:
        """A spend of this one's answers and ``others``' (priced as this one's model)."""
        out = Spend(self.provider, self.model, self.base_url, self.overrides)
        for spend in (self, *others):
            with spend._lock:
                out.answers.extend(spend.answers)
        return out

    def ready(self) -> bool:
        """Whether :meth:`resolve` can price without waiting for the table to load."""
        return self.model in self.overrides or table_ready()

    def resolve(self) -> tuple[float | None, float | None, float | None]:
        """``(cost, saved, cache_saved)``: the live answers' cost (None when any is unknown;
        0 when all came from the recording), what the recorded ones would have cost (None:
        none), and what the provider's prompt cache saved on the live ones
        (:func:`~structmagic.cost.calc.cache_saving`; None when unknown)."""
        price = price_for(self.provider, self.model, base_url=self.base_url,
                          overrides=self.overrides)
        cost: float | None = 0.0
        saved: float | None = None
        by_cache: float | None = 0.0
        with self._lock:
            answers = list(self.answers)
        for usage, recorded in answers:
            spent = cost_of(usage, price)
            if recorded:
                if spent is not None:
                    saved = (saved or 0.0) + spent
                continue
            if cost is not None:
                cost = None if spent is None else cost + spent
            if by_cache is not None:
                gain = cache_saving(usage, price)
                by_cache = None if gain is None else by_cache + gain
        return cost, saved, by_cache


class Lazy:
    """A ``float | None`` field of a Result worked out on first read (see :class:`Spend`):
    reading it settles the result's pending spend; assigning it sets it."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: object | None, objtype: Any = None) -> float | None:
        if obj is None:
            return None  # the dataclass default
        settle = getattr(obj, "_settle", None)
        if settle is not None:
            settle()
        value: float | None = obj.__dict__.get(self.slot)
        return value

    def __set__(self, obj: object, value: float | None) -> None:
        obj.__dict__[self.slot] = value
