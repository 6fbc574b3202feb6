"""Images and documents as input: user values into provider-neutral parts.

::

    values (PIL image, path, bytes, URL, data URL, IPython Image, matplotlib figure, PDF)
      -> prepare_inputs(images, files, provider)     convert.py: sniff, downscale, encode,
                                                      structure.py: whole files only,
                                                      checks.py: limits, before any request,
                                                      notes.py: what was changed, said once
      -> tuple[Part, ...]                             parts.py: immutable, provider-neutral
      -> the user message's content: [*parts, text]  each provider renders a Part its own way
      -> payload_refs(body, parts)                    record.py: recordings keep hashes only
      -> InputSummary on the Result                   thumbs.py: thumbnails and "2 images"
      -> text_source(parts)                           pdftext.py: the PDFs' text layer, the
                                                      source values are grounded in

Pillow is optional (``pip install 'structmagic[pillow]'``): without it, images given as
bytes or files are sent as they are, and whatever needs it says so. pypdf is optional too
(``pip install 'structmagic[pdf]'``): only grounding in a PDF's text layer needs it.

Importing this package loads the standard library only (the providers declare their limits
with :mod:`.parts`); Pillow and pypdf are imported on first use.
"""

from __future__ import annotations

from typing import Any

from .convert import prepare_inputs as prepare
from .notes import InputWarning
from .parts import (
    DOCUMENT,
    IMAGE,
    PDF,
    InputLimits,
    InputSummary,
    Part,
    describe_inputs,
    human_size,
    sniff,
)
from .pdftext import pdf_pages, text_source

__all__ = [
    "DOCUMENT",
    "IMAGE",
    "PDF",
    "InputLimits",
    "InputSummary",
    "InputWarning",
    "Part",
    "describe_inputs",
    "human_size",
    "pdf_pages",
    "prepare_inputs",
    "sniff",
    "text_source",
]


def prepare_inputs(*args: Any, **kwargs: Any) -> tuple[Part, ...]:
    """See :func:`structmagic.inputs.convert.prepare_inputs`."""

    return prepare(*args, **kwargs)
