"""Rendering values, steps, results and errors as plain text and as safe HTML. Pure, stdlib only.

Every string that came from a model, a schema or an error message (values, keys, titles,
model names, messages) goes through ``html.escape(..., quote=True)`` into fixed templates of
our own: no tag, attribute, link or image that a model wrote can become live, and no remote
resource is ever loaded. The templates use only ``div span b ol li dl dt dd pre code details
summary`` with ``style``/``class`` attributes. Markdown is not rendered: text is shown as
text, keeping its line breaks (``white-space: pre-wrap``), and long words wrap
(``overflow-wrap: anywhere``); long raw JSON scrolls (``max-height`` + ``overflow: auto``).
Colours are JupyterLab CSS variables with fallbacks, so light and dark themes both read well,
and the HTML needs no script (nbconvert HTML, GitHub).

``text/plain`` output is deterministic (no timings, no ids): nbval compares it.

    >>> print(result_text(result))
    math_reasoning — 2 steps (model gpt-4o)
      1. explanation: Align the decimals: 9.80 and 9.11.
         output: 9.80 vs 9.11
      2. explanation: Compare the tenths: 8 > 1.
         output: 9.8 > 9.11
    final_answer: 9.8 is larger
"""

from __future__ import annotations

import html
import json
from typing import Any

__all__ = [
    "error_html",
    "error_text",
    "find_steps",
    "other_fields",
    "result_html",
    "result_text",
    "step_html",
    "step_text",
    "value_html",
    "value_text",
]

#: top-level keys tried first, in this order, when looking for the reasoning steps
PREFERRED_STEPS = ("steps", "reasoning_steps", "reasoning", "chain_of_thought", "thoughts")

# Colours and fonts: JupyterLab theme variables, each with a light-theme fallback.
FG = "var(--jp-ui-font-color1, #1f1f1f)"
FG_MUTED = "var(--jp-ui-font-color2, #616161)"
BG_CARD = "var(--jp-layout-color1, #ffffff)"
BG_SOFT = "var(--jp-layout-color2, #eeeeee)"
BORDER = "var(--jp-border-color2, #e0e0e0)"
ACCENT = "var(--jp-brand-color1, #1976d2)"
OK = "var(--jp-success-color1, #388e3c)"
BAD = "var(--jp-error-color1, #d32f2f)"
MONO = "var(--jp-code-font-family, monospace)"
TEXT_STYLE = "white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word;"


def esc(value: Any) -> str:
    """Escape any value's text for HTML, quotes included (non-strings as compact JSON)."""
    return html.escape(value if isinstance(value, str) else _scalar(value), quote=True)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # e.g. a circular structure: never fail to render
        return repr(value)


# --- where the steps are ----------------------------------------------------------------------


def _is_steps(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(s, dict) for s in v)


def find_steps(value: Any, *, field: str | None = None) -> tuple[str | None, list[Any] | None]:
    """Where the reasoning steps are in ``value``: ``(field, steps)``.

    With ``field`` given (``--steps``): ``(field, value[field])``, an empty list while the
    field has not arrived; ``""`` names the root itself when the value is a list. Otherwise
    detected: a root list of objects is ``("", value)``; else the first top-level key (the
    names in :data:`PREFERRED_STEPS` first, in that order, then the others in order) whose
    value is a non-empty list of objects. ``(None, None)`` when there are none: show the
    value as a tree.
    """
    if field is not None:
        if field == "" and isinstance(value, list):
            return "", value
        steps = value.get(field) if isinstance(value, dict) else None
        return field, steps if isinstance(steps, list) else []
    if isinstance(value, list):
        return ("", value) if _is_steps(value) else (None, None)
    if not isinstance(value, dict):
        return None, None
    for key in PREFERRED_STEPS:
        if _is_steps(value.get(key)):
            return key, value[key]
    for key, v in value.items():
        if key not in PREFERRED_STEPS and _is_steps(v):
            return key, v
    return None, None


def other_fields(value: Any, steps_field: str | None) -> dict[str, Any]:
    """The top-level fields besides the steps (e.g. ``final_answer``), in order."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k != steps_field}


# --- plain text -------------------------------------------------------------------------------


def _inline(v: Any, cont: str = "") -> str:
    """One value on one line (containers as JSON); a string's later lines indented by cont."""
    text = v if isinstance(v, str) else _scalar(v)
    return text.replace("\n", "\n" + cont) if cont and "\n" in text else text


def value_text(value: Any, indent: int = 0) -> str:
    """A readable, deterministic plain-text tree: keys in order, strings as they are."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}"
        lines = []
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(value_text(v, indent + 1))
            else:
                lines.append(f"{pad}{k}: {_inline(v, pad + '  ')}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return pad + "[]"
        lines = []
        for v in value:
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}- {value_text(v, indent + 1).lstrip()}")
            else:
                lines.append(f"{pad}- {_inline(v, pad + '  ')}")
        return "\n".join(lines)
    return pad + _inline(value, pad)


def step_text(i: int, step: Any) -> str:
    """Step ``i`` as numbered lines, one per field: ``  3. explanation: ...``."""
    head = f"  {i}. "
    cont = " " * len(head)
    if not isinstance(step, dict):
        return head + _inline(step, cont)
    if not step:
        return head.rstrip()
    lines = []
    for n, (k, v) in enumerate(step.items()):
        prefix = head if n == 0 else cont
        lines.append(f"{prefix}{k}: {_inline(v, cont + ' ' * (len(str(k)) + 2))}")
    return "\n".join(lines)


def plural(n: int, word: str) -> str:
    """``"1 step"``, ``"3 steps"``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def result_text(result: Any) -> str:
    """Deterministic text/plain of a result: numbered steps, then the other fields.

    No elapsed time, token counts or ids, so that a re-run notebook compares equal.
    """
    value = result.plain
    field, steps = find_steps(value, field=getattr(result, "steps_field", None))
    model = getattr(result, "model", None)
    about = f" (model {model})" if model else ""
    if steps is None:
        return f"{result.schema_name}{about}\n{value_text(value, 1)}"
    lines = [f"{result.schema_name} — {plural(len(steps), 'step')}{about}"]
    lines += [step_text(i, s) for i, s in enumerate(steps, 1)]
    rest = other_fields(value, field)
    if rest:
        lines.append(value_text(rest))
    return "\n".join(lines)


def error_text(error: BaseException) -> str:
    """``ErrorType: message`` (the message is one clear paragraph for structmagic's errors)."""
    return f"{type(error).__name__}: {error}"


# --- HTML -------------------------------------------------------------------------------------


def value_html(value: Any) -> str:
    """A readable tree as HTML (nested ``<dl>``/``<ol>`` of our own), every key/string escaped."""
    if isinstance(value, dict):
        if not value:
            return "<code>{}</code>"
        items = "".join(
            f'<dt style="font-weight:600;color:{FG_MUTED}">{esc(k)}</dt>'
            f'<dd style="margin:0 0 0.3em 1.2em">{value_html(v)}</dd>'
            for k, v in value.items()
        )
        return f'<dl style="margin:0">{items}</dl>'
    if isinstance(value, list):
        if not value:
            return "<code>[]</code>"
        items = "".join(f"<li>{value_html(v)}</li>" for v in value)
        return f'<ol style="margin:0;padding-left:1.6em">{items}</ol>'
    if isinstance(value, str):
        return f'<span style="{TEXT_STYLE}">{esc(value)}</span>'
    return f"<code>{esc(value)}</code>"


def _field_html(v: Any) -> str:
    """A field's value: a string as pre-wrapped text, a container as a tree."""
    if isinstance(v, (dict, list)) and v:
        return f'<div style="margin-left:1.2em">{value_html(v)}</div>'
    return f'<span style="{TEXT_STYLE}">{esc(v)}</span>'


def step_html(i: int, step: Any, *, partial: bool = False) -> str:
    """Step ``i`` as a numbered card: each field's name in bold, its value as text.

    ``partial`` marks the step still arriving (a muted edge instead of the accent colour).
    """
    if isinstance(step, dict):
        fields = "".join(
            f'<div style="margin:0.15em 0"><b style="color:{FG_MUTED}">{esc(k)}</b> '
            f"{_field_html(v)}</div>"
            for k, v in step.items()
        )
    else:
        fields = f"<div>{_field_html(step)}</div>"
    edge = BORDER if partial else ACCENT
    return (
        f'<div style="border-left:3px solid {edge};background:{BG_CARD};color:{FG};'
        f'padding:0.35em 0.7em;margin:0.3em 0;border-radius:3px">'
        f'<div style="font-weight:600;color:{ACCENT}">Step {int(i)}</div>{fields}</div>'
    )


def final_html(fields: dict[str, Any]) -> str:
    """The other top-level fields (the final answer), highlighted; ``""`` when none."""
    if not fields:
        return ""
    rows = "".join(f"<div><b>{esc(k)}</b>: {_field_html(v)}</div>" for k, v in fields.items())
    return (
        f'<div style="border:2px solid {OK};border-radius:4px;padding:0.4em 0.7em;'
        f'margin:0.4em 0;color:{FG};background:{BG_SOFT}">{rows}</div>'
    )


def pre_html(text: str, *, mono: bool = False) -> str:
    """Escaped text in a ``<pre>`` that wraps long lines and scrolls when very long."""
    font = f"font-family:{MONO};" if mono else ""
    return (
        f'<pre style="{TEXT_STYLE}{font}max-height:24em;overflow:auto;background:{BG_SOFT};'
        f'color:{FG};padding:0.5em;margin:0.2em 0">{esc(text)}</pre>'
    )


def details_html(summary: str, body: str, *, mono: bool = False) -> str:
    """A collapsed ``<details>`` section holding ``body`` as escaped text."""
    return (
        f'<details style="margin:0.3em 0"><summary style="cursor:pointer;color:{FG_MUTED}">'
        f"{esc(summary)}</summary>{pre_html(body, mono=mono)}</details>"
    )


def usage_text(usage: Any) -> str:
    """``"123 tokens (100 prompt + 23 completion)"``, or ``""`` when nothing is known."""
    if not isinstance(usage, dict) or not usage:
        return ""
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    total = usage.get("total_tokens")
    if total is None and isinstance(prompt, int) and isinstance(completion, int):
        total = prompt + completion
    if total is None:
        return ""
    text = f"{_scalar(total)} tokens"
    if prompt is not None and completion is not None:
        text += f" ({_scalar(prompt)} prompt + {_scalar(completion)} completion)"
    return text


def result_html(result: Any) -> str:
    """Self-contained HTML of a result: no script, no remote resource, deterministic."""
    value = result.plain
    field, steps = find_steps(value, field=getattr(result, "steps_field", None))
    about = f" · {esc(result.model)}" if getattr(result, "model", None) else ""
    head = (
        f'<div style="font-weight:600;color:{FG}">{esc(result.schema_name)}'
        f'<span style="font-weight:400;color:{FG_MUTED}">{about}</span></div>'
    )
    if steps is None:
        body = value_html(value)
    else:
        body = "".join(step_html(i, s) for i, s in enumerate(steps, 1))
        body += final_html(other_fields(value, field))
    extra = ""
    if getattr(result, "reasoning", None):
        extra += details_html("Model reasoning", result.reasoning)
    if getattr(result, "raw", ""):
        extra += details_html("Raw JSON", result.raw, mono=True)
    return (
        f'<div class="structmagic-result" style="color:{FG};border:1px solid {BORDER};'
        f'border-radius:4px;padding:0.5em 0.8em;max-width:100%">{head}{body}{extra}</div>'
    )


def error_html(error: BaseException, *, details: bool = True) -> str:
    """The error's type and message, kept visible; escaped.

    With ``details``, collapsed sections show what arrived before the error: the partial
    value (``StreamError.partial``) and the raw answer text (``.raw``) when the error has them.
    """
    extra = ""
    if details:
        partial = getattr(error, "partial", None)
        if partial is not None:
            extra += details_html("Received before the error", value_text(partial))
        raw = getattr(error, "raw", None)
        if isinstance(raw, str) and raw:
            extra += details_html("Raw answer", raw, mono=True)
    return (
        f'<div class="structmagic-error" style="border-left:3px solid {BAD};padding:0.4em 0.7em;'
        f'color:{FG}"><b style="color:{BAD}">{esc(type(error).__name__)}</b> '
        f'<span style="{TEXT_STYLE}">{esc(str(error))}</span>{extra}</div>'
    )
