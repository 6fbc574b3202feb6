"""What an estimate needs of a row's images and files: their kind and size, never more.

:func:`measure_inputs` reads each value as :func:`~structmagic.inputs.convert.prepare_inputs`
would (the same types, the same errors for an unreadable path or a value that cannot be
sent) but decodes nothing: an image's size comes from its header (with Pillow; from the
header of a PNG or GIF without it), a PDF's pages are counted in its bytes without a PDF
library (:func:`pdf_pages`: the page objects in the file, also inside its compressed object
streams; at least one), and a URL is not fetched (its size is unknown). The size limits are
not checked here: the run checks them before it sends anything.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from . import pictures as P
from .convert import DETAILS, as_list, classify
from .parts import DOCUMENT, GIF, IMAGE, PDF, PNG, Part, sniff

__all__ = ["Measured", "measure_inputs", "measure_part", "pdf_pages"]

#: a page object (``/Type /Page``, not ``/Pages``)
_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
#: a compressed object stream's type (its dictionary runs from ``obj`` to ``stream``)
_OBJSTM = re.compile(rb"/Type\s*/ObjStm(?![A-Za-z])")
#: the most a compressed object stream may unpack to (a bound on a hostile file)
_MAX_UNPACKED = 64 * 1024 * 1024


def pdf_pages(data: bytes) -> int:
    """The number of pages of the PDF ``data`` (at least 1)."""
    pages = len(_PAGE.findall(data))
    budget = _MAX_UNPACKED
    at = 0
    while budget > 0 and (found := _OBJSTM.search(data, at)) is not None:
        at = found.end()
        start = data.rfind(b"obj", max(0, found.start() - 2048), found.start())
        head_end = data.find(b"stream", found.end(), found.end() + 2048)
        if start < 0 or head_end < 0 or b"/FlateDecode" not in data[start:head_end]:
            continue
        body = head_end + len(b"stream")
        body += 2 if data[body:body + 2] == b"\r\n" else 1
        end = data.find(b"endstream", body)
        if end < 0:
            break  # no stream ends after this one: none does after any later one either
        at = end  # the search goes on after this stream's data (linear in the file)
        unpacker = zlib.decompressobj()
        try:
            unpacked = unpacker.decompress(data[body:end], budget)
        except zlib.error:
            continue
        budget -= len(unpacked)
        pages += len(_PAGE.findall(unpacked))
    return max(1, pages)


@dataclass(frozen=True)
class Measured:
    """One input as an estimate sees it: ``width`` / ``height`` None when unknown (a URL,
    an image Pillow is needed to read), ``pages`` for a PDF."""

    kind: str
    mime: str | None
    width: int | None = None
    height: int | None = None
    pages: int = 1
    detail: str | None = None


def measure_inputs(images: Any, files: Any, *, detail: str | None = None
                   ) -> tuple[Measured, ...]:
    """The kind and size of each of ``images`` and ``files``. Raises :class:`InputError`."""
    values = [(IMAGE, v) for v in as_list(images)] + [(DOCUMENT, v) for v in as_list(files)]
    if detail is not None and detail not in DETAILS:
        raise InputError(f"detail must be one of {', '.join(DETAILS)}, not {detail!r}.")
    counts = {IMAGE: 0, DOCUMENT: 0}
    out = []
    for kind, value in values:
        counts[kind] += 1
        out.append(_measure(value, kind, f"{'Image' if kind == IMAGE else 'File'} "
                                         f"{counts[kind]}", detail))
    return tuple(out)


def measure_part(part: Part, detail: str | None = None) -> Measured:
    """A prepared part, as an estimate sees it (its size as sent, its pages)."""
    pages = pdf_pages(part.data) if part.mime == PDF and part.data else 1
    return Measured(part.kind, part.mime, part.width, part.height, pages, part.detail or detail)


def _measure(value: Any, kind: str, what: str, detail: str | None) -> Measured:
    if isinstance(value, Part):
        return measure_part(value, detail)
    src = classify(value, what)
    if src.image is not None:  # a PIL image
        return Measured(IMAGE, None, src.image.width, src.image.height, detail=detail)
    if src.data is None:  # a URL: not fetched for an estimate
        return Measured(kind, None, detail=detail)
    mime = sniff(src.data)
    if mime == PDF:
        return Measured(DOCUMENT, PDF, pages=pdf_pages(src.data))
    width, height = _image_size(src.data, mime, f"{what} ({src.label})")
    return Measured(IMAGE, mime, width, height, detail=detail)


def _image_size(data: bytes, mime: str | None, what: str) -> tuple[int | None, int | None]:
    """The size in an image's header: by Pillow (which reads only the header), else a
    PNG's or a GIF's own header; (None, None) when neither can say."""
    if P.have_pillow():
        img = P.open_image(data, what)
        return img.width, img.height
    if mime == PNG and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if mime == GIF and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    return None, None
