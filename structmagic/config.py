"""Settings: where a value comes from, and the one place that resolves them.

Resolution order, highest first::

    argument (structured(..., model=...))  >  magic option (--model)  >  configured value
    (%structured_config, %config StructuredMagics.<trait>, structmagic.configure)  >
    environment (OPENAI_API_KEY, OPENAI_BASE_URL, STRUCTMAGIC_MODEL, ...)  >  default

The API key is held in a :class:`Secret` (its repr never shows it) and is looked up only
when a request really goes to the network, so replaying a recording needs no key.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .cost.price import parse_prices
from .errors import ConfigError
from .providers import DEFAULT_PROVIDER
from .providers.base import AUTO
from .secret import Secret

__all__ = [
    "CACHE_MODES",
    "Secret",
    "Settings",
    "configure",
    "configured",
    "resolve",
]

CACHE_MODES = ("off", "replay", "record", "cache")


@dataclass(frozen=True)
class Settings:
    """The effective settings of one call. Frozen; build with :func:`resolve`."""

    provider: str = DEFAULT_PROVIDER
    model: str = ""
    base_url: str = ""
    api_key: Secret | None = field(default=None, repr=False)
    api_key_env: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    mode: str = AUTO
    retries: int = 2
    reasks: int = 1
    timeout: float = 600.0
    connect_timeout: float = 5.0
    max_retry_wait: float = 60.0
    cache: str = "off"
    cassette: str | None = None
    system: str | None = None
    thinking: bool = False
    #: the manifest of provider batch jobs (default: beside the cassette, else
    #: ``structmagic-batches.json`` in the working folder)
    batch_manifest: str | None = None
    #: an ``httpx.Client`` the user owns (proxies, CA bundles, mTLS, mock transports);
    #: structmagic sends through it and never closes it
    http_client: Any = field(default=None, repr=False, compare=False)
    #: your prices (model name -> :class:`structmagic.cost.Price`, USD per million tokens),
    #: used before the price table
    prices: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def _key_envs(self) -> tuple[str, ...]:
        if self.api_key_env:
            return (self.api_key_env,)
        from .providers import get_provider

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

    def key_help(self) -> str:
        envs = self._key_envs()
        return (
            f"Set the environment variable {' or '.join(e for e in envs if e)}, or call "
            "structmagic.configure(api_key=...), or run %structured_config --key to type it "
            "(never put a key on a magic line: the history database keeps every line)."
        )

    def masked(self) -> dict[str, Any]:
        """Every setting for display, the key replaced by where it comes from."""
        shown = {f.name: getattr(self, f.name) for f in fields(self)
                 if f.name not in ("api_key", "http_client", "prices")}
        if self.http_client is not None:
            shown["http_client"] = f"{type(self.http_client).__name__} (yours)"
        shown["prices"] = "; ".join(
            f"{model} {price.describe()}" for model, price in sorted(self.prices.items())
        ) or "from the price table (none of your own)"
        key = self.key()
        shown["api_key"] = f"set ({key.source})" if key else "not set"
        return shown


# --- the configured layer (traits, %structured_config, structmagic.configure) ---------------

_lock = threading.Lock()
_configured: dict[str, Any] = {}

_ENV = {
    "provider": "STRUCTMAGIC_PROVIDER",
    "model": "STRUCTMAGIC_MODEL",
    "cache": "STRUCTMAGIC_CACHE",
    "cassette": "STRUCTMAGIC_CASSETTE",
    "mode": "STRUCTMAGIC_MODE",
    "timeout": "STRUCTMAGIC_TIMEOUT",
    "retries": "STRUCTMAGIC_RETRIES",
    "batch_manifest": "STRUCTMAGIC_BATCH_MANIFEST",
}
_NAMES = {f.name for f in fields(Settings)}


def configure(**values: Any) -> None:
    """Set configured defaults for every later call (``None`` removes a setting).

    ``api_key`` may be given here (a str); it is kept in a :class:`Secret`. ``prices`` is
    a dict of model name to ``(input, output)`` USD per million tokens (see
    :func:`structmagic.cost.parse_price`); it replaces your earlier prices.
    """
    unknown = set(values) - _NAMES
    if unknown:
        raise ConfigError(
            f"Unknown setting(s): {', '.join(sorted(unknown))}. "
            f"Known: {', '.join(sorted(_NAMES))}."
        )
    with _lock:
        for name, value in values.items():
            if value is None:
                _configured.pop(name, None)
                continue
            if name == "api_key" and not isinstance(value, Secret):
                value = Secret(str(value), "structmagic.configure(api_key=...)")
            if name == "prices":
                value = _coerce(name, value)
            _configured[name] = value


def configured() -> dict[str, Any]:
    """A copy of the configured layer (the key stays a :class:`Secret`)."""
    with _lock:
        return dict(_configured)


def _env_value(name: str, provider: str) -> Any:
    if name == "base_url":
        from .providers import get_provider

        for var in get_provider(provider).base_url_envs:
            if os.environ.get(var):
                return os.environ[var]
        return None
    env = _ENV.get(name)
    return os.environ.get(env) or None if env else None


def normalize_base_url(url: str, provider: str = DEFAULT_PROVIDER) -> str:
    """Strip trailing slashes; a URL with no path gets the provider's version path."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"The base URL {url!r} is not an http(s) URL (expected e.g. https://api.openai.com/v1)."
        )
    if parts.query or parts.fragment:
        raise ConfigError("The base URL must not carry a query or fragment (keys go in headers).")
    path = parts.path.rstrip("/")
    if not path:
        from .providers import get_provider

        path = get_provider(provider).version_path
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


_INT = re.compile(r"^-?\d+$")


def _coerce(name: str, value: Any) -> Any:
    """Check and convert one setting's value (strings from the environment included)."""
    try:
        if name in ("retries", "reasks", "max_tokens"):
            if isinstance(value, str) and _INT.match(value.strip()):
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError
            if value < (1 if name == "max_tokens" else 0):
                raise ValueError
        elif name in ("temperature", "timeout", "connect_timeout", "max_retry_wait"):
            value = float(value)
            if value < 0 or (name in ("timeout", "connect_timeout") and value == 0):
                raise ValueError
        elif name == "thinking":
            value = bool(value)
        elif name == "prices":
            try:
                value = parse_prices(value)
            except ValueError as exc:
                raise ConfigError(f"Bad prices: {exc}.") from None
    except (TypeError, ValueError):
        raise ConfigError(f"Bad value for {name}: {value!r}.") from None
    choices = _choices(name)
    if choices and value not in choices:
        raise ConfigError(f"Bad value for {name}: {value!r}; choose one of {', '.join(choices)}.")
    return value


def _choices(name: str) -> tuple[str, ...] | None:
    if name == "provider":
        from .providers import provider_names

        return provider_names()
    if name == "mode":
        from .providers.base import USER_MODES

        return USER_MODES
    return CACHE_MODES if name == "cache" else None


def resolve(options: Mapping[str, Any] | None = None, /, **more: Any) -> Settings:
    """Build the effective :class:`Settings` from options (None = unset) and the layers below."""
    given = {k: v for k, v in {**(options or {}), **more}.items() if v is not None}
    unknown = set(given) - _NAMES
    if unknown:
        raise ConfigError(f"Unknown option(s): {', '.join(sorted(unknown))}.")
    from .providers import get_provider

    layer = configured()
    provider = given.get("provider") or layer.get("provider") or _env_value("provider", "")
    provider = _coerce("provider", provider or DEFAULT_PROVIDER)
    values: dict[str, Any] = {"provider": provider}
    for name in _NAMES - {"provider"}:
        for source in (given, layer):
            if name in source:
                values[name] = source[name]
                break
        else:
            env = _env_value(name, provider)
            if env is not None:
                values[name] = env
    if "prices" in given and "prices" in layer:  # a call's prices add to the configured
        values["prices"] = {**layer["prices"], **_coerce("prices", given["prices"])}
    if isinstance(values.get("api_key"), str):
        values["api_key"] = Secret(values["api_key"], "the api_key argument")
    for name in list(values):
        if name not in ("api_key", "base_url", "model", "cassette", "system", "api_key_env",
                        "http_client", "batch_manifest"):
            values[name] = _coerce(name, values[name])
    facts = get_provider(provider)
    values["base_url"] = normalize_base_url(values.get("base_url") or facts.default_base_url,
                                            provider)
    values.setdefault("model", facts.default_model)
    if values.get("cache", "off") != "off" and not values.get("cassette"):
        raise ConfigError(
            f"Cache mode {values['cache']!r} needs a cassette file: set "
            "%structured_config --cassette PATH or STRUCTMAGIC_CASSETTE."
        )
    return Settings(**values)


def with_options(settings: Settings, **values: Any) -> Settings:
    """A copy of ``settings`` with some values replaced (checked like the others)."""
    return replace(settings, **{k: _coerce(k, v) for k, v in values.items()})
