"""Log redaction: no registered key reaches a log record of httpx, httpcore or structmagic.

httpcore logs response headers at DEBUG (``receive_response_headers.complete
return_value=(..., [(b'www-authenticate', b'...')])``), httpx logs URLs at INFO, and a
server may echo the key in either. :func:`install` adds a :class:`RedactingFilter` to those
loggers; it replaces every registered secret (and the pieces of one that
:func:`structmagic.errors.scrub` knows) in each record's message, arguments and exception
text before any handler sees the record.

Call :func:`install` before the first request goes out (when the HTTP client is made).
It is idempotent and cheap (a flag check after the first call), and touches only the
loggers named in :data:`LOGGERS`: their levels and handlers stay as the user set them.
"""

from __future__ import annotations

import logging
import threading

from .errors import scrub

__all__ = ["LOGGERS", "RedactingFilter", "install"]

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
