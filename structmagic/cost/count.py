"""Exact input-token counts from a provider's token-count endpoint (``--exact``).

A count request is free at the vendors that have one, generates nothing and is never
recorded. Which provider has one, and where, is the provider's own fact
(:meth:`~structmagic.providers.Provider.count_request`): the Responses API
(``/responses/input_tokens``), Claude Messages (``/messages/count_tokens``) and Gemini
(``models/{model}:countTokens``); Chat Completions has none. Sent through the same client,
key and retry policy as every request; errors are structmagic errors.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .. import errors as E

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers import Provider
    from ..providers.base import Call

__all__ = ["count_tokens", "has_count_endpoint", "no_count_endpoint"]


def has_count_endpoint(provider: Provider) -> bool:
    """Whether ``provider``'s format has a token-count endpoint."""
    from ..providers.base import Provider

    return type(provider).count_request is not Provider.count_request


def no_count_endpoint(provider: Provider) -> E.ConfigError:
    """The error for ``--exact`` with a format that has no count endpoint."""
    from ..providers import get_provider, provider_names

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
    from ..transport.http import client_for, is_loopback, key_auth
    from ..transport.retry import should_retry, sleep_for_retry, wait_before_retry
    from ..transport.status import api_error, excerpt, not_json_error, transport_error

    try:
        built = provider.count_request(call, settings.base_url)
    except ValueError as exc:
        raise E.ConfigError(f"The {provider.name} format cannot count this request: {exc}"
                            ) from None
    if built is None:
        raise no_count_endpoint(provider)
    url, body = built
    if settings.key() is None and not is_loopback(url):
        raise E.ConfigError(f"No API key for {settings.base_url}.", hint=settings.key_help())
    try:
        content = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError) as exc:
        raise E.InputError(f"The request cannot be sent to count its tokens: {exc}") from None
    import httpx

    headers = {"Accept": "application/json", "Content-Type": "application/json",
               **provider.extra_headers()}
    http = client_for(settings)
    auth = key_auth(provider, settings)
    timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
    last: E.StructuredError | None = None
    for retries_taken in range(settings.retries + 1):
        try:
            resp = http.post(url, content=content, headers=headers, auth=auth, timeout=timeout)
        except httpx.TransportError as exc:
            last = transport_error(exc, settings)
        except httpx.HTTPError as exc:
            raise transport_error(exc, settings) from None
        else:
            if resp.status_code < 400:
                try:
                    return provider.parse_count(resp.json())
                except (ValueError, RecursionError):
                    raise not_json_error(resp.status_code, resp.text, settings) if not _is_json(
                        resp) else E.BadRequestError(
                        f"The token-count endpoint of {settings.base_url} answered without a "
                        f"count: {excerpt(resp.text)}", status=resp.status_code,
                        body_excerpt=excerpt(resp.text, 500)) from None
            err = api_error(resp.status_code, resp.text, resp.headers, provider, settings)
            if not should_retry(resp.status_code, resp.headers):
                err.attempts = retries_taken + 1
                raise err
            last = err
        last.attempts = retries_taken + 1
        if retries_taken >= settings.retries:
            break
        sleep_for_retry(wait_before_retry(retries_taken, last, getattr(last, "retry_after",
                                                                       None),
                                          settings.max_retry_wait))
    assert last is not None
    raise last


def _is_json(resp: Any) -> bool:
    try:
        resp.json()
    except (ValueError, RecursionError):
        return False
    return True
