"""Small PDFs with a text layer, written here with no PDF package: the tests' PDFs for the
text layer (``test_pdftext.py``).

:func:`make_pdf` writes one PDF of the pages given, each a list of lines drawn top down:

- a line every character of which WinAnsi holds (ASCII, ``é``, ``€``) is shown in the
  standard Helvetica font (``/WinAnsiEncoding``, one byte a character);
- any other line (``北京``, an emoji) in a Type0 font, Identity-H (two bytes a glyph), whose
  glyph ids are given out in order of first use, with a ``ToUnicode`` CMap mapping each back
  to its text (UTF-16, so an emoji is a surrogate pair). No font program is embedded: a
  viewer draws boxes, but text extraction needs only the CMap;
- :data:`SCAN` is a page holding only a picture (a 2×2 grey image), as a scanner makes;
  :data:`BLANK` a page whose content stream is empty.

Every object's offset in the cross-reference table is exact, so a reader needs no repair.

    >>> data = make_pdf([["Invoice 42", "Total: 12,50 €"], ["北京 🙂"], SCAN])
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["BLANK", "SCAN", "make_pdf", "pdf_string"]

#: a page with a picture and no text
SCAN = "<scan>"
#: a page with an empty content stream
BLANK = "<blank>"

#: the size of the text, and the distance between two lines, in points
FONT_SIZE = 12
LEADING = 16


def pdf_string(text: str) -> bytes:
    """``text`` as a literal string in WinAnsi (``(...)`` with ``\\``, ``(`` and ``)``
    escaped)."""
    raw = text.encode("cp1252")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _winansi(text: str) -> bool:
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


class _Glyphs:
    """The Type0 font's glyph ids: one per character, in order of first use (from 1)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def hex(self, text: str) -> bytes:
        out = []
        for char in text:
            gid = self.ids.setdefault(char, len(self.ids) + 1)
            out.append(f"{gid:04X}")
        return b"<" + "".join(out).encode("ascii") + b">"

    def cmap(self) -> bytes:
        lines = [
            "/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
            "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
            "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange",
        ]
        items = sorted(self.ids.items(), key=lambda item: item[1])
        for start in range(0, len(items), 100):  # at most 100 entries a block
            block = items[start:start + 100]
            lines.append(f"{len(block)} beginbfchar")
            for char, gid in block:
                lines.append(f"<{gid:04X}> <{char.encode('utf-16-be').hex().upper()}>")
            lines.append("endbfchar")
        lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
        return "\n".join(lines).encode("ascii")


def _content(lines: Sequence[str], glyphs: _Glyphs) -> bytes:
    out = [b"BT", f"{LEADING} TL 72 760 Td".encode()]
    for i, line in enumerate(lines):
        if i:
            out.append(b"T*")
        if _winansi(line):
            out.append(f"/F1 {FONT_SIZE} Tf ".encode() + pdf_string(line) + b" Tj")
        else:
            out.append(f"/F2 {FONT_SIZE} Tf ".encode() + glyphs.hex(line) + b" Tj")
    out.append(b"ET")
    return b"\n".join(out)


def _stream(body: bytes, extra: str = "") -> bytes:
    return (f"<< {extra}/Length {len(body)} >>\nstream\n".encode() + body
            + b"\nendstream")


def make_pdf(pages: Sequence[Sequence[str] | str]) -> bytes:
    """A PDF of ``pages``: each a list of lines of text, :data:`SCAN` or :data:`BLANK`."""
    objects: list[bytes] = []  # object n is objects[n - 1]

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in at the end
    tree = add(b"")
    helvetica = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                    b"/Encoding /WinAnsiEncoding >>")
    glyphs = _Glyphs()
    contents = [_content(page, glyphs) if not isinstance(page, str) else b""
                for page in pages]
    unicode = add(_stream(glyphs.cmap()))
    descriptor = add(b"<< /Type /FontDescriptor /FontName /TestGlyphs /Flags 4 "
                     b"/FontBBox [0 -200 1000 900] /ItalicAngle 0 /Ascent 900 /Descent -200 "
                     b"/CapHeight 700 /StemV 80 >>")
    cid = add(b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /TestGlyphs "
              b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
              b"/FontDescriptor " + f"{descriptor} 0 R".encode() + b" /DW 1000 "
              b"/CIDToGIDMap /Identity >>")
    type0 = add(b"<< /Type /Font /Subtype /Type0 /BaseFont /TestGlyphs /Encoding /Identity-H "
                + f"/DescendantFonts [{cid} 0 R] /ToUnicode {unicode} 0 R >>".encode())
    picture = add(_stream(bytes([0x40, 0x80, 0xC0, 0xFF]),
                          "/Type /XObject /Subtype /Image /Width 2 /Height 2 "
                          "/ColorSpace /DeviceGray /BitsPerComponent 8 "))
    fonts = f"/Font << /F1 {helvetica} 0 R /F2 {type0} 0 R >>"
    kids = []
    for page, content in zip(pages, contents, strict=True):
        resources = fonts
        if page == SCAN:
            resources = f"/XObject << /Im1 {picture} 0 R >>"
            content = b"q 468 0 0 648 72 72 cm /Im1 Do Q"
        stream = add(_stream(content))
        kids.append(add(f"<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 612 792] "
                        f"/Resources << {resources} >> /Contents {stream} 0 R >>".encode()))
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {tree} 0 R >>".encode()
    objects[tree - 1] = (f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] "
                         f"/Count {len(kids)} >>").encode()
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)
