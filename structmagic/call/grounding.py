"""Grounding a call's answer: the source it is checked against, the check, and what
``require_grounding`` does with the values that are not found.

The source of a call, first that applies:

1. ``source=`` (``--source VAR``): the text given (a ``str`` or a
   :class:`~structmagic.grounding.Source`); a blank one (``""``, NaN) means there is no text
   to check, so every value is ``unverifiable``;
2. the call has images or documents: the text layer of its PDFs, with page numbers
   (:func:`structmagic.inputs.text_source`); an image, or a scanned PDF without a text layer,
   has none, so the values are ``unverifiable`` (pass the OCR text as ``source=``);
3. the prompt: the text the user supplied (the cell body after ``{name}`` interpolation; for
   ``--each`` the magic passes the row's own values, not the template's instructions); for a
   list of chat messages, the text of the user's messages.

The reasoning-steps field is the model's own prose: its values are ``not_applicable``. That
is the field ``--steps`` names, else a top-level field named like reasoning (``steps``,
``reasoning_steps``, ``reasoning``, ``chain_of_thought``, ``thoughts``), whatever its items
are; a list of objects under another name (an invoice's ``lines``) is data, and grounded.
Nothing here sends anything; the check runs after validation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import errors as E
from ..display.render import PREFERRED_STEPS
from ..grounding import Grounding, Source, ground
from ..inputs import text_source
from ..inputs.convert import is_blank

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers.base import Part
    from ..schema import SchemaSpec

__all__ = ["Grounder", "given_source", "grounded_share", "grounder_for", "prompt_text",
           "source_of", "ungrounded_paths"]

#: the longest value quoted back to the model in a re-ask
_QUOTED = 200


@dataclass(frozen=True)
class Grounder:
    """How one call's answer is grounded: against ``source`` (None: no text to check),
    with ``schema`` (computed and enum fields are not looked for), ``steps_field`` skipped,
    and ``mode`` ``"check"`` (report only), ``"on"`` or ``"warn"`` (``require_grounding``)."""

    source: Source | None
    schema: Any
    mode: str = "check"
    steps_field: str | None = None

    def check(self, plain: Any) -> dict[str, Grounding]:
        """Every leaf value's record, by path."""
        return ground(plain, self.source, self.schema, skip=self.skipped(plain))

    def skipped(self, plain: Any) -> tuple[str, ...]:
        """The top-level fields that hold the model's reasoning, not values to look for."""
        if self.steps_field:
            return (self.steps_field,)
        if isinstance(plain, dict):
            return tuple(key for key in PREFERRED_STEPS if key in plain)
        return ()

    def missing(self, grounding: Mapping[str, Grounding]) -> list[str]:
        """The paths that ``require_grounding`` asks about again: the ungrounded ones (none
        when grounding is only reported)."""
        if self.mode == "check":
            return []
        return ungrounded_paths(grounding)

    def reask_text(self, grounding: Mapping[str, Grounding], paths: Sequence[str]) -> str:
        """What the model is told after an answer with values not in the source."""
        listed = "\n".join(
            f"- {path}: {_quoted(grounding[path].value)}" for path in paths[:50])
        return ("These values of your answer are not in the document as it is written:\n"
                f"{listed}\nGive each value exactly as the document writes it, or null where "
                "the schema allows it and the document does not give the value. Answer again "
                "with the complete, corrected JSON value only.")

    def error(self, grounding: dict[str, Grounding], paths: list[str], plain: Any,
              raw: str, reasks: int) -> E.UngroundedError:
        n = len(paths)
        tries = reasks + 1
        return E.UngroundedError(
            f"{n} {'value is' if n == 1 else 'values are'} not in the source text after "
            f"{tries} {'try' if tries == 1 else 'tries'}:", paths=paths, grounding=grounding,
            value=plain, raw=raw,
            hint="Look at the source (the error's .grounding holds every value's record), "
                 "raise --reasks, or keep such answers with require_grounding='warn' "
                 "(--require-grounding warn).")


def ungrounded_paths(grounding: Mapping[str, Grounding]) -> list[str]:
    """The paths of the values that were looked for and not found."""
    return [path for path, rec in grounding.items() if rec.status == "ungrounded"]


def _quoted(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _QUOTED else text[:_QUOTED] + "…"


def grounder_for(settings: Settings, spec: SchemaSpec, prompt: Any, parts: Sequence[Part],
                 source: Any = None, *, steps_field: str | None = None) -> Grounder | None:
    """The grounder of one call, or None when grounding was not asked for (it then costs
    nothing)."""
    if not settings.grounds:
        return None
    required = settings.require_grounding
    return Grounder(source_of(prompt, parts, source), spec.original,
                    "check" if required == "off" else required, steps_field)


def source_of(prompt: Any, parts: Sequence[Part] = (), source: Any = None) -> Source | None:
    """The text a call's values are grounded in (see the module docstring); None when there
    is none to check."""
    if source is not None:
        return given_source(source)
    if parts:
        return text_source(parts)
    return Source(prompt_text(prompt))


def given_source(source: Any) -> Source | None:
    """``source=`` as a :class:`Source`; None for a blank one; :class:`ConfigError` for
    something that is not text."""
    if isinstance(source, Source):
        return source if source.text else None
    if is_blank(source):  # an empty cell: NaN, pandas' NA
        return None
    if not isinstance(source, str):
        raise E.ConfigError(
            f"source must be the text to ground the values in (a str), not "
            f"{type(source).__name__}; for a PDF, pass it with files= and its text layer is "
            "used.")
    return Source(source) if source.strip() else None


def prompt_text(prompt: Any) -> str:
    """The text the user supplied: the prompt, or the text of the user's chat messages."""
    if isinstance(prompt, str):
        return prompt
    texts: list[str] = []
    for message in prompt:
        if not isinstance(message, Mapping) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, Sequence):
            texts.extend(part["text"] for part in content
                         if isinstance(part, Mapping) and isinstance(part.get("text"), str))
    return "\n\n".join(texts)


def grounded_share(grounding: Mapping[str, Grounding] | None) -> float | None:
    """The share of the values looked for that were found (exact, normalized or fuzzy);
    None when none was looked for (no grounding, or only values that are not text to look
    for: booleans, nulls, computed fields, no source)."""
    if not grounding:
        return None
    looked = [rec for rec in grounding.values() if rec.found or rec.status == "ungrounded"]
    if not looked:
        return None
    return sum(1 for rec in looked if rec.found) / len(looked)
