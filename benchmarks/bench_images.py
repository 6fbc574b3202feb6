"""Encoding a 4000 x 3000 photo for each provider, and memory after a call that sends it.

Timed (median of interleaved runs, same process): ``prepare_inputs`` of the photo as a PIL
image and as JPEG file bytes, for each provider (downscaled to the provider's useful maximum,
then encoded), against the baseline of encoding it at full size (JPEG, quality 85, + base64:
what sending it without downscaling costs). Target: under 150 ms for the photo.

Memory: a whole ``structured()`` call with the photo (JPEG bytes, 4 MB) against the loopback
fake server, measured with tracemalloc (Python objects: the bytes, base64, request body) and
the process's resident size, before, at the peak, and after the call; and whether any
``Part`` object is still alive afterwards.

    python benchmarks/bench_images.py [runs]
"""

from __future__ import annotations

import base64
import gc
import io
import json
import os
import sys
import time
import tracemalloc

from _common import FakeLLMServer, chat, interleave, median

import structmagic as sm
from structmagic.inputs import Part, prepare_inputs
from structmagic.providers import get_provider

SCHEMA = {"type": "object", "properties": {"total": {"type": "number"}}, "required": ["total"],
          "additionalProperties": False}


def make_photo(width: int = 4000, height: int = 3000):  # type: ignore[no-untyped-def]
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1)
    arr = (arr + rng.integers(-30, 30, arr.shape)).clip(0, 255).astype("uint8")
    return Image.fromarray(arr, "RGB")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def live_parts() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, Part))


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    photo = make_photo()
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=90)
    jpeg = buf.getvalue()
    print(f"photo: 4000x3000 RGB; as JPEG file bytes: {len(jpeg) / 1e6:.1f} MB")

    def full_size() -> None:
        out = io.BytesIO()
        photo.save(out, "JPEG", quality=85)
        base64.b64encode(out.getvalue())

    fns = {"baseline: full-size JPEG + base64": full_size}
    for name in ("openai", "anthropic", "gemini"):
        provider = get_provider(name)
        fns[f"{name}: PIL image"] = (lambda p=provider: prepare_inputs([photo], None, p)[0].b64)
        fns[f"{name}: JPEG bytes"] = (lambda p=provider: prepare_inputs([jpeg], None, p)[0].b64)
    for fn in fns.values():
        fn()  # warm up
    times = interleave(runs, **fns)
    base = median(times["baseline: full-size JPEG + base64"])
    print(f"\nmedian of {runs} interleaved runs (parts made and base64-encoded):")
    for name, ts in times.items():
        part = None
        if ":" in name and not name.startswith("baseline"):
            provider, kind = name.split(": ")
            value = photo if kind == "PIL image" else jpeg
            part = prepare_inputs([value], None, get_provider(provider))[0]
        size = f"  -> {part.width}x{part.height} {part.mime}, {part.size / 1000:.0f} KB" \
            if part else ""
        print(f"  {name:36s} {median(ts) * 1000:7.1f} ms  ratio {median(ts) / base:5.2f}{size}")
    del part
    worst = max(median(ts) for name, ts in times.items() if not name.startswith("baseline"))
    print(f"  slowest provider path: {worst * 1000:.1f} ms (target < 150 ms)")

    reply = chat(json.dumps({"total": 1.0}))
    with FakeLLMServer() as server:
        server.responder = lambda req: reply
        sm.configure(base_url=server.url + "/v1", api_key="sk-bench-000000000000",
                     model="bench")
        sm.structured("q", SCHEMA, images=[jpeg])  # warm: imports, connection, validator
        photo = None  # only the JPEG bytes stay
        gc.collect()
        tracemalloc.start()
        before, rss_before = tracemalloc.get_traced_memory()[0], rss_mb()
        t0 = time.perf_counter()
        res = sm.structured("What is the total?", SCHEMA, images=[jpeg])
        elapsed = time.perf_counter() - t0
        during_peak = tracemalloc.get_traced_memory()[1]
        sent = len(server.requests[-1].body)
        server.reset()
        gc.collect()
        after, rss_after = tracemalloc.get_traced_memory()[0], rss_mb()
        tracemalloc.stop()
    print(f"\none structured() call with the JPEG ({elapsed * 1000:.0f} ms, request body "
          f"{sent / 1000:.0f} KB):")
    print(f"  Python memory: peak +{(during_peak - before) / 1e6:.1f} MB during the call, "
          f"{(after - before) / 1000:+.0f} KB after it (the result keeps "
          f"{len(res.inputs)} summary, thumbnail included)")
    print(f"  resident size: {rss_before:.0f} MB before, {rss_after:.0f} MB after")
    print(f"  Part objects alive after the call: {live_parts()}")


if __name__ == "__main__":
    main()
