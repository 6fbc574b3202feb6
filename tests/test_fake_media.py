"""The fake server's checks of image and document parts: the documented shape of each wire
format passes, a malformed one is named (and answered with a 400 by ``checking``)."""

from __future__ import annotations

import base64

import httpx
import pytest

from fake_media import checking, format_of, part_problems
from fakeserver import Reply
from media_helpers import PDF, answer_in_format

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 20
B64 = base64.b64encode(PNG).decode()
PDF64 = base64.b64encode(PDF).decode()
URL = "https://example.test/a.png"
DATA_PNG = f"data:image/png;base64,{B64}"
DATA_LIE = f"data:image/jpeg;base64,{B64}"
DATA_PDF = f"data:application/pdf;base64,{PDF64}"


def chat_body(*blocks):
    return {"messages": [{"role": "user", "content": [*blocks, {"type": "text", "text": "hi"}]}]}


def responses_body(*blocks):
    return {"input": [{"type": "message", "role": "user",
                       "content": [*blocks, {"type": "input_text", "text": "hi"}]}]}


def claude_body(*blocks):
    return {"messages": [{"role": "user", "content": [*blocks, {"type": "text", "text": "hi"}]}]}


def gemini_body(*parts):
    return {"contents": [{"role": "user", "parts": [*parts, {"text": "hi"}]}]}


GOOD = [
    ("openai", chat_body({"type": "image_url", "image_url": {"url": DATA_PNG,
                                                             "detail": "low"}},
                         {"type": "image_url", "image_url": {"url": URL}},
                         {"type": "file", "file": {"filename": "a.pdf",
                                                   "file_data": DATA_PDF}})),
    ("responses", responses_body({"type": "input_image", "image_url": URL, "detail": "auto"},
                                 {"type": "input_file", "filename": "a.pdf",
                                  "file_data": DATA_PDF},
                                 {"type": "input_file", "file_url": "https://example.test/a.pdf"})),
    ("anthropic", claude_body({"type": "image", "source": {"type": "base64",
                                                           "media_type": "image/png", "data": B64}},
                              {"type": "image", "source": {"type": "url", "url": URL}},
                              {"type": "document", "source": {"type": "base64",
                                                              "media_type": "application/pdf",
                                                              "data": PDF64}})),
    ("gemini", gemini_body({"inline_data": {"mime_type": "image/png", "data": B64}},
                           {"file_data": {"mime_type": "image/png", "file_uri": URL}},
                           {"inline_data": {"mime_type": "application/pdf", "data": PDF64}})),
]


@pytest.mark.parametrize(("fmt", "body"), GOOD)
def test_documented_shapes_pass(fmt, body):
    assert part_problems(fmt, body) == []


BAD = [
    ("openai", chat_body({"type": "image_url", "image_url": DATA_PNG}),
     "image_url is"),
    ("openai", chat_body({"type": "image_url", "image_url": {"url": DATA_LIE}}),
     "declared image/jpeg but the bytes are image/png"),
    ("openai", chat_body({"type": "image_url", "image_url": {"url": URL, "detail": "max"}}),
     "detail"),
    ("openai", chat_body({"type": "file", "file": {"file_data": DATA_PDF}}),
     "file is"),
    ("responses", responses_body({"type": "input_image", "image_url": URL}), "input_image is"),
    ("anthropic", claude_body({"type": "image", "source": {
        "type": "base64", "media_type": "image/bmp", "data": B64}}), "not accepted"),
    ("anthropic", claude_body({"type": "image", "source": {
        "type": "base64", "media_type": "image/png", "data": "%%%"}}), "not valid base64"),
    ("gemini", gemini_body({"inline_data": {"mime_type": "image/gif", "data": B64}}),
     "not accepted"),
    ("gemini", gemini_body({"inlineData": {"mimeType": "image/png", "data": B64}}), "unknown part"),
]


@pytest.mark.parametrize(("fmt", "body", "problem"), BAD)
def test_malformed_shapes_are_named(fmt, body, problem):
    (found,) = part_problems(fmt, body)
    assert problem in found


def test_format_of_paths():
    assert format_of("/v1/chat/completions") == "openai"
    assert format_of("/v1/responses") == "responses"
    assert format_of("/v1/messages") == "anthropic"
    assert format_of("/v1beta/models/m:streamGenerateContent") == "gemini"


def test_checking_answers_400_over_http(server):
    server.responder = checking(answer_in_format)
    bad = chat_body({"type": "image_url", "image_url": {"url": "data:image/png;base64,@@"}})
    r = httpx.post(server.url + "/v1/chat/completions", json=bad)
    assert r.status_code == 400 and "malformed part" in r.json()["error"]["message"]
    good = GOOD[0][1]
    r = httpx.post(server.url + "/v1/chat/completions", json=good)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    assert isinstance(Reply.json({}), Reply)
