"""The input tokens of images and documents, for estimates: never 4 bytes of base64 a token.

Each provider declares how it counts them (:class:`structmagic.inputs.parts.MediaTokens` on
its :attr:`~structmagic.providers.Provider.inputs`): an image by its size as sent (tiles or
pixels), a PDF by its pages. :func:`input_tokens` applies that rule to one measured input
(:func:`structmagic.inputs.measure.measure_inputs`, which counts a PDF's pages).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..inputs.measure import Measured
    from ..inputs.parts import InputLimits

__all__ = ["input_tokens", "inputs_tokens"]


def input_tokens(item: Measured, limits: InputLimits) -> int:
    """The input tokens of one measured image or document by ``limits``' rule."""
    rule = limits.tokens
    if item.kind == "image":
        detail = item.detail if limits.detail else None
        return rule.image(limits, item.width, item.height, detail)
    return rule.page * max(1, item.pages)


def inputs_tokens(items: Iterable[Measured], limits: InputLimits) -> int:
    """The input tokens of all of ``items``."""
    return sum(input_tokens(item, limits) for item in items)
