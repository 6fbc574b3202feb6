"""The server check: does a server that is not a known vendor's enforce the schema?

Local servers fail open: vLLM from 0.12 ignores the removed ``guided_*`` keys, llama.cpp's
server ignores a grammar it cannot parse, Ollama Cloud accepts a schema it does not enforce,
and Ollama's OpenAI-compatible ``response_format`` has been ignored by some versions; all
answer HTTP 200, unconstrained. So, in ``--mode auto``, the first live call to such a server
(a provider with :attr:`~structmagic.providers.Provider.server_modes`, a base URL that is
not a known vendor's: :func:`~structmagic.providers.base.known_vendor`) first sends one small
request (:func:`probe`): a schema a free-running model would not satisfy by chance (an enum
of one improbable token), a few tokens at most, not streamed, through the normal send path
(retries, the key, the user's ``http_client`` all apply; never recorded). An answer that
satisfies it means the server enforces ``response_format``. If it does not, the server's own
parameters are tried one by one (vLLM's ``structured_outputs``, llama.cpp's ``json_schema``,
Ollama's ``format``); the first one enforced becomes the first way of asking there
(:func:`first_steps`), else the native request is left out of the ladder, whose other ways
go on as before.

The finding (:class:`ServerFinding`) is kept per (base URL, model) for the process,
thread-safe (rows of a batch wait for the one check), and shown once: a line on the
``structmagic`` logger (WARNING when the server ignores the schema, INFO otherwise);
:func:`server_checks` lists them. No check is made when answers come from a recording (replay,
or a call the recording holds in cache mode), for known vendors, for a provider batch job,
or with ``server_check="off"``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .. import errors as E
from ..providers.base import AUTO, JSON_SCHEMA, Call, Step, known_vendor
from ..transport import send
from .prompt import find_json

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers import Provider

__all__ = [
    "ENFORCES",
    "IGNORES",
    "PROBE_SCHEMA",
    "UNCLEAR",
    "ServerChecks",
    "ServerFinding",
    "check_server",
    "checks",
    "first_steps",
    "forget_server_checks",
    "probe",
    "server_checks",
    "wanted",
]

log = logging.getLogger("structmagic")

ENFORCES = "enforces"
IGNORES = "ignores"
UNCLEAR = "unclear"

#: the token the check's schema allows, and nothing else: no model writes it by chance
PROBE_TOKEN = "zqx-structmagic-7k"
PROBE_SCHEMA = {
    "type": "object",
    "properties": {"check": {"type": "string", "enum": [PROBE_TOKEN]}},
    "required": ["check"],
    "additionalProperties": False,
}
#: the JSON an enforcing server writes (spaces aside)
_EXPECTED = json.dumps({"check": PROBE_TOKEN}, separators=(",", ":"))
#: enough for the JSON, too few for an essay
PROBE_TOKENS = 48
_PROMPT = "Reply with one short sentence about the weather."
#: each server's own parameter, as the note names it
_OWN = {"vllm_structured_outputs": "vLLM's structured_outputs",
        "llamacpp_json_schema": "llama.cpp's json_schema",
        "ollama_format": "Ollama's format"}


@dataclass(frozen=True)
class ServerFinding:
    """What the check found for one (base URL, model).

    ``verdict``: :data:`ENFORCES` (the native request is enforced), :data:`IGNORES` (it is
    not; ``mode`` is the server's own way that is, or None) or :data:`UNCLEAR` (the check
    could not tell: ``detail`` says why; the ladder is left as it is); ``requests``: the
    requests the check made.
    """

    base_url: str
    model: str
    verdict: str
    mode: str | None = None
    requests: int = 0
    detail: str = ""

    def note(self) -> str:
        """The one line shown for it."""
        where = f"The server at {self.base_url} (model {self.model})"
        if self.verdict == ENFORCES:
            return f"{where} enforces response_format json_schema."
        if self.verdict == UNCLEAR:
            return (f"{where}: could not tell whether it enforces response_format "
                    f"({self.detail}); answers are validated here as always.")
        if self.mode is not None:
            return (f"{where} ignores response_format json_schema but enforces "
                    f"{_OWN.get(self.mode, self.mode)}: asked that way from now on.")
        return (f"{where} ignores response_format json_schema and no server parameter "
                "for a schema worked: asked with the schema in the prompt (json_object), "
                "and every answer validated here.")


class ServerChecks:
    """The findings, per (base URL, model): one check each, however many threads ask."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[tuple[str, str], ServerFinding] = {}
        self._busy: dict[tuple[str, str], threading.Lock] = {}

    def get(self, key: tuple[str, str]) -> ServerFinding | None:
        with self._lock:
            return self._found.get(key)

    def check(self, key: tuple[str, str], run: Callable[[], ServerFinding]) -> ServerFinding:
        """The finding for ``key``: kept, or made by ``run()`` once (the others wait for
        it) and shown. An error of ``run`` is not kept: the next call checks again."""
        with self._lock:
            found = self._found.get(key)
            if found is not None:
                return found
            busy = self._busy.setdefault(key, threading.Lock())
        with busy:
            with self._lock:
                found = self._found.get(key)
            if found is not None:
                return found
            found = run()
            with self._lock:
                self._found[key] = found
        log.log(logging.WARNING if found.verdict == IGNORES else logging.INFO,
                "%s", found.note())
        return found

    def all(self) -> list[ServerFinding]:
        with self._lock:
            return list(self._found.values())

    def forget(self) -> None:
        with self._lock:
            self._found.clear()


checks = ServerChecks()


def server_checks() -> list[ServerFinding]:
    """What the server check found so far in this process, one finding per (base URL,
    model), in the order they were made."""
    return checks.all()


def forget_server_checks() -> None:
    """Forget every finding (a server restarted with other options; tests)."""
    checks.forget()


def wanted(settings: Settings, provider: Provider) -> bool:
    """Whether calls with ``settings`` are checked: ``--mode auto``, ``server_check`` auto, a
    provider with servers' own modes, a base URL that is not a known vendor's, answers not
    from the recording (replay)."""
    return (settings.server_check == "auto" and settings.mode == AUTO
            and bool(provider.server_modes) and settings.cache != "replay"
            and not known_vendor(settings.base_url))


def first_steps(settings: Settings, provider: Provider, steps: list[Step]) -> list[Step]:
    """The ladder ``steps`` as the finding for this server orders it: its own way first and
    the ignored native request left out (nothing changes without a finding, or when the
    server enforces the native request)."""
    found = checks.get((settings.base_url, settings.model)) if wanted(settings,
                                                                       provider) else None
    if found is None or found.verdict != IGNORES:
        return steps
    rest = [s for s in steps if s.mode != JSON_SCHEMA] or steps
    return [Step(found.mode, False), *rest] if found.mode is not None else rest


def check_server(settings: Settings, provider: Provider, *, gate: Any = None
                 ) -> ServerFinding:
    """The finding for the server of ``settings``: checked now when it is not known yet."""
    return checks.check((settings.base_url, settings.model),
                        lambda: _run(settings, provider, gate))


def _run(settings: Settings, provider: Provider, gate: Any) -> ServerFinding:
    live = replace(settings, cache="off")  # a check is never recorded
    made = 0
    verdict: bool | None
    try:
        verdict, n = probe(JSON_SCHEMA, live, provider, gate=gate)
        made += n
    except E.UnsupportedFormatError as err:
        verdict, made = False, made + max(err.attempts, 1)
    except (E.AuthenticationError, E.TransportError):
        raise  # the call itself would fail the same way: it says so
    except E.StructuredError as err:
        return ServerFinding(settings.base_url, settings.model, UNCLEAR,
                             requests=made + err.attempts, detail=err.message[:200])
    if verdict is None:
        return ServerFinding(settings.base_url, settings.model, UNCLEAR, requests=made,
                             detail="the answer stopped at the token limit before any JSON")
    if verdict:
        return ServerFinding(settings.base_url, settings.model, ENFORCES, requests=made)
    for mode in provider.server_modes:
        try:
            enforced, n = probe(mode, live, provider, gate=gate)
            made += n
        except (E.AuthenticationError, E.TransportError):
            raise
        except E.StructuredError as err:  # a server that refuses the parameter
            made += max(err.attempts, 1)
            continue
        if enforced:
            return ServerFinding(settings.base_url, settings.model, IGNORES, mode=mode,
                                 requests=made)
    return ServerFinding(settings.base_url, settings.model, IGNORES, requests=made)


def probe(mode: str, settings: Settings, provider: Provider, *, gate: Any = None
          ) -> tuple[bool | None, int]:
    """Whether the server enforces the check's schema asked as ``mode`` (None: the answer
    stopped at the token limit before any JSON), and the requests it took."""
    call = Call(model=settings.model, messages=({"role": "user", "content": _PROMPT},),
                schema_name="server_check", schema=PROBE_SCHEMA, strict=True, mode=mode,
                max_tokens=PROBE_TOKENS)
    sent = send.send(call, settings, provider, gate=gate)
    text = sent.completion.text
    found = find_json(text)
    if found.value == {"check": PROBE_TOKEN} and found.raw.strip() == text.strip():
        return True, sent.attempts
    squeezed = "".join(text.split())
    if sent.completion.finish == "length":
        if squeezed and _EXPECTED.startswith(squeezed):
            return True, sent.attempts  # cut inside the very JSON asked for
        if not squeezed:
            return None, sent.attempts
    return False, sent.attempts
