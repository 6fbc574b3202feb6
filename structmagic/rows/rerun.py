"""Re-running only the rows that need it: :func:`rerun`, and the magic's ``--only``.

After a column has run, the rows worth another try are those that ``failed`` (an error,
budget stops included), the ``doubtful`` ones (:attr:`~structmagic.Result.doubt` above a
threshold, 0.5 by default) and the ``ungrounded`` ones (a value looked for in the source and
not found). :func:`select` finds them; only they are sent again, with the options of the
re-run (a stronger model, more re-asks) — never a row reviewed in the corrections file
(:mod:`.review`: a person's answer is not overwritten by a model's); their new results take
their places and every other row is kept as it was, index included. A frame the magic bound
is updated in place (:func:`update_frame`): only the re-run rows' cells are written, so the
other rows keep the values they had, and any column the user added is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..call.doubt import DOUBT_ABOVE, ONLY
from ..call.grounding import ungrounded_paths
from ..call.result import Result
from ..errors import InputError
from ..schema import load_schema
from .dispatch import batch
from .frame import results_frame, rows_of, top_fields, write_cells
from .review import corrections_of, reviewed_positions
from .runs import previous_results, remember
from .unique import renumber

__all__ = ["DOUBT_ABOVE", "ONLY", "matches", "rerun", "select", "update_frame"]


def _checked(only: str) -> str:
    if only not in ONLY:
        raise InputError(f"only must be one of {', '.join(ONLY)}, not {only!r}.")
    return only


def matches(result: Result, only: str, doubt_above: float = DOUBT_ABOVE) -> bool:
    """Whether ``result`` is a row ``only`` names."""
    if _checked(only) == "failed":
        return result.error is not None
    if result.error is not None:
        return False
    if only == "doubtful":
        return result.doubt > doubt_above
    return bool(result.grounding) and bool(ungrounded_paths(result.grounding or {}))


def select(results: Sequence[Result], only: str, doubt_above: float = DOUBT_ABOVE
           ) -> list[int]:
    """The positions of the rows ``only`` names, in order."""
    _checked(only)
    return [i for i, res in enumerate(results) if matches(res, only, doubt_above)]


def update_frame(frame: Any, results: Sequence[Result], index: Sequence[Any],
                 fields: Sequence[str], positions: Sequence[int]) -> None:
    """Write the re-run rows (``positions``, their new results among ``results``) into
    ``frame`` in place: in each column structmagic makes, only those rows' cells are set
    (a column whose type cannot hold a new value is widened to objects first); a column the
    run adds now (``doubt``, ``grounded``) is made for every row; columns it did not make are
    left alone. The frame is remembered with its new results."""
    chosen = results_frame([results[i] for i in positions], [index[i] for i in positions],
                           fields)
    missing = [c for c in chosen.columns if c not in frame.columns]
    whole = results_frame(list(results), list(index), fields) if missing else None
    for column in chosen.columns:
        if whole is not None and column in missing:
            frame[column] = whole[column].set_axis(frame.index)
            continue
        at = frame.columns.get_loc(column)
        if not isinstance(at, int):  # a name the frame has twice: not ours to guess
            continue
        write_cells(frame, at, positions, chosen[column].tolist())
    remember(frame, results, index)


def rerun(results: Any, prompts: Any, schema: Any, *, only: str = "failed",
          doubt_above: float = DOUBT_ABOVE, **options: Any) -> Any:
    """Run again only the rows of ``results`` that ``only`` names (``"failed"``,
    ``"doubtful"``: :attr:`~structmagic.Result.doubt` above ``doubt_above``, or
    ``"ungrounded"``), through :func:`~structmagic.batch` with ``options`` (a stronger
    ``model=``, more ``reasks=`` ...); the other rows are not sent, and never a row reviewed
    in the corrections file (``corrections=``, else the configured one: see
    :func:`structmagic.review`).

    ``results`` is a list of :class:`~structmagic.Result` (from :func:`~structmagic.batch`)
    or the DataFrame ``%%structured --each`` bound in this kernel; ``prompts`` and
    ``schema`` are what the run was given (a Result keeps neither: holding every row's
    prompt would double a big column's memory). ``images``, ``files`` and ``source``, when
    given, are per row, for every row, as for ``batch``. A list gives a new list (the re-run
    rows' new results in their places); a frame is updated in place (the re-run rows'
    values, errors, costs; every other row as it was, index included) and returned.
    """
    found = previous_results(results)
    if found is None:
        raise InputError("rerun needs the results of a run: a list of structmagic.Result (as "
                         "batch() returns them) or the DataFrame %%structured --each bound in "
                         "this kernel (not a copy of it).")
    previous, index, frame = found
    items = list(rows_of(prompts, "prompts"))
    if len(items) != len(previous):
        raise InputError(f"prompts has {len(items)} rows for {len(previous)} results: give "
                         "the prompts of the run, in its order.")
    reviewed = reviewed_positions(previous, corrections_of(options))
    positions = [i for i in select(previous, only, doubt_above) if i not in reviewed]
    merged = list(previous)
    if positions:
        for name in ("images", "files", "source"):
            value = options.get(name)
            if isinstance(value, (list, tuple)):
                if len(value) != len(previous):
                    raise InputError(f"{name} has {len(value)} rows for {len(previous)} "
                                     "results.")
                options[name] = [value[i] for i in positions]
        again = batch([items[i] for i in positions], schema, **options)
        renumber(again, positions)
        for i, res in zip(positions, again, strict=True):
            merged[i] = res
    if frame is None:
        return merged
    update_frame(frame, merged, index, top_fields(load_schema(schema)), positions)
    return frame
