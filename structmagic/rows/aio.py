"""The async surface: :func:`astructured`, :func:`astream` and :func:`abatch`.

Awaited in a running loop — a notebook cell's top-level ``await``, a coroutine under
``asyncio.run`` — they run the very calls of their sync twins (validation, re-asks, steps
down, recordings, cost, ``max_cost``, images) on worker threads, and the loop stays free:
no ``asyncio.run`` inside a running loop, no ``nest_asyncio``. (The sync functions work in
a running loop too: they never start one; they block it while they run.)

What the user sees comes back to the loop's thread: ``on_partial`` and the widget are called
there (:class:`_OnLoop`), and :func:`astream` yields the partial values as they are parsed.

Cancelling the task stops its work at once (:class:`~structmagic.transport.work.Work`): the
requests in flight are cut (or, through the user's ``httpx.AsyncClient``, cancelled on the
loop), nothing new is sent, and, for :func:`abatch`, every answer that had arrived is kept —
recorded in the cassette, and on the ``CancelledError`` as ``results`` (each row at its
position, unfinished ones marked :class:`~structmagic.Interrupted`). ``http_client=`` takes an
``httpx.AsyncClient`` (:mod:`structmagic.transport.bridge`) as well as an ``httpx.Client``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, TypeVar

from ..api import structured
from ..call.result import Result
from ..config import resolve
from ..display.kernel import in_kernel
from ..display.live import Live
from ..display.widget import StructuredWidget
from ..errors import BatchInterrupted
from ..schema import load_schema
from ..transport.bridge import on_loop
from ..transport.work import Work, workers
from .dispatch import batch

__all__ = ["abatch", "astream", "astructured"]

T = TypeVar("T")


async def astructured(prompt: Any, schema: Any, *, widget: bool = False,
                      on_partial: Callable[[Any], None] | None = None,
                      observer: Any = None, **options: Any) -> Result:
    """``await astructured(prompt, schema, ...)``: :func:`structmagic.structured`, awaited.

    The same arguments and result. ``on_partial`` and ``observer`` are called on the loop's
    thread. ``widget=True`` shows the live widget (the steps as they stream) in the cell
    that awaits it, as ``%%structured`` does. Cancelling the task cuts the request."""
    loop = asyncio.get_running_loop()
    live = None
    if widget and in_kernel():
        spec = load_schema(schema)
        live = Live(StructuredWidget(
            title=spec.name, model=resolve(_settings_of(options)).model,
            steps_field=options.get("steps_field"), labels=options.get("labels")))
        observer = live.widget
        options["stream"] = True
    if observer is not None:
        observer = _OnLoop(loop, observer)
    if on_partial is not None:
        on_partial = _on_loop(loop, on_partial)
    try:
        result = await _in_thread(loop, lambda: structured(
            prompt, schema, on_partial=on_partial, observer=observer, **options),
            what="the call")
    except BaseException as exc:
        if live is not None:
            live.failed(exc)
        raise
    if live is not None:
        live.finished(result, keep=True)  # the widget stays in the cell, in its final state
    return result


async def astream(prompt: Any, schema: Any, **options: Any) -> AsyncIterator[Any]:
    """``async for value in astream(prompt, schema, ...)``: the partial values of a streamed
    answer, each a consistent prefix of the final one, then the validated value itself.
    Errors are raised as :func:`structmagic.structured` raises them; leaving the loop early
    (``break``) cancels the request."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    done = object()

    async def ask() -> Result:
        try:
            return await astructured(prompt, schema, stream=True,
                                     on_partial=queue.put_nowait, **options)
        finally:
            queue.put_nowait(done)

    task = loop.create_task(ask())
    last: Any = done
    try:
        while (value := await queue.get()) is not done:
            last = value
            yield value
        result = await task
        if result.data != last:
            yield result.data
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def abatch(prompts: Iterable[Any], schema: Any, **options: Any) -> list[Result]:
    """``await abatch(prompts, schema, ...)``: :func:`structmagic.batch`, awaited: every
    row's :class:`~structmagic.Result` in input order, ``concurrency`` rows in flight,
    rate limits shared. ``on_progress`` is called on the loop's thread.

    Cancelling the task stops the batch at once: nothing new is sent, the requests in flight
    are cut, and the answers that had arrived are kept (recorded in a cassette with
    ``cache="cache"``, so a re-run pays for none of them again) and given on the
    ``CancelledError`` as ``results``. With ``via="batch-api"``, cancelling leaves the wait
    and the job runs on; awaiting again re-attaches."""
    loop = asyncio.get_running_loop()
    cancel = threading.Event()
    if options.get("on_progress") is not None:
        options["on_progress"] = _on_loop(loop, options["on_progress"])
    if options.get("via", "threads") == "threads":
        options["cancel"] = cancel
    kept: list[list[Result]] = []

    def run() -> list[Result]:
        try:
            return batch(prompts, schema, **options)
        except BatchInterrupted as stopped:  # by the cancel: the rows it had finished
            kept.append(stopped.results)
            return stopped.results

    try:
        return await _in_thread(loop, run, what="the batch", cancel=cancel)
    except asyncio.CancelledError as cancelled:
        if kept:
            cancelled.results = kept[0]  # type: ignore[attr-defined]
        raise


# --- threads, and back on the loop ---------------------------------------------------------


async def _in_thread(loop: asyncio.AbstractEventLoop, fn: Callable[[], T], *, what: str,
                     cancel: threading.Event | None = None) -> T:
    """``fn()`` on a worker thread, as a :class:`Work` of its own, stopped if the task is
    cancelled (its requests cut at once). With ``cancel`` (a batch's), that is set too, and
    the thread is waited for: the rows it had finished are then known."""
    work = Work(what)
    future = loop.run_in_executor(workers(), work.bind(_with_loop(loop, fn)))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        if cancel is not None:
            cancel.set()
        work.stop()
        if cancel is not None:
            await asyncio.gather(future, return_exceptions=True)
        raise


def _with_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[], T]) -> Callable[[], T]:
    """``fn``, whose requests may use an ``httpx.AsyncClient`` of ``loop``."""
    def run() -> T:
        with on_loop(loop):
            return fn()

    return run


def _on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any]) -> Callable[..., None]:
    """``fn``, called from a worker thread, run on the loop's thread (in order)."""
    def call(*args: Any, **kwargs: Any) -> None:
        loop.call_soon_threadsafe(lambda: fn(*args, **kwargs))

    return call


class _OnLoop:
    """An observer (the widget) whose methods, called from a worker, run on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, target: Any) -> None:
        self._loop = loop
        self._target = target

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)  # an AttributeError for what it lacks
        return _on_loop(self._loop, attr) if callable(attr) else attr


def _settings_of(options: dict[str, Any]) -> dict[str, Any]:
    """The options that are settings (for the widget's model name)."""
    return {k: v for k, v in options.items() if k in ("model", "provider", "base_url")}
