"""Memory of a long column (tracemalloc): what a row costs beyond its answer, and what
streaming the rows keeps flat.

The answers come from an in-process mock transport (``httpx.MockTransport``, through the
``http_client`` option): what is measured is structmagic's own memory, not a server's. Each
row's answer is ``{"name": <the prompt>, "score": 3}``; "the answers' own text" is the size of
each distinct answer string a result holds (``raw`` / ``text``).

- ``batch()`` of 10^5 rows: the peak traced memory per row, beyond the answers' own text
  (limit 1 KiB a row); the same with 30% of the rows repeating an earlier one (sent once);
- ``%%structured --each`` over a DataFrame of 10^5 rows: the peak per row of the whole cell,
  the bound frame built (limit 1 KiB a row beyond the answers' text);
- ``batch(..., on_result=...)`` and ``batch_iter`` of 10^5 rows: the peak in all (flat: a
  window of rows, not the column);
- ``estimate()`` of 10^6 rows: the peak in all (limit 50 MB).

Figures are printed with their limits, not asserted (the test suite checks the behaviour).

    python benchmarks/bench_memory.py [rows] [estimate_rows]
"""

from __future__ import annotations

import json
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import httpx
from _common import SCORE_SCHEMA  # (and: the server check off, this repository's copy first)

import structmagic as sm

SCHEMA = SCORE_SCHEMA
KIB = 1024


def _answer(request: httpx.Request) -> httpx.Response:
    text = json.loads(request.content)["messages"][-1]["content"]
    return httpx.Response(200, json={
        "id": "x", "object": "chat.completion", "created": 1, "model": "bench",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": json.dumps({"name": text, "score": 3})}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})


def prompts(n: int, repeated: float = 0.0, seed: int = 7) -> list[str]:
    """``n`` prompts, of which the share ``repeated`` repeats an earlier one."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(n):
        out.append(out[rng.randrange(i)] if i and rng.random() < repeated
                   else f"text number {i}")
    return out


def peak(work: Callable[[], Any]) -> tuple[Any, int, float]:
    """``work()``, the peak traced bytes beyond what was traced before it, and seconds."""
    started = time.perf_counter()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    value = work()
    top = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return value, top, time.perf_counter() - started


def answer_text(results: list[Any]) -> int:
    """The bytes of the distinct answer strings the results hold."""
    seen: set[int] = set()
    total = 0
    for res in results:
        for text in (res.raw, res.text):
            if id(text) not in seen:
                seen.add(id(text))
                total += sys.getsizeof(text)
    return total


def line(what: str, value: float, limit: float, unit: str) -> None:
    print(f"{what:<58} {value:9.1f} {unit}  (limit {limit:g} {unit}: "
          f"{value / limit:4.2f} of it)")


def bench_batch(n: int) -> None:
    for repeated in (0.0, 0.3):
        rows = prompts(n, repeated)
        results, top, seconds = peak(lambda rows=rows: sm.batch(rows, SCHEMA, concurrency=8))
        assert len(results) == n and all(r.ok for r in results)
        unique = sum(1 for r in results if r.duplicate_of is None)
        beyond = (top - answer_text(results)) / n
        line(f"batch(), {n:,} rows ({unique:,} unique), per row beyond the answer text",
             beyond, KIB, "B")
        print(f"{'':<58} ({seconds:.0f} s; peak {top / 2**20:.1f} MB in all)")
        del results


def bench_each(n: int) -> None:
    import pandas as pd
    from IPython.core.interactiveshell import InteractiveShell

    from structmagic.rows.runs import results_of

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "structmagic")
    frame = pd.DataFrame({"text": prompts(n)}, index=[f"r{i}" for i in range(n)])
    ip.user_ns.update(schema=SCHEMA, df=frame, small=frame.iloc[:20])
    ip.run_cell("%%structured schema --each small -o out --quiet\n{text}")
    ran, top, seconds = peak(lambda: ip.run_cell(
        "%%structured schema --each df -o out --quiet --concurrency 8\n{text}"))
    assert ran.success, ran.error_in_exec
    found = results_of(ip.user_ns["out"])
    assert found is not None and len(ip.user_ns["out"]) == n
    beyond = (top - answer_text(found[0])) / n
    line(f"--each over a DataFrame of {n:,} rows, per row beyond the answer text", beyond,
         KIB, "B")
    print(f"{'':<58} ({seconds:.0f} s; peak {top / 2**20:.1f} MB in all)")
    ip.user_ns.pop("out")


def bench_streamed(n: int) -> None:
    rows = prompts(n, 0.3)
    handed = [0]

    def keep(index: int, res: Any) -> None:
        handed[0] += 1

    _, top, seconds = peak(lambda: sm.batch(rows, SCHEMA, concurrency=8, on_result=keep))
    assert handed[0] == n
    line(f"batch(on_result=...), {n:,} rows, peak in all", top / 2**20, 50, "MB")
    print(f"{'':<58} ({seconds:.0f} s; {top / n:.0f} B a row)")

    def taken() -> int:
        return sum(1 for res in sm.batch_iter(rows, SCHEMA, concurrency=8) if res.ok)

    count, top, seconds = peak(taken)
    assert count == n
    line(f"batch_iter, {n:,} rows, peak in all", top / 2**20, 50, "MB")
    print(f"{'':<58} ({seconds:.0f} s; {top / n:.0f} B a row)")


def bench_estimate(n: int) -> None:
    rows = [f"Classify this product review, number {i}: fine." for i in range(n)]
    sm.estimate(rows[:10], SCHEMA, model="gpt-4o-mini", max_tokens=100)  # the table loaded
    found, top, seconds = peak(lambda: sm.estimate(rows, SCHEMA, model="gpt-4o-mini",
                                                   max_tokens=100))
    assert found.rows == n
    line(f"estimate() of {n:,} rows, peak in all", top / 2**20, 50, "MB")
    print(f"{'':<58} ({seconds:.0f} s; {top / n:.1f} B a row)")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    estimate_rows = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    sm.configure(base_url="http://bench.invalid/v1", api_key="sk-bench-000000000000",
                 model="bench", http_client=httpx.Client(transport=httpx.MockTransport(_answer)))
    sm.batch(prompts(50), SCHEMA)  # what loads once: the price table, the schema's checks
    print(f"Python {sys.version.split()[0]}, tracemalloc peaks; answers from a mock transport")
    bench_batch(n)
    bench_each(n)
    bench_streamed(n)
    bench_estimate(estimate_rows)


if __name__ == "__main__":
    main()
