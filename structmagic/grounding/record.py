"""What grounding finds: a :class:`Grounding` per leaf value, over a :class:`Source`.

Both are plain frozen data (they pickle, compare and print deterministically); the matching
itself is in :mod:`.align`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

__all__ = ["FOUND", "NOT_TEXT", "NO_TEXT", "STATUSES", "Grounding", "Source"]

#: every status a value can have, from the best to the worst
STATUSES = ("exact", "normalized", "fuzzy", "ungrounded", "not_applicable", "unverifiable")
#: the statuses of a value that is found in the source
FOUND = ("exact", "normalized", "fuzzy")
#: the statuses of a value that is not to be looked for
NOT_TEXT = ("not_applicable", "unverifiable")


@dataclass(frozen=True)
class Grounding:
    """Where one value was found in the source.

    ``status``: one of :data:`STATUSES`. ``start`` / ``end``: character offsets into the
    source text (Python ``str`` indices: ``source.text[start:end] == text``), None when the
    value was not found. ``page``: the 1-based page of a paged source (a PDF), else None.
    ``text``: the matched source text. ``score``: how close the match is, in [0, 1] (1.0 for
    exact and normalized matches; below 1 for fuzzy ones; None when nothing matched).
    ``value``: the value that was looked for.
    """

    status: str
    start: int | None = None
    end: int | None = None
    page: int | None = None
    text: str | None = None
    score: float | None = None
    value: Any = None

    @property
    def found(self) -> bool:
        """Whether the value was found in the source (exact, normalized or fuzzy)."""
        return self.status in FOUND


@dataclass(frozen=True)
class Source:
    """The text values are grounded in.

    ``text``: the whole text. ``pages``: for a paged source (the text layer of PDFs), the
    offset in ``text`` where each page starts, in order; empty for a source without pages.
    ``numbers``: each page's 1-based number within its own document (default 1, 2, 3, ...;
    the pages of two PDFs are numbered 1, 2, 1, 2, 3). ``names``: each page's document label
    (a file name, "file 2"), or empty.
    """

    text: str
    pages: tuple[int, ...] = ()
    numbers: tuple[int, ...] = ()
    names: tuple[str, ...] = ()

    def page_index(self, offset: int) -> int | None:
        """The 0-based index into :attr:`pages` of the page holding a character offset (None
        for a source without pages)."""
        if not self.pages:
            return None
        return max(0, bisect_right(self.pages, offset) - 1)

    def page_of(self, offset: int) -> int | None:
        """The 1-based page number (within its document) of a character offset; None for a
        source without pages."""
        index = self.page_index(offset)
        if index is None:
            return None
        return self.numbers[index] if self.numbers else index + 1

    def name_of(self, offset: int) -> str | None:
        """The label of the document holding a character offset, when known."""
        index = self.page_index(offset)
        if index is None or not self.names:
            return None
        return self.names[index]

    def __len__(self) -> int:
        return len(self.text)


#: the source of a row that has no text to check (an empty cell of a ``source`` column): its
#: values are ``unverifiable``
NO_TEXT = Source("")
