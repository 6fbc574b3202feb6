"""The user's ``httpx.AsyncClient``, for the async functions: :class:`AsyncBridge`.

``astructured``, ``astream`` and ``abatch`` run the same calls as their sync twins, on
worker threads, while the caller's event loop stays free. Given ``http_client=`` an
``httpx.AsyncClient`` (its proxies, certificates, hooks and connection pool are the user's,
and belong to that loop), each request a worker makes is run as a coroutine on that loop
(:func:`asyncio.run_coroutine_threadsafe`), the worker waiting for it: the bridge looks like
the few methods of an ``httpx.Client`` structmagic uses. A request of a stopped
:class:`~.work.Work` (a cancelled task) is cancelled on the loop.

The loop is the one the async function was awaited on (:func:`on_loop`, a context variable
that follows the work into its threads); without one, an ``AsyncClient`` is a
:class:`~structmagic.ConfigError` (a sync call cannot wait for a loop it may be running on).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ConfigError
from .work import current_work

if TYPE_CHECKING:
    import httpx

__all__ = ["AsyncBridge", "bridge_for", "on_loop"]

T = TypeVar("T")

_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "structmagic_loop", default=None)


@contextlib.contextmanager
def on_loop(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Requests made in this context (and in the work bound in it) may use an
    ``httpx.AsyncClient`` of ``loop``."""
    token = _loop.set(loop)
    try:
        yield
    finally:
        _loop.reset(token)


def bridge_for(client: httpx.AsyncClient) -> AsyncBridge:
    """The bridge to ``client`` on the loop of this context."""
    loop = _loop.get()
    if loop is None or loop.is_closed():
        raise ConfigError(
            "An httpx.AsyncClient is for the async functions (astructured, astream, "
            "abatch), awaited on its event loop; the others take an httpx.Client.")
    if client.is_closed:
        raise ConfigError("The http_client given has been closed; pass an open client.")
    return AsyncBridge(client, loop)


class AsyncBridge:
    """The methods of an ``httpx.Client`` structmagic uses (``post``, ``request``,
    ``stream``), run on an ``httpx.AsyncClient``'s loop from a worker thread."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop

    def __repr__(self) -> str:
        return "<AsyncBridge to the user's httpx.AsyncClient>"

    @property
    def is_closed(self) -> bool:
        return self._client.is_closed

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """``coro`` run on the loop, this thread waiting; cancelled if the work stops."""
        import httpx

        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        work = current_work()
        try:
            if work is None:
                return future.result()
            with work.cancelling(future.cancel):
                return future.result()
        except concurrent.futures.CancelledError:
            raise httpx.ReadError("the request was cancelled: its work was stopped") from None

    def request(self, method: str, url: str, *, content: Any = None, auth: Any = None,
                follow_redirects: bool = False, **kwargs: Any) -> httpx.Response:
        """A whole answer (its body read)."""
        return self.run(self._client.request(
            method, url, content=_async_content(content), auth=auth,
            follow_redirects=follow_redirects, **kwargs))

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    @contextlib.contextmanager
    def stream(self, method: str, url: str, *, content: Any = None, auth: Any = None,
               follow_redirects: bool = False, **kwargs: Any) -> Iterator[BridgedResponse]:
        """An answer whose body is read as it arrives (``iter_bytes``), closed after."""
        request = self._client.build_request(method, url, content=_async_content(content),
                                             **kwargs)
        response = self.run(self._client.send(request, auth=auth, stream=True,
                                              follow_redirects=follow_redirects))
        try:
            yield BridgedResponse(response, self)
        finally:
            self.run(response.aclose())


class BridgedResponse:
    """A streamed ``httpx.Response`` of the loop, read from a worker thread."""

    def __init__(self, response: httpx.Response, bridge: AsyncBridge) -> None:
        self._response = response
        self._bridge = bridge

    def __getattr__(self, name: str) -> Any:  # status_code, headers, text, json ...
        return getattr(self._response, name)

    def read(self) -> bytes:
        return self._bridge.run(self._response.aread())

    def iter_bytes(self) -> Iterator[bytes]:
        chunks = self._response.aiter_bytes()
        while (chunk := self._bridge.run(_next(chunks))) is not None:
            yield chunk


async def _next(chunks: AsyncIterator[bytes]) -> bytes | None:
    """The next chunk, None at the end."""
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return None


def _async_content(content: Any) -> Any:
    """A body an ``AsyncClient`` takes: bytes as they are, a sync iterable of chunks (an
    upload read from a file) as an async one."""
    if content is None or isinstance(content, (bytes, str)):
        return content
    if isinstance(content, Iterable):
        return _chunks(iter(content))
    return content


async def _chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
