"""The ``%%structured`` cell magic, ``%structured_config`` and ``%structured_batches``.

Usage::

    %load_ext structmagic

    %%structured math_reasoning -o answer --system "You are a helpful math tutor."
    Which is larger, 9.11 or 9.8?

The schema comes from a notebook variable; the cell body (with ``{name}`` filled from the
notebook) is the user message; the validated value is bound to ``answer``. ``%%structured?``
lists every option.

Configuration (``%structured_config`` shows and sets it; ``%config`` works too)::

    %structured_config --model gpt-4o-mini --base-url https://relay.example/v1
    %structured_config --price my-model=0.2,0.8     # USD per million tokens, in / out
    %config StructuredMagics.model = "gpt-4o-mini"

Cost: ``--each VAR --estimate`` says what a column will cost before it runs (``--exact``,
``--sample K``); ``--max-cost USD`` stops a column before it would pass USD.

A whole column through the provider's batch API (half the price, past the rate limits;
re-running the cell re-attaches to the job instead of submitting again)::

    %%structured invoice_schema --each texts -o invoices --batch-api
    Extract the invoice: {item}

    %structured_batches                  # the jobs of the manifest, with status and cost
    %structured_batches --cancel 3f2a9c

The API key comes from the environment (``OPENAI_API_KEY``, or the variable named by
``--key-env``), from ``structmagic.configure(api_key=...)``, or from ``%structured_config
--key``, which asks for it without echo. There is no key option on the magic line: IPython's
history keeps every line.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Sequence
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, CFloat, CInt, Enum, Unicode, observe

from .config import CACHE_MODES
from .display.kernel import has_kernel, interactive
from .providers import DEFAULT_PROVIDER, provider_names
from .providers.base import AUTO, USER_MODES

__all__ = ["StructuredMagics"]

_KEY_OPTION = re.compile(r"(^|\s)--?(api[-_]?key|key|token)(=|\s|$)", re.I)
_TRAITS = (
    "model", "base_url", "provider", "api_key_env", "system", "temperature", "max_tokens",
    "mode", "retries", "reasks", "timeout", "cache", "cassette", "batch_manifest",
)


def _none_if_empty(value: Any) -> Any:
    return None if value in ("", None) else value


@magics_class
class StructuredMagics(Magics):
    """Schema-validated LLM answers in a cell: ``%%structured`` and ``%structured_config``."""

    model = Unicode(
        "", help="Model name (default: STRUCTMAGIC_MODEL, else the provider's own default)."
    ).tag(config=True)
    base_url = Unicode(
        "", help="Base URL of the API, e.g. https://api.openai.com/v1 (default: OPENAI_BASE_URL)."
    ).tag(config=True)
    provider = Unicode(
        "", help=f"Wire format: {', '.join(provider_names())} (default: {DEFAULT_PROVIDER})."
    ).tag(config=True)
    api_key_env = Unicode(
        "", help="Name of the environment variable that holds the API key "
        "(default: OPENAI_API_KEY). The key itself is never a trait."
    ).tag(config=True)
    system = Unicode("", help="Default system prompt.").tag(config=True)
    temperature = CFloat(-1.0, help="Sampling temperature (-1: the server's default).").tag(
        config=True
    )
    max_tokens = CInt(0, help="Maximum tokens of the answer (0: the server's default).").tag(
        config=True
    )
    mode = Enum(
        list(USER_MODES), default_value=AUTO,
        help="How the schema is asked for; auto steps down when a server rejects json_schema.",
    ).tag(config=True)
    retries = CInt(2, help="Retries of a failed request (connection, 408/409/429/5xx).").tag(
        config=True
    )
    reasks = CInt(1, help="Times an invalid answer is sent back with its errors.").tag(config=True)
    timeout = CFloat(600.0, help="Timeout in seconds (read; connect is 5 s).").tag(config=True)
    cache = Enum(
        list(CACHE_MODES), default_value="off",
        help="Recording: replay (file only), record (always call, append), cache (file first).",
    ).tag(config=True)
    cassette = Unicode("", help="The recording file (JSON lines) for the cache modes.").tag(
        config=True
    )
    stream = Bool(True, help="Stream answers into the live widget by default.").tag(config=True)
    batch_manifest = Unicode(
        "", help="The manifest of provider batch jobs (default: beside the cassette, else "
        "structmagic-batches.json in the working folder)."
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._sync_all()

    # --- configuration -------------------------------------------------------------------------

    def _layer_value(self, name: str) -> Any:
        """A trait's value for the configured layer (None: unset, let lower layers show)."""
        value = _none_if_empty(getattr(self, name))
        if name == "temperature" and value is not None and value < 0:
            return None
        if name == "max_tokens" and not value:
            return None
        return value

    def _sync_all(self) -> None:
        # Only traits given a value (by a config file or %config) enter the configured layer;
        # the others leave structmagic.configure() and the environment visible.
        from .config import configure

        configure(**{name: self._layer_value(name) for name in _TRAITS
                     if self.trait_has_value(name) and getattr(self, name)
                     != self.trait_defaults(name)})

    @observe(*_TRAITS)
    def _trait_changed(self, change: Any) -> None:
        from .config import configure

        configure(**{change["name"]: self._layer_value(change["name"])})

    @magic_arguments()
    @argument("--model", help="Model name.")
    @argument("--base-url", help="Base URL of the API (a URL with no path gets /v1).")
    @argument("--provider", choices=provider_names())
    @argument("--key-env", metavar="VAR", help="Environment variable that holds the API key.")
    @argument("--key", action="store_true", help="Type the API key (not echoed, not stored).")
    @argument("--system", help="Default system prompt.")
    @argument("--mode", choices=USER_MODES)
    @argument("--retries", type=int)
    @argument("--reasks", type=int)
    @argument("--timeout", type=float)
    @argument("--cache", choices=CACHE_MODES,
              help="Recording mode (needs --cassette).")
    @argument("--cassette", metavar="PATH", help="Recording file (JSON lines).")
    @argument("--price", metavar="MODEL=IN,OUT", action="append",
              help="Your price for MODEL in USD per million tokens (input, output[, cached "
                   "input]), used before the price table; MODEL= removes it. Repeatable.")
    @argument("--batch-manifest", metavar="PATH",
              help="The manifest of provider batch jobs (--batch-api).")
    @line_magic
    def structured_config(self, line: str) -> None:
        """Show the effective settings (the key masked), or set some.

        With no option, prints every setting and where the key comes from; with options,
        sets them and says which.
        """
        if _KEY_OPTION.search(line) and not re.search(r"(^|\s)--key(\s|$)", line):
            raise UsageError(_KEY_REFUSED)
        args = _parse(self.structured_config, line)
        updates = {
            "model": args.model, "base_url": args.base_url, "provider": args.provider,
            "api_key_env": args.key_env, "system": args.system, "mode": args.mode,
            "retries": args.retries, "reasks": args.reasks, "timeout": args.timeout,
            "cache": args.cache, "cassette": args.cassette,
            "batch_manifest": args.batch_manifest,
        }
        from .config import _coerce, normalize_base_url

        # every option checked before any is set: a bad one changes nothing
        for name, value in updates.items():
            if value is None:
                continue
            try:
                if name == "base_url":
                    normalize_base_url(value)
                elif name not in ("model", "api_key_env", "system", "cassette",
                                  "batch_manifest"):
                    _coerce(name, value)
            except Exception as exc:  # a ConfigError: the user's own mistake
                raise UsageError(str(exc)) from None
        prices = _new_prices(args.price or ())
        for name, value in updates.items():
            if value is not None:
                setattr(self, name, value)
        changed = [name for name, value in updates.items() if value is not None]
        if prices is not None:
            from .config import configure

            configure(prices=prices or None)
            changed += [f"price of {model}" for model in _price_models(args.price)]
        if args.key:
            _prompt_key(self.shell, "API key")
            changed.append("api_key")
        if changed:
            print(f"structmagic: set {', '.join(changed)} (%structured_config shows all)")
        else:
            self._show_config()

    def _show_config(self) -> None:
        from .config import resolve
        from .errors import StructuredError

        try:
            shown = resolve().masked()
        except StructuredError as exc:
            raise UsageError(str(exc)) from None
        from .cost import table_info

        shown["price_table"] = table_info()
        width = max(len(k) for k in shown)
        lines = ["structmagic settings:"]
        for name in sorted(shown):
            lines.append(f"  {name.ljust(width)}  {shown[name]}")
        print("\n".join(lines))

    # --- the cell magic ---------------------------------------------------------------------------

    @magic_arguments()
    @argument("schema", help="Notebook variable (or dotted attribute) holding the schema.")
    @argument("-o", "--out", metavar="NAME", help="Bind the validated value to NAME.")
    @argument("--model", help="Model name.")
    @argument("--system", help="System prompt.")
    @argument("--temperature", type=float)
    @argument("--max-tokens", type=int)
    @argument("--mode", choices=USER_MODES,
              help="How the schema is asked for (default auto: steps down when rejected).")
    @argument("--provider", choices=provider_names(), help="The wire format.")
    @argument("--thinking", action="store_true",
              help="Ask for the model's reasoning (Claude thinking, Gemini thoughts).")
    @argument("--no-stream", action="store_true", help="Wait for the whole answer.")
    @argument("--retries", type=int, help="Retries of a failed request (default 2).")
    @argument("--reasks", type=int, help="Re-asks after an invalid answer (default 1).")
    @argument("--timeout", type=float, help="Timeout in seconds (default 600).")
    @argument("--steps", metavar="FIELD", help="The field that holds the reasoning steps.")
    @argument("--label", action="append", metavar="FIELD=TEXT",
              help="Show FIELD as TEXT in the widget (repeatable). Default: the schema's "
              "title, else the name made readable (final_answer: Final answer).")
    @argument("--reveal", action="store_true",
              help="Teaching mode: show one step at a time with Next/Previous buttons.")
    @argument("--image", metavar="VAR", action="append",
              help="An image to send with the prompt (repeatable): a PIL image, a path, bytes, "
                   "a URL, a data URL, an IPython Image or a matplotlib figure. With --each, a "
                   "column (or item) gives each row's image (with --engine, a column, read "
                   "on the workers); with --compare, every model gets it.")
    @argument("--file", metavar="VAR", action="append",
              help="A document to send with the prompt (repeatable): a PDF as a path, bytes, "
                   "a URL or a data URL; with --each, a column works as for --image.")
    @argument("--inline", action="store_true",
              help="Fetch image and file URLs here and send their bytes (for servers that "
                   "cannot reach them); by default a URL is sent as a URL.")
    @argument("--detail", choices=("low", "high", "auto"),
              help="How closely the model looks at images (OpenAI formats).")
    @argument("--no-downscale", action="store_true",
              help="Send images at full size (by default, larger than the provider makes use "
                   "of are downscaled first).")
    @argument("--each", metavar="VAR", help="Run once per item of VAR (list, Series, DataFrame).")
    @argument("--concurrency", type=int, default=None, help="Parallel requests with --each.")
    @argument("--compare", metavar="MODELS",
              help="Ask several models at once, side by side: MODEL[,MODEL...], each "
              "optionally PROVIDER:MODEL. NAME gets {model: value}; with --each, a frame of "
              "field@model columns.")
    @argument("--expect", metavar="COLUMN",
              help="With --each over a DataFrame: score the answers against the expected "
              "values in COLUMN, field by field.")
    @argument("--tol", type=float, default=None,
              help="With --expect: how far a number may be from the expected one (default "
              "1e-6).")
    @argument("--engine", choices=["dask"],
              help="With --each over a Dask DataFrame: map the cell over its partitions on "
              "the Dask workers (lazy; see --compute).")
    @argument("--compute", action="store_true",
              help="With --engine: compute the result and bind a pandas DataFrame.")
    @argument("--estimate", action="store_true",
              help="Say what the cell (or the --each column) would cost; send nothing.")
    @argument("--exact", action="store_true",
              help="With --estimate: count input tokens with the provider's count endpoint.")
    @argument("--sample", metavar="K", type=int, default=None,
              help="With --estimate: run K rows first and extrapolate from their real usage.")
    @argument("--max-cost", metavar="USD", type=float, default=None,
              help="With --each: stop before the column would cost more than USD (rows not "
                   "run are marked 'not run: budget'); with --batch-api, submit the job only "
                   "if its estimate fits, and re-run failed rows within what is left.")
    @argument("--no-interpolate", action="store_true", help="Send {braces} as they are.")
    @argument("--quiet", action="store_true", help="Show nothing; only bind the value.")
    @argument("--batch-api", nargs="?", const="on", choices=("on", "auto"), default=None,
              help="With --each: send the rows through the provider's batch API (half the "
              "price, no rate limits, up to 24 h; re-running the cell re-attaches to the job). "
              "auto: parallel requests instead on a server without batch routes.")
    @argument("--no-wait", action="store_true",
              help="With --batch-api: return the job at once; run the cell again to collect.")
    @argument("--batch-retry", choices=("sync", "none"), default="sync",
              help="With --batch-api: re-run rows that failed in the batch as normal requests "
              "(sync, the default), or leave them with their error (none).")
    @cell_magic
    def structured(self, line: str, cell: str) -> Any:
        """Ask a model for a value that matches SCHEMA; validate it; bind it.

        The cell body is the user message; ``{name}`` is filled from the notebook
        (``{{``/``}}`` for literal braces). On any error nothing is bound and an earlier
        value of NAME stays as it was.

        Cost: ``--estimate`` prints what the cell (or the ``--each`` column) would cost and
        sends nothing (``-o NAME`` binds the estimate; ``--image`` / ``--file`` inputs count
        by the provider's rule for an image's size and a PDF's pages; ``--exact`` counts
        input tokens with the provider's count endpoint, ``--sample K`` runs K rows first
        and extrapolates);
        ``--max-cost USD`` stops an ``--each`` column before it would cost more, marking the
        rows not run ("not run: budget"). Prices: ``%structured_config --price``.
        """
        if _KEY_OPTION.search(line):
            raise UsageError(_KEY_REFUSED)
        args = _parse(self.structured, line)
        assert self.shell is not None  # a registered magic always has its shell
        ns = self.shell.user_ns
        schema_obj = _lookup(ns, args.schema, "schema")
        out = args.out
        if out is not None:
            _check_out(out)
        if args.concurrency is not None and args.concurrency < 1:
            raise UsageError("--concurrency must be at least 1.")
        if (args.batch_api or args.no_wait) and args.each is None:
            raise UsageError("--batch-api and --no-wait go with --each VAR (a batch job runs "
                             "one request per row).")
        if args.no_wait and not args.batch_api:
            raise UsageError("--no-wait goes with --batch-api.")
        for opt in ("retries", "reasks"):
            if getattr(args, opt) is not None and getattr(args, opt) < 0:
                raise UsageError(f"--{opt} cannot be negative.")
        if args.max_tokens is not None and args.max_tokens < 1:
            raise UsageError("--max-tokens must be at least 1.")
        if args.timeout is not None and args.timeout <= 0:
            raise UsageError("--timeout must be positive.")
        _check_cost_options(args)
        body = cell.strip("\n")
        if not body.strip():
            raise UsageError("The cell body is empty: write the prompt below the magic line.")
        _check_texts(("The cell body", body), ("--system", args.system))

        from .errors import StructuredError
        from .schema import load_schema

        try:
            spec = load_schema(schema_obj, name=args.schema.rsplit(".", 1)[-1])
        except StructuredError as exc:
            raise UsageError(f"{args.schema}: {exc}") from None
        labels = _labels(args.label, spec)
        options = {
            "model": args.model, "system": args.system, "temperature": args.temperature,
            "max_tokens": args.max_tokens, "mode": args.mode, "provider": args.provider,
            "retries": args.retries, "reasks": args.reasks, "timeout": args.timeout,
            "thinking": args.thinking or None,
        }
        options = {k: v for k, v in options.items() if v is not None}
        try:
            from .config import resolve

            settings = resolve(options)
        except StructuredError as exc:
            raise UsageError(str(exc)) from None
        _check_combinations(args)
        if args.estimate:
            return self._estimate(args, spec, body, options, settings)
        self._ensure_key(settings)
        media = {"detail": args.detail, "inline": args.inline or None,
                 "downscale": False if args.no_downscale else None}
        media = {k: v for k, v in media.items() if v is not None}
        if args.each is not None:
            from .each import run_each

            if args.max_cost is not None:
                _check_priced(settings)
                options["max_cost"] = args.max_cost
            return run_each(self, args, spec, body, {**options, **media},
                            _lookup(ns, args.each, "--each"))
        media.update(_cell_media(ns, args))

        if not args.no_interpolate:
            from .call.prompt import TemplateError, fill_template

            try:
                body = fill_template(body, ns)
            except TemplateError as exc:
                raise UsageError(str(exc)) from None

        stream = self.stream and not args.no_stream
        show = not args.quiet
        if args.compare is not None:
            return self._compare(args, spec, body, {**options, **media}, labels, stream, show)
        widget = handle = None
        if show and has_kernel(self.shell):
            from .display.widget import StructuredWidget

            widget = StructuredWidget(
                title=spec.name, model=settings.model, steps_field=args.steps, reveal=args.reveal,
                labels=labels,
            )
            handle = _show_live(widget)
            widget.start()

        from .api import structured

        try:
            result = structured(
                body, spec, stream=stream, steps_field=args.steps, observer=widget, **media,
                **options,
            )
        except StructuredError as exc:
            if widget is not None:
                widget.fail(exc, partial=getattr(exc, "partial", None))
                _shown_in_widget(handle, widget, exc)
            raise  # the cell fails; its traceback is one short line when the widget shows it
        except KeyboardInterrupt:
            if widget is not None:
                widget.fail(KeyboardInterrupt("interrupted; nothing was bound"))
            raise
        except Exception as exc:  # a bug: the widget stops streaming, the traceback stays
            if widget is not None:
                widget.fail(exc)
            raise
        result.labels = labels
        if widget is not None:
            widget.finish(result)
            result._widget = widget
            if handle is not None:
                handle.update({"text/plain": ""}, raw=True)  # the final display takes its place
        if out is not None:
            ns[out] = result.data
            if show:
                from IPython.display import display

                display(result)
            return None
        return None if args.quiet else result

    @magic_arguments()
    @argument("--cancel", metavar="ID",
              help="Cancel a job: its key (6 characters or more) or a provider batch id.")
    @argument("--manifest", metavar="PATH", help="The manifest to read (default: the "
              "configured one).")
    @argument("--no-refresh", action="store_true",
              help="Show the statuses last seen, without asking the servers.")
    @line_magic
    def structured_batches(self, line: str) -> None:
        """List the provider batch jobs of the manifest, with status and cost; or cancel one.

        Jobs still running are polled once (``--no-refresh`` shows the last statuses seen).
        A cancelled job keeps the rows it finished: run its cell again to collect them.
        """
        args = _parse(self.structured_batches, line)
        from .rows.jobs.cell import list_batches

        list_batches(args)

    def _compare(self, args: Any, spec: Any, body: str, options: dict[str, Any],
                 labels: dict[str, str], stream: bool, show: bool) -> Any:
        """``--compare``: the cell to every model at once, in one side-by-side widget."""
        from .errors import StructuredError
        from .rows.compare import compare, parse_targets

        assert self.shell is not None
        try:
            targets = parse_targets(args.compare)
        except StructuredError as exc:
            raise UsageError(f"--compare: {exc}") from None
        widget = handle = None
        if show and has_kernel(self.shell):
            from .display.compare_widget import ComparisonWidget

            widget = ComparisonWidget(targets, title=spec.name, steps_field=args.steps,
                                      reveal=args.reveal, labels=labels)
            handle = _show_live(widget)
            widget.start()
        try:
            comparison = compare(body, spec, [t.label for t in targets], stream=stream,
                                 observers=widget.observers() if widget else None,
                                 steps_field=args.steps, labels=labels, **options)
        except KeyboardInterrupt:
            if widget is not None:
                widget.fail(KeyboardInterrupt("interrupted; nothing was bound"))
            raise
        failed = [r.error for r in comparison.results.values() if r.error is not None]
        if widget is not None:
            widget.finish(comparison)
            comparison._widget = widget
            if handle is not None:
                handle.update({"text/plain": ""}, raw=True)
        if len(failed) == len(comparison.results):  # nothing to bind: the cell fails
            error = failed[0]
            if widget is not None and handle is not None and isinstance(error,
                                                                       StructuredError):
                _shown_in_widget(handle, widget, error)
            raise error
        if args.out is not None:
            self.shell.user_ns[args.out] = comparison.values()
            if show:
                from IPython.display import display

                display(comparison)
            return None
        return None if args.quiet else comparison

    def _estimate(self, args: Any, spec: Any, body: str, options: dict[str, Any],
                  settings: Any) -> Any:
        """``--estimate``: what the cell or column would cost (sends nothing, unless
        ``--exact`` asks the count endpoint or ``--sample K`` runs K rows)."""
        from .rows.estimate import estimate

        assert self.shell is not None
        ns = self.shell.user_ns
        media: dict[str, Any] = {"detail": args.detail, "inline": args.inline,
                                 "downscale": not args.no_downscale}
        if args.each is not None:
            from .each import each_rows, row_media, row_prompts

            source = _lookup(ns, args.each, "--each")
            index, prompts, _ = row_prompts(self, args, body, source)
            media.update(row_media(self, args, index, each_rows(source)[1]))
        else:
            media.update({k: [v] for k, v in _cell_media(ns, args).items()})  # one row
            prompts = [body]
            if not args.no_interpolate:
                from .call.prompt import TemplateError, fill_template

                try:
                    prompts = [fill_template(body, ns)]
                except TemplateError as exc:
                    raise UsageError(str(exc)) from None
        if args.exact or args.sample:
            self._ensure_key(settings)
        found = estimate(prompts, spec, sample=args.sample or 0, exact=args.exact,
                         concurrency=args.concurrency or 16, **media, **options)
        if args.out is not None:
            ns[args.out] = found
            if not args.quiet:
                print(found.text())
            return None
        return None if args.quiet else found

    def _ensure_key(self, settings: Any) -> None:
        """Ask for a missing key where a person can answer (never in a headless kernel)."""
        from .transport.http import is_loopback

        if settings.cache in ("replay", "cache") or settings.key() is not None:
            return
        if is_loopback(settings.base_url):
            return
        if interactive(self.shell):
            _prompt_key(self.shell, f"API key for {settings.base_url}")


def _check_cost_options(args: Any) -> None:
    """The cost options' own rules, as UsageErrors."""
    if (args.exact or args.sample is not None) and not args.estimate:
        raise UsageError("--exact and --sample go with --estimate.")
    if args.sample is not None and args.sample < 1:
        raise UsageError("--sample needs at least 1 row.")
    if args.max_cost is not None:
        if not math.isfinite(args.max_cost) or args.max_cost < 0:
            raise UsageError("--max-cost must be a number of USD >= 0.")
        if args.each is None:
            raise UsageError("--max-cost caps a column: use it with --each VAR.")
        if args.estimate:
            raise UsageError("--max-cost caps a run; --estimate sends nothing to cap.")


def _cell_media(ns: dict[str, Any], args: Any) -> dict[str, list[Any]]:
    """``images`` / ``files`` of one cell: the notebook's variables ``--image`` and
    ``--file`` name (only those given)."""
    media = {}
    for key, option, names in (("images", "--image", args.image),
                               ("files", "--file", args.file)):
        if names:
            media[key] = [_lookup(ns, name, option) for name in names]
    return media


def _check_combinations(args: Any) -> None:
    """Options that do not go together, as UsageErrors (before anything is sent)."""
    if (args.engine or args.compute) and args.each is None:
        raise UsageError("--engine and --compute go with --each VAR.")
    if args.compare is not None and args.model is not None:
        raise UsageError("Give the models with --compare (MODEL,MODEL...), not --model.")
    if (args.expect is not None or args.tol is not None) and args.each is None:
        raise UsageError("--expect and --tol go with --each VAR.")
    if args.tol is not None and args.expect is None:
        raise UsageError("--tol goes with --expect.")
    if args.tol is not None and not (math.isfinite(args.tol) and args.tol >= 0):
        raise UsageError("--tol must be a number >= 0.")
    if args.batch_api and (args.engine or args.compare):
        raise UsageError("--batch-api cannot be combined with --engine or --compare.")
    if args.engine and (args.compare or args.expect):
        raise UsageError("--engine cannot be combined with --compare or --expect.")
    if args.compute and not args.engine:
        raise UsageError("--compute goes with --engine.")
    if args.max_cost is not None and (args.engine or args.compare):
        raise UsageError("--max-cost caps one column on one model: it cannot be combined with "
                         "--engine or --compare.")
    if args.estimate and (args.engine or args.compare):
        raise UsageError("--estimate prices one model in this kernel: run it without "
                         "--engine, and once per model instead of --compare.")


def _check_priced(settings: Any) -> None:
    """A UsageError when ``--max-cost`` is given for a model without a price."""
    from .cost.prices import price_for, unknown_price_hint

    if price_for(settings.provider, settings.model, base_url=settings.base_url,
                 overrides=settings.prices) is None:
        raise UsageError(f"--max-cost needs a price, and the "
                         f"{unknown_price_hint(settings.model)}.")


def _new_prices(specs: Sequence[str]) -> dict[str, Any] | None:
    """Your prices after ``%structured_config --price MODEL=IN,OUT[,CACHED]`` (``MODEL=``
    removes one), or None when no ``--price`` was given; a UsageError for a bad one."""
    if not specs:
        return None
    from .config import configured
    from .cost.price import parse_price

    prices = dict(configured().get("prices") or {})
    for spec in specs:
        model, sep, rates = spec.rpartition("=")
        model = model.strip()
        if not sep or not model:
            raise UsageError(f"--price needs MODEL=INPUT,OUTPUT (USD per million tokens), "
                             f"not {spec!r}.")
        if not rates.strip():
            prices.pop(model, None)
            continue
        try:
            prices[model] = parse_price(model, rates)
        except ValueError as exc:
            raise UsageError(f"--price {spec}: {exc}.") from None
    return prices


def _price_models(specs: Sequence[str]) -> list[str]:
    return [spec.rpartition("=")[0].strip() for spec in specs]


_KEY_REFUSED = (
    "The magic has no key option: IPython's history keeps every magic line. Set the key in "
    "the environment (OPENAI_API_KEY, or the variable named by %structured_config --key-env), "
    "call structmagic.configure(api_key=...) in a cell you do not save, or run "
    "%structured_config --key to type it without echo."
)


def _parse(magic: Any, line: str) -> Any:
    """Parse a magic line the way a shell would (quotes removed), or a UsageError.

    An option given twice is a UsageError too (argparse would silently keep the last),
    except options that collect several values (``action="append"``, ``"count"``, ...).
    """
    import argparse
    import shlex

    try:
        argv = shlex.split(line, posix=True)
    except ValueError as exc:
        raise UsageError(f"Could not read the magic line: {exc}.") from None
    parser = magic.parser
    namespace = _CountingNamespace()
    for action in parser._actions:  # the defaults, set before argparse counts anything
        if action.dest is not argparse.SUPPRESS and action.default is not argparse.SUPPRESS:
            object.__setattr__(namespace, action.dest, action.default)
    args = parser.parse_args(argv, namespace=namespace)
    for action in parser._actions:
        if (
            action.option_strings
            and namespace._counts.get(action.dest, 0) > 1
            and not isinstance(action, _REPEATABLE)
        ):
            raise UsageError(
                f"{'/'.join(action.option_strings)} was given more than once; give it once."
            )
    return args


class _CountingNamespace:
    """An argparse namespace that counts how many times each option was set."""

    _counts: dict[str, int]

    def __init__(self) -> None:
        object.__setattr__(self, "_counts", {})

    def __setattr__(self, name: str, value: Any) -> None:
        self._counts[name] = self._counts.get(name, 0) + 1
        object.__setattr__(self, name, value)

    def __contains__(self, name: str) -> bool:  # argparse asks this of namespaces
        return name in self.__dict__


def _repeatable() -> tuple[type, ...]:
    import argparse

    return tuple(
        getattr(argparse, name)
        for name in ("_AppendAction", "_AppendConstAction", "_CountAction", "_ExtendAction")
        if hasattr(argparse, name)
    )


_REPEATABLE = _repeatable()

# Names IPython itself keeps in the user namespace (the output history, the input history,
# the shell) or that it relies on: binding a result there breaks the next cells.
_IPYTHON_NAMES = frozenset({
    "In", "Out", "get_ipython", "exit", "quit", "_", "__", "___", "_i", "_ii", "_iii",
    "_oh", "_dh", "_ih", "_sh", "_exit_code",
})
_HISTORY_NAME = re.compile(r"_i?\d+")


def _check_out(out: str) -> None:
    """A UsageError unless ``out`` is a plain name the result may be bound to."""
    if not out.isidentifier() or keyword.iskeyword(out):
        raise UsageError(f"-o needs a plain variable name, not {out!r}.")
    if out.startswith("__") or out in _IPYTHON_NAMES or _HISTORY_NAME.fullmatch(out):
        raise UsageError(
            f"-o {out}: that name belongs to Python or IPython (binding it would break the "
            "next cells); choose another name."
        )


def _check_texts(*texts: tuple[str, str | None]) -> None:
    """A UsageError if a text of the magic cannot be sent (a lone surrogate)."""
    from .call.prompt import TemplateError, check_text

    for what, text in texts:
        if text is None:
            continue
        try:
            check_text(text, what)
        except TemplateError as exc:
            raise UsageError(str(exc)) from None


def _lookup(ns: dict[str, Any], dotted: str, what: str) -> Any:
    """A variable or dotted attribute from the user namespace, or a UsageError."""
    head, *rest = dotted.split(".")
    if not head.isidentifier() or not all(part.isidentifier() for part in rest):
        raise UsageError(f"{what}: {dotted!r} is not a variable name.")
    if head not in ns:
        raise UsageError(f"{what}: no variable named {head!r} in the notebook.")
    obj = ns[head]
    for i, part in enumerate(rest):
        if part.startswith("__"):
            raise UsageError(f"{what}: {dotted!r}: dunder attributes are not looked up.")
        try:
            obj = getattr(obj, part)
        except AttributeError:
            where = ".".join([head, *rest[:i]])
            raise UsageError(f"{what}: {where!r} has no attribute {part!r}.") from None
    return obj


def _prompt_key(shell: Any, label: str) -> None:
    from .config import Secret, configure
    from .errors import ConfigError

    if not interactive(shell):
        raise ConfigError("No API key, and no one to ask for it (not an interactive session).")
    import getpass

    try:
        typed = getpass.getpass(f"{label} (not echoed, not saved): ")
    except Exception:  # StdinNotImplementedError in a headless kernel, EOFError, ...
        raise ConfigError(
            "No API key, and this kernel cannot ask for one (no input channel). Set "
            "OPENAI_API_KEY in the kernel's environment or call structmagic.configure(api_key=...)."
        ) from None
    typed = typed.strip()
    if not typed:
        raise ConfigError("No API key was typed.")
    configure(api_key=Secret(typed, "typed at the %structured_config prompt"))


def _labels(pairs: list[str] | None, spec: Any) -> dict[str, str]:
    """The field labels: the schema's titles, then each ``--label FIELD=TEXT``."""
    from .display.render import field_labels

    given: dict[str, str] = {}
    for pair in pairs or ():
        name, sep, text = pair.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise UsageError(f"--label takes FIELD=TEXT, not {pair!r}.")
        given[name.strip()] = text.strip()
    return field_labels(spec.original, given)


def _shown_in_widget(handle: Any, widget: Any, exc: BaseException) -> None:
    """The failed widget says it all: it is shown again with the error, the traceback is short.

    As on success, the live display is emptied and a final one takes its place: the widget
    with the error as ``text/html`` and ``text/plain`` too, for the frontends that draw no
    widget (an export without widget state, a console). A new display rather than an update
    of the live one, which nbval would not see. The exception is marked, so that IPython
    renders it as one short line instead of the same paragraph again (see
    ``StructuredError._render_traceback_``). The cell still fails.
    """
    from IPython.display import display

    from .display.render import error_html, error_text

    handle.update({"text/plain": ""}, raw=True)
    bundle = dict(widget._repr_mimebundle_())
    bundle["text/plain"] = error_text(exc)
    bundle["text/html"] = error_html(exc)
    display(bundle, raw=True)
    exc._shown_in_widget = True  # type: ignore[attr-defined]


def _show_live(widget: Any) -> Any:
    from IPython.display import display

    bundle = dict(widget._repr_mimebundle_())
    bundle["text/plain"] = ""  # constant while live: nbval and saved notebooks stay stable
    return display(bundle, raw=True, display_id=True)
