"""Settings: each one declared once, where a value comes from, and the one place that checks
and resolves them.

Resolution order, highest first::

    argument (structured(..., model=...))  >  magic option (--model)  >  configured value
    (%structured_config, %config StructuredMagics.<trait>, structmagic.configure)  >
    environment (OPENAI_API_KEY, OPENAI_BASE_URL, STRUCTMAGIC_MODEL, ...)  >  default

Every setting is a field of :class:`Settings` declared with :func:`setting`: its default,
its help, its environment variable, its kind (which :func:`check` applies to every value,
from wherever it comes), and where else it appears: a trait of the magics (``%config
StructuredMagics.<name>``), an option of ``%structured_config``, an option of
``%%structured``. The magics, their help and the README's table are made from these
declarations (:func:`declared`); nothing else lists the settings.

The API key is held in a :class:`~structmagic.secret.Secret` (its repr never shows it) and is
looked up only when a request really goes to the network, so replaying a recording needs no
key. The clock (:class:`Clock`) is a setting too: what tells the time and waits, for retries,
rate limits and batch jobs; tests give a fake one, so nothing in them sleeps.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .cost.price import parse_prices
from .errors import ConfigError
from .providers import DEFAULT_PROVIDER, get_provider, provider_for_host, provider_names
from .providers.base import AUTO, USER_MODES
from .secret import CREDENTIAL_NAME, Secret, describe_value, header_value

__all__ = [
    "CACHE_MODES",
    "CACHE_TTLS",
    "GROUNDING_MODES",
    "SERVER_CHECKS",
    "SYSTEM_CLOCK",
    "Clock",
    "Declared",
    "Examples",
    "FromCorrections",
    "Secret",
    "Settings",
    "check",
    "configure",
    "configured",
    "declared",
    "normalize_base_url",
    "provider_for_url",
    "reset",
    "resolve",
    "setting",
    "split_base_url",
]

CACHE_MODES = ("off", "replay", "record", "cache")
#: ``require_grounding``: off; on (re-ask, then fail); warn (re-ask, then keep the answer)
GROUNDING_MODES = ("off", "on", "warn")
#: how long Claude keeps a prompt-cache entry (``cache_ttl``): its write costs 1.25x the
#: input price for 5 minutes, 2x for an hour
CACHE_TTLS = ("5m", "1h")
#: ``server_check``: auto (check servers that are not a known vendor's); off
SERVER_CHECKS = ("auto", "off")


class Clock:
    """What tells the time and waits: :meth:`monotonic` (durations), :meth:`time` (the wall
    clock, for times written down) and :meth:`sleep`. The system's by default; a test gives
    one of its own (``configure(clock=...)``), so no retry, rate limit or batch job waits in
    it."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        # In short slices: where an interrupt is delivered only between bytecodes (on
        # Windows, ipykernel's ``_thread.interrupt_main()``), it lands within one.
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))

    def __repr__(self) -> str:
        return "<system clock>"


#: the system's clock
SYSTEM_CLOCK = Clock()


# --- the declarations ----------------------------------------------------------------------------

#: what :func:`check` does with a value of each kind
KINDS = ("text", "url", "path", "choice", "count", "number", "seconds", "flag", "switch",
         "secret", "client", "prices", "clock", "callable", "headers", "query", "examples")


@dataclass(frozen=True)
class Declared:
    """One setting, as declared on :class:`Settings` (see :func:`setting`)."""

    name: str
    kind: str
    help: str
    env: str | None = None
    #: the least whole number a ``count`` takes
    least: int = 0
    #: the values a ``choice`` takes (a function: the providers are known only when asked)
    choices: Callable[[], tuple[str, ...]] | None = None
    #: a trait of the magics and an option of ``%structured_config``
    configurable: bool = False
    #: an option of ``%%structured`` too
    cell: bool = False
    #: the option's name when it is not ``--<name>``
    flag: str | None = None
    metavar: str | None = None
    #: a ``flag`` that is on by default: its option (``--no-<name>``) turns it off
    negated: bool = False

    @property
    def option(self) -> str:
        """The magics' option: ``--max-tokens`` (``--no-dedup`` for a negated flag)."""
        return self.flag or ("--no-" if self.negated else "--") + self.name.replace("_", "-")


def setting(default: Any = None, help: str = "", *, kind: str = "text", env: str | None = None,
            least: int = 0, choices: Callable[[], tuple[str, ...]] | None = None,
            configurable: bool = False, cell: bool = False, flag: str | None = None,
            metavar: str | None = None, shown: bool = True, factory: Any = None) -> Any:
    """A field of :class:`Settings` and its declaration (the field's name is added later). A
    ``flag`` whose default is True is turned off by its option (``--no-<name>``)."""
    assert kind in KINDS, kind
    meta = {"declared": Declared("", kind, help, env, least, choices, configurable, cell, flag,
                                 metavar, negated=kind == "flag" and default is True)}
    if factory is not None:
        return field(default_factory=factory, repr=shown, compare=shown, metadata=meta)
    return field(default=default, repr=shown, compare=shown, metadata=meta)


def _modes() -> tuple[str, ...]:
    return USER_MODES


def _cache_modes() -> tuple[str, ...]:
    return CACHE_MODES


def _cache_ttls() -> tuple[str, ...]:
    return CACHE_TTLS


def _grounding_modes() -> tuple[str, ...]:
    return GROUNDING_MODES


def _server_checks() -> tuple[str, ...]:
    return SERVER_CHECKS


@dataclass(frozen=True)
class FromCorrections:
    """``examples="corrections:K"``: K reviewed rows of the corrections file (see
    :mod:`structmagic.transport.corrections`), chosen when the schema is known."""

    k: int


#: what ``examples`` holds once checked: ``(input text, value as JSON text)`` pairs, or K
#: reviewed rows of the corrections file
Examples = tuple[tuple[str, str], ...] | FromCorrections


@dataclass(frozen=True)
class Settings:
    """The effective settings of one call. Frozen; build with :func:`resolve`."""

    provider: str = setting(
        DEFAULT_PROVIDER, "The wire format (default: openai).", kind="choice",
        env="STRUCTMAGIC_PROVIDER", choices=provider_names, configurable=True, cell=True)
    model: str = setting(
        "", "Model name (default: STRUCTMAGIC_MODEL, else the provider's own default).",
        env="STRUCTMAGIC_MODEL", configurable=True, cell=True)
    base_url: str = setting(
        "", "Base URL of the API, e.g. https://api.openai.com/v1 (a URL with no path gets "
        "/v1; default: OPENAI_BASE_URL, or the provider's own variable).", kind="url",
        configurable=True)
    api_key: Secret | None = setting(
        None, "The API key (never an option: from the environment, configure(api_key=...) or "
        "%structured_config --key).", kind="secret", shown=False)
    api_key_env: str | None = setting(
        None, "The environment variable that holds the API key (default: OPENAI_API_KEY, or "
        "the provider's own). The key itself is never a trait.", configurable=True,
        flag="--key-env", metavar="VAR")
    temperature: float | None = setting(
        None, "Sampling temperature (default: the server's).", kind="number",
        configurable=True, cell=True)
    max_tokens: int | None = setting(
        None, "Most tokens of an answer (default: the server's).", kind="count", least=1,
        configurable=True, cell=True)
    mode: str = setting(
        AUTO, "How the schema is asked for (default auto: steps down when a server rejects "
        "json_schema).", kind="choice", env="STRUCTMAGIC_MODE", choices=_modes,
        configurable=True, cell=True)
    retries: int = setting(
        2, "Retries of a failed request: connection errors, 408/409/429/5xx (default 2).",
        kind="count", env="STRUCTMAGIC_RETRIES", configurable=True, cell=True)
    reasks: int = setting(
        1, "Times an invalid answer is sent back with its errors (default 1).", kind="count",
        configurable=True, cell=True)
    timeout: float = setting(
        600.0, "Timeout in seconds: of connecting 5 s, then of waiting for the answer or its "
        "next piece (default 600).", kind="seconds", env="STRUCTMAGIC_TIMEOUT",
        configurable=True, cell=True)
    connect_timeout: float = setting(5.0, "Timeout of connecting, in seconds.", kind="seconds")
    max_retry_wait: float = setting(
        60.0, "The longest wait a server may ask for before a retry (longer: fail at once).",
        kind="number")
    cache: str = setting(
        "off", "Recording: replay (the file only), record (always call, append), cache (the "
        "file first); needs a cassette.", kind="choice", env="STRUCTMAGIC_CACHE",
        choices=_cache_modes, configurable=True)
    cassette: str | None = setting(
        None, "The recording file (JSON lines) of the cache modes.", kind="path",
        env="STRUCTMAGIC_CASSETTE", configurable=True, metavar="PATH")
    system: str | None = setting(
        None, "The system prompt.", configurable=True, cell=True)
    thinking: bool = setting(
        False, "Ask for the model's reasoning (Claude thinking, Gemini thoughts).",
        kind="flag", cell=True)
    ground: bool = setting(
        False, "Ground every value in its source text: where it occurs (exact, normalized, "
        "fuzzy) or that it does not; computed here, nothing more is sent. The widget shows the "
        "source with each value highlighted; with --each, a 'grounded' column.", kind="flag",
        cell=True)
    require_grounding: str = setting(
        "off", "Values not found in the source are re-asked for (within the re-asks), then "
        "fail the call with UngroundedError (on; the option alone) or are kept as they are "
        "(warn); implies grounding.", kind="switch", choices=_grounding_modes, cell=True,
        metavar="warn")
    confidence: bool = setting(
        False, "Ask for the answer's token log-probabilities and give each field's confidence "
        "(Result.confidence: the probability of the tokens that wrote its value), where the "
        "wire format has them (Chat Completions, the Responses API, llama.cpp's and vLLM's "
        "servers); elsewhere Result.confidence_reason says why there is none.", kind="flag",
        cell=True)
    samples: int = setting(
        1, "Answers read for each row (K): each field's value is the one most of them gave, "
        "and Result.agreement the share that agree; K requests (Chat Completions: one with "
        "n=K), each costed.", kind="count", least=1, cell=True, metavar="K")
    dedup: bool = setting(
        True, "Rows of one run that would send the same request (the same prompt, images, "
        "files and source) are sent once, and every row that asked gets the answer (a copy "
        "that costs 0: Result.duplicate_of names the row that was sent). --no-dedup sends "
        "every row: for sampling on purpose at a temperature above 0.", kind="flag",
        cell=True)
    prompt_cache_key: str | None = setting(
        None, "OpenAI's prompt_cache_key, sent with every request (default: one derived from "
        "the shared prefix of a column's rows, the same for every row, sent to OpenAI's own "
        "API).", configurable=True, cell=True, metavar="KEY")
    cache_ttl: str = setting(
        "5m", "How long Claude keeps the cached shared prefix of a column's rows: 5m (a write "
        "costs 1.25x the input price) or 1h (2x).", kind="choice", choices=_cache_ttls,
        configurable=True, cell=True)
    server_check: str = setting(
        "auto", "In --mode auto, check once per base URL and model, with one small request, "
        "whether a server that is not a known vendor's (a local vLLM, llama.cpp or Ollama, a "
        "relay) enforces the schema, and ask one that ignores it through its own parameter "
        "where it has one (auto); off: never.", kind="choice", env="STRUCTMAGIC_SERVER_CHECK",
        choices=_server_checks, configurable=True)
    corrections: str | None = setting(
        None, "The corrections file of reviewed rows (JSON lines), written by "
        "%structured_review, read as labels (--expect corrections) and as few-shot examples "
        "(corrections:K) (default: beside the cassette, else structmagic-corrections.jsonl "
        "in the working folder).", kind="path", env="STRUCTMAGIC_CORRECTIONS",
        configurable=True, cell=True, metavar="PATH")
    examples: Examples = setting(
        (), "Few-shot examples sent before each row (the same for every row, so the prompt "
        "cache still serves them): corrections:K takes K reviewed rows that kept their source "
        "text from the corrections file (source -> reviewed value); from Python also a list of "
        "(input text, value) pairs.", kind="examples", cell=True, metavar="corrections:K")
    batch_manifest: str | None = setting(
        None, "The manifest of provider batch jobs (default: beside the cassette, else "
        "structmagic-batches.json in the working folder).", kind="path",
        env="STRUCTMAGIC_BATCH_MANIFEST", configurable=True, metavar="PATH")
    api_version: str | None = setting(
        None, "The API version an Azure OpenAI resource is asked with (its api-version "
        "parameter; default 2024-10-21; the /openai/v1 path takes none).",
        env="OPENAI_API_VERSION", configurable=True, metavar="VERSION")
    project: str | None = setting(
        None, "The Google Cloud project of Vertex AI (default: GOOGLE_CLOUD_PROJECT).",
        env="GOOGLE_CLOUD_PROJECT", configurable=True)
    location: str | None = setting(
        None, "The Google Cloud location of Vertex AI (default: GOOGLE_CLOUD_LOCATION, else "
        "global).", env="GOOGLE_CLOUD_LOCATION", configurable=True)
    token_provider: Any = setting(
        None, "A callable returning a bearer token (a Microsoft Entra ID token for Azure, an "
        "OAuth token for Vertex AI), called as each request leaves and again after a 401; "
        "then no key is needed.", kind="callable", shown=False)
    extra_headers: tuple[tuple[str, Any], ...] = setting(
        (), "A header sent with every request: NAME=VALUE (repeat the option for more). Not "
        "for secrets on a magic line: NAME=env:VAR reads the variable VAR when the request "
        "leaves and keeps it out of every output.", kind="headers", cell=True, flag="--header",
        metavar="NAME=VALUE", shown=False)
    extra_query: tuple[tuple[str, Any], ...] = setting(
        (), "A query parameter added to every request's URL: NAME=VALUE (repeat for more; "
        "NAME=env:VAR for a secret one).", kind="query", cell=True, flag="--query",
        metavar="NAME=VALUE", shown=False)
    http_client: Any = setting(
        None, "An httpx.Client you own (proxies, CA bundles, mTLS, mock transports): "
        "structmagic sends through it and never closes it.", kind="client", shown=False)
    prices: Mapping[str, Any] = setting(
        help="Your prices (model name -> Price, USD per million tokens), used before the "
        "price table.", kind="prices", shown=False, factory=dict)
    clock: Clock = setting(
        SYSTEM_CLOCK, "What tells the time and waits (retries, rate limits, batch jobs).",
        kind="clock", shown=False)

    @property
    def grounds(self) -> bool:
        """Whether answers are grounded in their source (``ground``, or ``require_grounding``
        on or warn, which implies it)."""
        return self.ground or self.require_grounding != "off"

    @property
    def uses_token(self) -> bool:
        """Whether requests carry a bearer token rather than a key: a token provider is
        given, or the provider has a source of tokens of its own (Vertex AI's Application
        Default Credentials) and no key was given."""
        if self.token_provider is not None:
            return True
        return get_provider(self.provider).token_source is not None and self.api_key is None

    def _key_envs(self) -> tuple[str, ...]:
        if self.api_key_env:
            return (self.api_key_env,)
        return get_provider(self.provider).key_envs

    def key(self) -> Secret | None:
        """The API key for a live request, looked up now (argument > configured > env)."""
        if self.api_key is not None:
            return self.api_key
        for name in self._key_envs():
            value = os.environ.get(name or "")
            if value:
                return Secret(value, f"environment variable {name}")
        return None

    def credential_source(self) -> str:
        """Where the credentials of a request come from, for messages (never the secret)."""
        if self.token_provider is not None:
            return "the token provider (token_provider=...)"
        if self.uses_token:
            return "Google's Application Default Credentials"
        key = self.key()
        return key.source if key else "no key was set"

    def key_help(self) -> str:
        if self.token_provider is not None:
            return ("Check what your token provider returns: a current token for this "
                    "resource (a 401 was answered twice, the token asked for again between).")
        if self.uses_token:
            return ("Run `gcloud auth application-default login` (or set "
                    "GOOGLE_APPLICATION_CREDENTIALS), or pass token_provider=...; the account "
                    "needs the Vertex AI User role on the project.")
        envs = [e for e in self._key_envs() if e]
        if not envs:
            return ("Pass api_key=... (structmagic.configure(api_key=...)), or "
                    "token_provider=... for a bearer token.")
        return (
            f"Set the environment variable {' or '.join(envs)}, or call "
            "structmagic.configure(api_key=...), or run %structured_config --key to type it "
            "(never put a key on a magic line: the history database keeps every line)."
        )

    def masked(self) -> dict[str, Any]:
        """Every setting for display, the key replaced by where it comes from."""
        shown = {f.name: getattr(self, f.name) for f in fields(self)
                 if f.name not in ("api_key", "http_client", "prices", "clock",
                                   "token_provider", "extra_headers", "extra_query")}
        for name in ("extra_headers", "extra_query"):
            pairs = getattr(self, name)
            shown[name] = "; ".join(f"{k}: {describe_value(v)}" for k, v in pairs) or "none"
        if self.token_provider is not None:
            shown["token_provider"] = describe_value(self.token_provider)
        if self.http_client is not None:
            shown["http_client"] = f"{type(self.http_client).__name__} (yours)"
        shown["prices"] = "; ".join(
            f"{model} {price.describe()}" for model, price in sorted(self.prices.items())
        ) or "from the price table (none of your own)"
        shown["examples"] = (
            f"{self.examples.k} reviewed rows of the corrections file"
            if isinstance(self.examples, FromCorrections)
            else f"{len(self.examples)} given" if self.examples else "none")
        key = self.key()
        shown["api_key"] = (f"not needed: a token from {self.credential_source()}"
                            if self.uses_token else f"set ({key.source})" if key else "not set")
        return shown


def _declarations() -> dict[str, Declared]:
    return {f.name: replace(f.metadata["declared"], name=f.name) for f in fields(Settings)}


_DECLARED = _declarations()


def declared(*, configurable: bool | None = None, cell: bool | None = None
             ) -> tuple[Declared, ...]:
    """The settings' declarations, in :class:`Settings`' order: all, or those that are (or
    are not) ``configurable`` (traits, ``%structured_config`` options) or ``cell`` options."""
    return tuple(d for d in _DECLARED.values()
                 if (configurable is None or d.configurable == configurable)
                 and (cell is None or d.cell == cell))


# --- checking a value ----------------------------------------------------------------------------

_INT = re.compile(r"^-?\d+$")


def check(name: str, value: Any, *, what: str | None = None) -> Any:
    """``value`` for the setting ``name``, checked and converted (strings from the
    environment or a magic line included); :class:`ConfigError` naming ``what`` (default:
    the setting's name) when it cannot be used. The one place a setting's value is checked."""
    decl = _DECLARED.get(name)
    if decl is None:
        raise ConfigError(f"Unknown setting {name!r}.")
    what = what or name
    try:
        value = _CHECKS[decl.kind](decl, value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"Bad value for {what}: {value!r}{_rule(decl)}.") from None
    if decl.choices is not None and value not in decl.choices():
        raise ConfigError(f"Bad value for {what}: {value!r}; choose one of "
                          f"{', '.join(decl.choices())}.")
    return value


def _rule(decl: Declared) -> str:
    if decl.kind == "count":
        return f" (a whole number of at least {decl.least})"
    if decl.kind == "seconds":
        return " (seconds, more than 0)"
    if decl.kind == "number":
        return " (a number of at least 0)"
    return ""


def _as_is(decl: Declared, value: Any) -> Any:
    return value


def _count(decl: Declared, value: Any) -> int:
    if isinstance(value, str) and _INT.match(value.strip()):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < decl.least:
        raise ValueError
    return value


def _number(decl: Declared, value: Any) -> float:
    number = float(value)
    if number < 0 or (decl.kind == "seconds" and number == 0):
        raise ValueError  # NaN passes: JSON cannot carry it, and says so when it is sent
    return number


def _flag(decl: Declared, value: Any) -> bool:
    return bool(value)


def _switch(decl: Declared, value: Any) -> str:
    """True / False, or one of the declared choices (``"on"``, ``"warn"``)."""
    if value is True or value is False:
        return "on" if value else "off"
    if isinstance(value, str):
        return value.strip().lower()
    raise TypeError


def _prices(decl: Declared, value: Any) -> Any:
    try:
        return parse_prices(value)
    except ValueError as exc:
        raise ConfigError(f"Bad prices: {exc}.") from None


def _secret(decl: Declared, value: Any) -> Secret:
    return value if isinstance(value, Secret) else Secret(str(value), "the api_key argument")


def _callable(decl: Declared, value: Any) -> Any:
    if not callable(value):
        raise TypeError
    return value


#: an HTTP header's name (RFC 9110 token)
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _pairs(decl: Declared, value: Any) -> tuple[tuple[str, Any], ...]:
    """Names and values, from a mapping, ``(name, value)`` pairs or ``NAME=VALUE`` texts
    (a magic line's, repeated); each value kept as :func:`~structmagic.secret.header_value`
    keeps it."""
    if isinstance(value, Mapping):
        items = list(value.items())
    else:
        items = []
        for item in [value] if isinstance(value, str) else list(value):
            if isinstance(item, str):
                name, sep, text = item.partition("=")
                if not sep:
                    raise ConfigError(f"Bad value for {decl.option}: {item!r} is not "
                                      "NAME=VALUE.")
                items.append((name.strip(), text.strip()))
            else:
                try:
                    name, text = item
                except (TypeError, ValueError):
                    raise ConfigError(f"Bad value for {decl.option}: give a mapping of names "
                                      "to values, or NAME=VALUE texts.") from None
                items.append((name, text))
    out: dict[str, tuple[str, Any]] = {}
    for name, text in items:
        if not isinstance(name, str) or not name or (decl.kind == "headers"
                                                      and not _TOKEN.match(name)):
            raise ConfigError(f"Bad value for {decl.option}: {name!r} is not a "
                              f"{'header' if decl.kind == 'headers' else 'parameter'} name.")
        try:
            out[_pair_key("extra_" + decl.kind, name)] = (name, header_value(name, text))
        except ValueError as exc:
            raise ConfigError(f"Bad value for {decl.option}: {exc}.") from None
    return tuple(out.values())


def _pair_key(setting: str, name: str) -> str:
    """What makes two headers (names in any case) or two query parameters the same."""
    return name.lower() if setting == "extra_headers" else name


_FROM_CORRECTIONS = re.compile(r"^\s*corrections\s*:\s*(\d+)\s*$")


def _examples(decl: Declared, value: Any) -> Examples:
    """``"corrections:K"`` (K at least 1), or ``(input text, value)`` pairs (or
    ``{"input", "output"}`` dicts): each value kept as compact JSON text."""
    if isinstance(value, FromCorrections):
        return value
    if isinstance(value, str):
        found = _FROM_CORRECTIONS.match(value)
        if found is None or int(found[1]) < 1:
            raise ConfigError(f"Bad value for {decl.option}: {value!r}; write corrections:K "
                              "(K reviewed rows of the corrections file, K at least 1).")
        return FromCorrections(int(found[1]))
    if isinstance(value, Mapping) or not hasattr(value, "__iter__"):
        raise TypeError
    pairs = []
    for item in value:
        if isinstance(item, Mapping) and set(item) == {"input", "output"}:
            text, output = item["input"], item["output"]
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            text, output = item
        else:
            raise ConfigError(f"Bad value for {decl.option}: each example is an (input text, "
                              "value) pair or an {'input', 'output'} dict.")
        if not isinstance(text, str):
            raise ConfigError(f"Bad value for {decl.option}: an example's input is a text, not "
                              f"{type(text).__name__}.")
        if not isinstance(output, str):
            try:
                output = json.dumps(output, ensure_ascii=False, allow_nan=False,
                                    separators=(",", ":"))
            except (TypeError, ValueError):
                raise ConfigError(f"Bad value for {decl.option}: an example's value must be "
                                  "JSON (dicts, lists, strings, finite numbers, booleans, "
                                  "None).") from None
        pairs.append((text, output))
    return tuple(pairs)


def _clock(decl: Declared, value: Any) -> Any:
    if not all(callable(getattr(value, m, None)) for m in ("monotonic", "time", "sleep")):
        raise TypeError
    return value


_CHECKS: dict[str, Callable[[Declared, Any], Any]] = {
    "text": _as_is, "path": _as_is, "choice": _as_is, "client": _as_is,
    "url": _as_is,  # normalized with the provider it is for (normalize_base_url)
    "count": _count, "number": _number, "seconds": _number, "flag": _flag,
    "switch": _switch,
    "prices": _prices, "secret": _secret, "clock": _clock, "callable": _callable,
    "headers": _pairs, "query": _pairs, "examples": _examples,
}
assert set(_CHECKS) == set(KINDS)


# --- the configured layer (traits, %structured_config, structmagic.configure) ---------------

_lock = threading.Lock()
_configured: dict[str, Any] = {}


def configure(**values: Any) -> None:
    """Set configured defaults for every later call (``None`` removes a setting).

    ``api_key`` may be given here (a str); it is kept in a :class:`Secret`. ``prices`` is
    a dict of model name to ``(input, output)`` USD per million tokens (see
    :func:`structmagic.cost.parse_price`); it replaces your earlier prices.
    """
    unknown = set(values) - set(_DECLARED)
    if unknown:
        raise ConfigError(
            f"Unknown setting(s): {', '.join(sorted(unknown))}. "
            f"Known: {', '.join(sorted(_DECLARED))}."
        )
    with _lock:
        for name, value in values.items():
            if value is None:
                _configured.pop(name, None)
                continue
            if name == "api_key" and not isinstance(value, Secret):
                value = Secret(str(value), "structmagic.configure(api_key=...)")
            if name in ("prices", "clock"):
                value = check(name, value)
            _configured[name] = value


def configured() -> dict[str, Any]:
    """A copy of the configured layer (the key stays a :class:`Secret`)."""
    with _lock:
        return dict(_configured)


def reset(values: Mapping[str, Any] | None = None) -> None:
    """Replace the whole configured layer with ``values`` (none: empty), as
    :func:`configured` gave it (tests restore what they found)."""
    with _lock:
        _configured.clear()
        _configured.update(values or {})


def _env_value(name: str, provider: str) -> Any:
    if name == "base_url":
        for var in get_provider(provider).base_url_envs:
            if os.environ.get(var):
                return os.environ[var]
        return None
    env = _DECLARED[name].env
    return os.environ.get(env) or None if env else None


def split_base_url(url: str, provider: str = DEFAULT_PROVIDER) -> tuple[str, dict[str, str]]:
    """A base URL as its normalized form (see :func:`normalize_base_url`) and the query
    parameters it carried (an Azure portal's ``?api-version=...``), which every request
    sends. A fragment, or a key in the query, is a :class:`ConfigError`."""
    base, params = _split_base_url(url, provider)
    return base, dict(params)


@functools.lru_cache(maxsize=64)
def _split_base_url(url: str, provider: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"The base URL {url!r} is not an http(s) URL (expected e.g. https://api.openai.com/v1)."
        )
    if parts.fragment:
        raise ConfigError("The base URL must not carry a fragment (#...).")
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    if any(CREDENTIAL_NAME.search(name) for name in params):  # messages show a base URL
        raise ConfigError("The base URL must not carry a key in its query (keys go in "
                          "headers).", hint="Set the key as the API key (an environment "
                          "variable, or configure(api_key=...)), or a parameter as "
                          "extra_query={'NAME': 'env:VAR'}.")
    path = parts.path.rstrip("/")
    if not path:
        path = get_provider(provider).version_path
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")), tuple(params.items())


def normalize_base_url(url: str, provider: str = DEFAULT_PROVIDER) -> str:
    """Strip trailing slashes and the query (see :func:`split_base_url`); a URL with no
    path gets the provider's version path."""
    return split_base_url(url, provider)[0]


def provider_for_url(url: str) -> str | None:
    """The provider chosen for a base URL when none is configured: the one whose
    :attr:`~structmagic.providers.Provider.hosts` the URL's host ends with (an Azure
    resource's ``NAME.openai.azure.com``: ``azure``), else None."""
    host = urlsplit(url.strip()).hostname
    return provider_for_host(host) if host else None


def resolve(options: Mapping[str, Any] | None = None, /, **more: Any) -> Settings:
    """Build the effective :class:`Settings` from options (None = unset) and the layers below."""
    given = {k: v for k, v in {**(options or {}), **more}.items() if v is not None}
    unknown = set(given) - set(_DECLARED)
    if unknown:
        raise ConfigError(f"Unknown option(s): {', '.join(sorted(unknown))}.")
    layer = configured()
    provider = given.get("provider") or layer.get("provider") or _env_value("provider", "")
    if not provider:  # an Azure resource's URL, given or configured, says which
        url = given.get("base_url") or layer.get("base_url") or _env_value("base_url",
                                                                            DEFAULT_PROVIDER)
        provider = provider_for_url(url) if isinstance(url, str) else None
    provider = check("provider", provider or DEFAULT_PROVIDER)
    values: dict[str, Any] = {"provider": provider}
    for name in _DECLARED:
        if name == "provider":
            continue
        for source in (given, layer):
            if name in source:
                values[name] = source[name]
                break
        else:
            env = _env_value(name, provider)
            if env is not None:
                values[name] = env
    if "prices" in given and "prices" in layer:  # a call's prices add to the configured
        values["prices"] = {**layer["prices"], **check("prices", given["prices"])}
    for name in ("extra_headers", "extra_query"):  # and its headers to the configured ones
        if name in given and name in layer:
            mine = check(name, given[name])
            named = {_pair_key(name, k) for k, _ in mine}
            values[name] = (*(p for p in check(name, layer[name])
                              if _pair_key(name, p[0]) not in named), *mine)
    for name in list(values):
        values[name] = check(name, values[name])
    facts = get_provider(provider)
    url = values.get("base_url")
    if not url:
        try:
            url = facts.base_url_for(values)
        except ValueError as exc:
            raise ConfigError(f"{exc}.") from None
    values["base_url"], params = split_base_url(url, provider)
    if params:  # the URL's own parameters: api-version, others sent with every request
        version = params.pop(facts.api_version_param or "api-version", None)
        if version and not values.get("api_version"):
            values["api_version"] = version
        explicit = values.get("extra_query", ())
        named = {name for name, _ in explicit}
        values["extra_query"] = (*(p for p in check("extra_query", params)
                                   if p[0] not in named), *explicit)
    values.setdefault("model", facts.default_model)
    if values.get("cache", "off") != "off" and not values.get("cassette"):
        raise ConfigError(
            f"Cache mode {values['cache']!r} needs a cassette file: set "
            "%structured_config --cassette PATH or STRUCTMAGIC_CASSETTE."
        )
    return Settings(**values)
