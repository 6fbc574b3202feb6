"""Many rows: one schema over a column, without IPython.

- :mod:`.dispatch` — :func:`batch`, the one way many rows run (parallel requests, a provider
  batch job, or either), :func:`start`, the same in two steps, and :func:`batch_iter`, the
  results one by one in input order;
- :mod:`.unique` — identical rows sent once (``dedup``);
- :mod:`.threads` (parallel requests), :mod:`.gate` (their shared pacing), :mod:`.counts`
  (a batch's progress), :mod:`.budget` (``max_cost``);
- :mod:`.jobs` — provider batch jobs: submit or re-attach, wait, collect;
- :mod:`.aio` — the async twins: ``astructured``, ``astream``, ``abatch``;
- :mod:`.stop` — how rows in threads stop on an interrupt (a grace for what is paid for);
- :mod:`.estimate` — :func:`~structmagic.estimate`, what a column will cost;
- :mod:`.frame` — rows in and results out as tables;
- :mod:`.rerun` — :func:`~structmagic.rerun`, only the failed, doubtful or ungrounded rows again;
- :mod:`.review` — :func:`~structmagic.review`, a column's rows accepted or corrected in a
  widget, kept in the corrections file;
- :mod:`.compare` and :mod:`.score` — models side by side, and against labels;
- :mod:`.engines` — the :class:`~structmagic.Extractor` for Dask, Ray and Spark.

Each module loads on first use (``rows.estimate`` imports :mod:`.estimate` when it is first
read), so loading the extension does not load the work of many rows before a cell needs it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = ["VIAS", "Run", "batch", "batch_iter", "start"]

#: the dispatcher's names, from :mod:`.dispatch`
_LAZY = {"VIAS": "dispatch", "Run": "dispatch", "batch": "dispatch", "batch_iter": "dispatch",
         "start": "dispatch"}
#: the modules and packages of this package, loaded when first read as attributes
MODULES = ("aio", "budget", "compare", "counts", "dispatch", "engines", "estimate", "frame",
           "gate", "jobs", "rerun", "review", "runs", "score", "stop", "threads", "unique")

if TYPE_CHECKING:  # the modules, as the type checker sees them (loaded on first read)
    from . import aio as aio
    from . import budget as budget
    from . import compare as compare
    from . import counts as counts
    from . import dispatch as dispatch
    from . import engines as engines
    from . import estimate as estimate
    from . import frame as frame
    from . import gate as gate
    from . import jobs as jobs
    from . import rerun as rerun
    from . import review as review
    from . import runs as runs
    from . import score as score
    from . import stop as stop
    from . import threads as threads
    from . import unique as unique
    from .dispatch import VIAS, Run, batch, batch_iter, start


if not TYPE_CHECKING:  # the type checker sees the imports above, and every typo

    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        elif name in MODULES:
            value = import_module(f".{name}", __name__)
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(MODULES))
