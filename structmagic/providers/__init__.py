"""Providers: one module per wire format, each one class holding its facts, and the registry.

Every module of this package other than ``base`` and the private ones (``_batch``: the batch
APIs' shared shapes) is named after the provider it defines (``openai.py`` defines the
provider ``openai``): one :class:`Provider` subclass, registered
with :func:`register`. :func:`provider_names` lists them without importing them, and
:func:`get_provider` imports a provider's module on first use, so loading the extension stays
cheap. The configuration, the magic's options and help, and the request loop all read this
registry, so adding a provider is one new module here (plus its tests)::

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


def _builtin_names() -> tuple[str, ...]:
    """The provider modules shipped in this package (named after their providers)."""
    global _builtin
    if _builtin is None:
        _builtin = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                                if m.name != "base" and not m.name.startswith("_")))
    return _builtin


_builtin: tuple[str, ...] | None = None


def get_provider(name: str) -> Provider:
    """The registered provider called ``name``; :class:`~structmagic.ConfigError` if none."""
    found = _registry.get(name)
    if found is None and name in _builtin_names():
        with _lock:
            import_module(f"{__name__}.{name}")
        found = _registry.get(name)
    if found is None:
        from ..errors import ConfigError

        raise ConfigError(
            f"Unknown provider {name!r}; choose one of {', '.join(provider_names())}.")
    return found


def provider_names() -> tuple[str, ...]:
    """Every provider's name (shipped or registered), the default first, then alphabetically."""
    names = set(_builtin_names()) | set(_registry)
    rest = sorted(n for n in names if n != DEFAULT_PROVIDER)
    return (DEFAULT_PROVIDER, *rest) if DEFAULT_PROVIDER in names else tuple(rest)
