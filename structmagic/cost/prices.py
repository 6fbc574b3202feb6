"""Prices: your own (overrides) first, then the price table (the ``genai-prices`` package).

A :class:`~structmagic.cost.price.Price` is USD per million tokens: input, output, cached
input (cache reads), and the batch tier. :func:`price_for` finds the price of a model for a
provider:

1. your price for the model name (``structmagic.configure(prices={"my-model": (0.2, 0.8)})``,
   ``%structured_config --price my-model=0.2,0.8``): for relays, self-hosted models, or a
   negotiated rate;
2. the price table, which ``pip install 'structmagic[cost]'`` brings (``genai-prices``, with
   its data bundled: no network), looked up by the base URL's vendor (``api.deepseek.com``),
   then by the wire format's vendor (:attr:`Provider.price_table_id`), then by the model
   name alone, then — for a relay's ``vendor/model`` name (OpenRouter, LiteLLM) — by that
   name in OpenRouter's table and by the part after the slash;
3. otherwise the price is unknown (None): never a guess.

The batch tier: the table's batch price where it has one, else the synchronous price times
the provider's :attr:`~structmagic.providers.Provider.batch_price_factor` (half, for every
shipped provider). Prompts above a tier's start (e.g. 200k tokens) are priced at the tier.

Loading the table imports ``genai-prices`` (pydantic and about 1.6 MB of data, some 200 ms
of Python work): :func:`warm` does it in a background thread a second after the first
request starts (overlapping the wait for a real answer, or after a quick first cell), and a
call never waits for it: its answers are priced when ``Result.cost`` is first read (see
:mod:`structmagic.cost.spend`), which loads the table then if it has not loaded yet.
``%load_ext`` does not start it, so loading the extension stays light.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from importlib.util import find_spec
from typing import Any

from ..config import configured
from ..providers import get_provider
from .price import Price, rate

__all__ = [
    "clear_cache",
    "price_for",
    "table_available",
    "table_info",
    "table_ready",
    "unknown_price_hint",
    "warm",
    "when_loaded",
]

#: the package that holds the price table, and how to install it
TABLE_PACKAGE = "genai-prices"
INSTALL_HINT = "pip install 'structmagic[cost]'"


# --- the table ---------------------------------------------------------------------------------


class _Table:
    """The genai-prices data, loaded once (in a background thread, or on first use)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loaded = False
        self.snapshot: Any = None
        self.version = ""
        self.newest: date | None = None
        self.error: str | None = None
        self.thread: threading.Thread | None = None
        self.waiting: list[Callable[[], object]] = []  # called once loaded
        self.waiting_lock = threading.Lock()  # never held while the table loads

    def load(self) -> None:
        with self.lock:
            if self.loaded:
                return
            try:
                self._load()
            except ImportError:
                self.error = f"{TABLE_PACKAGE} is not installed ({INSTALL_HINT})"
            except Exception as exc:  # a broken install must not break a call
                self.error = f"{TABLE_PACKAGE} could not be loaded ({type(exc).__name__}: {exc})"
            self.loaded = True
        with self.waiting_lock:
            waiting, self.waiting = self.waiting, []
        for callback in waiting:
            # a display that could not update must not break the load
            with contextlib.suppress(Exception):
                callback()

    def _load(self) -> None:
        from importlib.metadata import version

        from genai_prices import data_snapshot

        self.snapshot = data_snapshot.get_snapshot()
        self.version = version(TABLE_PACKAGE)
        self.newest = _newest_price_date(self.snapshot.providers)


_table = _Table()
_cache: dict[tuple[Any, ...], Price | None] = {}
_cache_lock = threading.Lock()


def table_available() -> bool:
    """Whether the price table's package is installed (without importing it)."""
    try:
        return find_spec("genai_prices") is not None
    except (ImportError, ValueError):
        return False


def table_ready() -> bool:
    """Whether a price can be looked up now without waiting for the table to load."""
    return _table.loaded or not table_available()


#: seconds after the first request before the table loads in the background
WARM_DELAY = 1.0


def warm(delay: float = WARM_DELAY) -> None:
    """Load the price table in a background thread, ``delay`` seconds from now (once); a
    no-op without the package.

    The load is some 200 ms of Python work, which would compete for the GIL with whatever
    the kernel does at the same moment; a second after the first request it overlaps the
    wait for a real answer, or comes once the first cell has finished.
    """
    if _table.loaded or _table.thread is not None or not table_available():
        return
    with _cache_lock:
        if _table.thread is not None:
            return
        timer = threading.Timer(delay, _table.load)
        timer.name, timer.daemon = "structmagic-prices", True
        _table.thread = timer
        timer.start()


def when_loaded(callback: Callable[[], object]) -> None:
    """Call ``callback`` once the price table has loaded: now when it has (or when there
    is no table), else from the thread that loads it (started now if none is due)."""
    with _table.waiting_lock:
        pending = not table_ready()
        if pending:
            _table.waiting.append(callback)
    if pending:
        warm(0.0)
    else:
        callback()


def table_info() -> str:
    """``"genai-prices 0.2.3 (newest price dated 2026-12-01)"``, or why there is no table."""
    _table.load()
    if _table.error:
        return _table.error
    when = f" (newest price dated {_table.newest.isoformat()})" if _table.newest else ""
    return f"{TABLE_PACKAGE} {_table.version}{when}"


def _newest_price_date(providers: Any) -> date | None:
    """The newest start date among the table's dated prices that has come (its data's date)."""
    today = datetime.now(UTC).date()
    newest: date | None = None
    seen: set[int] = set()
    stack: list[Any] = list(providers)
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        start = getattr(obj, "start_date", None)
        if isinstance(start, date) and start <= today and (newest is None or start > newest):
            newest = start
        for name in ("models", "prices", "price_variants", "constraint"):
            child = getattr(obj, name, None)
            if isinstance(child, list):
                stack.extend(child)
            elif child is not None and not isinstance(child, (str, int, float)):
                stack.append(child)
    return newest


def clear_cache() -> None:
    """Forget the prices looked up so far (after the table or your prices changed)."""
    with _cache_lock:
        _cache.clear()


def price_for(provider: Any, model: str, *, base_url: str | None = None,
              overrides: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model`` through ``provider`` (a name or a Provider), or None.

    ``overrides`` are your prices (default: the configured ones, ``configure(prices=...)``).
    """
    if overrides is None:

        overrides = configured().get("prices") or {}
    model = (model or "").strip()
    if not model:
        return None
    if isinstance(provider, str):

        provider = get_provider(provider)
    table_id = getattr(provider, "price_table_id", None)
    factor = getattr(provider, "batch_price_factor", None)
    mine = overrides.get(model) or overrides.get(model.lower())
    if mine is not None:  # the batch tier: yours, else the provider's share of your price
        return mine if mine.batch_factor is not None else replace(mine, batch_factor=factor)
    # A price in effect now: time-of-day prices (some vendors' off-peak hours) stay current.
    slot = int(time.time() // 1800)
    key = (table_id, factor, model, base_url, slot)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    found = _lookup(model, table_id, base_url)
    price = None if found is None else _price(found, model, factor)
    with _cache_lock:
        if len(_cache) > 512:
            _cache.clear()
        _cache[key] = price
    return price


def unknown_price_hint(model: str) -> str:
    """What to do about a model without a price."""
    where = table_info()
    return (f"price unknown for model {model!r} (not in {where}); set one: "
            f"%structured_config --price {model}=INPUT,OUTPUT (USD per million tokens) or "
            f"structmagic.configure(prices={{{model!r}: (INPUT, OUTPUT)}})")


def _lookup(model: str, table_id: str | None, base_url: str | None) -> Any:
    """``(provider, model info)`` from the table, or None."""
    _table.load()
    snap = _table.snapshot
    if snap is None:
        return None
    tries: list[tuple[str, str | None, str | None]] = []
    if base_url:
        tries.append((model, None, base_url))
    if table_id:
        tries.append((model, table_id, None))
    tries.append((model, None, None))
    if "/" in model:
        tries.append((model, "openrouter", None))
        tail = model.rsplit("/", 1)[1]
        if tail:
            if table_id:
                tries.append((tail, table_id, None))
            tries.append((tail, None, None))
    for ref, pid, url in tries:
        try:
            return snap.find_provider_model(ref, None, pid, url)
        except LookupError:
            continue
        except Exception:  # the table's own error on odd input: treat as not found
            continue
    return None


def _price(found: Any, model: str, factor: float | None) -> Price | None:
    table_provider, info = found
    now = datetime.now(UTC)
    try:
        std = info.get_prices(now)
        batch = info.get_prices(now, {"processing": "batch"})
    except Exception:
        return None
    inp, out = _number(getattr(std, "input_mtok", None)), _number(getattr(std, "output_mtok", None))
    if inp is None or out is None:
        return None
    b_in, b_out = _number(getattr(batch, "input_mtok", None)), _number(
        getattr(batch, "output_mtok", None))
    has_batch = (b_in, b_out) != (inp, out) and b_in is not None and b_out is not None
    tiers: dict[int, list[float | None]] = {}
    for slot, name in enumerate(("input_mtok", "output_mtok", "cache_read_mtok")):
        value = getattr(std, name, None)
        for tier in getattr(value, "tiers", None) or ():
            start, price = getattr(tier, "start", None), rate(getattr(tier, "price", None))
            if isinstance(start, bool) or not isinstance(start, int) or start < 0 or (
                    price is None):
                return None  # a tier we cannot read: no price rather than a wrong one
            tiers.setdefault(start, [None, None, None])[slot] = price
    tier_rows = tuple(
        (start, t[0] if t[0] is not None else inp, t[1] if t[1] is not None else out, t[2])
        for start, t in sorted(tiers.items()))
    name = str(getattr(table_provider, "name", None) or getattr(table_provider, "id", ""))
    return Price(
        input=inp, output=out,
        cached_input=_number(getattr(std, "cache_read_mtok", None)),
        cache_write=_number(getattr(std, "cache_write_mtok", None)),
        batch_input=b_in if has_batch else None,
        batch_output=b_out if has_batch else None,
        batch_factor=factor,
        tiers=tier_rows,
        model=model,
        source=f"{TABLE_PACKAGE} {_table.version}: {name} {info.id}",
    )


def _number(value: Any) -> float | None:
    """A price as a float (a tiered price's base); None when absent or not a price
    (:func:`~structmagic.cost.price.rate`)."""
    if value is None:
        return None
    return rate(getattr(value, "base", value))
