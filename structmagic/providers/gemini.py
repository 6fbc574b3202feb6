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

Images and PDFs (:data:`GEMINI_INPUTS`): parts beside the text -- ``{"inline_data":
{"mime_type", "data"}}`` for bytes, ``{"file_data": {"mime_type", "file_uri"}}`` for a URL
(whose type is taken from its name, the only thing known of it here); PNG, JPEG and WebP
images (a GIF is converted) and ``application/pdf``.

Answer: ``candidates[0].content.parts`` -- ``thought: true`` parts are reasoning, other
``text`` parts the answer, unless a ``functionCall`` came: its ``args`` are then the answer as
JSON, and the text beside it is not (of several calls, the one named like the schema's tool,
else the first); ``finishReason``
``MAX_TOKENS`` is truncation, ``SAFETY`` / ``PROHIBITED_CONTENT`` / ``RECITATION`` /
``BLOCKLIST`` / ``SPII`` a content filter, as is ``promptFeedback.blockReason``. Usage from
``usageMetadata`` (thought tokens count as completion tokens), the model from
``modelVersion``. A stream sends whole response chunks as ``data:`` and has no end marker:
the chunk that carries a finish reason ends it.

Schema policy (:data:`GEMINI_JSON`): ``responseJsonSchema`` takes a subset of JSON Schema
(``$ref``/``$defs``, ``anyOf``, ``enum`` of strings and numbers, ``minimum``/``maximum``,
``minItems``/``maxItems``, ``prefixItems``, ``additionalProperties``, ...). Optional
properties stay optional and any root type is sent as it is; other keywords are said in the
description (and validated on our side). The OpenAPI subset of ``responseSchema`` and of
function declarations is :func:`structmagic.schema.to_openapi_schema` of that request.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from ..inputs.parts import JPEG, PDF, PNG, WEBP, InputLimits, MediaTokens, Part
from ..schema import Dialect, to_openapi_schema
from .base import (
    JSON_OBJECT,
    JSON_SCHEMA,
    PROMPT,
    TOOLS,
    Accumulator,
    Call,
    Capabilities,
    Completion,
    Delta,
    Provider,
    UsageReader,
    content_items,
    content_text,
    finish_kind,
    has_parts,
    read_count,
    transient_error,
)
from .batch import (
    CANCELLED,
    COMPLETED,
    ERRORED,
    EXPIRED,
    FAILED,
    IN_PROGRESS,
    SUCCEEDED,
    VALIDATING,
    BatchAPI,
    BatchLimits,
    JobInfo,
    LineError,
    RowOutcome,
    Upload,
    as_object,
    dump,
    json_int,
    unix_time,
)

if TYPE_CHECKING:
    from ..schema import Conversion

__all__ = [
    "GEMINI_INPUTS",
    "GEMINI_JSON",
    "JSON_SCHEMA_OPENAPI",
    "PROVIDER",
    "Gemini",
    "GeminiBatches",
    "error_message",
]

#: Gemini's documented input limits: PNG, JPEG, WebP (and HEIC/HEIF, not recognised here)
#: images, PDFs; inline data up to 20 MB per request; up to 3,600 images; images are scaled
#: to fit 3072 x 3072, so nothing larger is of use
GEMINI_INPUTS = InputLimits(
    image_types=frozenset({PNG, JPEG, WEBP}),
    document_types=frozenset({PDF}),
    image_urls=True,
    document_urls=True,
    url_needs_type=True,
    max_image_bytes=20_000_000,
    max_document_bytes=20_000_000,
    max_request_bytes=20_000_000,
    max_images=3600,
    max_edge=3072,
    # 258 tokens for an image within 384 px on both sides, else 258 for each 768-px tile;
    # 258 a PDF page
    tokens=MediaTokens(tile=768, tile_tokens=258, small_edge=384, page=258),
)

#: Gemini's own mode: the OpenAPI-subset ``responseSchema`` (no ``$ref``)
JSON_SCHEMA_OPENAPI = "json_schema_openapi"
MODES = (JSON_SCHEMA, JSON_SCHEMA_OPENAPI, JSON_OBJECT, TOOLS)
_KNOWN_MODES = (*MODES, PROMPT)

#: what ``responseJsonSchema`` takes
GEMINI_JSON = Dialect(
    title="Gemini's responseJsonSchema",
    keywords=frozenset({
        "$id", "$defs", "$ref", "$anchor", "type", "format", "title", "description", "enum",
        "items", "prefixItems", "minItems", "maxItems", "minimum", "maximum", "anyOf",
        "oneOf", "properties", "additionalProperties", "required", "propertyOrdering",
    }),
    formats=None,
    all_required=False,
    closed_objects=False,
    object_root=False,
    recursion=True,
    typed=False,
    enum_types=frozenset({"string", "number", "integer"}),
    describe_meaning=True,
)
_FILTERED = ("safety", "recitation", "blocklist", "prohibited_content", "spii",
             "image_safety", "image_prohibited_content", "image_recitation")


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
    read = UsageReader(raw)
    out: dict[str, int] = {}
    if (prompt := read.count("promptTokenCount")) is not None:
        out["prompt_tokens"] = prompt
    counts = [n for k in ("candidatesTokenCount", "thoughtsTokenCount")
              if (n := read.count(k)) is not None]
    if counts:
        out["completion_tokens"] = sum(counts)
    if (total := read.count("totalTokenCount")) is not None:
        out["total_tokens"] = total
    elif out:
        out["total_tokens"] = sum(out.values())
    cached = read.count("cachedContentTokenCount")
    if cached:  # part of promptTokenCount, priced lower
        out["cached_tokens"] = cached
    return read.usage(out)


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


def _states() -> dict[str, str]:
    words = {"PENDING": VALIDATING, "UNSPECIFIED": VALIDATING, "RUNNING": IN_PROGRESS,
             "SUCCEEDED": COMPLETED, "FAILED": FAILED, "CANCELLED": CANCELLED,
             "EXPIRED": EXPIRED}
    return {f"{prefix}_STATE_{word}": status for prefix in ("BATCH", "JOB")
            for word, status in words.items()}


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


class GeminiBatches(BatchAPI):
    """Gemini's batch mode (``models/{model}:batchGenerateContent``).

    Submit: ``POST {base}/models/{m}:batchGenerateContent {"batch": {"displayName",
    "inputConfig": ...}}``: the requests inline (``{"requests": {"requests": [{"request",
    "metadata": {"key"}}]}}``) up to 20 MB, else an uploaded JSONL file of ``{"key",
    "request"}`` lines (``{"fileName": "files/..."}``; uploaded with the Files API's
    resumable protocol on ``/upload{version}/files``). The answer is an operation named
    ``batches/{id}``; poll ``GET {base}/batches/{id}``: ``metadata.state``
    ``BATCH_STATE_PENDING`` / ``RUNNING`` / ``SUCCEEDED`` / ``FAILED`` / ``CANCELLED`` /
    ``EXPIRED`` and ``metadata.batchStats``. Results, in input order: inline responses
    (``response.inlinedResponses.inlinedResponses[]``, each ``{"response"}`` or ``{"error"}``
    with its ``metadata.key``), or the lines of ``response.responsesFile``
    (``GET /download{version}/{file}:download?alt=media``). Our job name is the display name.
    """

    flow = "mixed"
    limits = BatchLimits(max_requests=None, max_bytes=2 * 1024**3,
                         inline_bytes=20 * 1024 * 1024)
    statuses = _states()

    def line(self, custom_id: str, endpoint: str, body_json: str) -> str:
        return f'{{"key":{dump(custom_id)},"request":{body_json}}}'

    def inline_container(self, name: str) -> tuple[bytes, bytes, bytes]:
        head = ('{"batch":{"displayName":' + dump(name)
                + ',"inputConfig":{"requests":{"requests":[')
        return head.encode("utf-8"), b",", b"]}}}}"

    def inline_item(self, line: bytes) -> bytes:
        obj = json.loads(line)
        return dump({"request": obj["request"], "metadata": {"key": obj["key"]}}).encode(
            "utf-8")

    @staticmethod
    def _root(base_url: str) -> tuple[str, str]:
        """``(scheme://host, /v1beta)`` of the base URL."""
        parts = urlsplit(base_url)
        return f"{parts.scheme}://{parts.netloc}", parts.path

    def upload(self, base_url: str, name: str, size: int) -> Upload:
        root, version = self._root(base_url)
        return Upload("resumable", f"{root}/upload{version}/files", headers={
            "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": "application/jsonl",
        }, json={"file": {"displayName": name}})

    def file_id(self, body: Any) -> str:
        file = body.get("file") if isinstance(body, dict) else None
        if not isinstance(file, dict) or not isinstance(file.get("name"), str):
            raise ValueError("the upload's answer has no 'file.name'")
        return file["name"]

    def create(self, base_url: str, *, endpoint: str, name: str, file_id: str | None
               ) -> tuple[str, dict[str, Any] | None]:
        url = base_url + endpoint.replace(":generateContent", ":batchGenerateContent")
        if file_id is None:
            return url, None
        return url, {"batch": {"displayName": name, "inputConfig": {"fileName": file_id}}}

    def job_url(self, base_url: str, job_id: str) -> str:
        return f"{base_url}/{job_id}"

    def cancel_url(self, base_url: str, job_id: str) -> str:
        return f"{base_url}/{job_id}:cancel"

    def list_url(self, base_url: str, cursor: str | None = None) -> str:
        return f"{base_url}/batches?pageSize=100" + (f"&pageToken={cursor}" if cursor else "")

    def list_page(self, body: Any) -> tuple[list[JobInfo], str | None]:
        if not isinstance(body, dict):
            raise ValueError("the list is not a JSON object")
        items = _first(body.get("operations"), body.get("batches")) or []
        jobs = [self.job(item) for item in items if isinstance(item, dict) and item.get("name")]
        token = body.get("nextPageToken")
        return jobs, (str(token) if token else None)

    def files_url(self, base_url: str, cursor: str | None = None) -> str:
        return f"{base_url}/files?pageSize=100" + (f"&pageToken={cursor}" if cursor else "")

    def files_page(self, body: Any) -> tuple[list[tuple[str, str]], str | None]:
        if not isinstance(body, dict):
            raise ValueError("the list is not a JSON object")
        files = [(str(f["name"]), str(f.get("displayName") or "")) for f in
                 body.get("files") or () if isinstance(f, dict) and f.get("name")]
        token = body.get("nextPageToken")
        return files, (str(token) if token else None)

    def job(self, body: Any) -> JobInfo:
        """An operation (``{"name", "metadata": <batch>, "done", "response"}``) or a batch."""
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise ValueError("the answer is not a batch operation (no 'name')")
        meta = as_object(body.get("metadata")) or body
        raw = str(_first(meta.get("state"), body.get("state")) or "")
        stats = as_object(meta.get("batchStats"))
        output = self._output(body, meta)
        inline = output.get("inlinedResponses")
        if isinstance(inline, dict):
            inline = _first(inline.get("inlinedResponses"), inline.get("responses"))
        file = output.get("responsesFile")
        err = as_object(body.get("error"))
        return JobInfo(
            id=body["name"], status=self.status_of(raw), raw_status=raw,
            total=json_int(stats["requestCount"]) if "requestCount" in stats else None,
            completed=json_int(stats.get("successfulRequestCount")),
            failed=json_int(stats.get("failedRequestCount")),
            name=meta.get("displayName"), created=unix_time(meta.get("createTime")),
            outputs=(file,) if isinstance(file, str) and file else (),
            errors=(LineError(None, str(err.get("code") or "") or None,
                              str(err.get("message") or "the batch failed")),) if err else (),
            inline=inline if isinstance(inline, list) else None,
        )

    @staticmethod
    def _output(body: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
        for holder in (body.get("response"), meta.get("output"), body.get("output")):
            if not isinstance(holder, dict):
                continue
            if isinstance(holder.get("output"), dict):
                holder = holder["output"]
            if "inlinedResponses" in holder or "responsesFile" in holder:
                return holder
        return {}

    def result_urls(self, base_url: str, info: JobInfo) -> list[str]:
        root, version = self._root(base_url)
        return [f"{root}/download{version}/{quote(f, safe='/')}:download?alt=media"
                for f in info.outputs]

    def outcome(self, obj: Any) -> RowOutcome:
        if not isinstance(obj, dict):
            raise ValueError("the result is not a JSON object")
        meta = as_object(obj.get("metadata"))
        key = _first(obj.get("key"), meta.get("key"))
        key = str(key) if key is not None else None
        if isinstance(obj.get("response"), dict):
            return RowOutcome(key, SUCCEEDED, body=obj["response"], status=200)
        err = obj.get("error")
        if isinstance(err, dict):
            code = err.get("code")
            return RowOutcome(key, ERRORED, code=str(code) if code is not None else None,
                              message=str(err.get("message") or "error"))
        return RowOutcome(key, ERRORED, message="the result has neither a response nor an error")


class Gemini(Provider):
    """The Gemini generateContent wire format."""

    name = "gemini"
    title = "Gemini generateContent"
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"
    version_path = "/v1beta"
    base_url_envs = ("GEMINI_BASE_URL",)
    default_model = "gemini-2.5-flash"
    key_envs = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY")
    modes = MODES
    capabilities = Capabilities(strict_schema=False, streaming=True, thinking=True,
                                images=True, documents=True, batch_api=True)
    dialect = GEMINI_JSON
    rejection_words = ("function_declarations", "functiondeclarations", "tool_config",
                       "toolconfig", "function_calling_config", "functioncallingconfig",
                       "mime type")
    inputs = GEMINI_INPUTS
    price_table_id = "google"
    #: Gemini caches long prefixes on its own (implicit caching)
    cache_style = "auto"
    #: batchGenerateContent: 50% of the synchronous price, target 24 h
    batch_price_factor = 0.5

    def can_send(self, mode: str, request: Conversion) -> bool:
        """The OpenAPI subset cannot carry a recursive schema (it has no ``$ref``)."""
        if mode != JSON_SCHEMA_OPENAPI:
            return True
        try:
            to_openapi_schema(request.request)
        except ValueError:
            return False
        return True

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
            parts = [self._part(item) for item in content_items(m.get("content"))] \
                if has_parts(m.get("content")) else [{"text": text}]
            if contents and contents[-1]["role"] == role:
                contents[-1]["parts"].extend(parts)
            else:
                contents.append({"role": role, "parts": parts})
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
        gen: dict[str, Any] = {}
        if call.mode != TOOLS:
            gen["responseMimeType"] = "application/json"
        if call.mode == JSON_SCHEMA:
            gen["responseJsonSchema"] = call.schema
        elif call.mode == JSON_SCHEMA_OPENAPI:
            gen["responseSchema"] = to_openapi_schema(call.schema)
        elif call.mode == TOOLS:
            decl = call.named()
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

    def cache_minimum(self, model: str) -> int:
        """Gemini's implicit caching: 4,096 tokens on Pro models, 1,024 on the others."""
        return 4096 if "-pro" in model else 1024

    def logprobs_refusal(self, mode: str) -> str | None:
        """Always a reason: several Gemini models refuse ``responseLogprobs`` with an error,
        so it is not asked for."""
        return ("Gemini's log-probabilities are not asked for (several Gemini models refuse "
                "them with an error), so there is no per-field confidence; samples=K gives "
                "agreement instead")

    def auth_headers(self, key: str) -> dict[str, str]:
        """``x-goog-api-key: KEY`` (never ``?key=`` in the URL)."""
        return {"x-goog-api-key": key}

    def count_request(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        """``POST {base}/models/{model}:countTokens`` with the whole request as
        ``generateContentRequest`` (so the system instruction and the schema count too)."""
        url, body = self.build(call, base_url)
        model = call.model if call.model.startswith(("models/", "tunedModels/")) else (
            f"models/{call.model}")
        return (f"{url[: url.rindex(':')]}:countTokens",
                {"generateContentRequest": {"model": model, **body}})

    def parse_count(self, body: Any) -> int:
        """``{"totalTokens": N}``."""
        return read_count(body, "totalTokens")

    def parse(self, body: Any, tool: str | None = None) -> Completion:
        """A whole answer (or the JSON array a non-SSE stream gives) as a :class:`Completion`,
        read as a stream of those chunks is (``tool``: see :class:`Accumulator`)."""
        chunks = body if isinstance(body, list) else [body]
        if not chunks or not all(isinstance(c, dict) for c in chunks):
            raise ValueError("the answer is not a JSON object")
        if not any(c.get("candidates") or c.get("promptFeedback") for c in chunks):
            problem = error_message(chunks[0])
            raise ValueError(f"the answer is an error: {problem}" if problem
                             else "the answer has no 'candidates'")
        translator = _GeminiStream()
        acc = Accumulator(tool=tool)
        for chunk in chunks:
            acc.add(translator.translate(chunk))
        return acc.completion()

    def stream(self) -> _GeminiStream:
        """A fresh translator for one streamed answer."""
        return _GeminiStream()

    def error_message(self, body: Any) -> str | None:
        """See :func:`error_message`."""
        return error_message(body)

    def render_part(self, part: Part) -> dict[str, Any]:
        """``inline_data`` for bytes, ``file_data`` for a URL."""
        if part.url is not None:
            if part.mime is None:
                raise ValueError("Gemini needs the MIME type of a URL's content")
            return {"file_data": {"mime_type": part.mime, "file_uri": part.url}}
        return {"inline_data": {"mime_type": part.mime, "data": part.b64}}

    def _part(self, item: Any) -> Any:
        if isinstance(item, str):
            return {"text": item}
        return self.render_part(item) if isinstance(item, Part) else item

    # --- the batch API ------------------------------------------------------------------------

    batch_api = GeminiBatches()


class _GeminiStream:
    """Translates streamed ``GenerateContentResponse`` chunks into :class:`Delta` pieces.

    Each ``functionCall`` part is a call, whole (Gemini does not stream a call's
    arguments), numbered in order: its ``args`` are :attr:`Delta.tool`, never text, and the
    Accumulator chooses the answer among the calls; a finish of ``STOP`` after a call is
    reported as ``tool``.
    """

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls = 0

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
            return [Delta(error=error_message(chunk) or "the server sent an error",
                          transient=transient_error(chunk))]
        out = Delta(model=chunk.get("modelVersion") or None)
        calls: list[Delta] = []
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
                    call = part["functionCall"] if isinstance(part["functionCall"],
                                                              dict) else {}
                    args = call.get("args")
                    name = call.get("name")
                    calls.append(Delta(tool=json.dumps({} if args is None else args,
                                                       ensure_ascii=False),
                                       call=self._calls,
                                       name=name if isinstance(name, str) else None))
                    self._calls += 1
                elif part.get("thought"):
                    out.reasoning += str(part.get("text") or "")
                elif isinstance(part.get("text"), str):
                    out.text += part["text"]
            finish = _finish(cand.get("finishReason"))
            if finish == "stop" and self._calls:
                finish = "tool"
            out.finish = finish or out.finish
        if chunk.get("usageMetadata"):
            out.usage = _usage(chunk["usageMetadata"]) or None
        return [out, *calls]


#: the provider this module defines (see :mod:`structmagic.providers.registry`)
PROVIDER = Gemini
