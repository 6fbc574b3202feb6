"""Where the code runs: a Jupyter kernel (widgets can be shown), a terminal, or neither."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["has_kernel", "in_kernel", "interactive"]


def has_kernel(shell: Any) -> bool:
    """Whether ``shell`` is a kernel's (a frontend may show widgets)."""
    return getattr(shell, "kernel", None) is not None


def in_kernel() -> bool:
    """Whether a Jupyter kernel runs this code (IPython already imported, never imported here)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    return has_kernel(ipython.get_ipython())


def interactive(shell: Any) -> bool:
    """Whether someone can be asked for input (a kernel's frontend, or a terminal)."""
    if has_kernel(shell):
        return True  # the kernel's getpass fails at once when the frontend has no stdin
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False
