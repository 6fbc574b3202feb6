"""Inputs that used to escape as a raw exception (ValueError, RuntimeError, httpx.InvalidURL,
UnicodeError, ZeroDivisionError, TypeError) are an InputError naming the input, on one line:
URLs that do not parse or cannot be fetched, ``~user`` paths, bytes paths, empty images,
data: URLs that are not text."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

import structmagic as sm
from structmagic.errors import InputError
from structmagic.inputs import prepare_inputs
from structmagic.inputs.parts import InputLimits
from structmagic.providers import Provider, get_provider
from structmagic.transport.fetch import fetcher

from fakeserver import Reply
from media_helpers import PDF, SCHEMA, png

PROVIDERS = [get_provider(name) for name in ("openai", "responses", "anthropic", "gemini")]
OPENAI = PROVIDERS[0]


def one(value, provider=OPENAI, **kw):
    (part,) = prepare_inputs([value], None, provider, **kw)
    return part


def refused(value, match, provider=OPENAI, *, settings=None, **kw) -> str:
    """The InputError's message (one line) for ``value`` (URLs inlined through the HTTP
    client of ``settings``, else a client of the fetch's own)."""
    with pytest.raises(InputError, match=match) as info:
        prepare_inputs([value], None, provider, fetch=fetcher(settings), **kw)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    return message


# --- URLs that do not parse --------------------------------------------------------------------


@pytest.mark.parametrize(("url", "why"), [
    ("http://[::1/a.png", "Invalid IPv6 URL"),
    ("https://[zz]/a.png", "does not appear to be an IPv4 or IPv6 address"),
    ("http://example.test:70123/a.png", "Port out of range"),  # no test key holds 7012
    ("http://example.test:ab/a.png", "Port could not be cast"),
])
@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
def test_url_that_does_not_parse_names_the_input(url, why, provider):
    shown = url.replace("[", r"\[").replace(".", r"\.")
    refused(url, rf"^Image 1: '{shown}' is not a valid URL \(.*{why}.*\); correct it\.$",
            provider)
    refused(url, "is not a valid URL", provider, inline=True)  # before any fetch


def test_ipython_image_url_is_checked_like_a_string():
    from IPython.display import Image

    refused(Image(url="http://[::1/a.png"), r"^Image 1: 'http://\[::1/a\.png' is not a valid "
                                            r"URL", get_provider("gemini"))
    refused(Image(url="http:///a.png"), "is not a whole URL")


def test_a_url_label_is_one_line():
    part = one("http://example.test/a\nb\x00.png")
    assert part.label == r"http://example.test/a\nb\x00.png"
    assert part.url == "http://example.test/a\nb\x00.png"  # sent as given


# --- URLs fetched with inline that httpx or the socket refuse -------------------------------


@pytest.mark.parametrize(("path_or_url", "why"), [
    ("/a\x00.png", "non-printable"),  # httpx.InvalidURL
    ("/\ud800.png", "surrogates not allowed"),  # UnicodeEncodeError in httpx
    ("http://" + "a" * 64 + ".test/a.png", "idna"),  # UnicodeError in getaddrinfo
    ("http://a..test/a.png", "idna"),
    ("http://\ud800x.test/a.png", "IDNA"),  # httpx.InvalidURL
])
def test_inline_url_that_cannot_be_fetched_is_an_input_error(server, settings, path_or_url,
                                                             why):
    url = server.url + path_or_url if path_or_url.startswith("/") else path_or_url
    with pytest.raises(sm.InputError, match=rf"^Image 1 \(http.*\): not a URL that can be "
                                            rf"fetched for --inline \(.*{why}.*\); correct "
                                            r"it\.$") as info:
        sm.structured("q", SCHEMA, images=[url], inline=True)
    assert "\n" not in str(info.value) and "\x00" not in str(info.value)
    assert server.requests == []
    # without settings (structmagic's own client for the fetch) too
    refused(url, "not a URL that can be fetched for --inline", inline=True)


@pytest.mark.parametrize("error", [httpx.StreamClosed(), httpx.StreamConsumed(),
                                   httpx.ResponseNotRead(), httpx.CookieConflict("two")],
                         ids=lambda e: type(e).__name__)
def test_inline_fetch_httpx_errors_outside_http_error(server, settings, error):
    """httpx's exceptions that are not an HTTPError (say, from a user's event hook)."""
    assert not isinstance(error, httpx.HTTPError)

    def hook(request):
        raise error

    with httpx.Client(event_hooks={"request": [hook]}) as client:
        mine = replace(settings, http_client=client)
        message = refused(server.url + "/a.png", r"^Image 1 \(http.*\): could not fetch it for "
                                                 r"--inline \(.+\)\.$", inline=True,
                          settings=mine)
    assert type(error).__name__ in message or str(error).split("\n")[0][:40] in message


# --- paths ---------------------------------------------------------------------------------


@pytest.mark.parametrize("wrap", [str, Path], ids=["str", "Path"])
def test_tilde_of_no_such_user(wrap):
    value = wrap("~no_such_user_of_structmagic/a.png")
    refused(value, r"^Image 1: cannot expand the ~ in '~no_such_user_of_structmagic/a\.png' "
                   r"\(no such user, or no home directory\); give the full path\.$")


def test_bytes_path_is_read(tmp_path):
    (tmp_path / "x.png").write_bytes(png())
    (entry,) = os.scandir(os.fsencode(tmp_path))  # a DirEntry whose path is bytes
    part = one(entry)
    assert part.mime == "image/png" and part.label == "x.png"


def test_pathlike_without_a_path():
    class Broken:
        def __fspath__(self):
            return 42

    refused(Broken(), r"^Image 1: the Broken's __fspath__ gives neither a str nor bytes")


def test_file_name_label_is_one_line(tmp_path):
    path = tmp_path / "a\nb.png"
    path.write_bytes(png())
    assert one(path).label == r"a\nb.png"


# --- data: URLs ------------------------------------------------------------------------------


def test_data_url_that_is_not_text():
    refused("data:,\ud800", r"^Image 1: the data: URL's data holds characters that are not "
                            r"text \(a lone surrogate\); encode the data in base64\.$")
    refused("data:;base64,\u00e9", r"base64 data is damaged")


# --- empty images ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(0, 0), (0, 5), (5, 0)])
@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
def test_empty_pil_image_is_refused(size, provider):
    from PIL import Image

    w, h = size
    for downscale in (True, False):
        refused(Image.new("RGB", size), rf"^Image 1 \(PIL image {w}×{h}\) is empty \({w}×{h} "
                                        r"pixels\): there is nothing to send; give an image "
                                        r"at least 1×1 pixel\.$",
                provider, downscale=downscale, thumbnails=True)


def _png_header(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def _gif_header(w: int, h: int) -> bytes:
    return (b"GIF89a" + struct.pack("<HH", w, h) + b"\x00\x00\x00,"
            + struct.pack("<HHHH", 0, 0, w, h) + b"\x00\x02\x02\x44\x01\x00;")


@pytest.mark.parametrize("data", [_png_header(0, 0), _png_header(0, 5), _gif_header(0, 0),
                                  _gif_header(5, 0)], ids=["png0x0", "png0x5", "gif0x0",
                                                           "gif5x0"])
@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
def test_bytes_whose_header_says_empty(data, provider):
    refused(data, r"^Image 1 \(bytes\) (cannot be read as an image|is empty)", provider)


def test_bytes_that_pillow_opens_as_empty_are_refused(monkeypatch):
    """Should a Pillow open an empty image from bytes, it is refused like a PIL image."""
    from PIL import Image

    from structmagic.inputs import pictures

    empty = Image.new("RGB", (0, 3))
    monkeypatch.setattr(pictures, "open_image", lambda data, what: empty)
    refused(png(), r"^Image 1 \(bytes\) is empty \(0×3 pixels\)")


def test_target_size_of_an_empty_image_does_not_divide():
    limits = InputLimits(max_edge=100, max_short_edge=50, max_pixels=1000)
    assert limits.target_size(0, 0) == (0, 0)
    assert limits.target_size(0, 500) == (0, 500)
    assert limits.target_size(500, 0, "low") == (500, 0)
    assert limits.target_size(400, 100) == (63, 15)  # unchanged for real images


def test_an_unreadable_image_says_so_without_a_memory_address():
    pytest.importorskip("PIL")
    from structmagic.inputs.pictures import open_image

    with pytest.raises(InputError, match="cannot be read as an image") as info:
        open_image(b"GIF89a" + b"\0" * 4, "Image 1")
    assert "0x" not in str(info.value) and "BytesIO" not in str(info.value)


# --- Pillow's warnings ---------------------------------------------------------------------------


def _grey_png(size: tuple[int, int]) -> bytes:
    from PIL import Image

    from media_helpers import encoded

    return encoded(Image.new("L", size, 200), "PNG")


def _pillow_filters() -> list:
    return [f for f in warnings.filters if "PIL" in str(getattr(f[3], "pattern", f[3]))]


def test_a_144_megapixel_scan_shows_no_pillow_warning():
    """A valid 12000 × 12000 scan: over Pillow's warning threshold (89 megapixels), within
    what structmagic decodes; downscaled, and nothing printed."""
    from structmagic.inputs.measure import measure_inputs

    data = _grey_png((12000, 12000))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        part = one(data)
        (measured,) = measure_inputs([data], None)
    assert (part.width, part.height) == (768, 768)
    assert (measured.width, measured.height) == (12000, 12000)
    assert [str(w.message) for w in seen] == []


def test_over_the_warning_threshold_nothing_over_the_limit_our_own_words(monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow warns over 1000, refuses 2000
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        part = one(_grey_png((40, 30)))  # 1,200 pixels
        message = refused(_grey_png((50, 50)), r"^Image 1 \(bytes\) is too large to decode: "
                                               r"more than 2,000 pixels, which Pillow refuses "
                                               r"as a possible decompression bomb \(twice "
                                               r"PIL\.Image\.MAX_IMAGE_PIXELS\); make it "
                                               r"smaller, or raise that limit for a file you "
                                               r"trust\.$")
    assert part.width == 40 and "DOS attack" not in message
    assert [str(w.message) for w in seen] == []
    # the user's own Pillow calls still warn: structmagic's filter is gone
    with pytest.warns(Image.DecompressionBombWarning):
        Image.open(io.BytesIO(_grey_png((40, 30))))
    assert _pillow_filters() == []


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.mark.parametrize("size", [(40, 30), (4000, 30)], ids=["as-given", "downscaled"])
def test_other_pillow_warnings_stay_quiet(size):
    """A PNG whose acTL chunk says 0 frames: Pillow warns "Invalid APNG" as it opens it."""
    from PIL import Image

    data = _grey_png(size)
    data = data[:33] + _chunk(b"acTL", struct.pack(">II", 0, 0)) + data[33:]  # after IHDR
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        Image.open(io.BytesIO(data))
        assert seen, "Pillow no longer warns here: the test proves nothing"
        seen.clear()
        part = one(data, thumbnails=True)
    assert part.width == min(size[0], 2048) and part.thumbnail
    assert [str(w.message) for w in seen] == []


def test_images_prepared_in_threads_leave_no_filter_behind():
    from concurrent.futures import ThreadPoolExecutor

    from media_helpers import photo

    images = [photo((300 + i, 200)) for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        parts = list(pool.map(one, images))
    assert [p.width for p in parts] == [300 + i for i in range(16)]
    assert _pillow_filters() == []


# --- files cut short or damaged ------------------------------------------------------------------


def _photo_file(fmt: str) -> bytes:
    from media_helpers import encoded, photo

    return encoded(photo((64, 48)), fmt)


def _corrupt_idat(data: bytes) -> bytes:
    """A PNG whose image data is garbage behind a valid checksum: whole to a structural
    check, undecodable."""
    at = data.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", data[at : at + 4])
    garbage = bytes(range(256)) * (length // 256 + 1)
    return data[:at] + _chunk(b"IDAT", garbage[:length]) + data[at + 12 + length :]


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


CUT_SHORT = [
    ("JPEG", lambda d: d[: len(d) // 2], r"a truncated JPEG: it ends inside its image data"),
    ("JPEG", lambda d: d[:-2], r"a truncated JPEG: it ends inside its image data"),
    ("PNG", lambda d: d[: len(d) // 2], r"a truncated PNG: it ends inside its IDAT chunk"),
    ("PNG", lambda d: d[:-12], r"a truncated PNG: it ends before its IEND chunk"),
    ("PNG", lambda d: _flip(d, len(d) - 20), r"a damaged PNG: its IDAT chunk fails its "
                                             r"checksum"),
    ("GIF", lambda d: d[: len(d) // 2], r"a truncated GIF: it ends before its trailer"),
    ("GIF", lambda d: d[:-1], r"a truncated GIF: it ends before its trailer"),
    ("WEBP", lambda d: d[: len(d) // 2], r"a truncated WebP: it ends after [\d,]+ of the "
                                         r"[\d,]+ bytes its header gives"),
    ("WEBP", lambda d: d[:-2], r"a truncated WebP: it ends after"),
]
CUT_IDS = ["jpeg-half", "jpeg-no-eoi", "png-half", "png-no-iend", "png-bad-crc", "gif-half",
           "gif-no-trailer", "webp-half", "webp-end"]


@pytest.mark.parametrize(("fmt", "cut", "why"), CUT_SHORT, ids=CUT_IDS)
@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
def test_a_file_cut_short_is_refused_naming_it(fmt, cut, why, provider):
    data = cut(_photo_file(fmt))
    for downscale in (True, False):
        refused(data, rf"^Image 1 \(bytes\) is {why}.*; nothing is sent: give the whole, intact "
                      r"file\.$", provider, downscale=downscale)


@pytest.fixture(scope="module")
def pillow_files():
    """A photo in each format, made with Pillow (module-scoped: made before a test's
    no_pillow fixture hides Pillow)."""
    return {fmt: _photo_file(fmt) for fmt in ("JPEG", "PNG", "GIF", "WEBP")}


@pytest.mark.parametrize(("fmt", "cut", "why"), CUT_SHORT, ids=CUT_IDS)
def test_a_file_cut_short_is_refused_without_pillow(pillow_files, no_pillow, fmt, cut, why):
    whole = pillow_files[fmt]
    assert one(whole, get_provider("anthropic")).data == whole  # sent as it is when whole
    refused(cut(whole), rf"^Image 1 \(bytes\) is {why}", get_provider("anthropic"))


def test_a_jpeg_is_walked_segment_by_segment():
    """An end-of-image marker inside a segment (an EXIF thumbnail's) does not end the file;
    a progressive JPEG has many scans, each walked."""
    from media_helpers import encoded, photo

    data = _photo_file("JPEG")
    thumb = b"Exif\0\0" + b"\xff\xd8\xff\xd9" * 4
    with_thumb = data[:2] + b"\xff\xe1" + struct.pack(">H", len(thumb) + 2) + thumb + data[2:]
    assert one(with_thumb, downscale=False).data == with_thumb
    refused(with_thumb[: len(with_thumb) // 2], r"is a truncated JPEG: it ends inside its image "
                                                r"data")
    progressive = encoded(photo((64, 48)), "JPEG", progressive=True)
    assert progressive.count(b"\xff\xda") > 1
    assert one(progressive).data == progressive
    refused(progressive[:-300], r"is a truncated JPEG")


def test_whole_but_undecodable_is_refused_with_pillow():
    """Image data that does not decode behind valid checksums: only decoding finds it, so
    it is decoded before it is sent as given."""
    data = _corrupt_idat(_photo_file("PNG"))
    refused(data, r"^Image 1 \(bytes\) cannot be decoded \(.+\)\.$")
    refused(data, r"^Image 1 \(bytes\) cannot be decoded", get_provider("gemini"),
            downscale=False)
    from media_helpers import encoded, photo

    big = _corrupt_idat(encoded(photo((3000, 40)), "PNG"))  # downscaled: decoded to shrink it
    refused(big, r"^Image 1 \(bytes\) cannot be decoded \(.+\)\.$")


def test_bytes_after_the_end_are_ignored_as_decoders_do():
    data = _photo_file("JPEG")
    assert one(data + bytes(5000)).data == data + bytes(5000)
    padded = PDF + b"\r\n" + bytes(3000)
    (doc,) = prepare_inputs(None, [padded], OPENAI)
    assert doc.data == padded


def test_a_pdf_cut_short_is_refused():
    with pytest.raises(InputError, match=r"^File 1 \(bytes\) is a truncated PDF: it does not "
                                         r"end with %%EOF; nothing is sent: give the whole, "
                                         r"intact file\.$"):
        prepare_inputs(None, [PDF[: len(PDF) // 2]], OPENAI)


def test_a_truncated_jpeg_is_refused_before_anything_is_sent(server, settings):
    data = _photo_file("JPEG")[:-400]
    with pytest.raises(sm.InputError, match=r"is a truncated JPEG"):
        sm.structured("Total?", SCHEMA, images=[data])
    assert server.requests == []


def test_in_a_batch_only_the_row_with_the_cut_file_fails(server, settings):
    from media_helpers import respond

    server.responder = respond
    whole = _photo_file("JPEG")
    results = sm.batch(["a", "b", "c"], SCHEMA, images=[whole, whole[:-400], None])
    assert [r.error is None for r in results] == [True, False, True]
    assert isinstance(results[1].error, sm.InputError) and results[1].attempts == 0
    assert "truncated JPEG" in str(results[1].error)
    assert len(server.requests) == 2


# --- animations ----------------------------------------------------------------------------------


@pytest.fixture
def notes():
    """The input notes given during the test (each kind is said once per provider: the
    record of what was said is cleared first)."""
    from structmagic.inputs.notes import InputWarning, forget_notes

    forget_notes()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield lambda: [str(w.message) for w in seen if issubclass(w.category, InputWarning)]
    forget_notes()


ANIMATED = ["GIF", "PNG", "WEBP"]


@pytest.mark.parametrize("fmt", ANIMATED)
@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
def test_an_animation_goes_as_its_first_frame_as_png(fmt, provider, notes):
    from PIL import Image

    from media_helpers import animation

    data = animation(fmt)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    part = one(data, provider)
    sent = Image.open(io.BytesIO(part.data))
    assert part.mime == "image/png" and sent.format == "PNG"
    assert getattr(sent, "n_frames", 1) == 1  # a still PNG, not an APNG
    assert sent.convert("RGB").getpixel((20, 15))[0] > 240  # the first frame: red
    assert (part.width, part.height) == (40, 30)
    one(animation(fmt, ("blue", "red")), provider)  # said once
    assert notes() == [f"Image 1 (bytes) has 3 frames; only the first is sent, as PNG: the "
                       f"{provider.name} format takes still images (said once for every such "
                       "image)."]


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_a_still_image_goes_as_given_without_a_note(fmt, notes):
    from media_helpers import animation

    data = animation(fmt, ("red",))
    assert one(data).data == data
    assert notes() == []


def test_a_format_that_takes_animations_gets_them_whole(notes):
    from media_helpers import animation

    class Moving(Provider):
        name = "moving"
        inputs = replace(OPENAI.inputs, animated_types=frozenset({"image/gif"}))

    gif, webp = animation("GIF"), animation("WEBP")
    assert one(gif, Moving()).data == gif
    assert one(webp, Moving()).mime == "image/png"  # not this type
    assert len(notes()) == 1
    refused(gif[:-1], "a truncated GIF", Moving())


def test_a_tiff_of_several_pages_goes_as_its_first(notes):
    from PIL import Image

    from media_helpers import encoded

    pages = [Image.new("RGB", (30, 20), c) for c in ("red", "blue")]
    part = one(encoded(pages[0], "TIFF", save_all=True, append_images=pages[1:]))
    assert Image.open(io.BytesIO(part.data)).convert("RGB").getpixel((5, 5)) == (255, 0, 0)
    assert notes() == ["Image 1 (bytes) has 2 frames; only the first is sent, as PNG: the "
                       "openai format takes still images (said once for every such image)."]


@pytest.mark.parametrize("fmt", ANIMATED)
def test_without_pillow_an_animation_is_refused(fmt, request):
    from media_helpers import animation

    data = animation(fmt)
    request.getfixturevalue("no_pillow")
    name = {"GIF": "GIF", "PNG": "PNG", "WEBP": "WebP"}[fmt]
    refused(data, rf"^Image 1 \(bytes\) is an animated {name} \(3 frames\); the anthropic "
                  r"format takes still images: its first frame is sent, as PNG, with Pillow: "
                  r"install Pillow: pip install 'structmagic\[pillow\]' \(or give one "
                  r"frame\)\.$", get_provider("anthropic"))


def test_an_animated_gif_arrives_as_a_png_of_its_first_frame(server, settings, notes):
    from PIL import Image

    from fake_media import received_parts
    from media_helpers import animation, respond

    server.responder = respond
    sm.structured("What is shown?", SCHEMA, images=[animation("GIF")])
    (got,) = received_parts(server.requests[0])
    assert got.mime == "image/png"
    assert Image.open(io.BytesIO(got.data)).convert("RGB").getpixel((0, 0)) == (255, 0, 0)
    assert len(notes()) == 1


# --- URLs fetched for --inline: a deadline in all, and a size cap --------------------------------


def _slow(server, clock, body: bytes, seconds: float, **kw) -> str:
    """Queue ``body`` sent a byte at a time over ``seconds`` of the test's clock (moved by the
    server before each write: nothing waits in real time); the URL to fetch."""
    step = seconds / len(body)
    server.queue(Reply.trickle(body, before_write=lambda i: clock.advance(step), **kw))
    return server.url + "/slow.png"


def test_a_url_that_trickles_is_cut_at_the_deadline(server, settings, clock):
    from structmagic.transport.fetch import FETCH_DEADLINE

    assert FETCH_DEADLINE == 120
    url = _slow(server, clock, png((80, 60)) * 3, 400.0)  # one byte every 0.4 s or so
    with pytest.raises(sm.InputError, match=r"^Image 1 \(http://.*/slow\.png\): fetching it for "
                                            r"--inline took more than 120 s in all \([\d,]+ "
                                            r"bytes read\); not fetched\.$"):
        sm.structured("q", SCHEMA, images=[url], inline=True)
    assert [r.method for r in server.requests] == ["GET"]  # nothing sent to the model
    assert clock.waits == []  # nothing slept


def test_a_slow_url_within_the_deadline_is_fetched(server, settings, clock):
    from fake_media import received_parts
    from media_helpers import respond

    body = png((80, 60))
    url = _slow(server, clock, body, 110.0)
    server.responder = respond
    sm.structured("q", SCHEMA, images=[url], inline=True)
    get, post = server.requests
    assert get.method == "GET" and received_parts(post)[0].data == body


def test_a_fetch_waits_for_silence_at_most_the_deadline(server, settings):
    seen = []

    def hook(request):
        seen.append(request.extensions["timeout"])

    server.queue(Reply.text(png(), content_type="image/png"))
    with httpx.Client(event_hooks={"request": [hook]}) as client:
        mine = replace(settings, http_client=client, timeout=600.0)
        (part,) = prepare_inputs([server.url + "/a.png"], None, OPENAI, inline=True,
                                 fetch=fetcher(mine))
    assert part.data == png()
    assert seen[0]["read"] == 120.0


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_url_over_the_size_cap_is_not_read(server, settings, clock, monkeypatch, framing):
    from structmagic.transport import fetch

    monkeypatch.setattr(fetch, "MAX_READ_BYTES", 1000)
    server.queue(Reply.trickle(bytes(5000), every=500, framing=framing))
    why = (r"5 KB \(its Content-Length\); --inline fetches at most 1 KB" if framing == "length"
           else r"more than 1 KB, the most --inline fetches")
    with pytest.raises(sm.InputError, match=rf"^Image 1 \(http://.*\): the URL holds {why}; "
                                            r"not fetched\.$"):
        sm.structured("q", SCHEMA, images=[server.url + "/big.png"], inline=True)
    assert [r.method for r in server.requests] == ["GET"]
