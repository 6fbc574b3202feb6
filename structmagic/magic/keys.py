"""The API key at the magics: never on a magic line, asked for without echo when needed.

IPython's history database keeps every magic line, so no option takes a key: a line that
looks like it carries one is refused (:func:`refuse_key_option`). The key comes from the
environment, from ``structmagic.configure(api_key=...)``, or from ``%structured_config
--key``, which asks for it without echo (:func:`prompt_key`); a cell that needs a key asks
where a person can answer (:func:`ensure_key`), never in a headless kernel.
"""

from __future__ import annotations

import re
from typing import Any

from IPython.core.error import UsageError

from ..config import Secret, Settings, configure
from ..display.kernel import interactive
from ..errors import ConfigError
from ..transport.http import is_loopback

__all__ = ["KEY_REFUSED", "ensure_key", "prompt_key", "refuse_key_option"]

#: an option that would carry a key (``--api-key``, ``--token``, ``-key`` ...)
KEY_OPTION = re.compile(r"(^|\s)--?(api[-_]?key|key|token)(=|\s|$)", re.I)

KEY_REFUSED = (
    "The magic has no key option: IPython's history keeps every magic line. Set the key in "
    "the environment (OPENAI_API_KEY, or the variable named by %structured_config --key-env), "
    "call structmagic.configure(api_key=...) in a cell you do not save, or run "
    "%structured_config --key to type it without echo."
)


def refuse_key_option(line: str, *, allow_prompt: bool = False) -> None:
    """A UsageError for a line that gives a key (``--key`` alone, which asks for one, is
    allowed where ``allow_prompt``)."""
    if KEY_OPTION.search(line) and not (allow_prompt and re.search(r"(^|\s)--key(\s|$)",
                                                                    line)):
        raise UsageError(KEY_REFUSED)


def prompt_key(shell: Any, label: str) -> None:
    """Ask for the key without echo, and configure it (never saved)."""
    if not interactive(shell):
        raise ConfigError("No API key, and no one to ask for it (not an interactive session).")
    import getpass

    try:
        typed = getpass.getpass(f"{label} (not echoed, not saved): ")
    except Exception:  # StdinNotImplementedError in a headless kernel, EOFError, ...
        raise ConfigError(
            "No API key, and this kernel cannot ask for one (no input channel). Set "
            "OPENAI_API_KEY in the kernel's environment or call structmagic.configure(api_key=...)."
        ) from None
    typed = typed.strip()
    if not typed:
        raise ConfigError("No API key was typed.")
    configure(api_key=Secret(typed, "typed at the %structured_config prompt"))


def ensure_key(shell: Any, settings: Settings) -> None:
    """Ask for a missing key where a person can answer (never in a headless kernel)."""
    if settings.cache in ("replay", "cache") or settings.uses_token or \
            settings.key() is not None:
        return
    if is_loopback(settings.base_url):
        return
    if interactive(shell):
        prompt_key(shell, f"API key for {settings.base_url}")
