"""Images and documents end to end, against the loopback fake server (which checks every part
it receives): the exact part shape per provider and per input type, re-asks, --inline,
recordings that keep hashes instead of payloads, a model that takes no images, batch items
with their own images, the magic's options, the repr and the widget's thumbnails."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from IPython.core.error import UsageError

import structmagic as sm
from structmagic.transport.cassette import forget_cassettes, request_key

from fake_media import received_parts
from fakeserver import Reply, chat
from media_helpers import (
    ANSWER,
    PDF,
    PROVIDERS,
    SCHEMA,
    answer_in_format,
    jpeg,
    photo,
    picture,
    png,
    respond,
)
from providers import anthropic_error, gemini_error

URL = "https://images.example.test/cat.png"
PDF_URL = "https://docs.example.test/paper.pdf"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pdf_name() -> str:
    return f"document-{hashlib.sha256(PDF).hexdigest()[:12]}.pdf"


def expected_blocks(provider: str, image: bytes, text: str) -> list:
    """The user turn's content exactly as the vendor documents it: a PNG, an image URL, a PDF
    (by URL where the format takes that, else as data), then the text."""
    pdf_data = f"data:application/pdf;base64,{b64(PDF)}"
    png_data = f"data:image/png;base64,{b64(image)}"
    if provider == "openai":
        return [{"type": "image_url", "image_url": {"url": png_data}},
                {"type": "image_url", "image_url": {"url": URL}},
                {"type": "file", "file": {"filename": pdf_name(), "file_data": pdf_data}},
                {"type": "text", "text": text}]
    if provider == "responses":
        return [{"type": "input_image", "image_url": png_data, "detail": "auto"},
                {"type": "input_image", "image_url": URL, "detail": "auto"},
                {"type": "input_file", "file_url": PDF_URL},
                {"type": "input_text", "text": text}]
    if provider == "anthropic":
        return [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": b64(image)}},
                {"type": "image", "source": {"type": "url", "url": URL}},
                {"type": "document", "source": {"type": "url", "url": PDF_URL}},
                {"type": "text", "text": text}]
    return [{"inline_data": {"mime_type": "image/png", "data": b64(image)}},
            {"file_data": {"mime_type": "image/png", "file_uri": URL}},
            {"file_data": {"mime_type": "application/pdf", "file_uri": PDF_URL}},
            {"text": text}]


def user_turn(provider: str, body: dict) -> list:
    if provider == "gemini":
        return body["contents"][-1]["parts"]
    if provider == "responses":
        return body["input"][-1]["content"]
    return body["messages"][-1]["content"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_exact_part_shapes_per_provider(server, settings, provider):
    server.responder = respond
    image = png()
    pdf = PDF if provider == "openai" else PDF_URL
    res = sm.structured("Total?", SCHEMA, provider=provider, images=[image, URL], files=[pdf])
    assert res.data == ANSWER and res.attempts == 1
    (req,) = server.requests
    assert user_turn(provider, req.json) == expected_blocks(provider, image, "Total?")
    got = received_parts(req)
    assert [p.kind for p in got] == ["image", "image", "document"]
    assert got[0].data == image and got[1].url == URL


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_input_type_arrives_as_sent(server, settings, provider, tmp_path):
    """PIL image, JPEG file (named .png), bytes, data URL: decoded by the server, the bytes
    it gets are the ones structmagic made or was given."""
    from IPython.display import Image

    server.responder = respond
    photo_file = tmp_path / "lying-name.png"
    photo_file.write_bytes(jpeg((64, 48)))
    drawing = picture((30, 20))
    data_url = "data:image/png;base64," + b64(png((10, 10)))
    values = [drawing, photo_file, jpeg((16, 16)), data_url, Image(data=png((12, 12)))]
    sm.structured("What is in these?", SCHEMA, provider=provider, images=values)
    got = received_parts(server.requests[0])
    assert [p.mime for p in got] == ["image/png", "image/jpeg", "image/jpeg", "image/png",
                                     "image/png"]
    assert got[1].data == photo_file.read_bytes()
    assert got[3].data == png((10, 10)) and got[4].data == png((12, 12))
    import io

    from PIL import Image as PILImage

    assert PILImage.open(io.BytesIO(got[0].data)).size == (30, 20)


@pytest.mark.parametrize("provider", ["openai", "responses"])
def test_detail(server, settings, provider):
    server.responder = respond
    sm.structured("q", SCHEMA, provider=provider, images=[png()], detail="high")
    (got,) = received_parts(server.requests[0])
    assert got.detail == "high"


def test_big_photo_downscaled_before_sending(server, settings):
    server.responder = respond
    sm.structured("q", SCHEMA, provider="anthropic", images=[photo((3200, 2400))])
    (got,) = received_parts(server.requests[0])
    import io

    from PIL import Image

    assert Image.open(io.BytesIO(got.data)).size == (1238, 928)
    server.reset()
    server.responder = respond
    sm.structured("q", SCHEMA, provider="anthropic", images=[photo((1800, 1200))],
                  downscale=False)
    (got,) = received_parts(server.requests[0])
    assert Image.open(io.BytesIO(got.data)).size == (1800, 1200)


def test_reask_keeps_the_images(server, settings):
    image = png()
    server.queue(chat('{"total": "twelve"}'), chat(json.dumps(ANSWER)))
    res = sm.structured("Total?", SCHEMA, images=[image], reasks=1)
    assert res.data == ANSWER and res.attempts == 2
    first, second = (r.json["messages"] for r in server.requests)
    assert first[0] == second[0]  # the same user turn, images and all
    assert second[1]["role"] == "assistant" and second[2]["role"] == "user"
    assert [p.data for p in received_parts(server.requests[1])] == [image]


def test_streamed_call_with_images(server, settings):
    from fakeserver import chat_stream

    server.queue(chat_stream(json.dumps(ANSWER)))
    res = sm.structured("Total?", SCHEMA, images=[png()], stream=True)
    assert res.data == ANSWER and received_parts(server.requests[0])[0].mime == "image/png"


def test_messages_list_gets_the_parts_on_its_last_user_turn(server, settings):
    server.responder = respond
    messages = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "Total of this one?"}]
    sm.structured(messages, SCHEMA, images=[png()])
    sent = server.requests[0].json["messages"]
    assert sent[0] == {"role": "user", "content": "first"}
    assert [b["type"] for b in sent[2]["content"]] == ["image_url", "text"]


# --- URLs ----------------------------------------------------------------------------------


def test_url_sent_as_url_and_inline_fetches_it_without_the_key(server, settings, canary):
    image = png()
    url = server.url + "/pictures/cat"
    server.queue(chat(json.dumps(ANSWER)))
    sm.structured("q", SCHEMA, images=[url])
    (post,) = server.requests
    assert received_parts(post)[0].url == url

    server.reset()
    server.queue(Reply.text(image, content_type="application/octet-stream"),
                 chat(json.dumps(ANSWER)))
    sm.structured("q", SCHEMA, images=[url], inline=True)
    get, post = server.requests
    assert (get.method, get.path) == ("GET", "/pictures/cat")
    assert canary not in json.dumps(get.headers) and "authorization" not in get.headers
    (got,) = received_parts(post)
    assert got.data == image and got.mime == "image/png"  # sniffed, not the served type


def test_inline_fetch_that_fails_is_an_input_error_before_any_post(server, settings):
    server.queue(Reply.status(404, "no such picture"))
    with pytest.raises(sm.InputError, match=r"Image 1 \(http.*\): fetching it for --inline "
                                            r"answered HTTP 404"):
        sm.structured("q", SCHEMA, images=[server.url + "/missing.png"], inline=True)
    assert [r.method for r in server.requests] == ["GET"]


def test_checks_fail_before_anything_is_sent(server, settings):
    with pytest.raises(sm.InputError, match=r"File 1 \(https://docs.example.test/paper.pdf\): "
                                            r"the openai format does not take PDF documents by "
                                            r"URL; use --inline"):
        sm.structured("q", SCHEMA, files=[PDF_URL])
    with pytest.raises(sm.InputError, match="cannot read"):
        sm.structured("q", SCHEMA, images=["/no/such/receipt.png"])
    assert server.requests == []


# --- a model that takes no images ------------------------------------------------------------


@pytest.mark.parametrize(("provider", "reply"), [
    ("openai", Reply.status(400, "Invalid content type. image_url is only supported by certain "
                                 "models.")),
    ("openai", Reply.status(400, "Image input is not supported with this model.")),
    ("openai", Reply.status(502, "upstream error: model does not support image input")),
    ("openai", Reply.status(404, "No endpoints found that support image input")),
    ("anthropic", anthropic_error(400, "This model does not support PDF input.")),
    ("gemini", gemini_error(400, "Unsupported MIME type: multimodal input is not supported")),
])
def test_model_without_images_is_named_and_never_retried(server, settings, provider, reply):
    server.queue(reply)
    with pytest.raises(sm.UnsupportedInputError) as info:
        sm.structured("q", SCHEMA, provider=provider, images=[png()], files=[PDF])
    err = info.value
    assert isinstance(err, sm.BadRequestError) and err.attempts == 1
    assert "the model test-model does not take the images or documents sent" in str(err)
    assert len(server.requests) == 1  # not retried, no step down


def test_same_words_without_images_are_not_an_input_error(server, settings):
    server.queue(Reply.status(400, "image_url is only supported by certain models."))
    with pytest.raises(sm.BadRequestError) as info:
        sm.structured("q", SCHEMA)
    assert not isinstance(info.value, sm.UnsupportedInputError)


# --- recordings ----------------------------------------------------------------------------


@pytest.fixture
def cassette_path(tmp_path):
    path = tmp_path / "images.cassette.jsonl"
    yield path
    forget_cassettes()


def test_a_5_mb_image_makes_a_small_stable_recording(server, settings, cassette_path):
    big = jpeg((32, 32)) + bytes(5_000_000)  # sent as given: a 5 MB JPEG
    server.responder = respond
    res = sm.structured("Total?", SCHEMA, images=[big], cache="record",
                        cassette=str(cassette_path))
    assert res.data == ANSWER
    assert len(server.requests[0].body) > 6_000_000  # the request did carry it
    (line,) = cassette_path.read_text().splitlines()
    assert len(line) < 3000
    entry = json.loads(line)
    digest = hashlib.sha256(big).hexdigest()
    user = entry["request"]["messages"][0]["content"]
    assert user[0] == {"type": "image_url",
                       "image_url": {"url": f"data:image/jpeg;sha256,{digest}"}}
    assert b64(big)[:100] not in line
    # the key is the hash of the request as stored: a content hash all the same
    assert request_key("openai", entry["path"], entry["request"]) == entry["key"]

    # replay, offline, in a fresh session: the key is computed from the live request
    forget_cassettes()
    server.reset()
    again = sm.structured("Total?", SCHEMA, images=[big], cache="replay",
                          cassette=str(cassette_path))
    assert again.data == ANSWER and again.from_cache and server.requests == []
    # another image is another request
    with pytest.raises(sm.CassetteMissError):
        sm.structured("Total?", SCHEMA, images=[big[:-1] + b"\1"], cache="replay",
                      cassette=str(cassette_path))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_recording_keeps_hashes_in_every_format(server, settings, cassette_path, provider):
    image = png((200, 200))
    server.responder = respond
    sm.structured("Total?", SCHEMA, provider=provider, images=[image], files=[PDF],
                  cache="record", cassette=str(cassette_path))
    text = cassette_path.read_text()
    assert b64(image) not in text and b64(PDF) not in text
    assert hashlib.sha256(image).hexdigest() in text
    assert hashlib.sha256(PDF).hexdigest() in text


def test_recording_of_a_pil_image_replays(server, settings, cassette_path):
    server.responder = respond
    sm.structured("Total?", SCHEMA, images=[picture((300, 200))], cache="cache",
                  cassette=str(cassette_path))
    forget_cassettes()
    server.reset()
    res = sm.structured("Total?", SCHEMA, images=[picture((300, 200))], cache="replay",
                        cassette=str(cassette_path))
    assert res.from_cache and server.requests == []


# --- batch ---------------------------------------------------------------------------------


def test_batch_items_carry_their_own_images(server, settings):
    server.responder = respond
    results = sm.batch(["first", "second", "third"], SCHEMA, concurrency=2,
                       images=[png((10, 10)), None, "/no/such/file.png"], files=[PDF, None, None])
    assert [r.error is None for r in results] == [True, True, False]
    assert isinstance(results[2].error, sm.InputError) and results[2].attempts == 0
    assert results[0].inputs and [i.kind for i in results[0].inputs] == ["image", "document"]
    assert results[1].inputs == ()
    by_prompt = {}
    for req in server.requests:
        text = req.json["messages"][-1]["content"]
        key = text if isinstance(text, str) else text[-1]["text"]
        by_prompt[key] = received_parts(req)
    assert [p.mime for p in by_prompt["first"]] == ["image/png", "application/pdf"]
    assert by_prompt["second"] == [] and "third" not in by_prompt


def test_batch_images_must_align(server, settings):
    with pytest.raises(sm.InputError, match="images has 1 entries for 2 prompts"):
        sm.batch(["a", "b"], SCHEMA, images=[png()])
    assert server.requests == []


# --- display -------------------------------------------------------------------------------


def test_repr_names_the_inputs(server, settings):
    server.responder = respond
    res = sm.structured("Total?", SCHEMA, images=[png(), URL], files=[PDF])
    assert "2 images, 1 PDF" in repr(res)
    lines = res._repr_mimebundle_()["text/plain"].splitlines()
    assert lines[1] == "inputs: 2 images, 1 PDF"
    html = res._repr_html_()
    # the picture's thumbnail and the picture it opens; the URL as text, never loaded
    assert html.count("<img ") == 2 and "images.example.test/cat.png" in html
    # inside the result's box, under its title (an export keeps them together)
    assert html.startswith('<div class="structmagic-result ')
    assert html.index("structmagic-inputs") < html.index("Raw JSON")
    assert all(len(i.thumbnail or "") < 20_000 for i in res.inputs)
    assert not any(hasattr(i, "data") for i in res.inputs)  # no payload kept on the result


def test_widget_shows_thumbnails_above_the_steps(server, settings):
    server.responder = respond
    res = sm.structured("Total?", SCHEMA, images=[picture((60, 40))])
    widget = res.widget()
    children = list(widget.widget.children)
    assert children.index(widget.inputs_view) < children.index(widget.steps_box)
    assert widget.inputs_view.value.count('<img src="data:image/png;base64,') == 2
    assert "<details" in widget.inputs_view.value  # a click opens the picture
    assert widget.inputs_view.layout.display is None


def test_observer_sees_the_inputs_before_the_answer(server, settings):
    seen = []

    class Observer:
        def show_inputs(self, inputs):
            seen.append((len(server.requests), [i.kind for i in inputs]))

        def update(self, *a, **k):
            pass

    server.responder = respond
    sm.structured("Total?", SCHEMA, images=[png()], files=[PDF], observer=Observer())
    assert seen == [(0, ["image", "document"])]


# --- the magic -------------------------------------------------------------------------------


def run(ip, cell):
    return ip.run_cell(cell, store_history=False)


def test_magic_image_file_detail(ip, server, settings):
    server.responder = respond
    ip.user_ns.update(receipt=SCHEMA, front=png((20, 20)), back=picture((30, 30)), doc=PDF)
    res = run(ip, "%%structured receipt -o total --image front --image back --file doc "
                  "--detail low\nWhat is the total?")
    assert res.success, res.error_in_exec
    assert ip.user_ns["total"] == ANSWER
    got = received_parts(server.requests[0])
    assert [p.mime for p in got] == ["image/png", "image/png", "application/pdf"]
    assert got[0].detail == "low" and got[0].data == png((20, 20))


def test_magic_unknown_image_variable_is_a_usage_error(ip, server, settings):
    ip.user_ns["receipt"] = SCHEMA
    with pytest.raises(UsageError, match="--image: no variable named 'nope'"):
        ip.run_cell_magic("structured", "receipt -o x --image nope", "q")
    assert server.requests == []


def test_magic_bad_image_fails_the_cell_binding_nothing(ip, server, settings):
    ip.user_ns.update(receipt=SCHEMA, pic="/no/such.png", total="before")
    res = run(ip, "%%structured receipt -o total --image pic\nq")
    assert isinstance(res.error_in_exec, sm.InputError)
    assert ip.user_ns["total"] == "before" and server.requests == []


def test_magic_inline_and_no_downscale(ip, server, settings):
    server.queue(Reply.text(png(), content_type="image/png"), chat(json.dumps(ANSWER)))
    ip.user_ns.update(receipt=SCHEMA, pic=server.url + "/a.png", big=photo((2400, 1200)))
    assert run(ip, "%%structured receipt -o t --image pic --inline\nq").success
    assert received_parts(server.requests[1])[0].data == png()
    server.reset()
    server.responder = respond
    assert run(ip, "%%structured receipt -o t --image big --no-downscale\nq").success
    import io

    from PIL import Image

    got = received_parts(server.requests[0])[0]
    assert Image.open(io.BytesIO(got.data)).size == (2400, 1200)


def test_magic_each_takes_each_rows_image(ip, server, settings):
    pd = pytest.importorskip("pandas")
    server.responder = respond
    frame = pd.DataFrame({"name": ["a", "b"], "scan": [png((10, 10)), png((20, 20))]})
    ip.user_ns.update(receipt=SCHEMA, frame=frame, logo=png((5, 5)))
    res = run(ip, "%%structured receipt -o out --each frame --image scan --image logo "
                  "--quiet\nTotal of {name}?")
    assert res.success, res.error_in_exec
    sent = {}
    for req in server.requests:
        content = req.json["messages"][-1]["content"]
        sent[content[-1]["text"]] = [p.data for p in received_parts(req)]
    assert sent == {"Total of a?": [png((10, 10)), png((5, 5))],
                    "Total of b?": [png((20, 20)), png((5, 5))]}
    assert list(ip.user_ns["out"]["total"]) == [12.5, 12.5]


def test_magic_each_unknown_image_field(ip, server, settings):
    ip.user_ns.update(receipt=SCHEMA, items=["x", "y"])
    with pytest.raises(UsageError, match="--image pic: row 0 has no field 'pic'"):
        ip.run_cell_magic("structured", "receipt --each items --image pic", "{item}")


def test_magic_help_lists_the_options(ip):
    doc = ip.find_cell_magic("structured").__doc__
    for option in ("--image VAR", "--file VAR", "--inline", "--detail", "--no-downscale"):
        assert option in doc


def test_answer_in_format_helper_covers_every_format(server):
    for path in ("/v1/chat/completions", "/v1/responses", "/v1/messages",
                 "/v1beta/models/m:generateContent"):
        from fakeserver import RecordedRequest

        reply = answer_in_format(RecordedRequest("POST", path, "", {}, b"{}"))
        assert reply.code == 200


def test_result_with_inputs_pickles_without_payloads(server, settings):
    import pickle

    server.responder = respond
    res = sm.structured("Total?", SCHEMA, images=[picture()], files=[PDF])
    data = pickle.dumps(res)
    assert pickle.loads(data).inputs == res.inputs
    assert PDF not in data and b64(PDF).encode() not in data


def test_a_whole_call_without_pillow(server, settings, monkeypatch, tmp_path):
    """An install without Pillow: PNG bytes and a JPEG file go as they are."""
    import sys

    data = png((12, 12))
    photo_file = tmp_path / "scan"
    photo_file.write_bytes(jpeg((16, 16)))
    for name in list(sys.modules):
        if name == "PIL" or name.startswith("PIL."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    server.queue(chat(json.dumps(ANSWER)))
    res = sm.structured("Total?", SCHEMA, images=[data, photo_file], provider="openai")
    assert res.data == ANSWER
    got = received_parts(server.requests[0])
    assert [p.data for p in got] == [data, photo_file.read_bytes()]
    assert res.inputs[0].thumbnail == "data:image/png;base64," + b64(data)
    with pytest.raises(sm.InputError, match=r"needs Pillow; install Pillow: pip install "
                                            r"'structmagic\[pillow\]'"):
        sm.structured("Total?", SCHEMA, images=[type("Image", (), {"__module__": "PIL.Image"})()])
