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
``%load_ext``. Target: structmagic's first cell within 150 ms of ``bare``'s first cell.

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
import multiprocessing
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

from _common import MATH_SCHEMA, ROOT, FakeLLMServer, chat, chat_stream
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

#: variant -> [(label, code)], run in this order
VARIANTS: dict[str, list[tuple[str | None, str]]] = {
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


def _serve(urls: Any, stop: Any) -> None:
    """The loopback server, in its own process (its threads never share the kernel's GIL)."""
    with FakeLLMServer() as server:
        server.responder = _respond
        urls.put(server.url)
        stop.wait()


def _run(kc: Any, code: str, timeout: float = 60.0) -> tuple[float, list[dict[str, Any]]]:
    """Execute ``code``; the wall time to its reply, and its IOPub messages."""
    t0 = time.perf_counter()
    msg_id = kc.execute(code, store_history=True)
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
    return elapsed, iopub


def sample(variant: str, url: str, code_root: Path) -> dict[str, float]:
    """One fresh kernel running ``variant``: {label: seconds}."""
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
        times: dict[str, float] = {}
        for label, code in VARIANTS[variant]:
            cell = label.endswith("cell")
            if cell:
                _run(kc, "answer = None")
            elapsed, iopub = _run(kc, code)
            times[label] = elapsed
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


def _measure(n: int, code_root: Path) -> dict[str, dict[str, list[float]]]:
    ctx = multiprocessing.get_context("fork")
    urls, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_serve, args=(urls, stop), daemon=True)
    child.start()
    results: dict[str, dict[str, list[float]]] = {v: {} for v in VARIANTS}
    try:
        url = urls.get(timeout=30) + "/v1"
        for i in range(n):
            for variant in VARIANTS:
                for label, t in sample(variant, url, code_root).items():
                    results[variant].setdefault(label, []).append(t)
            print(f"sample {i + 1}/{n} done", file=sys.stderr)
    finally:
        stop.set()
        child.join(5)
    return results


def _report(results: dict[str, dict[str, list[float]]], n: int, code: str) -> None:
    def med(variant: str, label: str) -> float:
        return statistics.median(results[variant][label])

    print(f"fresh kernels, median of {n}; code: {code}")
    print(f"{'variant':26} {'load_ext':>9} {'first cell':>11} {'second cell':>12}  (ms)")
    for variant, cells in results.items():
        load = f"{med(variant, 'load_ext') * 1000:9.1f}" if "load_ext" in cells else " " * 9
        print(f"{variant:26} {load} {med(variant, 'first cell') * 1000:11.1f} "
              f"{med(variant, 'second cell') * 1000:12.1f}")
    base = med("bare", "first cell")
    for variant in ("structmagic", "structmagic --no-stream", "bare+jsonschema"):
        first = med(variant, "first cell")
        extra = first - base
        with_load = first + (med(variant, "load_ext") if "load_ext" in results[variant] else 0)
        print(f"{variant:26} first cell - bare first cell: {extra * 1000:+7.1f} ms "
              f"(ratio {first / base:5.2f}; with load_ext {(with_load - base) * 1000:+7.1f} ms)")
    print("target: structmagic first cell within +150 ms of bare")


if __name__ == "__main__":
    main()
