"""The Extractor on a Dask LocalCluster against in-process batch(), same total concurrency.

2,000 rows at 50 ms latency; the server runs in a child process. In-process: one
``batch()`` with concurrency 32. Dask: a LocalCluster of 2 worker processes (1 thread each),
8 partitions, each partition's batch at concurrency 16 (2 x 16 = 32 in flight). Start-up of
the cluster is reported apart; the target is Dask's wall time within 1.5x of in-process once
the cluster is up.

    python benchmarks/bench_engines.py [rows]
"""

from __future__ import annotations

import json
import sys
import time

from _common import chat, median, server_process

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}},
          "required": ["name", "n"], "additionalProperties": False}
LATENCY = 0.05
REPLY = chat(json.dumps({"name": "x", "n": 3}))


def _slow(req):
    time.sleep(LATENCY)
    return REPLY


def main() -> None:
    import dask.dataframe as dd
    import pandas as pd
    from distributed import Client, LocalCluster

    import structmagic as sm

    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with server_process(_slow) as url:
        base = url + "/v1"
        frame = pd.DataFrame({"text": [f"row {i}" for i in range(rows)]})
        options = {"base_url": base, "model": "bench"}

        def in_process() -> None:
            res = sm.batch(list(frame["text"]), SCHEMA, concurrency=32, **options)
            assert all(r.ok for r in res)

        t0 = time.perf_counter()
        cluster = LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
        startup = time.perf_counter() - t0
        ddf = dd.from_pandas(frame, npartitions=8)
        extractor = sm.Extractor(SCHEMA, "{text}", concurrency=16, workers=2, **options)

        def on_dask() -> None:
            out = ddf.map_partitions(extractor, meta=extractor.meta(ddf)).compute()
            assert len(out) == rows and out["error"].isna().all()

        try:
            on_dask()  # warm the workers (imports, connections)
            times: dict[str, list[float]] = {"in_process": [], "dask": []}
            for _ in range(3):
                for name, fn in (("in_process", in_process), ("dask", on_dask)):
                    t = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t)
        finally:
            client.close()
            cluster.close()
        a, b = median(times["in_process"]), median(times["dask"])
        print(f"{rows} rows, 50 ms latency, 32 in flight in all; median of 3 interleaved runs")
        print(f"cluster start-up (2 worker processes) : {startup:6.2f} s")
        print(f"in-process batch()                     : {a:6.2f} s")
        print(f"Dask map_partitions, 2 workers         : {b:6.2f} s  ({b / a:.2f}x in-process,"
              " target <= 1.5)")


if __name__ == "__main__":
    main()
