"""Shared pieces of the input tests: small images and PDFs made here (no files shipped), and
a responder answering in whichever wire format a request came in, behind the part checks."""

from __future__ import annotations

import io
import json
from typing import Any

from fake_media import checking, format_of
from fakeserver import RecordedRequest, Reply, chat
from providers import anthropic, gemini, responses

SCHEMA = {"type": "object", "properties": {"total": {"type": "number"}},
          "required": ["total"], "additionalProperties": False}
ANSWER = {"total": 12.5}
TEXT = json.dumps(ANSWER)
PROVIDERS = ("openai", "responses", "anthropic", "gemini")

#: the smallest PDF a reader opens (the server only sniffs %PDF-)
PDF = (b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
       b"2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n"
       b"trailer <</Root 1 0 R>>\n%%EOF\n")


def picture(size: tuple[int, int] = (40, 30), colour: str = "red", mode: str = "RGB") -> Any:
    """A PIL image: one coloured rectangle on white (few colours: encoded as PNG)."""
    from PIL import Image, ImageDraw

    img = Image.new(mode, size, "white")
    ImageDraw.Draw(img).rectangle((size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2),
                                  fill=colour)
    return img


def photo(size: tuple[int, int] = (400, 300), seed: int = 0) -> Any:
    """A PIL image with many colours (a gradient and noise): encoded as JPEG."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 255 // max(w, 1), y * 255 // max(h, 1), (x + y) * 255 // (w + h)], -1)
    arr = (arr + rng.integers(-25, 25, arr.shape)).clip(0, 255).astype("uint8")
    return Image.fromarray(arr, "RGB")


def encoded(img: Any, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    return encoded(picture(size), "PNG")


def jpeg(size: tuple[int, int] = (40, 30)) -> bytes:
    return encoded(picture(size), "JPEG", quality=90)


def gif(size: tuple[int, int] = (40, 30)) -> bytes:
    return encoded(picture(size), "GIF")


def webp(size: tuple[int, int] = (40, 30)) -> bytes:
    return encoded(picture(size), "WEBP")


def answer_in_format(req: RecordedRequest, text: str = TEXT) -> Reply:
    """A plain (not streamed) answer in the request's own wire format."""
    fmt = format_of(req.path)
    if fmt == "responses":
        return responses(text)
    if fmt == "anthropic":
        return anthropic(text)
    if fmt == "gemini":
        return gemini(text)
    return chat(text)


#: answers every request in its format, after checking its parts (400 if malformed)
respond = checking(answer_in_format)
