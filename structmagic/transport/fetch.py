"""Fetching an image or document at a URL, for ``inline=True`` (``--inline``).

:func:`fetcher` gives the ``fetch(url, what)`` that :func:`structmagic.inputs.prepare_inputs`
takes: it reads the URL through the call's HTTP client (the user's ``http_client``, or the
shared one), never with the API key, follows redirects, and reads at most
:data:`~structmagic.inputs.convert.MAX_READ_BYTES`. Every failure is an
:class:`~structmagic.InputError` naming the input, before any request to the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import InputError
from ..inputs.convert import MAX_READ_BYTES, reason
from .http import client_for

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["fetch_bytes", "fetcher"]

#: seconds a fetch may take when no settings say otherwise
DEFAULT_TIMEOUT = 60.0


def fetcher(settings: Settings | None) -> Callable[[str, str], bytes]:
    """``fetch(url, what)`` through the HTTP client of ``settings`` (None: a client of its
    own, closed after each fetch)."""
    def fetch(url: str, what: str) -> bytes:
        return fetch_bytes(url, what, settings)

    return fetch


def fetch_bytes(url: str, what: str, settings: Settings | None = None) -> bytes:
    """The bytes at ``url``; ``what`` names the input in errors (``Image 2 (https://…)``)."""
    import httpx

    client = client_for(settings) if settings is not None else httpx.Client()
    timeout = settings.timeout if settings is not None else DEFAULT_TIMEOUT
    buf = bytearray()
    try:
        with client.stream("GET", url, timeout=timeout, follow_redirects=True) as resp:
            if resp.status_code >= 400:
                raise InputError(f"{what}: fetching it for --inline answered HTTP "
                                 f"{resp.status_code}.")
            for chunk in resp.iter_bytes():
                buf += chunk
                if len(buf) > MAX_READ_BYTES:
                    raise InputError(f"{what}: more than {MAX_READ_BYTES // 1_000_000} MB at "
                                     "that URL; not fetched.")
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
