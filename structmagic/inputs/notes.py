"""Notes on inputs: what structmagic changed in an input on its own, said once.

A note is an :class:`InputWarning` (a ``UserWarning``), one line in the cell's output::

    structmagic:0: InputWarning: Image 1 (bytes) has 3 frames; only the first is sent, ...

Each kind of note is given once per provider in a session (a column of 500 animated GIFs
says so once, not 500 times); :func:`forget_notes` starts over. Silence them with
``warnings.filterwarnings("ignore", category=structmagic.inputs.InputWarning)``.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Hashable

__all__ = ["InputWarning", "forget_notes", "note"]


class InputWarning(UserWarning):
    """Something structmagic did to an input on its own (an animation sent as its first
    frame, say)."""


_said: set[Hashable] = set()
_said_lock = threading.Lock()


def note(key: Hashable, text: str) -> None:
    """Say ``text`` as an :class:`InputWarning`, unless a note with this ``key`` was said."""
    with _said_lock:
        if key in _said:
            return
        _said.add(key)
    # no source line under it: one line, the same wherever the input was prepared (a
    # worker thread of a batch has no line of the user's to point at)
    warnings.warn_explicit(text, InputWarning, filename="structmagic", lineno=0,
                           module="structmagic.inputs")


def forget_notes() -> None:
    """Let every note be said again."""
    with _said_lock:
        _said.clear()
