"""Pillow's part: open, downscale, re-encode, thumbnail. Pillow is optional.

Without Pillow, images given as bytes or files are sent as they are (no downscaling, no
conversion); every feature that needs it (a PIL image, another format converted, a
thumbnail of a large image) says what to install: ``pip install 'structmagic[pillow]'``.

Downscaling is fast on big photos: a JPEG is decoded at a reduced scale (``draft``), and an
image is area-averaged (a box filter: by an integer factor first, then by the rest), which is
the usual filter for shrinking and about three times cheaper than Lanczos.
"""

from __future__ import annotations

import base64
import io
import re
import sys
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .parts import GIF, JPEG, PNG, WEBP

__all__ = [
    "PILLOW_HINT",
    "Picture",
    "encode",
    "have_pillow",
    "is_pil_image",
    "needs_turning",
    "open_image",
    "pillow",
    "shrink",
    "thumbnail_url",
    "upright_size",
]

PILLOW_HINT = "install Pillow: pip install 'structmagic[pillow]'"
#: JPEG quality of re-encoded photos
JPEG_QUALITY = 85
#: the longest edge of a thumbnail, in pixels
THUMB_EDGE = 96
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def have_pillow() -> bool:
    """Whether Pillow can be imported."""
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


def pillow(what: str) -> Any:
    """``PIL.Image``, or an :class:`InputError` saying that ``what`` needs Pillow."""
    try:
        import PIL.Image
    except ImportError:
        raise InputError(f"{what} needs Pillow; {PILLOW_HINT}.") from None
    return PIL.Image


def is_pil_image(value: Any) -> bool:
    """Whether ``value`` is a ``PIL.Image.Image`` (without importing Pillow for others)."""
    module = sys.modules.get("PIL.Image")
    cls = getattr(module, "Image", None)
    return isinstance(cls, type) and isinstance(value, cls)


def open_image(data: bytes, what: str) -> Any:
    """A lazily opened PIL image of ``data`` (only its header is read), or an InputError."""
    Image = pillow(what)
    try:
        return Image.open(io.BytesIO(data))
    except Exception as exc:  # UnidentifiedImageError, DecompressionBombError, OSError, ...
        raise InputError(f"{what} cannot be read as an image ({_why(exc)}).") from None


def _why(exc: BaseException) -> str:
    text = str(exc).split("\n", 1)[0]
    # Pillow names the in-memory file by its address: nothing the user can act on
    text = re.sub(r" ?<_io\.BytesIO object at 0x[0-9a-f]+>", "", text)
    return text[:160] or type(exc).__name__


@dataclass
class Picture:
    """An image re-encoded for sending: its bytes, type and size, and the PIL image it was
    encoded from (for a thumbnail)."""

    data: bytes
    mime: str
    width: int
    height: int
    image: Any


#: a JPEG decoded at a reduced scale is kept as it is when it is at least this share of the
#: target size (a few per cent smaller than the provider's maximum, and no resampling)
DRAFT_SLACK = 0.9


def shrink(img: Any, size: tuple[int, int], what: str, *, own: bool = False) -> Any:
    """``img``, upright, at about ``size``: area-averaged (a box filter, as OpenCV's
    ``INTER_AREA``), first by an integer factor, then by the rest.

    ``own``: the image was opened here (not the user's object), so a JPEG may be decoded at
    1/2, 1/4 or 1/8 scale; a result within :data:`DRAFT_SLACK` of ``size`` is kept as it is.
    The user's own image is never changed.
    """
    Image = pillow(what)
    try:
        drafted = False
        if own and img.format == "JPEG" and img.size != size:
            turned = _orientation(img) in _TURNED
            want = (int(size[0] * DRAFT_SLACK), int(size[1] * DRAFT_SLACK))
            drafted = img.draft("RGB", want[::-1] if turned else want) is not None
        img = _upright(img)
        if img.size == size:
            return img
        if drafted and img.width <= size[0] and img.height <= size[1]:
            return img  # decoded within the slack of the target: no resampling
        factor = min(img.width // size[0], img.height // size[1])
        if factor >= 2:
            img = img.reduce(factor)
        if img.mode not in ("1", "L", "LA", "RGB", "RGBA", "I", "F"):
            img = img.convert("RGBA" if _has_alpha(img) else "RGB")
        return img.resize(size, Image.Resampling.BOX)
    except InputError:
        raise
    except Exception as exc:  # a truncated or damaged file shows only when decoded
        raise InputError(f"{what} cannot be decoded ({_why(exc)}).") from None


_TURNED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def _orientation(img: Any) -> int:
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) else 1


def upright_size(img: Any) -> tuple[int, int]:
    """The image's size as shown (EXIF orientation applied)."""
    w, h = img.size
    return (h, w) if _orientation(img) in _TURNED else (w, h)


def needs_turning(img: Any) -> bool:
    """Whether the EXIF orientation asks for the pixels to be turned or flipped."""
    return _orientation(img) not in (1, 0)


def _upright(img: Any) -> Any:
    """Turned as its EXIF orientation says (the re-encoded bytes carry no EXIF)."""
    if not needs_turning(img):
        return img
    from PIL import ImageOps

    return ImageOps.exif_transpose(img)


def _has_alpha(img: Any) -> bool:
    return img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info)


def choose_type(img: Any, source: str | None) -> str:
    """PNG for drawings (transparency, a palette, few colours) and lossless sources; JPEG for
    photos (JPEG sources, and images in memory with many colours)."""
    if _has_alpha(img) or img.mode in ("P", "1"):
        return PNG
    if source == JPEG:
        return JPEG
    if source in (PNG, GIF, WEBP):
        return PNG
    return PNG if img.getcolors(256) is not None else JPEG


def encode(img: Any, mime: str, what: str) -> Picture:
    """``img`` encoded as PNG or JPEG (no metadata)."""
    buf = io.BytesIO()
    try:
        if mime == JPEG:
            if img.mode not in ("RGB", "L"):
                img = img.convert("RGB")
            img.save(buf, "JPEG", quality=JPEG_QUALITY)
        else:
            if img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
                img = img.convert("RGBA" if _has_alpha(img) else "RGB")
            img.save(buf, "PNG")
    except Exception as exc:
        raise InputError(f"{what} cannot be encoded ({_why(exc)}).") from None
    return Picture(buf.getvalue(), mime, img.width, img.height, img)


def thumbnail_url(img: Any) -> str | None:
    """A small ``data:`` URL of ``img`` (at most :data:`THUMB_EDGE` pixels), made here from
    the user's own pixels; None if it cannot be made."""
    try:
        if img.format == "JPEG":
            img.draft("RGB", (THUMB_EDGE * 2, THUMB_EDGE * 2))
        thumb = _upright(img).copy()
        thumb.thumbnail((THUMB_EDGE, THUMB_EDGE))
        few = thumb.mode in ("P", "1") or thumb.getcolors(256) is not None
        mime = PNG if _has_alpha(thumb) or few else JPEG
        buf = io.BytesIO()
        if mime == JPEG:
            thumb.convert("RGB").save(buf, "JPEG", quality=70)
        else:
            thumb.save(buf, "PNG")
    except Exception:
        return None
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"
