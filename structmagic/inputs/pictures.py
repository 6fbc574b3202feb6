"""Pillow's part: open, decode, downscale, re-encode, thumbnail. Pillow is optional.

Without Pillow, images given as bytes or files are sent as they are (no downscaling, no
conversion); every feature that needs it (a PIL image, another format converted, a
thumbnail of a large image) says what to install: ``pip install 'structmagic[pillow]'``.

Downscaling is fast on big photos: a JPEG is decoded at a reduced scale (``draft``), and an
image is area-averaged (a box filter: by an integer factor first, then by the rest), which is
the usual filter for shrinking and about three times cheaper than Lanczos.

Every mode Pillow has is sent in 8 bits a channel, without clipping (:func:`eight_bit`):
16-bit greyscale (``I;16`` and its byte orders) keeps its high byte, 32-bit integers and
floats are mapped onto 0-255 from their own range, and CMYK, YCbCr, LAB, HSV, premultiplied
alpha and palettes (with their transparency) become RGB or RGBA.

Pillow's own warnings (a ``DecompressionBombWarning`` for a big scan, "Palette images with
Transparency expressed in bytes...", a damaged EXIF block) never reach the user: every
function here that works on pixels runs :func:`quiet`. structmagic decodes every image
Pillow opens: it refuses, as a possible decompression bomb, only one with more than twice
``PIL.Image.MAX_IMAGE_PIXELS`` pixels (178,956,970 by default), in its own words.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import math
import re
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from ..errors import InputError
from .parts import GIF, JPEG, PNG, WEBP

__all__ = [
    "PILLOW_HINT",
    "Picture",
    "choose_type",
    "decode",
    "eight_bit",
    "encode",
    "frame_count",
    "have_pillow",
    "is_pil_image",
    "needs_turning",
    "open_image",
    "pillow",
    "preview_url",
    "quiet",
    "shrink",
    "thumbnail_url",
    "upright_size",
]

PILLOW_HINT = "install Pillow: pip install 'structmagic[pillow]'"
#: JPEG quality of re-encoded photos
JPEG_QUALITY = 85
#: the longest edge of a thumbnail, in pixels
THUMB_EDGE = 96
#: the longest edge of the picture a click on a thumbnail opens (to check a reading against
#: the picture), in pixels
PREVIEW_EDGE = 1280
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


# --- Pillow's warnings -------------------------------------------------------------------------

Params = ParamSpec("Params")
Returned = TypeVar("Returned")

#: the warnings kept from the user: those Pillow's own modules issue
_PILLOW_MODULES = r"PIL(\.|\Z)"
_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_filter: tuple[list[Any], Any] | None = None  # the list it went into, and the entry


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Pillow's warnings ignored while structmagic works on an image.

    Python's warning filters are the process's, not a thread's: the filter is added when the
    first thread comes in and taken out when the last one leaves (so images are still
    prepared in parallel, and ``warnings.catch_warnings`` is not used from threads, which
    would race). Warnings other than Pillow's go on as before.
    """
    global _quiet_depth, _quiet_filter
    with _quiet_lock:
        if _quiet_depth == 0:
            warnings.filterwarnings("ignore", module=_PILLOW_MODULES)
            filters: Any = warnings.filters  # a list (typed as a sequence)
            _quiet_filter = (filters, filters[0])
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_filter is not None:
                added_to, entry = _quiet_filter
                _quiet_filter = None
                now: Any = warnings.filters  # a catch_warnings() elsewhere may have swapped it
                for filters in (added_to, now):
                    with contextlib.suppress(ValueError):
                        filters.remove(entry)


def _quietly(fn: Callable[Params, Returned]) -> Callable[Params, Returned]:
    """``fn`` run under :func:`quiet`."""
    @functools.wraps(fn)
    def run(*args: Params.args, **kwargs: Params.kwargs) -> Returned:
        with quiet():
            return fn(*args, **kwargs)

    return run


# --- opening and decoding ------------------------------------------------------------------------


@_quietly
def open_image(data: bytes, what: str) -> Any:
    """A lazily opened PIL image of ``data`` (only its header is read), or an InputError."""
    Image = pillow(what)
    try:
        return Image.open(io.BytesIO(data))
    except Exception as exc:  # UnidentifiedImageError, DecompressionBombError, OSError, ...
        raise InputError(_too_big(exc, what) or f"{what} cannot be read as an image "
                                                f"({_why(exc)}).") from None


@_quietly
def decode(img: Any, what: str, frames: int = 1) -> None:
    """Decode every pixel of ``img`` (of each of its first ``frames`` frames), so that a file
    that is cut short or damaged fails here, before anything is sent, not at the server."""
    try:
        for index in range(frames):
            if frames > 1:
                img.seek(index)
            img.load()
        if frames > 1:
            img.seek(0)
    except Exception as exc:
        raise _undecodable(exc, what) from None


@_quietly
def frame_count(img: Any) -> int:
    """How many frames (or pages) an opened image has: more than 1 for an animation."""
    try:
        return max(1, int(getattr(img, "n_frames", 1)))
    except Exception:  # a damaged frame table: decoding the first frame will tell
        return 1


def _too_big(exc: BaseException, what: str) -> str | None:
    """structmagic's words for Pillow's DecompressionBombError (None for other errors)."""
    if type(exc).__name__ != "DecompressionBombError":
        return None
    limit = getattr(sys.modules.get("PIL.Image"), "MAX_IMAGE_PIXELS", None)
    most = f"{2 * limit:,} pixels" if isinstance(limit, int) else "its limit"
    return (f"{what} is too large to decode: more than {most}, which Pillow refuses as a "
            "possible decompression bomb (twice PIL.Image.MAX_IMAGE_PIXELS); make it smaller, "
            "or raise that limit for a file you trust.")


def _undecodable(exc: BaseException, what: str) -> InputError:
    return InputError(_too_big(exc, what) or f"{what} cannot be decoded ({_why(exc)}).")


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


@_quietly
def shrink(img: Any, size: tuple[int, int], what: str, *, own: bool = False) -> Any:
    """``img``, upright, in 8 bits a channel (:func:`eight_bit`), at about ``size``:
    area-averaged (a box filter, as OpenCV's ``INTER_AREA``), first by an integer factor,
    then by the rest.

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
            return eight_bit(img)
        img = eight_bit(img, resizing=True)
        if drafted and img.width <= size[0] and img.height <= size[1]:
            return img  # decoded within the slack of the target: no resampling
        factor = min(img.width // size[0], img.height // size[1])
        if factor >= 2:
            img = img.reduce(factor)
        return img.resize(size, Image.Resampling.BOX)
    except InputError:
        raise
    except Exception as exc:  # a truncated or damaged file shows only when decoded
        raise _undecodable(exc, what) from None


#: the modes every step here takes as they are (8 bits a channel)
_EIGHT_BIT = ("L", "LA", "RGB", "RGBA")


def eight_bit(img: Any, *, resizing: bool = False) -> Any:
    """``img`` in 8 bits a channel, its tones kept (nothing clipped to black or white).

    ``L``, ``LA``, ``RGB`` and ``RGBA`` stay as they are, and so do ``1`` and ``P`` (a PNG
    keeps them, a palette's transparency too) unless the image is to be resized: then
    ``1`` becomes ``L`` and ``P`` RGB or RGBA, which the box filter averages. 16-bit
    greyscale (``I;16``, ``I;16L``, ``I;16B``, ``I;16N``) keeps the high byte of each pixel
    (0-65535 onto 0-255). 32-bit integers (``I``) and floats (``F``) are mapped from their
    own range: 0-255 as it is, 0.0-1.0 (floats) and 0-65535 scaled to 0-255, any other range
    stretched from its darkest to its lightest pixel. ``La`` becomes ``LA``; ``PA``,
    ``RGBa``, ``RGBX``, ``CMYK``, ``YCbCr``, ``LAB`` and ``HSV`` become RGB or RGBA.
    """
    mode = img.mode
    if mode in _EIGHT_BIT or (mode in ("1", "P") and not resizing):
        return img
    if mode == "1":
        return img.convert("L")
    if mode.startswith("I;16"):
        return _high_bytes(img)
    if mode in ("I", "F"):
        return _mapped(img)
    if mode == "La":
        return img.convert("LA")
    return img.convert("RGBA" if _has_alpha(img) else "RGB")


def _high_bytes(img: Any) -> Any:
    """A 16-bit greyscale image as 8-bit greyscale: each pixel's high byte, read straight from
    its raw bytes (Pillow's own conversion clips at 255; its box filter gets big-endian
    pixels wrong)."""
    from PIL import Image

    big = img.mode == "I;16B" or (img.mode == "I;16N" and sys.byteorder == "big")
    return Image.frombytes("L", img.size, img.tobytes(), "raw", "L;16B" if big else "L;16")


def _mapped(img: Any) -> Any:
    """An ``I`` or ``F`` image mapped onto 0-255 (see :func:`eight_bit`)."""
    lo, hi = img.getextrema()
    if not (math.isfinite(lo) and math.isfinite(hi)):  # inf or NaN in a float image
        lo, hi = (0.0, 1.0) if img.mode == "F" else (0, 65535)
    if img.mode == "F" and lo >= 0 and hi <= 1:
        scale, offset = 255.0, 0.0
    elif lo >= 0 and hi <= 255:
        scale, offset = 1.0, 0.0
    elif lo >= 0 and hi <= 65535:
        scale, offset = 255 / 65535, 0.0
    else:
        scale = 255 / (hi - lo) if hi > lo else 0.0
        offset = -lo * scale
    return img.point(lambda v: v * scale + offset).convert("L")


_TURNED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


#: the formats whose EXIF Pillow reads from the header; for the others, it decodes the image
_EXIF_IN_HEADER = ("JPEG", "MPO")


def _orientation(img: Any) -> int:
    """The EXIF orientation (1: as stored). Where Pillow would decode the image to find its
    EXIF, it is decoded first, out in the open: a damaged file fails here (Pillow's own
    ``getexif`` would let the error pass, and leave the image half decoded)."""
    if img.format is not None and img.format not in _EXIF_IN_HEADER:
        img.load()
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:  # a damaged EXIF block: the image as stored
        return 1
    return value if isinstance(value, int) else 1


@_quietly
def upright_size(img: Any, what: str) -> tuple[int, int]:
    """The image's size as shown (EXIF orientation applied). Raises :class:`InputError`
    when the image has to be decoded for it (a PNG, say) and cannot be."""
    w, h = img.size
    try:
        turned = _orientation(img) in _TURNED
    except Exception as exc:
        raise _undecodable(exc, what) from None
    return (h, w) if turned else (w, h)


@_quietly
def needs_turning(img: Any) -> bool:
    """Whether the EXIF orientation asks for the pixels to be turned or flipped (of an image
    :func:`upright_size` has read)."""
    try:
        return _orientation(img) not in (1, 0)
    except Exception:  # pragma: no cover - upright_size has decoded it, or refused it
        return False


def _upright(img: Any) -> Any:
    """Turned as its EXIF orientation says (the re-encoded bytes carry no EXIF)."""
    if not needs_turning(img):
        return img
    from PIL import ImageOps

    return ImageOps.exif_transpose(img)


def _has_alpha(img: Any) -> bool:
    return img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info)


@_quietly
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


@_quietly
def encode(img: Any, mime: str, what: str) -> Picture:
    """``img`` encoded as PNG or JPEG (no metadata), in 8 bits a channel."""
    buf = io.BytesIO()
    try:
        img = eight_bit(img)
        if mime == JPEG:
            if img.mode not in ("RGB", "L"):
                img = img.convert("RGB")
            img.save(buf, "JPEG", quality=JPEG_QUALITY)
        else:
            img.save(buf, "PNG")
    except Exception as exc:
        raise InputError(f"{what} cannot be encoded ({_why(exc)}).") from None
    return Picture(buf.getvalue(), mime, img.width, img.height, img)


@_quietly
def thumbnail_url(img: Any, edge: int = THUMB_EDGE, quality: int = 70) -> str | None:
    """A small ``data:`` URL of ``img`` (at most ``edge`` pixels: :data:`THUMB_EDGE` for a
    thumbnail, :data:`PREVIEW_EDGE` for the picture a click opens), made here from the
    user's own pixels; None if it cannot be made."""
    try:
        if img.format == "JPEG":
            img.draft("RGB", (edge * 2, edge * 2))
        thumb = eight_bit(_upright(img), resizing=True)
        if thumb is img:
            thumb = thumb.copy()
        thumb.thumbnail((edge, edge))
        few = thumb.mode in ("P", "1") or thumb.getcolors(256) is not None
        mime = PNG if _has_alpha(thumb) or few else JPEG
        buf = io.BytesIO()
        if mime == JPEG:
            thumb.convert("RGB").save(buf, "JPEG", quality=quality)
        else:
            thumb.save(buf, "PNG")
    except Exception:
        return None
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def preview_url(img: Any) -> str | None:
    """The picture a thumbnail opens (at most :data:`PREVIEW_EDGE` pixels), a ``data:``
    URL made here; None if it cannot be made."""
    return thumbnail_url(img, PREVIEW_EDGE, JPEG_QUALITY)
