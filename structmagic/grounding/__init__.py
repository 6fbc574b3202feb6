"""Grounding: where each value of an answer sits in its source text.

::

    ground(value, source, schema=None, *, skip=()) -> {path: Grounding}

- :mod:`.record` — :class:`Grounding` (status, offsets, page, matched text, score) and
  :class:`Source` (the text, and its pages when it is the text layer of PDFs);
- :mod:`.paths` — the leaf values of an answer and their paths (``lines[0].qty``, ``$``);
- :mod:`.normal` — text normalised with a map back to the original offsets;
- :mod:`.align` — the matching: exact, normalized, fuzzy, on token boundaries (its
  docstring states the rules).

Grounding is computed locally from the answer and the source; it sends nothing.
"""

from __future__ import annotations

from .align import ground
from .paths import leaves, path_of
from .record import FOUND, NO_TEXT, NOT_TEXT, STATUSES, Grounding, Source

__all__ = ["FOUND", "NOT_TEXT", "NO_TEXT", "STATUSES", "Grounding", "Source", "ground", "leaves",
           "path_of"]
