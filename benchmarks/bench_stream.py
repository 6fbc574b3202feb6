"""Streaming cost: decode + partial parse + on_partial, with and without the widget.

One answer of N reasoning steps (~180 bytes each: 800 steps is ~145 KB) is streamed from a
loopback server in pieces of ~7 characters (~20,000 deltas at 800 steps). Baseline, in the
same process on the same stream: receive and decode the raw stream (httpx ``iter_lines``,
``json.loads`` of every chunk, join the content). Targets at 800 steps: the full streaming
path within 1.25x of the baseline, with the widget attached within 3x. Also shows how the
time grows from 50 to 200 to 800 steps (linear: 4x the steps, ~4x the time).

    python benchmarks/bench_stream.py [runs]
"""

from __future__ import annotations

import json
import sys

import httpx
from _common import MATH_SCHEMA, FakeLLMServer, chat_stream, interleave, median

import structmagic as sm

SCHEMA = MATH_SCHEMA


def answer(n: int) -> str:
    steps = [
        {
            "explanation": f"Step {i}: compare the digits after the decimal point, "
            f"carefully, one place at a time ({i} of {n}).",
            "output": f"0.{i % 10} vs 0.{(i * 7) % 10} -> keep going",
        }
        for i in range(n)
    ]
    return json.dumps({"steps": steps, "final_answer": "9.8 is larger than 9.11"})


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    from structmagic.display.widget import StructuredWidget

    rows = []
    with FakeLLMServer() as server:
        base = server.url + "/v1"
        sm.configure(base_url=base, api_key="sk-bench-000000000000", model="bench")
        http = httpx.Client(timeout=60)
        for n in (50, 200, 800):
            text = answer(n)
            reply = chat_stream(text, piece_size=7)
            server.responder = lambda req, reply=reply: reply
            deltas = -(-len(text) // 7)
            body = {"model": "bench", "stream": True,
                    "messages": [{"role": "user", "content": "q"}]}

            def raw(body=body) -> None:
                parts = []
                with http.stream("POST", base + "/chat/completions", json=body) as r:
                    for line in r.iter_lines():
                        if line.startswith("data: ") and line != "data: [DONE]":
                            chunk = json.loads(line[6:])
                            for ch in chunk.get("choices") or ():
                                c = ch["delta"].get("content")
                                if c:
                                    parts.append(c)
                assert json.loads("".join(parts))

            calls = [0]

            def ours(calls=calls, n=n) -> None:
                res = sm.structured("q", SCHEMA, stream=True,
                                    on_partial=lambda v: calls.__setitem__(0, calls[0] + 1))
                assert len(res.data["steps"]) == n

            def widget() -> None:
                w = StructuredWidget(title="bench", model="bench")
                w.start()
                res = sm.structured("q", SCHEMA, stream=True, observer=w,
                                    on_partial=lambda v: None)
                w.finish(res)

            raw()
            ours()
            widget()
            times = interleave(runs, raw=raw, ours=ours, widget=widget)
            rows.append((n, len(text), deltas, median(times["raw"]), median(times["ours"]),
                         median(times["widget"]), calls[0] // (runs + 1)))
    print(f"median of {runs} interleaved runs each")
    print(f"{'steps':>6} {'bytes':>8} {'deltas':>7} {'raw s':>8} {'ours s':>8} {'ratio':>6}"
          f" {'+widget s':>9} {'ratio':>6} {'partials':>8}")
    for n, size, d, r, o, w, p in rows:
        print(f"{n:>6} {size:>8} {d:>7} {r:8.3f} {o:8.3f} {o / r:6.2f} {w:9.3f} {w / r:6.2f}"
              f" {p:>8}")
    print("targets at 800 steps: ours/raw <= 1.25, widget/raw <= 3.0")
    small, big = rows[0], rows[-1]
    print(f"growth 50 -> 800 steps (16x the data): raw {big[3] / small[3]:.1f}x, "
          f"ours {big[4] / small[4]:.1f}x, widget {big[5] / small[5]:.1f}x")


if __name__ == "__main__":
    main()
