"""The provider interface, and the provider-neutral shapes every provider speaks.

A provider is one wire format (Chat Completions, Responses, Claude Messages, Gemini): one
class in one module, holding its facts as data — name, default base URL and model, the
environment variables of its key and base URL, its ladder of modes, its capabilities, the
:class:`~structmagic.schema.Dialect` of its native structured output — plus pure
translations, no I/O:

- :meth:`Provider.request_schema` — its schema policy: what it sends for a schema;
- :meth:`Provider.ladder` — the ways to ask for that schema, best first (``--mode auto``);
- :meth:`Provider.build` — a :class:`Call` (what the loop wants) into a URL and a JSON body;
- :meth:`Provider.parse` — a whole JSON answer into a :class:`Completion`;
- :meth:`Provider.stream` — a translator from SSE events to :class:`Delta` pieces, which the
  one :class:`Accumulator` puts together into a :class:`Completion`, the same one
  :meth:`Provider.parse` gives for the same answer whole;
- :meth:`Provider.rejects_format` — whether an error answer means "this server does not take
  this response format" (so the loop steps down instead of failing);
- :meth:`Provider.render_part` — an image or document (a provider-neutral
  :class:`~structmagic.inputs.Part` in a message's content) in the format's own shape; what
  it takes, and its limits, are the data in :attr:`Provider.inputs`.

The answer of a :class:`Completion` (its ``text``) is, in every format and every mode, the
input of a tool call when the model called one (a forced tool: ``--mode tools``), never the
prose beside it; of several calls, the one named like the schema's tool (``Call.schema_name``,
passed to :meth:`Provider.parse` and :class:`Accumulator` as ``tool``), else the first
(:func:`chosen_call`). Without a call, the answer is the text. Reasoning (thinking) is
``reasoning``, never part of the answer. A translator therefore never decides: it sends a
call's pieces as :attr:`Delta.tool`, apart from the text, and the Accumulator chooses at the
end, as the parser does.

A message's ``content`` is a string, or a list of text (``str`` or ``{"type": "text",
"text"}``) and :class:`~structmagic.inputs.Part` objects (see :func:`content_items`).

A :class:`Completion`'s ``usage`` is structmagic's: ``prompt_tokens``, ``completion_tokens``,
``total_tokens`` (and ``cached_tokens``, ``cache_write_tokens``), each read from the answer by
a :class:`UsageReader`, the one check of a server's token counts: a count that is not a whole
number from 0 to :data:`MAX_TOKENS` makes the whole usage ``{NOT_UNDERSTOOD: 1}``, and the
answer's cost unknown.

The transport, retries, re-asks, cassette, partial parser and widget are shared by all.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import urlsplit

from ..inputs.parts import InputLimits, Part
from ..schema import convert
from .logprobs import LogProbs

if TYPE_CHECKING:
    from ..schema import Conversion, Dialect, SchemaSpec
    from .batch import BatchAPI

__all__ = [
    "AUTO",
    "JSON_OBJECT",
    "JSON_SCHEMA",
    "MAX_TOKENS",
    "NOT_UNDERSTOOD",
    "PROMPT",
    "PROMPT_MODES",
    "TOOLS",
    "TRANSIENT_CODES",
    "TRANSIENT_ERRORS",
    "USER_MODES",
    "VENDOR_HOSTS",
    "VENDOR_HOST_SUFFIXES",
    "Accumulator",
    "CacheHint",
    "Call",
    "Capabilities",
    "Completion",
    "Delta",
    "InputLimits",
    "Part",
    "Provider",
    "Step",
    "StreamTranslator",
    "UsageReader",
    "chosen_call",
    "content_items",
    "content_text",
    "finish_kind",
    "has_parts",
    "known_vendor",
    "mentions_format",
    "mentions_inputs",
    "read_count",
    "transient_error",
]

# --- modes: the ways of asking for a schema ----------------------------------------------------

#: native structured output (``response_format`` / ``text.format`` / ``output_config`` /
#: ``responseJsonSchema``)
JSON_SCHEMA = "json_schema"
#: the provider's JSON mode, with the schema in the system prompt
JSON_OBJECT = "json_object"
#: one forced function tool whose parameters are the schema
TOOLS = "tools"
#: the schema in the system prompt only
PROMPT = "prompt"
#: step down the provider's ladder when a server rejects a way of asking
AUTO = "auto"
#: what ``--mode`` / ``mode=`` take
USER_MODES = (AUTO, JSON_SCHEMA, JSON_OBJECT, TOOLS)
#: modes that put the schema into the system prompt
PROMPT_MODES = frozenset({JSON_OBJECT, PROMPT})


#: the hosts of vendors' own APIs (and their subdomains): they enforce the structured-output
#: request or reject it, so no server check is made there and the schema is sent as given
VENDOR_HOSTS = frozenset({
    "api.openai.com", "openrouter.ai", "api.groq.com", "api.together.xyz", "api.together.ai",
    "api.fireworks.ai", "api.deepseek.com", "api.mistral.ai", "api.anthropic.com",
    "generativelanguage.googleapis.com", "aiplatform.googleapis.com", "api.x.ai",
    "api.cerebras.ai",
})
#: the endings of vendors' per-customer hosts (Azure OpenAI, Vertex AI)
VENDOR_HOST_SUFFIXES = (".openai.azure.com", ".cognitiveservices.azure.com",
                        "-aiplatform.googleapis.com")


@functools.lru_cache(maxsize=64)
def known_vendor(base_url: str) -> bool:
    """Whether ``base_url`` is a known vendor's API (:data:`VENDOR_HOSTS`,
    :data:`VENDOR_HOST_SUFFIXES`), not a local server, a relay or another converter: the one
    test of the server check and of the schema translated for other servers' grammars."""
    host = (urlsplit(base_url).hostname or "").lower().rstrip(".")
    return (host.endswith(VENDOR_HOST_SUFFIXES)
            or any(host == h or host.endswith("." + h) for h in VENDOR_HOSTS))


@dataclass(frozen=True)
class Step:
    """One way of asking for the schema: a mode, and whether to send it strict."""

    mode: str
    strict: bool


@dataclass(frozen=True)
class Capabilities:
    """What a provider's API can do."""

    #: native structured output with a strict (constrained) switch
    strict_schema: bool = False
    #: streamed answers (SSE)
    streaming: bool = True
    #: the model's reasoning can be asked for (``--thinking``)
    thinking: bool = False
    #: images as input
    images: bool = False
    #: PDF documents as input
    documents: bool = False
    #: an asynchronous batch API
    batch_api: bool = False


# --- the shapes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheHint:
    """How a request lets the provider's prompt cache serve its shared part (the system
    prompt, the schema's instructions, and the first ``prefix`` characters of the user's
    text, which every row of the run shares).

    ``key``: OpenAI's ``prompt_cache_key`` (the same for every row of a run); ``mark``:
    put a cache breakpoint (Claude's ``cache_control``) on the last shared block, with
    ``ttl`` (``"5m"`` or ``"1h"``), set only when the shared part reaches the model's
    minimum cacheable length.
    """

    prefix: int = 0
    key: str | None = None
    mark: bool = False
    ttl: str = "5m"


@dataclass(frozen=True)
class Call:
    """One request, provider-neutral.

    ``mode`` is how the schema is asked for (:data:`JSON_SCHEMA`, :data:`JSON_OBJECT`,
    :data:`TOOLS`, :data:`PROMPT`, or a provider's own such as Gemini's
    ``json_schema_openapi``); ``schema`` is the provider's request schema; ``strict`` says
    whether to send it strict.
    """

    model: str
    messages: tuple[Mapping[str, Any], ...]
    schema_name: str
    schema: Any
    strict: bool
    mode: str = JSON_SCHEMA
    description: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    stream: bool = False
    thinking: bool = False
    #: ask for the answer's token log-probabilities (``confidence=True``)
    logprobs: bool = False
    #: answers asked for in this one request (``samples=K``, where the format takes it:
    #: :attr:`Provider.samples_in_one`)
    n: int = 1
    #: how the provider's prompt cache is to serve the shared part (None: nothing asked)
    cache: CacheHint | None = None

    def named(self, **head: Any) -> dict[str, Any]:
        """``{**head, "name": schema_name, "description"?: description}``: how every wire
        format opens a named schema or tool (the description only when there is one); the
        caller adds the schema under its own key."""
        out: dict[str, Any] = {**head, "name": self.schema_name}
        if self.description:
            out["description"] = self.description
        return out


#: the usage of an answer whose token counts were not understood (see :class:`UsageReader`)
NOT_UNDERSTOOD = "not_understood"
#: more tokens than one answer can count (a thousand times a million-token context window)
MAX_TOKENS = 10**9


class UsageReader:
    """Reads one usage object of a server's answer into structmagic's usage.

    Each :meth:`count` is a whole number of tokens from 0 to :data:`MAX_TOKENS`, or None when
    the answer does not give it. A count given otherwise (a string, a fraction, a bool, NaN,
    a negative or absurdly large number: what a buggy or hostile relay may send, and JSON
    integers are unbounded) is not understood, and then neither is the rest: :meth:`usage`
    is ``{NOT_UNDERSTOOD: 1}`` — no count kept, none made up — and the cost is unknown.
    """

    __slots__ = ("raw", "understood")

    def __init__(self, raw: Any) -> None:
        self.raw: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        self.understood = raw is None or isinstance(raw, Mapping)

    def count(self, key: str, *, within: str | None = None) -> int | None:
        """The count ``key`` (of the object ``within`` names, when given)."""
        node = self.raw.get(within) if within is not None else self.raw
        value = node.get(key) if isinstance(node, Mapping) else None
        if value is None:
            return None
        if type(value) is int and 0 <= value <= MAX_TOKENS:
            return value
        self.understood = False
        return None

    def usage(self, counts: dict[str, int]) -> dict[str, int]:
        """``counts`` (made of what :meth:`count` read), or ``{NOT_UNDERSTOOD: 1}``."""
        return counts if self.understood else {NOT_UNDERSTOOD: 1}


@dataclass
class Completion:
    """A parsed answer. ``finish`` is normalized: stop, length, content_filter, refusal, tool.
    ``called``: the answer is a tool call's input (not the text). ``logprobs``: the tokens of
    the text and their log-probabilities, when the server sent them (``logprobs_problem``
    says why those it sent could not be read)."""

    text: str = ""
    reasoning: str | None = None
    refusal: str | None = None
    finish: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    model: str | None = None
    called: bool = False
    logprobs: LogProbs | None = None
    logprobs_problem: str | None = None
    #: the other answers of a request that asked for several (``Call.n``), in order
    others: tuple[Completion, ...] = ()


@dataclass(slots=True)
class Delta:
    """One piece of a streamed answer; all fields optional.

    ``tool`` is a piece of a tool call's input (JSON text), kept apart from ``text`` (the
    prose): ``call`` says which call it belongs to (the format's index or id; pieces of one
    call share it) and ``name`` the called tool's name (on at least one of its pieces). A
    piece with ``call`` and no ``tool`` only makes the call known.
    """

    text: str = ""
    tool: str = ""
    call: str | int | None = None
    name: str | None = None
    reasoning: str = ""
    refusal: str = ""
    finish: str | None = None
    usage: dict[str, int] | None = None
    model: str | None = None
    done: bool = False  # the format's terminal event ([DONE], message_stop, ...)
    error: str | None = None  # an error event inside the stream (message)
    transient: bool = False  # that error is of a kind worth another attempt (overloaded...)
    logprobs: LogProbs | None = None  # the log-probabilities of this piece's text tokens
    logprobs_problem: str | None = None  # why this piece's log-probabilities were not read
    choice: int = 0  # which answer of a request that asked for several (``Call.n``)


#: the error kinds (Claude's ``type``, OpenAI's ``type`` or ``code``, Gemini's ``status``)
#: of a server that is busy or failed on its side: worth another attempt, as a 429 or a
#: 5xx is, when they come in a stream before any of the answer
TRANSIENT_ERRORS = frozenset({
    "overloaded_error", "api_error", "rate_limit_error", "server_error", "rate_limit_exceeded",
    "overloaded", "service_unavailable", "internal_error", "timeout",
    "UNAVAILABLE", "RESOURCE_EXHAUSTED", "INTERNAL", "DEADLINE_EXCEEDED",
})
#: the HTTP statuses an error event may carry as its code that are worth another attempt
TRANSIENT_CODES = frozenset({408, 429, 500, 502, 503, 504, 529})


def transient_error(body: Any) -> bool:
    """Whether an error event's body (``{"error": {...}}``, or the error object itself)
    names a kind of error worth another attempt (:data:`TRANSIENT_ERRORS`, or a 429/5xx
    code)."""
    err = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return False
    for key in ("type", "code", "status"):
        value = err.get(key)
        if isinstance(value, str) and value in TRANSIENT_ERRORS:
            return True
        if isinstance(value, int) and not isinstance(value, bool) and value in TRANSIENT_CODES:
            return True
    return False


class StreamTranslator(Protocol):
    def feed(self, event: str, data: str) -> list[Delta]:
        """Translate one SSE event (its event name and data text)."""
        ...


def chosen_call(names: list[str | None], tool: str | None) -> int | None:
    """Which of an answer's tool calls (their names, in order) is the answer: the first one
    named ``tool`` (the schema's tool, the one forced), else the first; None for no call.

    The one rule of :meth:`Provider.parse` and :class:`Accumulator` alike.
    """
    if not names:
        return None
    if tool is not None and tool in names:
        return names.index(tool)
    return 0


class Accumulator:
    """Puts :class:`Delta` pieces together into a :class:`Completion` — for every provider, and
    for streamed and chunked answers alike. Pure: no I/O.

    ``tool`` is the name of the schema's tool: when tool calls came, the answer is the input
    of the one :func:`chosen_call` picks, and the text beside them is not part of it.
    """

    __slots__ = ("calls", "done", "error", "finish", "logprobs", "logprobs_problem", "model",
                 "names", "others", "reasoning", "refusal", "text", "tool", "transient",
                 "usage")

    def __init__(self, tool: str | None = None) -> None:
        self.tool = tool
        self.text: list[str] = []
        #: each tool call's input pieces, in the order the calls came, by the call's key
        self.calls: dict[str | int | None, list[str]] = {}
        #: each tool call's name, by the call's key
        self.names: dict[str | int | None, str] = {}
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.finish: str | None = None
        self.usage: dict[str, int] = {}
        self.model: str | None = None
        self.done = False
        self.error: str | None = None
        #: whether :attr:`error` is of a kind worth another attempt
        self.transient = False
        #: the text's token log-probabilities, piece by piece
        self.logprobs: list[LogProbs] = []
        self.logprobs_problem: str | None = None
        #: the other answers' pieces (``Delta.choice`` > 0), each put together on its own
        self.others: dict[int, Accumulator] = {}

    def add(self, deltas: list[Delta]) -> None:
        """Take some pieces: text, each call's input, reasoning and refusal are appended;
        the latest finish, usage and error win; the first model named wins; ``done`` is
        sticky. A call is known from its first piece, its name from the first that names it.
        A piece of another answer (``choice`` > 0) goes to that answer's own accumulator."""
        for d in deltas:
            if d.choice:
                other = self.others.get(d.choice)
                if other is None:
                    other = self.others[d.choice] = Accumulator(self.tool)
                other.take(d)
            else:
                self.take(d)

    def take(self, d: Delta) -> None:
        """Take one piece as this answer's, whatever its ``choice``."""
        if d.text:
            self.text.append(d.text)
        if d.tool or d.call is not None or d.name:
            pieces = self.calls.setdefault(d.call, [])
            if d.tool:
                pieces.append(d.tool)
            if d.name and d.call not in self.names:
                self.names[d.call] = d.name
        if d.reasoning:
            self.reasoning.append(d.reasoning)
        if d.refusal:
            self.refusal.append(d.refusal)
        if d.finish:
            self.finish = d.finish
        if d.usage:
            self.usage = d.usage
        if d.model and self.model is None:
            self.model = d.model
        if d.error:
            self.error = d.error
            self.transient = d.transient
        if d.done:
            self.done = True
        if d.logprobs is not None:
            self.logprobs.append(d.logprobs)
        if d.logprobs_problem and self.logprobs_problem is None:
            self.logprobs_problem = d.logprobs_problem

    @property
    def started(self) -> bool:
        """Whether any content (text, a tool call, reasoning, refusal) has arrived."""
        return bool(self.text or self.calls or self.reasoning or self.refusal)

    @property
    def complete(self) -> bool:
        """Whether the answer ended properly (an end marker or a finish reason came)."""
        return self.done or self.finish is not None

    def partial_text(self) -> str:
        """The answer so far: the chosen tool call's input when a call came, else the text."""
        keys = list(self.calls)
        index = chosen_call([self.names.get(k) for k in keys], self.tool)
        return "".join(self.calls[keys[index]] if index is not None else self.text)

    def completion(self) -> Completion:
        return Completion(
            text=self.partial_text(),
            called=bool(self.calls),
            reasoning="".join(self.reasoning) or None,
            refusal="".join(self.refusal) or None,
            finish=self.finish,
            usage=self.usage,
            model=self.model,
            logprobs=_joined(self.logprobs) if self.logprobs and not self.calls else None,
            logprobs_problem=self.logprobs_problem,
            others=tuple(self.others[k].completion() for k in sorted(self.others)),
        )


def _joined(pieces: list[LogProbs]) -> LogProbs:
    """The log-probabilities of a streamed text's pieces, as one."""
    return LogProbs(tuple(t for p in pieces for t in p.tokens),
                    tuple(lp for p in pieces for lp in p.logprobs))


# --- the provider --------------------------------------------------------------------------


class Provider:
    """One wire format: its facts as class attributes, its translations as methods.

    Subclasses set every attribute below and implement :meth:`build`, :meth:`parse`,
    :meth:`stream`, :meth:`auth_headers` and :meth:`error_message`; register with
    :func:`structmagic.providers.register`.
    """

    #: the name users pick it by (``--provider``)
    name: ClassVar[str]
    #: a human name, for help and messages
    title: ClassVar[str]
    #: the vendor's own base URL
    default_base_url: ClassVar[str]
    #: the version path a base URL with no path gets
    version_path: ClassVar[str] = "/v1"
    #: environment variables that may hold the base URL, in order
    base_url_envs: ClassVar[tuple[str, ...]] = ()
    #: the model used when none is given
    default_model: ClassVar[str]
    #: environment variables that may hold the key, in order
    key_envs: ClassVar[tuple[str, ...]]
    #: the ways to ask for a schema, best first (the ``--mode auto`` ladder)
    modes: ClassVar[tuple[str, ...]]
    #: servers' own ways of sending the schema (their own parameter), tried one by one by
    #: the server check when a server ignores the native request; the first that a server
    #: enforces is asked first there
    server_modes: ClassVar[tuple[str, ...]] = ()
    #: what the API can do
    capabilities: ClassVar[Capabilities]
    #: the schema rules of its native structured output
    dialect: ClassVar[Dialect]
    #: its own wording of format rejections (lower case), beyond the shared words
    rejection_words: ClassVar[tuple[str, ...]] = ()
    #: the images and documents it takes, their limits, the largest image it makes use of
    inputs: ClassVar[InputLimits] = InputLimits()
    #: its id in the price table (genai-prices), tried first for its models' prices
    price_table_id: ClassVar[str | None] = None
    #: what its batch API charges, as a share of the synchronous price (0.5: half); None
    #: when it has no batch API
    batch_price_factor: ClassVar[float | None] = None
    #: the hosts it is chosen for when no provider is configured (suffixes: an Azure
    #: resource's ``.openai.azure.com``)
    hosts: ClassVar[tuple[str, ...]] = ()
    #: where a bearer token comes from when neither a key nor a token provider is given
    #: (``"google"``: Application Default Credentials); None: a key is needed
    token_source: ClassVar[str | None] = None
    #: whether one request can ask for several answers (``n``: Chat Completions); otherwise
    #: ``samples=K`` makes K requests
    samples_in_one: ClassVar[bool] = False
    #: the query parameter that names the API version (Azure's ``api-version``), and the
    #: version sent when none is configured
    api_version_param: ClassVar[str | None] = None
    default_api_version: ClassVar[str | None] = None

    def __repr__(self) -> str:
        return f"<provider {self.name!r}: {self.title}>"

    # --- schema policy ---------------------------------------------------------------------

    def request_schema(self, spec: SchemaSpec) -> Conversion:
        """What this provider sends for ``spec``: its dialect's conversion of the schema."""

        return convert(spec.original, self.dialect, strict=spec.wants_strict)

    def ladder(self, request: Conversion, *, thinking: bool = False) -> tuple[Step, ...]:
        """The ways to ask for ``request`` that :meth:`can_send` allows, best first.

        Native structured output first (strict when the provider has a strict switch and the
        request obeys the dialect; a provider without a switch skips it when the request does
        not obey), then the provider's other modes. Never a forced tool with thinking.
        Worked out once per request and thinking switch (a batch asks for it per item).
        """
        cache = self.__dict__.setdefault("_ladders", {})
        key = (id(request), thinking)
        found = cache.get(key)
        if found is not None and found[0] is request:
            return found[1]
        steps = self._ladder(request, thinking)
        if len(cache) >= 256:
            cache.clear()
        cache[key] = (request, steps)
        return steps

    def _ladder(self, request: Conversion, thinking: bool) -> tuple[Step, ...]:
        steps: list[Step] = []
        for mode in self.modes:
            if mode == TOOLS and thinking:
                continue
            if mode == JSON_SCHEMA:
                if self.capabilities.strict_schema:
                    if request.strict:
                        steps.append(Step(JSON_SCHEMA, True))
                elif not request.strict:
                    continue
            if self.can_send(mode, request):
                steps.append(Step(mode, False))
        return tuple(steps)

    def can_send(self, mode: str, request: Conversion) -> bool:
        """Whether :meth:`build` can carry ``request`` in ``mode`` (e.g. Gemini's OpenAPI
        subset cannot carry a recursive schema). Checked before any request is made."""
        return True

    # --- the wire ----------------------------------------------------------------------------

    def build(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        """The full URL (never with a key in it) and the JSON body for ``call``."""
        raise NotImplementedError

    def auth_headers(self, key: str) -> dict[str, str]:
        """The headers that carry the API key."""
        raise NotImplementedError

    def token_headers(self, token: str) -> dict[str, str]:
        """The headers that carry a bearer token (a token provider's, or Application Default
        Credentials'): ``Authorization: Bearer TOKEN``."""
        return {"Authorization": f"Bearer {token}"}

    def extra_headers(self) -> dict[str, str]:
        """Other headers the format needs (versions); never secret."""
        return {}

    def base_url_for(self, options: Mapping[str, Any]) -> str:
        """The base URL when none is configured, from the other settings (``options``:
        their resolved values by name); ``ValueError`` saying what is missing. Default: the
        vendor's own, :attr:`default_base_url`."""
        return self.default_base_url

    def query(self, url: str, api_version: str | None) -> dict[str, str]:
        """The query parameters a request to ``url`` needs (the API version, where the
        format names one in the URL: see :attr:`api_version_param`); ``api_version``: the
        configured one, None for :attr:`default_api_version`."""
        if self.api_version_param is None:
            return {}
        return {self.api_version_param: api_version or self.default_api_version or ""}

    def cache_minimum(self, model: str) -> int | None:
        """The fewest prompt tokens the provider caches for ``model`` (None: its prompt cache
        is unknown, and nothing is arranged for it)."""
        return None

    #: how its prompt cache is asked for: ``"auto"`` (every long prefix is cached, nothing
    #: to ask), ``"marked"`` (only where a breakpoint asks: Claude), None (none known)
    cache_style: ClassVar[str | None] = None
    #: the steps a cached prefix is counted in past the minimum (OpenAI: 128); 0: any length
    cache_step: ClassVar[int] = 0

    def logprobs_refusal(self, mode: str) -> str | None:
        """Why an answer asked for in ``mode`` comes with no token log-probabilities (one
        sentence), or None when :meth:`build` asks for them (``Call.logprobs``)."""
        return (f"the {self.title} format gives no token log-probabilities, so there is no "
                "per-field confidence (samples=K gives agreement instead)")

    def parse(self, body: Any, tool: str | None = None) -> Completion:
        """A whole JSON answer as a :class:`Completion`; ``ValueError`` for another shape.

        ``tool`` is the schema's tool name: of several tool calls, the one so named is the
        answer (see :func:`chosen_call`).
        """
        raise NotImplementedError

    def stream(self) -> StreamTranslator:
        """A fresh translator for one streamed answer."""
        raise NotImplementedError

    def rejects_format(self, status: int, message: str) -> bool:
        """Whether an error answer means "this server does not take this response format"."""
        return mentions_format(status, message, self.rejection_words)

    def error_message(self, body: Any) -> str | None:
        """The server's error message from an error body, if it has the format's shape."""
        raise NotImplementedError

    def render_part(self, part: Part) -> dict[str, Any]:
        """An image or document part in this format's own shape (a content block).

        ``ValueError`` for a part the format cannot carry (checked earlier, against
        :attr:`inputs`, with a clearer message).
        """
        raise ValueError(f"the {self.name} format does not take images or documents")

    def rejects_inputs(self, status: int, message: str) -> bool:
        """Whether an error answer means "this model does not take images / documents"."""
        return mentions_inputs(status, message)

    # --- token counting --------------------------------------------------------------------

    def count_request(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]] | None:
        """The URL and body that ask the provider's token-count endpoint how many input
        tokens ``call`` would take; None when the format has no such endpoint."""
        return None

    def parse_count(self, body: Any) -> int:
        """The input-token count from the count endpoint's answer; ``ValueError`` otherwise."""
        raise ValueError("this format has no token-count endpoint")

    # --- the batch API -----------------------------------------------------------------------

    #: its asynchronous batch API's facts and translations (None: it has none); see
    #: :mod:`structmagic.providers.batch`
    batch_api: ClassVar[BatchAPI | None] = None


# Wording servers use when they do not take a response format / schema feature. Matched
# case-insensitively against the error message of a 400/422/500/502 answer.
_REJECTION_HINTS = (
    "response_format",
    "json_schema",
    "json schema",
    "structured output",
    "not supported with this model",
    "supported values are",
    "xgrammar",
    "outlines",
    "grammar",
    "guided_json",
    "schema",
    "strict",
    "tool_choice",
    "tools are not supported",
    "function calling",
    "output_config",
    "responsejsonschema",
    "responseschema",
    "response_mime_type",
    "responsemimetype",
)
_REJECTION_NEGATIVE = ("api key", "apikey", "unauthorized", "rate limit", "quota")


def mentions_format(status: int, message: str, extra: tuple[str, ...] = ()) -> bool:
    """Whether an error answer reads like "this response format is not supported here".

    ``extra`` adds a format's own wording (lower case) to the shared hint words.
    """
    if status not in (400, 404, 415, 422, 500, 501, 502):
        return False
    text = message.lower()
    if any(word in text for word in _REJECTION_NEGATIVE):
        return False
    return any(hint in text for hint in (*_REJECTION_HINTS, *extra))


def finish_kind(reason: str | None) -> str | None:
    """Normalize a provider's finish/stop reason; empty strings mean "not finished"."""
    if not reason:
        return None
    r = str(reason).lower()
    if r in ("length", "max_tokens", "max_output_tokens"):
        return "length"
    if r in ("content_filter", "safety", "prohibited_content", "blocklist", "spii", "recitation"):
        return "content_filter"
    if r == "refusal":
        return "refusal"
    if r in ("tool_calls", "function_call", "tool_use"):
        return "tool"
    if r in ("stop", "end_turn", "stop_sequence", "completed", "eos"):
        return "stop"
    return r


# Wording of "this model does not take images / PDFs": a media word and a refusal word.
_MEDIA_WORDS = ("image", "vision", "multimodal", "multi-modal", "pdf", "document", "file",
                "input_file", "inline_data", "file_data", "media")
_NOT_TAKEN = ("not support", "unsupported", "only supported", "not supported", "not allowed",
              "does not accept", "doesn't support", "cannot process", "not available",
              "no endpoints found that support", "not enabled", "invalid content type")


def mentions_inputs(status: int, message: str) -> bool:
    """Whether an error answer reads like "this model does not take images (or PDFs)"."""
    if status in (401, 403, 408, 409, 429) or status < 400:
        return False
    text = message.lower()
    if any(word in text for word in _REJECTION_NEGATIVE):
        return False
    return any(w in text for w in _MEDIA_WORDS) and any(w in text for w in _NOT_TAKEN)


def content_items(content: Any) -> list[Any]:
    """A message's content as a list of text (``str``), :class:`Part` and other blocks
    (dicts in a format's own shape, passed on as they are)."""
    if content is None:
        return []
    if isinstance(content, (list, tuple)):
        out: list[Any] = []
        for item in content:
            if isinstance(item, dict) and item.get("type") == "text" and len(item) == 2:
                out.append(str(item.get("text", "")))
            else:
                out.append(item)
        return out
    return [content if isinstance(content, str) else str(content)]


def has_parts(content: Any) -> bool:
    """Whether a message's content carries an image or document part."""
    return isinstance(content, (list, tuple)) and any(isinstance(i, Part) for i in content)


def read_count(body: Any, key: str) -> int:
    """The count ``body[key]`` of a token-count answer, read as a usage's counts are (a
    whole number from 0 to :data:`MAX_TOKENS`); ``ValueError`` otherwise."""
    value = UsageReader(body).count(key)
    if value is None:
        raise ValueError(f"the answer has no {key!r} count")
    return value


def content_text(content: Any) -> str:
    """A message's content as one string (a string, or a list of text parts; images and
    documents left out)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        return "".join(
            str(part.get("text", "")) if isinstance(part, dict)
            else "" if isinstance(part, Part) else str(part)
            for part in content
        )
    return str(content)
