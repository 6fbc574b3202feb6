"""``%%structured SCHEMA --each VAR``: the cell body as a template over a list or a column.

VAR may be a list (``{item}``), a pandas Series (``{item}``, index kept) or a DataFrame
(``{column}`` per row, and ``{item}`` for the row as a dict). ``--image NAME`` / ``--file
NAME`` take each row's value when NAME is one of its fields (a column, or ``item``), else
the notebook variable NAME for every row. NAME gets a list of values, or — for a Series or
DataFrame when pandas is installed — a DataFrame with one column per top-level field plus an
``error`` column and a ``cost`` column (USD per row; 0 for a row answered from the recording,
NaN when unknown), aligned with the input's index; a field of the schema called ``error`` or
``cost`` keeps its name, and those columns are then ``row_error`` / ``cost_usd``. With
``--max-cost``, rows the budget stopped have ``error`` "not run: budget". Rows whose prompt
(and images, files, source) repeat an earlier row's are sent once and given its answer
(``--no-dedup`` sends every row: :mod:`structmagic.rows.unique`). The rows run as
parallel requests or through the provider's batch API (:mod:`.batches`); ``--compare``
sends them to several models, ``--expect`` scores them, ``--engine dask`` maps the cell over
a Dask DataFrame's partitions (``--compute`` follows them: a line per partition as it ends,
or Dask's own progress on a distributed cluster).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from IPython.core.error import UsageError

from .. import rows
from ..call.prompt import row_text
from ..config import FromCorrections, Settings
from ..cost.prices import price_for, unknown_price_hint
from ..display import render as R
from ..display.kernel import has_kernel
from ..display.progress import ProgressBar, ended_style
from ..display.scores import ScoresView
from ..errors import CallInterrupted, InputError, Interrupted, StructuredError
from ..grounding import NO_TEXT
from ..inputs.convert import is_blank
from ..schema import SchemaSpec
from ..transport.corrections import corrections_path, load_corrections
from .batches import finish_rows, follow_rows, run_rows
from .notebook import Layered, fill
from .options import CellOptions

__all__ = ["CORRECTIONS", "each_rows", "row_media", "row_prompts", "row_sources", "run_each"]

#: ``--expect corrections``: score against the corrections file, not a column
CORRECTIONS = "corrections"


def each_rows(source: Any) -> tuple[Sequence[Any], Sequence[dict[str, Any]], str]:
    """The index and the template fields of each row of ``--each``'s value, and its kind."""
    try:
        return rows.frame.collect_rows(source)
    except InputError:
        raise UsageError(f"--each needs a list, a pandas Series or a DataFrame, not "
                         f"{type(source).__name__}.") from None


def row_prompts(magics: Any, opts: CellOptions, source: Any
                ) -> tuple[Sequence[Any], list[str], str]:
    """The index, the prompt of every row (the body filled from the row, then the
    notebook), and the kind of input; a UsageError names a row whose prompt cannot be made."""
    index, records, kind = each_rows(source)
    return index, _prompts(magics, opts, index, records), kind


def run_each(magics: Any, opts: CellOptions, spec: SchemaSpec, settings: Settings,
             source: Any) -> Any:
    """Run the cell over every row of ``source``; bind or return the values."""
    if opts.engine is not None:
        return _on_engine(magics, opts, spec, source)
    index, records, kind = each_rows(source)
    prompts = _prompts(magics, opts, index, records)
    if opts.expect == CORRECTIONS and not _has_pandas():
        raise UsageError('--expect shows its scores as tables: pip install '
                         '"structmagic[pandas]".')
    if opts.expect is not None and opts.expect != CORRECTIONS:
        _expected(opts, spec, source)  # a bad column fails before any request
    options = {**opts.settings, **opts.media, **row_media(magics, opts, index, records)}
    if settings.grounds:
        options["source"] = row_sources(magics, opts, index, records)
    if opts.compare is not None:
        return _compare(magics, opts, spec, settings, options, source, index, prompts)
    if opts.max_cost is not None:
        _check_priced(settings)
        options["max_cost"] = opts.max_cost
    if opts.only is not None:
        return _rerun(magics, opts, spec, settings, prompts, options, index)
    ran = run_rows(magics, opts, spec, prompts, options, index)
    del prompts, options  # sent: a long column's let go before its frame is built
    if not isinstance(ran, tuple):
        return ran  # --no-wait: the job, still running
    results, interrupted = ran
    tabular = kind in ("DataFrame", "Series") and _has_pandas()
    if tabular:
        value = rows.frame.results_frame(results, index, rows.frame.top_fields(spec))
        rows.runs.remember(value, results, index)
        # a row reviewed before keeps its reviewed value (and the reviewed column says so)
        rows.review.apply_corrections(value, results, corrections_path(settings), spec)
    else:
        value = [r.data for r in results]
    if opts.out is not None:
        magics.shell.user_ns[opts.out] = value  # bound before scoring: paid for already
    if opts.expect is not None and interrupted is None and (
            tabular or opts.expect == CORRECTIONS):
        scores, note = _scores(opts, spec, settings, source, {"": results})
        if tabular:
            value.attrs["scores"] = scores
        if not opts.quiet:
            _display(ScoresView(scores, title=spec.name, note=note))
    if interrupted is not None:
        raise CallInterrupted(
            f"{interrupted} (the finished items are bound"
            f"{' to ' + opts.out if opts.out else ''}; unfinished ones are marked)") from None
    return None if opts.out is not None else value


#: the per-row options of ``--each`` (one entry a row)
PER_ROW = ("images", "files", "source")


def _rerun(magics: Any, opts: CellOptions, spec: SchemaSpec, settings: Settings,
           prompts: list[str], options: dict[str, Any], index: Sequence[Any]) -> Any:
    """``--only``: the rows of the previous ``-o NAME`` that ``--only`` names run again with
    this cell's options, their new results written into NAME at the same index (a frame in
    place, a list of Results anew); no other row is sent, and never a row reviewed in the
    corrections file. A row an interrupt left unfinished keeps its old result."""
    assert opts.only is not None and opts.out is not None
    previous = magics.shell.user_ns.get(opts.out)
    found = rows.runs.previous_results(previous)
    if found is None:
        what = ("nothing" if previous is None and opts.out not in magics.shell.user_ns
                else f"a {type(previous).__name__}")
        raise UsageError(
            f"--only {opts.only} re-runs rows of the previous {opts.out}, which holds {what}: "
            f"it must be the DataFrame --each bound in this kernel (over a Series or a "
            f"DataFrame; a list binds values only) or a list of Results. Run the cell without "
            f"--only first.")
    old, old_index, frame = found
    if len(old) != len(prompts):
        raise UsageError(f"--only: {opts.out} has {len(old)} rows and {opts.each} has "
                         f"{len(prompts)}: they are not the same column.")
    reviewed = rows.review.reviewed_positions(old, corrections_path(settings))
    positions = [i for i in rows.rerun.select(old, opts.only, opts.threshold)
                 if i not in reviewed]
    kept = (f" ({R.plural(len(reviewed), 'reviewed row')} kept as reviewed)" if reviewed
            else "")
    if not positions:
        if not opts.quiet:
            print(f"structmagic: no row of {opts.out} is {opts.only}{kept}: nothing was "
                  "sent.")
        return None
    subset = {k: ([v[i] for i in positions] if k in PER_ROW and isinstance(v, list) else v)
              for k, v in options.items()}
    ran = run_rows(magics, opts, spec, [prompts[i] for i in positions], subset,
                   [index[i] for i in positions])
    if not isinstance(ran, tuple):
        return ran  # --no-wait: the job, still running
    results, interrupted = ran
    rows.unique.renumber(results, positions)
    merged = list(old)
    for i, res in zip(positions, results, strict=True):
        if not isinstance(res.error, Interrupted):
            merged[i] = res
    if frame is not None:
        rows.rerun.update_frame(frame, merged, old_index, rows.frame.top_fields(spec),
                                positions)
    else:
        magics.shell.user_ns[opts.out] = merged
    if not opts.quiet:
        print(f"structmagic: re-ran {len(positions)} {opts.only} of {len(old)} rows of "
              f"{opts.out}; the other rows were not sent{kept}.")
    if interrupted is not None:
        raise CallInterrupted(f"{interrupted} (the finished rows are written into "
                              f"{opts.out}; unfinished ones keep their old values)") from None
    return None


def _prompts(magics: Any, opts: CellOptions, index: Sequence[Any],
             records: Sequence[dict[str, Any]]) -> list[str]:
    ns = magics.shell.user_ns
    if not opts.interpolate:
        return [opts.body for _ in records]
    return [fill(opts.body, Layered(row, ns), where=f"--each row {i!r}: ")
            for i, row in zip(index, records, strict=True)]


def _check_priced(settings: Settings) -> None:
    """A UsageError when ``--max-cost`` is given for a model without a price."""
    if price_for(settings.provider, settings.model, base_url=settings.base_url,
                 overrides=settings.prices) is None:
        raise UsageError(f"--max-cost needs a price, and the "
                         f"{unknown_price_hint(settings.model)}.")


def _expected(opts: CellOptions, spec: SchemaSpec, source: Any) -> list[Any]:
    """The expected values of ``--expect COLUMN``, in the schema's shape."""
    column = opts.expect
    if type(source).__name__ != "DataFrame" or column not in source.columns:
        raise UsageError(f"--expect needs a column of the --each DataFrame: {column!r} "
                         "is not one.")
    fields = list(rows.score.field_kinds(spec.original))
    out: list[Any] = []
    for value in source[column].tolist():
        if isinstance(value, Mapping):
            out.append(dict(value))
        elif value is None or is_blank(value):  # a row without a label: not scored
            out.append(None)
        elif len(fields) == 1:
            out.append({fields[0]: value})
        else:
            raise UsageError(f"--expect {column}: each value must be the expected answer "
                             f"(a dict with the fields {', '.join(fields)}), not "
                             f"{type(value).__name__}.")
    return out


def _scores(opts: CellOptions, spec: SchemaSpec, settings: Settings, source: Any,
            results: dict[str, list[Any]]) -> tuple[Any, str]:
    """Per field (and per model when there are several) scores against ``--expect``, and
    what the scores' note says (with ``--expect corrections``: the rows scored, and the
    records not used and why)."""
    import pandas as pd

    tol = 1e-6 if opts.tol is None else opts.tol
    if opts.expect == CORRECTIONS:
        labels: Any = _reviewed(settings, spec)
    else:
        labels = _expected(opts, spec, source)
    scored = {model: rows.score.score(answers, labels, spec.original, tol=tol)
              for model, answers in results.items()}
    notes = [f"{model}: {s.note}" if model else s.note for model, s in scored.items()
             if s.note]
    tables = {model: s.table for model, s in scored.items()}
    if list(tables) == [""]:
        return tables[""], " ".join(notes)
    return pd.concat(tables, names=["model", "field"]), " ".join(notes)


def _reviewed(settings: Settings, spec: SchemaSpec) -> Any:
    """``--expect corrections``: the corrections file, the rows taught as examples (with
    ``--examples corrections:K``) set aside."""
    found = load_corrections(corrections_path(settings))
    if isinstance(settings.examples, FromCorrections):
        taught = found.examples(settings.examples.k, spec.digest)
        found = found.excluding((r.key for r in taught), "taught as examples, not scored")
    return found


def _display(value: Any) -> None:
    from IPython.display import display

    display(value)


def _compare(magics: Any, opts: CellOptions, spec: SchemaSpec, settings: Settings,
             options: dict[str, Any], source: Any, index: Sequence[Any], prompts: list[str]
             ) -> Any:
    """``--each VAR --compare MODELS``: the column to every model; a frame of field@model
    columns, its per-model summary (and scores with ``--expect``) shown and kept in
    ``frame.attrs``."""
    assert opts.compare is not None
    if not _has_pandas():
        raise UsageError('--each with --compare binds a DataFrame: pip install '
                         '"structmagic[pandas]".')
    try:
        targets = rows.compare.parse_targets(opts.compare)
    except StructuredError as exc:
        raise UsageError(f"--compare: {exc}") from None
    live = not opts.quiet and has_kernel(magics.shell)
    bars = {t.label: ProgressBar(f"{spec.name} · {t.label}", live=live, total=len(prompts))
            for t in targets}
    for bar in bars.values():
        bar.show()
    started = time.monotonic()
    table = rows.compare.compare_each(prompts, spec, [t.label for t in targets], index=index,
                         concurrency=opts.concurrency or 16,
                         on_progress=lambda label, p: follow_rows(bars[label])(p), **options)
    for label, results in table.results.items():
        finish_rows(bars[label], rows.counts.BatchProgress.of(results, started=started),
                    quiet=opts.quiet)
    frame = table.frame
    frame.attrs["summary"] = table.summary
    if opts.out is not None:
        magics.shell.user_ns[opts.out] = frame  # bound before scoring: paid for already
    if opts.expect is not None:
        frame.attrs["scores"], note = _scores(opts, spec, settings, source, table.results)
    else:
        note = ""
    if not opts.quiet:  # the summary and the scores, formatted, captioned, and a chart
        _display(ScoresView(frame.attrs.get("scores"), table.summary, title=spec.name,
                            note=note))
    return None if opts.out is not None else frame


def _on_engine(magics: Any, opts: CellOptions, spec: SchemaSpec, source: Any) -> Any:
    """``--engine dask``: the cell mapped over the partitions of a Dask DataFrame."""
    if type(source).__module__.split(".", 1)[0] != "dask" or not hasattr(
            source, "map_partitions"):
        raise UsageError(f"--engine dask needs a Dask DataFrame for --each, not "
                         f"{type(source).__name__}.")
    template = opts.body if opts.interpolate else opts.body.replace("{", "{{").replace(
        "}", "}}")
    _check_engine_columns(opts, template, source)
    try:
        extractor = rows.engines.Extractor(spec, template, concurrency=opts.concurrency or 8,
                              images=opts.images, files=opts.files, source=opts.source,
                              **opts.settings, **opts.media)
    except StructuredError as exc:
        raise UsageError(str(exc)) from None
    lazy = source.map_partitions(extractor, meta=extractor.meta(source))
    value = _compute(magics, opts, spec, lazy, extractor.added()["error"]) if opts.compute \
        else lazy
    if opts.out is not None:
        magics.shell.user_ns[opts.out] = value
        return None
    return value


def _compute(magics: Any, opts: CellOptions, spec: SchemaSpec, lazy: Any, error: str) -> Any:
    """``--compute``: the Dask frame computed, followed as it runs. On a distributed cluster
    (a ``Client`` is set up), Dask's own progress; on a local scheduler, the one progress
    bar of structmagic, a step per partition as it ends (its rows, and how many failed:
    ``error`` names their column). Nothing is shown with ``--quiet``."""
    if opts.quiet:
        return lazy.compute()
    from dask.base import get_scheduler

    scheduler = get_scheduler(collections=[lazy])  # what compute() would use
    client = getattr(scheduler, "__self__", None)
    if client is not None and type(client).__module__.startswith("distributed"):
        from distributed import progress

        future = client.compute(lazy)
        progress(future)
        return future.result()
    from dask.callbacks import Callback

    lazy = lazy.optimize()
    keys = set(lazy.__dask_keys__())
    title = f"{spec.name} · Dask"
    bar = ProgressBar(title, live=has_kernel(magics.shell), total=lazy.npartitions)
    bar.show()
    seen = {"partitions": 0, "rows": 0, "failed": 0}

    def ended(key: Any, result: Any, *_: Any) -> None:
        if key not in keys:
            return
        seen["partitions"] += 1
        seen["rows"] += len(result)
        if error in getattr(result, "columns", ()):
            seen["failed"] += int(result[error].notna().sum())
        line = (f"{seen['partitions']}/{lazy.npartitions} partitions · {seen['rows']} rows · "
                f"{seen['failed']} failed")
        last = seen["partitions"] == lazy.npartitions
        bar.update(seen["partitions"], lazy.npartitions, line, final=last,
                   style=ended_style(seen["failed"]) if last else None)
        if bar.box is None:  # no widget: a line a partition
            print(f"structmagic: {title}: {line}", flush=True)

    with Callback(posttask=ended):
        return lazy.compute()


def _check_engine_columns(opts: CellOptions, template: str, source: Any) -> None:
    """With ``--engine``, every name the cell uses must be a column (the notebook's variables
    do not travel to the workers)."""
    try:
        names = rows.engines.template_fields(template)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    columns = set(map(str, source.columns))
    for what, given in (("the template's fields must be", sorted(n for n in names if n != "item")),
                        ("--image must name", list(opts.images)),
                        ("--file must name", list(opts.files)),
                        ("--source must name", [opts.source] if opts.source else [])):
        away = [n for n in given if n not in columns]
        if away:
            raise UsageError(
                f"With --engine, {what} columns of {opts.each}: {', '.join(away)} "
                f"{'is' if len(away) == 1 else 'are'} not (the notebook's variables do not "
                "travel to the workers).")


def row_sources(magics: Any, opts: CellOptions, index: Sequence[Any],
                records: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Each row's text to ground its values in: ``--source NAME`` (the row's field NAME,
    else the notebook's variable), else the row's own values as the template fills them
    (never the template's fixed words); None where the row has files (their text layer)."""
    if opts.source is not None:
        ns = magics.shell.user_ns
        values = [_row_value(row, ns, opts.source, "source", i)
                  for i, row in zip(index, records, strict=True)]
        return [NO_TEXT if v is None or is_blank(v) else v for v in values]
    if opts.files or opts.images:
        return [None] * len(records)
    if not opts.interpolate:
        return [opts.body] * len(records)
    return [row_text(opts.body, row) for row in records]


def row_media(magics: Any, opts: CellOptions, index: Sequence[Any],
              records: Sequence[Mapping[str, Any]]) -> dict[str, list[list[Any]]]:
    """``images`` / ``files`` of every row, from ``--image NAME`` / ``--file NAME`` (each
    the row's field NAME, else the notebook's variable)."""
    ns = magics.shell.user_ns
    media = {}
    for flag, names in (("images", opts.images), ("files", opts.files)):
        if names:
            media[flag] = [[_row_value(row, ns, name, flag, i) for name in names]
                           for i, row in zip(index, records, strict=True)]
    return media


def _row_value(row: Mapping[str, Any], ns: Mapping[str, Any], name: str, flag: str,
               index: Any) -> Any:
    """``--image NAME`` for one row: the row's field NAME, else the notebook's variable."""
    if name in row:
        return row[name]
    if name.isidentifier() and name in ns:
        return ns[name]
    option = {"images": "--image", "files": "--file"}.get(flag, f"--{flag}")
    raise UsageError(f"{option} {name}: row {index!r} has no field {name!r} and the notebook "
                     "has no such variable.")


def _has_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True
