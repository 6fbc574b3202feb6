"""Exact input-token counts from a provider's token-count endpoint (``--exact``).

A count request is free at the vendors that have one, generates nothing and is never
recorded. Which provider has one, and where, is the provider's own fact
(:meth:`~structmagic.providers.Provider.count_request`): the Responses API
(``/responses/input_tokens``), Claude Messages (``/messages/count_tokens``) and Gemini
(``models/{model}:countTokens``); Chat Completions has none. Sent through the one request
path of :mod:`structmagic.transport.request` (the same client, key and retry loop as every
request); errors are structmagic errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import errors as E
from ..providers import get_provider, provider_names
from ..providers.base import Provider
from ..transport.auth import request_auth
from ..transport.http import client_for
from ..transport.request import (
    encode,
    raise_for_status,
    require_key,
    retry_transport,
    timeout_for,
    with_retries,
)
from ..transport.status import excerpt, not_json_error

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers import Provider
    from ..providers.base import Call

__all__ = ["count_tokens", "has_count_endpoint", "no_count_endpoint"]


def has_count_endpoint(provider: Provider) -> bool:
    """Whether ``provider``'s format has a token-count endpoint."""

    return type(provider).count_request is not Provider.count_request


def no_count_endpoint(provider: Provider) -> E.ConfigError:
    """The error for ``--exact`` with a format that has no count endpoint."""

    able = []
    for name in provider_names():
        try:
            if has_count_endpoint(get_provider(name)):
                able.append(name)
        except E.StructuredError:
            continue
    hint = "Drop --exact (the local count is used)"
    return E.ConfigError(
        f"The {provider.name} format ({provider.title}) has no token-count endpoint, so "
        "--exact cannot ask the server.",
        hint=f"{hint}, or use --provider {' / '.join(able)}." if able else f"{hint}.")


def count_tokens(call: Call, settings: Settings, provider: Provider) -> int:
    """The input tokens of ``call``, as the provider counts them (with retries)."""
    try:
        built = provider.count_request(call, settings.base_url)
    except ValueError as exc:
        raise E.ConfigError(f"The {provider.name} format cannot count this request: {exc}"
                            ) from None
    if built is None:
        raise no_count_endpoint(provider)
    url, body = built
    require_key(settings, url)
    content = encode(body)
    headers = {"Accept": "application/json", "Content-Type": "application/json",
               **provider.extra_headers()}

    def attempt() -> int:
        import httpx

        try:
            resp = client_for(settings).post(url, content=content, headers=headers,
                                             auth=request_auth(provider, settings),
                                             timeout=timeout_for(settings))
        except httpx.HTTPError as exc:
            raise retry_transport(exc, settings, provider) from None
        raise_for_status(resp, settings, provider)
        try:
            return provider.parse_count(resp.json())
        except (ValueError, RecursionError):
            raise not_json_error(resp.status_code, resp.text, settings) if not _is_json(
                resp) else E.BadRequestError(
                f"The token-count endpoint of {settings.base_url} answered without a "
                f"count: {excerpt(resp.text)}", status=resp.status_code,
                body_excerpt=excerpt(resp.text, 500)) from None

    return with_retries(attempt, settings)[0]


def _is_json(resp: Any) -> bool:
    try:
        resp.json()
    except (ValueError, RecursionError):
        return False
    return True
