"""A call's images and documents, and how to send them: :class:`Media`.

The user's values (PIL images, paths, bytes, URLs, PDFs ...) become the provider's parts
(:func:`structmagic.inputs.prepare_inputs`) only once the settings, and so the provider,
are known; a URL to send inline is fetched through the call's own HTTP client
(:func:`structmagic.transport.fetch.fetcher`). For many rows, :func:`per_item` checks that
``images`` / ``files`` give one entry per row.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

from ..errors import InputError
from ..inputs import Part, prepare_inputs
from ..providers import get_provider
from ..transport.fetch import fetcher

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["Media", "Nones", "per_item"]


class Media:
    """The images and files of a call (or of one batch item), and how to send them."""

    def __init__(self, images: Any = None, files: Any = None, *, detail: str | None = None,
                 inline: bool = False, downscale: bool = True) -> None:
        self.images = images
        self.files = files
        self.detail = detail
        self.inline = bool(inline)
        self.downscale = bool(downscale)

    def parts(self, settings: Settings, *, images: Any = None, files: Any = None,
              thumbnails: bool = False) -> tuple[Part, ...]:
        """The parts for ``settings``' provider (``images``/``files`` override this one's:
        a batch item's own). Raises :class:`InputError` before anything is sent."""
        images = self.images if images is None else images
        files = self.files if files is None else files
        if images is None and files is None:
            return ()
        return prepare_inputs(images, files, get_provider(settings.provider),
                              fetch=fetcher(settings), detail=self.detail, inline=self.inline,
                              downscale=self.downscale, thumbnails=thumbnails)


class Nones(Sequence[None]):
    """``n`` entries that are all None, held in no memory (a column's ``images`` when it
    has none: a list of a million Nones takes 8 MB)."""

    def __init__(self, n: int) -> None:
        self._n = n

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> None: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[None]: ...

    def __getitem__(self, index: int | slice) -> Sequence[None] | None:
        if isinstance(index, slice):
            return Nones(len(range(*index.indices(self._n))))
        if not -self._n <= index < self._n:
            raise IndexError("index out of range")
        return None

    def __iter__(self) -> Iterator[None]:
        return itertools.repeat(None, self._n)

    def __repr__(self) -> str:
        return f"Nones({self._n})"


def per_item(name: str, value: Sequence[Any] | None, n: int, *,
             entry: str = "an image, a list of them, or None") -> Sequence[Any]:
    """``images`` / ``files`` (or ``source``) of a batch: one entry per prompt (None: none
    for any, :class:`Nones`); ``entry`` says what one entry is, for the error."""
    if value is None:
        return Nones(n)
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise InputError(f"{name} of a batch needs one entry per prompt (a list), not a "
                         f"{type(value).__name__}.")
    value = list(value)
    if len(value) != n:
        raise InputError(f"{name} has {len(value)} entries for {n} prompts; give one entry "
                         f"({entry}) per prompt.")
    return value
