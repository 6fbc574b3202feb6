"""What a user sees: HTML and text of results, the widgets, the progress bar.

- :mod:`.render` — a result, its steps and its errors as escaped HTML and as plain text;
- :mod:`.confidence` — a bar beside each value for its confidence or agreement, the lowest
  named, the doubt's badge, a table of the values lowest first;
- :mod:`.widget` — the live widget of one call; :mod:`.compare_widget` — models side by side;
- :mod:`.progress` — the progress bar of a batch, a batch job or a Dask computation;
- :mod:`.scores` — the scores of ``--expect``: captioned tables and a chart;
- :mod:`.showing` — putting a widget on screen with a stable ``text/plain``;
- :mod:`.kernel` — whether a kernel (and a person) is there to see it.

Every model-written string reaches an HTML surface escaped, in the kernel, into templates of
our own.
"""

from __future__ import annotations

__all__: list[str] = []
