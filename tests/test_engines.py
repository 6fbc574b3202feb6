"""The picklable Extractor: what it carries (never a client, never the key), the frame it
returns, and a real Dask LocalCluster with two worker processes against the loopback fake
server (order, every row once, the job-wide rate, no key in any pickle or worker log).
Ray and Spark: the optional suite at the end (markers ``ray`` and ``spark``)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import structmagic as sm
from structmagic.rows.engines import Extractor

from fakeserver import Reply, chat
from sm_fixtures import CANARY

pd = pytest.importorskip("pandas")

SCHEMA = {"type": "object",
          "properties": {"name": {"type": "string"}, "size": {"type": "integer"},
                         "tags": {"type": "array", "items": {"type": "string"}}},
          "required": ["name", "size", "tags"], "additionalProperties": False}
TEMPLATE = "Row {k}: {text}"


def _frame(n: int, index_from: int = 100) -> pd.DataFrame:
    return pd.DataFrame({"k": list(range(n)), "text": [f"t{i}" for i in range(n)]},
                        index=list(range(index_from, index_from + n)))


def _row(req) -> int:
    text = next(m["content"] for m in req.json["messages"] if m["role"] == "user")
    return int(text.split(":")[0].split()[1])


def _answer(req) -> Reply:
    k = _row(req)
    return chat(json.dumps({"name": f"n{k}", "size": k, "tags": ["a", str(k)]}), usage=(3, 4))


# --- what it carries ----------------------------------------------------------------------------


def test_pickling_keeps_every_setting_and_no_key(settings):
    ex = Extractor(SCHEMA, TEMPLATE, model="m-7", system="Be exact.", temperature=0.1,
                   retries=4, reasks=2, concurrency=3, max_requests_per_minute=90, workers=3)
    data = pickle.dumps(ex)
    assert CANARY.encode() not in data and CANARY[-6:].encode() not in data
    back = pickle.loads(data)
    assert back.options == {"model": "m-7", "system": "Be exact.", "temperature": 0.1,
                            "retries": 4, "reasks": 2}
    assert (back.concurrency, back.max_requests_per_minute, back.workers) == (3, 90, 3)
    assert back.template == TEMPLATE and back.schema == SCHEMA


def test_a_key_travels_only_when_asked(settings):
    with pytest.raises(sm.ConfigError, match="ship_key=True"):
        Extractor(SCHEMA, TEMPLATE, api_key="sk-worker-key-123456")
    ex = Extractor(SCHEMA, TEMPLATE, api_key="sk-worker-key-123456", ship_key=True)
    assert b"sk-worker-key-123456" in pickle.dumps(ex)  # the documented risk
    assert "sk-worker-key" not in repr(ex)
    with pytest.raises(sm.ConfigError, match="cannot travel"):
        Extractor(SCHEMA, TEMPLATE, http_client=object())


def test_a_secret_header_travels_only_as_the_name_of_a_variable(settings):
    """A literal value of a credential-like header would be pickled: refused, as a key is;
    ``env:VAR`` travels as the variable's name, read on each worker."""
    with pytest.raises(sm.ConfigError, match=r"api-key.*env:VARIABLE.*ship_key=True"):
        Extractor(SCHEMA, TEMPLATE, extra_headers={"api-key": "zK4-literal-9Qw"})
    ex = Extractor(SCHEMA, TEMPLATE, extra_headers={"api-key": "env:GATEWAY_KEY",
                                                    "X-Org": "acme"})
    back = pickle.loads(pickle.dumps(ex))
    assert back.options["extra_headers"] == {"api-key": "env:GATEWAY_KEY", "X-Org": "acme"}
    assert "GATEWAY_KEY" not in repr(ex) and "'extra_headers': '(set)'" in repr(ex)
    shipped = Extractor(SCHEMA, TEMPLATE, extra_headers={"api-key": "zK4-literal-9Qw"},
                        ship_key=True)
    assert "zK4-literal-9Qw" not in repr(shipped)


def test_bad_input_fails_on_the_driver(settings):
    with pytest.raises(sm.SchemaError):
        Extractor({"type": "object", "properties": {"a": {"$ref": "#/nope"}}}, TEMPLATE)
    with pytest.raises(sm.ConfigError):
        Extractor(SCHEMA, TEMPLATE, mode="telepathy")
    with pytest.raises(sm.ConfigError):
        Extractor(SCHEMA, "  ")


def test_no_client_before_the_first_call_and_the_key_read_on_the_worker(server, tmp_path):
    """In a fresh process: unpickling makes no HTTP client; the call reads the key from the
    environment variable the options name."""
    ex = Extractor(SCHEMA, TEMPLATE, base_url=server.url + "/v1", model="m",
                   api_key_env="WORKER_KEY")
    path = tmp_path / "extractor.pkl"
    path.write_bytes(pickle.dumps(ex))
    server.responder = _answer
    code = (
        "import pickle, sys, json; import pandas as pd;"
        "import structmagic.transport.http as h;"
        f"ex = pickle.loads(open({str(path)!r}, 'rb').read());"
        "before = h._shared is None;"
        "out = ex(pd.DataFrame({'k': [1, 2], 'text': ['a', 'b']}));"
        "print(json.dumps({'before': before, 'after': h._shared is not None,"
        " 'names': list(out['name'])}))")
    env = {**__import__("os").environ, "WORKER_KEY": "sk-from-the-worker-env-1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=env, cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info == {"before": True, "after": True, "names": ["n1", "n2"]}
    assert {r.headers["authorization"] for r in server.requests} == {
        "Bearer sk-from-the-worker-env-1"}


# --- the frame it returns -----------------------------------------------------------------------


def test_the_frame_keeps_index_and_order_and_failures_stay_per_row(server, settings):
    def answer(req):
        k = _row(req)
        if k == 2:
            return chat(None, refusal="no")
        return _answer(req)

    server.responder = answer
    ex = Extractor(SCHEMA, TEMPLATE, concurrency=4)
    out = ex(_frame(5))
    assert list(out.index) == [100, 101, 102, 103, 104]
    assert list(out.columns) == ["name", "size", "tags", "error", "attempts", "prompt_tokens",
                                 "completion_tokens", "total_tokens", "cost"]
    assert out["cost"].isna().all()  # no price for this model: unknown, never made up
    assert list(out["name"]) == ["n0", "n1", None, "n3", "n4"]
    assert out.loc[101, "tags"] == ["a", "1"]
    assert out.loc[102, "error"].startswith("RefusalError")
    assert list(out["attempts"]) == [1] * 5
    assert out["total_tokens"].sum() == 28 + 30  # a refusal's tokens are billed too
    assert out.dtypes["size"] == "object" and out.dtypes["attempts"] == "int64"
    assert list(ex.meta().columns) == list(out.columns)
    assert dict(ex.meta().dtypes) == dict(out.dtypes)


def test_a_row_whose_template_cannot_be_filled_fails_alone(server, settings):
    server.responder = _answer
    frame = pd.DataFrame({"k": [0, 1], "txt": ["a", "b"]})
    out = Extractor(SCHEMA, "Row {k}: {text}")(frame)
    assert list(out["error"].str.contains("could not be filled")) == [True, True]
    assert server.requests == []
    out = Extractor(SCHEMA, "Row {k}: {item[txt]}")(frame)
    assert list(out["name"]) == ["n0", "n1"]


def test_the_cost_column_prices_each_row(server, settings):
    server.responder = _answer
    ex = Extractor(SCHEMA, TEMPLATE, prices={"test-model": (1.0, 2.0)})
    out = ex(_frame(2))
    # 3 prompt and 4 completion tokens a row at $1 / $2 per million
    assert list(out["cost"]) == pytest.approx([3e-6 + 8e-6] * 2)
    assert pickle.loads(pickle.dumps(ex))(_frame(1))["cost"].iloc[0] == pytest.approx(11e-6)


def test_kept_columns_come_first(server, settings):
    server.responder = _answer
    frame = _frame(3).reset_index(names="row")
    ex = Extractor(SCHEMA, TEMPLATE, keep=["row"])
    out = ex(frame)
    assert list(out.columns[:2]) == ["row", "name"] and list(out["row"]) == [100, 101, 102]
    assert ex.meta(frame).dtypes["row"] == frame.dtypes["row"]
    with pytest.raises(sm.ConfigError, match="keep names columns"):
        Extractor(SCHEMA, TEMPLATE, keep=["nope"])(frame)


def test_fields_named_like_the_added_columns_keep_their_values(server, settings):
    schema = {"type": "object",
              "properties": {"error": {"type": "string"}, "attempts": {"type": "integer"},
                             "cost": {"type": "number"}},
              "required": ["error", "attempts", "cost"], "additionalProperties": False}
    server.responder = lambda req: chat(json.dumps({"error": "E7", "attempts": 3,
                                                    "cost": 9.5}), usage=(3, 4))
    ex = Extractor(schema, TEMPLATE, prices={"test-model": (1.0, 2.0)})
    out = ex(_frame(2))
    assert list(out.columns) == ["error", "attempts", "cost", "row_error", "row_attempts",
                                 "prompt_tokens", "completion_tokens", "total_tokens",
                                 "cost_usd"]
    assert list(out["error"]) == ["E7", "E7"] and list(out["attempts"]) == [3, 3]
    assert list(out["cost"]) == [9.5, 9.5] and list(out["row_error"]) == [None, None]
    assert list(out["row_attempts"]) == [1, 1]
    assert list(out["cost_usd"]) == pytest.approx([11e-6] * 2)
    assert dict(ex.meta().dtypes) == {**dict(out.dtypes), "attempts": "object",
                                      "cost": "object"}  # fields: Python values
    assert "`row_error` STRING, `row_attempts` BIGINT" in ex.spark_schema()
    assert ex.spark_schema().endswith("`cost_usd` DOUBLE")
    with pytest.raises(sm.ConfigError, match="also has as a field"):
        Extractor(SCHEMA, TEMPLATE, keep=["name"])


def test_an_interrupted_partition_does_not_leave_the_extractor_closed(server, settings):
    server.responder = _answer
    ex = Extractor(SCHEMA, TEMPLATE)
    ex._gate().stop()  # what an interrupt in a partition does to this worker's gate
    out = ex(_frame(2))
    assert list(out["name"]) == ["n0", "n1"] and list(out["error"]) == [None, None]


def test_a_root_that_is_not_an_object_gives_plain_values_and_spark_json(server, settings):
    pydantic = pytest.importorskip("pydantic")

    class Item(pydantic.BaseModel):
        name: str

    server.responder = lambda req: chat(json.dumps({"value": [{"name": "a"}]}))  # wrapped
    ex = Extractor(list[Item], TEMPLATE)
    out = ex(_frame(1))
    assert out["value"].iloc[0] == [{"name": "a"}] and out["error"].iloc[0] is None
    (batch,) = list(ex.spark_batches(iter([_frame(1)])))
    assert json.loads(batch.loc[0, "value"]) == [{"name": "a"}]


def test_a_series_and_the_spark_shapes(server, settings):
    server.responder = lambda req: chat(json.dumps({"name": "x", "size": 1, "tags": ["t"]}))
    ex = Extractor(SCHEMA, "Row 1: {item}")
    out = ex(pd.Series(["a", "b"], index=[5, 6]))
    assert list(out.index) == [5, 6]
    assert ex.spark_schema() == ("`name` STRING, `size` BIGINT, `tags` STRING, "
                                 "`error` STRING, `attempts` BIGINT, `prompt_tokens` BIGINT, "
                                 "`completion_tokens` BIGINT, `total_tokens` BIGINT, "
                                 "`cost` DOUBLE")
    (batch,) = list(ex.spark_batches(iter([pd.DataFrame({"x": [1]})])))
    assert batch.loc[0, "tags"] == '["t"]' and batch.loc[0, "size"] == 1


# --- Dask, two worker processes ---------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_dask_map_partitions_on_two_workers(server, settings, dask_cluster):
    dd = pytest.importorskip("dask.dataframe")
    lock = threading.Lock()
    seen: dict[int, int] = {}
    times: list[float] = []

    def answer(req):
        k = _row(req)
        with lock:
            times.append(time.monotonic())
            seen[k] = seen.get(k, 0) + 1
            first = seen[k] == 1
        if first and k % 7 == 3:
            return Reply.status(429, "slow down", headers={"retry-after": "0.2"})
        return _answer(req)

    server.responder = answer
    frame = _frame(40)
    ddf = dd.from_pandas(frame, npartitions=4)
    ex = Extractor(SCHEMA, TEMPLATE, base_url=server.url + "/v1", model="m",
                   concurrency=4, max_requests_per_minute=600, workers=2)
    out = ddf.map_partitions(ex, meta=ex.meta(ddf)).compute()
    # order and index restored, every row present once and answered
    assert list(out.index) == list(frame.index)
    assert list(out["size"]) == list(range(40))
    assert out["error"].isna().all()
    assert sorted(seen) == list(range(40))
    assert all(n == (2 if k % 7 == 3 else 1) for k, n in seen.items())
    # the job-wide rate: 600 a minute, 10 a second, split over the two workers
    times.sort()
    busiest = max(sum(1 for t in times if s <= t < s + 1.0) for s in times)
    assert busiest <= 12, busiest
    # no key in any worker's log, nor in what was shipped
    for lines in dask_cluster.get_worker_logs().values():
        assert all(CANARY not in str(line) and CANARY[-6:] not in str(line) for line in lines)
    assert CANARY.encode() not in pickle.dumps(ex)


def test_the_magic_hands_a_dask_frame_to_the_engine(ip, server, settings):
    dask = pytest.importorskip("dask")
    dd = pytest.importorskip("dask.dataframe")
    server.responder = _answer
    ip.user_ns.update(schema=SCHEMA, ddf=dd.from_pandas(_frame(6), npartitions=2),
                      local="x")
    with dask.config.set(scheduler="synchronous"):
        res = ip.run_cell("%%structured schema --each ddf --engine dask -o lazy\n"
                          "Row {k}: {text}", store_history=False)
        assert res.success, res.error_in_exec
        lazy = ip.user_ns["lazy"]
        assert hasattr(lazy, "compute") and server.requests == []  # nothing sent yet
        assert list(lazy.compute()["size"]) == list(range(6))
        res = ip.run_cell("%%structured schema --each ddf --engine dask --compute -o out\n"
                          "Row {k}: {text}", store_history=False)
        assert res.success and isinstance(ip.user_ns["out"], pd.DataFrame)
        res = ip.run_cell("%%structured schema --each ddf --engine dask -o out\n"
                          "Row {k}: {local}", store_history=False)
        assert "must be columns of ddf: local is not" in str(res.error_in_exec)
    ip.user_ns["plain"] = _frame(2)
    res = ip.run_cell("%%structured schema --each plain --engine dask -o out\n{text}",
                      store_history=False)
    assert "needs a Dask DataFrame" in str(res.error_in_exec)


def test_compute_says_how_each_partition_went(ip, server, settings, capfd):
    """``--compute`` is followed while it runs: a line per partition as it ends (its rows,
    how many failed), on a local scheduler; nothing with ``--quiet``."""
    dask = pytest.importorskip("dask")
    dd = pytest.importorskip("dask.dataframe")
    server.responder = lambda req: (Reply.status(400, "bad row") if _row(req) == 4
                                    else _answer(req))
    ip.user_ns.update(schema=SCHEMA, ddf=dd.from_pandas(_frame(6), npartitions=3))
    capfd.readouterr()
    with dask.config.set(scheduler="synchronous"):
        res = ip.run_cell("%%structured schema --each ddf --engine dask --compute -o out "
                          "--retries 0\nRow {k}: {text}", store_history=False)
        assert res.success, res.error_in_exec
        lines = [x for x in capfd.readouterr().out.splitlines() if "partitions" in x]
        # one line a partition, in whatever order the scheduler ran them
        assert [x.split(" · ")[1:3] for x in lines] == [
            [f"Dask: {k}/3 partitions", f"{2 * k} rows"] for k in (1, 2, 3)]
        assert lines[-1] == "structmagic: schema · Dask: 3/3 partitions · 6 rows · 1 failed"
        res = ip.run_cell("%%structured schema --each ddf --engine dask --compute -o out "
                          "--quiet\nRow {k}: {text}", store_history=False)
        assert res.success and "partitions" not in capfd.readouterr().out


# --- images and documents from columns -------------------------------------------------------


def _user_content(req):
    return next(m["content"] for m in req.json["messages"] if m["role"] == "user")


def _row_any(req) -> int:
    """The row number of a request whose user content may hold images (a list of parts)."""
    content = _user_content(req)
    text = content if isinstance(content, str) else next(
        p["text"] for p in content if p["type"] == "text")
    return int(text.split(":")[0].split()[1])


def _answer_any(req) -> Reply:
    k = _row_any(req)
    return chat(json.dumps({"name": f"n{k}", "size": k, "tags": []}), usage=(3, 4))


def _scans(tmp_path: Path) -> pd.DataFrame:
    from media_helpers import PDF, png

    path = tmp_path / "scan.png"
    path.write_bytes(png((30, 20)))
    return pd.DataFrame({"k": [0, 1, 2, 3], "text": ["a", "b", "c", "d"],
                         "scan": [png((40, 30)), None, str(path), str(tmp_path / "gone.png")],
                         "doc": [None, PDF, None, None]}, index=[10, 11, 12, 13])


def test_image_and_file_columns_go_with_each_row(server, settings, tmp_path):
    import base64

    from media_helpers import png

    server.responder = _answer_any
    ex = Extractor(SCHEMA, TEMPLATE, images=["scan"], files=["doc"], detail="low")
    ex = pickle.loads(pickle.dumps(ex))  # as a worker gets it
    out = ex(_scans(tmp_path))
    assert list(out.index) == [10, 11, 12, 13]
    assert list(out["size"]) == [0, 1, 2, None]
    assert "Image 1" in out.loc[13, "error"] and "gone.png" in out.loc[13, "error"]
    sent = {_row_any(r): _user_content(r) for r in server.requests}
    assert sorted(sent) == [0, 1, 2]  # the row whose file is gone was never sent
    first = sent[0][0]
    assert first["type"] == "image_url" and first["image_url"]["detail"] == "low"
    assert first["image_url"]["url"] == ("data:image/png;base64,"
                                         + base64.b64encode(png((40, 30))).decode())
    assert [p["type"] for p in sent[1]] == ["file", "text"]  # no image; its PDF
    assert sent[2][0]["type"] == "image_url"  # read from the path on the worker


def test_each_row_gets_its_own_images_after_a_row_whose_template_failed(server, settings):
    """A row whose template cannot be filled is not sent, and every later row still carries
    its own cells' images (not those of a neighbour)."""
    from fake_media import received_parts
    from media_helpers import png

    server.responder = _answer_any
    scans = [png((40 + k, 30)) for k in range(4)]
    frame = pd.DataFrame({"k": [0, "one", 2, 3], "text": ["a", "b", "c", "d"],
                          "scan": scans}, index=[10, 11, 12, 13])
    out = Extractor(SCHEMA, "Row {k:d}: {text}", images=["scan"], concurrency=1)(frame)
    assert list(out["size"]) == [0, None, 2, 3]
    assert "could not be filled" in out.loc[11, "error"]
    sent = {}  # the row a request was for -> the row whose scan it carried
    for req in server.requests:
        (part,) = received_parts(req)
        sent[_row_any(req)] = next((k for k, s in enumerate(scans) if s == part.data), None)
    assert sent == {0: 0, 2: 2, 3: 3}


def test_image_columns_are_checked(settings, tmp_path):
    for bad in ({"images": "scan"}, {"files": [3]}, {"detail": "medium"}):
        with pytest.raises(sm.ConfigError):
            Extractor(SCHEMA, TEMPLATE, **bad)
    ex = Extractor(SCHEMA, TEMPLATE, images=["picture"])
    with pytest.raises(sm.ConfigError, match="images names columns the partition does not "
                                             "have: picture"):
        ex(_frame(1))
    back = pickle.loads(pickle.dumps(Extractor(SCHEMA, TEMPLATE, images=["scan"],
                                               files=["doc"], detail="high", inline=True,
                                               downscale=False)))
    assert (back.images, back.files) == (["scan"], ["doc"])
    assert back.media == {"detail": "high", "inline": True, "downscale": False}


def test_the_magic_sends_an_image_column_to_the_engine(ip, server, settings, tmp_path):
    dask = pytest.importorskip("dask")
    dd = pytest.importorskip("dask.dataframe")
    from media_helpers import png

    server.responder = _answer_any
    paths = []
    for k in (0, 2):
        paths.append(tmp_path / f"scan-{k}.png")
        paths[-1].write_bytes(png((30 + k, 20)))
    # paths, as a Dask frame holds scans (Dask turns object columns into strings)
    frame = pd.DataFrame({"k": [0, 1, 2], "text": ["a", "b", "c"],
                          "scan": [str(paths[0]), None, str(paths[1])]})
    ip.user_ns.update(schema=SCHEMA, ddf=dd.from_pandas(frame, npartitions=2), pic=b"x")
    with dask.config.set(scheduler="synchronous"):
        res = ip.run_cell("%%structured schema --each ddf --engine dask --compute -o out "
                          "--image scan --detail low\nRow {k}: {text}", store_history=False)
        assert res.success, res.error_in_exec
        assert list(ip.user_ns["out"]["size"]) == [0, 1, 2]
        kinds = sorted(tuple(p["type"] for p in c) if isinstance(c, list) else ("text",)
                       for c in map(_user_content, server.requests))
        assert kinds == [("image_url", "text"), ("image_url", "text"), ("text",)]
        res = ip.run_cell("%%structured schema --each ddf --engine dask -o out --image pic\n"
                          "Row {k}: {text}", store_history=False)
        assert "--image must name columns of ddf: pic is not" in str(res.error_in_exec)


# --- Ray and Spark: the optional suite (python -m pytest -m "ray or spark") ------------------


@pytest.mark.ray
def test_ray_map_batches_with_the_order_restored(server, settings):
    ray = pytest.importorskip("ray")
    server.responder = _answer
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    try:
        frame = _frame(12).reset_index(names="row")
        ds = ray.data.from_pandas(frame)
        out = ds.map_batches(
            Extractor, fn_constructor_args=(SCHEMA, TEMPLATE),
            fn_constructor_kwargs={"base_url": server.url + "/v1", "model": "m",
                                   "keep": ["row"]},
            batch_format="pandas", num_cpus=0.5, concurrency=2).to_pandas()
        out = out.sort_values("row").reset_index(drop=True)
        assert list(out["row"]) == list(frame["row"]) and list(out["size"]) == list(range(12))
    finally:
        ray.shutdown()


@pytest.mark.spark
def test_spark_map_in_pandas(server, settings, monkeypatch):
    pyspark = pytest.importorskip("pyspark")
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    server.responder = _answer
    spark = (pyspark.sql.SparkSession.builder.master("local[2,3]")
             .config("spark.ui.enabled", "false").getOrCreate())
    try:
        ex = Extractor(SCHEMA, TEMPLATE, base_url=server.url + "/v1", model="m")
        sdf = spark.createDataFrame(_frame(8).reset_index(drop=True))
        out = sdf.mapInPandas(ex.spark_batches, schema=ex.spark_schema()).toPandas()
        assert sorted(out["size"]) == list(range(8))
        assert json.loads(out.loc[0, "tags"])[0] == "a"
    finally:
        spark.stop()
