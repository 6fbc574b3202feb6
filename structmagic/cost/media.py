"""The input tokens of images and documents, and of a whole request: never 4 bytes of base64
a token.

Each provider declares how it counts them (:class:`structmagic.inputs.parts.MediaTokens` on
its :attr:`~structmagic.providers.Provider.inputs`): an image by its size as sent (tiles or
pixels), a PDF by its pages. :func:`input_tokens` applies that rule to one measured input
(:func:`structmagic.inputs.measure.measure_inputs`, which counts a PDF's pages;
:func:`~structmagic.inputs.measure.measure_part` for a prepared part).

:func:`request_tokens` is the one count of a request's input tokens for every estimate and
cap (:func:`structmagic.estimate`, the threads' ``max_cost``, a batch job's ``max_cost`` and
expected cost): its body's text by the heuristic of :mod:`.tokens` (the data of any image or
document in it left out), plus each of its images and PDF pages by the provider's rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .tokens import count_body, count_json

if TYPE_CHECKING:
    from ..inputs.measure import Measured
    from ..inputs.parts import InputLimits

__all__ = ["input_tokens", "inputs_tokens", "request_tokens"]


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


def request_tokens(body: Mapping[str, Any], media: Iterable[Measured], limits: InputLimits,
                   *, text: str | None = None) -> int:
    """The input tokens of one request: its ``body``'s text (:func:`.tokens.count_body`, or
    :func:`.tokens.count_json` when its compact JSON ``text`` is at hand), the data of any
    image or document in it left out, plus its images and documents (``media``, measured;
    whether the body carries them or not) by the provider's rule (``limits``)."""
    counted = count_body(body) if text is None else count_json(body, text)
    return counted + inputs_tokens(media, limits)
