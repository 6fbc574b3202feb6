"""Identical rows sent once (``dedup``, on by default; ``dedup=False`` / ``--no-dedup``).

Within one run (:func:`~structmagic.batch` and everything that runs rows in threads: ``--each``,
each model of a comparison, each partition of an :class:`~structmagic.Extractor`, an
estimate's sample, a batch job's re-run of its failed rows; and a provider batch job, one
line per unique request) a row whose request would be byte-for-byte the same as an earlier
row's is not sent: it gets a copy of that row's result.

The rule: two rows are the same request when their inputs are equal: the prompt (a str, or a
list of chat messages compared as their JSON text, keys in their order), its images, its
files and its grounding ``source``. Inputs are compared by value where that is cheap and
exact (str, bytes, numbers, None, and tuples or lists of these), by identity otherwise (a PIL
image, a figure, an array: the same object twice is the same request; two equal-looking
objects are two requests). Every row of a run has the same settings and the request builder
is deterministic, so equal inputs make equal requests. A row that differs in anything is
sent: nothing is compared by similarity.

Each row still gets its own :class:`~structmagic.Result`: a copy of the original's (its value
copied, never the same object, no widget shared), whose ``duplicate_of`` is the input
position of the row that was sent, whose ``cost`` is 0 and whose ``saved`` is what the
original cost (as answers from the recording say what they saved). A failed original fails
its copies the same way. Sampling on purpose (``samples=K`` or a temperature above 0, to
read several different answers to the same row) wants every row sent: ``dedup=False``.

The bookkeeping is small whatever the size of the column: :class:`FirstSeen` finds each
row's first occurrence in an open-addressing table of row positions, about 20 bytes a row
while the column is read (a dict of the keys would take 70), and :class:`Repeats` keeps
what a run needs afterwards: 8 bytes a row, and nothing when no row repeats.
"""

from __future__ import annotations

import copy
import json
from array import array
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from ..call.media import Nones
from ..call.result import Result

__all__ = ["FirstSeen", "Repeats", "copy_of", "renumber", "row_key"]

#: marks a value compared by identity, and a prompt of chat messages (their JSON text)
_SAME_OBJECT = object()
_MESSAGES = object()
_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15  # spreads hashes that differ only in high bits (object ids)


def _value_key(value: Any) -> Hashable:
    """A value's part of a row's key: itself when it compares cheaply and exactly, else its
    identity."""
    if value is None or type(value) in (str, bytes):
        return value
    if type(value) in (int, float, bool):  # 1, 1.0 and True are three values; -0.0 is not 0.0
        return (type(value).__name__, repr(value))
    if type(value) in (list, tuple):
        return tuple(_value_key(v) for v in value)
    return (_SAME_OBJECT, id(value))


def _prompt_key(prompt: Any) -> Hashable:
    """A prompt's part of a row's key: the text, or the messages' JSON text."""
    if type(prompt) is str:
        return prompt
    try:
        return (_MESSAGES, json.dumps(prompt, ensure_ascii=False, separators=(",", ":"),
                                      allow_nan=False))
    except (TypeError, ValueError, RecursionError):  # not plain JSON: the object itself
        return (_SAME_OBJECT, id(prompt))


def row_key(prompt: Any, images: Any = None, files: Any = None, source: Any = None
            ) -> Hashable:
    """What makes a row's request: equal keys, equal requests (the module's rule). The key
    holds the row's own values (or their identities), never a copy of them."""
    if images is None and files is None and source is None:
        return _prompt_key(prompt)
    return (_prompt_key(prompt), _value_key(images), _value_key(files), _value_key(source))


def _positions(size: int) -> str:
    """The array type code that holds a row position of a column of ``size`` rows."""
    return "i" if size < 2**31 - 1 else "q"


class FirstSeen:
    """Each row's first occurrence among the rows read so far, by key.

    An open-addressing table of row positions (at most half full, 4 bytes a slot below
    2**31 rows) and each row's hash (8 bytes a row): no key is kept; when two hashes match,
    the earlier row's key is made again from ``key_of`` and compared.
    """

    def __init__(self, size: int, key_of: Callable[[int], Hashable]) -> None:
        bits = max(4, (2 * max(size, 1) - 1).bit_length())
        self._shift = 64 - bits
        self._mask = (1 << bits) - 1
        self._slots = array(_positions(size), [-1]) * (1 << bits)
        self._hashes = array("q", bytes(8 * size))
        self._key_of = key_of

    def first(self, position: int) -> int:
        """The position of the first row read with the same key as row ``position`` (itself
        when none was); rows are read in order, each once."""
        key = self._key_of(position)
        h = hash(key)
        self._hashes[position] = h
        slots, hashes, mask = self._slots, self._hashes, self._mask
        slot = ((h & _M64) * _GOLDEN & _M64) >> self._shift
        while True:
            j = slots[slot]
            if j < 0:
                slots[slot] = position
                return position
            if hashes[j] == h and self._key_of(j) == key:
                return j
            slot = (slot + 1) & mask


class Repeats:
    """Which rows of a run repeat an earlier row (made once, before anything is sent).

    :meth:`original` gives a row's first occurrence, :attr:`unique` counts the rows to send,
    and :meth:`copies` how many later rows repeat a row; :meth:`delivered` counts down as
    they are handed over, so the original's result is dropped after its last copy.
    """

    def __init__(self, size: int, key_of: Callable[[int], Hashable] | None) -> None:
        self.size = size
        self.unique = size
        self._origin: array[int] | None = None
        self._left: array[int] | None = None
        if key_of is None or size < 2:
            return
        seen = FirstSeen(size, key_of)
        origin = array(_positions(size), [0]) * size
        left = array(_positions(size), [0]) * size
        repeated = 0
        for i in range(size):
            first = seen.first(i)
            origin[i] = first
            if first != i:
                left[first] += 1
                repeated += 1
        if repeated:
            self.unique = size - repeated
            self._origin, self._left = origin, left

    @classmethod
    def of(cls, size: int, on: bool, prompts: Sequence[Any], images: Sequence[Any],
           files: Sequence[Any], source: Sequence[Any]) -> Repeats:
        """The repeats among ``size`` rows (each with its images, files and source, one
        entry a row), or none when ``on`` is false."""
        if not on:
            return cls(size, None)
        if all(isinstance(v, Nones) for v in (images, files, source)):
            return cls(size, lambda i: _prompt_key(prompts[i]))  # the prompts alone
        return cls(size, lambda i: row_key(prompts[i], images[i], files[i], source[i]))

    @property
    def any(self) -> bool:
        """Whether some row repeats an earlier one."""
        return self._origin is not None

    def original(self, position: int) -> int:
        """The position of the row whose request row ``position`` makes (itself, unless it
        repeats an earlier row)."""
        return position if self._origin is None else self._origin[position]

    def copies(self, position: int) -> int:
        """How many later rows repeat row ``position`` and are still to be handed over."""
        return 0 if self._left is None else self._left[position]

    def delivered(self, original: int) -> bool:
        """One copy of row ``original`` was handed over; whether it was the last."""
        assert self._left is not None
        self._left[original] -= 1
        return self._left[original] == 0


def copy_of(result: Result, original: int) -> Result:
    """Row ``original``'s result for another row that made the same request: a Result of its
    own (its value, usage, grounding, confidence and agreement copied; no widget; the same
    error when it failed), with ``duplicate_of`` set; it made no request (``attempts`` 0),
    costs 0 and saved what the request would have cost (the original's cost, or what the
    recording saved it)."""
    out = Result.__new__(Result)
    state = result.__getstate__()  # priced now, without the widget
    state["data"], state["plain"] = copy.deepcopy((result.data, result.plain))
    state["usage"] = dict(result.usage)
    out.__setstate__(state)
    for name in ("grounding", "confidence", "agreement"):
        value = getattr(result, name)
        if isinstance(value, dict):
            setattr(out, name, dict(value))
    worth = None if result.cost is None else result.cost + (result.saved or 0.0)
    out.attempts, out.elapsed, out.from_cache = 0, 0.0, False
    out.duplicate_of = original
    out.cost, out.saved, out.cache_saved = 0.0, worth or None, None
    return out


def renumber(results: Sequence[Result], positions: Sequence[int]) -> None:
    """Results of a run over some rows (row ``k`` of the run is row ``positions[k]`` of the
    whole column): their ``duplicate_of`` made positions of the column."""
    for res in results:
        if res.duplicate_of is not None:
            res.duplicate_of = positions[res.duplicate_of]
