"""The registry of providers: one module per wire format, found by name, loaded on first use.

Each shipped provider module (named after its provider: ``openai.py`` defines ``openai``)
defines one :class:`~structmagic.providers.base.Provider` subclass and names it
``PROVIDER``; it does not import this registry, which imports it on first use. A provider
defined outside structmagic registers with :func:`register` (a class decorator), before
first use.
"""

from __future__ import annotations

import pkgutil
import threading
from importlib import import_module
from pathlib import Path
from typing import TypeVar

from ..errors import ConfigError
from .base import Provider

__all__ = ["DEFAULT_PROVIDER", "NOT_PROVIDERS", "get_provider", "provider_names", "register",
           "unregister"]

#: the provider used when none is configured
DEFAULT_PROVIDER = "openai"
#: the modules of this package that define no provider
NOT_PROVIDERS = frozenset({"base", "batch", "registry"})

_registry: dict[str, Provider] = {}
_lock = threading.RLock()
_builtin: tuple[str, ...] | None = None

P = TypeVar("P", bound=type[Provider])


def register(cls: P) -> P:
    """Register a :class:`Provider` subclass under its ``name`` (a class decorator)."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"{cls!r} needs a `name` that is an identifier to be registered")
    with _lock:
        _registry[name] = cls()
    return cls


def unregister(name: str) -> None:
    """Forget the provider registered as ``name`` (a shipped one is loaded again on next use)."""
    with _lock:
        _registry.pop(name, None)


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
