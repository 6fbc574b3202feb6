"""The corrections file: what a person said of a row's answer, one JSON object a line.

:mod:`structmagic.rows.review` writes it (``%structured_review``, :func:`structmagic.review`);
``--expect corrections`` and :func:`structmagic.score` read it as labels, and ``--examples
corrections:K`` as few-shot examples. One record per row accepted or corrected, appended at
once::

    {"key": "<the row's input key>", "schema": "parcel", "schema_hash": "3f1c…",
     "verdict": "corrected", "time": 1767225600.0,
     "fields": [{"path": "kg", "model": 0.9, "reviewed": 1.0},
                {"path": "name", "model": "Ada", "reviewed": "Ada"}, ...],
     "source": "…"}

- ``key``: the row's input key (:attr:`structmagic.Result.input_key`): the recording's key of
  the row's first request, asked plainly (see :mod:`structmagic.call.loop`). A label is
  matched to a row by it, so it labels that row as the same cell sends it.
- ``schema`` and ``schema_hash`` (:func:`~structmagic.schema.spec.schema_digest`): a record
  made for another version of the schema is not used, and says so.
- ``fields``: every leaf of the answer by its path (the paths of grounding: ``lines[0].qty``;
  an empty object or list is a leaf too), with the model's value and the reviewed value; a
  side that lacks the path has no entry (a line removed in review has no ``reviewed``). The
  reviewed value is rebuilt from them (:attr:`Correction.reviewed`).
- ``verdict``: ``accepted`` (the value is right) or ``corrected``; ``time``: the settings'
  clock, seconds since the epoch.
- ``source``: the row's source text, only when the review was given it (``source=``,
  ``--source``): that is what ``--examples corrections:K`` teaches with. No key and no prompt
  is ever written; the text is scrubbed of any key, as a recording is.

The file is shared as a recording is: appends take an advisory lock and start on a new line
(:func:`~.lines.append_line`), so two kernels appending at once lose nothing; a damaged line
(a kernel killed mid-write, a merge conflict) is skipped with one
:class:`CorrectionsWarning` naming the file and line; the latest record of a row wins.
Where it is (:func:`corrections_path`): the ``corrections`` setting, else beside the cassette
(``notes.cassette.jsonl`` → ``notes.corrections.jsonl``), else
``structmagic-corrections.jsonl`` in the working folder (a notebook's kernel runs in the
notebook's folder).
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings, resolve
from ..errors import ConfigError
from ..grounding.paths import parts_of, path_of
from ..redact import scrub
from .cassette import beside
from .lines import append_line, flock, line_problem

__all__ = ["ACCEPTED", "CORRECTED", "DEFAULT_NAME", "MISSING", "Correction", "Corrections",
           "CorrectionsWarning", "add_correction", "corrections_path", "field_values",
           "load_corrections", "same_value", "value_from"]

DEFAULT_NAME = "structmagic-corrections.jsonl"
ACCEPTED = "accepted"
CORRECTED = "corrected"
VERDICTS = (ACCEPTED, CORRECTED)


class _Missing:
    """A side of a field that has no value at that path (the path is not in that value)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class CorrectionsWarning(UserWarning):
    """A line of the corrections file was damaged, and skipped."""


def corrections_path(settings: Settings, given: str | os.PathLike[str] | None = None) -> Path:
    """Where the corrections of ``settings`` are: given, configured, beside the cassette, or
    in the working folder."""
    chosen = given or settings.corrections
    if chosen:
        return Path(chosen).expanduser()
    return beside(settings.cassette, ".corrections.jsonl") or Path(DEFAULT_NAME)


# --- a value as its fields, and back -------------------------------------------------------------


def field_values(value: Any) -> list[tuple[str, Any]]:
    """``(path, value)`` for every leaf of a JSON value in document order, an empty object or
    list counted as a leaf (so the value can be rebuilt exactly: :func:`value_from`); ``$``
    for a value that is neither. Nests at most as deep as an answer may (100 levels)."""
    out: list[tuple[str, Any]] = []
    stack: list[tuple[list[str | int], Any]] = [([], value)]
    while stack:
        parts, item = stack.pop()
        if isinstance(item, dict) and item and len(parts) < 100:
            stack.extend(([*parts, k], v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list) and item and len(parts) < 100:
            stack.extend(([*parts, i], v) for i, v in reversed(list(enumerate(item))))
        else:
            out.append((path_of(parts), item))
    return out


def value_from(pairs: Iterable[tuple[str, Any]]) -> Any:
    """The value whose leaves are ``pairs`` (:func:`field_values` read back); MISSING for
    none. A :class:`ValueError` for pairs no value has (a path under a leaf, a key where an
    index was)."""
    root: Any = MISSING
    for path, leaf in pairs:
        parts = parts_of(path)
        if not parts:
            if root is not MISSING:
                raise ValueError("the value's root is given twice")
            root = leaf
            continue
        if root is MISSING:
            root = [] if isinstance(parts[0], int) else {}
        holder = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt: Any = leaf if last else ([] if isinstance(parts[i + 1], int) else {})
            if isinstance(part, int) and isinstance(holder, list):
                while len(holder) <= part:
                    holder.append(None)
                if last or holder[part] is None:
                    holder[part] = nxt
                holder = holder[part]
            elif isinstance(part, str) and isinstance(holder, dict):
                if last or part not in holder:
                    holder[part] = nxt
                holder = holder[part]
            else:
                raise ValueError(f"{path}: not a path of the value")
    return root


# --- one record ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Correction:
    """One reviewed row (a line of the corrections file; see the module's text)."""

    key: str
    schema: str
    schema_hash: str
    verdict: str
    #: ``(path, model value, reviewed value)``, MISSING where a side lacks the path
    fields: tuple[tuple[str, Any, Any], ...]
    time: float
    source: str | None = None

    @property
    def reviewed(self) -> Any:
        """The value the person gave (or accepted)."""
        return value_from((p, r) for p, _, r in self.fields if r is not MISSING)

    @property
    def model(self) -> Any:
        """The model's value, as it was reviewed."""
        return value_from((p, m) for p, m, _ in self.fields if m is not MISSING)

    @property
    def changed(self) -> list[str]:
        """The paths whose reviewed value is not the model's."""
        return [p for p, m, r in self.fields if not same_value(m, r)]

    def to_json(self) -> str:
        entries = []
        for path, model, reviewed in self.fields:
            entry: dict[str, Any] = {"path": path}
            if model is not MISSING:
                entry["model"] = model
            if reviewed is not MISSING:
                entry["reviewed"] = reviewed
            entries.append(entry)
        record: dict[str, Any] = {"key": self.key, "schema": self.schema,
                                  "schema_hash": self.schema_hash, "verdict": self.verdict,
                                  "time": self.time, "fields": entries}
        if self.source is not None:
            record["source"] = self.source
        return json.dumps(record, ensure_ascii=False, allow_nan=False, separators=(",", ":"))

    @classmethod
    def of(cls, *, key: str, schema: str, schema_hash: str, model: Any, reviewed: Any,
           time: float, source: str | None = None) -> Correction:
        """The record of a row whose model value was ``model`` and whose reviewed value is
        ``reviewed``: accepted when they are the same, corrected otherwise."""
        mine = dict(field_values(model)) if model is not MISSING else {}
        theirs = dict(field_values(reviewed))
        paths = list(mine) + [p for p in theirs if p not in mine]
        fields = tuple((p, mine.get(p, MISSING), theirs.get(p, MISSING)) for p in paths)
        verdict = ACCEPTED if all(same_value(m, r) for _, m, r in fields) else CORRECTED
        return cls(key, schema, schema_hash, verdict, fields, float(time), source)


def same_value(a: Any, b: Any) -> bool:
    """Whether two JSON values are the same (``3`` is ``3.0``, as JSON has one number type;
    ``True`` is not ``1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _record(obj: Any) -> Correction:
    """A record read from a line; :class:`ValueError` / :class:`KeyError` / :class:`TypeError`
    for one that is not a whole record."""
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    texts = {name: obj[name] for name in ("key", "schema", "schema_hash", "verdict")}
    if not all(isinstance(v, str) and v for v in texts.values()):
        raise ValueError("a field that must be a text is not one")
    if texts["verdict"] not in VERDICTS:
        raise ValueError(f"the verdict is neither {' nor '.join(VERDICTS)}")
    when = obj["time"]
    if isinstance(when, bool) or not isinstance(when, (int, float)):
        raise ValueError("the time is not a number")
    source = obj.get("source")
    if source is not None and not isinstance(source, str):
        raise ValueError("the source is not a text")
    entries = obj["fields"]
    if not isinstance(entries, list):
        raise ValueError("the fields are not a list")
    fields = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise ValueError("a field has no path")
        parts_of(entry["path"])  # a path as written
        fields.append((entry["path"], entry.get("model", MISSING),
                       entry.get("reviewed", MISSING)))
    found = Correction(texts["key"], texts["schema"], texts["schema_hash"], texts["verdict"],
                       tuple(fields), float(when), source)
    found.reviewed  # noqa: B018 -- a value can be rebuilt from its fields (or ValueError)
    return found


# --- the file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corrections:
    """The records of a corrections file (:func:`load_corrections`), in the file's order;
    for each row, the latest counts. As labels (:func:`structmagic.score`, ``--expect
    corrections``) each row is matched by its input key and the schema's hash."""

    records: tuple[Correction, ...] = ()
    path: Path | None = None
    #: input keys not to score (rows taught as examples), and why
    set_aside: frozenset[str] = frozenset()
    set_aside_why: str = ""
    _latest: dict[str, Correction] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for record in self.records:  # the last record of a key wins
            self._latest[record.key] = record

    def __len__(self) -> int:
        return len(self._latest)

    def __repr__(self) -> str:
        where = f" {str(self.path)!r}" if self.path is not None else ""
        corrected = sum(r.verdict == CORRECTED for r in self._latest.values())
        return (f"<Corrections{where}: {len(self._latest)} reviewed rows, {corrected} "
                "corrected>")

    def latest(self, key: str) -> Correction | None:
        """The latest record of the row whose input key is ``key``."""
        return self._latest.get(key) if key else None

    def rows(self) -> list[Correction]:
        """The latest record of every reviewed row, oldest first."""
        return sorted(self._latest.values(), key=lambda r: r.time)

    def examples(self, k: int, schema_hash: str) -> list[Correction]:
        """Up to ``k`` reviewed rows of this schema that kept their source text, to teach
        with: the corrected ones first, then the accepted ones, each oldest first (so the
        examples, and the prompt cache's prefix, stay the same as more rows are reviewed)."""
        usable = [r for r in self.rows() if r.schema_hash == schema_hash and r.source]
        usable.sort(key=lambda r: r.verdict != CORRECTED)
        return usable[:k]

    def excluding(self, keys: Iterable[str], why: str) -> Corrections:
        """These corrections with the rows of ``keys`` set aside as labels (``why`` says
        why, in the scores' note)."""
        return Corrections(self.records, self.path, frozenset(keys), why)

    def labels_for(self, keys: Sequence[str], schema_name: str, schema_hash: str
                   ) -> tuple[list[Any], str]:
        """The reviewed value of each row (``keys``: the rows' input keys), None where a row
        has none to use, and a sentence saying how many rows were labelled and which
        records were not used, and why."""
        labels: list[Any] = []
        labelled = other = aside = 0
        for key in keys:
            record = self.latest(key)
            if record is None:
                labels.append(None)
            elif key in self.set_aside:
                labels.append(None)
                aside += 1
            elif record.schema_hash != schema_hash:
                labels.append(None)
                other += 1
            else:
                labels.append(record.reviewed)
                labelled += 1
        stale = sum(r.schema == schema_name and r.schema_hash != schema_hash
                    for r in self._latest.values())
        where = f" of {self.path}" if self.path is not None else ""
        parts = [f"{labelled} of {len(keys)} rows scored against the corrections{where}"]
        if stale or other:
            parts.append(f"{max(stale, other)} reviewed for another version of the schema "
                         f"{schema_name!r}, not used")
        if aside:
            parts.append(f"{aside} {self.set_aside_why or 'set aside'}")
        return labels, "; ".join(parts) + "."


_cache: dict[str, tuple[tuple[int, int, int, int], Corrections]] = {}
_cache_lock = threading.Lock()
_warned: set[tuple[Any, ...]] = set()


def load_corrections(path: str | os.PathLike[str] | None = None) -> Corrections:
    """The corrections file at ``path`` (default: where the configured settings put it:
    :func:`corrections_path`), read whole; a missing file has none. A damaged line is skipped
    with a :class:`CorrectionsWarning` naming the file and line (once). Read again only when
    the file has changed."""
    if path is None:
        path = corrections_path(resolve())
    file = Path(path).expanduser()
    try:
        st = os.stat(file)
    except (FileNotFoundError, NotADirectoryError):
        return Corrections(path=file)
    except OSError as exc:
        raise _unusable(file, "read", exc) from None
    stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    name = str(file.resolve())
    with _cache_lock:
        cached = _cache.get(name)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        with open(file, "rb") as fh:
            flock(fh.fileno(), exclusive=False)
            st = os.fstat(fh.fileno())
            data = fh.read()
    except OSError as exc:
        raise _unusable(file, "read", exc) from None
    records = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            records.append(_record(json.loads(raw)))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            key = (name, st.st_dev, st.st_ino, number)
            if key not in _warned:
                _warned.add(key)
                warnings.warn(f"{file}:{number}: this line of the corrections file is damaged "
                              f"and was skipped ({line_problem(exc, raw)}); the other rows "
                              "still count.", CorrectionsWarning, stacklevel=2)
    found = Corrections(tuple(records), file)
    with _cache_lock:
        _cache[name] = ((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), found)
    return found


def add_correction(path: str | os.PathLike[str], record: Correction) -> None:
    """Append ``record`` to the corrections file at ``path`` at once (under the lock, scrubbed
    of any key); a :class:`~structmagic.ConfigError` when the file cannot be written."""
    file = Path(path).expanduser()
    try:
        data = (scrub(record.to_json()) + "\n").encode("utf-8")
    except ValueError:  # NaN or an infinity in a value: JSON cannot carry it
        raise ConfigError("This value cannot be saved: it holds NaN or an infinity, which "
                          "JSON cannot carry.") from None
    try:
        append_line(file, data)
    except OSError as exc:
        raise _unusable(file, "written", exc) from None


def _unusable(file: Path, how: str, exc: OSError) -> ConfigError:
    return ConfigError(f"The corrections file {file} cannot be {how} "
                       f"({exc.strerror or type(exc).__name__}); nothing was saved."
                       if how == "written" else
                       f"The corrections file {file} cannot be {how} "
                       f"({exc.strerror or type(exc).__name__}).",
                       hint="Choose another file: corrections=PATH, or --corrections PATH.")
