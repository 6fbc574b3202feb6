"""What every view of ours shares: the theme's colours and fonts, escaping, field labels.
Pure, stdlib only.

:mod:`.render` re-exports all of it (``render.FG``, ``render.esc``, ``render.label_for``),
so the views keep reading them there; it lives here, below :mod:`.render`, so that a view
:mod:`.render` itself shows (:mod:`.grounded`) can use it too without an import cycle.

Colours are JupyterLab CSS variables with light-theme fallbacks, so light and dark themes
both read well; the font lists fall back to the common CJK fonts.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ACCENT",
    "BAD",
    "BG_CARD",
    "BG_SOFT",
    "BLOCK",
    "BORDER",
    "CJK_FONTS",
    "DEEPER",
    "DIFFER_BG",
    "DIFFER_FG",
    "DIFFER_STYLE",
    "FG",
    "FG_MUTED",
    "FONT",
    "LINE_HEIGHT",
    "MONO",
    "NO_MATH",
    "OK",
    "TEXT_STYLE",
    "WARN",
    "badge",
    "edge",
    "esc",
    "humanize",
    "is_plain_key",
    "label_for",
    "plural",
    "scalar",
]

#: what stands for the levels of a value deeper than any answer may be (a partial answer
#: that is being refused: the renderers stop there rather than recurse without end)
DEEPER = "…"

_FALLBACK = re.compile(r"var\(--[\w-]+,\s*(#[0-9a-fA-F]{3,8})\)")


def edge(prop: str, spec: str, colour: str) -> str:
    """A border declaration that survives JupyterLab's sanitizer: ``prop: spec <hex>;`` with
    the colour's plain fallback first, then the same with the theme's variable (which wins
    where styles are kept). Untrusted output drops every value that uses ``var()``, so
    without the first the step cards, the answer's box and a differing field's mark would
    lose their edges there. Only for edges: an accent, a status colour or a grey line reads
    on a light and a dark page alike (a text colour or a background would not)."""
    plain = _FALLBACK.fullmatch(colour)
    first = f"{prop}:{spec} {plain[1]};" if plain else ""
    return f"{first}{prop}:{spec} {colour};"


# Colours and fonts: JupyterLab theme variables, each with a light-theme fallback.
FG = "var(--jp-ui-font-color1, #1f1f1f)"
FG_MUTED = "var(--jp-ui-font-color2, #616161)"
BG_CARD = "var(--jp-layout-color1, #ffffff)"
BG_SOFT = "var(--jp-layout-color2, #eeeeee)"
BORDER = "var(--jp-border-color2, #e0e0e0)"
ACCENT = "var(--jp-brand-color1, #1976d2)"
OK = "var(--jp-success-color1, #388e3c)"
BAD = "var(--jp-error-color1, #d32f2f)"
WARN = "var(--jp-warn-color1, #f57c00)"
#: the background of a field whose answers differ between models, and its text: a pair that
#: reads in both themes (light: black on grey 400, contrast 11.6; dark: white on grey 700,
#: 6.2), with a warning-coloured edge (JupyterLab's ``--jp-warn-color3`` is pale in both
#: themes, so the dark theme's white text on it could not be read)
DIFFER_BG = "var(--jp-layout-color3, #bdbdbd)"
DIFFER_FG = "var(--jp-ui-font-color0, #000000)"
#: the style of one differing field's block (its label and its value, marked as one)
DIFFER_STYLE = (f"background:{DIFFER_BG};color:{DIFFER_FG};"
                + edge("border-left", "3px solid", WARN)
                + "border-radius:3px;padding:0.1em 0.4em;margin:0.1em 0;")
# CJK fonts after the theme's own list, so Chinese, Japanese and Korean text gets a real
# font wherever one of these is installed (macOS, Windows, Linux with fonts-noto-cjk or
# fonts-wqy-zenhei), before the browser's last-resort fallback.
CJK_FONTS = ("'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', 'Source Han Sans SC', "
             "'WenQuanYi Zen Hei'")
FONT = ("var(--jp-content-font-family, system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, "
        f"sans-serif), {CJK_FONTS}, sans-serif")
MONO = f"var(--jp-code-font-family, monospace), {CJK_FONTS}, monospace"
LINE_HEIGHT = "1.5"
#: the style every block of ours starts with: its own line height and font list
BLOCK = f"line-height:{LINE_HEIGHT};font-family:{FONT};"
TEXT_STYLE = "white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word;"


#: the class that keeps JupyterLab's MathJax off our HTML (it typesets rendered HTML output:
#: "$0.15 in / $0.60 out" would become formulas), on the root of every static view
NO_MATH = "mathjax_ignore"


def esc(value: Any) -> str:
    """Escape any value's text for HTML, quotes included (non-strings as compact JSON)."""
    return html.escape(value if isinstance(value, str) else scalar(value), quote=True)


def scalar(value: Any) -> str:
    """A value's text: a string as it is, anything else as compact JSON (never failing)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # e.g. a circular structure: never fail to render
        return _bounded_repr(value)
    except RecursionError:  # a partial answer nested deeper than any answer may be
        return DEEPER


def _bounded_repr(value: Any) -> str:
    try:
        return repr(value)
    except RecursionError:
        return DEEPER


# --- labels ----------------------------------------------------------------------------------

_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[_-][A-Za-z0-9]+)*")
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def is_plain_key(key: Any) -> bool:
    """Whether ``key`` is a plain ASCII field name, the kind :func:`humanize` rewrites."""
    return isinstance(key, str) and _KEY.fullmatch(key) is not None


def humanize(key: str) -> str:
    """A field name made readable: ``final_answer``/``finalAnswer`` → ``"Final answer"``.

    Only plain ASCII names are changed (acronyms stay: ``HTTPStatus`` → ``"HTTP status"``);
    any other key is shown as it is.
    """
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        return key if isinstance(key, str) else scalar(key)
    words = [w if len(w) > 1 and w.isupper() else w.lower() for w in _WORDS.findall(key)]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def label_for(key: Any, labels: Mapping[str, str] | None = None) -> str:
    """The label of one field: from ``labels`` when there, else the key made readable."""
    if labels and isinstance(key, str) and key in labels:
        return labels[key]
    return humanize(key)


def badge(text: str, colour: str, *, title: str = "", name: str = "") -> str:
    """A small rounded badge of ``text`` (escaped) in ``colour``, its edge too (the widget's
    status, a result's doubt); ``title``: its tooltip, ``name``: its class."""
    cls = f' class="{esc(name)}"' if name else ""
    tip = f' title="{esc(title)}"' if title else ""
    return (f'<span{cls}{tip} style="color:{colour};{edge("border", "1px solid", colour)}'
            "border-radius:8px;padding:0 6px;font-size:90%;font-weight:400;white-space:nowrap"
            f'">{esc(text)}</span>')


def plural(n: int, word: str) -> str:
    """``"1 step"``, ``"3 steps"``."""
    return f"{n} {word}{'' if n == 1 else 's'}"
