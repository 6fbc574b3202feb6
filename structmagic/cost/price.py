"""A price: USD per million tokens, and reading the prices a user gives.

A leaf (it imports nothing of structmagic), so the configuration can check the prices given
to it (``configure(prices=...)``) without the price table: :class:`Price` and
:func:`parse_price` / :func:`parse_prices`. Looking prices up is :mod:`.prices`. One check of
a rate, :func:`rate`, for every price taken (yours, the magic's ``--price``, the table's): a
finite number of dollars >= 0, never a bool, NaN, an infinity or a string that is not a
number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["Price", "parse_price", "parse_prices", "rate", "usd"]


@dataclass(frozen=True)
class Price:
    """USD per million tokens.

    ``cached_input`` prices cache reads (None: as ``input``), ``cache_write`` Anthropic's cache
    writes (None: as ``input``); ``batch_input`` / ``batch_output`` the batch tier when the
    table has its own (None: ``batch_factor`` times the synchronous price; no factor: the
    provider has no batch API). ``tiers`` holds ``(start, input, output, cached_input)`` for
    prompts of more than ``start`` tokens. ``source`` says where the price comes from.
    """

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    batch_input: float | None = None
    batch_output: float | None = None
    batch_factor: float | None = None
    tiers: tuple[tuple[int, float, float, float | None], ...] = ()
    model: str = ""
    source: str = ""

    def rates(self, prompt_tokens: int, *, batch_tier: bool = False
              ) -> tuple[float, float, float, float] | None:
        """``(input, output, cached input, cache write)`` per million tokens for one request
        of ``prompt_tokens``; None when the batch tier is asked for and there is none."""
        inp, out, cached = self.input, self.output, self.cached_input
        for start, t_in, t_out, t_cached in self.tiers:
            if prompt_tokens > start:
                inp, out, cached = t_in, t_out, t_cached
        write = self.cache_write if self.cache_write is not None else inp
        cached = cached if cached is not None else inp
        if not batch_tier:
            return inp, out, cached, write
        if self.batch_input is not None and self.batch_output is not None and not self.tiers:
            return self.batch_input, self.batch_output, cached * _ratio(self), write
        if self.batch_factor is None:
            return None
        f = self.batch_factor
        return inp * f, out * f, cached * f, write * f

    def describe(self) -> str:
        """``"$0.15 in / $0.60 out per million tokens"``."""
        return f"{usd(self.input)} in / {usd(self.output)} out per million tokens"


def _ratio(price: Price) -> float:
    """The table's own batch discount (for the cached-input rate it does not give)."""
    if price.batch_input is not None and price.input:
        return price.batch_input / price.input
    return price.batch_factor or 1.0


def usd(value: float) -> str:
    """A price per million tokens, as vendors write it: ``$0.15``, ``$2.50``, ``$0.075``."""
    text = f"{value:.4f}".rstrip("0")
    if len(text.split(".")[1]) < 2:
        text = f"{value:.2f}"
    return f"${text}"


# --- your prices -----------------------------------------------------------------------------


def rate(value: Any) -> float | None:
    """``value`` as USD per million tokens: a finite number >= 0 (an int, a float, a
    NumPy number, a numeric string ``"0.15"``); None for anything else — a bool (NumPy's
    too: ``True`` is not a dollar), NaN, an infinity, a negative number, an int too large
    for a float, a string that is not a number."""
    if isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b":
        return None
    if not isinstance(value, str) and not hasattr(value, "__float__"):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _rate(key: str, value: Any) -> float:
    number = rate(value)
    if number is None:
        raise ValueError(f"{key} must be a finite number of USD per million tokens >= 0, "
                         f"not {value!r}")
    return number


def _checked(price: Price) -> Price:
    """A :class:`Price` given whole, each of its figures checked as :func:`parse_price`
    checks a number."""
    fields: dict[str, Any] = {"input": _rate("input", price.input),
                              "output": _rate("output", price.output)}
    for key in ("cached_input", "cache_write", "batch_input", "batch_output", "batch_factor"):
        value = getattr(price, key)
        fields[key] = None if value is None else _rate(key, value)
    tiers = []
    for tier in price.tiers:
        if not isinstance(tier, tuple) or len(tier) != 4 or isinstance(tier[0], bool) or not (
                isinstance(tier[0], int) and tier[0] >= 0):
            raise ValueError(f"tiers must be (start tokens, input, output, cached input) "
                             f"with a whole start >= 0, not {tier!r}")
        start, t_in, t_out, t_cached = tier
        tiers.append((start, _rate("a tier's input", t_in), _rate("a tier's output", t_out),
                      None if t_cached is None else _rate("a tier's cached input", t_cached)))
    return replace(price, tiers=tuple(tiers), **fields)


def parse_price(model: str, value: Any) -> Price:
    """A :class:`Price` from what a user may give for ``model``: ``(input, output)`` or
    ``(input, output, cached_input)`` in USD per million tokens, a ``"0.15,0.6"`` string, a
    dict with ``input`` / ``output`` (and ``cached_input``, ``batch_input``,
    ``batch_output``), or a :class:`Price`. ``ValueError`` for anything else."""
    if isinstance(value, Price):
        return replace(_checked(value), model=model,
                       source=value.source or f"your price for {model}")
    if isinstance(value, str):
        value = [v for v in value.replace(" ", "").split(",") if v != ""]
    fields: dict[str, Any]
    if isinstance(value, Mapping):
        unknown = set(value) - {"input", "output", "cached_input", "batch_input",
                                "batch_output"}
        if unknown:
            raise ValueError(f"unknown price field(s) {', '.join(sorted(map(str, unknown)))}")
        fields = dict(value)
    elif isinstance(value, (list, tuple)) and len(value) in (2, 3):
        fields = dict(zip(("input", "output", "cached_input"), value, strict=False))
    else:
        raise ValueError("give (input, output) in USD per million tokens, e.g. (0.15, 0.6)")
    clean = {key: _rate(key, v) for key, v in fields.items() if v is not None}
    if "input" not in clean or "output" not in clean:  # missing, or None
        raise ValueError("a price needs both input and output (USD per million tokens)")
    return Price(input=clean["input"], output=clean["output"],
                 cached_input=clean.get("cached_input"), batch_input=clean.get("batch_input"),
                 batch_output=clean.get("batch_output"), model=model,
                 source=f"your price for {model}")


def parse_prices(value: Any) -> dict[str, Price]:
    """``{model: Price}`` from a mapping of model names to prices (see :func:`parse_price`)."""
    if not isinstance(value, Mapping):
        raise ValueError("prices must be a dict of model name to (input, output) in USD per "
                         "million tokens")
    out: dict[str, Price] = {}
    for model, price in value.items():
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"a price's model name must be a non-empty string, not {model!r}")
        try:
            out[model.strip()] = parse_price(model.strip(), price)
        except ValueError as exc:
            raise ValueError(f"the price for {model!r}: {exc}") from None
    return out
