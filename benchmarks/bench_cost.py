"""What cost accounting costs: per call, per batch item under a budget, and per estimated row.

Three ratios, each against a baseline run in the same process, in A B B A order:

- ``call``: ``structured()`` with a model the price table prices (gpt-4o-mini), reading each
  ``Result.cost`` (every answer priced) vs the same calls and reads with pricing switched
  off (``price_for`` returning None).
  Target: at most 1.05x.
- ``budget``: ``batch()`` of 400 items at concurrency 16 against a loopback server with
  5 ms latency, with a ``max_cost`` it never reaches (every item estimated, reserved and
  settled) vs without one. Target: at most 1.10x.
- ``estimate``: ``estimate()`` over 20,000 rows (nothing sent) vs the floor of any estimate
  that looks at every request: building each row's request body and encoding it to JSON.
  Target: at most 3x (a 50,000-row column estimates in about a second or two).
- ``images``: ``estimate()`` of 200 rows with a 2000 × 1500 JPEG scan each (files on disk)
  vs preparing those rows' images as a run does before it sends them (read, decode,
  downscale, encode). The estimate reads only each file's header. Target: at most 0.2x.

    python benchmarks/bench_cost.py [calls]
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time

from _common import FakeLLMServer, chat, median

import structmagic as sm
from structmagic import estimate
from structmagic.cost import spend
from structmagic.cost.prices import price_for

SCHEMA = {
    "type": "object",
    "properties": {"sentiment": {"enum": ["positive", "neutral", "negative"]},
                   "topics": {"type": "array", "items": {"type": "string"}},
                   "stars": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["sentiment", "topics", "stars"],
    "additionalProperties": False,
}
ANSWER = {"sentiment": "positive", "topics": ["battery", "screen"], "stars": 5}
REPLY = chat(json.dumps(ANSWER), usage=(120, 20))
TEXTS = ["The battery lasts two full days and the screen is gorgeous. Worth every cent.",
         "Stopped charging after a week. Support never answered my emails.",
         "It's fine. Does what it says, nothing more."]
LATENCY = 0.005


def abba(runs: int, **fns) -> dict[str, list[float]]:
    """Time two functions ``runs`` times each, in A B B A order (a run's position in a
    round biases it on this machine; alternating cancels that out)."""
    (name_a, a), (name_b, b) = fns.items()
    times: dict[str, list[float]] = {name_a: [], name_b: []}
    for i in range(runs):
        order = [(name_a, a), (name_b, b)] if i % 2 == 0 else [(name_b, b), (name_a, a)]
        for name, fn in order:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def _slow(req):
    time.sleep(LATENCY)
    return REPLY


def _serve(urls, stop) -> None:
    with FakeLLMServer() as server:
        server.responder = _slow
        urls.put(server.url)
        stop.wait()


def bench_call(base: str, calls: int) -> None:
    sm.configure(base_url=base, api_key="sk-bench-000000000000", model="gpt-4o-mini")
    real = spend.price_for

    def priced() -> None:
        spend.price_for = real
        for i in range(calls):
            res = sm.structured(f"Classify: {TEXTS[i % 3]}", SCHEMA)
            assert res.cost is not None

    def unpriced() -> None:
        spend.price_for = lambda *a, **k: None
        for i in range(calls):
            res = sm.structured(f"Classify: {TEXTS[i % 3]}", SCHEMA)
            assert res.cost is None

    priced()
    unpriced()
    times = abba(8, unpriced=unpriced, priced=priced)
    spend.price_for = real
    b, o = median(times["unpriced"]), median(times["priced"])
    print(f"call      {calls} calls, median of 8: without pricing {b * 1000 / calls:6.3f} "
          f"ms/call, priced {o * 1000 / calls:6.3f} ms/call, ratio {o / b:5.3f} "
          "(target <= 1.05)")


def bench_budget(base: str, items: int = 400) -> None:
    sm.configure(base_url=base, api_key="sk-bench-000000000000", model="gpt-4o-mini")
    prompts = [f"Classify: {TEXTS[i % 3]} #{i}" for i in range(items)]

    def free() -> None:
        sm.batch(prompts, SCHEMA, concurrency=16)

    def capped() -> None:
        results = sm.batch(prompts, SCHEMA, concurrency=16, max_cost=1000.0)
        assert all(r.error is None for r in results)

    free()
    capped()
    times = abba(6, free=free, capped=capped)
    b, o = median(times["free"]), median(times["capped"])
    print(f"budget    {items} items at concurrency 16, {LATENCY * 1000:.0f} ms latency, median "
          f"of 6: no cap {b:6.3f} s, max_cost {o:6.3f} s, ratio {o / b:5.3f} (target <= 1.10)")


def bench_estimate(rows: int = 20_000) -> None:
    from structmagic.config import resolve
    from structmagic.providers import get_provider
    from structmagic.rows.estimate import row_calls
    from structmagic.schema import load_schema

    prompts = [f"Classify this product review: {TEXTS[i % 3]} #{i}" for i in range(rows)]
    spec = load_schema(SCHEMA, name="review")
    settings = resolve(model="gpt-4o-mini", api_key="sk-bench-000000000000")
    provider = get_provider("openai")
    price_for("openai", "gpt-4o-mini")  # the table loaded once, outside the timing

    def floor() -> None:
        for call in row_calls(prompts, spec, settings, provider):
            _, body = provider.build(call, settings.base_url)
            json.dumps(body, ensure_ascii=False, separators=(",", ":"))

    def ours() -> None:
        estimate(prompts, spec, model="gpt-4o-mini", max_tokens=300,
                 api_key="sk-bench-000000000000")

    floor()
    ours()
    times = abba(6, floor=floor, ours=ours)
    b, o = median(times["floor"]), median(times["ours"])
    print(f"estimate  {rows} rows, median of 6: build + encode {b * 1000:6.0f} ms, estimate "
          f"{o * 1000:6.0f} ms ({o * 1e6 / rows:4.1f} us/row), ratio {o / b:5.3f} (target <= 3)")


def bench_images(rows: int = 200) -> None:
    import io
    import random
    import tempfile
    from pathlib import Path

    from PIL import Image

    from structmagic.inputs import prepare_inputs
    from structmagic.providers import get_provider

    provider = get_provider("openai")
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(10):  # ten distinct scans, each used by 20 rows
            img = Image.effect_noise((2000, 1500), 40 + i).convert("RGB")
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=85)
            path = Path(folder) / f"scan-{i}.jpg"
            path.write_bytes(buf.getvalue())
            paths.append(path)
        images = [[paths[rng.randrange(10)]] for _ in range(rows)]
        prompts = [f"Extract the receipt #{i}" for i in range(rows)]

        def prepare() -> None:
            for row in images:
                prepare_inputs(row, None, provider)

        def ours() -> None:
            estimate(prompts, SCHEMA, images=images, model="gpt-4o-mini", max_tokens=300,
                     api_key="sk-bench-000000000000")

        ours()
        times = abba(4, prepare=prepare, ours=ours)
    b, o = median(times["prepare"]), median(times["ours"])
    print(f"images    {rows} rows of a 2000x1500 JPEG, median of 4: prepare {b * 1000:6.0f} ms, "
          f"estimate {o * 1000:6.0f} ms ({o * 1e3 / rows:5.2f} ms/row), ratio {o / b:5.3f} "
          "(target <= 0.2)")


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with FakeLLMServer() as server:
        server.responder = lambda req: REPLY
        bench_call(server.url + "/v1", calls)
    urls: multiprocessing.Queue = multiprocessing.Queue()
    stop = multiprocessing.Event()
    child = multiprocessing.Process(target=_serve, args=(urls, stop), daemon=True)
    child.start()
    try:
        bench_budget(urls.get(timeout=30) + "/v1")
    finally:
        stop.set()
        child.join(5)
    bench_estimate()
    bench_images()


if __name__ == "__main__":
    main()
