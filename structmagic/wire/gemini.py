"""Gemini (``POST {base}/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``).

The key goes in the ``x-goog-api-key`` header, never in the URL (``?key=`` would end up in
logs and recordings).

Request: ``contents`` (``{"role": "user" | "model", "parts": [{"text"}]}``; assistant turns are
``model``, consecutive turns of one role merged), ``systemInstruction`` (the system messages),
``generationConfig`` (``temperature``, ``maxOutputTokens``, ``thinkingConfig.includeThoughts``
when thinking is asked for), and per mode:

- ``json_schema``: ``responseMimeType: application/json`` + ``responseJsonSchema`` (the full
  JSON Schema, ``$ref`` and all);
- ``json_schema_openapi`` (Gemini only): ``responseMimeType`` + ``responseSchema``, the older
  OpenAPI-subset field, with :func:`to_openapi_schema` of the schema (refs inlined, no
  ``additionalProperties`` / ``$defs`` / ``const``, null unions as ``nullable``). **The engine's
  ladder uses it as the step after ``json_schema``** when a server rejects
  ``responseJsonSchema`` (older API versions, Vertex, relays); a schema that cannot be inlined
  (a recursive ``$ref``) makes :meth:`Gemini.build` raise ``ValueError`` for this mode, and the
  engine goes on to the next step;
- ``json_object`` / ``prompt``: only ``responseMimeType: application/json`` (the schema is in
  the system instruction already);
- ``tools``: one function declaration ``{"name", "description"?, "parameters"}`` (parameters in
  the OpenAPI subset; ``parametersJsonSchema`` when the schema cannot be inlined), forced with
  ``toolConfig.functionCallingConfig = {"mode": "ANY", "allowedFunctionNames": [name]}``.

Answer: ``candidates[0].content.parts`` -- ``thought: true`` parts are reasoning, other
``text`` parts the answer, a ``functionCall``'s ``args`` the answer as JSON; ``finishReason``
``MAX_TOKENS`` is truncation, ``SAFETY`` / ``PROHIBITED_CONTENT`` / ``RECITATION`` /
``BLOCKLIST`` / ``SPII`` a content filter, as is ``promptFeedback.blockReason``. Usage from
``usageMetadata`` (thought tokens count as completion tokens), the model from
``modelVersion``. A stream sends whole response chunks as ``data:`` and has no end marker:
the chunk that carries a finish reason ends it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .base import Call, Completion, Delta, content_text, finish_kind, mentions_format

__all__ = ["MAX_REF_DEPTH", "Gemini", "error_message", "to_openapi_schema"]

MODES = ("json_schema", "json_schema_openapi", "json_object", "tools")
_KNOWN_MODES = (*MODES, "prompt")
#: how many ``$ref`` levels :func:`to_openapi_schema` inlines before giving up
MAX_REF_DEPTH = 16
#: the keywords of the OpenAPI subset that are copied as they are
_KEEP = ("title", "description", "format", "minimum", "maximum", "minLength", "maxLength",
         "pattern", "minItems", "maxItems", "minProperties", "maxProperties")
_TYPES = ("string", "number", "integer", "boolean", "array", "object")
_FILTERED = ("safety", "recitation", "blocklist", "prohibited_content", "spii",
             "image_safety", "image_prohibited_content", "image_recitation")
#: wording of this API's format rejections that base.mentions_format does not know
_HINTS = ("function_declarations", "functiondeclarations", "tool_config", "toolconfig",
          "function_calling_config", "functioncallingconfig", "mime type")


# --- the OpenAPI subset ------------------------------------------------------------------------


def to_openapi_schema(schema: Any, *, max_depth: int = MAX_REF_DEPTH) -> dict[str, Any]:
    """``schema`` in the OpenAPI subset that Gemini's ``responseSchema`` takes.

    Local ``$ref`` s are inlined (their sibling keywords win), ``$defs`` / ``definitions`` /
    ``additionalProperties`` and other unknown keywords are dropped, ``const`` becomes an
    ``enum`` of one, ``anyOf`` / ``oneOf`` / a type list with ``null`` becomes the other
    branch with ``nullable: true``, ``allOf`` is merged, and objects get ``propertyOrdering``
    (Gemini writes properties in that order). ``enum`` takes strings only there, so an enum
    of other values is dropped and listed in the description instead.

    Raises ``ValueError`` for a ``$ref`` that does not resolve, a recursive ``$ref`` (a
    recursive type cannot be written out in a language without references) or refs nested
    deeper than ``max_depth``. Dropped constraints are still checked on our side.
    """
    root = schema

    def resolve(ref: str) -> Any:
        if ref != "#" and not ref.startswith("#/"):
            raise ValueError(f"$ref {ref!r} does not resolve: only local JSON pointers "
                             "('#/...') can be inlined for Gemini's responseSchema")
        node = root
        for raw in ref[2:].split("/") if ref != "#" else ():
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                raise ValueError(f"$ref {ref!r} does not resolve")
        return node

    def conv(node: Any, chain: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(node, Mapping):
            return {}  # true / false / junk: no constraint Gemini can express
        if "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str):
                raise ValueError(f"$ref {ref!r} is not a string")
            if ref in chain:
                path = " -> ".join((*chain, ref))
                raise ValueError(
                    f"the schema is recursive ({path}); Gemini's responseSchema has no $ref, "
                    "so a recursive type cannot be inlined")
            if len(chain) >= max_depth:
                raise ValueError(f"$refs nest deeper than {max_depth} levels at {ref!r}; "
                                 "the schema cannot be inlined for Gemini's responseSchema")
            target = resolve(ref)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            merged = {**target, **siblings} if isinstance(target, Mapping) else siblings
            return conv(merged, (*chain, ref))

        if isinstance(node.get("allOf"), list):
            out = conv({k: v for k, v in node.items() if k != "allOf"}, chain)
            for branch in node["allOf"]:
                _merge(out, conv(branch, chain))
            return out

        nullable = node.get("nullable") is True
        branches = node.get("anyOf") if "anyOf" in node else node.get("oneOf")
        if isinstance(branches, list):
            rest = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
            others = [b for b in branches if not _is_null(b)]
            nullable = nullable or len(others) < len(branches)
            if len(others) == 1:
                out = conv(others[0], chain)
                for key, value in conv(rest, chain).items():
                    if key in ("title", "description") or key not in out:
                        out[key] = value
            else:
                out = conv(rest, chain)
                out["anyOf"] = [conv(b, chain) for b in others]
            if nullable:
                out["nullable"] = True
            return out

        out = {}
        typ = node.get("type")
        types = typ if isinstance(typ, list) else [typ] if isinstance(typ, str) else []
        if "null" in types:
            nullable = True
        types = [t for t in types if t in _TYPES]

        values: list[Any] | None = None
        if "const" in node:
            values = [node["const"]]
        elif isinstance(node.get("enum"), list):
            values = list(node["enum"])
        if values is not None:
            if None in values:
                nullable = True
                values = [v for v in values if v is not None]
            if values and all(isinstance(v, str) for v in values):
                out["enum"] = values
                types = types or ["string"]
            elif values:
                types = types or [_type_of(values)]
                listed = ", ".join(json.dumps(v, ensure_ascii=False) for v in values)
                note = f"One of: {listed}."
                desc = node.get("description")
                out["description"] = f"{desc} ({note})" if desc else note

        if len(types) == 1:
            out["type"] = types[0]
        elif len(types) > 1:
            out["anyOf"] = [{"type": t} for t in types]
        for key in _KEEP:
            if key in node and key not in out:
                out[key] = node[key]

        props = node.get("properties")
        if isinstance(props, Mapping):
            out["type"] = "object"
            out["properties"] = {str(k): conv(v, chain) for k, v in props.items()}
            required = [r for r in node.get("required") or () if r in props]
            if required:
                out["required"] = required
            out["propertyOrdering"] = [str(k) for k in props]
        items = node.get("items")
        if isinstance(items, Mapping):
            out["items"] = conv(items, chain)
        elif isinstance(node.get("prefixItems"), list) and node["prefixItems"]:
            out["items"] = {"anyOf": [conv(b, chain) for b in node["prefixItems"]]}
        if nullable:
            out["nullable"] = True
        return out

    return conv(schema, ())


def _is_null(branch: Any) -> bool:
    if not isinstance(branch, Mapping):
        return False
    return (branch.get("type") == "null" or branch.get("type") == ["null"]
            or ("const" in branch and branch["const"] is None)
            or branch.get("enum") == [None])


def _type_of(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "number"
    return "string"


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    """Merge an ``allOf`` branch: properties and required lists are unions."""
    for key, value in more.items():
        if key == "properties" and isinstance(into.get(key), dict):
            into[key].update(value)
        elif key in ("required", "propertyOrdering") and isinstance(into.get(key), list):
            into[key] += [v for v in value if v not in into[key]]
        else:
            into.setdefault(key, value)


# --- answers -----------------------------------------------------------------------------------


def _finish(reason: Any) -> str | None:
    if not reason:
        return None
    r = str(reason).lower()
    if r in _FILTERED:
        return "content_filter"
    if r == "finish_reason_unspecified":
        return "stop"
    return finish_kind(r)


def _usage(raw: Any) -> dict[str, int]:
    """``promptTokenCount`` / ``candidatesTokenCount`` + ``thoughtsTokenCount`` / total."""
    if not isinstance(raw, dict):
        return {}
    out: dict[str, int] = {}
    if isinstance(raw.get("promptTokenCount"), int):
        out["prompt_tokens"] = raw["promptTokenCount"]
    counts = [raw.get(k) for k in ("candidatesTokenCount", "thoughtsTokenCount")]
    if any(isinstance(n, int) for n in counts):
        out["completion_tokens"] = sum(n for n in counts if isinstance(n, int))
    if isinstance(raw.get("totalTokenCount"), int):
        out["total_tokens"] = raw["totalTokenCount"]
    elif out:
        out["total_tokens"] = sum(out.values())
    return out


def error_message(body: Any) -> str | None:
    """The message of ``{"error": {"code", "message", "status"}}``, with its status.

    A non-SSE stream answers with a JSON array; its first element is looked at.
    """
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        status = err.get("status")
        return f"{err['message']} ({status})" if status else err["message"]
    if isinstance(err, str) and err:
        return err
    return None


class Gemini:
    """The Gemini generateContent wire format."""

    name = "gemini"
    #: the ways to ask for a schema, best first (the auto ladder)
    modes = MODES
    #: whether json_schema has a strict switch
    has_strict = False

    def build(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        """The URL (no key in it) and body.

        ``ValueError`` for an unknown mode, or for ``json_schema_openapi`` with a schema
        :func:`to_openapi_schema` cannot inline.
        """
        if call.mode not in _KNOWN_MODES:
            raise ValueError(f"mode {call.mode!r} is not one of Gemini's {_KNOWN_MODES}")
        system: list[str] = []
        contents: list[dict[str, Any]] = []
        for m in call.messages:
            text = content_text(m.get("content"))
            if m.get("role") in ("system", "developer"):
                system.append(text)
                continue
            role = "model" if m.get("role") == "assistant" else "user"
            if contents and contents[-1]["role"] == role:
                contents[-1]["parts"].append({"text": text})
            else:
                contents.append({"role": role, "parts": [{"text": text}]})
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
        gen: dict[str, Any] = {}
        if call.mode != "tools":
            gen["responseMimeType"] = "application/json"
        if call.mode == "json_schema":
            gen["responseJsonSchema"] = call.schema
        elif call.mode == "json_schema_openapi":
            gen["responseSchema"] = to_openapi_schema(call.schema)
        elif call.mode == "tools":
            decl: dict[str, Any] = {"name": call.schema_name}
            if call.description:
                decl["description"] = call.description
            try:
                decl["parameters"] = to_openapi_schema(call.schema)
            except ValueError:  # recursive: the JSON Schema field takes $ref
                decl["parametersJsonSchema"] = call.schema
            body["tools"] = [{"functionDeclarations": [decl]}]
            body["toolConfig"] = {"functionCallingConfig": {
                "mode": "ANY", "allowedFunctionNames": [call.schema_name]}}
        if call.temperature is not None:
            gen["temperature"] = call.temperature
        if call.max_tokens is not None:
            gen["maxOutputTokens"] = call.max_tokens
        if call.thinking:
            gen["thinkingConfig"] = {"includeThoughts": True}
        if gen:
            body["generationConfig"] = gen
        model = call.model
        if not model.startswith(("models/", "tunedModels/")):
            model = f"models/{model}"
        path = "/".join(quote(seg, safe="-._~") for seg in model.split("/"))
        if call.stream:
            return f"{base_url}/{path}:streamGenerateContent?alt=sse", body
        return f"{base_url}/{path}:generateContent", body

    def auth_headers(self, key: str) -> dict[str, str]:
        """``x-goog-api-key: KEY`` (never ``?key=`` in the URL)."""
        return {"x-goog-api-key": key}

    def extra_headers(self) -> dict[str, str]:
        """None needed."""
        return {}

    def parse(self, body: Any) -> Completion:
        """A whole answer (or the JSON array a non-SSE stream gives) as a :class:`Completion`."""
        chunks = body if isinstance(body, list) else [body]
        if not chunks or not all(isinstance(c, dict) for c in chunks):
            raise ValueError("the answer is not a JSON object")
        if not any(c.get("candidates") or c.get("promptFeedback") for c in chunks):
            problem = error_message(chunks[0])
            raise ValueError(f"the answer is an error: {problem}" if problem
                             else "the answer has no 'candidates'")
        translator = _GeminiStream()
        text: list[str] = []
        reasoning: list[str] = []
        out = Completion()
        for chunk in chunks:
            for d in translator.translate(chunk):
                text.append(d.text)
                reasoning.append(d.reasoning)
                out.finish = d.finish or out.finish
                out.usage = d.usage or out.usage
                out.model = out.model or d.model
        out.text = "".join(text)
        out.reasoning = "".join(reasoning) or None
        return out

    def stream(self) -> _GeminiStream:
        """A fresh translator for one streamed answer."""
        return _GeminiStream()

    def rejects_format(self, status: int, message: str) -> bool:
        """Whether the error means "this server does not take this schema field / tool"."""
        return mentions_format(status, message, _HINTS)

    def error_message(self, body: Any) -> str | None:
        """See :func:`error_message`."""
        return error_message(body)


class _GeminiStream:
    """Translates streamed ``GenerateContentResponse`` chunks into :class:`Delta` pieces.

    Only the first ``functionCall`` is the answer (the tool is forced; a parallel second
    call is ignored); a finish of ``STOP`` after it is reported as ``tool``.
    """

    __slots__ = ("_called",)

    def __init__(self) -> None:
        self._called = False

    def feed(self, event: str, data: str) -> list[Delta]:
        """Translate one SSE event; the chunk with a finish reason is also the end."""
        if not data.strip() or data == "[DONE]":
            return [Delta(done=True)] if data == "[DONE]" else []
        deltas = self.translate(json.loads(data))
        for d in deltas:
            d.done = d.finish is not None
        return deltas

    def translate(self, chunk: Any) -> list[Delta]:
        """One response chunk (already parsed) as a delta."""
        if not isinstance(chunk, dict):
            return []
        if "error" in chunk and not chunk.get("candidates"):
            return [Delta(error=error_message(chunk) or "the server sent an error")]
        out = Delta(model=chunk.get("modelVersion") or None)
        if (chunk.get("promptFeedback") or {}).get("blockReason"):
            out.finish = "content_filter"
        candidates = chunk.get("candidates")
        cand = candidates[0] if isinstance(candidates, list) and candidates else None
        if isinstance(cand, dict):
            parts = (cand.get("content") or {}).get("parts")
            for part in parts if isinstance(parts, list) else ():
                if not isinstance(part, dict):
                    continue
                if "functionCall" in part:
                    if not self._called:
                        self._called = True
                        args = (part["functionCall"] or {}).get("args")
                        out.text += json.dumps({} if args is None else args,
                                               ensure_ascii=False)
                elif part.get("thought"):
                    out.reasoning += str(part.get("text") or "")
                elif isinstance(part.get("text"), str):
                    out.text += part["text"]
            finish = _finish(cand.get("finishReason"))
            if finish == "stop" and self._called:
                finish = "tool"
            out.finish = finish or out.finish
        if chunk.get("usageMetadata"):
            out.usage = _usage(chunk["usageMetadata"]) or None
        return [out]
