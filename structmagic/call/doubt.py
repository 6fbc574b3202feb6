"""How much to doubt one row's answer: :func:`doubt_of`, one number in [0, 1].

It is built from what is known about the answer, each signal a number in [0, 1], and is the
largest of them (the strongest single reason to look at the row):

- a failed row: 1;
- ``confidence=True``: 1 minus the lowest field confidence (:attr:`Result.confidence`);
- ``samples=K`` (or ``--compare``): 1 minus the lowest agreement
  (:attr:`Result.agreement`, the share of the samples, or of the models, that gave the
  accepted value);
- grounding: the share of the values looked for that were not found in the source;
- a re-ask: :data:`REASK_DOUBT` when the first answer was not accepted (it did not match
  the schema, or values were not found in the source) and the model had to be asked again.

Without confidence, samples, a comparison or grounding, only failures and re-asks are known,
so the doubt of a row accepted at once is 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .grounding import grounded_share

__all__ = ["DOUBT_ABOVE", "ONLY", "REASK_DOUBT", "doubt_of"]

#: the doubt of an answer that needed a re-ask, when nothing else is known against it
REASK_DOUBT = 0.4
#: rows above this doubt are "doubtful" (``--doubt-above``, ``--only doubtful``)
DOUBT_ABOVE = 0.5
#: the rows a re-run can take (``--only``, :func:`structmagic.rerun`'s ``only=``)
ONLY = ("failed", "doubtful", "ungrounded")


def doubt_of(*, failed: bool = False, confidence: Mapping[str, float] | None = None,
             agreement: Mapping[str, float] | None = None,
             grounding: Mapping[str, Any] | None = None, reasks: int = 0) -> float:
    """The doubt of one answer from what is known of it (see the module's text)."""
    if failed:
        return 1.0
    signals = [0.0]
    if confidence:
        signals.append(1.0 - min(confidence.values()))
    if agreement:
        signals.append(1.0 - min(agreement.values()))
    share = grounded_share(grounding) if grounding else None
    if share is not None:
        signals.append(1.0 - share)
    if reasks:
        signals.append(REASK_DOUBT)
    return min(1.0, max(0.0, max(signals)))
