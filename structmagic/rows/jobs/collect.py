"""Collecting a job: every result line matched to its row by id and validated.

Each line is read by the provider's batch API into a
:class:`~structmagic.providers.batch.RowOutcome`, matched to its row by
:class:`~structmagic.rows.jobs.lines.RowIndex` (id and request hash; order means nothing), and
a succeeded answer is read exactly as a synchronous answer is: ``provider.parse`` →
:func:`structmagic.call.loop.read_answer` (finish checked, JSON read, mapped back, validated
against the user's schema). Every row ends as a :class:`~structmagic.Result` — with
``.error`` when it has no valid value — and is counted under one outcome:

``ok``, ``invalid`` (an answer that does not match the schema), ``errored`` (the provider's
error for the request, e.g. a line with ``status_code`` 400 even when its ``error`` is
null), ``expired`` / ``cancelled`` (the job ended first; the rows it finished are kept),
``missing`` (no line came back), ``failed`` (the job failed, naming the row's line or the
whole file), ``refused`` (a refusal, a truncated answer or a content filter: answers, not
re-run; an answer that reached the token limit just after its complete, valid JSON is
``ok``, with ``Result.truncated``), and ``unsent`` (a row that could not be sent at all).

With grounding on (``ground``, ``require_grounding``), a valid answer is grounded as a
synchronous one is (:mod:`structmagic.call.grounding`); with ``require_grounding`` on, an
answer with values not found in its source is ``invalid`` (a job has no conversation to
re-ask in: the synchronous re-run asks again), with ``"warn"`` it is kept.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ... import errors as E
from ...call.grounding import Grounder
from ...call.loop import measure, read_answer
from ...call.result import Result
from ...providers.batch import CANCELLED, EXPIRED, FAILED, SUCCEEDED, LineError, RowOutcome
from .pricing import BatchPricer

if TYPE_CHECKING:
    from .lines import Plan, RowIndex

__all__ = ["RETRIED", "Collector"]

#: the outcomes re-run through the synchronous path by ``--batch-retry sync`` (and ``again``)
RETRIED = frozenset({"invalid", "errored", "expired", "cancelled", "missing", "failed"})
_PARSE_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError)


class Collector:
    """The results of a job's rows, filled line by line."""

    def __init__(self, plan: Plan, index: RowIndex, job: str, *,
                 grounder: Callable[[int], Grounder | None] | None = None,
                 names: Sequence[Any] | None = None) -> None:
        self.plan = plan
        self.index = index
        self.job = job
        #: what each row is called in messages (the index of ``--each``'s frame), by
        #: position; None: the position itself
        self.names = names
        self.grounder = grounder  # a row's grounder, by position (None: grounding is off)
        self.results: list[Result | None] = [None] * index.size
        self.kinds: list[str | None] = [None] * index.size
        self.unknown = 0  # lines whose id is none of this job's
        self.unreadable = 0  # lines that are not JSON or not in the provider's shape
        self.usage: Counter[str] = Counter()
        self._pricer: BatchPricer | None = None  # the price looked up once, on first use
        self._cost = 0.0  # what the answered rows cost at the batch tier
        self._cost_known = True  # ... as long as each of them could be priced

    # --- lines ------------------------------------------------------------------------------

    def feed_lines(self, lines: Iterable[bytes]) -> None:
        """Every line of a results file. The cyclic garbage collector is paused meanwhile:
        the results are many objects and no cycles, and the collector's passes over them
        would otherwise take a third of the time."""
        api = self.plan.api
        with _no_gc():
            for line in lines:
                try:
                    outcome = api.outcome(json.loads(line))
                except (*_PARSE_ERRORS, RecursionError):
                    self.unreadable += 1
                    continue
                self.add(outcome)

    def feed_inline(self, outcomes: Sequence[RowOutcome | None], rows: Sequence[int]) -> None:
        """The results a job carries inline, in input order (None: one not in the provider's
        shape, counted as unreadable). Those without an id are matched by order, and only
        when there is one for each row sent (``rows``): then an unreadable one fails its
        row alone."""
        lined_up = len(outcomes) == len(rows)
        for i, outcome in enumerate(outcomes):
            position = rows[i] if lined_up else None
            if outcome is not None:
                self.add(outcome, position=position)
                continue
            self.unreadable += 1
            if position is not None and self.kinds[position] is None:
                self._fail(position, "errored", E.BatchRowError(
                    f"{self.row(position)}: its result in the batch job is not in the "
                    f"{self.plan.provider.name} shape.", outcome="errored", job=self.job))

    def row(self, position: int) -> str:
        """``Row 3``, ``Row 'inv-7'``: a row named by its label (:attr:`names`), else by
        its position."""
        names = self.names
        label = names[position] if names is not None and position < len(names) else position
        return f"Row {label!r}"

    def add(self, outcome: RowOutcome, position: int | None = None) -> None:
        """One outcome; ``position`` when the API gives results in input order without ids."""
        found = self.index.position(outcome.custom_id)
        if found is None:
            if outcome.custom_id is not None or position is None:
                self.unknown += 1
                return
            found = position
        if self.kinds[found] == "ok":
            return  # a duplicate line after a good one
        if outcome.kind == SUCCEEDED:
            self._answer(found, outcome.body)
        else:
            kind = outcome.kind if outcome.kind in (EXPIRED, CANCELLED) else "errored"
            what = {"errored": "came back with an error", EXPIRED: "expired",
                    CANCELLED: "was cancelled"}[kind]
            detail = f": {outcome.message}" if outcome.message else ""
            if kind == "errored" and outcome.status not in (None, 200) and str(
                    outcome.status) not in outcome.message:
                detail = f": HTTP {outcome.status}{detail}"
            self._fail(found, kind, E.BatchRowError(
                f"{self.row(found)} {what} in the batch job{detail}", outcome=kind,
                status=outcome.status, code=outcome.code, job=self.job))

    def _answer(self, position: int, body: Any) -> None:
        plan = self.plan
        try:
            completion = plan.provider.parse(body, tool=plan.spec.name)
        except RecursionError:
            self._fail(position, "invalid", E.InvalidOutputError(
                "The answer nests too deep to be read.",
                errors=[E.ValidationIssue("$", "nested too deep to read")]))
            return
        except _PARSE_ERRORS as exc:
            self._fail(position, "errored", E.BatchRowError(
                f"{self.row(position)}: the answer is not in the {plan.provider.name} shape "
                f"({exc}).",
                outcome="errored", job=self.job))
            return
        for k, v in completion.usage.items():
            self.usage[k] += int(v)
        usage = dict(completion.usage)
        cost = self._row_cost(usage)  # an answer is billed, whether it is valid or not
        try:
            answer = read_answer(completion, plan.spec, plan.request)
        except E.InvalidOutputError as err:
            self._fail(position, "invalid", err, usage=usage, cost=cost)
            return
        except E.AnswerError as err:  # a refusal, a truncated answer, a content filter
            self._fail(position, "refused", err, usage=usage, cost=cost)
            return
        except RecursionError:
            self._fail(position, "invalid", E.InvalidOutputError(
                "The answer nests too deep to be validated.",
                errors=[E.ValidationIssue("$", "nested too deep to validate")],
                raw=completion.text[:2000]), usage=usage, cost=cost)
            return
        plain, data, issues = answer.plain, answer.data, answer.issues
        if issues:
            n = len(issues)
            self._fail(position, "invalid", E.InvalidOutputError(
                f"{self.row(position)}: the answer from the batch job did not match the schema "
                f"{plan.spec.name!r} ({n} {'problem' if n == 1 else 'problems'}):",
                errors=issues, raw=completion.text), usage=usage, cost=cost)
            return
        try:
            grounder = self.grounder(position) if self.grounder is not None else None
        except E.StructuredError as err:  # its PDF cannot be read now: this row alone fails
            self._fail(position, "errored", err, usage=usage, cost=cost)
            return
        grounding = None
        if grounder is not None:
            grounding = grounder.check(plain)
            missing = grounder.missing(grounding)
            if missing and grounder.mode == "on":
                self._fail(position, "invalid", grounder.error(
                    grounding, missing, plain, completion.text, 0), usage=usage, cost=cost)
                return
        confidence, reason = (measure(completion, answer, plan.request.wrapped, plan.provider,
                                      plan.step) if plan.settings.confidence else (None, None))
        result = Result(
            data=data, plain=plain, raw=answer.raw, text=completion.text,
            truncated=answer.truncated, reasoning=completion.reasoning, usage=usage,
            model=completion.model or plan.settings.model, attempts=1,
            schema_name=plan.spec.name, provider=plan.provider.name, mode=plan.step.mode,
            grounding=grounding, source=grounder.source if grounder is not None else None,
            confidence=confidence, confidence_reason=reason)
        result.cost = cost
        self.results[position] = result
        self.kinds[position] = "ok"

    def _price(self) -> BatchPricer:
        if self._pricer is None:
            self._pricer = BatchPricer(self.plan.settings)
        return self._pricer

    def _row_cost(self, usage: dict[str, int]) -> float | None:
        """One answer's cost at the batch tier (priced on its own: tiers are per request),
        added to the job's."""
        cost = self._price()(usage)
        if cost is None:
            self._cost_known = False
        else:
            self._cost += cost
        return cost

    def _fail(self, position: int, kind: str, error: E.StructuredError, *,
              usage: dict[str, int] | None = None, cost: float | None = None) -> None:
        """Row ``position`` ends with ``error``; ``usage`` and ``cost``: what its answer
        (one that came back, but is not a valid value) used and cost."""
        error.attempts = 1
        result = Result(error=error, schema_name=self.plan.spec.name, attempts=1,
                        provider=self.plan.provider.name, usage=usage or {})
        if usage:
            error.usage, error.cost = usage, cost
            result.cost = cost
        self.results[position] = result
        self.kinds[position] = kind

    # --- what the job says about its rows ---------------------------------------------------------

    def line_errors(self, start: int, stop: int, errors: Iterable[LineError]) -> None:
        """A failed job's errors: one about a line fails that line's row; one about no line
        fails every row of the part that has no outcome yet."""
        rows = [p for p in range(start, stop) if self.index.sent(p)]
        whole: list[LineError] = []
        for err in errors:
            if err.line is not None and 1 <= err.line <= len(rows):
                position = rows[err.line - 1]
                if self.kinds[position] in (None, "missing"):
                    code = f" ({err.code})" if err.code else ""
                    self._fail(position, FAILED, E.BatchRowError(
                        f"{self.row(position)} was rejected by the batch job (line {err.line} of "
                        f"its input file){code}: {err.message}", outcome=FAILED,
                        code=err.code, job=self.job))
            else:
                whole.append(err)
        if whole:
            text = "; ".join(f"{e.message}" + (f" ({e.code})" if e.code else "")
                             for e in whole[:3])
            for position in rows:
                if self.kinds[position] is None:
                    self._fail(position, FAILED, E.BatchRowError(
                        f"{self.row(position)}: the batch job failed: {text}", outcome=FAILED,
                        code=whole[0].code, job=self.job))

    def finish_part(self, start: int, stop: int, status: str) -> None:
        """Rows of an ended part with no outcome: ``expired`` / ``cancelled`` when the job
        ended so, ``failed`` when it failed, else ``missing``."""
        kind = {EXPIRED: EXPIRED, CANCELLED: CANCELLED, FAILED: FAILED}.get(status, "missing")
        what = {EXPIRED: "the batch job expired before it ran",
                CANCELLED: "the batch job was cancelled before it ran",
                FAILED: "the batch job failed",
                "missing": "no result line came back for it"}[kind]
        for position in range(start, stop):
            if self.index.sent(position) and self.kinds[position] is None:
                self._fail(position, kind, E.BatchRowError(
                    f"{self.row(position)}: {what}.", outcome=kind, job=self.job))

    def unsent(self, position: int, error: E.StructuredError) -> None:
        self._fail(position, "unsent", error)

    # --- the end ----------------------------------------------------------------------------------

    def counts(self) -> Counter[str]:
        return Counter(k for k in self.kinds if k is not None)

    def cost(self) -> float | None:
        """What the job cost: the sum of its answered rows' costs (each priced on its own),
        None when no price is known or one of them could not be priced (no token counts)."""
        if self._price().price is None or not self._cost_known:
            return None
        return self._cost


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic garbage collector paused (reference counting goes on), then as it was."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
