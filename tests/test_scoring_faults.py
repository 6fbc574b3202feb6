"""Scores of values that used to raise (OverflowError, KeyError, ValueError, RecursionError):
integers too large for a float, a schema without fields, integers too long for decimal,
deeply nested values; and the canonical JSON both scores and comparisons use."""

from __future__ import annotations

import sys

import pytest

import structmagic as sm
from structmagic.rows.score import canonical_json

NUMBER = {"type": "object", "properties": {"x": {"type": "number"}}}
INTEGER = {"type": "object", "properties": {"x": {"type": "integer"}}}
ANY = {"type": "object", "properties": {"x": {}}}
TAGS = {"type": "object", "properties": {"x": {"type": "array", "items": {}}}}
BIG = 10**400  # math.isfinite(BIG) and BIG - 1.0 overflow
MAX_FLOAT = sys.float_info.max


def measures(answers, labels, schema, **kw):
    table = sm.score(answers, labels, schema, **kw).table
    return {k: v for k, v in table.loc["x"].to_dict().items() if v == v}  # NaN left out


# --- numbers past a float ----------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "label"), [(BIG, 1.0), (1.0, BIG), (BIG, 2.5e300),
                                               (-BIG, MAX_FLOAT), (BIG, float("inf"))],
                         ids=["big-1", "1-big", "big-2.5e300", "-big-max", "big-inf"])
def test_a_huge_integer_against_a_float_is_a_mismatch(answer, label):
    assert measures([{"x": answer}], [{"x": label}], NUMBER) == {
        "kind": "number", "n": 1, "accuracy": 0.0, "within_tol": 0.0}


def test_huge_integers_compare_exactly():
    got = measures([{"x": BIG}, {"x": BIG + 1}, {"x": BIG + 2}],
                   [{"x": BIG}, {"x": BIG}, {"x": BIG}], NUMBER, tol=1)
    assert (got["accuracy"], got["within_tol"]) == (pytest.approx(1 / 3), pytest.approx(2 / 3))
    assert measures([{"x": BIG}], [{"x": BIG}], INTEGER)["accuracy"] == 1.0


def test_an_int_just_past_a_float_against_the_largest_float_exactly():
    over = 2**1024  # the smallest power of two no float holds
    gap = over - int(MAX_FLOAT)
    assert measures([{"x": over}], [{"x": MAX_FLOAT}], NUMBER, tol=gap)["within_tol"] == 1.0
    assert measures([{"x": over}], [{"x": MAX_FLOAT}], NUMBER, tol=gap - 1)["within_tol"] == 0.0


def test_tol_may_be_a_huge_integer_but_not_infinite():
    assert measures([{"x": 1.5}], [{"x": -1e300}], NUMBER, tol=BIG)["within_tol"] == 1.0
    for tol in (float("inf"), float("nan"), -1):
        with pytest.raises(sm.ConfigError, match="tol must be a finite number"):
            sm.score([{"x": 1}], [{"x": 1}], NUMBER, tol=tol)


def test_integers_too_long_for_decimal():
    limit = sys.get_int_max_str_digits()
    if not limit:  # pragma: no cover - the limit switched off
        pytest.skip("no limit on int digits in this interpreter")
    long = 10 ** (limit + 10)
    assert measures([{"x": long}, {"x": long + 1}], [{"x": long}, {"x": long}],
                    INTEGER)["accuracy"] == 0.5
    assert measures([{"x": [long]}], [{"x": [long]}], TAGS)["n"] == 1  # no exception
    enum = {"type": "object", "properties": {"x": {"enum": ["a", "b"]}}}
    confusion = sm.score([{"x": long}], [{"x": "a"}], enum).confusion["x"]
    assert int(confusion.values.sum()) == 1


# --- a schema without fields -------------------------------------------------------------------


@pytest.mark.parametrize("rows", [0, 2])
def test_a_schema_without_fields_gives_an_empty_table(rows):
    pd = pytest.importorskip("pandas")
    schema = {"type": "object", "properties": {}}
    result = sm.score([{}] * rows, [{}] * rows, schema)
    table = result.table
    assert isinstance(table, pd.DataFrame) and len(table) == 0
    assert table.index.name == "field"
    assert list(table.columns) == ["kind", "n", "accuracy", "normalised", "within_tol",
                                   "precision", "recall"]
    assert str(table["n"].dtype) == "int64" and str(table["accuracy"].dtype) == "float64"
    assert result.confusion == {} and result.rows == rows
    assert repr(result) == f"<Score: {rows} rows, 0 fields>"
    assert "<table" in result._repr_html_()


def test_confusion_keeps_a_prediction_outside_the_enum():
    schema = {"type": "object", "properties": {"x": {"enum": ["a", "b"]}}}
    confusion = sm.score([{"x": "c"}, None], [{"x": "a"}, {"x": "b"}], schema).confusion["x"]
    assert list(confusion.columns) == ["a", "b", "(none)", "c"]
    assert (confusion.loc["a", "c"], confusion.loc["b", "(none)"]) == (1, 1)


# --- deeply nested values ---------------------------------------------------------------------


def _deep(depth: int, leaf: object = 0) -> object:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def test_values_too_deep_for_json_are_a_mismatch_not_an_error():
    deep = _deep(sys.getrecursionlimit() * 2)
    other = _deep(sys.getrecursionlimit() * 2)
    got = measures([{"x": deep}, {"x": 1}], [{"x": other}, {"x": 1}], ANY)
    assert got["accuracy"] == 0.5  # the deep ones count as different, never raise
    assert measures([{"x": [deep]}], [{"x": [other]}], TAGS)["n"] == 1
    assert measures([{"x": "a"}], [{"x": deep}], {"type": "object", "properties": {
        "x": {"type": "string"}}})["normalised"] == 0.0


def test_text_with_lone_surrogates_is_normalised():
    schema = {"type": "object", "properties": {"x": {"type": "string"}}}
    got = measures([{"x": "A\ud800  b"}], [{"x": "a\ud800 b"}], schema)
    assert (got["accuracy"], got["normalised"]) == (0.0, 1.0)


# --- the canonical JSON -------------------------------------------------------------------------


def test_canonical_json_of_plain_values():
    assert canonical_json({"b": 1, "a": [1.5, None, True, "é"]}) == \
        '{"a": [1.5, null, true, "é"], "b": 1}'
    assert canonical_json({"b": 1, "a": 2}) == canonical_json({"a": 2, "b": 1})
    assert canonical_json(float("nan")) == "NaN"


def test_canonical_json_never_raises():
    cycle: list = []
    cycle.append(cycle)
    long = 10 ** (sys.get_int_max_str_digits() or 5000) * 3
    deep = _deep(sys.getrecursionlimit() * 2)

    class Broken:
        def __repr__(self):
            raise RuntimeError("no repr")

        __str__ = __repr__

    for value in (cycle, {1: "a", "b": 2}, long, [long], deep, Broken(), {"k": {1, 2}}):
        assert isinstance(canonical_json(value), str)
    assert canonical_json(long) == canonical_json(long * 1) != canonical_json(long + 1)
    # too deep for JSON and for repr: a text naming that very object, so it equals itself
    # (a value compared with itself is a match) and nothing else
    assert canonical_json(deep) == f"\x00list at {id(deep):#x}"
    assert canonical_json(deep) != canonical_json(_deep(sys.getrecursionlimit() * 2))


# --- labels from NumPy and pandas --------------------------------------------------------------

SHAPES = {"type": "object", "properties": {
    "n": {"type": "integer"}, "ok": {"type": "boolean"}, "x": {"type": "number"},
    "c": {"type": "string", "enum": ["a", "b"]}, "tags": {"type": "array", "items": {}}}}
ANSWERS = [{"n": 1, "ok": True, "x": 1.5, "c": "a", "tags": ["p"]},
           {"n": 2, "ok": False, "x": 2.0, "c": "b", "tags": ["q", "r"]}]


def _accuracy(table):
    return {name: table.loc[name, "accuracy"] for name in table.index}


def test_numpy_scalars_and_arrays_in_labels_compare_as_their_values():
    np = pytest.importorskip("numpy")
    labels = [{"n": np.int64(1), "ok": np.bool_(True), "x": np.float32(1.5), "c": np.str_("a"),
               "tags": np.array(["p"])},
              {"n": np.int32(2), "ok": np.bool_(False), "x": np.float64(2.0), "c": "b",
               "tags": ("q", "r")}]
    table = sm.score(ANSWERS, labels, SHAPES).table
    assert _accuracy(table) == {"n": 1.0, "ok": 1.0, "x": 1.0, "c": 1.0, "tags": 1.0}
    assert table.loc["x", "within_tol"] == 1.0
    assert (table.loc["tags", "precision"], table.loc["tags", "recall"]) == (1.0, 1.0)


def test_a_dataframe_of_labels_and_its_rows():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"n": [1, float("nan")], "ok": [True, False], "x": [1.5, 2.0],
                          "c": ["a", "a"]})
    for labels in (frame, [row for _, row in frame.iterrows()]):
        table = sm.score(ANSWERS, labels, SHAPES).table
        # n: an integer column with a gap is float in pandas; 1.0 is the answer 1
        assert table.loc["n", "accuracy"] == 1.0
        assert table.loc["c", "accuracy"] == 0.5 and table.loc["ok", "accuracy"] == 1.0
        assert table.loc["tags", "n"] == 0  # no column: no label
    # the DataFrame's NaN cell leaves the field out of that row
    assert sm.score(ANSWERS, frame, SHAPES).table.loc["n", "n"] == 1


def test_whole_floats_equal_ints_but_not_booleans():
    assert measures([{"x": 3}], [{"x": 3.0}], INTEGER)["accuracy"] == 1.0
    assert measures([{"x": [3, {"y": 2}]}], [{"x": [3.0, {"y": 2.0}]}], ANY)["accuracy"] == 1.0
    assert measures([{"x": 3}], [{"x": 3.5}], INTEGER)["accuracy"] == 0.0
    assert measures([{"x": True}], [{"x": 1}], ANY)["accuracy"] == 0.0
    assert measures([{"x": 1}], [{"x": 1.0}], ANY)["accuracy"] == 1.0


def test_models_answering_3_and_3_point_0_agree():
    assert canonical_json({"n": 3, "xs": [1.0, 2]}) == canonical_json({"n": 3.0, "xs": [1, 2.0]})
    assert canonical_json(2.5) != canonical_json(2) and canonical_json(True) != canonical_json(1)
    # a whole float past an int64 is kept a float, not written as the integer it holds
    assert canonical_json(1e300) == "1e+300"
    assert canonical_json(1e300) != canonical_json(int(1e300))
    assert canonical_json(float(2**63)) == "9.223372036854776e+18"
    assert canonical_json(float(2**62)) == canonical_json(2**62) == str(2**62)


# --- labels with gaps: every missing marker is "not labelled" -----------------------------------

ENUM = {"type": "object", "properties": {"c": {"type": "string", "enum": ["a", "b"]}}}
WHOLE = {"type": "object", "properties": {"n": {"type": "integer"}}}


def _nan_markers():
    """Every missing marker pandas and NumPy use, with None and float NaN."""
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    return [None, float("nan"), np.nan, pd.NA, pd.NaT, np.datetime64("NaT"),
            np.float32("nan"), np.float64("nan")]


def test_a_gap_in_a_convert_dtypes_column_is_not_labelled():
    pd = pytest.importorskip("pandas")
    answers = [{"c": "a", "n": 1}, {"c": "b", "n": 2}, {"c": "a", "n": 3}]
    frame = pd.DataFrame({"c": ["a", "b", None], "n": [1, 2, None]}).convert_dtypes()
    assert str(frame["n"].dtype) == "Int64" and str(frame["c"].dtype) == "string"
    schema = {"type": "object", "properties": {"c": ENUM["properties"]["c"],
                                               "n": {"type": "integer"}}}
    for labels in (frame, frame.to_dict("records"), [row for _, row in frame.iterrows()]):
        table = sm.score(answers, labels, schema).table
        assert table.loc["c", "n"] == 2 and table.loc["c", "accuracy"] == 1.0
        assert table.loc["n", "n"] == 2 and table.loc["n", "accuracy"] == 1.0


def test_every_missing_marker_means_not_labelled():
    for gap in _nan_markers():
        table = sm.score([{"c": "a"}, {"c": "b"}], [{"c": "a"}, {"c": gap}], ENUM).table
        assert (table.loc["c", "n"], table.loc["c", "accuracy"]) == (1, 1.0), gap
        # a label that is a gap as a whole, and a value label that is one
        assert sm.score([{"c": "a"}, {"c": "b"}], [{"c": "a"}, gap], ENUM).table.loc[
            "c", "n"] == 1, gap
        value = sm.score(["a", "b"], ["a", gap], {"type": "string"}).table
        assert (value.loc["value", "n"], value.loc["value", "accuracy"]) == (1, 1.0), gap


def test_a_string_series_with_pd_na_leaves_those_rows_out():
    pd = pytest.importorskip("pandas")
    labels = pd.Series(["a", "b", pd.NA], dtype="string")
    table = sm.score(["a", "b", "c"], labels, {"type": "string"}).table
    assert (table.loc["value", "n"], table.loc["value", "accuracy"]) == (2, 1.0)


ADDRESS = {"type": "object", "properties": {
    "address": {"type": "object", "properties": {"city": {"type": "string"},
                                                 "zip": {"type": "string"}}},
    "tags": {"type": "array", "items": {"type": "string"}}}}


def test_a_gap_deep_inside_a_label_is_not_judged():
    answers = [{"address": {"city": "Paris", "zip": "75001"}, "tags": ["x", "y"]},
               {"address": {"city": "Lyon", "zip": "69001"}, "tags": ["z"]}]
    for gap in _nan_markers():
        labels = [{"address": {"city": gap, "zip": "75001"}, "tags": ["x", gap, "y"]},
                  {"address": {"city": gap, "zip": gap}, "tags": [gap]}]
        table = sm.score(answers, labels, ADDRESS).table
        # row 1: the city is not labelled, the zip matches; row 2: nothing is labelled
        assert (table.loc["address", "n"], table.loc["address", "accuracy"]) == (1, 1.0), gap
        assert (table.loc["tags", "n"], table.loc["tags", "precision"],
                table.loc["tags", "recall"]) == (1, 1.0, 1.0), gap
    # a key left out of a nested label is still expected to be absent, as before
    table = sm.score(answers[:1], [{"address": {"zip": "75001"}}], ADDRESS).table
    assert table.loc["address", "accuracy"] == 0.0


# --- answers and labels from any iterable --------------------------------------------------------


def test_generators_of_answers_and_labels_are_scored():
    table = sm.score((a for a in [{"c": "a"}, {"c": "b"}]),
                     (lab for lab in [{"c": "a"}, {"c": "a"}]), ENUM).table
    assert (table.loc["c", "n"], table.loc["c", "accuracy"]) == (2, 0.5)
    table = sm.score(iter([{"c": "a"}]), map(dict, [{"c": "a"}]), ENUM).table
    assert table.loc["c", "accuracy"] == 1.0


@pytest.mark.parametrize("bad", [5, None, "ab", {"c": "a"}, b"ab"])
def test_labels_or_answers_that_are_not_rows_are_an_input_error(bad):
    with pytest.raises(sm.InputError, match="labels"):
        sm.score([{"c": "a"}, {"c": "b"}], bad, ENUM)
    with pytest.raises(sm.InputError, match="answers"):
        sm.score(bad, [{"c": "a"}, {"c": "b"}], ENUM)
