"""What the magics read from the notebook and bind in it.

:func:`lookup` reads a variable (or dotted attribute) of the user namespace, :func:`fill`
fills the cell body's ``{name}`` from it (a row's fields first, with :class:`Layered`), and
:func:`check_out` guards the name a result is bound to (``-o NAME``). Each mistake is a
one-line ``UsageError``.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator, Mapping
from typing import Any

from IPython.core.error import UsageError

from ..call.prompt import TemplateError, check_text, fill_template

__all__ = ["Layered", "check_out", "check_texts", "fill", "lookup"]

# Names IPython itself keeps in the user namespace (the output history, the input history,
# the shell) or that it relies on: binding a result there breaks the next cells.
IPYTHON_NAMES = frozenset({
    "In", "Out", "get_ipython", "exit", "quit", "_", "__", "___", "_i", "_ii", "_iii",
    "_oh", "_dh", "_ih", "_sh", "_exit_code",
})
HISTORY_NAME = re.compile(r"_i?\d+")


def lookup(ns: Mapping[str, Any], dotted: str, what: str) -> Any:
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


def check_out(out: str) -> None:
    """A UsageError unless ``out`` is a plain name the result may be bound to."""
    if not out.isidentifier() or keyword.iskeyword(out):
        raise UsageError(f"-o needs a plain variable name, not {out!r}.")
    if out.startswith("__") or out in IPYTHON_NAMES or HISTORY_NAME.fullmatch(out):
        raise UsageError(
            f"-o {out}: that name belongs to Python or IPython (binding it would break the "
            "next cells); choose another name."
        )


def check_texts(*texts: tuple[str, str | None]) -> None:
    """A UsageError if a text of the magic cannot be sent (a lone surrogate)."""
    for what, text in texts:
        if text is None:
            continue
        try:
            check_text(text, what)
        except TemplateError as exc:
            raise UsageError(str(exc)) from None


def fill(body: str, names: Mapping[str, Any], *, where: str = "") -> str:
    """The cell body with ``{name}`` filled from ``names``; a UsageError (prefixed with
    ``where``, e.g. a row) for a name that is not there or a value that cannot be sent."""
    try:
        return fill_template(body, names)
    except TemplateError as exc:
        raise UsageError(f"{where}{exc}") from None


class Layered(Mapping[str, Any]):
    """Row fields first, then the notebook's names."""

    def __init__(self, first: Mapping[str, Any], second: Mapping[str, Any]) -> None:
        self._first, self._second = first, second

    def __getitem__(self, key: str) -> Any:
        if key in self._first:
            return self._first[key]
        return self._second[key]

    def __contains__(self, key: object) -> bool:
        return key in self._first or key in self._second

    def __iter__(self) -> Iterator[str]:
        yield from self._first
        yield from (k for k in self._second if k not in self._first)

    def __len__(self) -> int:
        return len(set(self._first) | set(self._second))
