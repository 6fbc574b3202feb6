"""Models side by side: the same prompt (or column) to several models at once.

- :func:`compare` — one prompt to each model, concurrently: a :class:`Comparison` with each
  model's :class:`~structmagic.Result` (a failed model keeps its error, the others their
  values), the fields where the valid answers disagree, and a side-by-side display; each
  valid answer's ``agreement`` is the share of the models that gave its value, field by
  field, so its ``doubt`` counts the models' disagreement;
- :func:`compare_each` — a whole column to each model: a :class:`ColumnComparison` whose
  ``frame`` has one column per field and model, named ``field@model`` (and ``error@model``,
  ``row_error@model`` when the schema has a field called ``error``),
  and whose ``summary`` has one row per model: the share of valid answers, the mean latency
  (of answers from the server, not from a recording), the tokens and the cost.

A model is written ``MODEL`` or ``PROVIDER:MODEL`` (``openai:gpt-4o-mini``,
``anthropic:claude-sonnet-4-5``, ``gemini:gemini-2.5-flash``); the prefix counts as a
provider only when it names one, so a model name with a colon (``llama3:8b``) stays whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ..api import guarded, run
from ..call.media import Media
from ..call.result import Result
from ..call.samples import agree
from ..config import Clock, resolve
from ..display.compare_widget import ComparisonWidget
from ..display.render import comparison_html, comparison_text, field_labels
from ..display.showing import ShowsWidget
from ..errors import CallInterrupted, ConfigError, StructuredError
from ..providers import provider_names
from ..schema import load_schema
from ..transport.work import Work
from .frame import own_column, rows_of
from .gate import RateGate
from .score import canonical_json, field_kinds
from .stop import say_finishing, stop_rows
from .threads import run_threads

__all__ = ["ColumnComparison", "Comparison", "Target", "compare", "compare_each",
           "parse_targets"]


@dataclass(frozen=True)
class Target:
    """One model to ask: how the user wrote it, the model, and the provider (None: default)."""

    label: str
    model: str
    provider: str | None = None


def parse_targets(models: str | Sequence[str]) -> list[Target]:
    """``"gpt-4o,anthropic:claude-sonnet-4-5"`` (or a list) as :class:`Target` s."""

    items = models.split(",") if isinstance(models, str) else list(models)
    names = set(provider_names())
    targets: list[Target] = []
    for raw in items:
        text = str(raw).strip()
        if not text:
            raise ConfigError("An empty model name in the models to compare.")
        head, sep, rest = text.partition(":")
        if sep and head in names and rest.strip():
            targets.append(Target(text, rest.strip(), head))
        else:
            targets.append(Target(text, text))
    labels = [t.label for t in targets]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"A model is named twice in {', '.join(labels)}.")
    if len(targets) < 2:
        raise ConfigError("Compare needs at least two models (e.g. gpt-4o-mini,gpt-4o).")
    return targets


def _options_for(target: Target, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with the target's model (and provider, when it names one)."""
    given = {**options, "model": target.model}
    if target.provider is not None:
        given["provider"] = target.provider
    return given


def _settings_for(target: Target, options: Mapping[str, Any]) -> Any:
    return resolve(_options_for(target, options))


# --- one prompt ---------------------------------------------------------------------------------


@dataclass(eq=False)
class Comparison(ShowsWidget):
    """Each model's result for one prompt (see the module doc)."""

    schema_name: str
    targets: list[Target]
    results: dict[str, Result]
    steps_field: str | None = None
    labels: dict[str, str] | None = None
    _widget: Any = field(default=None, repr=False)
    _shown_live: bool = field(default=False, repr=False)

    def values(self) -> dict[str, Any]:
        """``{model: value}``, a failed model's entry being its error."""
        return {label: (r.data if r.error is None else r.error)
                for label, r in self.results.items()}

    def disagreements(self) -> list[str]:
        """The top-level fields on which the valid answers differ, in field order."""
        return disagreements(r.plain for r in self.results.values() if r.error is None)

    def __repr__(self) -> str:
        ok = sum(1 for r in self.results.values() if r.error is None)
        return (f"<Comparison {self.schema_name}: {len(self.results)} models, {ok} answered, "
                f"{len(self.disagreements())} fields differ>")

    def _text(self) -> str:
        return comparison_text(self)

    def _repr_html_(self) -> str:
        return comparison_html(self)

    def widget(self, *, create: bool = True, reveal: bool = False) -> Any:
        """The side-by-side widget of this comparison (built on first use when ``create``)."""
        if self._widget is None and create:

            w = ComparisonWidget(self.targets, title=self.schema_name,
                                 steps_field=self.steps_field, reveal=reveal,
                                 labels=self.labels)
            w.finish(self)
            self._widget = w
        return self._widget


def disagreements(values: Any) -> list[str]:
    """The top-level fields whose values differ among ``values`` (dicts; others compared
    whole as ``value``)."""
    plain = list(values)
    if len(plain) < 2:
        return []
    if not all(isinstance(v, dict) for v in plain):
        return ["value"] if len({canonical_json(v) for v in plain}) > 1 else []
    keys: list[str] = []
    for v in plain:
        keys.extend(k for k in v if k not in keys)
    return [k for k in keys if len({canonical_json(v.get(k)) for v in plain}) > 1]


def compare(prompt: Any, schema: Any, models: str | Sequence[str], *, stream: bool = False,
            observers: Mapping[str, Any] | None = None, steps_field: str | None = None,
            labels: Mapping[str, str] | None = None, images: Any = None, files: Any = None,
            detail: str | None = None, inline: bool = False, downscale: bool = True,
            source: Any = None, **options: Any) -> Comparison:
    """Ask every model of ``models`` the same ``prompt`` at once (see the module doc).

    ``options`` are those of :func:`structmagic.structured`, for every model, and so are
    ``images``, ``files``, ``detail``, ``inline`` and ``downscale`` (each model gets them
    in its own provider's format; one whose provider cannot take them fails alone, with an
    :class:`~structmagic.InputError`); so is ``source`` (with ``ground``). ``observers`` maps
    a model's label to the widget that follows its stream. Bad options, labels or model
    names raise before any request; a model that fails keeps its error in the comparison.
    """

    def setup() -> tuple[list[Target], Any, dict[str, Any], dict[str, str]]:
        targets = parse_targets(models)
        spec = load_schema(schema)
        settings = {t.label: _settings_for(t, options) for t in targets}
        return targets, spec, settings, field_labels(spec.original, labels)

    targets, spec, settings, shown = guarded(setup)
    media = Media(images, files, detail=detail, inline=inline, downscale=downscale)
    gate = RateGate(clock=settings[targets[0].label].clock)
    observers = observers or {}

    def ask(target: Target) -> Result:
        given = settings[target.label]
        return run(prompt, spec, given, stream=stream, observer=observers.get(target.label),
                   steps_field=steps_field, gate=gate,
                   parts=media.parts(given, thumbnails=True), source=source)

    def one(target: Target) -> Result:
        clock = settings[target.label].clock
        started = clock.monotonic()
        try:
            return guarded(ask, target)
        except StructuredError as exc:  # its own time, for the column that shows it
            return Result(error=exc, schema_name=spec.name, attempts=exc.attempts,
                          model=target.model, provider=settings[target.label].provider,
                          elapsed=clock.monotonic() - started)

    results = _run_all(targets, one, gate, settings[targets[0].label].clock)
    agree(list(results.values()))  # each answer's share of models that agree, by field
    return Comparison(spec.name, targets, {t.label: results[t.label] for t in targets},
                      steps_field=steps_field, labels=shown)


def _run_all(targets: list[Target], fn: Callable[[Target], Any], gate: Any, clock: Clock
             ) -> dict[str, Any]:
    """``fn`` for every target in threads; an interrupt stops them as it stops a batch's rows
    (:mod:`.stop`: the requests in flight, already paid for, get a grace to finish) and is
    raised again once the threads have stopped."""
    work = Work("the comparison")
    pool = ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="structmagic")
    futures: dict[Future[Any], Target] = {pool.submit(work.bind(fn), t): t for t in targets}
    out: dict[str, Any] = {}
    pending = set(futures)

    def take(done: set[Future[Any]]) -> None:
        for fut in done:
            out[futures[fut].label] = fut.result()

    try:
        while pending:
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            take(done)
    except KeyboardInterrupt:
        stop_rows(pending, take, gate=gate, work=work, clock=clock,
                  on_finishing=say_finishing)
        pool.shutdown(wait=False, cancel_futures=True)
        raise CallInterrupted("interrupted: the comparison was stopped and nothing was "
                              "bound") from None
    pool.shutdown(wait=True)
    return out


# --- a column -------------------------------------------------------------------------------


@dataclass(eq=False)
class ColumnComparison:
    """A column through every model: ``frame`` (``field@model`` columns), ``summary`` (one
    row per model) and ``results`` (each model's list of Results)."""

    targets: list[Target]
    results: dict[str, list[Result]]
    frame: Any
    summary: Any

    def __repr__(self) -> str:
        rows = len(next(iter(self.results.values()), []))
        return f"<ColumnComparison: {rows} rows x {len(self.targets)} models>"


def compare_each(prompts: Sequence[Any], schema: Any, models: str | Sequence[str], *,
                 index: Sequence[Any] | None = None, concurrency: int = 16,
                 on_progress: Callable[[str, Any], None] | None = None,
                 images: Sequence[Any] | None = None, files: Sequence[Any] | None = None,
                 detail: str | None = None, inline: bool = False, downscale: bool = True,
                 source: Sequence[Any] | None = None, **options: Any) -> ColumnComparison:
    """Run :func:`structmagic.batch` of ``prompts`` on every model at once.

    ``concurrency`` is per model. ``on_progress(model, progress)`` follows each model's
    batch. ``images`` / ``files`` (and ``source``, with ``ground``) are per row, as for
    :func:`structmagic.batch`. The
    frame's columns are grouped by model, in the order given: each field as ``field@model``,
    then ``error@model``; its index is ``index`` (or 0..n-1). ``max_cost`` is refused (it
    caps one batch: cap each model's own :func:`structmagic.batch` instead).
    """

    if "max_cost" in options:

        raise ConfigError("max_cost caps one batch; compare_each runs one per model. Run "
                          "structmagic.batch with max_cost for each model instead.")
    targets = guarded(parse_targets, models)
    spec = guarded(load_schema, schema)
    clocks = {t.label: guarded(_settings_for, t, options).clock  # bad options fail before
              for t in targets}                                  # any request
    items = rows_of(prompts, "prompts")
    media: dict[str, Any] = {"images": images, "files": files, "detail": detail,
                             "inline": inline, "downscale": downscale, "source": source}
    gates = {t.label: RateGate(clock=clocks[t.label]) for t in targets}

    class _Gates:
        def stop(self) -> None:
            for g in gates.values():
                g.stop()

    def one(target: Target) -> list[Result]:
        report = None if on_progress is None else (lambda p: on_progress(target.label, p))
        return run_threads(items, spec, concurrency=concurrency, gate=gates[target.label],
                     on_progress=report, **media, **_options_for(target, options))

    results = _run_all(targets, one, _Gates(), clocks[targets[0].label])
    ordered = {t.label: results[t.label] for t in targets}
    for row in zip(*ordered.values(), strict=True):
        agree(row)  # each answer's share of models that agree, by field
    return ColumnComparison(targets, ordered, _column_frame(spec, ordered, index),
                            _summary(ordered))


def _column_frame(spec: Any, results: dict[str, list[Result]], index: Any) -> Any:
    import pandas as pd

    fields = list(field_kinds(spec.original))
    error = own_column("error", fields)  # a field called "error" keeps its name
    n = len(next(iter(results.values()), []))
    columns: dict[str, list[Any]] = {}
    for label, rows in results.items():
        for name in fields:
            columns[f"{name}@{label}"] = [_field(r, name) for r in rows]
        columns[f"{error}@{label}"] = [None if r.error is None else
                                     f"{type(r.error).__name__}: {r.error}" for r in rows]
    return pd.DataFrame(columns, index=pd.Index(list(index)) if index is not None
                        else pd.RangeIndex(n), dtype="object")


def _field(result: Result, name: str) -> Any:
    if result.error is not None:
        return None
    plain = result.plain
    if isinstance(plain, dict):
        return plain.get(name)
    return plain if name == "value" else None


def _summary(results: dict[str, list[Result]]) -> Any:
    import pandas as pd

    records = []
    for label, rows in results.items():
        ok = [r for r in rows if r.error is None]
        # a replayed answer's time is not the model's, nor is a repeated row's (sent once)
        live = [r for r in ok if not r.from_cache and r.duplicate_of is None]
        costs: list[float | None] = [getattr(r, "cost", None) for r in rows]
        records.append({
            "model": label,
            "valid": len(ok) / len(rows) if rows else None,
            "mean_latency_s": (sum(r.elapsed for r in live) / len(live)) if live else None,
            "tokens": sum(int(r.usage.get("total_tokens", 0)) for r in rows),
            "cost": (None if not costs or any(c is None for c in costs)
                     else sum(c for c in costs if c is not None)),
        })
    frame = pd.DataFrame.from_records(records).set_index("model")
    for column in ("valid", "mean_latency_s", "cost"):  # NaN where not known
        frame[column] = frame[column].astype("float64")
    return frame
