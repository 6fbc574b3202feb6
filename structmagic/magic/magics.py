"""The magics' class: ``%%structured``, ``%structured_config``, ``%structured_schema``,
``%structured_batches`` and ``%structured_review``.

Thin on purpose: each magic reads its line (:mod:`.options`) and hands the work on
(:mod:`.cell`, :mod:`.configuring`, :mod:`.schema_text`, :mod:`.batches`, :mod:`.reviewing`).
The settings that can be configured are traits of this class, made from their declarations
(:func:`structmagic.config.declared`): ``%config StructuredMagics.model = "gpt-4o-mini"``
and ``%structured_config --model gpt-4o-mini`` set the same value, and a trait left unset
(None) lets the layers below show.
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import magic_arguments
from traitlets import Bool, CFloat, CInt, Enum, MetaHasTraits, TraitType, Unicode, observe

from ..config import Declared, configure, declared
from .batches import list_batches
from .cell import run_cell
from .configuring import apply_config
from .options import (
    BATCHES_ARGUMENTS,
    CELL_ARGUMENTS,
    CONFIG_ARGUMENTS,
    REVIEW_ARGUMENTS,
    SCHEMA_ARGUMENTS,
    arguments,
    read_batches,
    read_cell,
    read_config,
    read_review,
    read_schema,
)
from .reviewing import open_review
from .schema_text import show_schema

__all__ = ["SettingTraits", "StructuredMagics"]

CONFIGURABLE = tuple(d.name for d in declared(configurable=True))


def _trait(decl: Declared) -> TraitType[Any, Any]:
    """The trait of a setting (None: not set here)."""
    trait: TraitType[Any, Any]
    if decl.kind == "count":
        trait = CInt(None, allow_none=True, help=decl.help)
    elif decl.kind in ("number", "seconds"):
        trait = CFloat(None, allow_none=True, help=decl.help)
    elif decl.kind == "choice" and decl.choices is not None:
        trait = Enum(list(decl.choices()), None, allow_none=True, help=decl.help)
    else:
        trait = Unicode(None, allow_none=True, help=decl.help)
    return trait.tag(config=True)


#: the configurable settings as traits (a base class: traits are made from declarations)
SettingTraits: Any = MetaHasTraits("SettingTraits", (Magics,), {
    "__module__": __name__, "__doc__": "The configurable settings, as traits.",
    **{d.name: _trait(d) for d in declared(configurable=True)}})


def _layer(value: Any) -> Any:
    """A trait's value for the configured layer (None, or an empty text: unset)."""
    return None if value in ("", None) else value


@magics_class
class StructuredMagics(SettingTraits):
    """Schema-validated LLM answers in a cell: ``%%structured``, ``%structured_config``,
    ``%structured_schema``, ``%structured_batches`` and ``%structured_review``."""

    stream = Bool(True, help="Stream answers into the live widget by default.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        # Only traits given a value (by a config file or %config) enter the configured layer;
        # the others leave structmagic.configure() and the environment visible.
        given = {name: _layer(getattr(self, name)) for name in CONFIGURABLE}
        configure(**{name: value for name, value in given.items() if value is not None})

    @observe(*CONFIGURABLE)
    def _trait_changed(self, change: Any) -> None:
        configure(**{change["name"]: _layer(change["new"])})

    @magic_arguments()
    @arguments(*CONFIG_ARGUMENTS)
    @line_magic
    def structured_config(self, line: str) -> None:
        """Show the effective settings (the key masked), or set some.

        With no option, prints every setting and where the key comes from; with options,
        sets them and says which (every value is checked before any is set).
        """
        apply_config(self, read_config(self.structured_config, line))

    @magic_arguments()
    @arguments(*CELL_ARGUMENTS)
    @no_var_expand  # schema text arrives as written: IPython would fill {name} and $name
    @cell_magic
    def structured(self, line: str, cell: str) -> Any:
        """Ask a model for a value that matches SCHEMA; validate it; bind it.

        SCHEMA is a notebook variable, or schema text in quotes: ``%%structured "name, age
        int, bio: a short bio" -o person`` (``%structured_schema?`` for the syntax). The line
        is read as written (no ``$name`` or ``{name}`` filled in it). The cell body is the
        user message; ``{name}`` is filled from the notebook (``{{``/``}}`` for literal
        braces). On any error nothing is bound and an earlier value of NAME stays as it was.

        Cost: ``--estimate`` prints what the cell (or the ``--each`` column) would cost and
        sends nothing (``-o NAME`` binds the estimate; ``--image`` / ``--file`` inputs count
        by the provider's rule for an image's size and a PDF's pages; ``--exact`` counts
        input tokens with the provider's count endpoint, ``--sample K`` runs K rows first
        and extrapolates); ``--max-cost USD`` stops an ``--each`` column before it would
        cost more, marking the rows not run ("not run: budget"). Prices:
        ``%structured_config --price``.
        """
        assert self.shell is not None  # a registered magic always has its shell
        return run_cell(self, read_cell(self.structured, line, cell))

    @magic_arguments()
    @arguments(*SCHEMA_ARGUMENTS)
    @no_var_expand
    @line_magic
    def structured_schema(self, line: str) -> None:
        """Print the JSON Schema that schema text makes, and the same as Pydantic models.

        ``%structured_schema "name, age int, bio: a short bio"``. Schema text is a superset
        of simonw/llm's concise syntax: fields separated by commas (or one per line, when
        the text has newlines: then a description may hold commas), each ``name
        [type][: description]``; types ``str`` (the default), ``int``, ``float``, ``bool``,
        ``list[T]``, an object ``{a, b int}`` and ``enum[a, b, c]``; ``T?`` may be null.
        Every field is required. A mistake names its column. ``%%structured "..."`` takes
        the same text in place of a variable.
        """
        assert self.shell is not None
        show_schema(self.shell.user_ns, read_schema(self.structured_schema, line))

    @magic_arguments()
    @arguments(*BATCHES_ARGUMENTS)
    @line_magic
    def structured_batches(self, line: str) -> None:
        """List the provider batch jobs of the manifest, with status and cost; or cancel one.

        Jobs still running are polled once (``--no-refresh`` shows the last statuses seen).
        A cancelled job keeps the rows it finished: run its cell again to collect them.
        Polls and cancels go only to the base URL configured now for the job's provider, with
        its key: a job the manifest records for another base URL is listed, not contacted
        (one line says so; ``--cancel`` of it fails saying so).
        """
        list_batches(*read_batches(self.structured_batches, line))

    @magic_arguments()
    @arguments(*REVIEW_ARGUMENTS)
    @line_magic
    def structured_review(self, line: str) -> Any:
        """Review the rows of a column one at a time: accept or correct each answer.

        ``%structured_review NAME`` opens a widget over NAME (the DataFrame ``%%structured
        --each VAR -o NAME`` bound, or a list of Results), the most doubtful rows first when
        their doubt was measured: the row's source text (``--source VAR``; the grounded view
        when grounding ran) and each field as an input (a text box, a number, a dropdown for
        an enum, a checkbox for a boolean, an array's items as rows to edit, add and
        remove). Accept, Save correction (checked against the schema first), Skip,
        Previous, Next; Enter in the small box accepts, the arrow keys move on the Row
        slider. Each answer is written at once to the corrections file (``--corrections
        PATH``), which survives a kernel restart; a reviewed row's value wins in NAME (a
        ``reviewed`` column says which rows were), and ``--only`` never re-runs it. Then the
        same column cell with ``--expect corrections`` scores the model against the review,
        and ``--examples corrections:K`` teaches with K reviewed rows.
        """
        assert self.shell is not None
        return open_review(self.shell.user_ns, *read_review(self.structured_review, line))
