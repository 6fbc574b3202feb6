"""What a column will cost, before it runs: :func:`estimate`.

By default nothing is sent. For every row the request is built exactly as it would go out
(the first way of asking of the provider's ladder), and its input tokens are counted:

- locally, by the heuristic of :mod:`structmagic.cost.tokens` (low / high: -20% / +25%),
  and each row's images and PDFs by the provider's own rule (:mod:`structmagic.cost.media`);
- exactly, with ``exact=True`` (``--exact``), by the provider's token-count endpoint (one
  free request a row; Chat Completions has none);
- calibrated, with ``sample=K`` (``--sample K``): K rows spread evenly over the column are
  really run (and paid for, or answered from the cassette in ``cache`` mode), and the ratio
  of their real input tokens to the local count scales every row.

Output tokens come from the sample's real answers (mean ± two standard errors, re-asks
included), else from the schema's shape (low: a minimal answer; expected: a typical one),
capped by ``max_tokens``, which is also the high end (without a sample or ``max_tokens``
there is no high end: nothing bounds an answer). The cost range is given for the ordinary
(threaded) path and for the provider's batch API (its batch tier, half price for every
shipped provider). Prompt caching is not assumed (it can only make the run cheaper).
"""

from __future__ import annotations

import math
import statistics
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import errors as E
from ..api import guarded, interrupted
from ..call.caching import ExpectedCache, expected_cache, shared_prefix
from ..call.media import Media, per_item
from ..call.plan import Asking
from ..config import resolve
from ..cost.calc import cost_of, money
from ..cost.count import count_tokens, has_count_endpoint, no_count_endpoint
from ..cost.media import input_tokens, request_tokens
from ..cost.price import Price
from ..cost.prices import price_for, table_info
from ..cost.tokens import answer_tokens
from ..display.markup import BLOCK, FG, FG_MUTED, NO_MATH, TEXT_STYLE, esc
from ..inputs.measure import measure_inputs
from ..providers import get_provider
from ..schema import load_schema
from ..transport.request import build
from .frame import rows_of
from .threads import run_threads
from .unique import Repeats

if TYPE_CHECKING:
    from ..call.result import Result
    from ..config import Settings
    from ..inputs.measure import Measured
    from ..inputs.parts import Part
    from ..providers import Provider
    from ..providers.base import Call
    from ..schema import SchemaSpec

__all__ = ["Estimate", "Range", "estimate", "exact_total", "local_estimate", "row_calls"]

#: the local count's band: a vendor's tokenizer is rarely further off on prose
LOCAL_LOW, LOCAL_HIGH = 0.8, 1.25


@dataclass(frozen=True)
class Range:
    """Low, expected and high figures (high None: unbounded)."""

    low: float
    expected: float
    high: float | None

    def scaled(self, k: float) -> Range:
        return Range(self.low * k, self.expected * k, None if self.high is None else
                     self.high * k)


@dataclass
class Estimate:
    """What a column will cost: rows, tokens, the price, and cost ranges (USD).

    ``cost`` is the ordinary (threaded) path; ``batch_cost`` the provider's batch API (None
    without one, or without a price); both None when the price is unknown. ``sample`` holds
    the sampled rows' results (their real ``cost``), ``sample_cost`` what they cost.
    ``unique`` counts the rows that will be sent: the others repeat one of them, and get a
    copy of its answer for nothing (``dedup``); the tokens and costs are those of the
    ``unique`` rows.
    """

    rows: int
    schema_name: str
    provider: str
    model: str
    input_tokens: Range
    output_tokens: Range
    input_from: str
    output_from: str
    price: Price | None
    table: str
    cost: Range | None
    batch_cost: Range | None
    batch_note: str = ""
    #: the provider's prompt cache: expected tokens read and written (all rows), in words,
    #: and the cost without it (None: nothing expected from it)
    cache_reads: float = 0.0
    cache_writes: float = 0.0
    cache_note: str = ""
    uncached_cost: Range | None = None
    sample: list[Result] = field(default_factory=list, repr=False)
    sample_cost: float | None = None
    sample_saved: float | None = None
    sent: str = "nothing was sent"
    unique: int | None = None

    def __post_init__(self) -> None:
        if self.unique is None:
            self.unique = self.rows

    def __repr__(self) -> str:
        expected = money(self.cost.expected) if self.cost else "price unknown"
        return (f"<Estimate {self.rows} rows of {self.schema_name}: {expected} expected, "
                f"model {self.model}>")

    def head(self) -> str:
        """The first line: what is estimated (``7,000 unique of 10,000 rows`` when rows
        repeat others: those are sent once)."""
        rows = f"{_n(self.rows)} {'row' if self.rows == 1 else 'rows'}"
        if self.unique is not None and self.unique < self.rows:
            rows = f"{_n(self.unique)} unique of {rows}"
        return (f"Estimate for {rows} of {self.schema_name} (model {self.model}, "
                f"{self.provider} format):")

    def items(self) -> list[tuple[str, str, str]]:
        """The figures as ``(what, value, where from)`` rows, shared by the text and the
        table (``what`` empty: the value goes on with the row above; the last row, with no
        ``what``, says what was sent or what the sample cost)."""
        out = [("input tokens", _tokens(self.input_tokens), self.input_from),
               ("output tokens", _tokens(self.output_tokens), self.output_from)]
        if self.price is None:
            out.append(("price", f"unknown for {self.model} (not in {self.table})", ""))
            out.append(("", f"set one: %structured_config --price {self.model}=INPUT,OUTPUT "
                            "(USD per million tokens)", ""))
        else:
            source = self.price.source
            if not (source.startswith(self.table.split(" (")[0]) or source.startswith("your")):
                source += f"; {self.table}"
            out.append(("price", self.price.describe(), source))
        if self.cache_note:
            figures = (f"~{_n(self.cache_reads)} read, ~{_n(self.cache_writes)} written"
                       if self.cache_reads or self.cache_writes else "none expected")
            out.append(("prompt cache", figures, self.cache_note))
        if self.cost is not None:
            out.append(("cost", _money_range(self.cost), "with the prompt cache"
                        if self.uncached_cost is not None else ""))
        if self.uncached_cost is not None:
            out.append(("without cache", _money_range(self.uncached_cost), ""))
        if self.batch_cost is not None:
            out.append(("batch API", _money_range(self.batch_cost), self.batch_note))
        elif self.price is not None and self.batch_note:
            out.append(("batch API", self.batch_note, ""))
        if self.sample:
            spent = money(self.sample_cost)
            saved = f", {money(self.sample_saved)} saved by the recording" if (
                self.sample_saved) else ""
            out.append(("", f"the sample of {len(self.sample)} rows cost {spent}{saved}", ""))
        else:
            out.append(("", self.sent, ""))
        return out

    def text(self) -> str:
        """The estimate as lines of text (what the magic prints)."""
        lines = [self.head()]
        for what, value, origin in self.items():
            note = f"  ({origin})" if origin else ""
            if what:
                lines.append(f"  {what:<15}{value}{note}")
            elif value.startswith("set one"):
                lines.append(f"  {'':<15}{value}")
            else:
                lines.append(f"  {value}")
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text())

    def _repr_html_(self) -> str:
        """A table (what, figures, where from), which wraps between words at any width; the
        same as :meth:`text`, escaped."""
        cell = f"padding:0.15em 0.8em 0.15em 0;vertical-align:top;text-align:left;{TEXT_STYLE}"
        rows = "".join(
            f'<tr><th scope="row" style="{cell}text-align:left;font-weight:600;'
            f'white-space:nowrap">{esc(what)}</th><td style="{cell}">{esc(value)}</td>'
            f'<td style="{cell}color:{FG_MUTED}">{esc(origin)}</td></tr>'
            if what or value.startswith("set one") else
            f'<tr><td colspan="3" style="{cell}color:{FG_MUTED}">{esc(value)}</td></tr>'
            for what, value, origin in self.items())
        return (f'<div class="structmagic-estimate {NO_MATH}" style="{BLOCK}color:{FG}">'
                f'<div style="font-weight:600">{esc(self.head())}</div>'
                f'<table style="border-collapse:collapse;margin:0.2em 0 0 0.8em">'
                f"<tbody>{rows}</tbody></table></div>")


def _n(value: float) -> str:
    return f"{round(value):,}"


def _tokens(r: Range) -> str:
    high = "no bound" if r.high is None else _n(r.high)
    if r.low == r.expected == r.high:
        return _n(r.expected)
    return f"low {_n(r.low)} · expected {_n(r.expected)} · high {high}"


def _money_range(r: Range) -> str:
    high = "no bound (give --max-tokens or --sample K)" if r.high is None else money(r.high)
    return f"low {money(r.low)} · expected {money(r.expected)} · high {high}"


# --- the requests of the rows ----------------------------------------------------------------


def row_calls(prompts: Sequence[Any], spec: SchemaSpec, settings: Settings,
              provider: Provider, parts: Callable[[int], Sequence[Part]] | None = None,
              positions: Iterable[int] | None = None) -> Iterator[Call]:
    """The first request of each row (of those at ``positions``, by default all), as the
    request loop would send it, one at a time (with each row's images and documents,
    ``parts(position)``, when given)."""
    asking = Asking(spec, settings, provider)
    for i in range(len(prompts)) if positions is None else positions:
        yield _row(i, lambda i=i: asking.first(prompts[i], parts(i) if parts else ()))


def exact_total(calls: Iterable[Call], settings: Settings, provider: Provider,
                concurrency: int) -> int:
    """The provider's own input-token count of the requests, summed (``concurrency`` at a
    time, the requests made as they are counted)."""
    if not has_count_endpoint(provider):
        raise no_count_endpoint(provider)
    total = 0
    pending: set[Future[int]] = set()
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency),
                              thread_name_prefix="structmagic-count")
    try:
        for call in calls:
            pending.add(pool.submit(count_tokens, call, settings, provider))
            if len(pending) >= 2 * concurrency:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                total += sum(f.result() for f in finished)
        return total + sum(f.result() for f in pending)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def spread(n: int, k: int) -> list[int]:
    """``k`` row indices spread evenly over ``n`` rows (the first row always among them)."""
    k = max(0, min(k, n))
    return sorted({(i * n) // k for i in range(k)}) if k else []


# --- the estimate ----------------------------------------------------------------------------


def estimate(prompts: Iterable[Any], schema: Any, *, images: Sequence[Any] | None = None,
             files: Sequence[Any] | None = None, detail: str | None = None,
             inline: bool = False, downscale: bool = True, sample: int = 0,
             exact: bool = False, concurrency: int = 16, **options: Any) -> Estimate:
    """Estimate what running ``schema`` over ``prompts`` will cost, without running it.

    Options are those of :func:`structmagic.batch` (``model``, ``provider``, ``max_tokens``,
    ``prices`` ...), and so are ``images`` / ``files`` (one entry per prompt) and
    ``detail``: locally, an image counts by its size as the provider counts it and a PDF by
    its pages (:mod:`structmagic.cost.media`). ``exact=True`` counts input tokens with the
    provider's count endpoint; ``sample=K`` runs K rows (spread over the column) and
    extrapolates from their real usage. Rows that repeat an earlier row are not counted:
    the run sends them once (``dedup``; the estimate says "N unique of M rows"). The rows
    are read one at a time, each request built, counted and let go: a million rows take a
    few tens of MB. Returns an :class:`Estimate`; raises a
    :class:`~structmagic.StructuredError` on bad input, before any request.
    """

    items = rows_of(prompts, "prompts")
    each_row = {name: per_item(name, value, len(items))
                for name, value in (("images", images), ("files", files))}
    each_row["source"] = per_item("source", options.get("source"), len(items),
                                  entry="a text, or None")
    media = Media(detail=detail, inline=inline, downscale=downscale)
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 0:
        raise E.ConfigError(f"sample must be a whole number of rows >= 0, not {sample!r}.")
    # what does not change what is sent (grounding is computed here, from the answers)
    for name in ("stream", "steps_field", "on_partial", "on_progress", "max_cost", "source"):
        options.pop(name, None)
    pacing: dict[str, Any] = {name: options.pop(name) for name in (
        "max_requests_per_minute", "max_tokens_per_minute") if name in options}
    spec = load_schema(schema)
    settings = resolve(options)
    options = {**options, **pacing}  # the sample's batch paces like any other
    provider = get_provider(settings.provider)

    def work() -> Estimate:
        return _estimate(items, spec, settings, provider, sample=sample, exact=exact,
                         concurrency=concurrency, options=options, each_row=each_row,
                         media=media)

    try:
        return guarded(work)
    except KeyboardInterrupt:

        raise interrupted() from None


def _estimate(items: Sequence[Any], spec: SchemaSpec, settings: Settings, provider: Provider,
              *, sample: int, exact: bool, concurrency: int, options: Mapping[str, Any],
              each_row: Mapping[str, Sequence[Any]], media: Any) -> Estimate:
    images, files = each_row["images"], each_row["files"]
    repeats = Repeats.of(len(items), settings.dedup, items, images, files, each_row["source"])
    positions: Sequence[int] = range(len(items))
    if repeats.any:  # the rows the run sends
        positions = array("q", (p for p in positions if repeats.original(p) == p))
    picks = [positions[j] for j in spread(len(positions), sample)]
    with_media = any(v is not None for v in images) or any(v is not None for v in files)
    tally = _Tally(set(picks))
    for p, call in zip(positions, row_calls(items, spec, settings, provider,
                                            positions=positions), strict=True):
        measured = _row(p, lambda p=p: measure_inputs(images[p], files[p],
                                                      detail=media.detail)
                        ) if with_media else ()
        tally.add(p, request_tokens(build(call, settings, provider)[1], measured,
                                    provider.inputs), measured, provider.inputs)
    sampled: list[Result] = []
    ratio_range: Range | None = None
    outputs: list[int] = []
    if sample:
        sampled, ratio_range, outputs = _run_sample(items, spec, tally.picked, picks,
                                                    concurrency, options, each_row, media)
    exact_in = None
    if exact:
        parts = None
        if with_media:  # the count endpoint sees the images and documents
            def parts(i: int) -> Sequence[Part]:
                return media.parts(settings, images=images[i], files=files[i])
        exact_in = exact_total(row_calls(items, spec, settings, provider, parts, positions),
                               settings, provider, concurrency)
    cache = None
    if items:
        try:
            shared = Asking(spec, settings, provider).shared_tokens(items[0],
                                                                    shared_prefix(items))
        except E.StructuredError:  # the first row cannot be sent: named above, never here
            shared = 0
        cache = expected_cache(provider, settings.model, len(positions), shared,
                               ttl=settings.cache_ttl)
    return _assemble(len(positions), tally.total, spec, settings, provider, rows=len(items),
                     sampled=sampled, ratio_range=ratio_range, outputs=outputs,
                     exact_in=exact_in, media=tally.text(), cache=cache)


@dataclass
class _Tally:
    """What the rows read so far add up to: their input tokens (and those of the rows a
    sample will run, by position), and their images and PDF pages."""

    sampled: set[int]
    total: int = 0
    picked: dict[int, int] = field(default_factory=dict)
    images: int = 0
    pages: int = 0
    documents: int = 0
    media_tokens: int = 0

    def add(self, position: int, tokens: int, measured: Sequence[Measured],
            limits: Any) -> None:
        self.total += tokens
        if position in self.sampled:
            self.picked[position] = tokens
        for m in measured:
            self.media_tokens += input_tokens(m, limits)
            if m.kind == "image":
                self.images += 1
            else:
                self.documents += 1
                self.pages += m.pages

    def text(self) -> str:
        words = []
        if self.images:
            words.append(f"{_n(self.images)} image{'' if self.images == 1 else 's'}")
        if self.documents:
            words.append(f"{_n(self.documents)} PDF{'' if self.documents == 1 else 's'} of "
                         f"{_n(self.pages)} page{'' if self.pages == 1 else 's'}")
        return (f"{' and '.join(words)}: {_n(self.media_tokens)} input tokens by the "
                "provider's rule") if words else ""


def _row(i: int, work: Any) -> Any:
    """``work()``, its InputError naming row ``i``."""
    try:
        return work()
    except E.InputError as exc:
        raise E.InputError(f"Row {i}: {exc.message}") from None


def local_estimate(counted: Sequence[int], spec: SchemaSpec, settings: Settings,
                   provider: Provider) -> Estimate:
    """The estimate of rows whose input tokens are already counted locally (``counted``,
    one a row sent, e.g. from a batch job's input lines): what :func:`estimate` gives
    without ``sample`` or ``exact``, with no request built again."""
    return _assemble(len(counted), sum(counted), spec, settings, provider)


def _assemble(n: int, counted: int, spec: SchemaSpec, settings: Settings, provider: Provider,
              *, rows: int | None = None, sampled: Sequence[Result] = (),
              ratio_range: Range | None = None, outputs: Sequence[int] = (),
              exact_in: int | None = None, media: str = "",
              cache: ExpectedCache | None = None) -> Estimate:
    """The estimate of ``n`` rows sent (of ``rows``, the others repeats), from their input
    tokens counted locally, ``counted`` in all (and what a sample or the count endpoint
    measured); ``cache``: what the provider's prompt cache is expected to serve on the
    ordinary path (the batch path counts none)."""
    exact = exact_in is not None
    price = price_for(provider, settings.model, base_url=settings.base_url,
                      overrides=settings.prices)
    if exact_in is not None:
        total = float(exact_in)
        input_tokens = Range(total, total, total)
        input_from = f"counted by the {provider.name} token-count endpoint"
    elif ratio_range is not None:
        input_tokens = ratio_range.scaled(counted)
        input_from = f"counted locally, scaled by the sample's ratio {ratio_range.expected:.2f}"
    else:
        total = float(counted)
        input_tokens = Range(total * LOCAL_LOW, total, total * LOCAL_HIGH)
        input_from = "counted locally: ~4 characters a token; --exact asks the server"
    if media and exact_in is None:
        input_from += f"; {media}"
    output_tokens, output_from = _outputs(n, spec, settings.max_tokens, list(outputs))
    k = settings.samples
    if k > 1:  # what a sample measured holds its samples already
        requests = 1 if provider.samples_in_one else k
        if ratio_range is None and requests > 1:
            input_tokens = input_tokens.scaled(requests)
            input_from += f"; x{k}: samples={k} makes {k} requests a row"
        elif ratio_range is None:
            input_from += f"; samples={k} asks for {k} answers in one request (n={k})"
        if not outputs:
            output_tokens = output_tokens.scaled(k)
            output_from += f"; x{k} answers a row (samples={k})"
    cached = cache if cache is not None and (cache.reads or cache.writes) else None
    cost = _cost_range(n, input_tokens, output_tokens, price, batch_tier=False, cache=cached)
    uncached = (_cost_range(n, input_tokens, output_tokens, price, batch_tier=False)
                if cached is not None else None)
    batch_cost = _cost_range(n, input_tokens, output_tokens, price, batch_tier=True)
    factor = provider.batch_price_factor
    if factor is None:
        note = f"the {provider.name} format has no batch API"
    elif price is not None and price.batch_input is not None and not price.tiers:
        note = "the table's batch price; results within 24 h"
    else:
        note = f"{_share(factor)} the price; results within 24 h"
    if cached is not None:
        note += "; no prompt cache counted (not promised for batch requests)"
    spent = [r.cost for r in sampled]
    return Estimate(
        rows=n if rows is None else rows, unique=n, schema_name=spec.name,
        provider=provider.name, model=settings.model,
        input_tokens=input_tokens, output_tokens=output_tokens, input_from=input_from,
        output_from=output_from, price=price, table=table_info(), cost=cost,
        batch_cost=batch_cost, batch_note=note, sample=list(sampled),
        cache_reads=cache.reads if cache is not None else 0.0,
        cache_writes=cache.writes if cache is not None else 0.0,
        cache_note=cache.note if cache is not None else "", uncached_cost=uncached,
        sample_cost=None if any(c is None for c in spent) else sum(c or 0.0 for c in spent),
        sample_saved=sum(r.saved or 0.0 for r in sampled) or None,
        sent=(f"sent only the {_n(n)} token-count requests" if exact
              else "nothing was sent"),
    )


def _share(factor: float) -> str:
    return "half" if factor == 0.5 else f"{factor:.0%} of"


def _run_sample(items: Sequence[Any], spec: SchemaSpec, counted: Mapping[int, int],
                picks: Sequence[int], concurrency: int, options: Mapping[str, Any],
                each_row: Mapping[str, Sequence[Any]], media: Any
                ) -> tuple[list[Result], Range | None, list[int]]:
    """Run the rows at ``picks`` for real; the input ratio (real / local count,
    ``counted`` by position) and each row's output."""

    picked: dict[str, Any] = {name: [values[i] for i in picks]
                              for name, values in each_row.items()
                              if any(values[i] is not None for i in picks)}
    results = run_threads([items[i] for i in picks], spec, concurrency=concurrency,
                          detail=media.detail, inline=media.inline, downscale=media.downscale,
                          **picked, **options)
    ratios: list[float] = []
    outputs: list[int] = []
    for i, res in zip(picks, results, strict=True):
        usage = res.usage or {}
        real_in, real_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(real_in, int) and counted[i] > 0:
            ratios.append(real_in / counted[i])
        if isinstance(real_out, int):
            outputs.append(real_out)
    if not ratios and not outputs:
        failed = next((r.error for r in results if r.error is not None), None)
        raise E.StructuredError(
            f"None of the {len(picks)} sampled rows came back with token counts"
            + (f" (the first error: {type(failed).__name__}: {failed})" if failed else "")
            + ".", hint="Run the estimate without --sample, or check the server.")
    ratio = None
    if ratios:
        mean = statistics.fmean(ratios)
        half = _half_width(ratios, mean)
        ratio = Range(max(0.0, mean - half), mean, mean + half)
    return results, ratio, outputs


def _half_width(values: list[float], mean: float) -> float:
    """Two standard errors of the mean, and at least 5% of it (a small sample says little)."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return max(2 * sd / math.sqrt(len(values)), 0.05 * mean)


def _outputs(n: int, spec: SchemaSpec, max_tokens: int | None, sampled: list[int]
             ) -> tuple[Range, str]:
    """Output tokens of the whole column, and where the figure comes from."""
    cap = float(max_tokens) if max_tokens else None
    if sampled:
        mean = statistics.fmean(sampled)
        half = _half_width([float(v) for v in sampled], mean)
        low, high = max(0.0, mean - half), mean + half
        if cap is not None:
            mean, low, high = min(mean, cap), min(low, cap), min(high, cap)
        where = f"from a sample of {len(sampled)} rows, re-asks included"
        return Range(low * n, mean * n, high * n), where
    low_one, typical = answer_tokens(spec.original)
    if cap is not None:
        return (Range(min(low_one, cap) * n, min(typical, cap) * n, cap * n),
                "guessed from the schema; high: --max-tokens; --sample K measures it")
    return (Range(float(low_one * n), float(typical * n), None),
            "guessed from the schema; --sample K measures it")


def _cost_range(n: int, inp: Range, out: Range, price: Price | None, *, batch_tier: bool,
                cache: ExpectedCache | None = None) -> Range | None:
    """The column's cost at each end (each row priced on its own: tiers are per request;
    ``cache``: the prompt cache's expected reads and writes, spread over the rows)."""
    if price is None or n == 0:
        return None if price is None else Range(0.0, 0.0, 0.0)
    reads = round(cache.reads / n) if cache is not None else 0
    writes = round(cache.writes / n) if cache is not None else 0

    def one(tokens_in: float, tokens_out: float) -> float | None:
        usage = {"prompt_tokens": round(tokens_in / n), "completion_tokens":
                 round(tokens_out / n), "cached_tokens": reads, "cache_write_tokens": writes,
                 "cache_write_1h_tokens": writes if cache is not None and cache.hour else 0}
        each = cost_of(usage, price, batch_tier=batch_tier)
        return None if each is None else each * n

    low, expected = one(inp.low, out.low), one(inp.expected, out.expected)
    if low is None or expected is None:
        return None
    high = None if inp.high is None or out.high is None else one(inp.high, out.high)
    return Range(low, expected, high)
