"""Shared pieces of the input tests: small images and PDFs made here (no files shipped), and
a responder answering in whichever wire format a request came in, behind the part checks."""

from __future__ import annotations

import io
import json
import struct
import zlib
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


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data)))


def tiny_png(w: int = 2, h: int = 2) -> bytes:
    """A whole greyscale PNG made without Pillow (for the tests of an install without it)."""
    rows = b"".join(b"\0" + bytes(w) for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def tiny_gif() -> bytes:
    """A whole one-pixel GIF made without Pillow."""
    return (b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + bytes(6)
            + b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00;")


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


def gradient(mode: str, size: tuple[int, int] = (256, 8)) -> Any:
    """A PIL image in ``mode`` that runs from black on the left to white on the right over
    the mode's whole range (0 to 65535 in the 16-bit modes and "I", 0.0 to 1.0 in "F"; in
    "1", black then white), made without any conversion that could clip it."""
    import numpy as np
    from PIL import Image

    w, h = size
    ramp = np.repeat(np.linspace(0.0, 1.0, w)[None, :], h, axis=0)
    if mode.startswith("I;16"):
        order = {"I;16B": ">", "I;16N": "="}.get(mode, "<")
        return Image.frombytes(mode, size, (ramp * 65535).round().astype(f"{order}u2").tobytes())
    if mode == "I":
        return Image.fromarray((ramp * 65535).round().astype("int32"))
    if mode == "F":
        return Image.fromarray(ramp.astype("float32"))
    grey = Image.fromarray((ramp * 255).round().astype("uint8"))

    def flat(value: int) -> Any:
        return Image.new("L", size, value)

    if mode == "1":
        return Image.fromarray(ramp >= 0.5)
    if mode in ("P", "PA"):
        img = Image.frombytes("P", size, grey.tobytes())
        img.putpalette([v for v in range(256) for _ in range(3)])
        return img if mode == "P" else img.convert("PA")
    bands = {"L": (grey,), "LA": (grey, flat(255)), "La": (grey, flat(255)),
             "RGB": (grey,) * 3, "RGBA": (grey, grey, grey, flat(255)),
             "RGBa": (grey, grey, grey, flat(255)), "RGBX": (grey, grey, grey, flat(255)),
             "CMYK": (flat(0), flat(0), flat(0), grey.point(lambda v: 255 - v)),
             "YCbCr": (grey, flat(128), flat(128)), "LAB": (grey, flat(128), flat(128)),
             "HSV": (flat(0), flat(0), grey)}[mode]
    return Image.merge(mode, bands)


def column_levels(data: bytes) -> list[float]:
    """The mean grey level (0-255) of each column of the encoded image ``data``, as a viewer
    shows it (alpha ignored)."""
    import numpy as np
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    img.load()
    if img.mode not in ("1", "L", "RGB"):
        img = img.convert("RGBA").convert("RGB")
    return [float(v) for v in np.asarray(img.convert("L"), dtype="float64").mean(axis=0)]


def animation(fmt: str, colours: tuple[str, ...] = ("red", "lime", "blue"),
              size: tuple[int, int] = (40, 30)) -> bytes:
    """An animated GIF, APNG (``fmt="PNG"``) or WebP: one flat frame per colour."""
    from PIL import Image

    frames = [Image.new("RGB", size, colour) for colour in colours]
    return encoded(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100,
                   loop=0)


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
