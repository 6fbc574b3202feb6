"""Input parts: images and documents as provider-neutral, immutable values. Pure, stdlib only.

A :class:`Part` is what one image or PDF becomes once it is ready to send: its kind, its MIME
type (sniffed from its first bytes, never taken from a file name), its bytes or its URL, its
size, a stable content hash and the ``detail`` asked for. A message's content is a list of
text (``str``) and parts; each provider renders a part in its own wire shape
(:meth:`structmagic.providers.Provider.render_part`).

:class:`InputLimits` is a provider's facts about inputs, held as data on its class: which MIME
types it takes, whether it takes URLs, its size and count limits, and the largest image it
makes use of (bigger ones are downscaled before they are sent), and how it counts an image's
and a PDF page's input tokens (:class:`MediaTokens`, for estimates before a run).

:class:`InputSummary` is what a :class:`~structmagic.Result` keeps of its inputs: no payload,
only what to show (kind, type, size, a label, a small thumbnail made in the kernel).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

__all__ = [
    "DOCUMENT",
    "GIF",
    "IMAGE",
    "IMAGE_TYPES",
    "JPEG",
    "PDF",
    "PNG",
    "WEBP",
    "InputLimits",
    "InputSummary",
    "MediaTokens",
    "Part",
    "describe_inputs",
    "human_size",
    "sizes",
    "sniff",
]

IMAGE = "image"
DOCUMENT = "document"

PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"
PDF = "application/pdf"
#: the image types structmagic recognises by their magic bytes
IMAGE_TYPES = frozenset({PNG, JPEG, GIF, WEBP})
#: short names, for messages
TYPE_NAMES = {PNG: "PNG", JPEG: "JPEG", GIF: "GIF", WEBP: "WebP", PDF: "PDF"}


def sniff(data: bytes | bytearray | memoryview) -> str | None:
    """The MIME type of ``data`` from its magic bytes (PNG, JPEG, GIF, WebP, PDF), or None.

    Never from a name: a ``.png`` holding JPEG bytes is JPEG, a ``.pdf`` holding a PNG is PNG.
    """
    head = bytes(data[:16])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"%PDF-"):
        return PDF
    return None


def human_size(n: int) -> str:
    """``"512 B"``, ``"12 KB"``, ``"5.2 MB"`` (decimal units, as the vendors state limits)."""
    if n < 1000:
        return f"{n} B"
    value, unit = (n / 1000, "KB") if n < 999_500 else (n / 1_000_000, "MB")
    text = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
    return f"{text.removesuffix('.0')} {unit}"


def sizes(size: int, limit: int) -> tuple[str, str]:
    """Both sizes for a message, in bytes when they would read the same rounded."""
    a, b = human_size(size), human_size(limit)
    return (a, b) if a != b else (f"{size:,} bytes", f"{limit:,} bytes")


@dataclass(frozen=True)
class Part:
    """One image or document, ready to send: bytes (``data``) or a ``url``, never both.

    ``digest`` is a stable SHA-256 (hex) of the content as sent: of the bytes when they are
    sent as given; of the source and the processing when structmagic re-encoded them (so a
    recording does not depend on the encoder's version); of the URL for a URL part.
    ``mime`` is None only for a URL whose type is unknown. ``label``, ``thumbnail`` and
    ``preview`` (the picture a click on the thumbnail opens) are for display only (not
    compared).
    """

    kind: str
    mime: str | None
    data: bytes | None = field(default=None, repr=False)
    url: str | None = None
    size: int = 0
    digest: str = ""
    detail: str | None = None
    filename: str | None = None
    width: int | None = field(default=None, compare=False)
    height: int | None = field(default=None, compare=False)
    label: str = field(default="", compare=False)
    thumbnail: str | None = field(default=None, compare=False, repr=False)
    preview: str | None = field(default=None, compare=False, repr=False)

    @cached_property
    def b64(self) -> str:
        """The bytes in base64 (made once per part, however many requests carry it)."""
        if self.data is None:
            raise ValueError("a URL part has no bytes")
        return base64.b64encode(self.data).decode("ascii")

    @cached_property
    def data_url(self) -> str:
        """``data:<mime>;base64,...`` (made once per part)."""
        return f"data:{self.mime};base64,{self.b64}"

    @property
    def is_url(self) -> bool:
        return self.url is not None

    @property
    def type_name(self) -> str:
        """``"PNG"``, ``"PDF"``, ... (``"image"`` / ``"document"`` when unknown)."""
        return TYPE_NAMES.get(self.mime or "", self.kind)

    def summary(self) -> InputSummary:
        """What a result keeps of this part (no payload)."""
        return InputSummary(kind=self.kind, mime=self.mime, size=self.size,
                            digest=self.digest, label=self.label, url=self.url,
                            width=self.width, height=self.height, thumbnail=self.thumbnail,
                            preview=self.preview)


@dataclass(frozen=True)
class InputSummary:
    """An input as a result shows it: kind, type, size, label, thumbnail; never the bytes."""

    kind: str
    mime: str | None
    size: int = 0
    digest: str = ""
    label: str = ""
    url: str | None = None
    width: int | None = None
    height: int | None = None
    thumbnail: str | None = field(default=None, repr=False)
    #: the picture a click on the thumbnail opens (a larger data: URL made in the kernel)
    preview: str | None = field(default=None, repr=False, compare=False)

    @property
    def is_pdf(self) -> bool:
        return self.mime == PDF

    def describe(self) -> str:
        """``"PNG 400×600, 12 KB"``, ``"PDF, 80 KB"``, ``"image URL"``."""
        if self.url is not None:
            return f"{'image' if self.kind == IMAGE else 'document'} URL"
        what = TYPE_NAMES.get(self.mime or "", self.kind)
        if self.width and self.height:
            what += f" {self.width}×{self.height}"
        return f"{what}, {human_size(self.size)}"


def describe_inputs(inputs: Iterable[InputSummary | Part]) -> str:
    """``"2 images, 1 PDF"`` (``""`` for none). URL documents count as documents."""
    images = pdfs = docs = 0
    for item in inputs:
        if item.kind == IMAGE:
            images += 1
        elif item.mime == PDF:
            pdfs += 1
        else:
            docs += 1
    words = []
    if images:
        words.append(f"{images} image{'' if images == 1 else 's'}")
    if pdfs:
        words.append(f"{pdfs} PDF{'' if pdfs == 1 else 's'}")
    if docs:
        words.append(f"{docs} document{'' if docs == 1 else 's'}")
    return ", ".join(words)


@dataclass(frozen=True)
class MediaTokens:
    """How a provider counts the input tokens of an image and of a PDF page (its documented
    rule, as data), for estimates before a run.

    An image is first scaled as the provider scales it (:meth:`InputLimits.target_size`);
    then ``pixels_per_token`` > 0 counts ``width × height / pixels_per_token``; else ``tile``
    > 0 counts ``base`` plus ``tile_tokens`` for each ``tile``-pixel square it covers (an
    image within ``small_edge`` on both sides is one tile); ``low_detail`` is the fixed count of
    ``detail="low"`` (0: no such setting). An image whose size is unknown (sent as a URL)
    is taken to be ``unknown_edge`` pixels square. ``page`` is one PDF page (its text and
    its picture together).
    """

    tile: int = 0
    tile_tokens: int = 0
    base: int = 0
    small_edge: int = 0
    pixels_per_token: int = 0
    low_detail: int = 0
    unknown_edge: int = 1024
    page: int = 1500

    def image(self, limits: InputLimits, width: int | None, height: int | None,
              detail: str | None = None) -> int:
        """The input tokens of one image of ``width`` × ``height`` pixels as sent."""
        if detail == "low" and self.low_detail:
            return self.low_detail
        if not width or not height or width <= 0 or height <= 0:
            width = height = self.unknown_edge
        w, h = limits.target_size(width, height, detail)
        if self.pixels_per_token:
            return max(1, math.ceil(w * h / self.pixels_per_token))
        if self.tile:
            if self.small_edge and w <= self.small_edge and h <= self.small_edge:
                return self.base + self.tile_tokens
            tiles = math.ceil(w / self.tile) * math.ceil(h / self.tile)
            return self.base + self.tile_tokens * tiles
        return self.tile_tokens or 258


@dataclass(frozen=True)
class InputLimits:
    """What a provider takes as input parts, as data (the vendor's documented figures).

    Sizes are bytes: ``max_image_bytes`` / ``max_document_bytes`` of one file as sent,
    ``max_request_bytes`` of all base64 payloads of one request together. ``max_edge`` /
    ``max_short_edge`` / ``max_pixels`` describe the largest image the provider makes use of
    (it scales bigger ones down itself): structmagic downscales to it before encoding, unless
    told not to; ``low_detail_edge`` is that size for ``detail="low"``. Zero means "no limit".
    """

    image_types: frozenset[str] = frozenset()
    #: the image types it takes animated; an animation of any other type goes as its first
    #: frame, as PNG. None of the built-in formats: OpenAI documents non-animated GIFs only,
    #: and the others do not say
    animated_types: frozenset[str] = frozenset()
    document_types: frozenset[str] = frozenset()
    image_urls: bool = False
    document_urls: bool = False
    #: a URL part must carry its MIME type (Gemini's ``file_data``)
    url_needs_type: bool = False
    #: the wire has a ``detail`` setting (the OpenAI formats)
    detail: bool = False
    max_image_bytes: int = 0
    max_document_bytes: int = 0
    max_request_bytes: int = 0
    max_images: int = 0
    max_documents: int = 0
    max_edge: int = 0
    max_short_edge: int = 0
    max_pixels: int = 0
    low_detail_edge: int = 0
    #: how it counts an image's and a PDF page's tokens (for estimates)
    tokens: MediaTokens = MediaTokens()

    def takes(self, kind: str, mime: str | None) -> bool:
        """Whether a part of this kind and type can be sent as bytes."""
        types = self.image_types if kind == IMAGE else self.document_types
        return mime in types

    def target_size(self, width: int, height: int, detail: str | None = None
                    ) -> tuple[int, int]:
        """The size an image of ``width`` × ``height`` is downscaled to (never up).

        An empty image (a side of 0 pixels) has nothing to scale: its size comes back as it
        is (the caller refuses it, naming the input).
        """
        if width <= 0 or height <= 0:
            return width, height
        edge = self.low_detail_edge if detail == "low" and self.low_detail_edge else self.max_edge
        scale = 1.0
        if edge:
            scale = min(scale, edge / max(width, height))
        if self.max_short_edge and not (detail == "low" and self.low_detail_edge):
            scale = min(scale, self.max_short_edge / min(width, height))
        if self.max_pixels:
            scale = min(scale, (self.max_pixels / (width * height)) ** 0.5)
        if scale >= 1.0:
            return width, height
        return max(1, int(width * scale)), max(1, int(height * scale))
