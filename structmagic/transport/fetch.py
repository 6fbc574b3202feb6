"""Fetching an image or document at a URL, for ``inline=True`` (``--inline``).

:func:`fetcher` gives the ``fetch(url, what)`` that :func:`structmagic.inputs.prepare_inputs`
takes: it reads the URL through the call's HTTP client (the user's ``http_client``, or the
shared one), never with the API key, and follows redirects. A fetch is bounded twice:

- in size: at most :data:`~structmagic.inputs.convert.MAX_READ_BYTES` (100 MB), refused
  before the body is read when its ``Content-Length`` says more, else as soon as more
  arrives;
- in time: at most :data:`FETCH_DEADLINE` (120 s) in all, measured on the settings' clock as
  the bytes arrive (``--timeout`` bounds only the silence between them, so a server that
  trickles a byte every few tenths of a second would otherwise hold a worker for ever);
  the silence it waits for is ``--timeout`` but at most the deadline too, so a fetch ends
  within twice the deadline whatever the server does.

Every failure is an :class:`~structmagic.InputError` naming the input, before any request to
the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..config import SYSTEM_CLOCK
from ..errors import InputError
from ..inputs.convert import MAX_READ_BYTES, reason
from ..inputs.parts import human_size
from .http import client_for
from .work import off_main

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["FETCH_DEADLINE", "fetch_bytes", "fetcher"]

#: seconds a fetch may take when no settings say otherwise
DEFAULT_TIMEOUT = 60.0
#: seconds a fetch may take in all, however its bytes arrive
FETCH_DEADLINE = 120.0


def fetcher(settings: Settings | None) -> Callable[[str, str], bytes]:
    """``fetch(url, what)`` through the HTTP client of ``settings`` (None: a client of its
    own, closed after each fetch)."""
    def fetch(url: str, what: str) -> bytes:
        return fetch_bytes(url, what, settings)

    return fetch


def fetch_bytes(url: str, what: str, settings: Settings | None = None) -> bytes:
    """The bytes at ``url``; ``what`` names the input in errors (``Image 2 (https://…)``).

    At most :data:`~structmagic.inputs.convert.MAX_READ_BYTES` bytes, in at most
    :data:`FETCH_DEADLINE` seconds in all (on the clock of ``settings``). Read on a worker
    when called on the main thread (:func:`~.work.off_main`: an interrupt lands at once)."""
    return off_main(lambda: _fetch(url, what, settings), what=f"fetching {what}")


def _fetch(url: str, what: str, settings: Settings | None) -> bytes:
    import httpx

    client = client_for(settings) if settings is not None else httpx.Client()
    clock = settings.clock if settings is not None else SYSTEM_CLOCK
    timeout = min(settings.timeout if settings is not None else DEFAULT_TIMEOUT, FETCH_DEADLINE)
    start = clock.monotonic()
    buf = bytearray()
    try:
        with client.stream("GET", url, timeout=timeout, follow_redirects=True) as resp:
            if resp.status_code >= 400:
                raise InputError(f"{what}: fetching it for --inline answered HTTP "
                                 f"{resp.status_code}.")
            _check_length(resp, what)
            for chunk in resp.iter_bytes():
                buf += chunk
                if len(buf) > MAX_READ_BYTES:
                    raise InputError(f"{what}: the URL holds more than "
                                     f"{human_size(MAX_READ_BYTES)}, the most --inline fetches; "
                                     "not fetched.")
                if clock.monotonic() - start > FETCH_DEADLINE:
                    raise InputError(f"{what}: fetching it for --inline took more than "
                                     f"{FETCH_DEADLINE:g} s in all ({len(buf):,} bytes read); "
                                     "not fetched.")
    except (httpx.InvalidURL, UnicodeError) as exc:
        # httpx refuses the URL (a NUL or another control character, a host that is not
        # IDNA), or it cannot be encoded (a lone surrogate; a host label empty or over 63
        # characters, which the socket's IDNA codec refuses before any lookup)
        raise InputError(f"{what}: not a URL that can be fetched for --inline "
                         f"({reason(exc)}); correct it.") from None
    except (httpx.HTTPError, httpx.StreamError, httpx.CookieConflict) as exc:
        # HTTPError: TransportError (connect, timeout, protocol, an unsupported scheme after
        # a redirect), DecodingError, TooManyRedirects; StreamError and CookieConflict are
        # httpx's other exceptions (a stream read twice, say by a user's event hook)
        raise InputError(f"{what}: could not fetch it for --inline ({reason(exc)}).") from None
    finally:
        if settings is None:
            client.close()
    return bytes(buf)


def _check_length(resp: Any, what: str) -> None:
    """Refuse a body whose ``Content-Length`` is over the cap, before reading it."""
    try:
        length = int(resp.headers.get("content-length", ""))
    except ValueError:  # none, or not a number: the cap is checked as the bytes arrive
        return
    if length > MAX_READ_BYTES:
        raise InputError(f"{what}: the URL holds {human_size(length)} (its Content-Length); "
                         f"--inline fetches at most {human_size(MAX_READ_BYTES)}; not fetched.")
