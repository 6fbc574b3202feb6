"""Batch throughput against a loopback server with 50 ms latency.

500 items at concurrency 32; the server runs in a child process (its work does not compete
for the client's GIL). Ideal: ceil(500/32) x 50 ms = 0.8 s. Baseline in the same process:
bare httpx (one Client, 32 threads) posting the same requests, parsing and validating.
Target: structmagic.batch within 1.05x of the bare baseline; ``await structmagic.abatch``
(under ``asyncio.run``) within 1.1x of the ideal and no slower than batch in the same run
(AsyncOpenAI with a semaphore measured 2.8x of ideal here). Also reports peak memory growth
per item (tracemalloc) for 500 vs 2000 items, to show it stays flat beyond the results.

    python benchmarks/bench_batch.py [items] [concurrency]
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import httpx
import jsonschema
from _common import SCORE_SCHEMA, chat, interleave, median, server_process

import structmagic as sm

SCHEMA = SCORE_SCHEMA
LATENCY = 0.05
REPLY = chat(json.dumps({"name": "x", "score": 3}))


def _slow(req):
    time.sleep(LATENCY)
    return REPLY


def main() -> None:
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    conc = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    with server_process(_slow) as url:
        base = url + "/v1"
        sm.configure(base_url=base, api_key="sk-bench-000000000000", model="bench")
        prompts = [f"text number {i}" for i in range(items)]
        validator = jsonschema.Draft202012Validator(SCHEMA)
        http = httpx.Client(limits=httpx.Limits(max_connections=conc * 2,
                                                max_keepalive_connections=conc * 2))

        def one(p: str) -> None:
            body = {"model": "bench", "messages": [{"role": "user", "content": p}],
                    "response_format": {"type": "json_schema", "json_schema": {
                        "name": "r", "schema": SCHEMA, "strict": True}}}
            r = http.post(base + "/chat/completions", json=body)
            validator.validate(json.loads(r.json()["choices"][0]["message"]["content"]))

        def bare() -> None:
            with ThreadPoolExecutor(conc) as pool:
                list(pool.map(one, prompts))

        def ours() -> None:
            results = sm.batch(prompts, SCHEMA, concurrency=conc)
            assert all(r.ok for r in results)

        def awaited() -> None:
            results = asyncio.run(sm.abatch(prompts, SCHEMA, concurrency=conc))
            assert all(r.ok for r in results)

        bare()
        ours()
        awaited()
        times = interleave(5, bare=bare, ours=ours, awaited=awaited)
        ideal = math.ceil(items / conc) * LATENCY
        b, o = median(times["bare"]), median(times["ours"])
        print(f"{items} items, concurrency {conc}, {LATENCY * 1000:.0f} ms latency; "
              f"median of 5 interleaved runs")
        print(f"ideal                 : {ideal:6.3f} s")
        print(f"bare httpx + threads  : {b:6.3f} s  ({b / ideal:.2f}x ideal)")
        print(f"structmagic.batch     : {o:6.3f} s  ({o / ideal:.2f}x ideal; {o / b:.2f}x bare, "
              f"target <= 1.05)")
        a = median(times["awaited"])
        print(f"await abatch          : {a:6.3f} s  ({a / ideal:.2f}x ideal, target <= 1.1; "
              f"{a / o:.2f}x batch, target <= 1.0)")

        per_item = []
        for n in (500, 2000):
            tracemalloc.start()
            res = sm.batch([f"t{i}" for i in range(n)], SCHEMA, concurrency=conc)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            per_item.append((n, peak / n))
            del res
        for n, b_per in per_item:
            print(f"peak traced memory, {n:>5} items: {b_per / 1024:6.2f} KiB per item")


if __name__ == "__main__":
    main()
