"""The request loop of one call, as named steps: plan → ask → (step down) → read → (re-ask).

- plan — what is sent (:mod:`.plan`): the ladder of ways to ask, started at the way that
  worked last time for this server, or — when answers come from a recording — at the first
  way the recording holds (:func:`start`); the first request is :meth:`Asking.first`'s;
  the first live call to a server that is not a known vendor's checks once whether it
  enforces the schema (:mod:`.servercheck`), which may reorder the ladder;
- :func:`ask` — one request of a step through the transport (which does the HTTP retries);
- :func:`step_down` — a server that rejects a way of asking is asked the next way;
  :func:`step_past` — one whose answers show that it ignored the way of asking
  (:mod:`.ignored`) is asked the next way of another mode at once, spending no re-ask;
- :func:`read_answer` — the finish checked (refusal, filter), the JSON read out of the text,
  mapped back and validated against the user's own schema; an answer that reached the token
  limit is kept only when its JSON is complete and valid (``Result.truncated``), else it is a
  :class:`~structmagic.TruncatedError` (never re-asked: it would stop at the same limit);
- a re-ask — the invalid answer and its problems appended to the conversation;
- grounding (``ground``, ``require_grounding``: :mod:`.grounding`) — a valid answer's values
  looked for in the source; with ``require_grounding``, values not found there are asked for
  again within the same re-asks.

:func:`run` ties them together and returns a :class:`~structmagic.Result`; every error it
raises carries ``attempts``, the HTTP requests made for the call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import errors as E
from ..cost.prices import warm
from ..cost.spend import Spend
from ..providers.base import AUTO, Call, Completion, Part, Step
from ..transport import send
from ..transport.status import MAX_ANSWER_DEPTH, too_deep
from .confidence import field_confidence
from .grounding import grounder_for
from .ignored import Signs, honoured_by, ignored_error
from .live import Observer, PartialReporter
from .plan import Asking, Conversation, learned, server_of
from .prompt import answer_depth, find_json
from .result import Result
from .servercheck import check_server, wanted

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers import Provider
    from ..schema import Conversion, SchemaSpec

__all__ = ["Answer", "Tally", "ask", "check_finish", "measure", "read_answer", "recorded_step",
           "refuses_logprobs", "run", "start", "step_down", "step_past"]


@dataclass
class Tally:
    """What the requests of a call added up to: attempts, tokens, and what they cost.

    ``spend`` keeps each answer's usage, priced on its own when the cost is first read (a
    price tier depends on one request's prompt; an answer from the recording costs
    nothing and counts as saved) -- never while the call runs.
    """

    attempts: int = 0
    usage: dict[str, int] = field(default_factory=dict)
    from_cache: bool = False
    spend: Spend | None = None

    def add(self, sent: send.Sent) -> None:
        self.attempts += sent.attempts
        self.from_cache = self.from_cache or sent.from_cassette
        for k, v in sent.completion.usage.items():
            self.usage[k] = self.usage.get(k, 0) + int(v)
        if self.spend is not None:
            self.spend.add(sent.completion.usage, sent.from_cassette)


def ask(call: Call, settings: Settings, provider: Provider, tally: Tally, *,
        reporter: PartialReporter | None, gate: Any) -> Completion:
    """Send one request; its HTTP attempts are counted in ``tally`` even when it fails."""
    try:
        sent = send.send(call, settings, provider, on_deltas=reporter, gate=gate,
                         relay=reporter.relay if reporter is not None else None)
    except E.StreamError as err:
        tally.attempts += err.attempts
        if reporter is not None:
            reporter.flush()
            err.partial = reporter.last
        raise
    except E.StructuredError as err:
        tally.attempts += err.attempts
        raise
    if reporter is not None:
        reporter.flush()
    tally.add(sent)
    return sent.completion


def step_down(steps: list[Step], index: int, error: E.UnsupportedFormatError,
              settings: Settings) -> int:
    """The index of the next way to ask after ``error``; re-raises it when there is none
    (or the mode was chosen explicitly)."""
    if settings.mode != AUTO or index + 1 >= len(steps):
        raise error
    return index + 1


def step_past(steps: list[Step], index: int, settings: Settings) -> int | None:
    """The index of the next way to ask of another mode than ``steps[index]``'s (a server
    that ignored json_schema ignores it strict or not), or None when there is none or the
    mode was chosen explicitly."""
    if settings.mode != AUTO:
        return None
    mode = steps[index].mode
    return next((i for i in range(index + 1, len(steps)) if steps[i].mode != mode), None)


def check_finish(c: Completion) -> None:
    """A refusal and the content filter, as errors (never re-asked). A finish at the token
    limit is :func:`read_answer`'s to judge: its JSON may be complete."""
    if c.refusal or c.finish == "refusal":
        text = c.refusal or c.text.strip() or "(no refusal text was given)"
        raise E.RefusalError(text, raw=c.text)
    if c.finish == "content_filter":
        raise E.ContentFilterError("The provider's content filter stopped the answer.",
                                   raw=c.text)


@dataclass(frozen=True)
class Answer:
    """An answer read (:func:`read_answer`): ``issues == []`` means accepted.

    ``plain`` and ``data`` are its value (None when no JSON could be read), ``raw`` the JSON
    text it was read from (a substring of the answer's text; ``""`` when none was read),
    ``truncated`` whether the answer reached the token limit just after its complete JSON.
    """

    plain: Any = None
    data: Any = None
    issues: list[E.ValidationIssue] = field(default_factory=list)
    raw: str = ""
    truncated: bool = False


_RAISE_LIMIT = "Raise --max-tokens (or max_tokens=...), or ask for a shorter answer."


def _cut(c: Completion) -> E.TruncatedError:
    return E.TruncatedError(
        "The answer was cut off before the JSON was complete (finish_reason 'length').",
        raw=c.text, hint=_RAISE_LIMIT)


def _complete_but_invalid(c: Completion, issues: list[E.ValidationIssue]
                          ) -> E.TruncatedError:
    listed = "; ".join(str(i) for i in issues[:3]) + ("; ..." if len(issues) > 3 else "")
    return E.TruncatedError(
        "The answer reached the token limit (finish_reason 'length') just after its JSON, "
        f"which was complete but did not match the schema ({listed}); it is not asked "
        "again, as the answer would stop at the same limit.",
        raw=c.text, hint=_RAISE_LIMIT)


def read_answer(c: Completion, spec: SchemaSpec, request: Conversion) -> Answer:
    """The answer of ``c`` read, mapped back and checked against the user's schema.

    A refusal or the content filter raises (:func:`check_finish`). An answer that reached
    the token limit (``finish == "length"``) is accepted, with ``truncated``, only when its
    JSON is complete (:func:`~structmagic.call.prompt.find_json`) and valid; otherwise it
    raises :class:`~structmagic.TruncatedError`, saying whether the JSON was cut or whole
    but invalid (a re-ask would stop at the same limit).
    """
    check_finish(c)
    limited = c.finish == "length"
    if answer_depth(c.text) > MAX_ANSWER_DEPTH:
        raise _cut(c) if limited else too_deep(c.text)
    found = find_json(c.text)
    if limited and not found.complete:
        raise _cut(c)
    if found.problem is not None:
        return Answer(issues=[E.ValidationIssue("$", found.problem)])
    try:
        plain, data, issues = spec.check(found.value, request)
    except RecursionError:
        raise E.InvalidOutputError(
            "The answer nests too deep to be validated.",
            errors=[E.ValidationIssue("$", "nested too deep to validate")],
            raw=c.text[:2000]) from None
    if limited and issues:
        raise _complete_but_invalid(c, issues)
    return Answer(plain, data, issues, raw=found.raw, truncated=limited and not issues)


def _invalid(spec: SchemaSpec, settings: Settings, issues: list[E.ValidationIssue], raw: str,
             step: Step, provider: Provider, ignored: str | None = None
             ) -> E.InvalidOutputError:
    n = settings.reasks + 1
    message = (f"The answer did not match the schema {spec.name!r} after {n} "
               f"{'try' if n == 1 else 'tries'} ({len(issues)} "
               f"{'problem' if len(issues) == 1 else 'problems'}):")
    if ignored is not None:
        return ignored_error(message, ignored, issues, raw, step, provider)
    hint = "Raise --reasks, simplify the schema, or try another model."
    if issues and all(i.path == "$" and "JSON" in i.message for i in issues):
        hint = (f"The server may have ignored the structured-output request ({step.mode} in "
                f"the {provider.name} format). {honoured_by(provider)}{hint}")
    return E.InvalidOutputError(message, errors=issues, raw=raw, hint=hint)


# --- the call -----------------------------------------------------------------------------------


def run(prompt: str | Sequence[Mapping[str, Any]], spec: SchemaSpec, settings: Settings, *,
        stream: bool = False, on_partial: Callable[[Any], None] | None = None,
        observer: Observer | None = None, steps_field: str | None = None,
        gate: Any = None, parts: Sequence[Part] = (), source: Any = None,
        wanted_answers: int | None = None, shared: int | None = None) -> Result:
    """One call: a validated :class:`Result`, or a :class:`StructuredError` with ``attempts``.

    ``wanted_answers`` (``samples``; default: all of them) is how many answers the first
    request asks for where the format takes several in one (the others are the result's
    :meth:`~structmagic.Result.take_others`). ``shared``: in a run of many rows, how many
    leading characters their prompts share (:mod:`.caching`); None for a single call.

    ``parts`` are the call's images and documents, already prepared for the provider
    (:func:`structmagic.inputs.prepare_inputs`). ``source``: the text to ground the values
    in, when grounding is on (default: see :mod:`.grounding`).
    """
    started = time.perf_counter()
    asking = Asking(spec, settings)
    provider, request = asking.provider, asking.request
    talk = asking.conversation(prompt, parts)
    if wanted(settings, provider) and recorded_step(asking, talk, stream=stream) is None:
        check_server(settings, provider, gate=gate)  # once per (base URL, model)
        asking.replan()
    steps = start(asking, talk, stream=stream)
    tally = Tally(spend=Spend(settings.provider, settings.model, settings.base_url,
                              settings.prices))
    warm()  # the price table loads while the request is out
    grounder = grounder_for(settings, spec, prompt, parts, source, steps_field=steps_field)
    grounding = None
    reasks_left = settings.reasks
    signs = Signs(request.request)
    index = 0
    logprobs_refused: str | None = None  # why the server would not send log-probabilities
    others: tuple[Completion, ...] = ()  # the first request's other answers (samples)
    at_once = min(asking.answers_at_once, wanted_answers or asking.answers_at_once)
    try:
        while True:
            step = steps[index]
            first = not talk.extra  # a row's first request, or a new way's first
            call = asking.call(talk, step, stream=stream,
                               logprobs=settings.confidence and logprobs_refused is None,
                               n=at_once if first and not others else 1, shared=shared)
            reporter = PartialReporter(on_partial, observer) if stream else None
            if tally.attempts and observer is not None and hasattr(observer, "restart"):
                observer.restart()  # a re-ask or a step down streams a new answer
            try:
                completion = ask(call, settings, provider, tally, reporter=reporter, gate=gate)
            except E.BadRequestError as err:
                if call.logprobs and refuses_logprobs(err):  # asked again without them
                    logprobs_refused = (f"the server refused to send log-probabilities "
                                        f"({err.message[:200]})")
                    continue
                if not isinstance(err, E.UnsupportedFormatError):
                    raise
                index = step_down(steps, index, err, settings)
                continue
            if call.n > 1:
                others = completion.others
            answer = read_answer(completion, spec, request)
            plain, data, issues = answer.plain, answer.data, answer.issues
            if not issues and grounder is not None:
                grounding = grounder.check(plain)
                missing = grounder.missing(grounding)
                if missing and reasks_left > 0:
                    reasks_left -= 1
                    talk.ask_again(completion.text, grounder.reask_text(grounding, missing))
                    continue
                if missing and grounder.mode == "on":
                    raise grounder.error(grounding, missing, plain, completion.text,
                                         settings.reasks)
            if not issues:
                if settings.mode == AUTO:
                    learned.remember(server_of(settings), step)
                confidence, reason = (
                    measure(completion, answer, request.wrapped, provider, step,
                            logprobs_refused) if settings.confidence else (None, None))
                return Result(
                    data=data, plain=plain, raw=answer.raw, text=completion.text,
                    truncated=answer.truncated, reasoning=completion.reasoning,
                    usage=tally.usage, model=completion.model or settings.model,
                    attempts=tally.attempts, elapsed=time.perf_counter() - started,
                    schema_name=spec.name, steps_field=steps_field,
                    provider=settings.provider, mode=step.mode, from_cache=tally.from_cache,
                    inputs=tuple(p.summary() for p in parts), grounding=grounding,
                    source=grounder.source if grounder is not None else None,
                    confidence=confidence, confidence_reason=reason,
                    reasks=settings.reasks - reasks_left,
                    _spend=tally.spend,
                    _others=tuple(other_answers(others, spec, asking, step, logprobs_refused)),
                )
            if signs.see(step, completion, answer.raw) is not None:
                past = step_past(steps, index, settings)
                if past is not None:  # asked another way at once, no re-ask spent
                    index = past
                    talk.restart()
                    continue
            if reasks_left <= 0:
                raise _invalid(spec, settings, issues, completion.text, step, provider,
                               signs.reason)
            reasks_left -= 1
            talk.reask(completion.text, issues)
    except E.StructuredError as err:
        err.attempts = tally.attempts
        if tally.usage and tally.spend is not None:  # answers before the failure were paid
            err.usage, err.cost = dict(tally.usage), tally.spend.resolve()[0]  # its cost
        raise


def other_answers(others: Sequence[Completion], spec: SchemaSpec, asking: Asking, step: Step,
                  refused: str | None) -> list[Result]:
    """The valid ones among the other answers of a request that asked for several
    (``samples``), each as a :class:`Result` of its own value (no usage: the request's is
    the first answer's); invalid ones are left out (they agree with nothing)."""
    out = []
    for completion in others:
        try:
            answer = read_answer(completion, spec, asking.request)
        except E.StructuredError:
            continue
        if answer.issues:
            continue
        confidence, reason = (
            measure(completion, answer, asking.request.wrapped, asking.provider, step,
                    refused) if asking.settings.confidence else (None, None))
        out.append(Result(data=answer.data, plain=answer.plain, raw=answer.raw,
                          text=completion.text, model=completion.model, schema_name=spec.name,
                          provider=asking.settings.provider, mode=step.mode,
                          confidence=confidence, confidence_reason=reason))
    return out


def refuses_logprobs(err: E.APIError) -> bool:
    """Whether an error answer refuses the log-probabilities asked for (a reasoning model's
    "logprobs is not supported"), so the request is sent again without them."""
    return err.status in (400, 422) and "logprob" in err.message.lower()


def measure(completion: Completion, answer: Answer, wrapped: bool, provider: Provider,
            step: Step, refused: str | None = None) -> tuple[dict[str, float] | None,
                                                         str | None]:
    """The accepted answer's per-field confidence, or None and why there is none (the
    format has no log-probabilities, the server refused or did not send them)."""
    why = refused or provider.logprobs_refusal(step.mode)
    if why is None and completion.logprobs is None:
        why = completion.logprobs_problem or (
            "the server sent no log-probabilities with the answer (it may not support them, "
            "or the model is a reasoning model)")
    if why is None:
        found, why = field_confidence(completion.text, answer.raw, completion.logprobs,
                                      answer.plain, wrapped=wrapped)
        if found is not None:
            return found, None
    why = why or "no log-probabilities were read"
    return None, why[:1].upper() + why[1:] + "."


def start(asking: Asking, talk: Conversation, *, stream: bool) -> list[Step]:
    """The ways to ask, from the first one to try: in replay and cache modes, the first way
    the recording holds (so a notebook recorded against a server that needed a step down
    replays offline, and the cache does not pay for a request the server will reject)."""
    first = recorded_step(asking, talk, stream=stream)
    return asking.steps if first is None else asking.steps[first:]


def recorded_step(asking: Asking, talk: Conversation, *, stream: bool) -> int | None:
    """The index of the first way to ask whose request the recording holds, in replay and
    cache modes (None: none, or no recording is read)."""
    settings = asking.settings
    if settings.cache not in ("replay", "cache") or not settings.cassette:
        return None
    for i, step in enumerate(asking.steps):
        if send.is_recorded(asking.call(talk, step, stream=stream), settings, asking.provider):
            return i
    return None
