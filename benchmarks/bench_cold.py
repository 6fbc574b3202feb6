"""The first cell of a fresh kernel: ``%%structured`` against bare httpx (and + jsonschema).

Each sample is a real, fresh IPython kernel started through ``jupyter_client`` (so the widget
comm exists and the widget really opens), talking to the loopback fake server, which runs in
a child process of this script (never in the kernel). Every variant first runs the same
setup cell (the schema and the request as plain dicts, no imports), then the timed cells;
a cell's time is the wall time from sending ``execute_request`` to its ``execute_reply``,
as a user sees it. Variants, interleaved over the samples:

- ``bare``: ``import httpx, json`` + ``httpx.post`` + ``json.loads`` (the baseline);
- ``bare+jsonschema``: the same + ``import jsonschema`` + ``jsonschema.validate`` (what a
  user pays for validating without us);
- ``structmagic``: ``%load_ext structmagic``, then ``%%structured math -o answer`` (the
  default: streamed, with the live widget);
- ``structmagic --no-stream``: the same exchange as ``bare``, one JSON body.

Each reports its first cell and its second cell (same cell again); structmagic also its
``%load_ext``. Beside the wall time, the CPU time the kernel's main thread spent on each cell
is shown too: it moves less when other work shares the machine. Target: structmagic's first
cell within 150 ms of ``bare``'s first cell.

    python benchmarks/bench_cold.py [N] [--code PATH] [--from-source]

``N`` samples (default 5, the median is shown); ``--code PATH`` measures another checkout of
structmagic (default: this one), to compare before and after. The package is copied to a
temporary directory and compiled to bytecode there, as an installed wheel is (the checkout
is left untouched, and ``PYTHONDONTWRITEBYTECODE`` would otherwise make every kernel compile
structmagic from source); ``--from-source`` skips the compilation.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import MATH_SCHEMA, ROOT, chat, chat_stream, server_process
from jupyter_client import KernelManager

KEY = "sk-bench-000000000000"
ANSWER = {
    "steps": [{"explanation": f"step {i}: compare the digits", "output": f"{i}"} for i in range(8)],
    "final_answer": "9.8 is larger",
}
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
               "all_proxy")

SETUP = """\
math = {schema!r}
body = {{"model": "bench", "messages": [{{"role": "user", "content": "9.11 or 9.8?"}}],
        "response_format": {{"type": "json_schema", "json_schema": {{
            "name": "math", "schema": math, "strict": True}}}}}}
url = {url!r} + "/chat/completions"
headers = {{"Authorization": "Bearer {key}"}}
"""
BARE = """\
import httpx, json
r = httpx.post(url, json=body, headers=headers, timeout=30)
answer = json.loads(r.json()["choices"][0]["message"]["content"])
"""
BARE_VALIDATE = BARE + """\
import jsonschema
jsonschema.validate(answer, math)
"""
MAGIC = "%%structured math -o answer{opts}\n9.11 or 9.8?\n"
CHECK = "assert answer == {answer!r}, answer\n"
#: run before a timed cell, and evaluated after it (as a user expression): the CPU time the
#: kernel's main thread spent on the cell, less sensitive than wall time to a busy machine
MARK = "import time as _bench_time; _bench_cpu = _bench_time.thread_time()"
CPU = "_bench_time.thread_time() - _bench_cpu"

#: variant -> [(label, code)], run in this order
VARIANTS: dict[str, list[tuple[str, str]]] = {
    "bare": [("first cell", BARE), ("second cell", BARE)],
    "bare+jsonschema": [("first cell", BARE_VALIDATE), ("second cell", BARE_VALIDATE)],
    "structmagic": [("load_ext", "%load_ext structmagic"),
                    ("first cell", MAGIC.format(opts="")),
                    ("second cell", MAGIC.format(opts=""))],
    "structmagic --no-stream": [("load_ext", "%load_ext structmagic"),
                                ("first cell", MAGIC.format(opts=" --no-stream")),
                                ("second cell", MAGIC.format(opts=" --no-stream"))],
}


def _respond(req: Any) -> Any:
    text = json.dumps(ANSWER)
    return chat_stream(text) if (req.json or {}).get("stream") else chat(text)


def _run(kc: Any, code: str, timeout: float = 60.0) -> tuple[float, float, list[dict[str, Any]]]:
    """Execute ``code``; the wall time to its reply, the kernel's main-thread CPU time since
    the last :data:`MARK` (NaN if none), and the cell's IOPub messages."""
    t0 = time.perf_counter()
    msg_id = kc.execute(code, store_history=True, user_expressions={"cpu": CPU})
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    elapsed = time.perf_counter() - t0
    iopub: list[dict[str, Any]] = []
    while True:  # drain this cell's IOPub messages (after the timing)
        try:
            msg = kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            break
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        iopub.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    content = reply["content"]
    if content["status"] != "ok":
        raise RuntimeError(f"cell failed: {content.get('ename')}: {content.get('evalue')}\n"
                           f"{code}")
    cpu = content["user_expressions"]["cpu"]
    value = float(cpu["data"]["text/plain"]) if cpu.get("status") == "ok" else math.nan
    return elapsed, value, iopub


def sample(variant: str, url: str, code_root: Path) -> dict[str, tuple[float, float]]:
    """One fresh kernel running ``variant``: {label: (wall seconds, CPU seconds)}."""
    env = {k: v for k, v in os.environ.items()
           if k not in _PROXY_VARS and not k.startswith("STRUCTMAGIC_")}
    env.update(PYTHONPATH=str(code_root), OPENAI_BASE_URL=url, OPENAI_API_KEY=KEY,
               STRUCTMAGIC_MODEL="bench", NO_PROXY="127.0.0.1,localhost")
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=env, stderr=subprocess.DEVNULL)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        _run(kc, SETUP.format(schema=MATH_SCHEMA, url=url, key=KEY))
        times: dict[str, tuple[float, float]] = {}
        for label, code in VARIANTS[variant]:
            cell = label.endswith("cell")
            if cell:
                _run(kc, "answer = None")
            _run(kc, MARK)
            elapsed, cpu, iopub = _run(kc, code)
            times[label] = (elapsed, cpu)
            if cell:
                _run(kc, CHECK.format(answer=ANSWER))
            if variant == "structmagic" and label == "first cell":
                opened = [m for m in iopub if m["msg_type"] == "comm_open"]
                assert opened, "the widget did not open a comm"
        if variant.startswith("structmagic"):
            _run(kc, f"import structmagic\nassert structmagic.__file__.startswith("
                     f"{str(code_root)!r}), structmagic.__file__")
        return times
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=5, help="samples (default 5)")
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="checkout of structmagic to measure (default: this one)")
    parser.add_argument("--from-source", action="store_true",
                        help="do not compile the package to bytecode first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_cold_") as tmp:
        code_root = Path(tmp)
        shutil.copytree(args.code.resolve() / "structmagic", code_root / "structmagic",
                        ignore=shutil.ignore_patterns("__pycache__"))
        if not args.from_source:
            compileall.compile_dir(code_root, quiet=1)
        results = _measure(args.n, code_root)
    _report(results, args.n, f"{args.code.resolve()} ("
            f"{'from source' if args.from_source else 'bytecode compiled'})")


Samples = dict[str, dict[str, list[tuple[float, float]]]]  # variant -> label -> [(wall, cpu)]


def _measure(n: int, code_root: Path) -> Samples:
    results: Samples = {v: {} for v in VARIANTS}
    with server_process(_respond) as server_url:
        url = server_url + "/v1"
        for i in range(n):
            for variant in VARIANTS:
                for label, t in sample(variant, url, code_root).items():
                    results[variant].setdefault(label, []).append(t)
            print(f"sample {i + 1}/{n} done", file=sys.stderr)
    return results


def _report(results: Samples, n: int, code: str) -> None:
    def med(variant: str, label: str, which: int) -> float:
        cells = results[variant]
        return statistics.median(t[which] for t in cells[label]) if label in cells else math.nan

    def ms(x: float) -> str:
        return "" if math.isnan(x) else f"{x * 1000:.1f}"

    labels = ("load_ext", "first cell", "second cell")
    print(f"fresh kernels, median of {n}; code: {code}")
    for which, kind in ((0, "wall time, as the user waits"),
                        (1, "kernel main-thread CPU time (steadier on a busy machine)")):
        print(f"\n{kind}, ms")
        print(f"{'variant':26}" + "".join(f"{label:>13}" for label in labels))
        for variant in results:
            print(f"{variant:26}" + "".join(f"{ms(med(variant, label, which)):>13}"
                                             for label in labels))
        base = med("bare", "first cell", which)
        for variant in ("structmagic", "structmagic --no-stream", "bare+jsonschema"):
            first = med(variant, "first cell", which)
            load = med(variant, "load_ext", which)
            print(f"  {variant:24} first cell vs bare: {(first - base) * 1000:+7.1f} ms, "
                  f"ratio {first / base:5.2f}"
                  + ("" if math.isnan(load) else
                     f"; with load_ext {(first + load - base) * 1000:+7.1f} ms"))
    print("\ntarget: the structmagic first cell within +150 ms of bare (wall time)")


if __name__ == "__main__":
    main()
