"""Rendering values, steps, results and errors as plain text and as safe HTML. Pure.

Every string that came from a model, a schema or an error message goes through
``html.escape`` into fixed templates of our own: no tag, attribute, link or image that a
model wrote can become live. Markdown is not rendered; text keeps its line breaks
(``white-space: pre-wrap``) and long words wrap. Colours are JupyterLab CSS variables with
fallbacks, so light and dark themes both read well.

``text/plain`` output is deterministic (no timings, no ids): nbval compares it.
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

PREFERRED_STEPS = ("steps", "reasoning_steps", "reasoning", "chain_of_thought", "thoughts")

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
    """Escape any value's text for HTML (quotes included)."""
    return html.escape(value if isinstance(value, str) else _scalar(value), quote=True)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def find_steps(value: Any, *, field: str | None = None) -> tuple[str | None, list[Any] | None]:
    """Where the reasoning steps are: ``(field, list)``; ``""`` is the root; ``(None, None)``."""
    if field is not None:
        if field == "" and isinstance(value, list):
            return "", value
        if isinstance(value, dict):
            steps = value.get(field)
            return field, steps if isinstance(steps, list) else []
        return field, []
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return "", value
        return None, None
    if not isinstance(value, dict):
        return None, None
    candidates = [k for k in PREFERRED_STEPS if k in value] + [
        k for k in value if k not in PREFERRED_STEPS
    ]
    for key in candidates:
        v = value.get(key)
        if isinstance(v, list) and v and all(isinstance(s, dict) for s in v):
            return key, v
    return None, None


def other_fields(value: Any, steps_field: str | None) -> dict[str, Any]:
    """The top-level fields besides the steps (e.g. ``final_answer``)."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k != steps_field}


# --- plain text -----------------------------------------------------------------------------


def value_text(value: Any, indent: int = 0) -> str:
    """A readable, deterministic plain-text tree."""
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
                lines.append(f"{pad}{k}: {_inline(v)}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return pad + "[]"
        lines = []
        for v in value:
            if isinstance(v, (dict, list)) and v:
                inner = value_text(v, indent + 1).lstrip()
                lines.append(f"{pad}- {inner}")
            else:
                lines.append(f"{pad}- {_inline(v)}")
        return "\n".join(lines)
    return pad + _inline(value)


def _inline(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return _scalar(v)


def step_text(i: int, step: Any) -> str:
    head = f"  {i}. "
    if not isinstance(step, dict):
        return head + _inline(step)
    lines = []
    for n, (k, v) in enumerate(step.items()):
        prefix = head if n == 0 else " " * len(head)
        text = _inline(v).replace("\n", "\n" + " " * (len(head) + len(str(k)) + 2))
        lines.append(f"{prefix}{k}: {text}")
    return "\n".join(lines) if lines else head.rstrip()


def result_text(result: Any) -> str:
    """Deterministic text/plain of a result: steps numbered, other fields after."""
    value = result.plain
    field, steps = find_steps(value, field=getattr(result, "steps_field", None))
    model = f" (model {result.model})" if getattr(result, "model", None) else ""
    if steps is None:
        return f"{result.schema_name}{model}\n{value_text(value, 1)}"
    lines = [f"{result.schema_name} — {len(steps)} step{'s' if len(steps) != 1 else ''}{model}"]
    lines += [step_text(i, s) for i, s in enumerate(steps, 1)]
    rest = other_fields(value, field)
    if rest:
        lines.append(value_text(rest))
    return "\n".join(lines)


def error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


# --- HTML ------------------------------------------------------------------------------------


def value_html(value: Any) -> str:
    """A readable tree as HTML (nested lists of our own), every key and string escaped."""
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
        return f'<ol start="0" style="margin:0;padding-left:1.6em">{items}</ol>'
    if isinstance(value, str):
        return f'<span style="{TEXT_STYLE}">{esc(value)}</span>'
    return f"<code>{esc(_scalar(value))}</code>"


def step_html(i: int, step: Any, *, partial: bool = False) -> str:
    """One numbered step as a card."""
    if isinstance(step, dict):
        fields = "".join(
            f'<div style="margin:0.15em 0"><b style="color:{FG_MUTED}">{esc(k)}</b> '
            f'<span style="{TEXT_STYLE}">{_field_html(v)}</span></div>'
            for k, v in step.items()
        )
    else:
        fields = f'<div style="{TEXT_STYLE}">{_field_html(step)}</div>'
    edge = BORDER if partial else ACCENT
    return (
        f'<div style="border-left:3px solid {edge};background:{BG_CARD};color:{FG};'
        f'padding:0.35em 0.7em;margin:0.3em 0;border-radius:3px">'
        f'<div style="font-weight:600;color:{ACCENT}">Step {i}</div>{fields}</div>'
    )


def _field_html(v: Any) -> str:
    if isinstance(v, (dict, list)):
        return value_html(v)
    return esc(v if isinstance(v, str) else _scalar(v))


def final_html(fields: dict[str, Any]) -> str:
    """The other top-level fields, highlighted as the answer."""
    if not fields:
        return ""
    rows = "".join(
        f'<div><b>{esc(k)}</b>: <span style="{TEXT_STYLE}">{_field_html(v)}</span></div>'
        for k, v in fields.items()
    )
    return (
        f'<div style="border:2px solid {OK};border-radius:4px;padding:0.4em 0.7em;'
        f'margin:0.4em 0;color:{FG};background:{BG_SOFT}">{rows}</div>'
    )


def details_html(summary: str, body: str, *, mono: bool = False) -> str:
    """A collapsed section (escaped body), scrolling when long."""
    font = f"font-family:{MONO};" if mono else ""
    return (
        f'<details style="margin:0.3em 0"><summary style="cursor:pointer;color:{FG_MUTED}">'
        f'{esc(summary)}</summary><pre style="{TEXT_STYLE}{font}max-height:24em;overflow:auto;'
        f'background:{BG_SOFT};color:{FG};padding:0.5em;margin:0.2em 0">{esc(body)}</pre>'
        f"</details>"
    )


def result_html(result: Any) -> str:
    """Self-contained HTML of a result (no script, no remote resource; deterministic)."""
    value = result.plain
    field, steps = find_steps(value, field=getattr(result, "steps_field", None))
    model = f" · {esc(result.model)}" if getattr(result, "model", None) else ""
    head = (
        f'<div style="font-weight:600;color:{FG}">{esc(result.schema_name)}'
        f'<span style="font-weight:400;color:{FG_MUTED}">{model}</span></div>'
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


def error_html(error: BaseException) -> str:
    return (
        f'<div class="structmagic-error" style="border-left:3px solid {BAD};padding:0.4em 0.7em;'
        f'color:{FG}"><b style="color:{BAD}">{esc(type(error).__name__)}</b> '
        f'<span style="{TEXT_STYLE}">{esc(str(error))}</span></div>'
    )
