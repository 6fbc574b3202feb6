"""What every request carries besides its body: who it is from, and the user's own headers
and query parameters — added by one ``httpx.Auth`` as the request leaves.

Every request structmagic makes (a call's, a batch job's, a token count's) is sent with
:func:`request_auth`, which adds, in this order:

- the credentials, one of:

  - a bearer token from the user's ``token_provider`` (a Microsoft Entra ID token for Azure
    OpenAI, an OAuth token for Vertex AI): called as each request leaves, so an expired
    token is replaced as soon as the provider gives a new one (the usual token providers
    cache it until it nears its expiry), and called once more, the request sent again, when
    the server answers 401;
  - for a provider whose tokens come from Google (Vertex AI) and no key: a token of
    Application Default Credentials (the optional ``google-auth`` package), refreshed when it
    expires, and after a 401;
  - else the API key, in the provider's own header (:meth:`Provider.auth_headers`);

- the query parameters the provider needs (Azure's ``api-version``:
  :meth:`Provider.query`), then the user's (``extra_query``, and those the base URL carried);
- the user's headers (``extra_headers``), last, so each replaces a header of the same name:
  every header is sent once.

A secret (the key, a token, an ``env:VAR`` value) is read only here, when the request
leaves; each is registered for scrubbing (:mod:`structmagic.redact`) and no variable of ours
keeps it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..secret import Secret, reveal

if TYPE_CHECKING:
    import httpx

    from ..config import Settings
    from ..providers import Provider

__all__ = ["CLOUD_SCOPE", "forget_google_credentials", "google_token", "request_auth"]

#: the OAuth scope Vertex AI's tokens are asked for
CLOUD_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

#: extra headers or query parameters, as the settings keep them
Pairs = tuple[tuple[str, Any], ...]

_RequestAuth: Any = None
_google: dict[str, Any] = {}
_google_lock = threading.Lock()


def request_auth(provider: Provider, settings: Settings) -> httpx.Auth:
    """The ``httpx.Auth`` that adds credentials, query parameters and headers to each
    request as it leaves (its repr names where the credentials come from, never them)."""
    uses_token = settings.uses_token
    return _request_auth(provider, settings.api_version, settings.extra_headers,
                         settings.extra_query, settings.token_provider,
                         uses_token and settings.token_provider is None,
                         None if uses_token else settings.key())


@functools.lru_cache(maxsize=32)
def _request_auth(provider: Provider, version: str | None, headers: Pairs, query: Pairs,
                  tokens: Any, google: bool, key: Secret | None) -> httpx.Auth:
    global _RequestAuth
    if _RequestAuth is None:
        _RequestAuth = _auth_class()
    return _RequestAuth(provider, version, headers, query, tokens, google, key)


def _auth_class() -> type:
    import httpx

    class RequestAuth(httpx.Auth):
        def __init__(self, provider: Provider, version: str | None, headers: Pairs,
                     query: Pairs, tokens: Any, google: bool, key: Secret | None) -> None:
            self._provider = provider
            self._version = version
            self._headers = headers
            self._query = query
            self._tokens = tokens
            self._google = google
            self._key = key

        def __repr__(self) -> str:
            source = ("a token provider" if self._tokens is not None
                      else "Application Default Credentials" if self._google
                      else self._key.source if self._key is not None else "no key")
            return f"<RequestAuth {source}>"

        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, Any, None]:
            self._sign(request, fresh=False)
            response = yield request
            if (response.status_code == 401 and (self._tokens is not None or self._google)
                    and isinstance(request.stream, httpx.ByteStream)):
                self._sign(request, fresh=True)  # the token expired in between: a new one
                yield request

        def _sign(self, request: httpx.Request, *, fresh: bool) -> None:
            provider = self._provider
            if self._tokens is not None:
                request.headers.update(provider.token_headers(
                    reveal(self._tokens, "token provider")))
            elif self._google:
                request.headers.update(provider.token_headers(google_token(fresh=fresh)))
            elif self._key is not None:
                request.headers.update(provider.auth_headers(self._key.get_secret_value()))
            params = provider.query(str(request.url), self._version)
            params.update((name, reveal(value, f"query parameter {name}"))
                          for name, value in self._query)
            if params:
                request.url = request.url.copy_merge_params(params)
            for name, value in self._headers:
                request.headers[name] = reveal(value, f"header {name}")

    return RequestAuth


def google_token(*, fresh: bool = False) -> str:
    """A current token of Google's Application Default Credentials (refreshed when it has
    expired, or when ``fresh``); :class:`~structmagic.ConfigError` saying what to install or
    run when there are none."""
    try:
        import google.auth
        import google.auth.transport.requests
    except ImportError:
        raise ConfigError(
            "Vertex AI needs a bearer token: Application Default Credentials need the "
            "google-auth package, which is not installed.",
            hint="pip install 'structmagic[vertex]' (then gcloud auth application-default "
                 "login), or pass token_provider=... (a callable returning a token).") from None
    with _google_lock:
        try:
            creds = _google.get("credentials")
            if creds is None:
                creds, _ = google.auth.default(scopes=[CLOUD_SCOPE])
                _google["credentials"] = creds
            if fresh or not creds.valid:
                creds.refresh(google.auth.transport.requests.Request())
            token = creds.token
        except Exception as exc:  # DefaultCredentialsError, RefreshError, a transport error
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise ConfigError(
                f"Application Default Credentials gave no token ({type(exc).__name__}: "
                f"{first}).".replace(": )", ")"),
                hint="Run `gcloud auth application-default login`, or set "
                     "GOOGLE_APPLICATION_CREDENTIALS to a service account's key file, or "
                     "pass token_provider=...") from None
    if not isinstance(token, str) or not token:
        raise ConfigError("Application Default Credentials gave no token.")
    return Secret(token, "Application Default Credentials").get_secret_value()


def forget_google_credentials() -> None:
    """Drop the Application Default Credentials found so far (tests; a changed account)."""
    with _google_lock:
        _google.clear()
