"""Review in the notebook: look at a column's rows one at a time, accept or correct each,
and keep what you said in the corrections file (:mod:`structmagic.transport.corrections`).

::

    rv = structmagic.review(results_or_frame, source=None, corrections=None)   # the widget
    %structured_review NAME [--corrections PATH] [--source VAR]                # the same

:class:`Review` walks the rows that have an answer, the most doubtful first when their doubt
was measured (confidence, samples, grounding), else in input order; failed rows are left
out (re-run them first). Each row shows its source text (the grounded view when grounding
ran), and each field of its answer as an input fitting its schema type
(:class:`~structmagic.display.review.FieldForm`). *Accept* says the model's value is right,
*Save correction* saves the inputs' value (checked against the schema first: a wrong type or
a missing required field shows next to the field, and nothing is saved), *Skip* goes to the
next row not reviewed yet, *Previous* / *Next* move. Each save is written to the file at
once; the latest record of a row wins. The same from Python: :meth:`Review.accept`,
:meth:`Review.correct`, :meth:`Review.skip`, :meth:`Review.go`.

A row is matched to its record by its input key (:attr:`~structmagic.Result.input_key`) and
the schema's hash, so a review survives a kernel restart: the same cell run again gives the
same keys. A reviewed row's value wins in the frame the magic bound (its fields are written
into the frame, and a ``reviewed`` column says ``accepted`` or ``corrected``:
:func:`apply_corrections`, also when the cell binds the frame anew), and ``--only`` never
re-runs it (:func:`reviewed_positions`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..call.result import Result
from ..config import declared, resolve
from ..display import render as R
from ..display.kernel import in_kernel
from ..display.review import FieldForm, ReviewView, field_path, source_html
from ..errors import ConfigError, InputError
from ..grounding.paths import parts_of
from ..schema import SchemaSpec, load_schema
from ..transport.corrections import (
    CORRECTED,
    MISSING,
    Correction,
    Corrections,
    add_correction,
    corrections_path,
    load_corrections,
)
from .frame import measured_doubt, own_column, top_fields, write_cells
from .runs import previous_results

__all__ = ["REVIEWED", "Review", "apply_corrections", "corrections_of", "review",
           "reviewed_positions"]

#: the frame's column that says which rows were reviewed (``accepted`` / ``corrected``)
REVIEWED = "reviewed"
_SETTINGS = frozenset(d.name for d in declared())


def corrections_of(options: Mapping[str, Any]) -> Path:
    """Where the corrections file is for a run with ``options`` (its settings among them:
    ``corrections``, else beside its ``cassette``, else the configured ones')."""
    return corrections_path(resolve({k: v for k, v in options.items() if k in _SETTINGS}))


def _matched(results: Sequence[Result], found: Corrections, digest: str | None = None
             ) -> dict[int, Correction]:
    """The record of each result's row, by position (rows without a key, failed rows, and
    records of another version of the schema left out). ``digest``: the schema's hash
    (default: that of the schema the results carry)."""
    if digest is None:
        schema = next((r.schema for r in results if r.schema is not None), None)
        if schema is None:
            return {}
        digest = load_schema(schema).digest
    out = {}
    for i, res in enumerate(results):
        record = found.latest(res.input_key) if res.error is None else None
        if record is not None and record.schema_hash == digest:
            out[i] = record
    return out


def reviewed_positions(results: Sequence[Result], path: str | Path) -> set[int]:
    """The positions of the rows that have a record in the corrections file at ``path``
    (accepted or corrected): what ``--only`` never sends again."""
    found = load_corrections(path)
    return set(_matched(results, found)) if len(found) else set()


def apply_corrections(frame: Any, results: Sequence[Result], path: str | Path,
                      spec: SchemaSpec) -> int:
    """Write the reviewed values of the corrections file at ``path`` into ``frame`` (the
    DataFrame the magic bound for ``results``): each reviewed row's fields, and the
    ``reviewed`` column (made when a row has a record); how many rows were written."""
    found = load_corrections(path)
    matched = _matched(results, found, spec.digest) if len(found) else {}
    if matched:
        write_reviewed(frame, spec, matched)
    return len(matched)


def write_reviewed(frame: Any, spec: SchemaSpec, rows: Mapping[int, Correction]) -> None:
    """The reviewed values of ``rows`` (position → record) into ``frame``, in place: each
    top-level field's cell, and the ``reviewed`` column."""
    fields = top_fields(spec)
    name = own_column(REVIEWED, fields)
    if name not in frame.columns:
        frame[name] = None
    for field in fields:
        if field not in frame.columns:
            continue
        at = frame.columns.get_loc(field)
        if not isinstance(at, int):
            continue
        positions = sorted(rows)
        values = [_field_of(rows[p].reviewed, field, len(fields)) for p in positions]
        write_cells(frame, at, positions, values)
    at = frame.columns.get_loc(name)
    if isinstance(at, int):
        positions = sorted(rows)
        write_cells(frame, at, positions, [rows[p].verdict for p in positions])


def _field_of(value: Any, field: str, count: int) -> Any:
    if isinstance(value, dict):
        return value.get(field)
    return value if count == 1 and field == "value" else None


@dataclass
class _Row:
    position: int  # in the run
    label: Any  # the input's index label (a list: the position)
    result: Result
    source: str | None


class Review:
    """A review of a column's rows (see the module's text); displays as its widget.

    ``results``: the DataFrame ``%%structured --each`` bound in this kernel, or a list of
    :class:`~structmagic.Result` (as ``batch()`` returns them). ``source``: each row's
    source text, to show and to keep with its record (what ``--examples corrections:K``
    teaches with): a list in the rows' order, or a mapping / pandas Series by the rows'
    index labels. ``corrections``: the file (default: the configured settings',
    :func:`~structmagic.transport.corrections.corrections_path`). ``schema``: only for
    results that do not carry theirs. ``labels``: field labels, as for the widget.
    """

    def __init__(self, results: Any, *, source: Any = None, corrections: Any = None,
                 schema: Any = None, labels: Mapping[str, str] | None = None) -> None:
        found = previous_results(results)
        if found is None:
            raise InputError("review needs the results of a column: the DataFrame "
                             "%%structured --each bound in this kernel (not a copy of it), or "
                             "a list of structmagic.Result (as batch() returns them).")
        self.results, index, self.frame = found
        given = schema if schema is not None else next(
            (r.schema for r in self.results if r.schema is not None), None)
        if given is None:
            raise InputError("These results do not carry their schema: give it, "
                             "review(results, schema=...).")
        self.spec = load_schema(given)
        self.name = next((r.schema_name for r in self.results if r.error is None),
                         self.spec.name)
        settings = resolve()
        self.path = corrections_path(settings, corrections)
        self.clock = settings.clock
        self.labels = dict(labels or {})
        texts = _sources(source, index, len(self.results))
        self.keeps_source = source is not None
        rows = [_Row(i, index[i], res, texts[i]) for i, res in enumerate(self.results)
                if res.error is None]
        self.failed = len(self.results) - len(rows)
        if any(measured_doubt(r.result) or r.result.grounding is not None for r in rows):
            rows.sort(key=lambda r: -r.result.doubt)  # stable: ties keep the input order
        self.rows = rows
        self.saved: dict[int, Correction] = _matched(self.results,
                                                    load_corrections(self.path),
                                                    self.spec.digest)
        if self.frame is not None and self.saved:
            write_reviewed(self.frame, self.spec, self.saved)
        self.at = 0
        self._view: ReviewView | None = None
        self._note = ""

    # --- where we are ----------------------------------------------------------------------

    @property
    def row(self) -> Any:
        """The label of the row on show (None when there is no row to review)."""
        return self.rows[self.at].label if self.rows else None

    def counts(self) -> tuple[int, int, int]:
        """(reviewed, corrected, left) among the rows to review."""
        shown = {r.position for r in self.rows}
        done = [c for p, c in self.saved.items() if p in shown]
        corrected = sum(c.verdict == CORRECTED for c in done)
        return len(done), corrected, len(shown) - len(done)

    def count_line(self) -> str:
        """``"12 reviewed · 4 corrected · 988 left"`` (and the failed rows not shown)."""
        reviewed, corrected, left = self.counts()
        line = f"{reviewed} reviewed · {corrected} corrected · {left} left"
        if self.failed:
            line += f" · {R.plural(self.failed, 'failed row')} not shown (no answer to review)"
        return line

    def __repr__(self) -> str:
        return f"<Review {self.name}: {self.count_line()}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        return (f'<div class="structmagic-review {R.NO_MATH}" style="{R.BLOCK}color:{R.FG}">'
                f"<b>Review · {R.esc(self.name)}</b> · {R.esc(self.count_line())}</div>")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": repr(self), "text/html": self._repr_html_()}
        if in_kernel():
            view = self.widget.widget._repr_mimebundle_()
            if isinstance(view, dict):
                bundle.update({k: v for k, v in view.items() if k != "text/plain"})
                bundle["text/html"] = self._repr_html_()
        return bundle

    # --- moving --------------------------------------------------------------------------------

    def _find(self, row: Any) -> int:
        """The place in the review of the row labelled ``row`` (None: the one on show)."""
        if row is None:
            if not self.rows:
                raise InputError("There is no row to review.")
            return self.at
        for k, r in enumerate(self.rows):
            if r.label == row:
                return k
        raise InputError(f"No row {row!r} to review (failed rows are not reviewed).")

    def go(self, row: Any) -> None:
        """Show the row labelled ``row``."""
        self._move(self._find(row))

    def next(self) -> None:
        """The next row (in the review's order)."""
        self._move(min(self.at + 1, len(self.rows) - 1))

    def previous(self) -> None:
        """The row before."""
        self._move(max(self.at - 1, 0))

    def skip(self) -> None:
        """The next row not reviewed yet (nothing is saved)."""
        self._move(self._next_open(self.at), note="skipped")

    def _next_open(self, start: int) -> int:
        n = len(self.rows)
        for step in range(1, n + 1):
            k = (start + step) % n
            if self.rows[k].position not in self.saved:
                return k
        return min(start + 1, n - 1) if n else 0

    def _move(self, k: int, note: str = "") -> None:
        self.at = max(0, min(k, len(self.rows) - 1))
        self._note = note
        if self._view is not None:
            self._render()

    # --- saving -------------------------------------------------------------------------------

    def accept(self, row: Any = None) -> Correction:
        """The model's value of ``row`` (default: the row on show) is right: saved as
        accepted; then the next row not reviewed yet is shown."""
        k = self._find(row)
        item = self.rows[k]
        return self._save(k, item.result.plain)

    def correct(self, row: Any = None, changes: Mapping[str, Any] | None = None, *,
                value: Any = MISSING) -> Correction:
        """Save a correction of ``row`` (default: the row on show): the model's value with
        ``changes`` (field path → value: ``{"kg": 1.0, "lines[0].qty": 2}``), or ``value``
        whole. Checked against the schema first: an :class:`~structmagic.InputError` lists
        what is wrong, and nothing is saved. A value equal to the model's is saved as
        accepted."""
        k = self._find(row)
        item = self.rows[k]
        if value is MISSING:
            value = _with_changes(item.result.plain, changes or {})
        problems = self.check(value)
        if problems:
            listed = "; ".join(f"{p}: {m}" for p, m in problems.items())
            raise InputError(f"Not saved: the value of row {item.label!r} does not match the "
                             f"schema {self.name!r} ({listed}).")
        return self._save(k, value)

    def check(self, value: Any) -> dict[str, str]:
        """What is wrong with ``value`` under the schema, by field path (empty: nothing)."""
        _, _, issues = self.spec.check(value)
        out: dict[str, str] = {}
        for issue in issues:
            out.setdefault(field_path(issue.path), issue.message)
        return out

    def save_form(self) -> Correction | None:
        """Save the inputs' value of the row on show (the widget's *Save correction*): its
        problems shown next to their fields and nothing saved when there are any."""
        if self._view is None or self._view.form is None or not self.rows:
            return None
        form = self._view.form
        value, problems = form.read()
        if not problems:
            problems = self.check(value)
        form.show(problems)
        if problems:
            self._view.say(f"Not saved: {R.plural(len(problems), 'problem')} (shown next to "
                           "the fields).", R.BAD)
            return None
        return self._save(self.at, value)

    def _save(self, k: int, value: Any) -> Correction:
        item = self.rows[k]
        res = item.result
        if not res.input_key:
            raise ConfigError(
                f"Row {item.label!r} has no input key (it was not run in a column of this "
                "version of structmagic, or came from a provider batch job), so its review "
                "could not be matched to it again: nothing was saved.",
                hint="Run the column with %%structured --each (or batch()) and review that.")
        record = Correction.of(key=res.input_key, schema=res.schema_name,
                               schema_hash=self.spec.digest, model=res.plain, reviewed=value,
                               time=self.clock.time(),
                               source=item.source if self.keeps_source else None)
        last = self.saved.get(item.position)
        if last is None or not _same(last, record):
            add_correction(self.path, record)
        else:
            record = last  # the same review again: nothing new to write
        self.saved[item.position] = record
        if self.frame is not None:
            write_reviewed(self.frame, self.spec, {item.position: record})
        changed = record.changed
        self._move(self._next_open(k), note=(
            f"Saved row {item.label!r} as {record.verdict}"
            + (f" ({', '.join(changed[:5])}{' …' if len(changed) > 5 else ''})"
               if changed else "") + "."))
        return record

    # --- the widget ---------------------------------------------------------------------------

    @property
    def widget(self) -> ReviewView:
        """The widget (made on first use)."""
        if self._view is None:
            self._view = ReviewView(self.name, len(self.rows), {
                "accept": self._clicked(self.accept), "save": self._clicked(self.save_form),
                "skip": self.skip, "previous": self.previous, "next": self.next,
                "go": lambda n: self._move(n - 1)})
            self._render()
        return self._view

    def _clicked(self, action: Any) -> Any:
        def run() -> None:
            try:
                action()
            except (ConfigError, InputError) as exc:
                if self._view is not None:
                    self._view.say(str(exc), R.BAD)
        return run

    def _render(self) -> None:
        view = self._view
        assert view is not None
        view.set_count(self.count_line())
        if not self.rows:
            view.show_row(header=self._header(None), source="", form=None, position=1,
                          can_save=False)
            view.say("No row to review.")
            return
        item = self.rows[self.at]
        res = item.result
        record = self.saved.get(item.position)
        shown = record.reviewed if record is not None else res.plain
        form = FieldForm(self.spec.original, shown, self.labels,
                         on_submit=self._clicked(self.save_form))
        view.show_row(header=self._header(item), form=form, position=self.at + 1,
                      source=source_html(item.source, res.plain, res.grounding, res.source,
                                         self.labels),
                      can_save=bool(res.input_key))
        view.say(self._note if res.input_key else
                 "This row has no input key (not run in a column): it cannot be saved.")

    def _header(self, item: _Row | None) -> str:
        head = (f'<div style="{R.BLOCK}color:{R.FG}"><b>Review · {R.esc(self.name)}</b>')
        if item is None:
            return head + "</div>"
        res = item.result
        parts = [f"row {R.esc(R.scalar(item.label))}",
                 f"{self.at + 1} of {len(self.rows)}"]
        badge = (R.badge(f"doubt {res.doubt:.2f}", R.WARN if res.doubt > 0.5 else R.FG_MUTED)
                 if measured_doubt(res) or res.grounding is not None else "")
        record = self.saved.get(item.position)
        done = (R.badge(record.verdict, R.OK if record.verdict != CORRECTED else R.ACCENT)
                if record is not None else "")
        return (f'{head} <span style="color:{R.FG_MUTED}">· {" · ".join(parts)}</span> '
                f"{badge} {done}</div>")


def review(results: Any, source: Any = None, corrections: Any = None, *, schema: Any = None,
           labels: Mapping[str, str] | None = None) -> Review:
    """Review a column's rows one at a time in a widget (see :class:`Review`): accept or
    correct each; every answer is written at once to the corrections file ``corrections``
    (default: beside the cassette, else ``structmagic-corrections.jsonl`` in the working
    folder), to score against (``score(results, load_corrections(PATH))``, ``--expect
    corrections``) and to teach with (``examples="corrections:K"``)."""
    return Review(results, source=source, corrections=corrections, schema=schema,
                  labels=labels)


def _sources(source: Any, index: Sequence[Any], n: int) -> list[str | None]:
    """Each row's source text from ``source`` (see :class:`Review`)."""
    if source is None:
        return [None] * n
    if hasattr(source, "to_dict") and hasattr(source, "index"):  # a pandas Series
        source = source.to_dict()
    if isinstance(source, Mapping):
        texts = [source.get(label) for label in index]
    elif isinstance(source, (str, bytes)) or not hasattr(source, "__iter__"):
        raise InputError("source must be one text a row: a list in the rows' order, or a "
                         "mapping (a pandas Series) by their index labels.")
    else:
        texts = list(source)
        if len(texts) != n:
            raise InputError(f"source has {len(texts)} texts for {n} rows.")
    return [t if isinstance(t, str) else None if t is None else str(t) for t in texts]


def _with_changes(value: Any, changes: Mapping[str, Any]) -> Any:
    """``value`` (not changed) with each path of ``changes`` set to its value."""
    out = _copy(value)
    for path, new in changes.items():
        try:
            parts = parts_of(path)
        except ValueError:
            raise InputError(f"{path!r} is not a field path (write them as lines[0].qty)."
                             ) from None
        if not parts:
            out = new
            continue
        holder = out
        for part in parts[:-1]:
            try:
                holder = holder[part]
            except (KeyError, IndexError, TypeError):
                raise InputError(f"The value has no field {path!r}.") from None
        last = parts[-1]
        if isinstance(holder, list) and isinstance(last, int) and last <= len(holder):
            holder[last:last + 1] = [new]  # the item, or one more at the end
        elif isinstance(holder, dict) and isinstance(last, str):
            holder[last] = new
        else:
            raise InputError(f"The value has no field {path!r}.")
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _same(a: Correction, b: Correction) -> bool:
    """Whether two records say the same of a row (their times aside)."""
    return (a.key, a.schema_hash, a.verdict, a.fields, a.source) == (
        b.key, b.schema_hash, b.verdict, b.fields, b.source)
