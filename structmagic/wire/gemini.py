"""Gemini (``POST {base}/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``).

The key goes in the ``x-goog-api-key`` header, never in the URL. Structured output:
``generationConfig.responseMimeType: application/json`` with ``responseJsonSchema`` (full
JSON Schema). Older servers only take the OpenAPI-subset ``responseSchema`` (no ``$ref``,
no ``additionalProperties``): the engine's next step after a rejection is the mode
``json_schema_openapi``, which sends :func:`to_openapi_schema` of the schema there.
Parts with ``thought: true`` are reasoning; ``finishReason`` ``MAX_TOKENS`` is truncation,
``SAFETY`` / ``PROHIBITED_CONTENT`` ... a content filter. A stream has no end marker: the
chunk that carries a ``finishReason`` ends it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from .base import Call, Completion, Delta, finish_kind, mentions_format

__all__ = ["Gemini", "to_openapi_schema"]


def _usage(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        return {}
    out: dict[str, int] = {}
    if isinstance(raw.get("promptTokenCount"), int):
        out["prompt_tokens"] = raw["promptTokenCount"]
    completion = (raw.get("candidatesTokenCount") or 0) + (raw.get("thoughtsTokenCount") or 0)
    if completion or "candidatesTokenCount" in raw:
        out["completion_tokens"] = completion
    if isinstance(raw.get("totalTokenCount"), int):
        out["total_tokens"] = raw["totalTokenCount"]
    elif out:
        out["total_tokens"] = sum(out.values())
    return out


def error_message(body: Any) -> str | None:
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        status = err.get("status")
        return f"{err['message']} ({status})" if status else err["message"]
    return None


def to_openapi_schema(schema: Any, *, max_depth: int = 8) -> dict[str, Any]:
    """The OpenAPI subset Gemini's ``responseSchema`` takes: refs inlined, no extras.

    Recursive schemas are cut at ``max_depth`` levels of ``$ref`` (a recursive type cannot
    be written out fully); a ``ValueError`` if a reference does not resolve.
    """
    root = schema

    def resolve(ref: str) -> Any:
        if ref == "#":
            return root
        node = root
        for part in ref.removeprefix("#/").split("/"):
            if not isinstance(node, dict) or part not in node:
                raise ValueError(f"$ref {ref!r} does not resolve")
            node = node[part]
        return node

    def conv(node: Any, depth: int) -> dict[str, Any]:
        if not isinstance(node, dict):
            return {}
        if "$ref" in node:
            if depth >= max_depth:
                return {"type": "object", "description": "(nested further: omitted)"}
            return conv({**resolve(node["$ref"]), **{k: v for k, v in node.items()
                                                     if k != "$ref"}}, depth + 1)
        out: dict[str, Any] = {}
        nullable = False
        typ = node.get("type")
        if isinstance(typ, list):
            nullable = "null" in typ
            rest = [t for t in typ if t != "null"]
            typ = rest[0] if rest else None
        branches = node.get("anyOf") or node.get("oneOf")
        if branches:
            non_null = [b for b in branches if not (isinstance(b, dict)
                                                     and b.get("type") == "null")]
            nullable = nullable or len(non_null) < len(branches)
            if len(non_null) == 1:
                inner = conv(non_null[0], depth)
                if nullable:
                    inner["nullable"] = True
                if node.get("description"):
                    inner.setdefault("description", node["description"])
                return inner
            out["anyOf"] = [conv(b, depth) for b in non_null]
        if "const" in node:
            out["enum"] = [node["const"]]
            typ = typ or ("string" if isinstance(node["const"], str) else None)
        if "enum" in node:
            out["enum"] = [v for v in node["enum"] if v is not None]
            nullable = nullable or None in node["enum"]
            typ = typ or "string"
        if typ:
            out["type"] = typ
        for key in ("description", "format", "minimum", "maximum", "minItems", "maxItems",
                    "pattern"):
            if key in node:
                out[key] = node[key]
        if isinstance(node.get("properties"), dict):
            out["type"] = "object"
            out["properties"] = {k: conv(v, depth) for k, v in node["properties"].items()}
            out["required"] = list(node.get("required") or [])
            out["propertyOrdering"] = list(node["properties"])
        if "items" in node:
            out["items"] = conv(node["items"], depth)
        if nullable:
            out["nullable"] = True
        return out

    return conv(schema, 0)


class Gemini:
    """The Gemini generateContent wire format."""

    name = "gemini"
    #: the ways to ask for a schema, best first (the auto ladder)
    modes = ("json_schema", "json_schema_openapi", "json_object", "tools")
    #: whether json_schema has a strict switch
    has_strict = False

    def build(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        system = [str(m["content"]) for m in call.messages if m.get("role") == "system"]
        contents: list[dict[str, Any]] = []
        for m in call.messages:
            if m.get("role") == "system":
                continue
            role = "model" if m.get("role") == "assistant" else "user"
            if contents and contents[-1]["role"] == role:
                contents[-1]["parts"].append({"text": str(m["content"])})
            else:
                contents.append({"role": role, "parts": [{"text": str(m["content"])}]})
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
        gen: dict[str, Any] = {}
        if call.mode in ("json_schema", "json_schema_openapi", "json_object", "prompt"):
            gen["responseMimeType"] = "application/json"
        if call.mode == "json_schema":
            gen["responseJsonSchema"] = call.schema
        elif call.mode == "json_schema_openapi":
            gen["responseSchema"] = to_openapi_schema(call.schema)
        elif call.mode == "tools":
            decl: dict[str, Any] = {"name": call.schema_name,
                                    "parameters": to_openapi_schema(call.schema)}
            if call.description:
                decl["description"] = call.description
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
        model = quote(call.model.removeprefix("models/"), safe="-._")
        if call.stream:
            return f"{base_url}/models/{model}:streamGenerateContent?alt=sse", body
        return f"{base_url}/models/{model}:generateContent", body

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"x-goog-api-key": key}

    def extra_headers(self) -> dict[str, str]:
        return {}

    def parse(self, body: Any) -> Completion:
        if isinstance(body, list):  # a non-SSE stream body: a JSON array of chunks
            deltas = [d for chunk in body for d in _chunk_deltas(chunk)]
            return Completion(
                text="".join(d.text for d in deltas),
                reasoning="".join(d.reasoning for d in deltas) or None,
                finish=next((d.finish for d in reversed(deltas) if d.finish), None),
                usage=next((d.usage for d in reversed(deltas) if d.usage), {}) or {},
                model=next((d.model for d in deltas if d.model), None),
            )
        if not isinstance(body, dict):
            raise ValueError("the answer is not a JSON object")
        if not body.get("candidates") and not body.get("promptFeedback"):
            raise ValueError("the answer has no 'candidates'")
        (d,) = _chunk_deltas(body)
        return Completion(text=d.text, reasoning=d.reasoning or None, finish=d.finish,
                          usage=d.usage or {}, model=d.model)

    def stream(self) -> _GeminiStream:
        return _GeminiStream()

    def rejects_format(self, status: int, message: str) -> bool:
        return mentions_format(status, message) or "invalid json payload" in message.lower()

    def error_message(self, body: Any) -> str | None:
        return error_message(body)


def _chunk_deltas(chunk: Any) -> list[Delta]:
    if not isinstance(chunk, dict):
        return []
    if "error" in chunk and not chunk.get("candidates"):
        return [Delta(error=error_message(chunk) or "the server sent an error")]
    out = Delta(model=chunk.get("modelVersion"))
    feedback = chunk.get("promptFeedback") or {}
    if feedback.get("blockReason"):
        out.finish = "content_filter"
    for cand in (chunk.get("candidates") or [])[:1]:
        for part in ((cand.get("content") or {}).get("parts")) or ():
            if not isinstance(part, dict):
                continue
            if part.get("thought"):
                out.reasoning += part.get("text") or ""
            elif "functionCall" in part:
                out.text += json.dumps((part["functionCall"] or {}).get("args"),
                                       ensure_ascii=False)
            else:
                out.text += part.get("text") or ""
        reason = cand.get("finishReason")
        if reason:
            kind = finish_kind(reason)
            out.finish = "stop" if kind == "finish_reason_unspecified" else kind
    if chunk.get("usageMetadata"):
        out.usage = _usage(chunk["usageMetadata"])
    return [out]


class _GeminiStream:
    __slots__ = ()

    def feed(self, event: str, data: str) -> list[Delta]:
        if not data.strip():
            return []
        deltas = _chunk_deltas(json.loads(data))
        for d in deltas:
            if d.finish:
                d.done = True
        return deltas
