"""The checks made before anything is sent: one clear :class:`InputError` line each.

Per part: a kind or type the provider does not take, a URL it cannot fetch itself, a file
over its size limit. Per request: too many images or documents, too many bytes in all.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InputError
from .parts import DOCUMENT, IMAGE, TYPE_NAMES, InputLimits, Part, sizes

__all__ = ["check_part", "check_request", "encoded_size"]

INLINE_HINT = "use --inline (inline=True) to fetch it here and send its bytes"


def encoded_size(part: Part) -> int:
    """How many bytes the part's payload takes in a request (base64), 0 for a URL."""
    return 0 if part.is_url else 4 * ((part.size + 2) // 3)


def _types(types: frozenset[str]) -> str:
    names = sorted(TYPE_NAMES.get(t, t) for t in types)
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def check_part(part: Part, limits: InputLimits, provider: str, what: str, *,
               pillow: bool = True, downscale: bool = True) -> None:
    """Raise an :class:`InputError` if ``provider`` cannot take ``part`` (``what`` names it:
    "Image 2 (receipt.png)")."""
    noun = "images" if part.kind == IMAGE else "PDF documents"
    types = limits.image_types if part.kind == IMAGE else limits.document_types
    if not types:
        raise InputError(f"{what}: the {provider} format does not take {noun}.")
    if part.is_url:
        takes_urls = limits.image_urls if part.kind == IMAGE else limits.document_urls
        if not takes_urls:
            raise InputError(f"{what}: the {provider} format does not take {noun} by URL; "
                             f"{INLINE_HINT}.")
        if limits.url_needs_type and part.mime is None:
            raise InputError(
                f"{what}: the {provider} format needs the type of a URL's content, and "
                f"{part.url!r} does not end in .png, .jpg, .jpeg, .gif, .webp or .pdf; "
                f"{INLINE_HINT}.")
        return
    if part.mime not in types:
        raise InputError(f"{what} is a {part.type_name}; the {provider} format takes only "
                         f"{_types(types)} {'images' if part.kind == IMAGE else 'files'}.")
    limit = limits.max_image_bytes if part.kind == IMAGE else limits.max_document_bytes
    if limit and part.size > limit:
        hint = "make it smaller"
        if part.kind == IMAGE and not pillow:
            hint = f"{hint}, or {PILLOW_HINT_SHORT} to have it downscaled"
        elif part.kind == IMAGE and not downscale:
            hint = "make it smaller, or let it be downscaled: drop --no-downscale"
        elif part.kind == DOCUMENT:
            hint = "split it, or send fewer pages"
        size, most = sizes(part.size, limit)
        raise InputError(f"{what} is {size}; the {provider} format takes at most {most} per "
                         f"{'image' if part.kind == IMAGE else 'PDF'} ({hint}).")


PILLOW_HINT_SHORT = "install Pillow (pip install 'structmagic[pillow]')"


def check_request(parts: Sequence[Part], limits: InputLimits, provider: str) -> None:
    """Raise an :class:`InputError` if the parts together exceed ``provider``'s limits."""
    images = sum(1 for p in parts if p.kind == IMAGE)
    documents = len(parts) - images
    if limits.max_images and images > limits.max_images:
        raise InputError(f"{images} images in one request; the {provider} format takes at most "
                         f"{limits.max_images}.")
    if limits.max_documents and documents > limits.max_documents:
        raise InputError(f"{documents} documents in one request; the {provider} format takes "
                         f"at most {limits.max_documents}.")
    total = sum(encoded_size(p) for p in parts)
    if limits.max_request_bytes and total > limits.max_request_bytes:
        size, most = sizes(total, limits.max_request_bytes)
        raise InputError(
            f"The images and documents of this request take {size} as sent (base64); the "
            f"{provider} format takes at most {most} per request (send fewer or smaller "
            "files).")
