"""How much `%load_ext structmagic` adds to a bare IPython start (target: under 50 ms).

Each sample is a fresh interpreter (imports are cached within one): it starts an
InteractiveShell, then times `%load_ext structmagic`, and, as the baseline in the same
process, the shell start itself. Also times the first `%%structured`-free use of the
package surface (`import structmagic`). Prints medians over N runs.

    python benchmarks/bench_load.py [N]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

PROBE = r"""
import json, time
t0 = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
t1 = time.perf_counter()
ip.run_line_magic("load_ext", "structmagic")
t2 = time.perf_counter()
print(json.dumps({"shell": t1 - t0, "load_ext": t2 - t1}))
"""
IMPORT = r"""
import json, time
t0 = time.perf_counter()
import structmagic
t1 = time.perf_counter()
print(json.dumps({"import": t1 - t0}))
"""


def sample(code: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    runs = [sample(PROBE) for _ in range(n)]
    imports = [sample(IMPORT)["import"] for _ in range(n)]
    shell = statistics.median(r["shell"] for r in runs)
    load = statistics.median(r["load_ext"] for r in runs)
    print(f"bare IPython shell start : {shell * 1000:7.1f} ms (median of {n})")
    print(f"%load_ext structmagic    : {load * 1000:7.1f} ms  (target < 50 ms)")
    print(f"  ratio to shell start   : {load / shell:7.3f}")
    print(f"import structmagic       : {statistics.median(imports) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
