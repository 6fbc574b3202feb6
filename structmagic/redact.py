"""Redaction: no registered key (nor a piece of one) reaches a message, a file or a log record.

:func:`register_secret` remembers a key (every :class:`~structmagic.secret.Secret` registers
its own); :func:`scrub` replaces it, and the pieces of it that servers echo, in any text:
every error message and hint (:mod:`structmagic.errors`), recordings, manifests, logs.

Logs: httpcore logs response headers at DEBUG (``receive_response_headers.complete
return_value=(..., [(b'www-authenticate', b'...')])``), httpx logs URLs at INFO, and a
server may echo the key in either. :func:`install` adds a :class:`RedactingFilter` to those
loggers; it scrubs each record's message, arguments and exception text before any handler
sees the record.

Call :func:`install` before the first request goes out (when the HTTP client is made).
It is idempotent and cheap (a flag check after the first call), and touches only the
loggers named in :data:`LOGGERS`: their levels and handlers stay as the user set them.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["LOGGERS", "MIN_RUN", "Redacted", "RedactingFilter", "install", "register_secret",
           "safe_cause", "scrub"]

# Secrets registered here are replaced in every text scrubbed (each key is registered when its
# Secret is made). Kept as a module-level set so that errors raised deep in the stack are
# scrubbed without having the key passed around.
_SECRETS: set[str] = set()

#: a run of a key's characters this long (or longer) at the key's head or tail is scrubbed
MIN_RUN = 4
#: vendor prefixes that are the same in every key of a kind ("sk-", "sk-proj-", "AIza" ...):
#: a head run must carry MIN_RUN characters past them to count
_PUBLIC_PREFIX = re.compile(
    r"sk-(?:proj-|svcacct-|admin-|None-|ant-(?:api|admin)\d*-|or-v\d+-)?"
    r"|AIza|[A-Za-z]{2,5}[-_]"
)
_REPLACEMENT = "***"


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so that no error message ever carries it."""
    if secret and len(secret) >= MIN_RUN:
        _SECRETS.add(secret)


def _outside(text: str, i: int) -> bool:
    """Whether position ``i`` of ``text`` is outside a word (an edge, or not a letter/digit)."""
    return i < 0 or i >= len(text) or not text[i].isalnum()


def _spans(text: str, secret: str) -> list[tuple[int, int]]:
    """Where ``secret``, or a run of its head or its tail, occurs in ``text``."""
    spans: list[tuple[int, int]] = []
    i = text.find(secret)
    while i != -1:  # the whole key, wherever it is
        spans.append((i, i + len(secret)))
        i = text.find(secret, i + 1)
    public = _PUBLIC_PREFIX.match(secret)
    head = max(MIN_RUN, (public.end() if public else 0) + MIN_RUN)
    if head < len(secret):
        seed = secret[:head]
        i = text.find(seed)
        while i != -1:  # a head run: starts where a word starts, as a masked key does
            if _outside(text, i - 1):
                j, k = i + head, head
                while k < len(secret) and j < len(text) and text[j] == secret[k]:
                    j, k = j + 1, k + 1
                spans.append((i, j))
            i = text.find(seed, i + 1)
    if len(secret) > MIN_RUN:
        seed = secret[-MIN_RUN:]
        i = text.find(seed)
        while i != -1:  # a tail run: ends where a word ends
            end = i + MIN_RUN
            if _outside(text, end):
                s, k = i, len(secret) - MIN_RUN
                while k > 0 and s > 0 and text[s - 1] == secret[k - 1]:
                    s, k = s - 1, k - 1
                spans.append((s, end))
            i = text.find(seed, i + 1)
    return spans


class Redacted(Exception):
    """A stand-in for an exception from below that cannot be shown as it is: its text
    carried the key, or its traceback runs through httpx, whose frames hold the request
    headers. It keeps the original's type name and scrubbed text; no traceback."""


#: modules whose frames hold a request's headers (a verbose traceback shows frame locals)
_HEADER_FRAMES = ("httpx", "httpcore")


def safe_cause(exc: BaseException) -> BaseException:
    """``exc``, to chain under an error of structmagic's (``raise ... from``), or a
    :class:`Redacted` stand-in when ``exc`` or an exception chained to it carries the key
    in its text or has frames of httpx in its traceback: nothing structmagic raises carries
    the key, its cause chain included."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if _unsafe(link):
            return Redacted(f"{type(exc).__name__}: {scrub(_text(exc))}")
        link = link.__cause__ or link.__context__
    return exc


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ of somebody else's
        return "(no text)"


def _unsafe(exc: BaseException) -> bool:
    texts = [_text(exc), *(str(n) for n in getattr(exc, "__notes__", None) or ())]
    if any(scrub(t) != t for t in texts):
        return True
    tb = exc.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).split(".")[0] in _HEADER_FRAMES:
            return True
        tb = tb.tb_next
    return False


def scrub(text: str) -> str:
    """Return ``text`` with every registered secret, and every piece of one, replaced.

    Replaced: the whole key anywhere; a run of the key's first characters that starts a word
    (``sk-abcd1***`` as some relays echo a masked key) and carries at least :data:`MIN_RUN`
    characters past the key's vendor prefix (so ``sk-a`` or ``sk-proj-`` alone, which say
    nothing about the key and occur in ordinary text, stay); a run of at least
    :data:`MIN_RUN` of its last characters that ends a word (``***wxyz``).
    """
    if not text or not _SECRETS:
        return text
    spans: list[tuple[int, int]] = []
    for secret in tuple(_SECRETS):  # a copy: other threads may register keys meanwhile
        spans.extend(_spans(text, secret))
    if not spans:
        return text
    spans.sort()
    out: list[str] = []
    pos = 0
    for start, end in spans:  # overlapping pieces become one replacement
        if start > pos or not out:
            out.append(text[pos:start])
            out.append(_REPLACEMENT)
        pos = max(pos, end)
    out.append(text[pos:])
    return "".join(out)



#: the loggers whose records are scrubbed. A logger's filters apply only to records made on
#: that logger itself (not on its children), so httpcore's own loggers are listed one by one;
#: :func:`install` also covers every child of the first three that exists by then.
LOGGERS = (
    "structmagic",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)

_lock = threading.Lock()
_installed = False


class RedactingFilter(logging.Filter):
    """Scrub registered secrets from a record's message, arguments and exception text.

    Never drops a record. The message is formatted once here (``msg % args``) only when its
    arguments are not all strings, since ``repr`` of headers and bytes can carry the key.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            if scrub(text) != text:  # else leave the formatting to the handler's formatter
                record.exc_text = scrub(text)
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


_filter = RedactingFilter()


def install() -> None:
    """Add the redacting filter to every logger in :data:`LOGGERS` (once; thread-safe)."""
    global _installed
    if _installed:
        return
    with _lock:
        if _installed:
            return
        prefixes = tuple(f"{name}." for name in LOGGERS[:3])
        existing = [name for name in list(logging.root.manager.loggerDict)
                    if name.startswith(prefixes)]
        for name in {*LOGGERS, *existing}:
            logger = logging.getLogger(name)
            if _filter not in logger.filters:
                logger.addFilter(_filter)
        _installed = True
