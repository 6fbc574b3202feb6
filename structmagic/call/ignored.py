"""Whether a server ignored the structured-output request: told from its answers, in one place.

A server that enforces a schema (``response_format`` json_schema, a forced tool, a server's
own parameter such as vLLM's ``structured_outputs``) answers with the JSON alone, in the
schema's shape. An invalid answer to such a request shows that the server ignored it when
(:meth:`Signs.see`):

- prose sits around the JSON (non-blank text outside the JSON read; a ```json fence counts);
- it is a wrapper object of the server's own: one key (``response``, ``output``,
  ``result``, ``answer``, ``content``, ``data``, ``json``, ...) that is none of the schema's
  properties, holding a string or an object;
- it holds no JSON at all;
- its keys match none of the schema's properties, in two answers in a row.

Only native steps are judged: ``json_schema`` (and a provider's or server's own way of
sending the schema), and a forced tool whose answer came as text with no call. The
``json_object`` and ``prompt`` steps ask in the prompt, so prose there is normal.

:func:`ignored_error` is the error of a call that ended so: one sentence saying that the
server ignored the request and why we think so, and a hint naming what to try.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import errors as E
from ..providers import DEFAULT_PROVIDER, get_provider
from ..providers.base import PROMPT_MODES, TOOLS, Completion, Step

if TYPE_CHECKING:
    from ..providers import Provider

__all__ = ["WRAPPER_KEYS", "Signs", "honoured_by", "ignored_error", "properties_of"]

#: the keys servers and models wrap an answer in (compared in lower case)
WRAPPER_KEYS = frozenset({"response", "output", "result", "answer", "content", "data",
                          "json", "text", "message", "reply"})

PROSE = "it wrote prose around the JSON"
WRAPPER = "it wrapped the answer in an object of its own ({key!r})"
NO_JSON = "no JSON could be read from its answer"
OTHER_SHAPE = "two answers in a row had none of the schema's properties"


def properties_of(schema: Any) -> frozenset[str]:
    """The property names of a schema's root object (through one ``$ref`` to its
    ``$defs``/``definitions``); empty when the root is not an object with properties."""
    if not isinstance(schema, Mapping):
        return frozenset()
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = schema
        for name in ref[2:].split("/"):
            node = node.get(name) if isinstance(node, Mapping) else None
        schema = node if isinstance(node, Mapping) else schema
    props = schema.get("properties")
    return frozenset(props) if isinstance(props, Mapping) else frozenset()


def _native(step: Step, completion: Completion) -> bool:
    if step.mode in PROMPT_MODES:
        return False
    return not (step.mode == TOOLS and completion.called)


def _outside(text: str, raw: str) -> str:
    """The text of an answer outside the JSON read from it (``raw``, a substring)."""
    at = text.find(raw) if raw else -1
    return text if at < 0 else text[:at] + text[at + len(raw):]


class Signs:
    """The signs of one call's answers, step by step (a step down starts afresh)."""

    def __init__(self, schema: Any) -> None:
        self.properties = properties_of(schema)
        self._step: Step | None = None
        self._shapeless = 0
        #: the last sign seen on the current step (None: none)
        self.reason: str | None = None

    def see(self, step: Step, completion: Completion, raw: str) -> str | None:
        """The sign an invalid answer (its ``completion`` and the JSON text ``raw`` read from
        it, ``""`` when none) gives that the server ignored the request of ``step``, or
        None; kept in :attr:`reason` for the rest of the step."""
        if step != self._step:
            self._step, self._shapeless, self.reason = step, 0, None
        if not _native(step, completion):
            return None
        sign = self._sign(completion.text, raw)
        if sign is not None:
            self.reason = sign
        return sign

    def _sign(self, text: str, raw: str) -> str | None:
        if not raw:
            return NO_JSON
        if _outside(text, raw).strip():
            return PROSE
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(value, dict) or not value or not self.properties:
            self._shapeless = 0
            return None
        if len(value) == 1:
            ((key, inner),) = value.items()
            if (key.lower() in WRAPPER_KEYS and key not in self.properties
                    and isinstance(inner, (str, dict))):
                return WRAPPER.format(key=key)
        if self.properties.isdisjoint(value):
            self._shapeless += 1
            return OTHER_SHAPE if self._shapeless >= 2 else None
        self._shapeless = 0
        return None


def _chat(provider: Provider) -> bool:
    """Whether ``provider`` speaks Chat Completions (the default provider, or a subclass of
    it: Azure OpenAI)."""
    return isinstance(provider, type(get_provider(DEFAULT_PROVIDER)))


def honoured_by(provider: Provider) -> str:
    """What to try for a format that is not Chat Completions: servers that convert it
    honour the schema only there (``""`` for Chat Completions itself, and for an endpoint of
    it such as Azure OpenAI)."""
    if _chat(provider):
        return ""
    return ("Servers that convert other formats to chat completions (llama.cpp's, for one) "
            f"honour the schema only there: try --provider {DEFAULT_PROVIDER}. ")


def ignored_error(message: str, reason: str, issues: list[E.ValidationIssue], raw: str,
                  step: Step, provider: Provider) -> E.SchemaIgnoredError:
    """The error of a call whose answers show that the server ignored the request of
    ``step`` (``reason``: why we think so); ``message`` says how the answer failed."""
    own = ("; a local server may enforce a schema only through its own parameter (vLLM's "
           "structured_outputs, llama.cpp's json_schema, Ollama's format), which --mode auto "
           "finds with server_check on" if _chat(provider) and provider.server_modes else "")
    return E.SchemaIgnoredError(
        f"The server ignored the structured-output request ({step.mode} in the "
        f"{provider.name} format): {reason}. {message}",
        errors=issues, raw=raw, reason=reason,
        hint=(f"{honoured_by(provider)}Try --mode json_object (the schema in the prompt) or "
              f"--mode tools{own}."))
