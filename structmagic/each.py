"""``%%structured SCHEMA --each VAR``: the cell body as a template over a list or a column.

VAR may be a list (``{item}``), a pandas Series (``{item}``, index kept) or a DataFrame
(``{column}`` per row, and ``{item}`` for the row as a dict). NAME gets a list of values,
or — for a Series or DataFrame when pandas is installed — a DataFrame with one column per
top-level field plus an ``error`` column, aligned with the input's index. With
``--batch-api`` the rows go through the provider's batch API instead of parallel requests
(:mod:`structmagic.batchapi.cell`); they are bound the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError

__all__ = ["collect_rows", "results_frame", "run_each"]


def collect_rows(source: Any) -> tuple[list[Any], list[dict[str, Any]], str]:
    """The index and the template fields of each row, and the kind of input."""
    kind = type(source).__name__
    module = type(source).__module__.split(".", 1)[0]
    if module == "pandas" and kind == "DataFrame":
        index = list(source.index)
        rows = [
            {**{str(k): v for k, v in rec.items()}, "item": dict(rec)}
            for rec in source.to_dict("records")
        ]
        return index, rows, "DataFrame"
    if module == "pandas" and kind == "Series":
        return list(source.index), [{"item": v} for v in source.tolist()], "Series"
    if isinstance(source, (str, bytes, Mapping)) or not hasattr(source, "__iter__"):
        raise UsageError(
            f"--each needs a list, a pandas Series or a DataFrame, not {kind}."
        )
    items = list(source)
    return list(range(len(items))), [{"item": v} for v in items], "list"


def results_frame(results: list[Any], index: list[Any]) -> Any:
    """A DataFrame: one column per top-level field, plus ``error``; aligned with ``index``."""
    import pandas as pd

    records: list[dict[str, Any]] = []
    for res in results:
        rec: dict[str, Any] = {}
        if res.error is None:
            if isinstance(res.plain, dict):
                rec.update(res.plain)
            else:
                rec["value"] = res.data
        rec["error"] = None if res.error is None else f"{type(res.error).__name__}: {res.error}"
        records.append(rec)
    frame = pd.DataFrame.from_records(records, index=pd.Index(index) if index else None)
    cols = [c for c in frame.columns if c != "error"] + ["error"]
    return frame[cols]


def run_each(magics: Any, args: Any, spec: Any, body: str, options: dict[str, Any],
             source: Any) -> Any:
    """Run the cell over every row of ``source``; bind or return the values."""
    from .batching import BatchInterrupted, BatchProgress, batch
    from .kernel import has_kernel
    from .progress import BatchBar
    from .prompt import TemplateError, fill_template

    index, rows, kind = collect_rows(source)
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
    if getattr(args, "batch_api", None):
        from .batchapi.cell import via_batch_api

        outcome = via_batch_api(magics, args, spec, prompts, options)
        if isinstance(outcome, tuple):
            found, stopped = outcome
            return _bind(magics, args, found, stopped, index, kind)
        if outcome is not None:
            return outcome  # --no-wait: the job, still running
    bar = BatchBar(len(prompts), title=spec.name, live=not args.quiet and has_kernel(magics.shell))
    bar.show()
    concurrency = args.concurrency or 16
    interrupted: BatchInterrupted | None = None
    try:
        results = batch(prompts, spec, concurrency=concurrency, on_progress=bar.update,
                        **options)
    except BatchInterrupted as exc:
        interrupted, results = exc, exc.results
    progress = BatchProgress(total=len(results))
    progress.done = sum(1 for r in results if r.error is None)
    progress.failed = len(results) - progress.done
    progress.tokens = sum(r.usage.get("total_tokens", 0) for r in results)
    if interrupted is not None:
        bar.interrupted(progress)
    else:
        bar.update(progress, final=True)
    if bar.box is None and not args.quiet:
        print(bar.text)
    return _bind(magics, args, results, interrupted, index, kind)


def _bind(magics: Any, args: Any, results: list[Any], interrupted: Any, index: list[Any],
          kind: str) -> Any:
    """Bind (or return) the values of the rows, as a list or an aligned DataFrame."""
    value: Any
    if kind in ("DataFrame", "Series") and _has_pandas():
        value = results_frame(results, index)
    else:
        value = [r.data for r in results]
    if args.out is not None:
        magics.shell.user_ns[args.out] = value
    if interrupted is not None:
        raise KeyboardInterrupt(
            f"{interrupted} (the finished items are bound"
            f"{' to ' + args.out if args.out else ''}; unfinished ones are marked)"
        )
    return None if args.out is not None else value


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
