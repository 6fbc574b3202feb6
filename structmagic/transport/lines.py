"""Files of JSON lines that several processes share: the recording (:mod:`.cassette`) and
the corrections file (:mod:`.corrections`).

- :func:`flock` — an advisory lock on an open file, where the platform has one;
- :func:`append_line` — one line appended under the exclusive lock, whole (a single write of
  the bytes), starting on a new line even after a line a killed writer cut off, so two
  kernels appending at once lose nothing;
- :func:`line_problem` — what is wrong with a damaged line, in a few words, without quoting
  it (a line may hold what is not ours to print).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: appends are not locked
    fcntl = None  # type: ignore[assignment]

__all__ = ["append_line", "flock", "line_problem"]


def flock(fd: int, *, exclusive: bool) -> bool:
    """An advisory lock on ``fd`` until it is closed; False where there is none to take."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    except OSError:  # a file system without locks
        return False
    return True


def line_problem(exc: BaseException, raw: bytes) -> str:
    """What is wrong with a damaged line, without quoting it."""
    if raw.lstrip().startswith((b"<<<<<<<", b"=======", b">>>>>>>", b"|||||||")):
        return "a merge-conflict marker"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r} field"
    return str(exc)


def append_line(path: Path, data: bytes) -> None:
    """Append ``data`` (one line, ending in a newline) to ``path`` under the exclusive lock,
    on a line of its own; the folders are made. Raises :class:`OSError` when it cannot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        flock(fd, exclusive=True)
        size = os.fstat(fd).st_size
        if size:
            os.lseek(fd, size - 1, os.SEEK_SET)
            if os.read(fd, 1) != b"\n":  # the last line was cut off: ours starts anew
                data = b"\n" + data
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)  # releases the lock
