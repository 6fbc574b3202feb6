"""structmagic: schema-validated, streamed LLM answers in Jupyter.

``%load_ext structmagic`` registers ``%%structured``, ``%structured_config`` and
``%structured_batches``; the same machinery is available from Python as :func:`structured`,
:func:`batch` and :func:`submit_batch` (a provider batch job, see :class:`BatchJob`), and
:func:`estimate` says what a batch would cost before it runs.

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
    "CassetteError",
    "CassetteMissError",
    "ConfigError",
    "ContentFilterError",
    "Extractor",
    "InputError",
    "InvalidOutputError",
    "RateLimitError",
    "RefusalError",
    "Result",
    "SchemaError",
    "SchemaSpec",
    "ServerError",
    "StreamError",
    "StructuredError",
    "StructuredMagics",
    "TransportError",
    "TruncatedError",
    "UnsupportedFormatError",
    "UnsupportedInputError",
    "ValidationIssue",
    "__version__",
    "batch",
    "compare",
    "compare_each",
    "configure",
    "estimate",
    "load_ipython_extension",
    "load_schema",
    "score",
    "structured",
    "submit_batch",
    "unload_ipython_extension",
]

_LAZY = {
    "structured": "api",
    "batch": "batching",
    "Extractor": "engines",
    "compare": "comparison",
    "compare_each": "comparison",
    "score": "scoring",
    "BatchInterrupted": "batching",
    "BatchJob": "batchapi",
    "submit_batch": "batchapi",
    "configure": "config",
    "estimate": "cost",
    "Result": "call.result",
    "SchemaSpec": "schema",
    "load_schema": "schema",
    "StructuredMagics": "magic",
}

if TYPE_CHECKING:
    from .api import structured
    from .batchapi import BatchJob, submit_batch
    from .batching import BatchInterrupted, batch
    from .call.result import Result
    from .comparison import compare, compare_each
    from .config import configure
    from .cost import estimate
    from .engines import Extractor
    from .errors import (
        AnswerError,
        APIError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        BatchError,
        BatchRowError,
        BatchUnavailableError,
        CassetteError,
        CassetteMissError,
        ConfigError,
        ContentFilterError,
        InputError,
        InvalidOutputError,
        RateLimitError,
        RefusalError,
        SchemaError,
        ServerError,
        StreamError,
        StructuredError,
        TransportError,
        TruncatedError,
        UnsupportedFormatError,
        UnsupportedInputError,
        ValidationIssue,
    )
    from .magic import StructuredMagics
    from .schema import SchemaSpec, load_schema
    from .scoring import score


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
    """``%load_ext structmagic``: register ``%%structured``, ``%structured_config`` and
    ``%structured_batches``."""
    from .magic import StructuredMagics

    ipython.register_magics(StructuredMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext structmagic``: nothing global to undo (no hooks were installed)."""
