"""User values into :class:`Part` objects, ready for one provider.

A value may be a ``PIL.Image.Image``, a ``pathlib.Path`` or path string, ``bytes``, an
``http(s)`` URL string, a ``data:`` URL, an ``IPython.display.Image`` or a matplotlib
``Figure``. Its kind (image or PDF) is decided by its Python type and, for bytes and files,
by their magic bytes — never by a file name. Then, for the provider at hand:

- a file cut short or damaged is refused (:mod:`.structure`; with Pillow, an image sent as
  given is also decoded in full first);
- an image bigger than the provider makes use of is downscaled (with Pillow; ``downscale=
  False`` sends it as it is); a type the provider does not take is converted to PNG/JPEG
  (with Pillow) or refused; an animation (or a file of several pages) goes as its first
  frame, as PNG, unless the provider takes it animated (a note says so once:
  :mod:`.notes`); bytes already fit are sent exactly as given;
- a URL is sent as a URL (the server fetches it), or fetched here and inlined with
  ``inline=True`` (when the server cannot reach it);
- every limit is checked (:mod:`.checks`) before anything is sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes, urlsplit

from ..errors import InputError
from . import pictures as P
from .checks import check_part, check_request
from .notes import note
from .parts import DOCUMENT, GIF, IMAGE, IMAGE_TYPES, JPEG, PDF, PNG, TYPE_NAMES, WEBP, Part, sniff
from .structure import examine

if TYPE_CHECKING:
    from ..providers import Provider

#: reads a URL's bytes for ``inline``: ``fetch(url, what)``; raises :class:`InputError`
Fetch = Callable[[str, str], bytes]

__all__ = ["DETAILS", "MAX_READ_BYTES", "Fetch", "Source", "as_list", "classify", "is_blank",
           "prepare_inputs",
           "reason"]

#: what ``detail`` takes
DETAILS = ("low", "high", "auto")
#: no file or URL larger than this is read at all
MAX_READ_BYTES = 100_000_000
#: without Pillow, an image up to this size is its own thumbnail
_RAW_THUMB_BYTES = 48_000
#: ... and as the picture its thumbnail opens, up to this many bytes
_RAW_PREVIEW_BYTES = 1_500_000
_URL_TYPES = {".png": PNG, ".jpg": JPEG, ".jpeg": JPEG, ".gif": GIF, ".webp": WEBP, ".pdf": PDF}


def is_blank(value: Any) -> bool:
    """Whether ``value`` is a missing cell as pandas and NumPy hold one: NaN (of any float
    type), pandas' ``NA`` or ``NaT`` (None is not: say it on its own where it counts)."""
    if value is None or isinstance(value, (str, bytes, Mapping, list, tuple)):
        return False
    try:
        return bool(value != value)  # NaN, NaT and pandas' NA are not equal to themselves
    except Exception:  # NA's truth value is ambiguous; an array's, too
        return type(value).__name__ in ("NAType", "NaTType")


def as_list(value: Any) -> list[Any]:
    """``None`` → ``[]``; a list or tuple as it is; any other value → ``[value]``. Empty
    entries (a row of a table without an image: None, NaN, pandas' NA or NaT) are left out."""
    if value is None:
        return []
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    return [v for v in items if v is not None and not is_blank(v)]


def prepare_inputs(images: Any, files: Any, provider: Provider, *,
                   fetch: Fetch | None = None, detail: str | None = None,
                   inline: bool = False, downscale: bool = True,
                   thumbnails: bool = False) -> tuple[Part, ...]:
    """The parts of ``images`` and ``files`` for ``provider``, every limit checked.

    ``fetch(url, what)`` reads a URL's bytes with ``inline`` (the call's HTTP client:
    :func:`structmagic.transport.fetch.fetcher`); without it a URL to inline is an error.
    ``thumbnails`` makes a small preview of each image for display. Raises
    :class:`InputError`.
    """
    values = [(IMAGE, v) for v in as_list(images)] + [(DOCUMENT, v) for v in as_list(files)]
    if not values:
        return ()
    if detail is not None and detail not in DETAILS:
        raise InputError(f"detail must be one of {', '.join(DETAILS)}, not {detail!r}.")
    job = _Job(provider, fetch, detail, inline, downscale, thumbnails)
    counts = {IMAGE: 0, DOCUMENT: 0}
    parts = []
    for kind, value in values:
        counts[kind] += 1
        parts.append(job.part(value, kind, counts[kind]))
    check_request(parts, provider.inputs, provider.name)
    return tuple(parts)


# --- what a value is ---------------------------------------------------------------------------


@dataclass
class Source:
    """A value, classified: bytes (with a file name, perhaps), a URL, or a PIL image."""

    label: str
    data: bytes | None = None
    url: str | None = None
    image: Any = None
    filename: str | None = None


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _shown(text: str, n: int = 60) -> str:
    """``text`` as a label on one line: control characters, lone surrogates and other
    unprintable characters escaped (``\\n``, ``\\x00``, ``\\ud800``), then shortened."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return _short(text, n)


def reason(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(exc).strip().split("\n", 1)[0]
    return _short(text, 160) if text else type(exc).__name__


def classify(value: Any, what: str) -> Source:
    if P.is_pil_image(value):
        return Source(f"PIL image {value.width}×{value.height}", image=value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Source("bytes", data=bytes(value))
    if isinstance(value, (PurePath, os.PathLike)):
        try:
            name = os.fsdecode(value)  # a bytes path (os.scandir(b".")) decoded as os does
        except TypeError:
            raise InputError(f"{what}: the {type(value).__name__}'s __fspath__ gives neither "
                             "a str nor bytes; give the path as a string.") from None
        return _read_path(Path(name), what)
    if isinstance(value, str):
        lowered = value[:8].lower()
        if lowered.startswith(("http://", "https://")):
            return _url_source(value, what)
        if lowered.startswith("data:"):
            return Source("data URL", data=_data_url(value, what))
        return _read_path(Path(value), what)
    ipython = _ipython_image(value, what)
    if ipython is not None:
        return ipython
    if _is_figure(value):
        return Source("matplotlib figure", data=_figure_png(value, what))
    if type(value).__module__.split(".", 1)[0] == "PIL":
        P.pillow(what)
    raise InputError(
        f"{what}: a {type(value).__name__} cannot be sent; give a PIL image, a file path, "
        "bytes, an http(s) URL, a data: URL, an IPython Image or a matplotlib figure.")


def _url_source(url: str, what: str) -> Source:
    """An http(s) URL that parses (a host, a valid port, brackets that hold an IP address)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsed on access: a port that is not a number 0-65535
    except ValueError as exc:  # "http://[::1/a.png", "http://[zz]/", "http://h:99999/"
        raise InputError(f"{what}: {_short(url)!r} is not a valid URL ({reason(exc)}); "
                         "correct it.") from None
    if not parts.netloc:
        raise InputError(f"{what}: {_short(url)!r} is not a whole URL.")
    return Source(_shown(url), url=url)


def _read_path(path: Path, what: str) -> Source:
    shown = _short(str(path), 80)
    try:
        path = path.expanduser()
    except RuntimeError:  # "~someone" who is not a user here, or no home directory at all
        raise InputError(f"{what}: cannot expand the ~ in {shown!r} (no such user, or no "
                         "home directory); give the full path.") from None
    try:
        st = path.stat()
        if not path.is_file():
            raise InputError(f"{what}: {shown!r} is not a file.")
        if st.st_size > MAX_READ_BYTES:
            raise InputError(f"{what}: {shown!r} is {st.st_size / 1e6:.0f} MB; files over "
                             f"{MAX_READ_BYTES // 1_000_000} MB are not read.")
        data = path.read_bytes()
    except InputError:
        raise
    except (OSError, ValueError) as exc:  # missing, unreadable, a NUL in the name, ...
        why = getattr(exc, "strerror", None) or reason(exc)
        raise InputError(f"{what}: cannot read {shown!r} ({why}).") from None
    return Source(_shown(path.name, 255), data=data, filename=path.name)


def _data_url(text: str, what: str) -> bytes:
    header, comma, payload = text[5:].partition(",")
    if not comma:
        raise InputError(f"{what}: the data: URL has no comma before its data.")
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode("".join(payload.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InputError(f"{what}: the data: URL's base64 data is damaged.") from None
    try:
        return unquote_to_bytes(payload)
    except ValueError:  # a lone surrogate: not text that has bytes
        raise InputError(f"{what}: the data: URL's data holds characters that are not text "
                         "(a lone surrogate); encode the data in base64.") from None


def _ipython_image(value: Any, what: str) -> Source | None:
    try:
        from IPython.display import Image as IPythonImage
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    if not isinstance(value, IPythonImage):
        return None
    if isinstance(value.data, bytes):
        name = os.path.basename(value.filename) if getattr(value, "filename", None) else None
        return Source(_shown(name, 255) if name else "IPython Image", data=value.data,
                       filename=name)
    if isinstance(value.url, str) and value.url.lower().startswith(("http://", "https://")):
        return _url_source(value.url, what)
    raise InputError(f"{what}: the IPython Image holds neither bytes nor an http(s) URL.")


def _is_figure(value: Any) -> bool:
    return (type(value).__module__.startswith("matplotlib.")
            and callable(getattr(value, "savefig", None)))


def _figure_png(fig: Any, what: str) -> bytes:
    import io

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", metadata={"Software": None})
    except Exception as exc:
        raise InputError(f"{what}: the matplotlib figure could not be drawn ({exc}).") from None
    return buf.getvalue()


# --- one value, for one provider ---------------------------------------------------------------


class _Job:
    """The settings of one call's inputs."""

    def __init__(self, provider: Provider, fetch: Fetch | None, detail: str | None,
                 inline: bool, downscale: bool, thumbnails: bool) -> None:
        self.provider = provider
        self.limits = provider.inputs
        self.fetch = fetch
        self.detail = detail if self.limits.detail else None
        self.inline = inline
        self.downscale = downscale
        self.thumbnails = thumbnails
        self.pillow = P.have_pillow()

    def part(self, value: Any, kind: str, n: int) -> Part:
        what = f"{'Image' if kind == IMAGE else 'File'} {n}"
        if isinstance(value, Part):
            self._check(value, f"{what} ({value.label})" if value.label else what)
            return value
        src = classify(value, what)
        what = f"{what} ({src.label})"
        if src.url is not None and self.inline:
            if self.fetch is None:
                raise InputError(f"{what}: a URL to send inline needs a way to fetch it.")
            src.data = self.fetch(src.url, what)
        if src.url is not None and src.data is None:
            part = self._url_part(src, kind)
        elif src.image is not None:
            part = self._picture(src, what, None, None)
        else:
            assert src.data is not None
            part = self._bytes(src, kind, what)
        self._check(part, what)
        return part

    def _check(self, part: Part, what: str) -> None:
        check_part(part, self.limits, self.provider.name, what, pillow=self.pillow,
                   downscale=self.downscale)

    def _url_part(self, src: Source, kind: str) -> Part:
        url = src.url or ""
        mime = None
        if self.limits.url_needs_type:  # the server needs a type; a URL has only its name
            mime = _URL_TYPES.get(os.path.splitext(urlsplit(url).path)[1].lower())
            if mime is not None:
                kind = DOCUMENT if mime == PDF else IMAGE
        return Part(kind=kind, mime=mime, url=url, detail=self.detail,
                    digest=hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest(),
                    label=src.label)

    def _bytes(self, src: Source, kind: str, what: str) -> Part:
        data = src.data or b""
        mime = sniff(data)
        found = examine(data, mime)
        if found.problem is not None:
            raise InputError(f"{what} is {found.problem}; nothing is sent: give the whole, "
                             "intact file.")
        if mime == PDF:
            name = src.filename if src.filename and src.filename.lower().endswith(".pdf") \
                else None
            digest = hashlib.sha256(data).hexdigest()
            return Part(kind=DOCUMENT, mime=PDF, data=data, size=len(data), digest=digest,
                        filename=name or f"document-{digest[:12]}.pdf", label=src.label)
        if not self.pillow:
            return self._raw_image(src, mime, what, found.frames)
        img = P.open_image(data, what)
        frames = found.frames if mime in IMAGE_TYPES else P.frame_count(img)
        w, h = _size(img, what)
        target = self.limits.target_size(w, h, self.detail) if self.downscale else (w, h)
        animated = frames > 1 and mime not in self.limits.animated_types
        if (mime in IMAGE_TYPES and self.limits.takes(IMAGE, mime) and target == (w, h)
                and not P.needs_turning(img) and not animated):
            P.decode(img, what, frames)  # a file cut short fails here, not at the server
            return self._as_given(src, mime, data, img, w, h)
        part = self._picture(src, what, img, PNG if animated else mime,
                             source_digest=hashlib.sha256(data).digest())
        if animated:
            note(("frames", self.provider.name),
                 f"{what} has {frames} frames; only the first is sent, as {part.type_name}: the "
                 f"{self.provider.name} format takes still images (said once for every such "
                 "image).")
        return part

    def _raw_image(self, src: Source, mime: str | None, what: str, frames: int) -> Part:
        """Without Pillow: bytes of a type the provider takes go as they are."""
        data = src.data or b""
        if mime is None:
            head = data[:8].hex(" ") or "nothing"
            raise InputError(
                f"{what} is not a PNG, JPEG, GIF or WebP image nor a PDF (its first bytes are "
                f"{head}); other image formats are converted with Pillow: {P.PILLOW_HINT}.")
        if not self.limits.takes(IMAGE, mime):
            raise InputError(
                f"{what} is a {mime.split('/')[1].upper()}, which the {self.provider.name} "
                f"format does not take; it is converted to PNG with Pillow: {P.PILLOW_HINT} "
                "(or convert it yourself).")
        if frames > 1 and mime not in self.limits.animated_types:
            raise InputError(
                f"{what} is an animated {TYPE_NAMES[mime]} ({frames} frames); the "
                f"{self.provider.name} format takes still images: its first frame is sent, as "
                f"PNG, with Pillow: {P.PILLOW_HINT} (or give one frame).")
        thumb = preview = None
        if self.thumbnails and len(data) <= _RAW_PREVIEW_BYTES:  # no Pillow: as given
            preview = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
            thumb = preview if len(data) <= _RAW_THUMB_BYTES else None
        return Part(kind=IMAGE, mime=mime, data=data, size=len(data),
                    digest=hashlib.sha256(data).hexdigest(), detail=self.detail,
                    label=src.label, thumbnail=thumb, preview=preview)

    def _as_given(self, src: Source, mime: str, data: bytes, img: Any, w: int, h: int
                  ) -> Part:
        return Part(kind=IMAGE, mime=mime, data=data, size=len(data),
                    digest=hashlib.sha256(data).hexdigest(), detail=self.detail,
                    width=w, height=h, label=src.label,
                    thumbnail=P.thumbnail_url(img) if self.thumbnails else None,
                    preview=P.preview_url(img) if self.thumbnails else None)

    def _picture(self, src: Source, what: str, img: Any, source_mime: str | None, *,
                 source_digest: bytes | None = None) -> Part:
        """Downscaled and/or converted with Pillow, then encoded."""
        if img is None:
            img = src.image
        w, h = _size(img, what)
        target = self.limits.target_size(w, h, self.detail) if self.downscale else (w, h)
        small = P.shrink(img, target, what, own=src.image is None)
        mime = P.choose_type(small, source_mime)
        pic = P.encode(small, mime, what)
        if source_digest is None:  # pixels in memory: hash what is sent, as pixels
            digest = _pixel_digest(pic.image, mime)
        else:  # a file: its bytes and the processing (stable across encoder versions)
            recipe = f"structmagic-image-1 {pic.width}x{pic.height} {mime}".encode()
            digest = hashlib.sha256(recipe + source_digest).hexdigest()
        return Part(kind=IMAGE, mime=pic.mime, data=pic.data, size=len(pic.data),
                    digest=digest, detail=self.detail, width=pic.width, height=pic.height,
                    label=src.label,
                    thumbnail=P.thumbnail_url(pic.image) if self.thumbnails else None,
                    preview=P.preview_url(pic.image) if self.thumbnails else None)


def _size(img: Any, what: str) -> tuple[int, int]:
    """The image's size as shown; an empty image (no pixels) is refused."""
    w, h = P.upright_size(img, what)
    if w <= 0 or h <= 0:
        raise InputError(f"{what} is empty ({w}×{h} pixels): there is nothing to send; give "
                         "an image at least 1×1 pixel.")
    return w, h


def _pixel_digest(img: Any, mime: str) -> str:
    """A hash of an image's pixels (not of its encoding, which varies with the encoder)."""
    h = hashlib.sha256(f"structmagic-pixels-1 {img.mode} {img.width}x{img.height} {mime}\n"
                       .encode())
    h.update(img.tobytes())
    return h.hexdigest()
