"""Thumbnails of a call's inputs, as safe HTML and as plain text.

Every image shown is a ``data:`` URL made in the kernel from the user's own pixels
(:func:`structmagic.inputs.pictures.thumbnail_url`, and for the picture a click on a
thumbnail opens, :func:`~structmagic.inputs.pictures.preview_url`), checked again here to
be exactly that —
an image MIME type and base64 — before it is escaped into a fixed template. A URL input is
shown as its escaped text, never loaded; no URL a model wrote ever reaches this module.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from .parts import IMAGE, InputSummary, describe_inputs

__all__ = ["inputs_text", "thumbnails_html"]

_SAFE_DATA_URL = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}")
_MUTED = "var(--jp-ui-font-color2, #616161)"
_BORDER = "var(--jp-border-color2, #e0e0e0)"
_CHIP = (f"display:inline-flex;align-items:center;gap:4px;margin:2px 6px 2px 0;"
         f"padding:2px 4px;border:1px solid {_BORDER};border-radius:4px;"
         f"color:{_MUTED};font-size:85%;vertical-align:middle;max-width:100%")
#: a picture's box: its thumbnail in the row, the whole picture below it once opened
_BOX = "display:inline-block;vertical-align:top;max-width:100%;margin:0"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _safe(url: str | None) -> str | None:
    """``url`` when it is a data: URL of an image made in the kernel, else None."""
    return url if url and _SAFE_DATA_URL.fullmatch(url) else None


def _chip(item: InputSummary) -> str:
    label = _esc(item.label or item.describe())
    about = _esc(item.describe())
    thumb = _safe(item.thumbnail) if item.url is None else None
    preview = _safe(item.preview) if item.url is None else None
    if thumb:
        face = (f'<img src="{_esc(thumb)}" alt="{label}" style="max-height:64px;'
                f'max-width:96px;display:block">')
    else:
        icon = "🖼" if item.kind == IMAGE else "📄"
        text = _esc(item.url) if item.url is not None else f"{label} · {about}"
        face = f'{icon} <span style="overflow-wrap:anywhere">{text}</span>'
    if preview is None:
        return (f'<span class="structmagic-input" style="{_CHIP}" title="{label} · {about}">'
                f"{face}</span>")
    # a click opens the picture at full width, inline: a <details>, no script, no request
    return (f'<details class="structmagic-input structmagic-picture" style="{_BOX}">'
            f'<summary style="{_CHIP};display:inline-flex;list-style:none;cursor:zoom-in" '
            f'title="{label} · {about} · click to see it whole">{face}</summary>'
            f'<img src="{_esc(preview)}" alt="{label}, whole" style="display:block;'
            f'max-width:100%;height:auto;margin:4px 0;border:1px solid {_BORDER}"></details>')


def thumbnails_html(inputs: Sequence[InputSummary]) -> str:
    """A row of thumbnails (or labelled chips), ``""`` for no inputs. Self-contained. An
    image's thumbnail opens, on a click, the picture itself at the output's full width
    (at most ``PREVIEW_EDGE`` pixels, a data: URL made in the kernel), so that a reading
    can be checked against it; a second click closes it."""
    if not inputs:
        return ""
    chips = "".join(_chip(item) for item in inputs)
    return f'<div class="structmagic-inputs" style="margin:2px 0 4px 0">{chips}</div>'


def inputs_text(inputs: Sequence[InputSummary]) -> str:
    """``"inputs: 2 images, 1 PDF"`` for a ``text/plain`` view; ``""`` for none."""
    described = describe_inputs(inputs)
    return f"inputs: {described}" if described else ""
