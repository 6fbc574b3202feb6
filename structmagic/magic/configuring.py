"""``%structured_config``: show the effective settings (the key masked), or set some.

A setting is set through the magics' trait of the same name (so ``%config`` and this magic
agree), your prices with ``--price MODEL=IN,OUT``, and the key with ``--key`` (typed without
echo). Every value is checked before any is set: a bad one changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from IPython.core.error import UsageError

from ..config import configure, configured, resolve
from ..cost.price import parse_price
from ..cost.prices import table_info
from ..errors import StructuredError
from .keys import prompt_key
from .options import ConfigOptions

__all__ = ["apply_config", "new_prices", "settings_text"]


def apply_config(magics: Any, opts: ConfigOptions) -> None:
    """Set what ``opts`` gives and say which; with nothing given, print every setting."""
    prices = new_prices(opts.prices)  # a bad price sets nothing
    for name, value in opts.settings.items():
        setattr(magics, name, value)  # the trait, which configures it
    changed = list(opts.settings)
    if prices is not None:
        configure(prices=prices or None)
        changed += [f"price of {spec.rpartition('=')[0].strip()}" for spec in opts.prices]
    if opts.key:
        prompt_key(magics.shell, "API key")
        changed.append("api_key")
    if changed:
        print(f"structmagic: set {', '.join(changed)} (%structured_config shows all)")
    else:
        print(settings_text())


def settings_text() -> str:
    """Every setting, one a line, the key shown only as where it comes from."""
    try:
        shown = resolve().masked()
    except StructuredError as exc:
        raise UsageError(str(exc)) from None
    shown["price_table"] = table_info()
    width = max(len(k) for k in shown)
    lines = ["structmagic settings:"]
    lines += [f"  {name.ljust(width)}  {shown[name]}" for name in sorted(shown)]
    return "\n".join(lines)


def new_prices(specs: Sequence[str]) -> dict[str, Any] | None:
    """Your prices after ``--price MODEL=IN,OUT[,CACHED]`` (``MODEL=`` removes one), or None
    when no ``--price`` was given; a UsageError for a bad one."""
    if not specs:
        return None
    prices = dict(configured().get("prices") or {})
    for spec in specs:
        model, sep, rates = spec.rpartition("=")
        model = model.strip()
        if not sep or not model:
            raise UsageError(f"--price needs MODEL=INPUT,OUTPUT (USD per million tokens), "
                             f"not {spec!r}.")
        if not rates.strip():
            prices.pop(model, None)
            continue
        try:
            prices[model] = parse_price(model, rates)
        except ValueError as exc:
            raise UsageError(f"--price {spec}: {exc}.") from None
    return prices
