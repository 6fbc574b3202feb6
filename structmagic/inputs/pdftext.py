"""The text layer of PDFs: the source a call's values are grounded in, with page numbers.

A PDF made from a text document (not a scan) carries its text: :func:`pdf_pages` reads each
page's with pypdf (``pip install 'structmagic[pdf]'``; imported on first use only), and
:func:`text_source` joins the pages of every PDF of a call's inputs into one
:class:`~structmagic.grounding.Source`: the pages in order, a blank line (``"\\n\\n"``)
between two pages, ``pages`` the offset where each starts, ``numbers`` each page's number
within its own document (1, 2, 1 for two PDFs) and ``names`` its document's label. A call
whose PDFs hold no text (images only, a scanned PDF, PDFs sent as URLs, whose bytes are not
here) has no source: None, and its values are ``unverifiable``.

The text is pypdf's plain extraction, as it gives it, with only line ends made ``\\n``
(``\\r\\n`` and ``\\r``): values are matched and highlighted in exactly this text, so nothing
else is changed. Its order is the order the page draws its text in, which is the reading
order for most documents made from text, not always for columns or tables.

Bounded work: a PDF of more than :data:`MAX_PAGES` pages, or whose text (or a call's PDFs'
text together) is longer than :data:`MAX_CHARS` characters, is refused with an
:class:`~structmagic.errors.InputError` rather than cut short (values on the pages left
out would read as not found, which is worse than not checked). So is a PDF that pypdf
cannot read: damaged, or encrypted with a password other than the empty one; the message
names the document and says what went wrong, in one sentence. pypdf's own log lines on a
damaged file are held back while it reads one (as Pillow's warnings are for images).

The pages of a PDF are kept for the last :data:`CACHE_SIZE` documents, up to
:data:`CACHE_CHARS` characters together (by digest, shared by all threads; a document that
several threads ask for at once is read by the first, the others wait for it): a batch that
sends the same PDF with every row reads it once.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..grounding.record import Source
from .convert import reason
from .parts import PDF, Part, sniff

__all__ = ["CACHE_CHARS", "CACHE_SIZE", "MAX_CHARS", "MAX_PAGES", "PDF_HINT", "SEPARATOR",
           "check_reader", "clear_cache", "has_text_layer", "is_pdf", "pdf_pages",
           "text_source"]

#: what to install to read a PDF's text layer
PDF_HINT = "pip install 'structmagic[pdf]'"
#: the most pages read from one PDF, and from a call's PDFs together
MAX_PAGES = 2_000
#: the most characters of text read from one PDF, and from a call's PDFs together
MAX_CHARS = 20_000_000
#: how many documents' pages are kept, and how many characters of text at most (the oldest
#: documents are let go first; the latest is always kept)
CACHE_SIZE = 16
CACHE_CHARS = 20_000_000
#: what stands between two pages in a :class:`Source`'s text
SEPARATOR = "\n\n"


def _named(label: str) -> str:
    return f"The PDF {label!r}" if label else "The PDF"


def _problem(label: str, problem: str) -> InputError:
    return InputError(f"{_named(label)} {problem}.")


# --- pypdf's log lines, held back while it reads ---------------------------------------------

_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_level = logging.NOTSET


def _hush() -> None:
    """pypdf reports each repair of a damaged file on its loggers (``pypdf._reader``, ...),
    which Python prints to stderr when nothing handles them: raised to ERROR on the
    ``pypdf`` logger while any thread reads a PDF, and put back when the last one is done."""
    global _quiet_depth, _quiet_level
    with _quiet_lock:
        if _quiet_depth == 0:
            logger = logging.getLogger("pypdf")
            _quiet_level = logger.level
            logger.setLevel(max(logging.ERROR, _quiet_level))
        _quiet_depth += 1


def _unhush() -> None:
    global _quiet_depth
    with _quiet_lock:
        _quiet_depth -= 1
        if _quiet_depth == 0:
            logging.getLogger("pypdf").setLevel(_quiet_level)


# --- one PDF -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Read:
    """What reading one PDF gave: its pages' text, or what is wrong with it (a phrase to
    follow its name: ``"is encrypted with a password; ..."``)."""

    pages: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def chars(self) -> int:
        return sum(map(len, self.pages))


def check_reader() -> Any:
    """pypdf, the reader of the text layer; :class:`InputError` saying what to install when
    it is missing (a provider batch job asks before it submits rows with files)."""
    try:
        import pypdf
    except ImportError:
        raise InputError("Grounding in a PDF needs its text layer, which structmagic reads "
                         f"with pypdf: {PDF_HINT}.") from None
    return pypdf


def _read(data: bytes) -> _Read:
    """The pages of one PDF, or its problem; :class:`InputError` only without pypdf."""
    pypdf = check_reader()
    _hush()
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            return _Read(problem="is encrypted with a password: its text cannot be read "
                                 "for grounding")
        count = len(reader.pages)
        if count > MAX_PAGES:
            return _Read(problem=f"has {count:,} pages; grounding reads the text of at most "
                                 f"{MAX_PAGES:,}")
        pages: list[str] = []
        total = 0
        for page in reader.pages:
            text = page.extract_text() or ""
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            total += len(text)
            if total > MAX_CHARS:
                return _Read(problem=f"holds more than {MAX_CHARS:,} characters of text; "
                                     f"grounding reads at most {MAX_CHARS:,}")
            pages.append(text)
        return _Read(tuple(pages))
    except Exception as exc:  # PdfReadError, ValueError, KeyError, RecursionError, ...
        return _Read(problem=f"cannot be read for its text ({reason(exc)})")
    finally:
        _unhush()


def pdf_pages(data: bytes, *, label: str = "") -> list[str]:
    """The text of each page of the PDF ``data``, in order (``""`` for a page without text).

    Raises :class:`InputError` (naming ``label``) without pypdf, for a PDF pypdf cannot read
    (damaged, encrypted with a password) and past :data:`MAX_PAGES` or :data:`MAX_CHARS`.
    """
    found = _read(bytes(data))
    if found.problem is not None:
        raise _problem(label, found.problem)
    return list(found.pages)


# --- the cache ---------------------------------------------------------------------------------


class _Pending:
    """A document being read by one thread, that others wait for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: _Read | None = None
        self.error: BaseException | None = None


_cache_lock = threading.Lock()
_cache: OrderedDict[str, _Read] = OrderedDict()
_cache_chars = 0
_pending: dict[str, _Pending] = {}


def clear_cache() -> None:
    """Forget every document's pages."""
    global _cache_chars
    with _cache_lock:
        _cache.clear()
        _cache_chars = 0


def _cached(key: str, data: bytes) -> _Read:
    """:func:`_read` of ``data``, once per ``key`` however many threads ask at once."""
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        pending = _pending.get(key)
        owner = pending is None
        if pending is None:
            pending = _pending[key] = _Pending()
    if not owner:
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result
    try:
        found = _read(data)
    except BaseException as exc:  # no pypdf, an interrupt: the waiting threads see it too
        with _cache_lock:
            del _pending[key]
        pending.error = exc
        pending.done.set()
        raise
    global _cache_chars
    with _cache_lock:
        del _pending[key]
        _cache[key] = found
        _cache_chars += found.chars
        while len(_cache) > CACHE_SIZE or (_cache_chars > CACHE_CHARS and len(_cache) > 1):
            _cache_chars -= _cache.popitem(last=False)[1].chars
    pending.result = found
    pending.done.set()
    return found


# --- a call's inputs ---------------------------------------------------------------------------


def is_pdf(part: Part) -> bool:
    """Whether ``part`` is a PDF whose bytes are here (a URL part's are not)."""
    if part.data is None:
        return False
    return part.mime == PDF or (part.mime is None and sniff(part.data) == PDF)


def text_source(parts: Sequence[Part]) -> Source | None:
    """The text layer of the PDFs among ``parts`` as one :class:`Source`, with its pages;
    None when none of them has any text (no PDF, scans only, URLs only).

    Each page's document is named by its part's ``label``, else its ``filename``, else
    ``"file N"`` (N: its place among the PDFs). Raises :class:`InputError` as
    :func:`pdf_pages` does, and when the PDFs together pass :data:`MAX_PAGES` or
    :data:`MAX_CHARS`.
    """
    pieces: list[str] = []
    starts: list[int] = []
    numbers: list[int] = []
    names: list[str] = []
    offset = 0
    found_text = False
    pdfs = [part for part in parts if is_pdf(part)]
    for n, part in enumerate(pdfs, 1):
        data = part.data or b""
        name = part.label or part.filename or f"file {n}"
        read = _cached(part.digest or hashlib.sha256(data).hexdigest(), data)
        if read.problem is not None:
            raise _problem(name, read.problem)
        for number, text in enumerate(read.pages, 1):
            if pieces:
                pieces.append(SEPARATOR)
                offset += len(SEPARATOR)
            starts.append(offset)
            numbers.append(number)
            names.append(name)
            pieces.append(text)
            offset += len(text)
            found_text = found_text or bool(text.strip())
        if len(starts) > MAX_PAGES:
            raise InputError(f"The PDFs of this call have more than {MAX_PAGES:,} pages "
                             f"together; grounding reads the text of at most {MAX_PAGES:,}.")
        if offset > MAX_CHARS:
            raise InputError(f"The PDFs of this call hold more than {MAX_CHARS:,} characters "
                             f"of text together; grounding reads at most {MAX_CHARS:,}.")
    if not found_text:
        return None
    return Source("".join(pieces), tuple(starts), tuple(numbers), tuple(names))


def has_text_layer(parts: Sequence[Part]) -> bool:
    """Whether any PDF among ``parts`` has text to ground values in."""
    return text_source(parts) is not None
