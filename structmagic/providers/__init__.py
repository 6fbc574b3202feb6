"""Providers: one module per wire format, each one class holding its facts, and the registry.

Every module of this package other than ``base`` (the :class:`Provider` class), ``batch``
(the batch APIs' shared shapes) and ``registry`` is named after the provider it defines
(``openai.py`` defines the provider ``openai``): one :class:`Provider` subclass, named
``PROVIDER`` in its module. :func:`provider_names` lists them without importing them, and
:func:`get_provider` imports a provider's module on first use (:mod:`.registry`), so loading
the extension stays cheap. The configuration, the magic's options and help, and the request
loop all read this registry, so adding a provider is one new module here (plus its tests)::

    # structmagic/providers/myformat.py
    from .base import Capabilities, Provider

    class MyFormat(Provider):
        name = "myformat"
        ...

    PROVIDER = MyFormat

A provider defined outside structmagic registers itself, before first use:
``structmagic.providers.register(MyFormat)`` (also a class decorator).
"""

from __future__ import annotations

from .base import Provider
from .registry import (
    DEFAULT_PROVIDER,
    get_provider,
    provider_for_host,
    provider_names,
    register,
    unregister,
)

__all__ = ["DEFAULT_PROVIDER", "Provider", "get_provider", "provider_for_host", "provider_names",
           "register", "unregister"]
