"""``%%structured SCHEMA --each VAR``: the cell body as a template over a list or a column.

VAR may be a list (``{item}``), a pandas Series (``{item}``, index kept) or a DataFrame
(``{column}`` per row, and ``{item}`` for the row as a dict). ``--image NAME`` / ``--file
NAME`` take each row's value when NAME is one of its fields (a column, or ``item``), else
the notebook variable NAME for every row. NAME gets a list of values,
or — for a Series or DataFrame when pandas is installed — a DataFrame with one column per
top-level field plus an ``error`` column and a ``cost`` column (USD per row; 0 for a row
answered from the recording, NaN when unknown), aligned with the input's index; a field of
the schema called ``error`` or ``cost`` keeps its name, and those columns are then
``row_error`` / ``cost_usd``. With
``--max-cost``, rows the budget stopped have ``error`` "not run: budget". With
``--batch-api`` the rows go through the provider's batch API instead of parallel requests
(:mod:`structmagic.rows.jobs.cell`); they are bound the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from IPython.core.error import UsageError

from .errors import InputError
from .rows.frame import collect_rows, results_frame

__all__ = ["each_rows", "row_prompts", "run_each"]


def each_rows(source: Any) -> tuple[list[Any], list[dict[str, Any]], str]:
    """The index and the template fields of each row of ``--each``'s value, and its kind."""
    try:
        return collect_rows(source)
    except InputError:
        raise UsageError(f"--each needs a list, a pandas Series or a DataFrame, not "
                         f"{type(source).__name__}.") from None


def row_prompts(magics: Any, args: Any, body: str, source: Any
                ) -> tuple[list[Any], list[str], str]:
    """The index, the prompt of every row (the body filled from the row, then the
    notebook), and the kind of input; a UsageError names a row whose prompt cannot be made."""
    index, rows, kind = each_rows(source)
    return index, _prompts(magics, args, body, index, rows), kind


def run_each(magics: Any, args: Any, spec: Any, body: str, options: dict[str, Any],
             source: Any) -> Any:
    """Run the cell over every row of ``source``; bind or return the values."""
    if args.engine is not None:
        return _run_on_engine(magics, args, spec, body, options, source)
    from .display.kernel import has_kernel
    from .display.progress import BatchBar
    from .errors import BatchInterrupted
    from .rows import batch
    from .rows.counts import BatchProgress

    index, rows, kind = each_rows(source)
    prompts = _prompts(magics, args, body, index, rows)
    if getattr(args, "expect", None) is not None:
        _expected(args, spec, source)  # a bad column fails before any request
    options.update(row_media(magics, args, index, rows))
    if getattr(args, "compare", None) is not None:
        return _run_compare(magics, args, spec, options, source, index, prompts)
    outcome = None
    if getattr(args, "batch_api", None):
        from .rows.jobs.cell import via_batch_api

        outcome = via_batch_api(magics, args, spec, prompts, options)
        if outcome is not None and not isinstance(outcome, tuple):
            return outcome  # --no-wait: the job, still running
    bar = BatchBar(len(prompts), title=spec.name,
                   live=outcome is None and not args.quiet and has_kernel(magics.shell))
    concurrency = args.concurrency or 16
    interrupted: BatchInterrupted | None = None
    if outcome is not None:  # the batch API's results (its own bar showed the job)
        results, interrupted = outcome
    else:
        bar.show()
        try:
            results = batch(prompts, spec, concurrency=concurrency, on_progress=bar.update,
                            **options)
        except BatchInterrupted as exc:
            interrupted, results = exc, exc.results
    progress = BatchProgress.of(results, max_cost=options.get("max_cost"))
    if interrupted is not None:
        bar.interrupted(progress)
    else:
        bar.update(progress, final=True)
        if progress.not_run and bar.bar is not None:
            bar.bar.bar_style = "warning"  # stopped at the budget: not every row ran
    value: Any
    if kind in ("DataFrame", "Series") and _has_pandas():
        from .rows.frame import top_fields

        value = results_frame(results, index, top_fields(spec))
    else:
        value = [r.data for r in results]
    if args.out is not None:
        magics.shell.user_ns[args.out] = value  # bound before scoring: paid for already
    if kind in ("DataFrame", "Series") and getattr(args, "expect", None) is not None and (
            interrupted is None and _has_pandas()):
        scores = _scores(args, spec, source, {"": results})
        value.attrs["scores"] = scores
        if not args.quiet:
            _show_scores(scores)
    if bar.box is None and not args.quiet and outcome is None:
        print(bar.text)
    if interrupted is not None:
        raise KeyboardInterrupt(
            f"{interrupted} (the finished items are bound"
            f"{' to ' + args.out if args.out else ''}; unfinished ones are marked)"
        )
    return None if args.out is not None else value


def _prompts(magics: Any, args: Any, body: str, index: list[Any],
             rows: list[dict[str, Any]]) -> list[str]:
    from .call.prompt import TemplateError, fill_template

    ns = magics.shell.user_ns
    prompts: list[str] = []
    for i, row in zip(index, rows, strict=True):
        if args.no_interpolate:
            prompts.append(body)
            continue
        try:
            prompts.append(fill_template(body, _Layered(row, ns)))
        except TemplateError as exc:
            raise UsageError(f"--each row {i!r}: {exc}") from None
    return prompts


def _expected(args: Any, spec: Any, source: Any) -> list[Any]:
    """The expected values of ``--expect COLUMN``, in the schema's shape."""
    from .rows.score import field_kinds

    if type(source).__name__ != "DataFrame" or args.expect not in source.columns:
        raise UsageError(f"--expect needs a column of the --each DataFrame: {args.expect!r} "
                         "is not one.")
    fields = list(field_kinds(spec.original))
    out: list[Any] = []
    for value in source[args.expect].tolist():
        if isinstance(value, Mapping):
            out.append(dict(value))
        elif len(fields) == 1:
            out.append({fields[0]: value})
        else:
            raise UsageError(f"--expect {args.expect}: each value must be the expected answer "
                             f"(a dict with the fields {', '.join(fields)}), not "
                             f"{type(value).__name__}.")
    return out


def _scores(args: Any, spec: Any, source: Any, results: dict[str, list[Any]]) -> Any:
    """Per field (and per model when there are several) scores against ``--expect``."""
    import pandas as pd

    from .rows.score import score

    labels = _expected(args, spec, source)
    tol = 1e-6 if args.tol is None else args.tol
    tables = {model: score(rows, labels, spec.original, tol=tol).table
              for model, rows in results.items()}
    if list(tables) == [""]:
        return tables[""]
    return pd.concat(tables, names=["model", "field"])


def _show_scores(scores: Any) -> None:
    from IPython.display import display

    display(scores)


def _run_compare(magics: Any, args: Any, spec: Any, options: dict[str, Any], source: Any,
                 index: list[Any], prompts: list[str]) -> Any:
    """``--each VAR --compare MODELS``: the column to every model; a frame of field@model
    columns, its per-model summary (and scores with ``--expect``) shown and kept in
    ``frame.attrs``."""
    from .display.kernel import has_kernel
    from .display.progress import BatchBar
    from .errors import StructuredError
    from .rows.compare import compare_each, parse_targets
    from .rows.counts import BatchProgress

    if not _has_pandas():
        raise UsageError('--each with --compare binds a DataFrame: pip install '
                         '"structmagic[pandas]".')
    try:
        targets = parse_targets(args.compare)
    except StructuredError as exc:
        raise UsageError(f"--compare: {exc}") from None
    live = not args.quiet and has_kernel(magics.shell)
    bars = {t.label: BatchBar(len(prompts), title=f"{spec.name} · {t.label}", live=live)
            for t in targets}
    for bar in bars.values():
        bar.show()
    table = compare_each(prompts, spec, [t.label for t in targets], index=index,
                         concurrency=args.concurrency or 16,
                         on_progress=lambda label, p: bars[label].update(p), **options)
    for label, results in table.results.items():
        bars[label].update(BatchProgress.of(results), final=True)
        if bars[label].box is None and not args.quiet:
            print(bars[label].text)
    frame = table.frame
    frame.attrs["summary"] = table.summary
    if args.out is not None:
        magics.shell.user_ns[args.out] = frame  # bound before scoring: paid for already
    if args.expect is not None:
        frame.attrs["scores"] = _scores(args, spec, source, table.results)
    if not args.quiet:
        from IPython.display import display

        display(table.summary)
        if args.expect is not None:
            display(frame.attrs["scores"])
    return None if args.out is not None else frame


def _run_on_engine(magics: Any, args: Any, spec: Any, body: str, options: dict[str, Any],
                   source: Any) -> Any:
    """``--engine dask``: the cell mapped over the partitions of a Dask DataFrame."""
    from .rows.engines import Extractor, template_fields

    if type(source).__module__.split(".", 1)[0] != "dask" or not hasattr(
            source, "map_partitions"):
        raise UsageError(f"--engine dask needs a Dask DataFrame for --each, not "
                         f"{type(source).__name__}.")
    template = body.replace("{", "{{").replace("}", "}}") if args.no_interpolate else body
    try:
        names = template_fields(template)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    missing = sorted(n for n in names if n != "item" and n not in set(map(str, source.columns)))
    if missing:
        raise UsageError(
            f"With --engine, the template's fields must be columns of {args.each}: "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not (the notebook's "
            "variables do not travel to the workers).")
    columns = set(map(str, source.columns))
    for option, given in (("--image", args.image), ("--file", args.file)):
        away = [name for name in given or () if name not in columns]
        if away:
            raise UsageError(
                f"With --engine, {option} must name columns of {args.each}: "
                f"{', '.join(away)} {'is' if len(away) == 1 else 'are'} not (the notebook's "
                "variables do not travel to the workers).")
    from .errors import StructuredError

    try:
        extractor = Extractor(spec, template, concurrency=args.concurrency or 8,
                              images=args.image or (), files=args.file or (), **options)
    except StructuredError as exc:
        raise UsageError(str(exc)) from None
    lazy = source.map_partitions(extractor, meta=extractor.meta(source))
    value = lazy.compute() if args.compute else lazy
    if args.out is not None:
        magics.shell.user_ns[args.out] = value
        return None
    return value


def row_media(magics: Any, args: Any, index: Sequence[Any], rows: Sequence[Mapping[str, Any]]
              ) -> dict[str, list[list[Any]]]:
    """``images`` / ``files`` of every row, from ``--image NAME`` / ``--file NAME`` (each
    the row's field NAME, else the notebook's variable)."""
    ns = magics.shell.user_ns
    media = {}
    for flag, names in (("images", args.image), ("files", args.file)):
        if names:
            media[flag] = [[_row_value(row, ns, name, flag, i) for name in names]
                           for i, row in zip(index, rows, strict=True)]
    return media


def _row_value(row: Mapping[str, Any], ns: Mapping[str, Any], name: str, flag: str,
               index: Any) -> Any:
    """``--image NAME`` for one row: the row's field NAME, else the notebook's variable."""
    if name in row:
        return row[name]
    if name.isidentifier() and name in ns:
        return ns[name]
    option = "--image" if flag == "images" else "--file"
    raise UsageError(f"{option} {name}: row {index!r} has no field {name!r} and the notebook "
                     "has no such variable.")


def _has_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


class _Layered(Mapping[str, Any]):
    """Row fields first, then the notebook's names."""

    def __init__(self, first: Mapping[str, Any], second: Mapping[str, Any]) -> None:
        self._first, self._second = first, second

    def __getitem__(self, key: str) -> Any:
        if key in self._first:
            return self._first[key]
        return self._second[key]

    def __contains__(self, key: object) -> bool:
        return key in self._first or key in self._second

    def __iter__(self) -> Any:
        yield from self._first
        yield from (k for k in self._second if k not in self._first)

    def __len__(self) -> int:
        return len(set(self._first) | set(self._second))
