"""What an estimate needs of a row's images and files: their kind and size, never more.

:func:`measure_inputs` reads each value as :func:`~structmagic.inputs.convert.prepare_inputs`
would (the same types, the same errors for an unreadable path or a value that cannot be
sent) but decodes nothing: an image's size comes from its header (with Pillow; from the
header of a PNG or GIF without it), a PDF's pages are counted in its bytes, and a URL is
not fetched (its size is unknown). The size limits are not checked here: the run checks
them before it sends anything.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from . import pictures as P
from .convert import DETAILS, _classify, as_list
from .parts import DOCUMENT, GIF, IMAGE, PDF, PNG, Part, sniff

__all__ = ["Measured", "measure_inputs", "measure_part"]


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
    pages = _pages(part.data) if part.mime == PDF and part.data else 1
    return Measured(part.kind, part.mime, part.width, part.height, pages, part.detail or detail)


def _measure(value: Any, kind: str, what: str, detail: str | None) -> Measured:
    if isinstance(value, Part):
        return measure_part(value, detail)
    src = _classify(value, what)
    if src.image is not None:  # a PIL image
        return Measured(IMAGE, None, src.image.width, src.image.height, detail=detail)
    if src.data is None:  # a URL: not fetched for an estimate
        return Measured(kind, None, detail=detail)
    mime = sniff(src.data)
    if mime == PDF:
        return Measured(DOCUMENT, PDF, pages=_pages(src.data))
    width, height = _image_size(src.data, mime, f"{what} ({src.label})")
    return Measured(IMAGE, mime, width, height, detail=detail)


def _pages(data: bytes) -> int:
    from ..cost.media import pdf_pages

    return pdf_pages(data)


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
