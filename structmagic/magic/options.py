"""The magics' options: declared in groups (so ``%%structured?`` reads in sections), parsed,
checked, and turned into plain values.

The ``%%structured`` line's SCHEMA is a notebook variable, or schema text when it is written
in quotes (``%%structured "name, age int" -o people``): the line is split the way a shell
would, and :func:`parse` notes which values were quoted.

The options that are settings (``--model``, ``--retries`` ...) are made from the settings'
own declarations (:func:`structmagic.config.declared`), and their values are checked there
(:func:`structmagic.config.check`); the others are declared here. A line is parsed the way a
shell would split it, an option given twice is a mistake, and every mistake is a one-line
``UsageError``. The argparse namespace stays in this module: :func:`read_cell` gives a
:class:`CellOptions`, :func:`read_config` a :class:`ConfigOptions`.
"""

from __future__ import annotations

import argparse
import io
import math
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, argument_group

from ..call.doubt import DOUBT_ABOVE, ONLY
from ..config import Declared, check, declared, normalize_base_url
from ..errors import ConfigError
from ..secret import CREDENTIAL_NAME
from .keys import refuse_key_option
from .notebook import check_out, check_texts

__all__ = [
    "BATCHES_ARGUMENTS",
    "CELL_ARGUMENTS",
    "CONFIG_ARGUMENTS",
    "REVIEW_ARGUMENTS",
    "SCHEMA_ARGUMENTS",
    "CellOptions",
    "ConfigOptions",
    "SchemaOptions",
    "arguments",
    "parse",
    "read_cell",
    "read_config",
    "read_review",
    "read_schema",
    "split_line",
]

Decorator = Callable[[Any], Any]


def arguments(*decorators: Decorator) -> Decorator:
    """Apply ``magic_arguments`` decorators in the order they are listed (as if written one
    above the other)."""
    def apply(func: Any) -> Any:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def setting_argument(decl: Declared) -> Decorator:
    """The option of a setting, from its declaration."""
    kw: dict[str, Any] = {"help": decl.help, "dest": decl.name}
    if decl.kind == "flag":  # --thinking sets it; --no-dedup turns one that is on by default off
        kw.update(action="store_const", const=not decl.negated, default=None)
    elif decl.kind == "count":
        kw["type"] = int
    elif decl.kind in ("number", "seconds"):
        kw["type"] = float
    elif decl.kind == "choice" and decl.choices is not None:
        kw["choices"] = decl.choices()
    elif decl.kind in ("headers", "query"):  # --header A=1 --header B=2
        kw["action"] = "append"
    elif decl.kind == "switch" and decl.choices is not None:
        # --require-grounding alone is "on"; --require-grounding warn names another
        kw.update(nargs="?", const="on", default=None,
                  choices=[c for c in decl.choices() if c != "off"])
    metavar = decl.metavar or {"count": "N", "number": "NUMBER",
                               "seconds": "SECONDS"}.get(decl.kind)
    if metavar:
        kw["metavar"] = metavar
    return argument(decl.option, **kw)


CELL_ARGUMENTS: tuple[Decorator, ...] = (
    argument("schema", help="Notebook variable (or dotted attribute) holding the schema, or "
             "schema text in quotes: \"name, age int, bio: a short bio\" (types str, int, "
             "float, bool, list[T], {a, b int}, enum[a, b]; T? may be null; see "
             "%%structured_schema?)."),
    argument("-o", "--out", metavar="NAME", help="Bind the validated value to NAME."),
    argument_group("Schema"),
    argument("--multi", action="store_true",
             help="Ask for several: schema text becomes {\"items\": [objects of the "
             "schema]} (as llm's --schema-multi)."),
    argument_group("Asking"),
    *(setting_argument(d) for d in declared(cell=True)),
    argument("--no-stream", action="store_true", help="Wait for the whole answer."),
    argument("--no-interpolate", action="store_true", help="Send {braces} as they are."),
    argument("--source", metavar="VAR",
             help="With --ground: the text to ground the values in, a notebook variable "
             "(with --each, the row's field VAR, else the variable). Default: the text layer "
             "of the --file PDFs, else the cell body after {name} filling (with --each, the "
             "row's own values)."),
    argument_group("Display"),
    argument("--steps", metavar="FIELD", help="The field that holds the reasoning steps."),
    argument("--label", action="append", metavar="FIELD=TEXT",
             help="Show FIELD as TEXT in the widget (repeatable). Default: the schema's "
             "title, else the name made readable (final_answer: Final answer)."),
    argument("--reveal", action="store_true",
             help="Teaching mode: show one step at a time with Previous/Next/Show all "
             "buttons; where no widget runs (an HTML export, VS Code, GitHub, Jupyter Book) "
             "the result is a handout whose steps open one at a time without a script, the "
             "final answer last and closed, every step open in print."),
    argument("--hide-answer", action="store_true",
             help="With --reveal: keep the final answer (and the reasoning and raw JSON) "
             "hidden in the widget until every step is on show and Show answer is pressed."),
    argument("--ask-first", action="store_true",
             help="With --reveal: a 'Your answer:' box before the steps; in the widget it "
             "says whether the answer typed is right (compared as --expect compares "
             "strings), before any step shows."),
    argument("--quiet", action="store_true", help="Show nothing; only bind the value."),
    argument_group("Inputs"),
    argument("--image", metavar="VAR", action="append",
             help="An image to send with the prompt (repeatable): a PIL image, a path, bytes, "
             "a URL, a data URL, an IPython Image or a matplotlib figure. With --each, a "
             "column (or item) gives each row's image (with --engine, a column, read on the "
             "workers); with --compare, every model gets it."),
    argument("--file", metavar="VAR", action="append",
             help="A document to send with the prompt (repeatable): a PDF as a path, bytes, "
             "a URL or a data URL; with --each, a column works as for --image."),
    argument("--inline", action="store_true",
             help="Fetch image and file URLs here and send their bytes (for servers that "
             "cannot reach them): at most 100 MB in at most 120 s a URL. By default a URL is "
             "sent as a URL."),
    argument("--detail", choices=("low", "high", "auto"),
             help="How closely the model looks at images (OpenAI formats)."),
    argument("--no-downscale", action="store_true",
             help="Send images at full size (by default, larger than the provider makes use "
             "of are downscaled first)."),
    argument_group("Columns"),
    argument("--each", metavar="VAR",
             help="Run once per item of VAR (list, Series, DataFrame)."),
    argument("--concurrency", metavar="N", type=int, default=None,
             help="Parallel requests with --each."),
    argument("--engine", choices=["dask"],
             help="With --each over a Dask DataFrame: map the cell over its partitions on "
             "the Dask workers (lazy; see --compute)."),
    argument("--compute", action="store_true",
             help="With --engine: compute the result and bind a pandas DataFrame."),
    argument("--only", choices=ONLY,
             help="With --each VAR -o NAME: run again only the rows of the previous NAME (the "
             "DataFrame this cell bound, or a list of Results) that failed, are doubtful "
             "(doubt above --doubt-above) or have values not found in the source "
             "(ungrounded), with this cell's options; their new values are written into "
             "NAME at the same index, and no other row is sent."),
    argument("--doubt-above", metavar="NUMBER", type=float, default=None,
             help="With --each: the doubt (0 to 1) above which a row is doubtful: counted in "
             "the progress bar's last line, and re-run by --only doubtful (default 0.5)."),
    argument_group("Comparison"),
    argument("--compare", metavar="MODELS",
             help="Ask several models at once, side by side: MODEL[,MODEL...], each "
             "optionally PROVIDER:MODEL. NAME gets {model: value}; with --each, a frame of "
             "field@model columns."),
    argument("--expect", metavar="COLUMN",
             help="With --each over a DataFrame: score the answers against the expected "
             "values in COLUMN, field by field (an empty cell, None or NaN, is not scored). "
             "--expect corrections scores the rows reviewed in the corrections file (see "
             "%%structured_review?) instead, matched by their input key; with --examples "
             "corrections:K, the rows taught as examples are not scored."),
    argument("--tol", metavar="NUMBER", type=float, default=None,
             help="With --expect: how far a number may be from the expected one (default "
             "1e-6)."),
    argument_group("Cost"),
    argument("--estimate", action="store_true",
             help="Say what the cell (or the --each column) would cost; send nothing."),
    argument("--exact", action="store_true",
             help="With --estimate: count input tokens with the provider's count endpoint."),
    argument("--sample", metavar="K", type=int, default=None,
             help="With --estimate: run K rows first and extrapolate from their real usage."),
    argument("--max-cost", metavar="USD", type=float, default=None,
             help="With --each: stop before the column would cost more than USD (rows not "
             "run are marked 'not run: budget'); with --batch-api, submit the job only if "
             "its estimate fits, and re-run failed rows within what is left."),
    argument_group("Batch API"),
    argument("--batch-api", nargs="?", const="on", choices=("on", "auto"), default=None,
             help="With --each: send the rows through the provider's batch API (half the "
             "price, no rate limits, up to 24 h; re-running the cell re-attaches to the job). "
             "auto: parallel requests instead on a server without batch routes."),
    argument("--no-wait", action="store_true",
             help="With --batch-api: return the job at once; run the cell again to collect."),
    argument("--batch-retry", choices=("sync", "again", "none"), default="sync",
             help="With --batch-api: re-run rows that failed in the batch as normal requests "
             "once (sync, the default: kept with the job, so running the cell again shows "
             "them and pays nothing new), once more paying again (again), or leave them with "
             "their error (none)."),
)

CONFIG_ARGUMENTS: tuple[Decorator, ...] = (
    argument_group("Settings"),
    *(setting_argument(d) for d in declared(configurable=True)),
    argument_group("Key and prices"),
    argument("--key", action="store_true", help="Type the API key (not echoed, not stored)."),
    argument("--price", metavar="MODEL=IN,OUT", action="append",
             help="Your price for MODEL in USD per million tokens (input, output[, cached "
             "input]), used before the price table; MODEL= removes it. Repeatable."),
)

SCHEMA_ARGUMENTS: tuple[Decorator, ...] = (
    argument("schema", help="Schema text in quotes (\"name, age int, bio: a short bio\"), or "
             "a notebook variable holding it."),
    argument("--multi", action="store_true",
             help="Wrap it as %%%%structured --multi does: {\"items\": [objects of the schema]}."),
)

REVIEW_ARGUMENTS: tuple[Decorator, ...] = (
    argument("name", help="The column to review: the DataFrame %%structured --each VAR -o NAME "
             "bound in this kernel, or a list of Results."),
    *(setting_argument(d) for d in declared() if d.name == "corrections"),
    argument("--source", metavar="VAR",
             help="Each row's source text, a notebook variable: a list in the rows' order, "
             "or a Series or dict by the rows' index labels. Shown beside the row, and kept "
             "with its record (what --examples corrections:K teaches with)."),
)

BATCHES_ARGUMENTS: tuple[Decorator, ...] = (
    argument("--cancel", metavar="ID",
             help="Cancel a job: its key (6 characters or more) or a provider batch id."),
    argument("--manifest", metavar="PATH",
             help="The manifest to read (default: the configured one)."),
    argument("--no-refresh", action="store_true",
             help="Show the statuses last seen, without asking the servers."),
)


# --- parsing ----------------------------------------------------------------------------------


def parse(magic: Any, line: str) -> argparse.Namespace:
    """Parse a magic line the way a shell would (quotes removed), or a UsageError.

    An option given twice is a UsageError too (argparse would silently keep the last),
    except options that collect several values (``action="append"``, ``"count"``, ...).
    ``args.quoted`` holds the names of the arguments whose value was written in quotes.
    """
    argv = split_line(line)
    parser = magic.parser
    namespace = _CountingNamespace()
    for action in parser._actions:  # the defaults, set before argparse counts anything
        if action.dest is not argparse.SUPPRESS and action.default is not argparse.SUPPRESS:
            object.__setattr__(namespace, action.dest, action.default)
    args = parser.parse_args(argv, namespace=namespace)
    for action in parser._actions:
        if (action.option_strings and namespace.counts.get(action.dest, 0) > 1
                and not isinstance(action, _REPEATABLE)):
            raise UsageError(
                f"{'/'.join(action.option_strings)} was given more than once; give it once.")
    quoted = set()
    for dest, value in list(vars(args).items()):  # plain strings from here on
        if isinstance(value, _Quoted):
            quoted.add(dest)
            object.__setattr__(args, dest, str(value))
        elif isinstance(value, list):
            object.__setattr__(args, dest, [str(v) if isinstance(v, _Quoted) else v
                                            for v in value])
    object.__setattr__(args, "quoted", frozenset(quoted))
    return args


class _Quoted(str):
    """A word of the line that was written in quotes (while argparse reads the line)."""


def split_line(line: str) -> list[str]:
    """The words of a magic line as ``shlex.split`` gives them, those that began with a
    quote as :class:`_Quoted`; a UsageError for a line a shell could not split."""
    stream = io.StringIO(line)
    lexer = shlex.shlex(stream, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""  # as shlex.split
    words: list[str] = []
    start = 0
    try:
        while (word := lexer.get_token()) is not None:
            end = stream.tell()  # just past the word (and the space ending it)
            words.append(_Quoted(word) if line[start:end].lstrip()[:1] in ("'", '"')
                         else word)
            start = end
    except ValueError as exc:
        raise UsageError(f"Could not read the magic line: {exc}.") from None
    return words


class _CountingNamespace(argparse.Namespace):
    """An argparse namespace that counts how many times each option was set."""

    counts: dict[str, int]

    def __init__(self) -> None:
        object.__setattr__(self, "counts", {})

    def __setattr__(self, name: str, value: Any) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
        object.__setattr__(self, name, value)


_REPEATABLE = tuple(getattr(argparse, name) for name in (
    "_AppendAction", "_AppendConstAction", "_CountAction", "_ExtendAction")
    if hasattr(argparse, name))


def _no_literal_secret(decl: Declared, values: Sequence[str]) -> None:
    """A credential written on the line (which the history database keeps) is refused."""
    for item in values:
        name, _, value = item.partition("=")
        if CREDENTIAL_NAME.search(name) and not value.strip().startswith("env:"):
            raise UsageError(
                f"{decl.option} {name.strip()}=... looks like a credential: never write one on "
                f"a magic line (the history keeps every line). Put it in an environment "
                f"variable and write {decl.option} {name.strip()}=env:VARIABLE.")


def _settings(args: argparse.Namespace, decls: Sequence[Declared]) -> dict[str, Any]:
    """The settings given on the line, each checked where every setting is."""
    given = {}
    for decl in decls:
        value = getattr(args, decl.name, None)
        if value is None:
            continue
        if decl.kind in ("headers", "query"):
            _no_literal_secret(decl, value)
        try:
            if decl.kind == "url":
                normalize_base_url(value)
            given[decl.name] = check(decl.name, value, what=decl.option)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    return given


# --- %%structured -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CellOptions:
    """A ``%%structured`` line, read and checked: plain values only."""

    #: a variable name, or schema text (``inline_schema``)
    schema: str
    body: str
    out: str | None = None
    #: SCHEMA was written in quotes: it is schema text, not a variable name
    inline_schema: bool = False
    multi: bool = False
    #: the settings given (``model``, ``retries`` ...): keyword arguments of the call
    settings: dict[str, Any] = field(default_factory=dict)
    stream: bool = True
    interpolate: bool = True
    #: ``--source VAR``: the variable (or, with ``--each``, the row's field) to ground in
    source: str | None = None
    steps: str | None = None
    labels: tuple[str, ...] = ()
    reveal: bool = False
    hide_answer: bool = False
    ask_first: bool = False
    quiet: bool = False
    images: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    inline: bool = False
    detail: str | None = None
    downscale: bool = True
    each: str | None = None
    concurrency: int | None = None
    engine: str | None = None
    compute: bool = False
    #: ``--only``: re-run only these rows of the previous NAME
    only: str | None = None
    #: ``--doubt-above`` (None: not given; :data:`DOUBT_ABOVE` then applies)
    doubt_above: float | None = None
    compare: str | None = None
    expect: str | None = None
    tol: float | None = None
    estimate: bool = False
    exact: bool = False
    sample: int | None = None
    max_cost: float | None = None
    batch_api: str | None = None
    wait: bool = True
    batch_retry: str = "sync"

    @property
    def threshold(self) -> float:
        """The doubt above which a row is doubtful (``--doubt-above``, else 0.5)."""
        return DOUBT_ABOVE if self.doubt_above is None else self.doubt_above

    @property
    def media(self) -> dict[str, Any]:
        """How images and files are sent (only what was given)."""
        out: dict[str, Any] = {}
        if self.detail is not None:
            out["detail"] = self.detail
        if self.inline:
            out["inline"] = True
        if not self.downscale:
            out["downscale"] = False
        return out


def read_cell(magic: Any, line: str, cell: str) -> CellOptions:
    """The options of a ``%%structured`` cell, every rule of the line checked."""
    refuse_key_option(line)
    args = parse(magic, line)
    if args.out is not None:
        check_out(args.out)
    body = cell.strip("\n")
    if not body.strip():
        raise UsageError("The cell body is empty: write the prompt below the magic line.")
    check_texts(("The cell body", body), ("--system", args.system))
    opts = CellOptions(
        schema=args.schema, body=body, out=args.out,
        inline_schema="schema" in args.quoted, multi=args.multi,
        settings=_settings(args, declared(cell=True)), stream=not args.no_stream,
        interpolate=not args.no_interpolate, source=args.source, steps=args.steps,
        labels=tuple(args.label or ()), reveal=args.reveal, hide_answer=args.hide_answer,
        ask_first=args.ask_first, quiet=args.quiet,
        images=tuple(args.image or ()), files=tuple(args.file or ()), inline=args.inline,
        detail=args.detail, downscale=not args.no_downscale, each=args.each,
        concurrency=args.concurrency, engine=args.engine, compute=args.compute,
        only=args.only, doubt_above=args.doubt_above, compare=args.compare,
        expect=args.expect, tol=args.tol, estimate=args.estimate,
        exact=args.exact, sample=args.sample, max_cost=args.max_cost,
        batch_api=args.batch_api, wait=not args.no_wait, batch_retry=args.batch_retry)
    check_columns(opts)
    check_grounding(opts)
    check_cost(opts)
    check_combinations(opts)
    check_teaching(opts)
    return opts


def check_columns(opts: CellOptions) -> None:
    """The rules of ``--each`` and the batch API."""
    if opts.concurrency is not None and opts.concurrency < 1:
        raise UsageError("--concurrency must be at least 1.")
    if (opts.batch_api or not opts.wait) and opts.each is None:
        raise UsageError("--batch-api and --no-wait go with --each VAR (a batch job runs "
                         "one request per row).")
    if not opts.wait and not opts.batch_api:
        raise UsageError("--no-wait goes with --batch-api.")
    if (opts.engine or opts.compute) and opts.each is None:
        raise UsageError("--engine and --compute go with --each VAR.")
    if opts.compute and not opts.engine:
        raise UsageError("--compute goes with --engine.")
    if opts.only is not None and (opts.each is None or opts.out is None):
        raise UsageError(f"--only {opts.only} re-runs rows of a column the cell bound before: "
                         "use it with --each VAR -o NAME (NAME holding the earlier run).")
    if opts.only is not None and (opts.compare or opts.engine or opts.estimate):
        raise UsageError("--only re-runs rows of one column on one model in this kernel: not "
                         "with --compare, --engine or --estimate.")
    if opts.doubt_above is not None:
        if not (math.isfinite(opts.doubt_above) and 0 <= opts.doubt_above <= 1):
            raise UsageError("--doubt-above must be a number from 0 to 1.")
        if opts.each is None:
            raise UsageError("--doubt-above goes with --each VAR.")


def check_grounding(opts: CellOptions) -> None:
    """``--source`` goes with grounding."""
    grounding = opts.settings.get("ground") or opts.settings.get("require_grounding")
    if opts.source is not None and not grounding:
        raise UsageError("--source names the text to ground the values in: use it with "
                         "--ground (or --require-grounding).")


def check_cost(opts: CellOptions) -> None:
    """The cost options' own rules."""
    if (opts.exact or opts.sample is not None) and not opts.estimate:
        raise UsageError("--exact and --sample go with --estimate.")
    if opts.sample is not None and opts.sample < 1:
        raise UsageError("--sample needs at least 1 row.")
    if opts.max_cost is not None:
        if not math.isfinite(opts.max_cost) or opts.max_cost < 0:
            raise UsageError("--max-cost must be a number of USD >= 0.")
        if opts.each is None:
            raise UsageError("--max-cost caps a column: use it with --each VAR.")
        if opts.estimate:
            raise UsageError("--max-cost caps a run; --estimate sends nothing to cap.")


def check_combinations(opts: CellOptions) -> None:
    """Options that do not go together."""
    if opts.compare is not None and opts.settings.get("model") is not None:
        raise UsageError("Give the models with --compare (MODEL,MODEL...), not --model.")
    if (opts.expect is not None or opts.tol is not None) and opts.each is None:
        raise UsageError("--expect and --tol go with --each VAR.")
    if opts.tol is not None and opts.expect is None:
        raise UsageError("--tol goes with --expect.")
    if opts.tol is not None and not (math.isfinite(opts.tol) and opts.tol >= 0):
        raise UsageError("--tol must be a number >= 0.")
    if opts.batch_api and (opts.engine or opts.compare):
        raise UsageError("--batch-api cannot be combined with --engine or --compare.")
    if opts.engine and (opts.compare or opts.expect):
        raise UsageError("--engine cannot be combined with --compare or --expect.")
    if opts.max_cost is not None and (opts.engine or opts.compare):
        raise UsageError("--max-cost caps one column on one model: it cannot be combined with "
                         "--engine or --compare.")
    if opts.estimate and (opts.engine or opts.compare):
        raise UsageError("--estimate prices one model in this kernel: run it without "
                         "--engine, and once per model instead of --compare.")


def check_teaching(opts: CellOptions) -> None:
    """``--hide-answer`` and ``--ask-first``: teaching mode, one answer on show."""
    given = [name for name, on in (("--hide-answer", opts.hide_answer),
                                   ("--ask-first", opts.ask_first)) if on]
    if not given:
        return
    what = " and ".join(given)
    if not opts.reveal:
        raise UsageError(f"{what} go{'es' if len(given) == 1 else ''} with --reveal (the "
                         "teaching mode).")
    for option, used in (("--each", opts.each), ("--compare", opts.compare),
                         ("--quiet", opts.quiet or None), ("--estimate", opts.estimate or None)):
        if used is not None:
            raise UsageError(f"{what} show{'s' if len(given) == 1 else ''} one answer in its "
                             f"widget: not with {option}.")


# --- %structured_schema -------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaOptions:
    """A ``%structured_schema`` line, read."""

    #: schema text (``inline``), or the variable that holds it
    schema: str
    inline: bool = True
    multi: bool = False


def read_schema(magic: Any, line: str) -> SchemaOptions:
    """The options of ``%structured_schema``."""
    words = [w for w in split_line(line) if not w.startswith("-")]
    if len(words) > 1:
        raise UsageError('Put the schema text in quotes: %structured_schema "name, age int".')
    args = parse(magic, line)
    return SchemaOptions(schema=args.schema, inline="schema" in args.quoted,
                         multi=args.multi)


# --- %structured_config -------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigOptions:
    """A ``%structured_config`` line, read and checked."""

    #: the settings given, checked (``base_url`` as typed: normalized when resolved)
    settings: dict[str, Any]
    prices: tuple[str, ...] = ()
    key: bool = False


def read_config(magic: Any, line: str) -> ConfigOptions:
    """The options of ``%structured_config``; every value checked before any is set."""
    refuse_key_option(line, allow_prompt=True)
    args = parse(magic, line)
    return ConfigOptions(settings=_settings(args, declared(configurable=True)),
                         prices=tuple(args.price or ()), key=bool(args.key))


def read_batches(magic: Any, line: str) -> tuple[str | None, str | None, bool]:
    """``%structured_batches``: (the job to cancel, the manifest, whether to refresh)."""
    args = parse(magic, line)
    return args.cancel, args.manifest, not args.no_refresh


def read_review(magic: Any, line: str) -> tuple[str, str | None, str | None]:
    """``%structured_review``: (the name reviewed, the corrections file, the source's
    variable)."""
    args = parse(magic, line)
    return args.name, args.corrections, args.source
