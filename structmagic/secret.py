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

The same rules hold for the other secrets a request may carry: a bearer token (from a token
provider, or Google's Application Default Credentials) and a secret value of an extra header
or query parameter (:func:`header_value`: ``env:NAME`` reads the environment variable
``NAME`` when the request leaves; a callable is called then; a literal value of a
credential-like name, ``api-key`` or ``X-Auth-Token``, is held in a ``Secret``). Each is
checked and registered for scrubbing when it is read (:func:`reveal`), and shown only as
where it comes from (:func:`describe_value`).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from .errors import ConfigError
from .redact import register_secret

__all__ = ["CREDENTIAL_NAME", "FromEnv", "Secret", "check_header_value", "describe_value",
           "header_value", "reveal"]

# RFC 9110 field-value: visible ASCII (0x21-0x7E) with single spaces or tabs between them.
_BAD = re.compile(r"[^\x21-\x7e \t]")


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    if not name:
        name = {"\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\x00": "NUL"}.get(ch, "control")
        return f"a {name.lower()} character (U+{ord(ch):04X})"
    return f"{name.lower()} (U+{ord(ch):04X})"


def check_header_value(value: str, source: str, what: str = "The API key") -> None:
    """Raise :class:`ConfigError` if ``value`` (a key, ``what``) cannot be sent in an HTTP
    header.

    The message names ``source`` and the offending character and its position, never the
    value itself.
    """
    bad = _BAD.search(value)
    if bad is None:
        return
    where = bad.start() + 1
    raise ConfigError(
        f"{what} from {source} contains characters that cannot go in an HTTP header "
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


#: names of headers and query parameters whose values are credentials: a literal value is
#: held in a :class:`Secret` (and refused on a magic line, which the history keeps)
CREDENTIAL_NAME = re.compile(
    r"auth|key|token|secret|password|passwd|credential|cookie|signature|^sig$|^code$",
    re.IGNORECASE)


class FromEnv:
    """A value read from the environment variable :attr:`name` each time a request leaves
    (``env:NAME``): a secret, never shown, scrubbed like the key."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not name or not name.replace("_", "").isalnum():
            raise ValueError(f"env:{name} does not name an environment variable")
        self.name = name

    def __repr__(self) -> str:
        return f"env:{self.name}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FromEnv) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("FromEnv", self.name))


def header_value(name: str, value: Any) -> Any:
    """A value of the extra header (or query parameter) ``name`` as it is kept: ``env:VAR``
    as a :class:`FromEnv`; a :class:`Secret`, a :class:`FromEnv` or a callable as given; a
    literal of a credential-like name (:data:`CREDENTIAL_NAME`) in a :class:`Secret`;
    another literal as text. ``ValueError`` for what cannot be a value."""
    if isinstance(value, (Secret, FromEnv)) or callable(value):
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"the value of {name} is a {type(value).__name__}, not text")
    text = str(value)
    if text.startswith("env:"):
        return FromEnv(text[4:].strip())
    if CREDENTIAL_NAME.search(name):
        return Secret(text, f"the value given for {name}")
    check_header_value(text, f"the value given for {name}", "A header or query value")
    return text


def reveal(value: Any, name: str) -> str:
    """The text of a kept value (see :func:`header_value`) for a request leaving now: a
    secret one read, checked and registered for scrubbing. :class:`ConfigError` when an
    environment variable is not set, or a callable fails or gives no text."""
    if isinstance(value, str):
        return value
    if isinstance(value, Secret):
        return value.get_secret_value()
    if isinstance(value, FromEnv):
        found = os.environ.get(value.name, "")
        if not found.strip():
            raise ConfigError(f"The environment variable {value.name} (the value of {name}) "
                              "is not set.")
        return Secret(found, f"environment variable {value.name}").get_secret_value()
    return _called(value, name)


def _called(provider: Callable[[], Any], name: str) -> str:
    """A callable's text (a token provider's: a string, or an object with a ``token``)."""
    try:
        got = provider()
    except Exception as exc:  # the user's code: any failure is reported, never a traceback
        raise ConfigError(f"The {name} raised {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
                          ) from None
    token = getattr(got, "token", got)
    if isinstance(token, bytes):
        token = token.decode("ascii", "replace")
    if not isinstance(token, str) or not token.strip():
        raise ConfigError(f"The {name} returned {type(got).__name__}, not a token (a "
                          "non-empty string, or an object with a 'token').")
    return Secret(token, f"the {name}").get_secret_value()


def describe_value(value: Any) -> str:
    """A kept value as it may be shown: a literal as it is, a secret by where it comes
    from."""
    if isinstance(value, str):
        return value
    if isinstance(value, FromEnv):
        return f"from environment variable {value.name}"
    if isinstance(value, Secret):
        return "set (secret)"
    return f"from {getattr(value, '__name__', type(value).__name__)}()"
