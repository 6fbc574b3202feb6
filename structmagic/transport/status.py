"""Error answers and transport failures, turned into structmagic errors at the boundary.

:func:`api_error` reads an error answer (status, body, headers) with the provider's own error
shape: a format rejection (so the loop steps down), 401/403 (naming where the key came from,
never the key), 429, 5xx, other 4xx. :func:`transport_error` maps httpx's connection errors
and timeouts. An HTML error page is shown as a short plain-text excerpt, never as markup.
"""

from __future__ import annotations

import html
import json
import re
from typing import TYPE_CHECKING, Any

from .. import errors as E
from .retry import retry_after

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers import Provider

__all__ = ["MAX_ANSWER_DEPTH", "api_error", "excerpt", "not_json_error", "too_deep",
           "transport_error"]

#: the deepest nesting of objects and arrays an answer may have; a deeper answer is refused
#: as invalid before it is parsed (no real schema comes near it, and Python's parsers and
#: validators recurse once per level)
MAX_ANSWER_DEPTH = 100

_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.S | re.I)
_SPACE = re.compile(r"\s+")


def excerpt(text: str, limit: int = 200) -> str:
    """A short plain-text excerpt of an error body (an HTML page loses its tags)."""
    if "<" in text and ">" in text:
        text = html.unescape(_TAGS.sub(" ", text))
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def where(settings: Settings) -> str:
    return f"{settings.base_url} ({settings.provider}, model {settings.model})"


def api_error(status: int, body_text: str, headers: Any, provider: Provider,
              settings: Settings, *, inputs: bool = False) -> E.APIError:
    """The structmagic error for an error answer.

    ``inputs``: the request carried images or documents, so an answer saying the model does
    not take them is an :class:`~structmagic.UnsupportedInputError` (whatever its status:
    proxies wrap it in a 500 or 502), never a format rejection nor worth a retry.
    """
    try:
        message = provider.error_message(json.loads(body_text)) if body_text else None
    except (ValueError, RecursionError):
        message = None
    short = excerpt(message or body_text) or "(empty body)"
    at = where(settings)
    kw: dict[str, Any] = {"status": status, "body_excerpt": excerpt(body_text, 500)}
    if status in (401, 403):
        source = settings.credential_source()
        what = "token" if settings.uses_token else "key"
        return E.AuthenticationError(
            f"HTTP {status} from {at}: {short}",
            key_source=source,
            hint=f"The {what} came from {source}. {settings.key_help()}",
            **kw,
        )
    if inputs and provider.rejects_inputs(status, message or body_text):
        return E.UnsupportedInputError(
            f"HTTP {status} from {at}: the model {settings.model} does not take the images or "
            f"documents sent: {short}",
            hint="Use a model that reads images (or PDFs) on this server, or send the text "
                 "alone.",
            **kw,
        )
    if provider.rejects_format(status, message or body_text):
        return E.UnsupportedFormatError(
            f"HTTP {status} from {at}: the server does not take this response format: {short}",
            hint="Try --mode auto (the default), or --mode json_object / tools.",
            **kw,
        )
    asked = retry_after(headers, now=settings.clock.time)
    if status == 429:
        return E.RateLimitError(f"HTTP 429 (rate limited) from {at}: {short}",
                                retry_after=asked, **kw)
    if status >= 500:
        return E.ServerError(f"HTTP {status} (server error) from {at}: {short}",
                             retry_after=asked, **kw)
    hint = None
    if status == 404:
        hint = "Check the base URL (it usually ends in /v1) and the model name."
    return E.BadRequestError(f"HTTP {status} from {at}: {short}", hint=hint, **kw)


def not_json_error(status: int, text: str, settings: Settings) -> E.BadRequestError:
    """A 200 whose body is not what the API sends (an HTML page from a proxy or portal)."""
    return E.BadRequestError(
        f"HTTP {status} from {settings.base_url}, but the body is not JSON: "
        f"{excerpt(text) or '(empty body)'}",
        status=status,
        body_excerpt=excerpt(text, 500),
        hint="Is the base URL right? It usually ends in /v1. A proxy or captive portal may "
             "have answered instead of the API.",
    )


def transport_error(exc: Exception, settings: Settings) -> E.TransportError:
    """The structmagic error for an httpx transport failure (no answer at all)."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        kind = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for data"
        limit = settings.connect_timeout if kind == "connecting" else settings.timeout
        return E.APITimeoutError(
            f"Timed out {kind} from {settings.base_url} (limit {limit:g} s).",
            hint="Raise it with --timeout SECONDS (or the timeout setting).",
        )
    detail = excerpt(str(exc) or type(exc).__name__, 200)
    return E.TransportError(f"Could not reach {settings.base_url}: {detail}")


def too_deep(text: str) -> E.InvalidOutputError:
    """The error of an answer that nests deeper than :data:`MAX_ANSWER_DEPTH` (never read)."""
    return E.InvalidOutputError(
        f"The answer nests objects and arrays more than {MAX_ANSWER_DEPTH} levels deep; "
        "it is not read.",
        errors=[E.ValidationIssue("$", f"nested deeper than {MAX_ANSWER_DEPTH} levels")],
        raw=text[:2000])
