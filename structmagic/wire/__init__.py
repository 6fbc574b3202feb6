"""Wire formats: one module per API shape, each a pure translation (see ``base.py``)."""

from __future__ import annotations

from importlib import import_module

from .base import Call, Completion, Delta, WireFormat

__all__ = ["Call", "Completion", "Delta", "WireFormat", "wire_for"]

_FORMATS = {
    "openai": ("openai_chat", "ChatCompletions"),
    "responses": ("responses", "Responses"),
    "anthropic": ("anthropic", "Messages"),
    "gemini": ("gemini", "Gemini"),
}
_cache: dict[str, WireFormat] = {}


def wire_for(provider: str) -> WireFormat:
    """The wire format object of a provider name (openai, responses, anthropic, gemini)."""
    if provider not in _cache:
        if provider not in _FORMATS:
            from ..errors import ConfigError

            raise ConfigError(
                f"Unknown provider {provider!r}; choose one of {', '.join(_FORMATS)}."
            )
        module, cls = _FORMATS[provider]
        _cache[provider] = getattr(import_module(f".{module}", __name__), cls)()
    return _cache[provider]
