"""The input tokens of images and documents, for estimates: never 4 bytes of base64 a token.

Each provider declares how it counts them (:class:`structmagic.inputs.parts.MediaTokens` on
its :attr:`~structmagic.providers.Provider.inputs`): an image by its size as sent (tiles or
pixels), a PDF by its pages. :func:`input_tokens` applies that rule to one measured input
(:func:`structmagic.inputs.measure.measure_inputs`), and
:func:`pdf_pages` counts a PDF's pages without a PDF library: the page objects in the file,
also inside its compressed object streams; a PDF whose pages cannot be found counts as one
page, and a document of another type as one page.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..inputs.measure import Measured
    from ..inputs.parts import InputLimits

__all__ = ["input_tokens", "inputs_tokens", "pdf_pages"]

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


def input_tokens(item: Measured, limits: InputLimits) -> int:
    """The input tokens of one measured image or document by ``limits``' rule."""
    rule = limits.tokens
    if item.kind == "image":
        detail = item.detail if limits.detail else None
        return rule.image(limits, item.width, item.height, detail)
    return rule.page * max(1, item.pages)


def inputs_tokens(items: Iterable[Measured], limits: InputLimits) -> int:
    """The input tokens of all of ``items``."""
    return sum(input_tokens(item, limits) for item in items)
