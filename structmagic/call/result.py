"""The :class:`Result` of a call, and how it shows itself.

A Result displays as the steps widget where a widget frontend runs, with a deterministic
``text/plain`` (for nbval, terminals) and a self-contained, escaped ``text/html`` fallback
(nbconvert HTML, GitHub) beside it; in reveal mode that HTML is a handout whose steps open
one at a time without a script (:func:`structmagic.display.handout.handout_html`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Generic, TypeVar

from ..cost.spend import Lazy, Spend
from ..display.handout import handout_html
from ..display.render import (
    count_steps,
    error_html,
    error_text,
    find_steps,
    result_html,
    result_text,
)
from ..display.showing import ShowsWidget
from ..display.widget import StructuredWidget
from ..inputs import describe_inputs
from ..inputs.thumbs import inputs_text, thumbnails_html
from .doubt import doubt_of

__all__ = ["RARE", "Rare", "Result", "joined_spend", "shared_keys"]


T = TypeVar("T")


class Rare(Generic[T]):
    """A field of :class:`Result` that most results leave at its default: set to anything
    else, it is kept in the result's ``_rare`` dict, else not kept at all.

    A column of a million rows holds a million results. CPython keeps an instance's
    attributes in an array of 8 bytes a name its class has ever used, and only while the
    class has used fewer than 30 names (beyond, each instance gets a dict of its own, some
    1.5 KiB): so the fields that only the display, grounding, confidence, samples, a
    truncated answer or a copy set stay out of it, and a result takes a few hundred bytes
    beside its answer.
    """

    def __init__(self, default: T) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: object | None, objtype: Any = None) -> T:
        if obj is None:
            return self.default  # the dataclass default
        rare = obj.__dict__.get("_rare")
        return self.default if rare is None else rare.get(self.name, self.default)

    def __set__(self, obj: object, value: T) -> None:
        rare = obj.__dict__.get("_rare")
        if value is self.default:
            if rare is not None:
                rare.pop(self.name, None)
            return
        if rare is None:
            rare = obj.__dict__["_rare"] = {}
        rare[self.name] = value


@dataclass(eq=False)
class Result(ShowsWidget):
    """A validated answer.

    ``data`` is the value (an instance of the Python type you gave, or plain JSON),
    ``plain`` the same as plain JSON, ``raw`` the JSON text it was read from (exactly as
    received: when the server wrote prose or a Markdown fence around the JSON, only the
    JSON), ``text`` the whole answer text as received (the same as ``raw`` when there was
    nothing around the JSON), ``reasoning`` the model's own reasoning text when the server
    sent any, ``usage`` the token counts summed
    over all attempts (``{"not_understood": 1}`` for an answer whose counts could not be
    read), ``attempts`` the number of HTTP requests made (1 when nothing had to
    be retried or re-asked), ``elapsed`` seconds. ``cost`` is what the call cost in USD
    (re-asks included; 0 for an answer from the recording; None when the price or the
    token counts are unknown), ``saved`` what the answers from the recording would have
    cost; ``cache_saved`` what the provider's prompt cache saved on the call (its cost with
    every input token at the input price, less its cost: negative when cache writes cost
    more than reads saved; None when unknown). In a batch, a failed item has ``error`` set
    and ``data``/``plain`` None.

    ``truncated`` is True when the answer reached the token limit (``finish_reason``
    ``length``, Claude's ``max_tokens``, Gemini's ``MAX_TOKENS``, an ``incomplete``
    Responses answer) just after its JSON, which was complete and valid, so it was kept;
    the views say so in one line (check it is whole). An answer cut before its JSON ended
    is a :class:`~structmagic.TruncatedError` instead.

    ``confidence`` (``confidence=True``) maps each leaf path of the answer (``lines[0].qty``,
    the paths of ``grounding``) to the probability in [0, 1] the model gave the tokens that
    wrote its value (see :mod:`structmagic.call.confidence`); it is None where the server
    gave no log-probabilities, and ``confidence_reason`` then says why in one sentence.
    ``agreement`` (``samples=K``) maps each leaf path to the share of the K answers that
    gave the accepted value (``samples`` of them were read). ``reasks`` counts the times
    the model was asked again (an answer that did not match the schema, or values not found
    in the source). ``doubt`` (a property) is one number in [0, 1] built from all of these
    (:func:`structmagic.call.doubt.doubt_of`: the largest of 1 minus the lowest confidence,
    1 minus the lowest agreement, the share of values not grounded, and 0.4 for a re-ask;
    1 for a failed row).

    ``input_key`` (a row of a run: ``batch()``, ``--each``) is what matches the row to its
    reviewed value in a corrections file (:mod:`structmagic.transport.corrections`): the
    recording's key of the row's first request, asked plainly (one answer, no
    log-probabilities, no few-shot examples); ``schema`` is the JSON Schema the answer was
    checked against, so that :func:`structmagic.score` needs no schema for Results.

    ``labels`` (display only) maps field names to the labels the widget and the HTML show
    (the magic fills it from the schema's titles and ``--label``); a field without one
    shows its key made readable (``final_answer`` → "Final answer"). The text form keeps
    the keys. Set it before the result is displayed, e.g. ``res.labels = {"final_answer":
    "Answer"}``.

    ``reveal`` (display only, ``--reveal``) is the teaching mode: the widget shows one step
    at a time, and the ``text/html`` is a handout (:meth:`handout_html`). With it,
    ``hide_answer`` (``--hide-answer``) keeps the widget's final answer, reasoning and raw
    JSON hidden until every step is on show and *Show answer* is pressed, and ``ask_first``
    (``--ask-first``) adds a "Your answer:" box before the steps. Both are ignored without
    ``reveal``. Set them before the result is displayed.
    """

    data: Any = None
    plain: Any = None
    raw: str = ""
    #: the whole answer text as received (prose around the JSON included)
    text: str = ""
    reasoning: Rare[str | None] = Rare(None)
    usage: dict[str, int] = field(default_factory=dict)
    model: str | None = None
    attempts: int = 0
    elapsed: float = 0.0
    schema_name: str = "response"
    steps_field: Rare[str | None] = Rare(None)
    provider: str = "openai"
    mode: str = "json_schema"
    error: BaseException | None = None
    from_cache: Rare[bool] = Rare(False)
    #: the answer reached the token limit just after its complete, valid JSON
    truncated: Rare[bool] = Rare(False)
    labels: Rare[dict[str, str] | None] = Rare(None)
    reveal: Rare[bool] = Rare(False)
    hide_answer: Rare[bool] = Rare(False)
    ask_first: Rare[bool] = Rare(False)
    #: the call's images and documents as shown (:class:`structmagic.inputs.InputSummary`:
    #: type, size, label, thumbnail; never the bytes)
    inputs: Rare[tuple[Any, ...]] = Rare(())
    #: ``ground=True``: each leaf value's :class:`~structmagic.grounding.Grounding` by path
    #: (``"lines[0].qty"``), else None
    grounding: Rare[dict[str, Any] | None] = Rare(None)
    #: ``ground=True``: the :class:`~structmagic.grounding.Source` the values were looked for in
    source: Rare[Any] = Rare(None)
    #: ``confidence=True``: each leaf value's probability by path, else None
    confidence: Rare[dict[str, float] | None] = Rare(None)
    #: why ``confidence`` is None although it was asked for (one sentence)
    confidence_reason: Rare[str | None] = Rare(None)
    #: ``samples=K`` (or a comparison): each leaf path's share of answers that agree
    agreement: Rare[dict[str, float] | None] = Rare(None)
    #: how many answers were read for this row (``samples=K``: K)
    samples: Rare[int] = Rare(1)
    #: how many times the model was asked again before the answer was accepted
    reasks: Rare[int] = Rare(0)
    #: a row of a run that asked what an earlier row asked (``dedup``): that row's input
    #: position; this result is a copy of its answer, sent once (None: this row was sent)
    duplicate_of: int | None = field(default=None, repr=False)
    #: a row of a run: its input key (the recording's key of its first request, asked
    #: plainly), which matches the row to its corrections; "" for a single call
    input_key: str = field(default="", repr=False)
    #: the JSON Schema the answer was checked against (the original), for scoring
    schema: Any = field(default=None, repr=False)
    # descriptors (a dataclass takes them as fields): worked out when first read
    cost: Lazy = Lazy()  # noqa: RUF009
    saved: Lazy = Lazy()  # noqa: RUF009
    cache_saved: Lazy = Lazy()  # noqa: RUF009
    #: the answers' usage, priced on the first read of ``cost`` or ``saved``
    _spend: Any = field(default=None, repr=False)
    _widget: Rare[Any] = Rare(None)
    _shown_live: Rare[bool] = Rare(False)
    #: ``samples=K`` in one request: the request's other valid answers, until combined
    _others: Rare[tuple[Any, ...]] = Rare(())

    def __post_init__(self) -> None:
        if not self.text:  # built from the JSON alone: nothing was around it
            self.text = self.raw
        if type(self.model) is str:  # one string for a column's rows, not one a row
            self.model = sys.intern(self.model)
        if type(self.plain) in (dict, list):  # its objects' keys: one string for all rows
            plain = shared_keys(self.plain)
            if self.data is self.plain:
                self.data = plain
            self.plain = plain

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a Result pickled before ``text`` and ``truncated`` existed had only ``raw``
        state = dict(state)
        state.setdefault("text", state.get("raw", ""))
        state.setdefault("duplicate_of", None)
        state.setdefault("input_key", "")
        state.setdefault("schema", None)
        # a Result pickled before the rare fields were kept apart had each in its state (one
        # pickled before a field existed lacks it: it reads as its default)
        given = {name: state.pop(name) for name in RARE if name in state}
        if isinstance(state.get("_rare"), dict):
            given.update(state.pop("_rare"))
        state.pop("_rare", None)
        for name, value in state.items():  # one by one, so the attribute table stays shared
            object.__setattr__(self, name, value)
        for name, value in given.items():
            if name in RARE:
                setattr(self, name, value)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def doubt(self) -> float:
        """How much to doubt this answer, in [0, 1] (see
        :func:`structmagic.call.doubt.doubt_of`); 1 for a failed row."""
        return doubt_of(failed=self.error is not None, confidence=self.confidence,
                        agreement=self.agreement, grounding=self.grounding,
                        reasks=self.reasks)

    def _settle(self) -> None:
        """Price the answers, once (the price table may have been loading until now)."""
        spend = self.__dict__.get("_spend")
        if spend is not None:
            self.__dict__["_spend"] = None
            self.cost, self.saved, self.cache_saved = spend.resolve()

    def take_others(self) -> tuple[Result, ...]:
        """The other valid answers of a request that asked for several (``samples``), taken
        (they are kept until then)."""
        others, self._others = self._others, ()
        return others

    @property
    def cost_pending(self) -> bool:
        """Whether reading ``cost`` would wait for the price table to load."""
        spend = self.__dict__.get("_spend")
        return spend is not None and not spend.ready()

    def __getstate__(self) -> dict[str, Any]:
        # Pickled (joblib, a cache, a process pool) without its live widget, which belongs
        # to one kernel's frontend; ``error`` pickles too (see structmagic.errors).
        self._settle()
        state = dict(self.__dict__)
        rare = {k: v for k, v in (state.pop("_rare", None) or {}).items() if k not in _LIVE}
        if rare:
            state["_rare"] = rare
        return state

    def __repr__(self) -> str:
        if self.error is not None:
            return f"<Result {self.schema_name}: error {type(self.error).__name__}>"

        field, steps = find_steps(self.plain, field=self.steps_field)
        what = (count_steps(field, steps, explicit=self.steps_field is not None) if steps
                else type(self.plain).__name__)
        tokens = self.usage.get("total_tokens")
        extra = f", {tokens} tokens" if tokens is not None else ""
        if self.inputs:

            extra = f", {describe_inputs(self.inputs)}{extra}"
        return f"<Result {self.schema_name}: {what}, model {self.model}{extra}>"

    # --- display --------------------------------------------------------------------------

    def _text(self) -> str:
        if self.error is not None:
            return error_text(self.error)
        text = result_text(self)
        if self.inputs:  # "inputs: 2 images, 1 PDF" under the first line

            head, newline, rest = text.partition("\n")
            text = f"{head}\n{inputs_text(self.inputs)}{newline}{rest}"
        return text

    def _repr_html_(self) -> str:
        if self.error is not None:
            return error_html(self.error)
        if not self.reveal:
            return result_html(self)  # its inputs' thumbnails inside its box
        markup = handout_html(self, ask_first=self.ask_first)
        if self.inputs:  # the thumbnails above the handout
            return thumbnails_html(self.inputs) + markup
        return markup

    def handout_html(self, *, ask_first: bool | None = None) -> str:
        """This result as a handout, whether or not ``reveal`` is set: self-contained HTML
        whose steps open one at a time with no script, the final answer last and closed,
        every step open in print. ``ask_first`` (default: the attribute) adds the "Your
        answer:" box first. A failed result gives its error's HTML."""
        if self.error is not None:
            return error_html(self.error)
        return handout_html(self, ask_first=self.ask_first if ask_first is None
                            else ask_first)

    def widget(self, *, create: bool = True, reveal: bool | None = None) -> Any:
        """The steps widget of this result (built on first use when ``create``); ``reveal``
        defaults to the attribute, and so do ``hide_answer`` and ``ask_first``."""
        if self._widget is None and create and self.error is None:
            reveal = self.reveal if reveal is None else reveal
            w = StructuredWidget(
                title=self.schema_name, model=self.model, steps_field=self.steps_field,
                reveal=reveal, labels=self.labels, hide_answer=reveal and self.hide_answer,
                ask_first=reveal and self.ask_first,
            )
            w.finish(self)
            self._widget = w
        return self._widget


def shared_keys(value: Any) -> Any:
    """``value`` (plain JSON) with every object key interned: the answers of a column repeat
    the schema's field names, and JSON text read anew makes new strings of them for every
    answer (some 50 bytes each). A value nested too deep is left as it is."""
    try:
        return _interned(value)
    except RecursionError:
        return value


def _interned(value: Any) -> Any:
    if type(value) is dict:
        return {sys.intern(k) if type(k) is str else k: _interned(v) for k, v in value.items()}
    if type(value) is list:
        return [_interned(v) for v in value]
    return value


#: the fields of a Result kept apart unless set (:class:`Rare`)
RARE = frozenset(f.name for f in fields(Result) if isinstance(Result.__dict__.get(f.name), Rare))
#: what belongs to one kernel's frontend, or to one call until it is combined: never pickled
#: nor copied
_LIVE = frozenset({"_widget", "_shown_live", "_others"})


def joined_spend(results: Sequence[Result], paid: Sequence[dict[str, int]] = ()
                 ) -> Spend | None:
    """What the answers of several results (and the usage ``paid`` by failed requests)
    cost together, priced when first read; None when none of them has a pending spend."""
    spends = [s for s in (r.__dict__.get("_spend") for r in results) if s is not None]
    if not spends:
        return None
    out = spends[0].joined(spends[1:])
    for usage in paid:
        out.add(usage, False)
    return out
