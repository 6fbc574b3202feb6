"""Provider batch API throughput: building + writing the input JSONL, and collecting +
validating the results, for 100,000 rows of the invoice example (the Pydantic ``Invoice`` of
``notebooks/extraction.ipynb``). Targets: each at >= 20,000 rows/s, and peak memory growing
by less than 1 KiB per row beyond the results themselves (measured at 10k and 100k rows).

- write: :func:`structmagic.rows.jobs.submit._write` — each row built exactly as a
  synchronous call builds its request (conversation, ``make_call``, ``provider.build``),
  serialized, hashed into its ``custom_id``, streamed into parts split at OpenAI's limits.
  Baseline in the same run: a hand-made Chat Completions body per row (the schema dict
  pre-built), ``json.dumps``, one ``write``.
- collect: :class:`structmagic.rows.jobs.collect.Collector` over a shuffled OpenAI output
  file on disk — each line parsed, matched to its row by ``custom_id``, read as the
  synchronous path reads an answer (``provider.parse`` → ``read_answer``: JSON read, mapped
  back, validated against the user's schema) and made a ``Result`` (an ``Invoice``).
  Baseline: ``json.loads`` of the line and of its content, and ``Invoice.model_validate``.
- memory: ``tracemalloc`` peaks (separate runs; tracing slows everything down): for the
  write, the peak per row (the files are on disk); for the collect, the peak beyond what the
  results hold at the end.

    python benchmarks/bench_batchapi.py [rows]
"""

from __future__ import annotations

import gc
import json
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path
from typing import Literal

from _common import ROOT  # noqa: F401  (puts the repository first on sys.path)
from pydantic import BaseModel, Field

from structmagic.config import resolve
from structmagic.rows.jobs import submit
from structmagic.rows.jobs.collect import Collector
from structmagic.rows.jobs.jsonl import read_lines
from structmagic.rows.jobs.lines import plan_for
from structmagic.schema import load_schema


class Line(BaseModel):
    description: str
    quantity: int = Field(ge=1)
    unit_price: float


class Invoice(BaseModel):
    number: str
    vendor: str
    date: date
    currency: Literal["EUR", "USD", "GBP"]
    lines: list[Line]
    total: float


TEXT = ("Invoice INV-2024-{n:04d} from Acme Tools GmbH, dated 2024-03-05. 3 x cordless drill "
        "at 89.90 EUR, 10 x drill bit set at 12.50 EUR. Total 394.70 EUR.")
ANSWER = {"number": "INV-2024-{n:04d}", "vendor": "Acme Tools GmbH", "date": "2024-03-05",
          "currency": "EUR", "lines": [
              {"description": "cordless drill", "quantity": 3, "unit_price": 89.9},
              {"description": "drill bit set", "quantity": 10, "unit_price": 12.5}],
          "total": 394.7}


def prompts(n: int) -> list[str]:
    return [f"Extract the invoice: {TEXT.format(n=i % 10000)}" for i in range(n)]


def setup():
    settings = resolve({"base_url": "http://127.0.0.1:9/v1", "model": "gpt-4o-mini",
                        "api_key": "sk-bench-000000000000"})
    spec = load_schema(Invoice)
    return settings, spec, plan_for(spec, settings)


def write(plan, items, folder: Path):
    limits = plan.api.limits
    return submit._write(plan, items, folder, limits)


def write_baseline(plan, items, folder: Path) -> None:
    schema = plan.request.request
    with open(folder / "baseline.jsonl", "w", encoding="utf-8") as fh:
        for i, text in enumerate(items):
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}],
                    "response_format": {"type": "json_schema", "json_schema": {
                        "name": "Invoice", "schema": schema, "strict": True}}}
            fh.write(json.dumps({"custom_id": f"r{i}", "method": "POST",
                                 "url": "/v1/chat/completions", "body": body}) + "\n")


def output_file(index, n: int, folder: Path) -> Path:
    """A shuffled OpenAI output file with one answer per row."""
    order = list(range(n))
    random.Random(1).shuffle(order)
    path = folder / "output.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i in order:
            content = json.dumps({**ANSWER, "number": ANSWER["number"].format(n=i % 10000)})
            fh.write(json.dumps({
                "id": f"batch_req_{i}", "custom_id": index.custom_id(i), "response": {
                    "status_code": 200, "request_id": f"req_{i}", "body": {
                        "id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                        "model": "gpt-4o-mini-2024-07-18", "choices": [{
                            "index": 0, "message": {"role": "assistant", "content": content,
                                                    "refusal": None},
                            "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 310, "completion_tokens": 60,
                                  "total_tokens": 370}}},
                "error": None}) + "\n")
    return path


def collect(plan, index, path: Path) -> Collector:
    collector = Collector(plan, index, "bench")
    collector.feed_lines(read_lines(path))
    return collector


def collect_baseline(path: Path) -> list[Invoice]:
    out = []
    for line in read_lines(path):
        obj = json.loads(line)
        content = obj["response"]["body"]["choices"][0]["message"]["content"]
        out.append(Invoice.model_validate(json.loads(content)))
    return out


def timed(fn, *args):
    gc.collect()
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def traced(fn, *args):
    gc.collect()
    tracemalloc.start()
    out = fn(*args)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, current, peak


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    plan = setup()[2]
    items = prompts(n)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        collect(plan, write(plan, items[:200], folder)[1], output_file(
            write(plan, items[:200], folder)[1], 200, folder))  # warm caches and imports
        fastest = {}
        for name, fn in (("write", write), ("write_baseline", write_baseline)):
            fastest[name] = min(timed(fn, plan, items, folder)[0] for _ in range(3))
        parts, index, unsent, _ = write(plan, items, folder)
        assert not unsent and sum(p.count for p in parts) == n
        path = output_file(index, n, folder)
        for name, fn, args in (("collect", collect, (plan, index, path)),
                               ("collect_baseline", collect_baseline, (path,))):
            fastest[name] = min(timed(fn, *args)[0] for _ in range(3))
        check = collect(plan, index, path)
        assert check.counts() == {"ok": n}, check.counts()
        assert isinstance(check.results[0].data, Invoice)

        print(f"{n:,} rows of the invoice example ({len(parts)} input files, "
              f"{sum(p.size for p in parts) / n:,.0f} bytes a line); best of 3")
        for what in ("write", "collect"):
            ours, base = fastest[what], fastest[f"{what}_baseline"]
            print(f"{what:8}: {n / ours:9,.0f} rows/s (target >= 20,000)   baseline "
                  f"{n / base:9,.0f} rows/s   ours/baseline time {ours / base:4.2f}x")

        print("peak traced memory (tracemalloc):")
        peaks = {}
        for rows in (10_000, 100_000):
            if rows > n:
                continue
            sub = items[:rows]
            (parts_, index_, _, _), _, peak_w = traced(write, plan, sub, folder)
            out = output_file(index_, rows, folder)
            del parts_
            gc.collect()
            collector, held, peak_c = traced(collect, plan, index_, out)
            peaks[rows] = (peak_w, peak_c - held)
            print(f"  {rows:>7,} rows: write peak {peak_w / 1024:8.0f} KiB;  collect peak "
                  f"beyond the results {(peak_c - held) / 1024:8.0f} KiB (the results hold "
                  f"{held / rows / 1024:5.2f} KiB/row)")
            del collector, index_
        if len(peaks) == 2:
            (w1, c1), (w2, c2) = peaks[10_000], peaks[100_000]
            print(f"  growth per row from 10k to 100k rows: write {(w2 - w1) / 90_000:5.1f} "
                  f"B/row, collect {(c2 - c1) / 90_000:5.1f} B/row (target < 1,024)")


if __name__ == "__main__":
    main()
