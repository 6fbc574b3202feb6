"""The API key: held in a :class:`Secret` that never shows itself, cleaned and checked once.

Every way a key comes in (an environment variable, ``structmagic.configure(api_key=...)``,
the ``%structured_config --key`` prompt, the ``api_key=`` argument) builds a ``Secret``, so
the rules live here:

- surrounding whitespace is removed (a key pasted with its trailing newline or tab);
- what is left must be a valid HTTP header value: visible ASCII characters (spaces and tabs
  between them are allowed by HTTP, so they are too). Anything else — a no-break space, a
  control character, a letter outside ASCII — is a :class:`~structmagic.errors.ConfigError`
  that says where the key came from and what is wrong, never the key itself;
- the key is registered with :func:`structmagic.redact.register_secret` so that no error
  message, log record (see :mod:`structmagic.redact`) or recording carries it;
- a ``Secret`` refuses to be pickled.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from .errors import ConfigError
from .redact import register_secret

__all__ = ["Secret", "check_header_value"]

# RFC 9110 field-value: visible ASCII (0x21-0x7E) with single spaces or tabs between them.
_BAD = re.compile(r"[^\x21-\x7e \t]")


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    if not name:
        name = {"\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\x00": "NUL"}.get(ch, "control")
        return f"a {name.lower()} character (U+{ord(ch):04X})"
    return f"{name.lower()} (U+{ord(ch):04X})"


def check_header_value(value: str, source: str) -> None:
    """Raise :class:`ConfigError` if ``value`` (a key) cannot be sent in an HTTP header.

    The message names ``source`` and the offending character and its position, never the
    value itself.
    """
    bad = _BAD.search(value)
    if bad is None:
        return
    where = bad.start() + 1
    raise ConfigError(
        f"The API key from {source} contains characters that cannot go in an HTTP header "
        f"({_describe(bad.group())} at character {where} of {len(value)}).",
        hint="Copy the key again from your provider's page, as plain text; a key is made "
        "of ASCII letters, digits and a few signs such as '-' and '_'.",
    )


class Secret:
    """An API key that never shows itself: ``repr``/``str`` give a mask and where it came from.

    ``value`` is stripped of surrounding whitespace and checked (see the module docstring);
    ``source`` says where it came from ("environment variable OPENAI_API_KEY", ...).
    """

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        value = str(value).strip()
        register_secret(value)  # before the check: scrub it even if it is rejected
        if not value:
            raise ConfigError(f"The API key from {source} is empty (or only whitespace).")
        check_header_value(value, source)
        self._value = value
        self.source = source

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('********', source={self.source!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> Any:  # never pickled (a cache, a multiprocessing queue ...)
        raise TypeError("structmagic.Secret cannot be pickled")
