"""structmagic: schema-validated, streamed LLM answers in Jupyter.

``%load_ext structmagic`` registers ``%%structured``, ``%structured_config``,
``%structured_schema``, ``%structured_batches`` and ``%structured_review``; the same
machinery is available from Python as :func:`structured`, :func:`batch` (:func:`batch_iter`
yields its results one by one, in input order) and :func:`submit_batch` (a provider batch
job, see :class:`BatchJob`), :func:`estimate` says what a batch would cost before it runs,
:func:`astructured`, :func:`astream` and :func:`abatch` are their async twins (for an event
loop that runs), and :func:`schema_dsl` turns schema text (``"name, age int, bio: a short
bio"``) into a JSON Schema; :func:`ground` finds each value of an answer in its source text
(``ground=True`` does it for every call), :func:`grounding_frame` lists where, row by row;
:func:`rerun` runs again only the failed, doubtful or ungrounded rows of a column;
:func:`review` walks a column's rows in a widget to accept or correct each (kept in a
corrections file: :func:`load_corrections` reads it, as labels for :func:`score` or few-shot
examples).

Importing the package is cheap and has no side effects: every public name below is loaded
on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "APITimeoutError",
    "AnswerError",
    "AuthenticationError",
    "BadRequestError",
    "BatchError",
    "BatchInterrupted",
    "BatchJob",
    "BatchRowError",
    "BatchUnavailableError",
    "CallInterrupted",
    "CassetteError",
    "CassetteMissError",
    "ConfigError",
    "ContentFilterError",
    "Extractor",
    "InputError",
    "Interrupted",
    "InvalidOutputError",
    "NotRun",
    "RateLimitError",
    "RefusalError",
    "Result",
    "SchemaError",
    "SchemaIgnoredError",
    "SchemaSpec",
    "ServerError",
    "StreamError",
    "StructuredError",
    "StructuredMagics",
    "TransportError",
    "TruncatedError",
    "UngroundedError",
    "UnsupportedFormatError",
    "UnsupportedInputError",
    "ValidationIssue",
    "__version__",
    "abatch",
    "astream",
    "astructured",
    "batch",
    "batch_iter",
    "compare",
    "compare_each",
    "configure",
    "estimate",
    "ground",
    "grounding_frame",
    "load_corrections",
    "load_ipython_extension",
    "load_schema",
    "rerun",
    "review",
    "schema_dsl",
    "score",
    "structured",
    "submit_batch",
    "unload_ipython_extension",
]

_LAZY = {
    "structured": "api",
    "astructured": "rows.aio",
    "astream": "rows.aio",
    "abatch": "rows.aio",
    "batch": "rows.dispatch",
    "batch_iter": "rows.dispatch",
    "Extractor": "rows.engines",
    "compare": "rows.compare",
    "compare_each": "rows.compare",
    "score": "rows.score",
    "BatchJob": "rows.jobs",
    "submit_batch": "rows.jobs",
    "configure": "config",
    "estimate": "rows.estimate",
    "ground": "grounding",
    "grounding_frame": "rows.frame",
    "rerun": "rows.rerun",
    "review": "rows.review",
    "load_corrections": "transport.corrections",
    "Result": "call.result",
    "SchemaSpec": "schema",
    "load_schema": "schema",
    "schema_dsl": "schema",
    "StructuredMagics": "magic",
}

if TYPE_CHECKING:
    from .api import structured
    from .call.result import Result
    from .config import configure
    from .errors import (
        AnswerError,
        APIError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        BatchError,
        BatchInterrupted,
        BatchRowError,
        BatchUnavailableError,
        CallInterrupted,
        CassetteError,
        CassetteMissError,
        ConfigError,
        ContentFilterError,
        InputError,
        Interrupted,
        InvalidOutputError,
        NotRun,
        RateLimitError,
        RefusalError,
        SchemaError,
        SchemaIgnoredError,
        ServerError,
        StreamError,
        StructuredError,
        TransportError,
        TruncatedError,
        UngroundedError,
        UnsupportedFormatError,
        UnsupportedInputError,
        ValidationIssue,
    )
    from .grounding import ground
    from .magic import StructuredMagics
    from .rows.aio import abatch, astream, astructured
    from .rows.compare import compare, compare_each
    from .rows.dispatch import batch, batch_iter
    from .rows.engines import Extractor
    from .rows.estimate import estimate
    from .rows.frame import grounding_frame
    from .rows.jobs import BatchJob, submit_batch
    from .rows.rerun import rerun
    from .rows.review import review
    from .rows.score import score
    from .schema import SchemaSpec, load_schema, schema_dsl
    from .transport.corrections import load_corrections


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
    elif name in __all__:
        value = getattr(import_module(".errors", __name__), name)
    else:
        raise AttributeError(f"module 'structmagic' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext structmagic``: register ``%%structured``, ``%structured_config``,
    ``%structured_schema``, ``%structured_batches`` and ``%structured_review``."""
    ipython.register_magics(__getattr__("StructuredMagics"))


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext structmagic``: nothing global to undo (no hooks were installed)."""
