"""The one way a request goes to a provider: built, encoded, checked for a key, sent with
retries.

Every request structmagic makes passes here — a call's (:mod:`.send`), a batch job's uploads,
creates, polls, downloads and cancels (:mod:`structmagic.rows.jobs.wire`), a token count
(:mod:`structmagic.cost.count`):

- :func:`build` — the provider's URL and body for a call (a mode its format cannot send is a
  :class:`~structmagic.ConfigError`);
- :func:`encode` — the body as UTF-8 JSON, once (a lone surrogate, NaN, or a value nested too
  deep is an :class:`~structmagic.InputError` before anything is sent);
- :func:`require_key` — no key for a host that is not on this machine is a
  :class:`~structmagic.ConfigError` naming where a key would come from;
- :func:`timeout_for` — each request's timeout (``--timeout``; connecting 5 s);
- :func:`with_retries` — the retry loop (as the official SDKs have it: one ``for`` over the
  attempts, delegating to small named steps): an attempt that raises :class:`Retry` is tried
  again after the policy's wait (:mod:`.retry`), on the settings' clock, pacing a batch
  through its gate; any other error ends it. Every error carries ``attempts``;
- :func:`raise_for_status` and :func:`retry_transport` — an error answer, or a request that
  got none, as the error to raise or the :class:`Retry` to try again.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .. import errors as E
from ..providers.base import Call
from .http import is_loopback
from .retry import should_retry, wait_before_retry
from .status import api_error, transport_error
from .work import Relay, current_work, off_main

if TYPE_CHECKING:
    import httpx

    from ..config import Settings
    from ..providers import Provider

__all__ = ["Retry", "build", "encode", "raise_for_status", "require_key", "retry_transport",
           "timeout_for", "with_retries"]

log = logging.getLogger("structmagic")
T = TypeVar("T")


# --- what goes out ------------------------------------------------------------------------------


def build(call: Call, settings: Settings, provider: Provider) -> tuple[str, dict[str, Any]]:
    """The URL and JSON body ``provider`` sends for ``call``."""
    try:
        return provider.build(call, settings.base_url)
    except ValueError as exc:  # a mode this format cannot send (e.g. a tool with thinking)
        raise E.ConfigError(
            f"The {provider.name} format cannot send this request as {call.mode}: {exc}",
            hint="--mode auto (the default) picks the ways this format can ask.") from None


def encode(body: Any, *, compact: bool = False) -> bytes:
    """``body`` as UTF-8 JSON, non-ASCII kept as it is (``compact``: no space after the
    separators, as every line of a batch job's input is written)."""
    separators = (",", ":") if compact else None
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False,
                          separators=separators).encode("utf-8")
    except UnicodeEncodeError:
        raise E.InputError(
            "The request holds text that cannot be sent: a lone surrogate (a half of a "
            "UTF-16 pair, such as '\\ud800') in the prompt or a value filled into it.",
            hint="Remove or replace the broken character (text.encode('utf-8', "
                 "'replace').decode() shows where).") from None
    except ValueError as exc:
        raise E.InputError(f"The request holds a value JSON cannot carry ({exc}): NaN or "
                           "infinity in an option or message.") from None
    except RecursionError:
        raise E.InputError("The request nests too deep to be sent.") from None


def require_key(settings: Settings, url: str | None = None) -> None:
    """A :class:`~structmagic.ConfigError` when there is no key for a remote host (none is
    needed where a bearer token is used: :attr:`Settings.uses_token`)."""
    if settings.uses_token:
        return
    if settings.key() is None and not is_loopback(url or settings.base_url):
        raise E.ConfigError(f"No API key for {settings.base_url}.", hint=settings.key_help())


@functools.lru_cache(maxsize=32)
def _timeout(read: float, connect: float) -> httpx.Timeout:
    import httpx

    return httpx.Timeout(read, connect=connect)


def timeout_for(settings: Settings) -> httpx.Timeout:
    """The timeout of each request: ``settings.timeout`` to wait (for the answer, or for its
    next piece), ``settings.connect_timeout`` to connect."""
    return _timeout(settings.timeout, settings.connect_timeout)


# --- the attempts ---------------------------------------------------------------------------------


class Retry(Exception):
    """An attempt failed in a way worth another attempt: ``error`` (raised when none is
    left), and the wait the server asked for (None: the policy's back-off)."""

    def __init__(self, error: E.StructuredError, wait: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.wait = wait


def with_retries(attempt: Callable[[], T], settings: Settings, *, gate: Any = None,
                 retries: int | None = None, relay: Relay | None = None
                 ) -> tuple[T, int]:
    """``attempt()``'s value and how many attempts it took: an attempt that raises
    :class:`Retry` is tried again, up to ``retries`` more times (default: the settings'),
    after the wait the policy gives. ``gate`` (a batch's
    :class:`~structmagic.rows.gate.RateGate`) is passed before every attempt, and a 429
    pauses every worker behind it instead of this one alone.

    The attempts run as part of the current :class:`~.work.Work` (counted in flight while
    they wait for their answers; none is made once it is stopped), on a worker thread when
    this is the main thread (:func:`~.work.off_main`: an interrupt lands at once, and the
    calls an attempt makes through ``relay`` are made here)."""
    return off_main(lambda: _attempts(attempt, settings, gate, retries), relay=relay)


def _attempts(attempt: Callable[[], T], settings: Settings, gate: Any,
              retries: int | None) -> tuple[T, int]:
    limit = settings.retries if retries is None else retries
    work = current_work()
    last: E.StructuredError | None = None
    tries = 0
    for retries_taken in range(limit + 1):
        tries = retries_taken + 1
        if gate is not None:
            gate.before_request()
        try:
            if work is None:
                return attempt(), tries
            work.check()
            with work.request():
                return attempt(), tries
        except Retry as retry:
            last = retry.error
            last.attempts = tries
            if work is not None:
                work.check()  # stopped (its connection cut): nothing more is sent
            if retries_taken >= limit:
                break
            wait = wait_before_retry(retries_taken, last, retry.wait, settings.max_retry_wait)
            log.info("retrying in %.2f s after: %s", wait, last.message)
            if gate is not None and isinstance(last, E.RateLimitError):
                gate.pause(wait)  # every worker of the batch slows down, not only this one
                continue  # gate.before_request() makes this worker wait too
            settings.clock.sleep(wait)
        except E.StructuredError as err:
            err.attempts = tries
            raise
    assert last is not None
    if tries > 1:
        last.hint = (f"Gave up after {tries} attempts. " + (last.hint or "")).strip()
    raise last


def raise_for_status(resp: httpx.Response, settings: Settings, provider: Provider, *,
                     inputs: bool = False) -> None:
    """Nothing for a success; else the error of the answer, as a :class:`Retry` when the
    policy retries its status (never a rejected format or input: asking again will not help).
    ``inputs``: the request carried images or documents."""
    if resp.status_code < 400:
        return
    err = api_error(resp.status_code, resp.text, resp.headers, provider, settings,
                    inputs=inputs)
    if not isinstance(err, (E.UnsupportedFormatError, E.UnsupportedInputError)) and \
            should_retry(resp.status_code, resp.headers):
        raise Retry(err, err.retry_after)
    raise err


def retry_transport(exc: httpx.HTTPError, settings: Settings, provider: Provider
                    ) -> Exception:
    """What to raise for a request that got no answer: a :class:`Retry` for a connection
    error or a timeout, else the error itself (a body that does not decode, say).

    An ``httpx.HTTPStatusError`` did get an answer: the user's own client raised it from a
    response hook (httpx's documented ``raise_for_status`` hook). It is read as the answer
    it carries, as :func:`raise_for_status` reads any (a 429 retried after its wait, a 401
    an :class:`~structmagic.AuthenticationError`), given the ``provider`` that asked; its
    body is read if httpx has not closed it by then."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        resp = exc.response
        try:
            resp.read()
        except (httpx.HTTPError, httpx.StreamError):
            # httpx closes the answer whose hook raised before its body is read: the status
            # and headers (retry-after ...) are what is left of it
            resp = httpx.Response(resp.status_code, headers=resp.headers, content=b"",
                                  request=resp.request)
        try:
            raise_for_status(resp, settings, provider)
        except (Retry, E.StructuredError) as answered:
            return answered
    err = transport_error(exc, settings)
    return Retry(err) if isinstance(exc, httpx.TransportError) else err
