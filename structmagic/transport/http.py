"""The HTTP client: structmagic's own shared one, or the user's, and the key attached last.

By default every request goes through one shared ``httpx.Client`` made on first use (its
pool shared by a batch's threads; proxies and CA bundles from the standard environment
variables, as httpx honours them). A user who needs more — a corporate proxy, a private CA
bundle, mTLS, an ``httpx.MockTransport`` in their own tests — passes their own client:
``structured(..., http_client=client)``, ``batch(..., http_client=client)`` or
``configure(http_client=client)``. structmagic sends through it and never closes it; only
the timeout of each request is structmagic's (``--timeout``), everything else is the
client's.

The key is added by an ``httpx.Auth`` as the request leaves, so no local variable of ours
holds it and no header is recorded; a logging filter (:mod:`structmagic.redact`) keeps it
out of httpx's and httpcore's log records, which show response headers at DEBUG level.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import redact
from ..errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from ..config import Settings
    from ..providers import Provider

__all__ = ["client_for", "is_loopback", "key_auth"]

_shared: httpx.Client | None = None
_shared_lock = threading.Lock()


def _shared_client() -> httpx.Client:
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                import httpx

                redact.install()
                _shared = httpx.Client(
                    limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
                    follow_redirects=False,
                    trust_env=True,
                )
    return _shared


def client_for(settings: Settings) -> httpx.Client:
    """The client a request of ``settings`` goes through: the user's, or the shared one."""
    client = settings.http_client
    if client is None:
        return _shared_client()
    import httpx

    if not isinstance(client, httpx.Client):
        raise ConfigError(
            f"http_client must be an httpx.Client, not {type(client).__name__} (an "
            "httpx.AsyncClient cannot be used: structmagic sends from threads).")
    if client.is_closed:
        raise ConfigError("The http_client given has been closed; pass an open httpx.Client.")
    redact.install()  # once: the key never reaches a log record of httpx or httpcore
    return client


_KeyAuth: Any = None


def key_auth(provider: Provider, settings: Settings) -> Any:
    """An ``httpx.Auth`` that adds the key headers as the request leaves (repr: no key)."""
    global _KeyAuth
    if _KeyAuth is None:
        import httpx

        class KeyAuth(httpx.Auth):
            def __init__(self, provider: Provider, key: Any) -> None:
                self._provider = provider
                self._key = key

            def __repr__(self) -> str:
                return f"<KeyAuth {self._key.source if self._key else 'no key'}>"

            def auth_flow(self, request: httpx.Request) -> Any:
                if self._key is not None:
                    request.headers.update(self._provider.auth_headers(
                        self._key.get_secret_value()))
                yield request

        _KeyAuth = KeyAuth
    return _KeyAuth(provider, settings.key())


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (no key is needed there)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")
