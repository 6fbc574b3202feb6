"""Providers: one module per wire format, each one class holding its facts, and the registry.

Every module of this package (other than ``base``) defines one :class:`Provider` subclass and
registers it with :func:`register`; :func:`get_provider` and :func:`provider_names` load them
on first use. The configuration, the magic's options and help, and the request loop all read
this registry, so adding a provider is one new module here (plus its tests)::

    # structmagic/providers/myformat.py
    from . import register
    from .base import Capabilities, Provider

    @register
    class MyFormat(Provider):
        name = "myformat"
        ...

A provider defined outside structmagic registers the same way, before first use:
``structmagic.providers.register(MyFormat)``.
"""

from __future__ import annotations

import pkgutil
import threading
from importlib import import_module
from typing import TypeVar

from .base import Provider

__all__ = ["DEFAULT_PROVIDER", "Provider", "get_provider", "provider_names", "register"]

#: the provider used when none is configured
DEFAULT_PROVIDER = "openai"

_registry: dict[str, Provider] = {}
_loaded = False
_lock = threading.RLock()

P = TypeVar("P", bound=type[Provider])


def register(cls: P) -> P:
    """Register a :class:`Provider` subclass under its ``name`` (a class decorator)."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"{cls!r} needs a `name` that is an identifier to be registered")
    with _lock:
        _registry[name] = cls()
    return cls


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        for module in pkgutil.iter_modules(__path__):
            if module.name != "base" and not module.name.startswith("_"):
                import_module(f"{__name__}.{module.name}")
        _loaded = True


def get_provider(name: str) -> Provider:
    """The registered provider called ``name``; :class:`~structmagic.ConfigError` if none."""
    _load_builtin()
    found = _registry.get(name)
    if found is None:
        from ..errors import ConfigError

        raise ConfigError(
            f"Unknown provider {name!r}; choose one of {', '.join(provider_names())}.")
    return found


def provider_names() -> tuple[str, ...]:
    """Every registered provider's name, the default first, then alphabetically."""
    _load_builtin()
    rest = sorted(n for n in _registry if n != DEFAULT_PROVIDER)
    return (DEFAULT_PROVIDER, *rest) if DEFAULT_PROVIDER in _registry else tuple(rest)
