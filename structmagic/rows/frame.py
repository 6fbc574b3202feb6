"""Rows in and results out as tables: the rows of a list, a Series or a DataFrame, and a
DataFrame of results with the columns structmagic puts beside the schema's fields.

A table of answers (``--each`` over a DataFrame, an :class:`~structmagic.Extractor`'s output,
a model comparison's frame) has a column per top-level field of the schema, then columns
structmagic adds: ``error``, ``cost``, ``grounded`` (with grounding: the share of the values
looked for that were found in the source, NaN when none was), ``doubt`` (with
``confidence`` or ``samples``: :attr:`~structmagic.Result.doubt`, 1 for a failed row; sort
by it to see the rows to look at first), and the Extractor's counts.
A field of the answers always keeps its name; an added column whose name a field (or a
column kept from the input) already has is renamed, never merged into it: ``error`` becomes
``row_error``, ``cost`` becomes ``cost_usd``, any other ``row_<name>`` (with a leading ``_``
added until it is free).
"""

from __future__ import annotations

import contextlib
import warnings
from array import array
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any, overload

from ..call.grounding import grounded_share
from ..errors import NOT_RUN, InputError, NotRun
from ..schema.tree import resolve_ref
from .runs import results_of

__all__ = ["GROUNDING_COLUMNS", "RENAMED", "RowFields", "collect_rows", "grounded_column",
           "grounding_frame", "measured_doubt", "own_column", "results_frame", "rows_of",
           "top_fields", "top_properties", "write_cells"]

#: the columns of :func:`grounding_frame`
GROUNDING_COLUMNS = ("row", "path", "value", "status", "start", "end", "page", "text", "score")

#: the name an added column takes when a field already has its own
RENAMED = {"error": "row_error", "cost": "cost_usd"}


def own_column(name: str, taken: Collection[str]) -> str:
    """The name of structmagic's column ``name`` in a table whose ``taken`` names (the
    schema's fields, the columns kept from the input) come first."""
    if name not in taken:
        return name
    alt = RENAMED.get(name, f"row_{name}")
    while alt in taken:
        alt = "_" + alt
    return alt


def top_properties(spec: Any) -> dict[str, Any]:
    """The schema's top-level fields and their sub-schemas (a root ``$ref`` followed);
    ``{"value": root}`` when the root is not an object with ``properties``."""
    node = spec.original
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):

        with contextlib.suppress(KeyError):
            node = resolve_ref(node, node["$ref"])
    props = node.get("properties") if isinstance(node, dict) else None
    return dict(props) if isinstance(props, dict) else {"value": node}


def top_fields(spec: Any) -> list[str]:
    """The columns of a schema's top-level fields (``["value"]`` for another root)."""
    return list(top_properties(spec))


def rows_of(source: Any, what: str) -> Sequence[Any]:
    """The values of a column ``what`` names (``"prompts"``, ``"labels"`` ...), one a row:
    a sequence (a list, a tuple) as it is; any other iterable (a generator, an iterator, a
    pandas Series, a NumPy array) read once into a list. :class:`~structmagic.InputError`
    for one value where a column of them is wanted: a string, bytes, a mapping, a pandas
    DataFrame (its iteration gives its column names), or anything that is not iterable."""
    kind = type(source).__name__
    frame = kind == "DataFrame" and type(source).__module__.split(".", 1)[0] == "pandas"
    if isinstance(source, (str, bytes, bytearray, Mapping)) or frame or not hasattr(
            source, "__iter__"):
        hint = (" (one of its columns, df['name'], is a column)" if frame else "")
        article = "an" if kind[:1].lower() in "aeiou" else "a"
        raise InputError(f"{what} must be a list (or any iterable) with one entry a row, "
                         f"not {article} {kind}{hint}.")
    return source if isinstance(source, Sequence) else list(source)


def collect_rows(source: Any) -> tuple[Sequence[Any], Sequence[dict[str, Any]], str]:
    """The index (a pandas Index as it is, else the positions) and the template fields of
    each row (:class:`RowFields`: each row's made when it is read), and the kind of
    input."""
    kind = type(source).__name__
    module = type(source).__module__.split(".", 1)[0]
    if module == "pandas" and kind == "DataFrame":
        return source.index, RowFields(len(source), lambda a, b: [
            {**{str(k): v for k, v in rec.items()}, "item": dict(rec)}
            for rec in source.iloc[a:b].to_dict("records")]), "DataFrame"
    if module == "pandas" and kind == "Series":
        return source.index, RowFields(len(source), lambda a, b: [
            {"item": v} for v in source.iloc[a:b].tolist()]), "Series"
    if isinstance(source, (str, bytes, Mapping)) or not hasattr(source, "__iter__"):
        raise InputError(f"Rows come from a list, a pandas Series or a DataFrame, not {kind}.")
    items = list(source)
    return list(range(len(items))), RowFields(len(items), lambda a, b: [
        {"item": v} for v in items[a:b]]), "list"


class RowFields(Sequence[dict[str, Any]]):
    """The template fields of each row of ``--each``'s value (a DataFrame row's columns and
    ``item``; a list's or a Series' ``item``), made a chunk of rows at a time as they are
    read: a dict a row for a million rows would take a GB. ``chunk(start, stop)`` makes
    the rows ``start`` to ``stop - 1``; reading a row again makes it again."""

    CHUNK = 1024

    def __init__(self, size: int, chunk: Callable[[int, int], list[dict[str, Any]]]) -> None:
        self._size = size
        self._chunk = chunk
        self._last: tuple[int, list[dict[str, Any]]] = (-1, [])

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for start in range(0, self._size, self.CHUNK):
            yield from self._chunk(start, min(start + self.CHUNK, self._size))

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self._size))]
        if i < 0:
            i += self._size
        if not 0 <= i < self._size:
            raise IndexError("row index out of range")
        first = i - i % self.CHUNK
        if self._last[0] != first:
            self._last = (first, self._chunk(first, min(first + self.CHUNK, self._size)))
        return self._last[1][i - first]


def results_frame(results: list[Any], index: Sequence[Any],
                  fields: Sequence[str] | None = None, *, typed: bool = True) -> Any:
    """A DataFrame: one column per top-level field (``fields``, the schema's; by default the
    answers' own keys), plus ``error`` and ``cost``, aligned with ``index``. A field named
    ``error`` or ``cost`` keeps its name; structmagic's column is then ``row_error`` or
    ``cost_usd`` (:func:`own_column`). An answer that is not an object goes in a
    ``value`` column: the typed value (a Pydantic model ...), or with ``typed=False`` the
    plain JSON value. A row without a field's value has NaN there.

    The frame is built from one tuple a row (not a dict a row, three times its size), read
    by pandas as it reads records: a column of a million rows is built in a few hundred MB
    beside its results."""
    import pandas as pd

    if fields is None:
        seen: dict[str, None] = {}
        for res in results:
            if res.error is None:
                keys = res.plain if isinstance(res.plain, dict) else ("value",)
                seen.update(dict.fromkeys(map(str, keys)))
        fields = list(seen)
    error_col = own_column("error", fields)
    cost_col = own_column("cost", [*fields, error_col])
    # the schema's fields in its order (a column even when no row has a value), then any
    # other key the answers have, then the error
    cols: dict[Any, None] = dict.fromkeys(fields)
    for res in results:
        if res.error is None:
            cols.update(dict.fromkeys(res.plain if isinstance(res.plain, dict) else ("value",)))
    cols.pop(error_col, None)
    columns = [*cols, error_col]
    nan = float("nan")
    nans = (nan,) * len(cols)
    rows: list[tuple[Any, ...]] = []
    costs = array("d")
    for res in results:
        if res.error is None:
            plain = res.plain
            answer = plain if isinstance(plain, dict) else {
                "value": res.data if typed else plain}
            rows.append((*map(answer.get, cols, nans), None))
        else:
            error = (NOT_RUN if isinstance(res.error, NotRun)
                     else f"{type(res.error).__name__}: {res.error}")
            rows.append((*nans, error))
        cost = res.cost
        costs.append(nan if cost is None else float(cost))
    if rows:
        frame = pd.DataFrame.from_records(rows, columns=columns,
                                          index=pd.Index(index) if len(index) else None)
    else:  # no rows: columns of no values (float64, as pandas makes them)
        frame = pd.DataFrame().reindex(columns=columns)
    del rows
    frame[cost_col] = pd.Series(costs, index=frame.index, dtype="float64")
    taken = [*fields, error_col, cost_col]
    if any(res.grounding is not None for res in results):
        name = own_column("grounded", taken)
        taken.append(name)
        frame[name] = pd.Series(grounded_column(results), index=frame.index, dtype="float64")
    if any(measured_doubt(res) for res in results):
        frame[own_column("doubt", taken)] = pd.Series([res.doubt for res in results],
                                                      index=frame.index, dtype="float64")
    return frame


def write_cells(frame: Any, at: int, positions: Sequence[int], values: Sequence[Any]) -> None:
    """Set the cells of column number ``at`` at row ``positions`` to ``values``, in place,
    one cell each (a list or a dict is one cell's value); a column whose type cannot hold a
    value is widened to objects first."""
    for position, value in zip(positions, values, strict=True):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                frame.iat[position, at] = value
        except (TypeError, ValueError, Warning):
            frame.isetitem(at, frame.iloc[:, at].astype(object))
            frame.iat[position, at] = value


def measured_doubt(result: Any) -> bool:
    """Whether a row's doubt was measured beyond its re-asks: confidence or samples were
    asked for (``confidence``, ``confidence_reason`` or ``agreement`` is set)."""
    return (result.confidence is not None or result.confidence_reason is not None
            or result.agreement is not None)


def grounded_column(results: Sequence[Any]) -> list[float]:
    """Each row's share of grounded values (NaN: a failed row, or none looked for)."""
    out = []
    for res in results:
        share = grounded_share(res.grounding) if res.error is None else None
        out.append(float("nan") if share is None else share)
    return out


def grounding_frame(results: Any, index: Sequence[Any] | None = None) -> Any:
    """The grounding of many results in long form, one row a value: ``row`` (the input's
    index label, or the position), ``path``, ``value``, ``status``, ``start``, ``end``,
    ``page``, ``text``, ``score`` (:data:`GROUNDING_COLUMNS`), for filtering with pandas
    (``g[g.status == "ungrounded"]``). ``results``: a list of :class:`~structmagic.Result`
    (from :func:`~structmagic.batch`), or the DataFrame ``%%structured --each --ground``
    bound (its rows labelled by its index). Failed rows and rows run without grounding have
    no lines."""
    import pandas as pd

    made = results_of(results)
    if made is not None:
        results, index = made[0], made[1] if index is None else index
    elif type(results).__name__ == "DataFrame":
        raise InputError("This DataFrame was not made by %%structured --each in this kernel "
                         "(or it is a copy of one): pass the list of results instead.")
    results = rows_of(results, "results")
    if not all(hasattr(res, "grounding") for res in results):
        raise InputError("grounding_frame needs results (structmagic.Result), as batch() "
                         "returns them.")
    labels = list(index) if index is not None else list(range(len(results)))
    if len(labels) != len(results):
        raise InputError(f"index has {len(labels)} labels for {len(results)} results.")
    records = [
        (label, path, rec.value, rec.status, rec.start, rec.end, rec.page, rec.text, rec.score)
        for label, res in zip(labels, results, strict=True)
        if res.error is None and res.grounding
        for path, rec in res.grounding.items()
    ]
    frame = pd.DataFrame.from_records(records, columns=list(GROUNDING_COLUMNS))
    for col in ("start", "end", "page"):
        frame[col] = frame[col].astype("Int64")
    frame["score"] = frame["score"].astype("float64")
    return frame
