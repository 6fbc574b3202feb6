"""One HTML-safety audit for every test that checks our markup (render, widget, security).

Our templates use a small set of tags and attributes (see ``structmagic/display/render.py``,
``handout.py`` and ``grounded.py``); model text must never add to them. :func:`assert_inert`
parses markup and fails on any tag or attribute outside the allowlist, and on any ``style``
or ``href`` value that could run or fetch something (``javascript:``, ``url(``,
``expression(``; in a ``title``, the text of a tooltip, such words are only text). So no
``<img src>``, no ``<script>``, no event handler: a URL a model wrote stays text. The only
links are the grounded view's own fragments (``<a href="#smg…-s3">``: a ``#`` and a plain
id, nothing that leaves the page), the only ids plain ones. The ``<style>`` elements allowed
are ours, exactly (``handout.HANDOUT_CSS``, ``grounded.GROUNDED_CSS``); an ``<input>`` only
as a text box (the handout's "Your answer:"); an ``<img>`` only of a ``data:`` image made in
the kernel (a thumbnail, a chart), never a URL.

    >>> assert_inert('<div style="color:red">&lt;img src=x onerror=alert(1)&gt;</div>')
    '<img src=x onerror=alert(1)>'
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from structmagic.display.grounded import GROUNDED_CSS
from structmagic.display.handout import HANDOUT_CSS

__all__ = [
    "ALLOWED_ATTRS",
    "ALLOWED_TAGS",
    "MARKDOWN_IMAGE",
    "POISON",
    "POISON_HTML",
    "Audit",
    "assert_inert",
    "widget_texts",
]

#: strings that would be live HTML if not escaped
POISON_HTML = [
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<script>alert(1)</script>",
    '<a href="javascript:alert(1)">x</a>',
    "<style>body{display:none}</style>",
    '<iframe srcdoc="<script>alert(1)</script>">',
    '<a href="javascript:alert(1)">click</a>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
]
#: a Markdown image: harmless as text, a remote request if rendered as Markdown
MARKDOWN_IMAGE = "![x](https://evil.example/x.png)"
#: everything a model might write to get markup or a request into the page
POISON = [*POISON_HTML, MARKDOWN_IMAGE]

#: the tags our templates may use
ALLOWED_TAGS = frozenset({
    "div", "span", "b", "strong", "ol", "ul", "li", "dl", "dt", "dd", "pre", "code",
    "details", "summary", "br", "p", "small", "em", "label", "input", "mark", "a",
    "table", "caption", "thead", "tbody", "tr", "th", "td", "figure", "figcaption", "img",
})
#: the attributes our templates may use
ALLOWED_ATTRS = frozenset({"style", "class", "title", "open", "type", "id", "href", "scope",
                           "colspan", "src", "alt"})
#: an image is only ever one made in the kernel: a base64 ``data:`` URI of an image type
DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}")
#: the only ``<style>`` elements allowed: our own rules, as they are
ALLOWED_CSS = frozenset({HANDOUT_CSS, GROUNDED_CSS})
#: an id of ours; a link is ``#`` and one
PLAIN_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
#: attribute values containing one of these could run or fetch something...
ACTIVE_VALUES = ("javascript:", "url(", "expression(")
#: ...in these attributes (the others allowed are a tooltip's text, classes and plain ids)
ACTIVE_ATTRS = frozenset({"style", "href"})


class Audit(HTMLParser):
    """Collects every tag/attribute outside the allowlist (``bad``) and the text shown."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.bad: list[str] = []
        self.text: list[str] = []
        self._css: list[str] | None = None  # the text of an open <style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "style" and not attrs:
            self._css = []
        elif tag not in ALLOWED_TAGS:
            self.bad.append(f"tag <{tag}>")
        if tag == "input" and dict(attrs).get("type") != "text":
            self.bad.append(f"<input type={dict(attrs).get('type')!r}>")
        if tag == "img" and "src" not in dict(attrs):
            self.bad.append("<img> without a data: image")
        if tag != "input" and "type" in dict(attrs):
            self.bad.append(f"attribute type= on <{tag}>")
        for name, value in attrs:
            if name == "id" and not PLAIN_ID.fullmatch(value or ""):
                self.bad.append(f"id={value!r} on <{tag}>")
            if name == "src" and (tag != "img" or not DATA_IMAGE.fullmatch(value or "")):
                self.bad.append(f"src={(value or '')[:40]!r} on <{tag}>")
            if name == "href" and (tag != "a" or not (value or "").startswith("#")
                                   or not PLAIN_ID.fullmatch((value or "")[1:])):
                self.bad.append(f"href={value!r} on <{tag}>")
        for name, value in attrs:
            if name not in ALLOWED_ATTRS:
                self.bad.append(f"attribute {name}= on <{tag}>")
            if (name in ACTIVE_ATTRS or name not in ALLOWED_ATTRS) and value and any(
                    active in value.lower() for active in ACTIVE_VALUES):
                self.bad.append(f"active value {value!r}")

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._css is not None:
            css, self._css = "".join(self._css), None
            if css not in ALLOWED_CSS:
                self.bad.append(f"<style> {css[:60]!r}")

    def handle_data(self, data: str) -> None:
        if self._css is not None:  # CSS is not shown text
            self._css.append(data)
        else:
            self.text.append(data)

    def close(self) -> None:
        super().close()
        if self._css is not None:
            self.bad.append("<style> never closed")


def assert_inert(markup: str) -> str:
    """No live tag, handler or active value in ``markup``; returns the text a browser shows."""
    audit = Audit()
    audit.feed(markup)
    audit.close()
    assert audit.bad == [], audit.bad
    return "".join(audit.text)


def widget_texts(root: Any) -> list[str]:
    """Every value / description / tooltip / placeholder / title string in a widget tree."""
    out: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        for attr in ("value", "description", "tooltip", "placeholder"):
            v = getattr(node, attr, None)
            if isinstance(v, str):
                out.append(v)
        out.extend(t for t in getattr(node, "titles", ()) or () if isinstance(t, str))
        stack.extend(getattr(node, "children", ()) or ())
    return out
