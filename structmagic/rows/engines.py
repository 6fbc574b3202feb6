"""Past one machine: a picklable :class:`Extractor` that Dask, Ray or Spark map over partitions.

An engine you already run holds the data (or drives a self-hosted endpoint harder than one
kernel can); structmagic brings what the engines lack — the provider's schema conversion,
validation and re-asks, retries, shared rate limits — one partition at a time, with the same
threaded :func:`structmagic.batch` a cell uses::

    extractor = structmagic.Extractor(invoice, "Extract the invoice: {text}", model="gpt-4o-mini",
                                      max_requests_per_minute=600, workers=4)
    # Dask: order and index kept
    out = ddf.map_partitions(extractor, meta=extractor.meta())
    # Ray Data: order restored from an index column you keep
    ds.map_batches(structmagic.Extractor, fn_constructor_args=(invoice, "..."),
                   fn_constructor_kwargs={...}, batch_format="pandas", num_cpus=0.5)
    # Spark
    sdf.mapInPandas(extractor.spark_batches, schema=extractor.spark_schema())

Calling it maps a pandas DataFrame (or Series) partition to a DataFrame with the same index
and order: one column per top-level field of the schema (or one ``value`` column), then
``error``, ``attempts``, ``prompt_tokens``, ``completion_tokens``, ``total_tokens`` and
``cost`` (USD; NaN when the price is unknown), with ``ground=True`` ``grounded`` (the
share of each row's values found in its source), and with ``confidence=True`` or
``samples=K`` ``doubt`` (:attr:`~structmagic.Result.doubt`) — renamed ``row_error``,
``row_attempts``, ``cost_usd`` ... when the schema has a field of that name, which keeps it
(:meth:`Extractor.added`). A row that fails keeps its error and never fails the partition.
``images`` / ``files`` name columns whose cells go with each row as images / documents
(read on the worker).

What travels to the workers: the schema, the template and the options, as plain data. No
HTTP client is made before the first call on a worker, and none is pickled. The key is not
pickled either: each worker reads it from the environment variable the options name
(``api_key_env``) or the provider's own (``OPENAI_API_KEY``, ...), so set it in the workers'
environment. ``ship_key=True`` sends a key given as ``api_key=`` inside the pickle instead —
a risk: anyone who can read the task graph, a spilled pickle or a worker's memory can read
the key.

Rate limits are for the whole job: ``max_requests_per_minute`` and ``max_tokens_per_minute``
are split evenly across ``workers`` (the number of worker processes you run), and each
worker paces every partition it runs through one shared gate. ``concurrency`` is the number
of requests in flight per worker (per running task).

A partition task that the engine retries does not pay again for rows that already succeeded
when a recording is configured (``cache="cache"`` with a ``cassette`` every worker can reach:
appends are locked, so workers share one file).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from ..call.prompt import TemplateError, fill_template, row_text
from ..call.result import Result
from ..config import resolve
from ..errors import ConfigError
from ..grounding import NO_TEXT
from ..inputs.convert import DETAILS, is_blank
from ..schema import load_schema
from ..secret import Secret
from .frame import (
    collect_rows,
    grounded_column,
    own_column,
    results_frame,
    top_fields,
    top_properties,
)
from .gate import RateGate
from .threads import run_threads
from .unique import renumber

__all__ = ["Extractor", "template_fields"]

#: the columns after the schema's fields, in order
EXTRA_COLUMNS = ("error", "attempts", "prompt_tokens", "completion_tokens", "total_tokens",
                 "cost")
_COUNTS = ("attempts", "prompt_tokens", "completion_tokens", "total_tokens")
_NOT_SHIPPED = ("http_client",)
#: options whose values the repr does not show (secrets, or values that may hold one)
_NOT_SHOWN = ("api_key", "extra_headers", "extra_query", "token_provider")

# One gate per extractor in each worker process: every partition a worker runs is paced by
# the same per-minute budget.
_gates: dict[str, RateGate] = {}
_gates_lock = threading.Lock()


class Extractor:
    """A picklable ``DataFrame -> DataFrame`` of validated fields (see the module doc).

    ``schema`` is anything :func:`structmagic.load_schema` takes (a Python type must be
    importable on the workers); ``template`` is the prompt, ``{column}`` filled from each
    row (``{item}`` is the row as a dict; ``{{``/``}}`` are braces). ``options`` are those of
    :func:`structmagic.structured` (``model``, ``system``, ``provider``, ``base_url``,
    ``retries``, ``reasks``, ``timeout``, ``cache``, ``cassette`` ...). ``keep`` names input
    columns copied to the output, first (an id, or a row number to restore the order by on
    engines that do not keep it, such as Ray). ``images`` / ``files`` name input columns
    whose values (a path the workers can read, bytes, a URL, a PIL image, ...) go with each
    row as images / documents; an empty cell (None, NaN) sends none. ``detail``, ``inline``
    and ``downscale`` are as for :func:`structmagic.structured`. With ``ground=True``, each
    row's values are grounded in the input column ``source`` names, else in the text layer of
    its files, else in the row's own values as the template fills them (never the
    template's fixed words), and a ``grounded`` column is added. With ``confidence=True`` or
    ``samples=K``, a ``doubt`` column (:attr:`~structmagic.Result.doubt`) is added.
    """

    def __init__(self, schema: Any, template: str, *, keep: Sequence[str] = (),
                 images: Sequence[str] = (), files: Sequence[str] = (),
                 detail: str | None = None, inline: bool = False, downscale: bool = True,
                 concurrency: int = 8, max_requests_per_minute: float | None = None,
                 max_tokens_per_minute: float | None = None, workers: int = 1,
                 ship_key: bool = False, source: str | None = None, **options: Any) -> None:
        if not isinstance(template, str) or not template.strip():
            raise ConfigError("The template must be the prompt text, with {column} fields.")
        for name, value in (("concurrency", concurrency), ("workers", workers)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a whole number of at least 1, not "
                                  f"{value!r}.")
        for name in _NOT_SHIPPED:
            if options.get(name) is not None:
                raise ConfigError(f"{name} cannot travel to the workers (it is not picklable "
                                  "and holds open connections); each worker makes its own.")
        if "api_key" in options and not ship_key:
            raise ConfigError(
                "An api_key given to an Extractor would travel inside every pickle of it. Set "
                "the key in the workers' environment (the variable api_key_env names, or the "
                "provider's own such as OPENAI_API_KEY), or pass ship_key=True if you accept "
                "that risk.")
        self._spec = load_schema(schema)  # checked now: a bad schema fails on the driver
        settings = resolve({k: v for k, v in options.items() if k != "api_key"})  # bad options
        literal = [name for name, value in (*settings.extra_headers, *settings.extra_query)
                   if isinstance(value, Secret)]
        if literal and not ship_key:
            raise ConfigError(
                f"The value of {', '.join(literal)} would travel inside every pickle of this "
                "Extractor. Write it as 'env:VARIABLE' (each worker reads the variable from its "
                "own environment), or pass ship_key=True if you accept that risk.")
        self.grounded = settings.grounds
        #: doubt is measured (``confidence``, ``samples``): a ``doubt`` column is added
        self.doubted = settings.confidence or settings.samples > 1
        if source is not None and (not isinstance(source, str) or not self.grounded):
            raise ConfigError("source names the input column to ground the values in (a "
                              "str), with ground=True.")
        self.source = source
        for name, names in (("keep", keep), ("images", images), ("files", files)):
            if isinstance(names, str) or not all(isinstance(c, str) for c in names):
                raise ConfigError(f"{name} must be a list of column names.")
        if detail is not None and detail not in DETAILS:
            raise ConfigError(f"detail must be one of {', '.join(DETAILS)}, not {detail!r}.")
        clash = [c for c in keep if c in top_fields(self._spec)]
        if clash:
            raise ConfigError(f"keep names {', '.join(map(repr, clash))}, which the schema "
                              "also has as a field: the output would have two columns of that "
                              "name. Keep it under another name (rename the input column).")
        self.schema = schema
        self.template = template
        self.keep = list(keep)
        self.images, self.files = list(images), list(files)
        self.media: dict[str, Any] = {"detail": detail, "inline": bool(inline),
                                      "downscale": bool(downscale)}
        self.options = dict(options)
        self.concurrency = concurrency
        self.workers = workers
        self.max_requests_per_minute = max_requests_per_minute
        self.max_tokens_per_minute = max_tokens_per_minute
        self.ship_key = ship_key
        self._token = uuid.uuid4().hex

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.options.items() if k not in _NOT_SHOWN}
        shown.update({k: "(set)" for k in _NOT_SHOWN if k != "api_key" and self.options.get(k)})
        return (f"<Extractor {self._spec.name!r}: {len(self.fields())} fields, "
                f"options {shown}, key {'shipped' if self.ship_key else 'from the workers'}>")

    # --- pickling: plain data only ----------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k != "_spec"}
        if "api_key" in self.options:
            # only with ship_key=True (refused otherwise); the Secret itself never pickles
            key = self.options["api_key"]
            state["options"] = {**self.options, "api_key": _plain_key(key)}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._spec = load_schema(self.schema)

    # --- the columns ------------------------------------------------------------------------

    def fields(self) -> list[str]:
        """The columns of the schema's top-level fields (``["value"]`` for another root)."""
        return top_fields(self._spec)

    def added(self) -> dict[str, str]:
        """The columns added after the fields, by role (``error``, ``attempts``, the token
        counts, ``cost``) -> their name: the role's own, unless a field or a kept column has
        it (then ``row_error``, ``cost_usd``, ``row_<role>``: :mod:`structmagic.rows.frame`)."""
        taken = [*self.keep, *self.fields()]
        names: dict[str, str] = {}
        extra = (*(("grounded",) if self.grounded else ()),
                 *(("doubt",) if getattr(self, "doubted", False) else ()))
        for role in (*EXTRA_COLUMNS, *extra):
            names[role] = own_column(role, [*taken, *names.values()])
        return names

    def columns(self) -> list[str]:
        """Every output column, in order."""
        return [*self.keep, *self.fields(), *self.added().values()]

    def meta(self, like: Any = None) -> Any:
        """An empty DataFrame with the output's columns and dtypes (Dask's ``meta=``).

        Field columns hold Python values (``object``); counts are ``int64``. ``like`` (a Dask
        or pandas DataFrame) gives the index dtype.
        """
        import pandas as pd

        index = None
        kept = None
        if like is not None:
            sample = getattr(like, "_meta", like)
            index = getattr(sample, "index", None)
            kept = {c: sample[c].dtype for c in self.keep if c in getattr(sample, "columns", ())}
        dtypes = {c: (kept or {}).get(c, "object") for c in self.keep}
        dtypes.update(dict.fromkeys(self.fields(), "object"))
        dtypes.update({name: _dtype(role) for role, name in self.added().items()})
        frame = pd.DataFrame({c: pd.Series(dtype=dtypes[c]) for c in self.columns()})
        if index is not None:
            frame.index = index[:0]
        return frame

    def spark_schema(self) -> str:
        """The output's Spark schema as a DDL string (``mapInPandas(..., schema=...)``):
        strings, integers, numbers and booleans typed; objects, arrays and unions as JSON
        text (:meth:`spark_batches` writes them so)."""
        kinds = self._field_types()
        parts = [f"`{name}` STRING" for name in self.keep]
        parts += [f"`{name}` {kinds[name]}" for name in self.fields()]
        added = self.added()
        parts += [f"`{added['error']}` STRING", *(f"`{added[c]}` BIGINT" for c in _COUNTS),
                  f"`{added['cost']}` DOUBLE"]
        parts += [f"`{added[c]}` DOUBLE" for c in ("grounded", "doubt") if c in added]
        return ", ".join(parts)

    def _field_types(self) -> dict[str, str]:
        spark = {"string": "STRING", "integer": "BIGINT", "number": "DOUBLE",
                 "boolean": "BOOLEAN"}
        out: dict[str, str] = {}
        for name, sub in top_properties(self._spec).items():
            typ = sub.get("type") if isinstance(sub, dict) else None
            if isinstance(typ, list):
                rest = [t for t in typ if t != "null"]
                typ = rest[0] if len(rest) == 1 else None
            out[name] = spark.get(typ, "STRING") if isinstance(typ, str) else "STRING"
        return out

    # --- the work ---------------------------------------------------------------------------

    def __call__(self, partition: Any) -> Any:
        """Extract every row of ``partition`` (a pandas DataFrame or Series)."""
        import pandas as pd

        index, rows, _ = collect_rows(partition)
        for name, names in (("keep", self.keep), ("images", self.images),
                            ("files", self.files), ("source", [self.source] if self.source
                                                    else [])):
            missing = [c for c in names if c not in getattr(partition, "columns", ())]
            if missing:
                raise ConfigError(f"{name} names columns the partition does not have: "
                                  f"{', '.join(missing)}.")
        prompts: list[Any] = []
        failed: dict[int, Result] = {}
        for i, row in enumerate(rows):
            try:
                prompts.append(fill_template(self.template, row))
            except TemplateError as exc:
                failed[i] = Result(error=_row_error(exc), schema_name=self._spec.name)
                prompts.append(None)
        todo = [i for i, p in enumerate(prompts) if p is not None]
        results: list[Result] = [failed.get(i) or Result() for i in range(len(prompts))]
        if todo:
            media: dict[str, Any] = {}
            for name, columns in (("images", self.images), ("files", self.files)):
                if columns:
                    cells = [list(partition[c]) for c in columns]
                    media[name] = [[col[i] for col in cells if not _missing(col[i])] or None
                                   for i in todo]
            if self.grounded:
                media["source"] = self._sources(partition, rows, todo)
            done = run_threads([prompts[i] for i in todo], self._spec, concurrency=self.concurrency,
                         gate=self._gate(), **media, **self.media, **self.options)
            renumber(done, todo)
            for i, res in zip(todo, done, strict=True):
                results[i] = res
        fields = self.fields()
        added = self.added()
        frame = results_frame(results, index, fields, typed=False) if results else pd.DataFrame(
            {"error": []}, index=pd.Index(index))
        error_col = own_column("error", fields)  # results_frame's name for it
        out = pd.DataFrame(index=frame.index)
        for name in self.keep:
            out[name] = list(partition[name])
        for name, source in [*((f, f) for f in fields), (added["error"], error_col)]:
            column = frame[source] if source in frame.columns else pd.Series(
                [None] * len(frame), index=frame.index)
            # Python values, with None (never NaN) where a row has none
            out[name] = pd.Series([None if _missing(v) else v for v in column],
                                  index=frame.index, dtype="object")
        out[added["attempts"]] = pd.Series([r.attempts for r in results], index=frame.index,
                                           dtype="int64")
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            out[added[key]] = pd.Series([int(r.usage.get(key, 0)) for r in results],
                                        index=frame.index, dtype="int64")
        # USD; NaN when the price (or a count) is unknown: never a made-up number
        out[added["cost"]] = pd.Series([float("nan") if r.cost is None else float(r.cost)
                                        for r in results], index=frame.index, dtype="float64")
        if "grounded" in added:
            out[added["grounded"]] = pd.Series(grounded_column(results), index=frame.index,
                                               dtype="float64")
        if "doubt" in added:
            out[added["doubt"]] = pd.Series([r.doubt for r in results], index=frame.index,
                                            dtype="float64")
        return out

    def _sources(self, partition: Any, rows: Sequence[Any], todo: Sequence[int]) -> list[Any]:
        """The text each row's values are grounded in: the ``source`` column's cell (an
        empty one: nothing to check), else None for a row with files (their text layer),
        else the row's own values as the template fills them."""
        if self.source is not None:
            cells = list(partition[self.source])
            return [NO_TEXT if _missing(cells[i]) else cells[i] for i in todo]
        if self.images or self.files:
            return [None] * len(todo)
        return [row_text(self.template, rows[i]) for i in todo]

    def spark_batches(self, batches: Iterator[Any]) -> Iterator[Any]:
        """For Spark's ``mapInPandas``: each pandas batch extracted, with object, array and
        union fields as JSON text (see :meth:`spark_schema`)."""
        kinds = self._field_types()
        for part in batches:
            out = self(part)
            for name in self.keep:
                out[name] = [None if _missing(v) else str(v) for v in out[name]]
            for name in self.fields():
                if kinds[name] == "STRING":
                    out[name] = [v if v is None or isinstance(v, str) else
                                 json.dumps(v, ensure_ascii=False, default=str)
                                 for v in out[name]]
            yield out.reset_index(drop=True)

    def _gate(self) -> RateGate:
        """This worker's gate: the job's per-minute budgets split across ``workers``."""
        with _gates_lock:
            gate = _gates.get(self._token)
            if gate is None or gate.stopped:  # a new one after an interrupted partition
                share = self.workers
                gate = RateGate(
                    max_requests_per_minute=None if self.max_requests_per_minute is None
                    else self.max_requests_per_minute / share,
                    max_tokens_per_minute=None if self.max_tokens_per_minute is None
                    else self.max_tokens_per_minute / share)
                _gates[self._token] = gate
            return gate


def template_fields(template: str) -> set[str]:
    """The names a template fills (``{text}``, ``{item.name}`` → ``text``, ``item``);
    ``ValueError`` for an unbalanced brace."""
    import re
    from string import Formatter

    return {re.split(r"[.\[]", field, maxsplit=1)[0]
            for _, field, _, _ in Formatter().parse(template) if field}


def _plain_key(key: Any) -> str:
    getter = getattr(key, "get_secret_value", None)
    return getter() if callable(getter) else str(key)


def _row_error(exc: Exception) -> ConfigError:
    return ConfigError(f"The template could not be filled for this row: {exc}")


def _dtype(role: str) -> str:
    """The dtype of an added column, by its role."""
    if role in _COUNTS:
        return "int64"
    return "float64" if role in ("cost", "grounded", "doubt") else "object"


def _missing(value: Any) -> bool:
    """None, NaN, or pandas' NA / NaT (an empty cell, as pandas and Dask hold one)."""
    return value is None or is_blank(value)
