"""The text layer of PDFs as a grounding source (``structmagic.inputs.pdftext``): each page's
text, the pages of a call's PDFs joined with their offsets, page numbers and document names,
PDFs without text, the faults (damaged, encrypted, no pypdf), the caps and the cache.

The PDFs are written by ``pdfmake.py`` (Helvetica in WinAnsi, and a Type0 font with a
ToUnicode CMap for 北京, é and 🙂), so what each page holds is known exactly.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from structmagic.errors import InputError
from structmagic.grounding import Source
from structmagic.inputs import Part, pdf_pages, pdftext, prepare_inputs, text_source
from structmagic.inputs.parts import DOCUMENT, IMAGE, PDF, PNG
from structmagic.providers import get_provider

from media_helpers import png
from pdfmake import BLANK, SCAN, make_pdf

pypdf = pytest.importorskip("pypdf")

ROOT = Path(__file__).resolve().parents[1]

INVOICE = [["Invoice 42", "Total: 12,50 €"], ["Paid (in full) by back\\slash"]]
INVOICE_TEXT = ["Invoice 42\nTotal: 12,50 €", "Paid (in full) by back\\slash"]
UNICODE = [["北京 🙂", "Café crème"], ["mixed: 北京 and ascii"], ["ok"]]
UNICODE_TEXT = ["北京 🙂\nCafé crème", "mixed: 北京 and ascii", "ok"]


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    pdftext.clear_cache()
    yield
    pdftext.clear_cache()


def pdf_part(data: bytes, label: str = "", filename: str | None = None) -> Part:
    return Part(kind=DOCUMENT, mime=PDF, data=data, size=len(data),
                digest=hashlib.sha256(data).hexdigest(), label=label, filename=filename)


def image_part() -> Part:
    data = png()
    return Part(kind=IMAGE, mime=PNG, data=data, size=len(data),
                digest=hashlib.sha256(data).hexdigest(), label="photo.png")


class Opened(list[int]):
    """One entry for each PdfReader made; ``slow``: each takes that long to open (seconds)."""

    slow = 0.0


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Opened:
    """How many times pypdf opened a PDF."""
    opened = Opened()
    real = pypdf.PdfReader

    def counting(*args, **kwargs):
        opened.append(1)
        time.sleep(opened.slow)
        return real(*args, **kwargs)

    monkeypatch.setattr(pypdf, "PdfReader", counting)
    return opened


def unchained(err: BaseException) -> bool:
    """No exception of pypdf's (or of the import) is chained to ``err``: none shows in its
    traceback."""
    return err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)


def encrypted(user: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(make_pdf(INVOICE)))
    writer.encrypt(user_password=user, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- one PDF's pages ---------------------------------------------------------------------------


def test_each_page_is_read_as_written_in_winansi_and_in_a_unicode_font():
    assert pdf_pages(make_pdf(INVOICE)) == INVOICE_TEXT
    assert pdf_pages(make_pdf(UNICODE)) == UNICODE_TEXT


def test_a_page_without_text_is_an_empty_page():
    assert pdf_pages(make_pdf([SCAN, ["middle"], BLANK])) == ["", "middle", ""]


def test_line_ends_become_newlines_and_nothing_else_changes():
    data = make_pdf([["a\rb", "c\r\nd", " two  spaces ", "tab\there"]])
    assert pdf_pages(data) == ["a\nb\nc\nd\n two  spaces \ntab\there"]


# --- a call's PDFs as one source ---------------------------------------------------------------


def test_the_pages_of_two_pdfs_are_joined_with_a_blank_line_and_numbered_per_document():
    source = text_source([pdf_part(make_pdf(INVOICE), "invoice.pdf"),
                          pdf_part(make_pdf(UNICODE), "letter.pdf")])
    assert isinstance(source, Source)
    pages = INVOICE_TEXT + UNICODE_TEXT
    assert source.text == "\n\n".join(pages)
    expected, offset = [], 0
    for text in pages:
        expected.append(offset)
        offset += len(text) + 2
    assert source.pages == tuple(expected)
    for start, text in zip(source.pages, pages, strict=True):
        assert source.text[start:start + len(text)] == text
        assert source.text[start:].startswith(text)
    assert source.numbers == (1, 2, 1, 2, 3)
    assert source.names == ("invoice.pdf",) * 2 + ("letter.pdf",) * 3


def test_an_offset_tells_its_page_and_its_document():
    source = text_source([pdf_part(make_pdf(INVOICE), "invoice.pdf"),
                          pdf_part(make_pdf(UNICODE), "letter.pdf")])
    assert source is not None
    where = {word: source.text.index(word) for word in ("Invoice", "Paid", "北京", "mixed",
                                                        "ok")}
    assert {w: source.page_of(o) for w, o in where.items()} == {
        "Invoice": 1, "Paid": 2, "北京": 1, "mixed": 2, "ok": 3}
    assert {w: source.name_of(o) for w, o in where.items()} == {
        "Invoice": "invoice.pdf", "Paid": "invoice.pdf", "北京": "letter.pdf",
        "mixed": "letter.pdf", "ok": "letter.pdf"}
    # the first character of a page is on that page, the last one before it on the one before
    second = source.pages[1]
    assert (source.page_of(second), source.page_of(second - 1)) == (2, 1)


def test_a_scanned_page_keeps_its_place_and_its_number():
    source = text_source([pdf_part(make_pdf([["one"], SCAN, ["three"]]), "mixed.pdf")])
    assert source is not None
    assert source.text == "one\n\n\n\nthree"
    assert source.pages == (0, 5, 7)
    assert source.numbers == (1, 2, 3)
    assert source.page_of(source.text.index("three")) == 3


def test_pdfs_among_images_keep_their_order_and_names():
    first, second = make_pdf([["first"]]), make_pdf([["second"], ["2b"], ["2c"]])
    source = text_source([image_part(), pdf_part(second, filename="b.pdf"), image_part(),
                          pdf_part(first), pdf_part(make_pdf([["third"]]), "label",
                                                    filename="c.pdf")])
    assert source is not None
    assert source.text == "second\n\n2b\n\n2c\n\nfirst\n\nthird"
    # "file N": the N-th PDF of the call
    assert source.names == ("b.pdf",) * 3 + ("file 2", "label")
    assert source.numbers == (1, 2, 3, 1, 1)


def test_a_pdf_part_without_a_type_is_sniffed():
    data = make_pdf([["sniffed"]])
    source = text_source([Part(kind=DOCUMENT, mime=None, data=data, size=len(data))])
    assert source is not None and source.text == "sniffed"
    assert source.names == ("file 1",)


def test_no_text_no_source():
    scans = pdf_part(make_pdf([SCAN, BLANK]), "scan.pdf")
    assert text_source([scans]) is None
    assert text_source([scans, image_part()]) is None
    assert text_source([image_part()]) is None
    assert text_source([]) is None
    # white space only (pypdf gives a page's spaces as drawn) is no text to ground in
    assert text_source([pdf_part(make_pdf([["   "], ["\u3000"]]))]) is None
    assert not pdftext.has_text_layer([scans])
    assert pdftext.has_text_layer([scans, pdf_part(make_pdf([["text"]]))])


def test_pdfs_sent_as_urls_have_no_source_and_need_no_pypdf(monkeypatch):
    monkeypatch.setitem(sys.modules, "pypdf", None)
    url = Part(kind=DOCUMENT, mime=PDF, url="https://example.test/paper.pdf",
               digest=hashlib.sha256(b"u").hexdigest())
    untyped = Part(kind=DOCUMENT, mime=None, url="https://example.test/paper")
    assert text_source([url, untyped, image_part()]) is None


def test_files_prepared_for_a_call_are_named_by_their_file_or_as_bytes(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(make_pdf(INVOICE))
    parts = prepare_inputs(None, [path, make_pdf([["given as bytes"]])],
                           get_provider("openai"))
    source = text_source(parts)
    assert source is not None
    assert source.names == ("report.pdf", "report.pdf", "bytes")
    assert source.text.endswith("\n\ngiven as bytes")


# --- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", [
    lambda d: d[: len(d) // 2],
    lambda d: d.replace(b"startxref", b"startxrex"),
    lambda d: b"%PDF-1.7\n" + b"\x00garbage" * 10,
    lambda d: b"",
], ids=["cut", "no-startxref", "garbage", "empty"])
def test_a_damaged_pdf_is_an_input_error_naming_it(damage):
    data = damage(make_pdf(INVOICE))
    with pytest.raises(InputError) as info:
        pdf_pages(data, label="broken.pdf")
    message = str(info.value)
    assert message.startswith("The PDF 'broken.pdf' cannot be read for its text (")
    assert message.endswith(").") and "\n" not in message
    assert unchained(info.value)
    with pytest.raises(InputError, match=r"^The PDF 'x\.pdf' cannot be read"):
        text_source([pdf_part(data, "x.pdf")])


def test_whatever_pypdf_raises_becomes_an_input_error(monkeypatch):
    for exc in (RecursionError("maximum recursion depth exceeded"), KeyError("/Kids"),
                ValueError("bad"), OSError("odd")):
        def broken(*args, exc=exc, **kwargs):
            raise exc

        monkeypatch.setattr(pypdf, "PdfReader", broken)
        with pytest.raises(InputError, match=r"^The PDF cannot be read for its text \(.+\)\.$"):
            pdf_pages(make_pdf(INVOICE))


def test_a_pdf_locked_with_a_password_is_an_input_error():
    with pytest.raises(InputError) as info:
        pdf_pages(encrypted("secret"), label="locked.pdf")
    assert str(info.value) == ("The PDF 'locked.pdf' is encrypted with a password: its text "
                               "cannot be read for grounding.")


def test_a_pdf_encrypted_with_the_empty_password_is_read():
    assert pdf_pages(encrypted("")) == INVOICE_TEXT


def test_without_pypdf_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pypdf", None)
    for call in (lambda: pdf_pages(make_pdf(INVOICE)),
                 lambda: text_source([pdf_part(make_pdf(INVOICE))])):
        with pytest.raises(InputError) as info:
            call()
        assert "text layer" in str(info.value)
        assert "pip install 'structmagic[pdf]'" in str(info.value)
        assert unchained(info.value)


def test_pypdfs_log_lines_on_a_damaged_file_are_held_back(caplog, capfd):
    logger = logging.getLogger("pypdf")
    data = b"%PDF-1.7\n" + b"\x00garbage" * 10
    with caplog.at_level(logging.DEBUG):
        logger.setLevel(logging.NOTSET)
        with pytest.raises(InputError):
            pdf_pages(data)
        assert [r for r in caplog.records if r.name.startswith("pypdf")] == []
        assert logger.level == logging.NOTSET  # as it was
        pypdf.PdfReader(io.BytesIO(make_pdf(INVOICE)))  # the user's own reading is not hushed
        logging.getLogger("pypdf._reader").warning("the user's")
        assert [r.getMessage() for r in caplog.records] == ["the user's"]
    assert capfd.readouterr().err == ""


# --- caps --------------------------------------------------------------------------------------


def test_a_pdf_with_too_many_pages_is_refused(monkeypatch):
    monkeypatch.setattr(pdftext, "MAX_PAGES", 2)
    assert len(pdf_pages(make_pdf([["a"], ["b"]]))) == 2
    with pytest.raises(InputError) as info:
        pdf_pages(make_pdf([["a"], ["b"], ["c"]]), label="long.pdf")
    assert str(info.value) == ("The PDF 'long.pdf' has 3 pages; grounding reads the text of "
                               "at most 2.")


def test_a_pdf_with_too_much_text_is_refused(monkeypatch):
    monkeypatch.setattr(pdftext, "MAX_CHARS", 10)
    assert pdf_pages(make_pdf([["12345"], ["67890"]])) == ["12345", "67890"]
    with pytest.raises(InputError) as info:
        pdf_pages(make_pdf([["12345"], ["678901"]]), label="big.pdf")
    assert str(info.value) == ("The PDF 'big.pdf' holds more than 10 characters of text; "
                               "grounding reads at most 10.")


def test_the_caps_count_a_calls_pdfs_together(monkeypatch):
    monkeypatch.setattr(pdftext, "MAX_PAGES", 3)
    two = pdf_part(make_pdf([["a"], ["b"]]))
    assert text_source([two]) is not None
    with pytest.raises(InputError, match=r"more than 3 pages together"):
        text_source([two, two])
    monkeypatch.setattr(pdftext, "MAX_PAGES", 100)
    monkeypatch.setattr(pdftext, "MAX_CHARS", 12)
    five = pdf_part(make_pdf([["12345"]]))
    assert text_source([five, five]) is not None  # 5 + 2 + 5
    with pytest.raises(InputError, match=r"more than 12 characters of text together"):
        text_source([five, five, five])


def test_the_caps_are_generous():
    assert pdftext.MAX_PAGES == 2_000
    assert pdftext.MAX_CHARS == 20_000_000


# --- the cache ---------------------------------------------------------------------------------


def test_the_same_pdf_is_read_once_for_many_rows(reads):
    data = make_pdf(INVOICE)
    sources = [text_source([pdf_part(data, f"row {i}.pdf")]) for i in range(5)]
    assert len(reads) == 1
    assert all(s is not None and s.text == sources[0].text for s in sources)
    assert [s.names for s in sources if s] == [(f"row {i}.pdf",) * 2 for i in range(5)]
    text_source([pdf_part(make_pdf(UNICODE))])
    assert len(reads) == 2


def test_a_faulty_pdf_is_read_once_and_named_each_time(reads):
    data = make_pdf(INVOICE)[:300]
    for part in (pdf_part(data, "a.pdf"), pdf_part(data, "b.pdf"),
                 pdf_part(data, filename="c.pdf"), pdf_part(data)):
        name = part.label or part.filename or "file 1"
        with pytest.raises(InputError, match=rf"^The PDF '{name}' cannot be read"):
            text_source([part])
    assert len(reads) == 1


def test_threads_asking_at_once_read_a_pdf_once(reads):
    data = make_pdf(UNICODE)
    reads.slow = 0.2  # the first thread to open it takes long enough for all to ask
    barrier = threading.Barrier(8)
    got: list[Source | None] = []

    def row() -> None:
        barrier.wait()
        got.append(text_source([pdf_part(data)]))

    threads = [threading.Thread(target=row) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == 8 and len({s.text for s in got if s}) == 1
    assert len(reads) == 1


def test_the_cache_keeps_the_latest_documents(reads, monkeypatch):
    monkeypatch.setattr(pdftext, "CACHE_SIZE", 2)
    a, b, c = (pdf_part(make_pdf([[word]])) for word in ("a", "b", "c"))
    for part in (a, b, a, c):  # a is used again, so b is the oldest when c comes
        text_source([part])
    assert len(reads) == 3
    text_source([a])
    assert len(reads) == 3
    text_source([b])
    assert len(reads) == 4


def test_the_cache_holds_a_bounded_amount_of_text(reads, monkeypatch):
    monkeypatch.setattr(pdftext, "CACHE_CHARS", 10)
    a, b, c = (pdf_part(make_pdf([[word * 4]])) for word in ("a", "b", "c"))
    for part in (a, b, c):  # 4 + 4 + 4 > 10: a is let go
        text_source([part])
    text_source([c])
    text_source([b])
    assert len(reads) == 3
    text_source([a])
    assert len(reads) == 4
    big = pdf_part(make_pdf([["x" * 20]]))  # the latest is kept, however big
    text_source([big])
    text_source([big])
    assert len(reads) == 5


def test_pdf_pages_reads_afresh():
    data = make_pdf(INVOICE)
    first = pdf_pages(data)
    first.append("mutated")
    assert pdf_pages(data) == INVOICE_TEXT


# --- import cost -------------------------------------------------------------------------------


def test_importing_the_inputs_does_not_import_pypdf():
    code = ("import json, sys; import structmagic, structmagic.inputs;"
            "from structmagic.inputs import text_source;"
            "print(json.dumps('pypdf' in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60, cwd=ROOT)
    assert json.loads(out.stdout) is False
