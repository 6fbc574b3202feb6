"""OpenAI Chat Completions (``POST {base}/chat/completions``), the format most servers speak.

Headers: ``Authorization: Bearer KEY``. Request: ``model``, ``messages`` (as given), and per
mode: ``json_schema`` — ``response_format = {"type": "json_schema", "json_schema": {"name",
"description"?, "schema", "strict"}}``; ``json_object`` — ``response_format = {"type":
"json_object"}`` (the schema is in the system message); ``tools`` — one function tool
``{"name", "description"?, "parameters", "strict"?}`` forced by ``tool_choice``; ``prompt`` —
nothing added. Plus ``temperature``, ``max_tokens``, ``logprobs: true`` when the answer's token
log-probabilities are asked for (``confidence``; not with a forced tool, whose calls have
none), ``n`` when several answers are (``samples``), and ``stream`` with
``stream_options.include_usage``. Servers' own modes (:attr:`OpenAIChat.server_modes`, asked
where the server check found one enforced): ``structured_outputs: {"json": schema}`` (vLLM),
``json_schema: schema`` (llama.cpp), ``format: schema`` (Ollama). To a server that is not a
known vendor's (:func:`~structmagic.providers.base.known_vendor`), ``\\d`` and ``\\w`` in
the schema's patterns are written out as ``[0-9]`` and ``[A-Za-z0-9_]``
(:func:`~structmagic.schema.portable_patterns`).

Images and PDFs (:data:`OPENAI_INPUTS`): a user message with parts has list content — text as
``{"type": "text", "text"}``, an image as ``{"type": "image_url", "image_url": {"url": <URL or
data URL>, "detail"?}}``, a PDF as ``{"type": "file", "file": {"filename", "file_data": <data
URL>}}`` (Chat Completions takes no PDF by URL).

Schema policy: OpenAI's strict mode (:data:`OPENAI_STRICT`): every property required (optional
ones as a null union, mapped back), closed objects, an object root, the keywords and formats
strict mode supports, and every limit OpenAI documents. A schema that cannot be made strict
is sent with ``strict: false``.

Answer: ``choices[0].message`` — a tool call's ``arguments`` when it has ``tool_calls`` (the
call named like the schema's tool, else the first; ``content`` beside them is not the answer),
else ``content``; ``refusal``, ``reasoning_content`` (DeepSeek) or ``reasoning`` (vLLM,
OpenRouter); ``finish_reason``; ``logprobs.content`` (the text's tokens, as llama.cpp's
and vLLM's servers send them too). Stream: ``chat.completion.chunk`` events with
``choices[0].delta``, a usage-only last chunk with empty ``choices``, ``data: [DONE]``;
``delta.tool_calls[]`` pieces keyed by their ``index`` (the first names the function); an
``error`` object in a chunk (with or without ``choices``) is an error inside the stream.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from ..inputs.parts import IMAGE, IMAGE_TYPES, PDF, InputLimits, MediaTokens, Part
from ..schema import Dialect, Limits, portable_patterns
from .base import (
    JSON_OBJECT,
    JSON_SCHEMA,
    PROMPT,
    TOOLS,
    Call,
    Capabilities,
    Completion,
    Delta,
    Provider,
    UsageReader,
    chosen_call,
    content_items,
    content_text,
    finish_kind,
    has_parts,
    known_vendor,
    transient_error,
)
from .batch import (
    CANCELLED,
    CANCELLING,
    COMPLETED,
    ERRORED,
    EXPIRED,
    FAILED,
    FINALIZING,
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
)
from .logprobs import logprobs_of

__all__ = [
    "LLAMACPP_JSON_SCHEMA",
    "OLLAMA_FORMAT",
    "OPENAI_INPUTS",
    "OPENAI_LIMITS",
    "OPENAI_STRICT",
    "PROVIDER",
    "VLLM_STRUCTURED_OUTPUTS",
    "OpenAIBatchAPI",
    "OpenAIChat",
    "error_message",
]

#: OpenAI's documented input limits (Chat Completions): PNG, JPEG, WebP and non-animated GIF,
#: up to 500 images and 50 MB of payload per request (20 MB per image), PDFs as data up to
#: 32 MB; a high-detail image is scaled to fit 2048 x 2048 and then to 768 px on its short
#: side (512 x 512 for detail "low"), so nothing larger is of use
OPENAI_INPUTS = InputLimits(
    image_types=IMAGE_TYPES,
    document_types=frozenset({PDF}),
    image_urls=True,
    document_urls=False,
    detail=True,
    max_image_bytes=20_000_000,
    max_document_bytes=32_000_000,
    max_request_bytes=50_000_000,
    max_images=500,
    max_edge=2048,
    max_short_edge=768,
    low_detail_edge=512,
    # 85 tokens, plus 170 for each 512-px square of the image scaled to fit 2048 px with
    # its short side at most 768 px; 85 at detail "low". A PDF page: its text and a
    # picture of it, some 1,500 tokens.
    tokens=MediaTokens(tile=512, tile_tokens=170, base=85, low_detail=85, page=1500),
)

#: the limits OpenAI documents for one strict schema
OPENAI_LIMITS = Limits(
    max_properties=5000,
    max_depth=10,
    max_enum_values=1000,
    max_enum_chars=15000,
    enum_chars_from=250,
    max_total_chars=120_000,
)

#: OpenAI's strict structured outputs (Chat Completions and the Responses API alike)
OPENAI_STRICT = Dialect(
    title="OpenAI's strict mode",
    keywords=frozenset({
        "type", "properties", "required", "additionalProperties", "items", "enum", "const",
        "anyOf", "$ref", "$defs", "definitions", "description", "pattern", "format",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minItems", "maxItems",
    }),
    formats=frozenset({
        "date-time", "date", "time", "duration", "email", "hostname", "ipv4", "ipv6", "uuid",
    }),
    all_required=True,
    closed_objects=True,
    object_root=True,
    recursion=True,
    typed=True,
    limits=OPENAI_LIMITS,
)


#: servers' own ways of sending the schema on ``/chat/completions`` (modes of this format,
#: asked first for a server the server check found enforcing one): vLLM's
#: ``structured_outputs: {"json": schema}``, llama.cpp's ``json_schema: schema``, Ollama's
#: ``format: schema``
VLLM_STRUCTURED_OUTPUTS = "vllm_structured_outputs"
LLAMACPP_JSON_SCHEMA = "llamacpp_json_schema"
OLLAMA_FORMAT = "ollama_format"


def _usage(raw: Any) -> dict[str, int]:
    read = UsageReader(raw)
    out = {k: n for k in ("prompt_tokens", "completion_tokens", "total_tokens")
           if (n := read.count(k)) is not None}
    if out and "total_tokens" not in out:
        out["total_tokens"] = out.get("prompt_tokens", 0) + out.get("completion_tokens", 0)
    cached = read.count("cached_tokens", within="prompt_tokens_details")
    if cached:  # part of prompt_tokens, priced lower
        out["cached_tokens"] = cached
    return read.usage(out)


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _index(choice: dict[str, Any]) -> int:
    """A choice's ``index`` (0 when it has none)."""
    index = choice.get("index", 0)
    return index if type(index) is int else 0


def _logprobs(choice: Any) -> tuple[Any, str | None]:
    """The content tokens' log-probabilities of a choice (``logprobs.content``), read."""
    held = choice.get("logprobs") if isinstance(choice, dict) else None
    return logprobs_of(held.get("content") if isinstance(held, dict) else None)


def _reasoning(message: dict[str, Any]) -> str:
    # DeepSeek: reasoning_content; vLLM / OpenRouter: reasoning. Read both.
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


class OpenAIBatchAPI(BatchAPI):
    """The OpenAI batch API (``/v1/files`` + ``/v1/batches``), for Chat Completions and the
    Responses API alike; LiteLLM's proxy, vLLM and other compatible servers speak it too.

    Submit: upload the JSONL input file (multipart, ``purpose=batch``; one line
    ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}`` per request),
    then ``POST /v1/batches {input_file_id, endpoint, completion_window: "24h", metadata}``;
    our job name goes in ``metadata`` (and the file's name), so a job created just before a
    crash is found again. Poll ``GET /v1/batches/{id}``; results are the lines of
    ``output_file_id`` and ``error_file_id`` (``GET /v1/files/{id}/content``). A line's
    ``response.status_code`` decides: anything but 200 is a failure, even with ``"error":
    null``.
    """

    flow = "files"
    limits = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024)
    statuses: ClassVar[Mapping[str, str]] = {s: s for s in (
        VALIDATING, IN_PROGRESS, FINALIZING, COMPLETED, FAILED, EXPIRED, CANCELLING, CANCELLED)}
    #: the metadata key that carries our job name
    metadata_key = "structmagic_job"

    def endpoint(self, url: str, base_url: str) -> str:
        """``/v1`` + the path after the base URL (``/v1/chat/completions``), whatever the
        base URL's own path is: batch lines name OpenAI's endpoints."""
        return "/v1" + super().endpoint(url, base_url)

    def line(self, custom_id: str, endpoint: str, body_json: str) -> str:
        return (f'{{"custom_id":{dump(custom_id)},"method":"POST","url":{dump(endpoint)},'
                f'"body":{body_json}}}')

    def upload(self, base_url: str, name: str, size: int) -> Upload:
        return Upload("multipart", f"{base_url}/files", fields={"purpose": "batch"})

    def file_id(self, body: Any) -> str:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise ValueError("the upload's answer has no file 'id'")
        return body["id"]

    def create(self, base_url: str, *, endpoint: str, name: str, file_id: str | None
               ) -> tuple[str, dict[str, Any]]:
        return f"{base_url}/batches", {"input_file_id": file_id, "endpoint": endpoint,
                                       "completion_window": self.window,
                                       "metadata": {self.metadata_key: name}}

    def job_url(self, base_url: str, job_id: str) -> str:
        return f"{base_url}/batches/{job_id}"

    def cancel_url(self, base_url: str, job_id: str) -> str:
        return f"{base_url}/batches/{job_id}/cancel"

    def list_url(self, base_url: str, cursor: str | None = None) -> str:
        return f"{base_url}/batches?limit=100" + (f"&after={cursor}" if cursor else "")

    def list_page(self, body: Any) -> tuple[list[JobInfo], str | None]:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise ValueError("the list has no 'data'")
        jobs = [self.job(item) for item in data if isinstance(item, dict) and item.get("id")]
        more = bool(body.get("has_more")) and jobs
        return jobs, (jobs[-1].id if more else None)

    def files_url(self, base_url: str, cursor: str | None = None) -> str:
        return f"{base_url}/files?purpose=batch&limit=100" + (f"&after={cursor}" if cursor
                                                              else "")

    def files_page(self, body: Any) -> tuple[list[tuple[str, str]], str | None]:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise ValueError("the list has no 'data'")
        files = [(str(f["id"]), str(f.get("filename") or "")) for f in data
                 if isinstance(f, dict) and f.get("id")]
        more = bool(body.get("has_more")) and files
        return files, (files[-1][0] if more else None)

    def job(self, body: Any) -> JobInfo:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise ValueError("the answer is not a batch object (no 'id')")
        raw = str(body.get("status") or "")
        counts = as_object(body.get("request_counts"))
        errors = as_object(body.get("errors"))
        lines = tuple(
            LineError(json_int(e.get("line"), 0) or None,
                      str(e["code"]) if e.get("code") else None,
                      str(e.get("message") or e.get("code") or "error"))
            for e in errors.get("data") or () if isinstance(e, dict))
        metadata = as_object(body.get("metadata"))
        created = body.get("created_at")
        return JobInfo(
            id=body["id"], status=self.status_of(raw), raw_status=raw,
            total=json_int(counts.get("total"), 0) if "total" in counts else None,
            completed=json_int(counts.get("completed")), failed=json_int(counts.get("failed")),
            name=metadata.get(self.metadata_key),
            created=float(created) if isinstance(created, (int, float)) else None,
            outputs=tuple(f for f in (body.get("output_file_id"), body.get("error_file_id"))
                          if isinstance(f, str) and f),
            errors=lines,
        )

    def result_urls(self, base_url: str, info: JobInfo) -> list[str]:
        return [f"{base_url}/files/{file_id}/content" for file_id in info.outputs]

    def outcome(self, obj: Any) -> RowOutcome:
        if not isinstance(obj, dict):
            raise ValueError("the line is not a JSON object")
        cid = obj.get("custom_id")
        cid = cid if isinstance(cid, str) else None
        err = obj.get("error") if isinstance(obj.get("error"), dict) else None
        code = str(err["code"]) if err and err.get("code") else None
        kind = {"batch_expired": EXPIRED, "batch_cancelled": CANCELLED}.get(code or "",
                                                                           ERRORED)
        resp = obj.get("response")
        if isinstance(resp, dict):
            status = resp.get("status_code")
            if status == 200 and err is None:
                return RowOutcome(cid, SUCCEEDED, body=resp.get("body"), status=200)
            status = status if isinstance(status, int) and not isinstance(status, bool) else None
            message = (error_message(resp.get("body")) or (error_message({"error": err})
                                                           if err else None)
                       or ("no answer (status_code 0)" if status == 0
                           else f"HTTP {status}" if status else "no status code"))
            return RowOutcome(cid, kind, status=status, code=code, message=message)
        if err is not None:
            return RowOutcome(cid, kind, code=code,
                              message=error_message({"error": err}) or code or "error")
        return RowOutcome(cid, ERRORED, message="the line has neither a response nor an error")


class OpenAIChat(Provider):
    """The Chat Completions wire format."""

    name = "openai"
    title = "OpenAI Chat Completions"
    default_base_url = "https://api.openai.com/v1"
    base_url_envs = ("OPENAI_BASE_URL",)
    default_model = "gpt-4o-mini"
    key_envs = ("OPENAI_API_KEY",)
    modes = (JSON_SCHEMA, JSON_OBJECT, TOOLS, PROMPT)
    server_modes = (VLLM_STRUCTURED_OUTPUTS, LLAMACPP_JSON_SCHEMA, OLLAMA_FORMAT)
    capabilities = Capabilities(strict_schema=True, streaming=True, thinking=False,
                                images=True, documents=True, batch_api=True)
    dialect = OPENAI_STRICT
    inputs = OPENAI_INPUTS
    #: ``n``: several answers in one request (``samples=K``)
    samples_in_one = True
    price_table_id = "openai"
    #: OpenAI caches every prompt prefix of 1,024 tokens or more on its own, in steps of 128
    cache_style = "auto"
    cache_step = 128
    #: the Batch API: 50% of the synchronous price, results within 24 h
    batch_price_factor = 0.5

    def build(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": call.model,
                                "messages": [self._message(m) for m in call.messages]}
        # another server's grammar engine may reject \d and \w: written out for it
        schema = call.schema if known_vendor(base_url) else portable_patterns(call.schema)
        if call.mode == JSON_SCHEMA:
            spec = call.named()
            spec["schema"] = schema
            spec["strict"] = call.strict
            body["response_format"] = {"type": "json_schema", "json_schema": spec}
        elif call.mode == JSON_OBJECT:
            body["response_format"] = {"type": "json_object"}
        elif call.mode == VLLM_STRUCTURED_OUTPUTS:
            body["structured_outputs"] = {"json": schema}
        elif call.mode == LLAMACPP_JSON_SCHEMA:
            body["json_schema"] = schema
        elif call.mode == OLLAMA_FORMAT:
            body["format"] = schema
        elif call.mode == TOOLS:
            function = call.named()
            function["parameters"] = schema
            if call.strict:
                function["strict"] = True
            body["tools"] = [{"type": "function", "function": function}]
            body["tool_choice"] = {"type": "function", "function": {"name": call.schema_name}}
        if call.temperature is not None:
            body["temperature"] = call.temperature
        if call.max_tokens is not None:
            body["max_tokens"] = call.max_tokens
        if call.logprobs and self.logprobs_refusal(call.mode) is None:
            body["logprobs"] = True
        if call.n > 1:
            body["n"] = call.n
        if call.cache is not None and call.cache.key:
            body["prompt_cache_key"] = call.cache.key
        if call.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return f"{base_url}/chat/completions", body

    def cache_minimum(self, model: str) -> int:
        """OpenAI caches prompts of 1,024 tokens or more (then in steps of 128)."""
        return 1024

    def logprobs_refusal(self, mode: str) -> str | None:
        """None (``logprobs: true`` is sent), but for a forced tool: tool calls come with
        no log-probabilities."""
        if mode == TOOLS:
            return ("a forced tool call (mode tools) comes with no token log-probabilities, "
                    "so there is no per-field confidence")
        return None

    def _message(self, message: Any) -> dict[str, Any]:
        """A message as sent: as given, or with its parts rendered as content blocks."""
        if not has_parts(message.get("content")):
            return dict(message)
        blocks = [{"type": "text", "text": item} if isinstance(item, str)
                  else self.render_part(item) if isinstance(item, Part) else item
                  for item in content_items(message["content"])]
        return {**message, "content": blocks}

    def render_part(self, part: Part) -> dict[str, Any]:
        """``image_url`` (a URL or a data URL, with ``detail`` when asked) or ``file``."""
        if part.kind == IMAGE:
            image: dict[str, Any] = {"url": part.url or part.data_url}
            if part.detail:
                image["detail"] = part.detail
            return {"type": "image_url", "image_url": image}
        if part.url is not None:
            raise ValueError("Chat Completions takes a PDF as data only, not by URL")
        return {"type": "file", "file": {"filename": part.filename,
                                         "file_data": part.data_url}}

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def parse(self, body: Any, tool: str | None = None) -> Completion:
        """A ``chat.completion`` as a :class:`Completion`: the arguments of the tool call
        named ``tool`` (else the first call) when there are calls, else the content."""
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise ValueError("the answer has no 'choices' list")
        if not body["choices"]:
            raise ValueError("the answer's 'choices' list is empty")
        choices = [c if isinstance(c, dict) else {} for c in body["choices"]]
        if len(choices) > 1:
            choices.sort(key=_index)
        usage, model = _usage(body.get("usage")), body.get("model")
        others = tuple(self._choice(c, tool, {}, model) for c in choices[1:])
        return self._choice(choices[0], tool, usage, model, others)

    def _choice(self, choice: dict[str, Any], tool: str | None, usage: dict[str, int],
                model: Any, others: tuple[Completion, ...] = ()) -> Completion:
        """One choice of an answer; ``usage``: the answer's (the first choice carries it);
        ``others``: the answer's other choices."""
        message = choice.get("message") or {}
        calls = [c.get("function") or {} for c in message.get("tool_calls") or ()
                 if isinstance(c, dict)]
        chosen = chosen_call([_name(f.get("name")) for f in calls], tool)
        text = content_text(calls[chosen].get("arguments") if chosen is not None
                            else message.get("content"))
        logprobs, problem = (None, None) if chosen is not None else _logprobs(choice)
        return Completion(
            text=text,
            reasoning=_reasoning(message) or None,
            refusal=message.get("refusal") or None,
            finish=finish_kind(choice.get("finish_reason")),
            usage=usage,
            model=model,
            called=chosen is not None,
            logprobs=logprobs,
            logprobs_problem=problem,
            others=others,
        )

    def stream(self) -> _ChatStream:
        return _ChatStream()

    def error_message(self, body: Any) -> str | None:
        return error_message(body)

    # --- the batch API ------------------------------------------------------------------------

    batch_api = OpenAIBatchAPI()


def error_message(body: Any) -> str | None:
    """The message of an error body: ``{"error": {"message"}}``, ``{"error": "..."}``,
    ``{"message"}`` or ``{"detail"}``."""
    if not isinstance(body, dict):
        return None
    err = body.get("error", body)
    if isinstance(err, str):
        return err
    if isinstance(err, dict):
        for key in ("message", "detail", "msg"):
            value = err.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, (dict, list)):
                return json.dumps(value, ensure_ascii=False)[:500]
    return None


class _ChatStream:
    """Translates ``chat.completion.chunk`` events.

    Each ``delta.tool_calls[]`` item is a piece of the call its ``index`` says (0 when it
    says none): :attr:`Delta.tool`, never text; the Accumulator chooses the answer among the
    calls as :meth:`OpenAIChat.parse` does.
    """

    __slots__ = ()

    def feed(self, event: str, data: str) -> list[Delta]:
        if data == "[DONE]":
            return [Delta(done=True)]
        if not data.strip():
            return []
        obj = json.loads(data)
        if not isinstance(obj, dict):
            return []
        if obj.get("error"):  # with or without choices (OpenRouter sends both)
            return [Delta(error=error_message(obj) or "the server sent an error event",
                          transient=transient_error(obj))]
        out = Delta(model=obj.get("model"))
        pieces: list[Delta] = []
        usage = obj.get("usage")
        if usage:
            out.usage = _usage(usage)
        for choice in obj.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            index = _index(choice)
            # the first answer's pieces in ``out``; another's (``n`` > 1) in its own
            piece = out if index == 0 else Delta(choice=index)
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                piece.text += content_text(content)
            piece.logprobs, piece.logprobs_problem = _logprobs(choice)
            refusal = delta.get("refusal")
            if refusal:
                piece.refusal += refusal
            reasoning = _reasoning(delta)
            if reasoning:
                piece.reasoning += reasoning
            for call in delta.get("tool_calls") or ():
                if not isinstance(call, dict):
                    continue
                function = call.get("function") or {}
                number = call.get("index", 0)
                args = function.get("arguments")
                pieces.append(Delta(
                    tool=args if isinstance(args, str) else "",
                    call=number if isinstance(number, int) and not isinstance(number, bool)
                    else 0, name=_name(function.get("name")) or None, choice=index))
            piece.finish = finish_kind(choice.get("finish_reason")) or piece.finish
            if piece is not out:
                pieces.append(piece)
        return [out, *pieces]


#: the provider this module defines (see :mod:`structmagic.providers.registry`)
PROVIDER = OpenAIChat
