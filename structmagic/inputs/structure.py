"""Whether an image or PDF file is whole, and how many frames an image has, read from its
structure without decoding it. Pure, stdlib only.

A file cut short keeps its header, so it is sniffed and opened as if it were whole; a server
then refuses it after a round trip (in a batch, every row that carries it). :func:`examine`
walks the file the way a decoder does and says what is missing:

- **JPEG**: its segments, and the entropy-coded data after each start of scan, up to the
  end-of-image marker (bytes after it are ignored, as decoders do);
- **PNG**: its chunks up to ``IEND``, the checksum of each critical chunk (``IHDR``,
  ``PLTE``, ``IDAT``, ``IEND``) checked, as libpng does; an ``acTL`` chunk gives its frames;
- **GIF**: its blocks (each image's data sub-blocks) up to the trailer; its images are its
  frames;
- **WebP**: the RIFF size against the bytes there, and each chunk within it; ``ANMF``
  chunks are its frames;
- **PDF**: an ``%%EOF`` marker in its last kilobyte (trailing whitespace and NULs aside).

With Pillow, an image is also decoded in full before it is sent as it is
(:func:`structmagic.inputs.pictures.decode`); this check is what remains without it, and it
is cheap enough to make always.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

from .parts import GIF, JPEG, PDF, PNG, WEBP

__all__ = ["Structure", "examine"]


@dataclass(frozen=True)
class Structure:
    """What :func:`examine` found: ``problem`` (None for a whole file, else what is wrong:
    "a truncated JPEG: it ends before its end-of-image marker") and ``frames`` (more than 1
    for an animation)."""

    problem: str | None = None
    frames: int = 1


def examine(data: bytes, mime: str | None) -> Structure:
    """The structure of ``data`` of the (sniffed) type ``mime``; other types pass as whole."""
    walk = _WALKS.get(mime or "")
    return walk(data) if walk is not None else Structure()


def _name(kind: bytes) -> str:
    """A chunk's four-byte type, printable (``IDAT``; ``\\x00\\x00\\x00\\x00`` in a
    damaged file)."""
    return repr(kind)[2:-1]


def _cut(kind: str, where: str) -> Structure:
    return Structure(f"a truncated {kind}: it ends {where}")


def _damaged(kind: str, what: str) -> Structure:
    return Structure(f"a damaged {kind}: {what}")


# --- JPEG ----------------------------------------------------------------------------------------

#: the next marker in entropy-coded data: 0xFF followed by neither a stuffed 0x00, nor a
#: restart marker (0xD0-0xD7), nor another 0xFF (a fill byte: the marker follows the last)
_MARKER_IN_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def _jpeg(data: bytes) -> Structure:
    n, at = len(data), 2  # after the start-of-image marker
    end = "before its end-of-image marker"
    while True:
        at = data.find(b"\xff", at)  # decoders skip stray bytes between segments too
        if at < 0:
            return _cut("JPEG", end)
        while at < n and data[at] == 0xFF:
            at += 1
        if at >= n:
            return _cut("JPEG", end)
        marker = data[at]
        at += 1
        if marker == 0xD9:
            return Structure()
        if marker in _STANDALONE or marker == 0x00:
            continue
        if at + 2 > n:
            return _cut("JPEG", end)
        (length,) = struct.unpack_from(">H", data, at)
        if length < 2:
            return _damaged("JPEG", f"a segment (marker {marker:02X}) is {length} bytes long")
        at += length
        if at > n:
            return _cut("JPEG", "inside a segment")
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next marker
            found = _MARKER_IN_SCAN.search(data, at)
            if found is None:
                return _cut("JPEG", "inside its image data")
            at = found.start()


# --- PNG ---------------------------------------------------------------------------------------


def _png(data: bytes) -> Structure:
    n, at, frames = len(data), 8, 1
    while at + 8 <= n:
        length, kind = struct.unpack_from(">I4s", data, at)
        end = at + 12 + length
        name = _name(kind)
        if end > n:
            return _cut("PNG", f"inside its {name} chunk")
        if not kind[0] & 0x20:  # a critical chunk: libpng refuses one that fails its CRC
            (crc,) = struct.unpack_from(">I", data, end - 4)
            if zlib.crc32(data[at + 4 : end - 4]) != crc:
                return _damaged("PNG", f"its {name} chunk fails its checksum")
        if kind == b"acTL" and length >= 8:
            frames = max(1, struct.unpack_from(">I", data, at + 8)[0])
        if kind == b"IEND":
            return Structure(frames=frames)
        at = end
    return _cut("PNG", "before its IEND chunk")


# --- GIF ---------------------------------------------------------------------------------------


def _sub_blocks(data: bytes, at: int) -> int:
    """Where the data sub-blocks from ``at`` end (after their 0 terminator); -1 if cut."""
    n = len(data)
    while at < n:
        size = data[at]
        at += 1 + size
        if size == 0:
            return at
    return -1


def _colour_table(flags: int) -> int:
    return 3 * (2 << (flags & 7)) if flags & 0x80 else 0


def _gif(data: bytes) -> Structure:
    n = len(data)
    if n < 13:
        return _cut("GIF", "inside its header")
    at, frames = 13 + _colour_table(data[10]), 0
    while at < n:
        block = data[at]
        if block == 0x3B:  # the trailer
            return Structure(frames=max(1, frames))
        if block == 0x21:  # an extension: a label, then sub-blocks
            at = _sub_blocks(data, at + 2)
        elif block == 0x2C:  # an image: its descriptor, colour table, code size, data
            if at + 10 > n:
                break
            at = _sub_blocks(data, at + 10 + _colour_table(data[at + 9]) + 1)
            frames += 1
        elif block == 0x00:  # padding some writers leave between blocks
            at += 1
        else:
            return _damaged("GIF", f"an unknown block (byte {block:02X}) at offset {at}")
        if at < 0:
            break
    return _cut("GIF", "before its trailer")


# --- WebP --------------------------------------------------------------------------------------


def _webp(data: bytes) -> Structure:
    n = len(data)
    if n < 12:
        return _cut("WebP", "inside its header")
    (size,) = struct.unpack_from("<I", data, 4)
    end = 8 + size
    if end > n:
        return _cut("WebP", f"after {n:,} of the {end:,} bytes its header gives")
    at, frames, image = 12, 0, False
    while at + 8 <= end:
        kind, length = struct.unpack_from("<4sI", data, at)
        if at + 8 + length > end:
            return _cut("WebP", f"inside its {_name(kind)} chunk")
        frames += kind == b"ANMF"
        image = image or kind in (b"VP8 ", b"VP8L", b"ANMF")
        at += 8 + length + (length & 1)
    if not image:
        return _damaged("WebP", "it holds no image data")
    return Structure(frames=max(1, frames))


# --- PDF ---------------------------------------------------------------------------------------


def _pdf(data: bytes) -> Structure:
    if b"%%EOF" not in data.rstrip(b" \t\r\n\f\x00")[-1024:]:
        return Structure("a truncated PDF: it does not end with %%EOF")
    return Structure()


_WALKS = {JPEG: _jpeg, PNG: _png, GIF: _gif, WEBP: _webp, PDF: _pdf}
