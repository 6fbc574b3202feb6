"""The input files of a job, written line by line to disk and split at the provider's limits.

Lines arrive one at a time and go straight into the current file (buffered writes); a new
file starts before a line would take the current one past ``max_requests`` lines or
``max_bytes`` bytes (counting the envelope an inline create body puts around them). Nothing
but the current line is held in memory, whatever the number of rows. Each part knows its
rows (a contiguous range of positions), its size and the SHA-256 of its content as it is
without the submission's mark (:func:`structmagic.rows.jobs.lines.build_lines`): the same
for every submission of the same rows, it keys the part's upload or create in a recording,
and tells a re-run whether it split the rows as the manifest says.

Reading back: :func:`read_lines` yields a part's lines; :func:`inline_body` streams the body
of a create request that carries them (``head``, the items joined by ``sep``, ``tail``).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ... import errors as E
from ...providers.batch import BatchLimits

__all__ = ["Part", "PartWriter", "inline_body", "inline_size", "read_lines"]

_BUFFER = 1 << 20


@dataclass
class Part:
    """One input file: rows ``start`` to ``stop - 1`` (those that were sent)."""

    index: int
    path: Path
    start: int
    stop: int = 0
    count: int = 0
    size: int = 0
    sha256: str = ""
    _hash: object = field(default=None, repr=False)


class PartWriter:
    """Writes lines into ``folder``, a new part whenever the next line would pass a limit.

    ``overhead`` is what a part's envelope adds to its size besides the lines (an inline
    create body's head and tail); ``separator`` the bytes between two lines in it.
    """

    def __init__(self, folder: Path, limits: BatchLimits, *, overhead: int = 0) -> None:
        self.folder = folder
        self.max_requests = limits.max_requests
        self.max_bytes = limits.max_bytes
        self.overhead = overhead
        self.parts: list[Part] = []
        self._file: object = None
        self._part: Part | None = None
        self._write: Callable[[bytes], object] | None = None
        self._update: Callable[[bytes], None] | None = None

    def fits_alone(self, line: bytes) -> bool:
        """Whether a line can go into a part at all."""
        return len(line) + self.overhead <= self.max_bytes

    def add(self, position: int, line: bytes, plain: bytes | None = None) -> None:
        """Append one row's line (newline-terminated); ``fits_alone`` must hold. ``plain``:
        the line without the submission's mark, which the part's SHA-256 hashes (default:
        the line). :class:`~structmagic.BatchError` when the file cannot be written (a full
        disk)."""
        try:
            part = self._part
            if part is None or (self.max_requests is not None
                                and part.count >= self.max_requests
                                ) or part.size + len(line) + self.overhead > self.max_bytes:
                part = self._open(position)
            assert self._write is not None and self._update is not None
            self._write(line)
        except OSError as exc:
            raise self._failed(exc) from None
        self._update(line if plain is None else plain)
        part.count += 1
        part.size += len(line)
        part.stop = position + 1

    def _open(self, position: int) -> Part:
        self._close()
        part = Part(index=len(self.parts), path=self.folder / f"part-{len(self.parts)}.jsonl",
                    start=position)
        fh = open(part.path, "wb", buffering=_BUFFER)  # noqa: SIM115 - closed in _close
        digest = hashlib.sha256()
        part._hash = digest
        self._file, self._part = fh, part
        self._write, self._update = fh.write, digest.update
        self.parts.append(part)
        return part

    def _close(self) -> None:
        if self._part is not None:
            self._file.close()  # type: ignore[attr-defined]  # flushes: may raise OSError
            self._part.sha256 = self._part._hash.hexdigest()  # type: ignore[attr-defined]
            self._part._hash = None
        self._file = self._part = self._write = self._update = None

    def close(self) -> list[Part]:
        """Finish the last part; the parts written."""
        try:
            self._close()
        except OSError as exc:
            raise self._failed(exc) from None
        return self.parts

    def _failed(self, exc: OSError) -> E.BatchError:
        """The error for a file that could not be written; the open file closed."""
        where = exc.filename or (self._part.path if self._part is not None else self.folder)
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()  # type: ignore[attr-defined]
        self._file = self._part = self._write = self._update = None
        return E.BatchError(
            f"Could not write the batch input file {where} ({exc.strerror or exc}); nothing "
            "was submitted.",
            hint="Free some disk space, or point TMPDIR at a folder with room (the input "
            "files are written there before they are sent).")


def read_lines(path: Path) -> Iterator[bytes]:
    """The lines of an input file, one at a time (without their newline)."""
    with open(path, "rb", buffering=_BUFFER) as fh:
        for line in fh:
            line = line.rstrip(b"\r\n")
            if line:
                yield line


def inline_size(part: Part, head: bytes, sep: bytes, tail: bytes) -> int:
    """The size of the inline create body of ``part`` when its items are its lines."""
    return len(head) + part.size - part.count + max(0, part.count - 1) * len(sep) + len(tail)


def inline_body(part: Part, head: bytes, sep: bytes, tail: bytes,
                item: Callable[[bytes], bytes] | None = None, *, chunk: int = 1 << 16
                ) -> Iterable[bytes]:
    """The create body that carries ``part``'s requests, in chunks of about ``chunk`` bytes."""
    out = bytearray(head)
    first = True
    for line in read_lines(part.path):
        if not first:
            out += sep
        first = False
        out += item(line) if item is not None else line
        if len(out) >= chunk:
            yield bytes(out)
            out.clear()
    out += tail
    yield bytes(out)
