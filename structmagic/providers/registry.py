"""The registry of providers: one module per wire format, found by name, loaded on first use.

Each shipped provider module (named after its provider: ``openai.py`` defines ``openai``)
defines one :class:`~structmagic.providers.base.Provider` subclass and names it
``PROVIDER``; it does not import this registry, which imports it on first use. A provider
defined outside structmagic registers with :func:`register` (a class decorator), before
first use; a class that is not a whole provider (not a :class:`Provider` subclass, a fact
or a translation missing, a constructor that fails) is refused there, with a one-line
:class:`~structmagic.ConfigError` naming what it lacks, rather than failing in a call.
"""

from __future__ import annotations

import pkgutil
import threading
from importlib import import_module
from pathlib import Path
from typing import TypeVar

from ..errors import ConfigError
from ..schema import Dialect
from .base import Capabilities, Provider

__all__ = ["DEFAULT_PROVIDER", "NOT_PROVIDERS", "get_provider", "provider_for_host",
           "provider_names", "register", "unregister"]

#: the provider used when none is configured
DEFAULT_PROVIDER = "openai"
#: the modules of this package that define no provider
NOT_PROVIDERS = frozenset({"base", "batch", "logprobs", "registry"})

_registry: dict[str, Provider] = {}
#: the provider chosen for each host asked about (forgotten when a provider is registered)
_by_host: dict[str, str | None] = {}
_lock = threading.RLock()
_builtin: tuple[str, ...] | None = None

P = TypeVar("P", bound=type[Provider])

#: the facts every provider states (class attributes Provider leaves unset), and what each is
_FACTS: tuple[tuple[str, str], ...] = (
    ("title", "str"), ("default_base_url", "str"), ("default_model", "str"),
    ("key_envs", "strs"), ("modes", "strs"), ("capabilities", "capabilities"),
    ("dialect", "dialect"))
#: the translations every provider makes (Provider's own raise NotImplementedError)
_TRANSLATIONS = ("build", "auth_headers", "parse", "stream", "error_message")


def _has_fact(cls: type, name: str, kind: str) -> bool:
    value = getattr(cls, name, None)
    if kind == "str":
        return isinstance(value, str) and bool(value)
    if kind == "strs":
        return (isinstance(value, tuple) and all(isinstance(v, str) for v in value)
                and (bool(value) or name != "modes"))
    if kind == "capabilities":
        return isinstance(value, Capabilities)
    return isinstance(value, Dialect)


def _lacks(cls: type) -> list[str]:
    """The facts and translations ``cls`` does not have, as a provider needs them."""
    missing = [name for name, kind in _FACTS if not _has_fact(cls, name, kind)]
    for name in _TRANSLATIONS:
        own = getattr(cls, name, None)
        if not callable(own) or own is getattr(Provider, name):
            missing.append(f"{name}()")
    return missing


def register(cls: P) -> P:
    """Register a :class:`Provider` subclass under its ``name`` (a class decorator).

    Raises :class:`~structmagic.ConfigError` (one line, naming what is missing) for a class
    that is not a whole provider: not a :class:`Provider` subclass, a ``name`` that is not
    an identifier, a fact (``title``, ``default_base_url``, ``default_model``,
    ``key_envs``, ``modes``, ``capabilities``, ``dialect``) or a translation (``build``,
    ``auth_headers``, ``parse``, ``stream``, ``error_message``) missing, or a constructor
    that fails.
    """
    if not isinstance(cls, type):
        raise ConfigError(f"register takes a Provider subclass (a class), not a "
                          f"{type(cls).__name__}.")
    what = cls.__name__
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"Cannot register {what}: {what} needs a `name` that is an "
                          f"identifier, not {name!r}.")
    lacks = _lacks(cls)
    if not issubclass(cls, Provider):
        raise ConfigError(f"Cannot register {what}: {what} is not a subclass of "
                          "structmagic.providers.Provider"
                          + (f"; it lacks {', '.join(lacks)}." if lacks else "."))
    if lacks:
        raise ConfigError(f"Cannot register {what} as the provider {name!r}: {what} lacks "
                          f"{', '.join(lacks)}.")
    try:
        made = cls()
    except Exception as exc:
        raise ConfigError(f"Cannot register {what}: {what} could not be made: "
                          f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    with _lock:
        _registry[name] = made
        _by_host.clear()
    return cls


def unregister(name: str) -> None:
    """Forget the provider registered as ``name`` (a shipped one is loaded again on next use)."""
    with _lock:
        _registry.pop(name, None)
        _by_host.clear()


def _builtin_names() -> tuple[str, ...]:
    """The provider modules shipped in this package (named after their providers)."""
    global _builtin
    if _builtin is None:
        here = [str(Path(__file__).parent)]
        _builtin = tuple(sorted(m.name for m in pkgutil.iter_modules(here)
                                if m.name not in NOT_PROVIDERS and not m.name.startswith("_")))
    return _builtin


def get_provider(name: str) -> Provider:
    """The registered provider called ``name``; :class:`~structmagic.ConfigError` if none."""
    found = _registry.get(name)
    if found is None and name in _builtin_names():
        with _lock:
            found = _registry.get(name)
            if found is None:
                module = import_module(f"{__package__}.{name}")
                register(module.PROVIDER)
                found = _registry[name]
    if found is None:
        raise ConfigError(
            f"Unknown provider {name!r}; choose one of {', '.join(provider_names())}.")
    return found


def provider_names() -> tuple[str, ...]:
    """Every provider's name (shipped or registered), the default first, then alphabetically."""
    names = set(_builtin_names()) | set(_registry)
    rest = sorted(n for n in names if n != DEFAULT_PROVIDER)
    return (DEFAULT_PROVIDER, *rest) if DEFAULT_PROVIDER in names else tuple(rest)


def provider_for_host(host: str) -> str | None:
    """The provider chosen for a base URL on ``host`` when none is configured: the one whose
    :attr:`~structmagic.providers.Provider.hosts` ``host`` ends with (an Azure resource's
    ``NAME.openai.azure.com``: ``azure``), else None."""
    host = host.lower().rstrip(".")
    if host in _by_host:
        return _by_host[host]
    found = None
    for name in provider_names():
        hosts = get_provider(name).hosts
        if any(host == h.lstrip(".") or host.endswith(h if h.startswith(".") else "." + h)
               for h in hosts):
            found = name
            break
    with _lock:
        if len(_by_host) >= 256:
            _by_host.clear()
        _by_host[host] = found
    return found
