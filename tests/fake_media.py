"""What the fake server checks in the images and documents it receives, per wire format.

:func:`part_problems` reads a request body in one provider's format and lists what is wrong
with its content parts (a shape the vendor documents differently, base64 that does not
decode, a declared type that is not what the bytes are); :func:`checking` wraps a responder
so that such a request is answered with a 400 naming the problem, as a strict server would.
:func:`received_parts` lists the parts a request carried, decoded, for tests to compare with
what they gave.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fakeserver import RecordedRequest, Reply

__all__ = ["Received", "checking", "format_of", "part_problems", "received_parts"]

IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
_DATA_URL = re.compile(r"data:([\w.+/-]+);base64,(.*)", re.S)
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
          (b"GIF8", "image/gif"), (b"%PDF-", "application/pdf"))


def _sniff(data: bytes) -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass
class Received:
    """One part as the server got it: ``kind`` (image/document), ``mime`` (declared),
    ``data`` (decoded bytes) or ``url``, and ``detail`` when the format has one."""

    kind: str
    mime: str | None = None
    data: bytes | None = None
    url: str | None = None
    detail: str | None = None
    filename: str | None = None


def format_of(path: str) -> str:
    """The wire format a request path belongs to."""
    if path.endswith("/chat/completions"):
        return "openai"
    if path.endswith("/responses"):
        return "responses"
    if path.endswith("/messages"):
        return "anthropic"
    if ":generateContent" in path or ":streamGenerateContent" in path:
        return "gemini"
    raise ValueError(f"not a known endpoint: {path}")


class _Bad(ValueError):
    pass


def _b64(text: Any, where: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise _Bad(f"{where}: base64 data missing")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _Bad(f"{where}: not valid base64") from None


def _data_url(url: Any, where: str) -> tuple[str, bytes]:
    m = _DATA_URL.fullmatch(url) if isinstance(url, str) else None
    if m is None:
        raise _Bad(f"{where}: not a base64 data URL")
    return m.group(1), _b64(m.group(2), where)


def _typed(mime: Any, data: bytes, allowed: set[str], where: str) -> str:
    if mime not in allowed:
        raise _Bad(f"{where}: type {mime!r} not accepted")
    if _sniff(data) != mime:
        raise _Bad(f"{where}: declared {mime} but the bytes are {_sniff(data)}")
    return str(mime)


def _url(url: Any, where: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise _Bad(f"{where}: not an http(s) URL")
    return url


def _detail(value: Any, where: str, required: bool) -> str | None:
    if value is None and not required:
        return None
    if value not in ("low", "high", "auto"):
        raise _Bad(f"{where}: detail {value!r} is not low, high or auto")
    return str(value)


def _openai(block: dict[str, Any], where: str) -> Received | None:
    kind = block.get("type")
    if kind == "text":
        if set(block) != {"type", "text"} or not isinstance(block["text"], str):
            raise _Bad(f"{where}: a text part is {{type, text}}")
        return None
    if kind == "image_url":
        image = block.get("image_url")
        if set(block) != {"type", "image_url"} or not isinstance(image, dict) \
                or not set(image) <= {"url", "detail"}:
            raise _Bad(f"{where}: image_url is {{type, image_url: {{url, detail?}}}}")
        detail = _detail(image.get("detail"), where, required=False)
        url = image.get("url")
        if isinstance(url, str) and url.startswith("data:"):
            mime, data = _data_url(url, where)
            return Received("image", _typed(mime, data, IMAGE_TYPES, where), data, detail=detail)
        return Received("image", url=_url(url, where), detail=detail)
    if kind == "file":
        file = block.get("file")
        if set(block) != {"type", "file"} or not isinstance(file, dict) \
                or set(file) != {"filename", "file_data"} or not file.get("filename"):
            raise _Bad(f"{where}: file is {{type, file: {{filename, file_data}}}}")
        mime, data = _data_url(file["file_data"], where)
        return Received("document", _typed(mime, data, {"application/pdf"}, where), data,
                        filename=file["filename"])
    raise _Bad(f"{where}: unknown content part type {kind!r}")


def _responses(block: dict[str, Any], where: str) -> Received | None:
    kind = block.get("type")
    if kind in ("input_text", "output_text"):
        if set(block) != {"type", "text"}:
            raise _Bad(f"{where}: a text part is {{type, text}}")
        return None
    if kind == "input_image":
        if set(block) != {"type", "image_url", "detail"}:
            raise _Bad(f"{where}: input_image is {{type, image_url, detail}}")
        detail = _detail(block["detail"], where, required=True)
        url = block["image_url"]
        if isinstance(url, str) and url.startswith("data:"):
            mime, data = _data_url(url, where)
            return Received("image", _typed(mime, data, IMAGE_TYPES, where), data, detail=detail)
        return Received("image", url=_url(url, where), detail=detail)
    if kind == "input_file":
        if set(block) == {"type", "file_url"}:
            return Received("document", url=_url(block["file_url"], where))
        if set(block) != {"type", "filename", "file_data"} or not block.get("filename"):
            raise _Bad(f"{where}: input_file is {{type, filename, file_data}} or "
                       "{type, file_url}")
        mime, data = _data_url(block["file_data"], where)
        return Received("document", _typed(mime, data, {"application/pdf"}, where), data,
                        filename=block["filename"])
    raise _Bad(f"{where}: unknown input part type {kind!r}")


def _anthropic(block: dict[str, Any], where: str) -> Received | None:
    kind = block.get("type")
    if kind == "text":
        if set(block) != {"type", "text"}:
            raise _Bad(f"{where}: a text block is {{type, text}}")
        return None
    if kind not in ("image", "document"):
        raise _Bad(f"{where}: unknown content block type {kind!r}")
    source = block.get("source")
    if set(block) != {"type", "source"} or not isinstance(source, dict):
        raise _Bad(f"{where}: {kind} is {{type, source}}")
    out = "image" if kind == "image" else "document"
    if source.get("type") == "url":
        if set(source) != {"type", "url"}:
            raise _Bad(f"{where}: a url source is {{type, url}}")
        return Received(out, url=_url(source["url"], where))
    if source.get("type") != "base64" or set(source) != {"type", "media_type", "data"}:
        raise _Bad(f"{where}: a base64 source is {{type, media_type, data}}")
    data = _b64(source["data"], where)
    allowed = IMAGE_TYPES if kind == "image" else {"application/pdf"}
    return Received(out, _typed(source["media_type"], data, allowed, where), data)


def _gemini(part: dict[str, Any], where: str) -> Received | None:
    if set(part) == {"text"}:
        return None
    if set(part) == {"inline_data"}:
        inline = part["inline_data"]
        if not isinstance(inline, dict) or set(inline) != {"mime_type", "data"}:
            raise _Bad(f"{where}: inline_data is {{mime_type, data}}")
        data = _b64(inline["data"], where)
        allowed = {"image/png", "image/jpeg", "image/webp", "application/pdf"}
        mime = _typed(inline["mime_type"], data, allowed, where)
        return Received("document" if mime == "application/pdf" else "image", mime, data)
    if set(part) == {"file_data"}:
        file = part["file_data"]
        if not isinstance(file, dict) or set(file) != {"mime_type", "file_uri"}:
            raise _Bad(f"{where}: file_data is {{mime_type, file_uri}}")
        mime = file["mime_type"]
        if mime not in ("image/png", "image/jpeg", "image/webp", "application/pdf"):
            raise _Bad(f"{where}: type {mime!r} not accepted")
        return Received("document" if mime == "application/pdf" else "image", mime,
                        url=_url(file["file_uri"], where))
    raise _Bad(f"{where}: unknown part {sorted(part)}")


_READERS: dict[str, Callable[[dict[str, Any], str], Received | None]] = {
    "openai": _openai, "responses": _responses, "anthropic": _anthropic, "gemini": _gemini}


def _blocks(fmt: str, body: Any) -> list[tuple[str, Any]]:
    """Every content block of a request body, with where it is."""
    out: list[tuple[str, Any]] = []
    if fmt == "gemini":
        for i, turn in enumerate(body.get("contents") or []):
            for j, part in enumerate(turn.get("parts") or []):
                out.append((f"contents[{i}].parts[{j}]", part))
        return out
    turns = body.get("input") if fmt == "responses" else body.get("messages")
    for i, turn in enumerate(turns or []):
        content = turn.get("content") if isinstance(turn, dict) else None
        if isinstance(content, list):
            for j, block in enumerate(content):
                out.append((f"{'input' if fmt == 'responses' else 'messages'}[{i}]"
                            f".content[{j}]", block))
    return out


def _read(fmt: str, body: Any) -> list[Received]:
    parts = []
    for where, block in _blocks(fmt, body):
        if not isinstance(block, dict):
            raise _Bad(f"{where}: a content part is an object")
        got = _READERS[fmt](block, where)
        if got is not None:
            parts.append(got)
    return parts


def part_problems(fmt: str, body: Any) -> list[str]:
    """What is wrong with the content parts of a request body in format ``fmt`` ([] if
    nothing)."""
    try:
        _read(fmt, body)
    except _Bad as exc:
        return [str(exc)]
    return []


def received_parts(req: RecordedRequest) -> list[Received]:
    """The images and documents a request carried, decoded (asserts the shapes are right)."""
    fmt = format_of(req.path)
    problems = part_problems(fmt, req.json)
    assert not problems, problems
    return _read(fmt, req.json)


def checking(responder: Callable[[RecordedRequest], Reply]
             ) -> Callable[[RecordedRequest], Reply]:
    """``responder``, behind a check of the request's parts: a malformed part gets a 400."""

    def respond(req: RecordedRequest) -> Reply:
        if req.method == "POST" and req.json is not None:
            problems = part_problems(format_of(req.path), req.json)
            if problems:
                return Reply.status(400, f"fake server: malformed part: {problems[0]}")
        return responder(req)

    return respond
