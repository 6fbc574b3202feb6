"""Messages: the conversation sent for a call, the re-ask turn, and reading JSON out of text.

Pure functions, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from string import Formatter
from typing import Any

from ..errors import InputError, ValidationIssue
from ..transport.status import MAX_ANSWER_DEPTH

__all__ = [
    "FoundJSON",
    "TemplateError",
    "answer_depth",
    "build_messages",
    "check_prompt",
    "check_text",
    "example_turns",
    "extract_json",
    "fill_template",
    "find_json",
    "reask_messages",
    "row_text",
    "schema_instruction",
]


def schema_instruction(schema_text: str, *, tool: bool = False) -> str:
    """The system-prompt text that asks for JSON matching a schema (json_object/prompt modes)."""
    if tool:
        return ""
    return (
        "Answer with a single JSON value that conforms to this JSON Schema, and nothing "
        "else: no prose, no Markdown fences.\nJSON Schema:\n" + schema_text
    )


def build_messages(
    prompt: str | Sequence[Mapping[str, Any]],
    *,
    system: str | None,
    mode: str,
    schema_text: str,
    parts: Sequence[Any] = (),
    examples: Sequence[Mapping[str, Any]] = (),
) -> tuple[dict[str, Any], ...]:
    """The messages of a call: system (+ schema instruction where the mode needs it), the
    few-shot ``examples`` (turns every row shares, :func:`example_turns`), then the row.

    ``prompt`` is the user message, or a whole list of messages to send as they are.
    ``parts`` (images and documents, :class:`structmagic.inputs.Part`) go into the user
    message, before its text: its content becomes ``[*parts, text]`` (with a list of
    messages, the last user message's). Stable first: what every row of a run shares comes
    before the row, so the prompt cache can serve it.
    """
    if isinstance(prompt, str):
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    else:
        messages = [dict(m) for m in prompt]
    if parts:
        _attach(messages, parts)
    parts = [system] if system else []
    if mode in ("json_object", "prompt"):
        parts.append(schema_instruction(schema_text))
    if parts:
        if messages and messages[0].get("role") == "system" and isinstance(
            messages[0].get("content"), str
        ):
            parts.insert(0, messages[0]["content"])
            messages = messages[1:]
        messages.insert(0, {"role": "system", "content": "\n\n".join(parts)})
    if examples:
        at = 1 if messages and messages[0].get("role") == "system" else 0
        messages[at:at] = [dict(m) for m in examples]
    return tuple(messages)


def example_turns(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, Any], ...]:
    """Few-shot examples as turns: for each ``(input text, value as JSON text)``, the input
    as the user's turn and the value as the assistant's answer."""
    turns: list[dict[str, Any]] = []
    for text, value in pairs:
        turns.append({"role": "user", "content": text})
        turns.append({"role": "assistant", "content": value})
    return tuple(turns)


def _attach(messages: list[dict[str, Any]], parts: Sequence[Any]) -> None:
    """Put ``parts`` at the front of the last user message's content (a new list)."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            content = messages[i].get("content")
            items = list(content) if isinstance(content, (list, tuple)) else [content or ""]
            messages[i] = {**messages[i], "content": [*parts, *items]}
            return
    messages.append({"role": "user", "content": list(parts)})


def reask_messages(raw: str, issues: Sequence[ValidationIssue]) -> tuple[dict[str, Any], ...]:
    """The two turns appended after an invalid answer: the answer, then what was wrong."""
    listed = "\n".join(f"- {issue.path}: {issue.message}" for issue in issues[:50])
    return (
        {"role": "assistant", "content": raw},
        {
            "role": "user",
            "content": "Your answer did not match the required JSON Schema:\n"
            + listed
            + "\nAnswer again with the complete, corrected JSON value only.",
        },
    )


_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def answer_depth(text: str) -> int:
    """How deep objects and arrays nest in ``text`` (brackets inside strings not counted).

    Cheap: a text with at most :data:`MAX_ANSWER_DEPTH` brackets in all is not scanned.
    """
    if text.count("{") + text.count("[") <= MAX_ANSWER_DEPTH:
        return 0
    plain = text.replace("\\\\", "").replace('\\"', "")
    outside = "".join(plain.split('"')[::2])
    brackets = _NOT_BRACKET.sub("", outside)
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


_FENCE = re.compile(r"```[ \t]*(?:json|JSON|json5)?[ \t]*\r?\n?(.*?)```", re.S)
_decoder = json.JSONDecoder()


@dataclass(frozen=True)
class FoundJSON:
    """The JSON value read out of an answer (:func:`find_json`).

    ``value`` is the value, or None with ``problem`` saying why none was read; ``raw`` the
    exact text it was read from (a substring of the answer: the whole answer, whitespace
    included, when the answer is only the JSON; ``""`` when none was read); ``complete``
    whether that JSON ended where its writer ended it — the whole answer, a closed
    fence, or a value that no bracket before it encloses — and not on a digit (a number cut
    at a token limit still reads as a number). A value read from inside a cut answer
    (``{"a": {"b": 1}, "c": "x``) is not complete.
    """

    value: Any = None
    problem: str | None = None
    raw: str = ""
    complete: bool = False


def find_json(text: str) -> FoundJSON:
    """Read the JSON value out of an answer, with the text it was read from.

    Tries the whole text, then a fenced code block, then the first ``{``/``[`` from which
    a complete JSON value decodes (servers that ignore ``response_format`` add prose).
    """
    stripped = text.strip()
    if not stripped:
        return FoundJSON(problem="the answer is empty")
    try:
        return FoundJSON(json.loads(stripped), raw=text, complete=_closed(stripped))
    except ValueError as exc:
        first_error = f"not valid JSON ({exc})"
    offset = len(text) - len(text.lstrip())  # where ``stripped`` starts in ``text``
    for match in _FENCE.finditer(stripped):
        inner = match.group(1)
        body = inner.strip()
        try:
            value = json.loads(body)
        except ValueError:
            continue
        start = offset + match.start(1) + len(inner) - len(inner.lstrip())
        return FoundJSON(value, raw=text[start:start + len(body)], complete=_closed(body))
    for i, ch in enumerate(stripped):
        if ch in "{[":
            try:
                value, end = _decoder.raw_decode(stripped, i)
            except ValueError:
                continue
            body = stripped[i:end]
            return FoundJSON(value, raw=body,
                             complete=_closed(body) and _open_brackets(stripped[:i]) <= 0)
    if "{" not in stripped and "[" not in stripped:
        return FoundJSON(problem="the answer contains no JSON value")
    return FoundJSON(problem=first_error)


def extract_json(text: str) -> tuple[Any, str | None]:
    """Read the JSON value out of an answer: ``(value, None)`` or ``(None, reason)``
    (:func:`find_json` without the text it was read from)."""
    found = find_json(text)
    return found.value, found.problem


def _closed(json_text: str) -> bool:
    """Whether a JSON text ends on something a cut cannot leave whole: a bracket, a quote,
    ``true``/``false``/``null`` (not a digit)."""
    return not json_text[-1:].isdigit()


def _open_brackets(text: str) -> int:
    """How many brackets are left open at the end of ``text`` (those in strings not
    counted)."""
    plain = text.replace("\\\\", "").replace('\\"', "")
    outside = "".join(plain.split('"')[::2])
    brackets = _NOT_BRACKET.sub("", outside)
    return sum(map(_BRACKET_STEP.__getitem__, brackets))


class TemplateError(ValueError):
    """A ``{name}`` in a cell body that cannot be filled, or text that cannot be sent."""


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(text: str, what: str) -> None:
    """Raise :class:`TemplateError` if ``text`` cannot be sent as UTF-8 (a lone surrogate).

    ``what`` names the text in the message ("The cell body", "The value of {x}"). Lone
    surrogates come from bytes decoded with ``errors="surrogateescape"`` (file names, some
    CSV readers) or a JSON ``"\\ud800"`` escape; no request can carry them.
    """
    if text.isascii():
        return
    found = _SURROGATE.search(text)
    if found is None:
        return
    raise TemplateError(
        f"{what} contains a lone surrogate (U+{ord(found.group()):04X} at character "
        f"{found.start() + 1}), which is not valid Unicode text and cannot be sent; clean it "
        "first, e.g. text.encode('utf-8', 'replace').decode('utf-8')."
    )


def fill_template(template: str, lookup: Mapping[str, Any]) -> str:
    """Fill ``{name}``, ``{name.attr}``, ``{name[0]}`` and ``{name!r:>10}`` from ``lookup``.

    ``{{`` and ``}}`` are literal braces. An unknown name raises :class:`TemplateError`
    naming it (never a silent leftover). Attribute access is limited to plain names
    (no dunder attributes), as ``str.format`` with user data should be.
    """
    out: list[str] = []
    fmt = Formatter()
    try:
        parsed = list(fmt.parse(template))
    except ValueError as exc:
        raise TemplateError(
            f"The cell body has an unbalanced brace ({exc}); write {{{{ and }}}} for "
            "literal braces, or use --no-interpolate."
        ) from None
    for literal, field, spec, conversion in parsed:
        out.append(literal)
        if field is None:
            continue
        if field == "" or field.isdigit():
            raise TemplateError(
                "The cell body has an empty or positional field {}; name a variable, "
                "write {{ }} for literal braces, or use --no-interpolate."
            )
        if "__" in field:
            raise TemplateError(f"{{{field}}}: names with double underscores are not filled.")
        first = re.split(r"[.\[]", field, maxsplit=1)[0]
        if first not in lookup:
            raise TemplateError(
                f"The cell body refers to {{{field}}}, but {first!r} is not defined "
                "(write {{ and }} for literal braces, or use --no-interpolate)."
            )
        try:
            value, _ = fmt.get_field(field, (), lookup)
            value = fmt.convert_field(value, conversion)
            spec_text = fmt.vformat(spec, (), lookup) if spec else ""
            filled = format(value, spec_text)
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise TemplateError(f"Could not fill {{{field}}} in the cell body: {exc}") from None
        check_text(filled, f"The value of {{{field}}} (variable {first!r})")
        out.append(filled)
    return "".join(out)


def row_text(template: str, row: Mapping[str, Any]) -> str:
    """The text a template takes from one row's own fields, each value as it is filled in,
    one a line: what a row's answer is grounded in (not the template's fixed words, which
    would "ground" whatever they mention). A whole row (``{item}`` of a DataFrame row, a
    mapping) gives its values, not its repr. Fields the row does not have (the notebook's
    names) are left out; a field that cannot be filled is left out too (filling the prompt
    says so)."""
    fmt = Formatter()
    try:
        parsed = list(fmt.parse(template))
    except ValueError:
        return ""
    texts: list[str] = []
    for _, field, spec, conversion in parsed:
        if not field or "__" in field:
            continue
        first = re.split(r"[.\[]", field, maxsplit=1)[0]
        if first not in row:
            continue
        try:
            value, _ = fmt.get_field(field, (), row)
            if isinstance(value, Mapping) and not spec and conversion is None:
                texts.extend(str(v) for v in value.values() if v is not None)
                continue
            value = fmt.convert_field(value, conversion)
            texts.append(format(value, fmt.vformat(spec, (), row) if spec else ""))
        except (AttributeError, KeyError, IndexError, TypeError, ValueError):
            continue
    return "\n".join(texts)


def check_prompt(prompt: Any, system: str | None) -> None:
    """Refuse what no request can carry, before any request: a prompt of the wrong kind, or
    text with a lone surrogate (which cannot be encoded as UTF-8)."""
    try:
        if system is not None:
            check_text(system, "The system prompt")
        if isinstance(prompt, str):
            check_text(prompt, "The prompt")
            return
        if isinstance(prompt, Sequence) and not isinstance(prompt, (bytes, bytearray)) and all(
                isinstance(m, Mapping) and isinstance(m.get("role"), str)
                and isinstance(m.get("content"), (str, list)) for m in prompt):
            if not prompt:
                raise InputError("The list of messages is empty.")
            for i, m in enumerate(prompt):
                if isinstance(m.get("content"), str):
                    check_text(m["content"], f"Message {i + 1}")
            return
    except TemplateError as exc:
        raise InputError(str(exc)) from None
    raise InputError(
        f"The prompt must be a string or a list of chat messages ({{'role', 'content'}} "
        f"dicts with text content), not {_prompt_kind(prompt)}.")


def _prompt_kind(prompt: Any) -> str:
    if isinstance(prompt, list) and prompt:
        return "a list holding " + ", ".join(sorted({type(m).__name__ for m in prompt})) + (
            " without 'role' and 'content'" if all(isinstance(m, Mapping) for m in prompt)
            else "")
    return type(prompt).__name__
