"""Scoring answers against labels, field by field: :func:`score`.

For each top-level field of the schema, the kind of comparison follows the field's schema:

============================  ===========================================================
field                         measured as
============================  ===========================================================
enum, boolean, integer        ``accuracy``: exact matches / labelled rows; enums also get a
                              confusion table (expected × predicted)
string                        ``accuracy`` (exact) and ``normalised`` (equal after Unicode
                              NFKC, case folding and collapsing whitespace)
number                        ``within_tol``: ``|predicted - expected| <= tol`` (absolute)
array                         ``precision`` and ``recall`` of the items as sets (items
                              compared as strings normalised like above, or canonical JSON),
                              summed over rows (micro average); plus exact ``accuracy``
anything else (objects ...)   ``accuracy``: equal as canonical JSON
============================  ===========================================================

A row counts only for the fields its label has (a label may leave a field out). A failed
answer (no value) counts as wrong for every labelled field, and as predicting nothing for
set fields. Labels are values in the schema's shape (dicts with the fields), or a pandas
DataFrame with a column per field; answers and labels may come from any iterable (a list,
a generator, a pandas Series). NumPy scalars and arrays in labels compare as the Python
values they hold, and a whole float equals the int (``3.0`` is ``3``, as in JSON).

A gap in a label — every missing marker pandas and NumPy use: None, a float NaN (NumPy's
too), ``pd.NA``, ``pd.NaT``, ``numpy.datetime64("NaT")`` — means "not labelled", at any
depth: a label that is a gap, or a field whose value is one, leaves that row out of the
field (a partly labelled table, ``to_dict("records")`` of one, a nullable column after
``convert_dtypes()``); inside a field's value, an object's key whose value is a gap is not
judged (the answer may hold anything there), and a list's gap items are left out. A value
whose every part is a gap is not labelled at all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..display.handout import normalised
from ..errors import ConfigError
from ..inputs.convert import is_blank
from ..schema import load_schema
from ..schema.tree import resolve_ref
from ..transport.corrections import Corrections
from .frame import rows_of

__all__ = ["Score", "score"]

_MISSING = object()
#: a gap inside a label (a missing marker): that part is not labelled
_GAP = object()
NONE_LABEL = "(none)"  # the predicted class of a failed answer in a confusion table


@dataclass
class Score:
    """What :func:`score` measured: ``table`` (one row per field) and ``confusion`` (one
    table per enum field). Both are pandas DataFrames when pandas is installed, else lists
    of dicts."""

    table: Any
    confusion: dict[str, Any] = field(default_factory=dict)
    rows: int = 0
    #: with corrections as labels: how many rows were scored, and what was not used and why
    note: str = ""

    def _repr_html_(self) -> str:
        html = getattr(self.table, "to_html", None)
        return html(float_format=lambda x: f"{x:.3f}", na_rep="") if html else ""

    def __repr__(self) -> str:
        return f"<Score: {self.rows} rows, {len(_records(self.table))} fields>"


def score(answers: Sequence[Any], labels: Sequence[Any] | Any, schema: Any = None, *,
          tol: float = 1e-6) -> Score:
    """Score ``answers`` (values, or :class:`~structmagic.Result` objects) against ``labels``
    (the expected values, aligned with them), field by field (see the module doc).

    ``labels`` may be a corrections file read (:func:`structmagic.load_corrections`): each
    answer (a Result of a column) is then scored against its row's reviewed value, matched
    by its input key and the schema's hash; rows without one are not scored, and
    :attr:`Score.note` says how many were and which records were not used, and why.
    ``schema`` may be left out for Results (each carries its own)."""

    answers = rows_of(answers, "answers")
    if schema is None:
        schema = next((a.schema for a in answers if getattr(a, "schema", None) is not None),
                      None)
        if schema is None:
            raise ConfigError("score needs the schema: give it (score(answers, labels, "
                              "schema)); only Results of a run carry their own.")
    note = ""
    if isinstance(labels, Corrections):
        spec = load_schema(schema)
        name = next((a.schema_name for a in answers if hasattr(a, "schema_name")), spec.name)
        labels, note = labels.labels_for([getattr(a, "input_key", "") for a in answers],
                                         name, spec.digest)
    if not _is_frame(labels):
        labels = rows_of(labels, "labels")
    if len(answers) != len(labels):
        raise ConfigError(f"{len(answers)} answers but {len(labels)} labels: they must align.")
    if not (isinstance(tol, (int, float)) and _finite(tol) and tol >= 0):
        raise ConfigError(f"tol must be a finite number of at least 0, not {tol!r}.")
    spec = load_schema(schema)
    kinds = field_kinds(spec.original)
    labels = _plain_labels(labels)
    predicted = [_value(a) for a in answers]
    rows: list[dict[str, Any]] = []
    confusion: dict[str, Any] = {}
    for name, (kind, enum) in kinds.items():
        pairs = [(_get(p, name), _get(lab, name))
                 for p, lab in zip(predicted, labels, strict=True)]
        pairs = [(p, e) for p, e in pairs if e is not _MISSING]
        rows.append(_measure(name, kind, pairs, tol))
        if enum is not None:
            confusion[name] = _confusion(pairs, enum)
    table = _frame(rows, index="field", columns=_COLUMNS)
    if not isinstance(table, list):  # the measures as floats (NaN where they do not apply)
        table["n"] = table["n"].astype("int64")
        for column in _MEASURES:
            table[column] = table[column].astype("float64")
    return Score(table=table, confusion=confusion, rows=len(labels), note=note)


def field_kinds(schema: Any) -> dict[str, tuple[str, list[Any] | None]]:
    """``{field: (kind, enum values or None)}`` for the top-level fields of ``schema``."""
    node = schema
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):

        try:
            node = resolve_ref(schema, node["$ref"])
        except KeyError:
            node = {}
    props = node.get("properties") if isinstance(node, dict) else None
    if not isinstance(props, dict):
        return {"value": ("exact", None)}
    out: dict[str, tuple[str, list[Any] | None]] = {}
    for name, sub in props.items():
        out[name] = _kind(_resolved(schema, sub))
    return out


def _resolved(root: Any, sub: Any) -> Any:
    seen = 0
    while isinstance(sub, dict) and isinstance(sub.get("$ref"), str) and seen < 16:
        try:
            sub = resolve_ref(root, sub["$ref"])
        except KeyError:
            return {}
        seen += 1
    if isinstance(sub, dict):  # a null union: the other branch
        branches = sub.get("anyOf") or sub.get("oneOf")
        if isinstance(branches, list):
            rest = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
            if len(rest) == 1:
                return _resolved(root, rest[0])
    return sub


def _kind(sub: Any) -> tuple[str, list[Any] | None]:
    if not isinstance(sub, dict):
        return "exact", None
    if isinstance(sub.get("enum"), list):
        return "exact", [v for v in sub["enum"] if v is not None]
    typ = sub.get("type")
    if isinstance(typ, list):
        rest = [t for t in typ if t != "null"]
        typ = rest[0] if len(rest) == 1 else None
    kinds = {"boolean": "exact", "integer": "exact", "string": "text", "number": "number",
             "array": "set"}
    return (kinds.get(typ, "exact") if isinstance(typ, str) else "exact"), None


_MEASURES = ("accuracy", "normalised", "within_tol", "precision", "recall")
#: the columns of a score table (a schema without fields gives the table with no rows)
_COLUMNS = ("field", "kind", "n", *_MEASURES)


def _measure(name: str, kind: str, pairs: list[tuple[Any, Any]], tol: float
             ) -> dict[str, Any]:
    n = len(pairs)
    row: dict[str, Any] = {"field": name, "kind": kind, "n": n, **dict.fromkeys(_MEASURES)}
    if not n:
        return row
    row["accuracy"] = sum(_matches(p, e, _canon) for p, e in pairs) / n
    if kind == "text":
        row["normalised"] = sum(_matches(p, e, _norm) for p, e in pairs) / n
    elif kind == "number":
        row["within_tol"] = sum(_close(p, e, tol) for p, e in pairs) / n
    elif kind == "set":
        tp = fp = fn = 0
        for p, e in pairs:
            hit, extra, lacking = _set_counts(p, e)
            tp += hit
            fp += extra
            fn += lacking
        row["precision"] = tp / (tp + fp) if tp + fp else None
        row["recall"] = tp / (tp + fn) if tp + fn else None
    return row


def _confusion(pairs: list[tuple[Any, Any]], classes: list[Any]) -> Any:
    names = [_label(c) for c in classes]
    predicted_names = [*names, NONE_LABEL]
    counts = {e: dict.fromkeys(predicted_names, 0) for e in names}
    for p, e in pairs:
        expected = _label(e)
        if expected not in counts:
            counts[expected] = dict.fromkeys(predicted_names, 0)
        got = NONE_LABEL if p is _MISSING or p is None else _label(p)
        counts[expected][got] = counts[expected].get(got, 0) + 1
    columns = list(predicted_names)
    for row in counts.values():  # a predicted value outside the enum is a column too
        columns.extend(k for k in row if k not in columns)
    records = [{"expected": e, **dict.fromkeys(columns, 0), **row} for e, row in counts.items()]
    return _frame(records, index="expected", columns=["expected", *columns])


def _frame(records: list[dict[str, Any]], *, index: str, columns: Sequence[str]) -> Any:
    """A DataFrame of ``records`` indexed by ``index``, with ``columns`` even when there are
    no records (a schema without fields); the records themselves without pandas."""
    try:
        import pandas as pd
    except ImportError:
        return records
    return pd.DataFrame.from_records(records, columns=list(columns)).set_index(index)


def _records(table: Any) -> list[Any]:
    return table if isinstance(table, list) else list(range(len(table)))


def _value(answer: Any) -> Any:
    if hasattr(answer, "error") and hasattr(answer, "plain"):  # a Result
        return _MISSING if answer.error is not None else answer.plain
    return _MISSING if answer is None else answer


def _is_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "to_dict")


def _plain_labels(labels: Any) -> list[Any]:
    """The labels as plain Python values (:func:`_plain`): a DataFrame's rows as dicts."""
    if _is_frame(labels):
        return [_plain(row) for row in labels.to_dict("records")]
    return [_plain(label) for label in labels]


def _plain(value: Any, depth: int = 0) -> Any:
    """A label with NumPy / pandas values in it turned into Python ones, and its gaps (every
    missing marker) into ``_GAP``: an object's gap values kept as such, a list's left out;
    an object or a list made of gaps only is a gap itself. A cycle or a value nested past
    200 levels is left as it is."""
    if depth > 200:
        return value
    if value is None:
        return _GAP
    if type(value) in (str, bytes, bool, int):
        return value
    if isinstance(value, float):  # numpy.float64 is a float, but not one JSON writes alike
        return _GAP if value != value else float(value)
    if isinstance(value, str):
        return str(value)
    if type(value).__name__ == "Series" and hasattr(value, "to_dict"):  # a DataFrame's row
        value = value.to_dict()
    if isinstance(value, Mapping):
        fields = {k: _plain(v, depth + 1) for k, v in value.items()}
        return _GAP if fields and all(v is _GAP for v in fields.values()) else fields
    if isinstance(value, (list, tuple)):
        items = [_plain(v, depth + 1) for v in value]
        kept = [v for v in items if v is not _GAP]
        return _GAP if items and not kept else kept
    if hasattr(value, "dtype") and hasattr(value, "tolist"):  # a NumPy scalar or array
        try:
            return _plain(value.tolist(), depth + 1)  # NaT's is None
        except Exception:
            return value
    return _GAP if is_blank(value) else value  # pandas' NA and NaT


def _get(value: Any, name: str) -> Any:
    if value is _MISSING or value is _GAP:
        return _MISSING
    if name == "value" and not isinstance(value, Mapping):
        return value
    if isinstance(value, Mapping):
        found = value.get(name, _MISSING)
        return _MISSING if found is _GAP else found
    return _MISSING


def _has_gap(value: Any, depth: int = 0) -> bool:
    """Whether a label's value holds a gap (a part not labelled) at any depth."""
    if value is _GAP:
        return True
    if depth > 202:
        return False
    if isinstance(value, dict):
        return any(_has_gap(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_has_gap(v, depth + 1) for v in value)
    return False


def _matches(predicted: Any, expected: Any, leaf: Callable[[Any], str], depth: int = 0
             ) -> bool:
    """Whether ``predicted`` equals ``expected`` as ``leaf`` writes values; a gap in
    ``expected`` matches anything (an object's key it stands for may also be absent)."""
    if expected is _GAP:
        return True
    if depth > 202 or not _has_gap(expected):
        return leaf(predicted) == leaf(expected)
    if isinstance(expected, dict):
        return isinstance(predicted, Mapping) and all(k in expected for k in predicted) and all(
            v is _GAP or (k in predicted and _matches(predicted[k], v, leaf, depth + 1))
            for k, v in expected.items())
    return (isinstance(predicted, list) and len(predicted) == len(expected)
            and all(_matches(p, e, leaf, depth + 1) for p, e in zip(predicted, expected,
                                                                    strict=True)))


def _set_counts(predicted: Any, expected: Any) -> tuple[int, int, int]:
    """``(true positives, false positives, false negatives)`` of a set field's items."""
    if not _has_gap(expected):
        got, want = _items(predicted), _items(expected)
        return len(got & want), len(got - want), len(want - got)
    # items with parts not labelled: each matched to one predicted item at most
    unused = list({_norm(v): v for v in predicted}.values()) if isinstance(
        predicted, list) else []
    hits = 0
    expected = expected if isinstance(expected, list) else []
    for item in expected:
        found = next((i for i, v in enumerate(unused) if _matches(v, item, _norm)), None)
        if found is not None:
            del unused[found]
            hits += 1
    return hits, len(unused), len(expected) - hits


def canonical_json(value: Any) -> str:
    """``value`` as a string that is equal for equal values: JSON with sorted keys (other
    objects as their ``str``, a whole float as the int), for comparing values (here and in
    :mod:`.comparison`).

    Never raises: a value JSON cannot hold (keys of mixed types, a cycle, an object whose
    ``str`` fails) is its ``repr``; an integer too long to write in decimal, its hex; a value
    too deeply nested for either (or whose ``repr`` fails), a string equal only for that very
    object (so it counts as different from any other).
    """
    try:
        return json.dumps(_whole(value), sort_keys=True, ensure_ascii=False, default=str)
    except Exception:  # TypeError, ValueError (a cycle, a long int), RecursionError, str()
        pass
    if type(value) is int:  # over sys.get_int_max_str_digits() digits
        return f"\x00int {value:#x}"
    try:
        return repr(value)
    except Exception:  # RecursionError, a long int inside, a broken __repr__
        return f"\x00{type(value).__name__} at {id(value):#x}"


def _canon(value: Any) -> str:
    return "\x00missing" if value is _MISSING else canonical_json(value)


def _whole(value: Any, depth: int = 0) -> Any:
    """``value`` with each float that holds a whole number as an int: JSON has one number
    type, so a label ``3.0`` (an integer column with a gap, in pandas) equals an answer
    ``3``."""
    if type(value) is float:
        return int(value) if value.is_integer() and abs(value) < 2**63 else value
    if depth > 200:
        return value
    if isinstance(value, dict):
        return {k: _whole(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v, depth + 1) for v in value]
    return value


def _norm(value: Any) -> str:
    if value is _MISSING:
        return "\x00missing"
    if not isinstance(value, str):
        return _canon(value)
    return normalised(value)  # as a handout's "try it first" compares a typed answer


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: int | float) -> bool:
    """Not NaN nor infinite; any int is finite (math.isfinite overflows past 1e308)."""
    return isinstance(value, int) or math.isfinite(value)


def _close(p: Any, e: Any, tol: float) -> bool:
    """Both numbers, finite and at most ``tol`` apart. An int too large for a float
    (``abs(p - e)`` overflows) is compared exactly, as a fraction."""
    if not (_is_number(p) and _is_number(e) and _finite(p) and _finite(e)):
        return False
    try:
        return bool(abs(p - e) <= tol)
    except OverflowError:  # an int past 1e308 and a float: exactly
        from fractions import Fraction

        return abs(Fraction(p) - Fraction(e)) <= tol


def _items(value: Any) -> set[str]:
    if not isinstance(value, list):
        return set()
    return {_norm(v) for v in value}


def _label(value: Any) -> str:
    return value if isinstance(value, str) else _canon(value)
