"""One ``%%structured`` cell: read it, then ask once, ask several models, estimate, or hand
the rows to ``--each``.

::

    run_cell    options read and checked -> schema and settings -> one of:
      estimate      --estimate: what it would cost (sends nothing)
      run_each      --each VAR: the rows (magic/each.py)
      compare       --compare MODELS: the models side by side, one widget
      ask           one call, its widget live while the answer streams

On any error nothing is bound and an earlier value of ``-o NAME`` stays as it was; a user's
own mistake is a one-line ``UsageError``, a failure at run time is shown once (in the widget
when there is one) and still fails the cell.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from .. import rows
from ..api import structured
from ..call.grounding import given_source
from ..call.plan import examples_for
from ..config import Settings, resolve
from ..display.compare_widget import ComparisonWidget
from ..display.kernel import has_kernel
from ..display.live import Live
from ..display.render import field_labels
from ..display.widget import StructuredWidget
from ..errors import StructuredError
from ..schema import SchemaSpec, is_schema_text, load_schema, schema_dsl
from .each import each_rows, row_media, row_prompts, run_each
from .keys import ensure_key
from .notebook import fill, lookup
from .options import CellOptions

__all__ = ["cell_media", "cell_schema", "run_cell", "schema_variable", "source_variable"]


def run_cell(magics: Any, opts: CellOptions) -> Any:
    """Run a read cell; its value (the result, or None when bound or quiet)."""
    ns = magics.shell.user_ns
    spec = cell_schema(ns, opts)
    labels = _labels(opts.labels, spec)
    try:
        settings = resolve(opts.settings)
        examples_for(settings, spec)  # --examples corrections:K with none to take: say so now
    except StructuredError as exc:
        raise UsageError(str(exc)) from None
    if opts.estimate:
        return _estimate(magics, opts, spec, settings)
    ensure_key(magics.shell, settings)
    if opts.each is not None:
        return run_each(magics, opts, spec, settings, lookup(ns, opts.each, "--each"))
    body = fill(opts.body, ns) if opts.interpolate else opts.body
    media = {**opts.media, **cell_media(ns, opts)}
    if opts.source is not None:
        media["source"] = source_variable(ns, opts.source)
    if opts.compare is not None:
        return _compare(magics, opts, spec, body, media, labels)
    return _ask(magics, opts, spec, settings, body, media, labels)


def cell_schema(ns: dict[str, Any], opts: CellOptions) -> SchemaSpec:
    """The cell's schema: schema text written in quotes (named ``response``), or the
    variable SCHEMA names (named after it); ``--multi`` wraps schema text."""
    if opts.inline_schema:
        obj: Any = opts.schema
        name, where = None, ""
    else:
        obj = schema_variable(ns, opts.schema)
        name, where = opts.schema.rsplit(".", 1)[-1], f"{opts.schema}: "
    try:
        if opts.multi:
            if not is_schema_text(obj):
                raise UsageError(
                    f"{where}--multi wraps schema text (\"name, age int\"), written in quotes "
                    "or held in a variable; for another schema, write the wrapping object "
                    "yourself: {\"type\": \"object\", \"properties\": {\"items\": "
                    "{\"type\": \"array\", \"items\": ...}}, \"required\": [\"items\"]}.")
            obj = schema_dsl(obj, multi=True)
        return load_schema(obj, name=name)
    except StructuredError as exc:
        raise UsageError(f"{where}{exc}") from None


def schema_variable(ns: dict[str, Any], name: str) -> Any:
    """The value of the variable SCHEMA names; a UsageError that also says how to write
    schema text when there is no such variable."""
    try:
        return lookup(ns, name, "schema")
    except UsageError as exc:
        if name.split(".", 1)[0] in ns:
            raise
        raise UsageError(f"{exc} Schema text goes in quotes: \"{name}\".") from None


def _labels(pairs: tuple[str, ...], spec: SchemaSpec) -> dict[str, str]:
    """The field labels: the schema's titles, then each ``--label FIELD=TEXT``."""
    given: dict[str, str] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise UsageError(f"--label takes FIELD=TEXT, not {pair!r}.")
        given[name.strip()] = text.strip()
    return field_labels(spec.original, given)


def source_variable(ns: dict[str, Any], name: str) -> Any:
    """The text ``--source VAR`` names; a UsageError for a variable that is not text."""
    value = lookup(ns, name, "--source")
    try:
        given_source(value)
    except StructuredError as exc:
        raise UsageError(f"--source {name}: {exc}") from None
    return value


def cell_media(ns: dict[str, Any], opts: CellOptions) -> dict[str, list[Any]]:
    """``images`` / ``files`` of one cell: the notebook's variables ``--image`` and
    ``--file`` name (only those given)."""
    media = {}
    for key, option, names in (("images", "--image", opts.images),
                               ("files", "--file", opts.files)):
        if names:
            media[key] = [lookup(ns, name, option) for name in names]
    return media


def _ask(magics: Any, opts: CellOptions, spec: SchemaSpec, settings: Settings, body: str,
         media: dict[str, Any], labels: dict[str, str]) -> Any:
    """One call, its widget live while the answer streams."""
    live = None
    if not opts.quiet and has_kernel(magics.shell):
        live = Live(StructuredWidget(title=spec.name, model=settings.model,
                                     steps_field=opts.steps, reveal=opts.reveal, labels=labels,
                                     hide_answer=opts.hide_answer, ask_first=opts.ask_first))
    try:
        result = structured(body, spec, stream=opts.stream and magics.stream,
                            steps_field=opts.steps,
                            observer=live.widget if live is not None else None,
                            **media, **opts.settings)
    except BaseException as exc:
        if live is not None:
            live.failed(exc)
        raise  # the cell fails; its traceback is one short line when the widget shows it
    result.labels = labels
    result.reveal, result.hide_answer, result.ask_first = (
        opts.reveal, opts.hide_answer, opts.ask_first)
    if live is not None:
        live.finished(result)  # the final display takes its place
    return _bind(magics, opts, result, result.data)


def _bind(magics: Any, opts: CellOptions, shown: Any, value: Any) -> Any:
    """Bind ``value`` to ``-o NAME`` (and show ``shown``), or make ``shown`` the cell's
    value."""
    if opts.out is None:
        return None if opts.quiet else shown
    magics.shell.user_ns[opts.out] = value
    if not opts.quiet:
        from IPython.display import display

        display(shown)
    return None


def _compare(magics: Any, opts: CellOptions, spec: SchemaSpec, body: str,
             media: dict[str, Any], labels: dict[str, str]) -> Any:
    """``--compare``: the cell to every model at once, in one side-by-side widget."""
    assert opts.compare is not None
    try:
        targets = rows.compare.parse_targets(opts.compare)
    except StructuredError as exc:
        raise UsageError(f"--compare: {exc}") from None
    live = None
    if not opts.quiet and has_kernel(magics.shell):
        live = Live(ComparisonWidget(targets, title=spec.name, steps_field=opts.steps,
                                     reveal=opts.reveal, labels=labels))
    try:
        comparison = rows.compare.compare(
            body, spec, [t.label for t in targets], stream=opts.stream and magics.stream,
            observers=live.widget.observers() if live is not None else None,
            steps_field=opts.steps, labels=labels, **media, **opts.settings)
    except KeyboardInterrupt as exc:
        if live is not None:
            live.failed(exc)
        raise
    failed = [r.error for r in comparison.results.values() if r.error is not None]
    if live is not None:
        live.finished(comparison)
    if len(failed) == len(comparison.results):  # nothing to bind: the cell fails
        error = failed[0]
        if live is not None:
            live.failed_with(error)
        raise error
    return _bind(magics, opts, comparison, comparison.values())


def _estimate(magics: Any, opts: CellOptions, spec: SchemaSpec, settings: Settings) -> Any:
    """``--estimate``: what the cell or column would cost (sends nothing, unless ``--exact``
    asks the count endpoint or ``--sample K`` runs K rows)."""
    ns = magics.shell.user_ns
    media: dict[str, Any] = {"detail": opts.detail, "inline": opts.inline,
                             "downscale": opts.downscale}
    if opts.each is not None:
        source = lookup(ns, opts.each, "--each")
        index, prompts, _ = row_prompts(magics, opts, source)
        media.update(row_media(magics, opts, index, each_rows(source)[1]))
    else:
        media.update({k: [v] for k, v in cell_media(ns, opts).items()})  # one row
        prompts = [fill(opts.body, ns) if opts.interpolate else opts.body]
    if opts.exact or opts.sample:
        ensure_key(magics.shell, settings)
    found = rows.estimate.estimate(prompts, spec, sample=opts.sample or 0, exact=opts.exact,
                     concurrency=opts.concurrency or 16, **media, **opts.settings)
    if opts.out is not None:
        ns[opts.out] = found
        if not opts.quiet:
            print(found.text())
        return None
    return None if opts.quiet else found
