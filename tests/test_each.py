"""``%%structured SCHEMA --each VAR``: rows collected from a list, a Series or a DataFrame,
one prompt per row, and the list or aligned DataFrame bound."""

from __future__ import annotations

import json

import pytest
from IPython.core.error import UsageError

from structmagic.call.result import Result
from structmagic.errors import InputError
from structmagic.magic.each import each_rows
from structmagic.rows.frame import collect_rows, results_frame

from batch_helpers import SCHEMA, Faults
from fakeserver import chat


def test_collect_rows_from_each_kind():
    index, rows, kind = collect_rows(["a", "b"])
    assert (index, list(rows), kind) == ([0, 1], [{"item": "a"}, {"item": "b"}], "list")
    index, rows, kind = collect_rows(x for x in (1, 2, 3))
    assert index == [0, 1, 2] and kind == "list"
    with pytest.raises(InputError, match="a list, a pandas Series or a DataFrame, not dict"):
        collect_rows({"a": 1})
    with pytest.raises(UsageError, match=r"^--each needs a list, a pandas Series or a "
                                         r"DataFrame, not dict"):
        each_rows({"a": 1})


def test_collect_rows_from_pandas():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"k": [1, 2], "t": ["x", "y"]}, index=["r1", "r2"])
    index, rows, kind = collect_rows(df)
    assert kind == "DataFrame" and index is df.index  # kept as it is: no label made again
    assert rows[0] == {"k": 1, "t": "x", "item": {"k": 1, "t": "x"}}
    index, rows, kind = collect_rows(pd.Series([5, 6], index=[7, 9]))
    assert (list(index), list(rows), kind) == ([7, 9], [{"item": 5}, {"item": 6}], "Series")


def test_the_rows_of_a_frame_are_made_a_chunk_at_a_time_as_pandas_gives_records():
    """Each row's fields are those of ``to_dict("records")`` (Python values, a timestamp a
    Timestamp), made when read: no dict a row is held for the whole column."""
    pd = pytest.importorskip("pandas")
    from structmagic.rows.frame import RowFields

    n = 2 * RowFields.CHUNK + 5
    df = pd.DataFrame({"k": range(n), "x": [i / 2 for i in range(n)],
                       "t": [f"row {i}" for i in range(n)], "b": [i % 2 == 0 for i in range(n)],
                       "d": pd.date_range("2026-01-01", periods=n, freq="h"),
                       "c": pd.Categorical(["p", "q"] * (n // 2) + ["p"]),
                       "o": [{"i": i} if i % 3 else None for i in range(n)]})
    index, rows, kind = collect_rows(df)
    assert kind == "DataFrame" and index is df.index
    made = []
    chunk = rows._chunk
    rows._chunk = lambda a, b: made.append((a, b)) or chunk(a, b)
    whole = [{**{str(k): v for k, v in rec.items()}, "item": dict(rec)}
             for rec in df.to_dict("records")]
    assert list(rows) == whole and len(rows) == n
    assert made == [(0, 1024), (1024, 2048), (2048, n)]
    assert rows[n - 1] == whole[-1] and rows[-1] == whole[-1] and rows[3] == whole[3]
    assert type(rows[3]["k"]) is int and type(rows[3]["item"]["x"]) is float
    assert rows[1:3] == whole[1:3]
    with pytest.raises(IndexError):
        rows[n]


def test_results_frame_aligns_values_and_errors():
    pd = pytest.importorskip("pandas")
    from structmagic.errors import RefusalError

    ok = Result(data={"n": 1, "label": "a"}, plain={"n": 1, "label": "a"})
    bad = Result(error=RefusalError("no"))
    scalar = Result(data=3, plain=3)
    frame = results_frame([ok, bad, scalar], ["x", "y", "z"])
    assert list(frame.index) == ["x", "y", "z"]
    assert list(frame.columns) == ["n", "label", "value", "error", "cost"]
    assert frame.loc["x", "n"] == 1 and frame.loc["z", "value"] == 3
    assert frame.loc["y", "error"].startswith("RefusalError: The model refused")
    assert pd.isna(frame.loc["x", "error"])


def test_fields_named_like_the_added_columns_keep_their_values():
    pd = pytest.importorskip("pandas")
    from structmagic.errors import RefusalError

    answer = {"error": "E42 paper jam", "cost": 19.5, "n": 1}
    ok = Result(data=answer, plain=answer)
    ok.cost = 0.002
    bad = Result(error=RefusalError("no"))
    frame = results_frame([ok, bad], ["x", "y"], ["n", "error", "cost"])
    assert list(frame.columns) == ["n", "error", "cost", "row_error", "cost_usd"]
    assert frame.loc["x", "error"] == "E42 paper jam" and frame.loc["x", "cost"] == 19.5
    assert frame.loc["x", "cost_usd"] == 0.002 and pd.isna(frame.loc["x", "row_error"])
    assert frame.loc["y", "row_error"].startswith("RefusalError")
    assert pd.isna(frame.loc["y", "error"]) and pd.isna(frame.loc["y", "cost_usd"])
    # the schema's fields are columns even when every row failed
    frame = results_frame([bad], ["y"], ["n", "label"])
    assert list(frame.columns) == ["n", "label", "error", "cost"]


def test_each_binds_a_field_called_error_beside_its_own_error_column(ip, server, settings):
    pytest.importorskip("pandas")
    import pandas as pd

    schema = {"type": "object", "properties": {"error": {"type": "string"}},
              "required": ["error"], "additionalProperties": False}
    server.responder = lambda req: (
        chat(None, refusal="no") if "failed: b" in json.dumps(req.json)
        else chat(json.dumps({"error": "jam"})))
    ip.user_ns.update(schema=schema, logs=pd.Series(["a", "b"], index=["p", "q"]))
    res = ip.run_cell("%%structured schema --each logs -o out --quiet\nWhat failed: {item}",
                      store_history=False)
    assert res.success
    out = ip.user_ns["out"]
    assert list(out.columns) == ["error", "row_error", "cost"]
    assert out.loc["p", "error"] == "jam" and pd.isna(out.loc["p", "row_error"])
    assert out.loc["q", "row_error"].startswith("RefusalError")


def test_each_over_list(ip, server, settings):
    server.responder = Faults(always={1: chat(None, refusal="no")})
    ip.user_ns.update(schema=SCHEMA, texts=["a", "b", "c"])
    res = ip.run_cell("%%structured schema --each texts -o out\nitem {i}: {item}",
                      store_history=False)
    # templates use {item}; the row number comes from a notebook variable here
    assert not res.success and "'i' is not defined" in str(res.error_in_exec)
    ip.user_ns["i"] = 0
    server.responder = lambda req: chat(json.dumps(
        {"n": 0, "label": req.json["messages"][-1]["content"]}))
    assert ip.run_cell("%%structured schema --each texts -o out\nitem {i}: {item}",
                       store_history=False).success
    assert [v["label"] for v in ip.user_ns["out"]] == ["item 0: a", "item 0: b", "item 0: c"]


def test_each_over_dataframe_gives_aligned_frame(ip, server, settings):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"k": [10, 11, 12], "text": ["x", "y", "z"]}, index=["r1", "r2", "r3"])
    server.responder = Faults(always={11: chat(None, refusal="no")})
    ip.user_ns.update(schema=SCHEMA, df=df)
    res = ip.run_cell("%%structured schema --each df -o out --concurrency 2\nitem {k}: {text}",
                      store_history=False)
    assert res.success, res.error_in_exec
    out = ip.user_ns["out"]
    assert list(out.index) == ["r1", "r2", "r3"]
    assert list(out.columns) == ["n", "label", "error", "cost"]
    assert out.loc["r1", "n"] == 10 and out.loc["r3", "label"] == "item 12"
    assert "RefusalError" in out.loc["r2", "error"]
    assert pd.isna(out.loc["r1", "error"])


def test_each_over_series(ip, server, settings):
    pd = pytest.importorskip("pandas")
    s = pd.Series(["p", "q"], index=[7, 9])
    server.responder = lambda req: chat(json.dumps(
        {"n": 1, "label": req.json["messages"][-1]["content"]}))
    ip.user_ns.update(schema=SCHEMA, s=s)
    assert ip.run_cell("%%structured schema --each s -o out\n{item}", store_history=False).success
    assert list(ip.user_ns["out"]["label"]) == ["p", "q"]
    assert list(ip.user_ns["out"].index) == [7, 9]


def test_each_rejects_non_iterables(ip, server, settings):
    ip.user_ns.update(schema=SCHEMA, x=5, st="abc")
    for var in ("x", "st"):
        res = ip.run_cell(f"%%structured schema --each {var} -o out\n{{item}}",
                          store_history=False)
        assert "--each needs a list" in str(res.error_in_exec)
    assert server.requests == []
