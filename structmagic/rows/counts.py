"""What a batch has done so far, for its progress bar: :class:`BatchProgress`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..call.result import Result
from ..cost.calc import money
from ..errors import NOT_RUN, NotRun
from .stop import finishing_text

__all__ = ["BatchProgress"]


@dataclass
class BatchProgress:
    """Counts shown by the progress bar; updated in place. ``cost`` sums the known costs
    (``unpriced`` counts items whose cost is unknown), ``saved`` what the recording and the
    rows sent once for several saved, ``not_run`` the items a budget (``max_cost``) stopped,
    ``finishing`` the requests in flight an interrupt is letting finish, ``unique`` the rows
    sent when some repeat an earlier one (:mod:`structmagic.rows.unique`; None: every row
    is sent). ``tokens`` counts the tokens of the requests sent (a copy's are not)."""

    total: int
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    cost: float = 0.0
    saved: float = 0.0
    priced: int = 0
    unpriced: int = 0
    not_run: int = 0
    max_cost: float | None = None
    #: the requests in flight an interrupt is letting finish (0: not interrupted)
    finishing: int = 0
    #: input tokens of the answers, and how many of them the provider's prompt cache served
    #: (as each answer's usage says, recorded ones too); what that saved on the live ones
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_saved: float = 0.0
    #: the doubt above which a row counts as doubtful (None: not counted)
    doubt_above: float | None = None
    #: the valid rows whose doubt is above ``doubt_above``
    doubtful: int = 0
    #: the rows sent, when fewer than ``total`` (the others repeat one of them); else None
    unique: int | None = None

    @classmethod
    def of(cls, results: Sequence[Result], *, max_cost: float | None = None,
           started: float | None = None, doubt_above: float | None = None) -> BatchProgress:
        """The final counts of a batch's results; ``started`` (``time.monotonic()`` when the
        run began) gives the run's real rate and elapsed time, where counting from now would
        give an absurd one; ``doubt_above`` counts the doubtful rows."""
        progress = cls(total=len(results), max_cost=max_cost, doubt_above=doubt_above)
        if started is not None:
            progress.started = started
        for res in results:
            progress.add(res)
        copies = sum(1 for res in results if res.duplicate_of is not None)
        if copies:
            progress.unique = len(results) - copies
        return progress

    def add(self, res: Result) -> None:
        """Count one finished item."""
        if isinstance(res.error, NotRun):
            self.not_run += 1
            return
        if res.error is None:
            self.done += 1
            if self.doubt_above is not None and res.doubt > self.doubt_above:
                self.doubtful += 1
        else:
            self.failed += 1
        if res.duplicate_of is None:  # a copy sent nothing
            self.tokens += res.usage.get("total_tokens", 0)
            # the share the cache served, as each answer's usage says (a recorded one's
            # too); what it saved, on the live answers (a recorded one cost nothing now)
            self.input_tokens += res.usage.get("prompt_tokens", 0)
            self.cached_tokens += res.usage.get("cached_tokens", 0)
            self.cache_saved += res.cache_saved or 0.0
        if res.cost is None:
            self.unpriced += 1
        else:
            self.priced += 1
            self.cost += res.cost
        self.saved += res.saved or 0.0

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def elapsed(self) -> float:
        """Seconds since the run began."""
        return max(0.0, time.monotonic() - self.started)

    @property
    def rate(self) -> float:
        elapsed = self.elapsed
        return self.finished / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """``7/10 · 6 ok · 1 failed · 3 in flight · 2.1/s · 3.3 s · 420 tokens`` and the
        cost; the in-flight count only while something is; ``· 7 unique of 10 rows`` when
        some rows repeat others (sent once)."""
        flight = f" · {self.in_flight} in flight" if self.in_flight else ""
        text = (
            f"{self.finished}/{self.total} · {self.done} ok · {self.failed} failed{flight} · "
            f"{self.rate:.1f}/s · {_seconds(self.elapsed)} · {self.tokens} tokens"
        )
        if self.unique is not None and self.unique < self.total:
            text += f" · {self.unique} unique of {self.total} rows"
        return text + self.cost_text() + self.cache_text() + self.doubt_text()

    def cache_text(self) -> str:
        """`` · cached 91% of input · $0.012 saved by the cache`` once the provider's prompt
        cache served any of the input ("" before)."""
        if not self.cached_tokens or not self.input_tokens:
            return ""
        share = self.cached_tokens / self.input_tokens
        text = f" · cached {share:.0%} of input"
        if self.cache_saved > 0:
            text += f" · {money(self.cache_saved)} saved by the cache"
        return text

    def doubt_text(self) -> str:
        """`` · 3 doubtful (doubt > 0.5)`` when doubtful rows are counted."""
        if self.doubt_above is None:
            return ""
        return f" · {self.doubtful} doubtful (doubt > {self.doubt_above:g})"

    def finishing_line(self) -> str:
        """What the user is told as an interrupt's grace begins ("" when none has)."""
        return finishing_text(self.finishing) if self.finishing else ""

    def cost_text(self) -> str:
        """`` · $0.0123 (+2 unknown) of $1.00 · $0.004 saved · 3 not run: budget``."""
        text = ""
        if self.priced:
            text += f" · {money(self.cost)}"
            if self.unpriced:
                text += f" (+{self.unpriced} unknown)"
            if self.max_cost is not None:
                text += f" of {money(self.max_cost)}"
        elif self.unpriced:
            text += " · price unknown"
        if self.saved:
            text += f" · {money(self.saved)} saved"
        if self.not_run:
            text += f" · {self.not_run} {NOT_RUN}"
        return text


def _seconds(elapsed: float) -> str:
    """``0.042 s``, ``3.4 s``: short runs with the digits that tell."""
    return f"{elapsed:.3f} s" if elapsed < 1 else f"{elapsed:.1f} s"
