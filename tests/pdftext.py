"""The text of a PDF that headless Chromium printed (``page.pdf()``): enough to check what a
printed page shows, with no PDF package installed.

Chromium writes PDFs with Skia: each page's content is one Flate-compressed stream, text is
shown with ``Tj`` / ``TJ`` in Type0 fonts (Identity-H, two bytes a glyph), and each font has
a ``ToUnicode`` CMap mapping its glyphs back to text. :func:`pdf_text` reads exactly that and
nothing more (no object streams, no other encodings) and gives the text runs in the order
they are drawn, joined: lines are not recovered (Skia draws a line in several runs, each in
its own text object), so check for phrases, not for layout. Glyphs it cannot map (a font
without a CJK glyph) come out as U+FFFD; ligatures as drawn (``ﬁ``).

    >>> "Step 1" in pdf_text(page.pdf())
    True
"""

from __future__ import annotations

import re
import zlib

__all__ = ["pdf_text"]

_OBJECT = re.compile(rb"(\d+) 0 obj(.*?)endobj", re.S)
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_SHOW = re.compile(r"/(F\d+)\s+[\d.]+\s+Tf|\[(.*?)\]\s*TJ|<([0-9A-Fa-f]*)>\s*Tj", re.S)


def _stream(body: bytes) -> bytes:
    found = _STREAM.search(body)
    if found is None:
        return b""
    data = found.group(1)
    return zlib.decompress(data) if b"/FlateDecode" in body[:found.start()] else data


def _cmap(text: str) -> dict[int, str]:
    """A ToUnicode CMap's glyph -> text map (``bfchar`` and ``bfrange`` entries)."""
    out: dict[int, str] = {}
    for block in re.findall(r"beginbfchar(.*?)endbfchar", text, re.S):
        for src, dst in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            out[int(src, 16)] = bytes.fromhex(dst).decode("utf-16-be", "replace")
    for block in re.findall(r"beginbfrange(.*?)endbfrange", text, re.S):
        for lo, hi, dst in re.findall(
                r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            start = int(dst, 16)
            for k in range(int(lo, 16), int(hi, 16) + 1):
                out[k] = chr(start + k - int(lo, 16))
    return out


def pdf_text(data: bytes) -> str:
    """The text shown on every page of ``data``, in the order it is drawn."""
    objects = {int(n): body for n, body in _OBJECT.findall(data)}
    fonts: dict[int, dict[int, str]] = {}
    for number, body in objects.items():
        unicode = re.search(rb"/ToUnicode (\d+) 0 R", body)
        if unicode and b"/Type0" in body:
            fonts[number] = _cmap(_stream(objects[int(unicode.group(1))]).decode("latin-1"))
    runs: list[str] = []
    for body in objects.values():
        if not re.search(rb"/Type /Page\b", body) or b"/Contents" not in body:
            continue
        names = {n.decode(): int(r) for n, r in re.findall(rb"/(F\d+) (\d+) 0 R", body)}
        contents = re.search(rb"/Contents (\d+) 0 R", body)
        if contents is None:
            continue
        content = _stream(objects[int(contents.group(1))]).decode("latin-1")
        glyphs: dict[int, str] = {}
        for shown in _SHOW.finditer(content):
            font, array, single = shown.groups()
            if font:
                glyphs = fonts.get(names.get(font, -1), {})
                continue
            parts = re.findall(r"<([0-9A-Fa-f]*)>", array) if array is not None else [single]
            for hexes in parts:
                runs.append("".join(glyphs.get(int(hexes[i:i + 4], 16), "\ufffd")
                                    for i in range(0, len(hexes) - 3, 4)))
    return "".join(runs)
