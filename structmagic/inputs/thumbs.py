"""Thumbnails of a call's inputs, as safe HTML and as plain text.

Every image shown is a small ``data:`` URL made in the kernel from the user's own pixels
(:func:`structmagic.inputs.pictures.thumbnail_url`), checked again here to be exactly that —
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


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _chip(item: InputSummary) -> str:
    label = _esc(item.label or item.describe())
    about = _esc(item.describe())
    thumb = item.thumbnail
    if item.url is None and thumb and _SAFE_DATA_URL.fullmatch(thumb):
        return (f'<span class="structmagic-input" style="{_CHIP}" title="{label} · {about}">'
                f'<img src="{_esc(thumb)}" alt="{label}" style="max-height:64px;'
                f'max-width:96px;display:block"></span>')
    icon = "🖼" if item.kind == IMAGE else "📄"
    text = _esc(item.url) if item.url is not None else f"{label} · {about}"
    return (f'<span class="structmagic-input" style="{_CHIP}" title="{about}">{icon} '
            f'<span style="overflow-wrap:anywhere">{text}</span></span>')


def thumbnails_html(inputs: Sequence[InputSummary]) -> str:
    """A row of thumbnails (or labelled chips), ``""`` for no inputs. Self-contained."""
    if not inputs:
        return ""
    chips = "".join(_chip(item) for item in inputs)
    return f'<div class="structmagic-inputs" style="margin:2px 0 4px 0">{chips}</div>'


def inputs_text(inputs: Sequence[InputSummary]) -> str:
    """``"inputs: 2 images, 1 PDF"`` for a ``text/plain`` view; ``""`` for none."""
    described = describe_inputs(inputs)
    return f"inputs: {described}" if described else ""
