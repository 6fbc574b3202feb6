"""What a call sends: the ways of asking for the schema, the messages, each request, and
the first request of a row, built in one place.

- :func:`plan` — the ladder of ways to ask for the schema: the provider's, best first
  (``--mode auto``), or the one mode asked for; as the server check found it for this
  server (:mod:`.servercheck`: its own way first); it starts at the way that worked last
  time for this (provider, base URL, model) (:data:`learned`);
- :class:`Conversation` — the messages of each request of a call, and the re-ask turns
  appended after an invalid answer;
- :class:`Asking` — how the rows of one schema are asked with one set of settings (the
  provider, its request schema, the ladder), and :meth:`Asking.first`, the first request of
  a row: what :func:`first_call` gives, what a call sends first, what a batch job writes as
  the row's line, what an estimate counts and what a budget reserves.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import errors as E
from ..providers import get_provider
from ..providers.base import AUTO, JSON_SCHEMA, TOOLS, CacheHint, Call, Part, Step
from .caching import cache_hint, cache_note, shared_tokens
from .prompt import build_messages, check_prompt, reask_messages
from .servercheck import first_steps

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers import Provider
    from ..schema import Conversion, SchemaSpec

__all__ = [
    "Asking",
    "Conversation",
    "LearnedModes",
    "first_call",
    "forget_learned_modes",
    "learned",
    "make_call",
    "plan",
    "server_of",
]


class LearnedModes:
    """Which way of asking worked, per (provider, base URL, model), for this session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: dict[tuple[str, str, str], Step] = {}

    def get(self, key: tuple[str, str, str]) -> Step | None:
        with self._lock:
            return self._steps.get(key)

    def remember(self, key: tuple[str, str, str], step: Step) -> None:
        with self._lock:
            self._steps[key] = step

    def forget(self) -> None:
        with self._lock:
            self._steps.clear()


learned = LearnedModes()


def forget_learned_modes() -> None:
    """Forget which response format worked for each server (tests, or a changed server)."""
    learned.forget()


def server_of(settings: Settings) -> tuple[str, str, str]:
    return (settings.provider, settings.base_url, settings.model)


# --- what is sent -----------------------------------------------------------------------------


def plan(settings: Settings, provider: Provider, request: Conversion) -> list[Step]:
    """The ways to ask for ``request``, best first; never empty."""
    if settings.mode != AUTO:
        return [Step(settings.mode, request.strict and settings.mode in (JSON_SCHEMA, TOOLS))]
    steps = first_steps(settings, provider,
                        list(provider.ladder(request, thinking=settings.thinking)))
    start = learned.get(server_of(settings))
    if start is not None and start in steps:
        steps = steps[steps.index(start):]
    return steps


class Conversation:
    """The messages of a call's requests: the prompt, the system prompt (with the schema
    where the mode needs it), and the re-ask turns appended after invalid answers."""

    def __init__(self, prompt: str | Sequence[Mapping[str, Any]], system: str | None,
                 schema_text: str, parts: Sequence[Part] = ()) -> None:
        self.prompt = prompt
        self.system = system
        self.schema_text = schema_text
        self.parts = tuple(parts)  # images and documents, in the user message
        self.extra: tuple[Mapping[str, Any], ...] = ()

    def messages(self, mode: str) -> tuple[Mapping[str, Any], ...]:
        return build_messages(self.prompt, system=self.system, mode=mode,
                              schema_text=self.schema_text, parts=self.parts) + self.extra

    def reask(self, answer: str, issues: Sequence[E.ValidationIssue]) -> None:
        """Append the invalid answer and what was wrong with it."""
        self.extra = self.extra + reask_messages(answer, issues)

    def restart(self) -> None:
        """Drop the turns appended so far: the next request is a new way's first."""
        self.extra = ()

    def ask_again(self, answer: str, text: str) -> None:
        """Append an answer and what the user says of it (``text``): a re-ask for another
        reason than the schema (values not found in the source)."""
        self.extra = (*self.extra, {"role": "assistant", "content": answer},
                      {"role": "user", "content": text})


def make_call(settings: Settings, spec: SchemaSpec, request: Conversion, step: Step,
              messages: tuple[Mapping[str, Any], ...], stream: bool, *,
              logprobs: bool | None = None, n: int = 1, cache: CacheHint | None = None
              ) -> Call:
    """The provider-neutral request of one step; ``logprobs`` (default: ``confidence``)
    asks for the answer's token log-probabilities, ``n`` for that many answers, ``cache``
    what the provider's prompt cache is asked (:mod:`.caching`)."""
    return Call(
        model=settings.model,
        messages=messages,
        schema_name=spec.name,
        schema=request.request,
        strict=step.strict,
        mode=step.mode,
        description=spec.description,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        stream=stream,
        thinking=settings.thinking,
        logprobs=settings.confidence if logprobs is None else logprobs,
        n=n,
        cache=cache,
    )


class Asking:
    """How the rows of one schema are asked with one set of settings: the provider, the
    request schema it sends (:meth:`SchemaSpec.request_for`) and the ladder of ways to ask
    (:func:`plan`), worked out once; then any row's requests."""

    def __init__(self, spec: SchemaSpec, settings: Settings,
                 provider: Provider | None = None) -> None:
        self.spec = spec
        self.settings = settings
        self.provider = provider if provider is not None else get_provider(settings.provider)
        self.request = spec.request_for(self.provider)
        self.steps = plan(settings, self.provider, self.request)

    def replan(self) -> None:
        """Work out the ladder again (after the server check found something)."""
        self.steps = plan(self.settings, self.provider, self.request)

    def conversation(self, prompt: str | Sequence[Mapping[str, Any]],
                     parts: Sequence[Part] = ()) -> Conversation:
        """A row's messages; :class:`~structmagic.InputError` for a prompt no request can
        carry (checked here, before anything else is done with it)."""
        check_prompt(prompt, self.settings.system)
        return Conversation(prompt, self.settings.system, self.request.text, parts)

    def call(self, talk: Conversation, step: Step, *, stream: bool = False,
             logprobs: bool | None = None, n: int = 1, shared: int | None = None) -> Call:
        """The request of ``step`` with ``talk``'s messages so far (``logprobs``, ``n``: see
        :func:`make_call`); ``shared``: in a run, how many leading characters its prompts
        share (the prompt cache is asked to serve them: :func:`.caching.cache_hint`)."""
        messages = talk.messages(step.mode)
        hint = (None if shared is None and self.settings.prompt_cache_key is None else
                cache_hint(self.settings, self.provider, messages, self.request.request,
                           self.spec.name, step.mode, shared))
        return make_call(self.settings, self.spec, self.request, step, messages, stream,
                         logprobs=logprobs, n=n, cache=hint)

    @property
    def answers_at_once(self) -> int:
        """How many answers the first request of a row asks for: ``samples`` where the
        format takes several in one request (:attr:`Provider.samples_in_one`), else 1."""
        if self.settings.samples > 1 and self.provider.samples_in_one:
            return self.settings.samples
        return 1

    def shared_tokens(self, prompt: str | Sequence[Mapping[str, Any]], shared: int) -> int:
        """The tokens the requests of a run share, from its first row (``shared``: the
        leading characters its prompts share; :func:`.caching.shared_tokens`)."""
        step = self.steps[0]
        return shared_tokens(self.conversation(prompt).messages(step.mode), shared,
                             self.request.request, step.mode)

    def cache_note(self, prompt: str | Sequence[Mapping[str, Any]], shared: int) -> str | None:
        """What a run whose prompts share ``shared`` leading characters is told about its
        prompt cache, from its first row: that nothing will be cached, and why (None:
        nothing to say; see :func:`.caching.cache_note`)."""
        step = self.steps[0]
        return cache_note(self.settings, self.provider,
                          self.conversation(prompt).messages(step.mode),
                          self.request.request, step.mode, shared)

    def first(self, prompt: str | Sequence[Mapping[str, Any]], parts: Sequence[Part] = (),
              *, stream: bool = False) -> Call:
        """The first request of a row: its prompt, images and documents (``parts``,
        prepared for the provider) asked the first way of the ladder."""
        return self.call(self.conversation(prompt, parts), self.steps[0], stream=stream,
                         n=self.answers_at_once)


def first_call(prompt: str | Sequence[Mapping[str, Any]], spec: SchemaSpec,
               settings: Settings, *, parts: Sequence[Part] = (), stream: bool = False
               ) -> Call:
    """The first request of a row: prompt, schema, settings (and so the provider), images
    and documents in, the request a call would send first out (see :class:`Asking`)."""
    return Asking(spec, settings).first(prompt, parts, stream=stream)
