"""The HTTP client: structmagic's own shared one, or the user's, and the key attached last.

By default every request goes through one shared ``httpx.Client`` made on first use (its
pool shared by a batch's threads; proxies and CA bundles from the standard environment
variables, as httpx honours them). A user who needs more — a corporate proxy, a private CA
bundle, mTLS, an ``httpx.MockTransport`` in their own tests — passes their own client:
``structured(..., http_client=client)``, ``batch(..., http_client=client)`` or
``configure(http_client=client)``. structmagic sends through it and never closes it; only
the timeout of each request is structmagic's (``--timeout``), everything else is the
client's. The async functions also take an ``httpx.AsyncClient`` (:mod:`.bridge`).

The shared client's connections follow the :class:`~.work.Work` whose request uses them, so
an interrupted batch cuts its own requests and no other's (the user's own client is never
cut: its requests in flight finish on their own, and nothing new is sent).

The key (or a token) is added by an ``httpx.Auth`` as the request leaves
(:mod:`.auth`), so no local variable of ours holds it and no header is recorded; a logging
filter (:mod:`structmagic.redact`) keeps it
out of httpx's and httpcore's log records, which show response headers at DEBUG level.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import redact
from ..errors import ConfigError
from .bridge import bridge_for
from .work import Work, current_work

if TYPE_CHECKING:
    import httpx

    from ..config import Settings

__all__ = ["client_for", "is_loopback"]

#: the connection pool of structmagic's own client (a batch's threads share it)
_LIMITS = {"max_connections": 256, "max_keepalive_connections": 64}

_shared: httpx.Client | None = None
_backend: Any = None
_shared_lock = threading.Lock()


def _shared_client() -> httpx.Client:
    global _shared, _backend
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                import httpx

                redact.install()
                _backend = _tracking_backend()
                _shared = httpx.Client(transport=_transport(_backend), follow_redirects=False,
                                       trust_env=True)
                atexit.register(_close_shared)
    return _shared


def _close_shared() -> None:
    """Close the shared client's idle connections as the interpreter exits (no unclosed
    socket left for the garbage collector to warn about)."""
    global _shared
    client, _shared = _shared, None
    if client is not None:
        with contextlib.suppress(Exception):
            client.close()


def _transport(backend: Any) -> httpx.HTTPTransport:
    """httpx's own transport, its pool built on ``backend`` (whose sockets can be cut)."""
    import httpx

    ssl_context = httpx.create_ssl_context(trust_env=True)
    limits = httpx.Limits(**_LIMITS)
    transport = httpx.HTTPTransport(verify=ssl_context, limits=limits, trust_env=True)
    if backend is not None:
        import httpcore

        transport._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=backend)
    return transport


def client_for(settings: Settings) -> httpx.Client:
    """The client a request of ``settings`` goes through: the user's, or the shared one."""
    client = settings.http_client
    if client is None:
        return _shared_client()
    import httpx

    if isinstance(client, httpx.AsyncClient):
        redact.install()
        return bridge_for(client)  # type: ignore[return-value]  # the methods used, alike
    if not isinstance(client, httpx.Client):
        raise ConfigError(
            f"http_client must be an httpx.Client (or, for the async functions, an "
            f"httpx.AsyncClient), not {type(client).__name__}.")
    if client.is_closed:
        raise ConfigError("The http_client given has been closed; pass an open httpx.Client.")
    redact.install()  # once: the key never reaches a log record of httpx or httpcore
    return client


def _tracking_backend() -> Any:
    """httpcore's own socket backend, its streams following the :class:`~.work.Work` whose
    request uses them, so that stopping a work cuts its connections and no other's (None if
    httpcore has no such backend: then connections are left to close on their own)."""
    try:
        import httpcore
    except ImportError:  # pragma: no cover - httpx always brings it
        return None
    base = getattr(httpcore, "SyncBackend", None)
    if base is None:  # pragma: no cover
        return None

    class WorkStream:
        """A connection's stream, taken by the current work when a request starts on it."""

        def __init__(self, inner: Any) -> None:
            self._inner = inner
            self._work: Work | None = None

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            work = current_work()
            if work is not self._work:
                if work is not None:
                    try:
                        work.take(id(self), self._inner.get_extra_info("socket"), self._work)
                    except OSError as exc:
                        raise httpcore.WriteError(str(exc)) from None
                elif self._work is not None:
                    self._work.drop(id(self))
                self._work = work
            elif work is not None and work.stopped:
                raise httpcore.WriteError(f"{work.what} was interrupted")
            self._inner.write(buffer, timeout)

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self._inner.read(max_bytes, timeout)

        def close(self) -> None:
            if self._work is not None:
                self._work.drop(id(self))
                self._work = None
            self._inner.close()

        def start_tls(self, *args: Any, **kwargs: Any) -> Any:
            self._inner = self._inner.start_tls(*args, **kwargs)
            return self

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class TrackingBackend(base):  # type: ignore[misc, valid-type]
        def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
            work = current_work()
            if work is not None and work.stopped:
                raise httpcore.ConnectError(f"{work.what} was interrupted")
            return WorkStream(super().connect_tcp(*args, **kwargs))

    return TrackingBackend()


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (no key is needed there)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")
