"""Images and documents into parts (structmagic.inputs): magic-byte sniffing (lying file names
included), every kind of value, downscaling per provider, conversion, limits, thumbnails, and
an install without Pillow."""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from structmagic.errors import InputError
from structmagic.inputs import Part, describe_inputs, prepare_inputs, sniff
from structmagic.inputs.parts import InputLimits
from structmagic.inputs.thumbs import thumbnails_html
from structmagic.providers import Provider, get_provider

from htmlaudit import assert_inert
from media_helpers import (
    PDF,
    column_levels,
    encoded,
    gif,
    gradient,
    jpeg,
    photo,
    picture,
    png,
    tiny_gif,
    tiny_png,
    webp,
)

OPENAI = get_provider("openai")
CLAUDE = get_provider("anthropic")
GEMINI = get_provider("gemini")
RESPONSES = get_provider("responses")


def one(value, provider=OPENAI, **kw):
    (part,) = prepare_inputs([value], None, provider, **kw)
    return part


# --- sniffing -------------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "mime"), [(png, "image/png"), (jpeg, "image/jpeg"),
                                            (gif, "image/gif"), (webp, "image/webp"),
                                            (lambda: PDF, "application/pdf")])
def test_sniff_magic_bytes(make, mime):
    assert sniff(make()) == mime


def test_sniff_unknown():
    assert sniff(b"") is None
    assert sniff(b"BM\x00\x00") is None  # BMP: not one of the five
    assert sniff(b"RIFF\0\0\0\0WAVE") is None


@pytest.mark.parametrize(("name", "data", "mime", "kind"), [
    ("receipt.png", lambda: jpeg(), "image/jpeg", "image"),
    ("scan.pdf", lambda: png(), "image/png", "image"),
    ("photo.jpg", lambda: PDF, "application/pdf", "document"),
    ("no_extension", lambda: webp(), "image/webp", "image"),
])
def test_lying_file_names_are_ignored(tmp_path, name, data, mime, kind):
    path = tmp_path / name
    path.write_bytes(data())
    for value in (path, str(path)):
        part = one(value)
        assert (part.mime, part.kind) == (mime, kind)
        assert part.label == name


def test_file_option_takes_an_image_too_kind_by_content():
    (part,) = prepare_inputs(None, [png()], OPENAI)
    assert part.kind == "image"
    (part,) = prepare_inputs([PDF], None, OPENAI)
    assert part.kind == "document" and part.filename.endswith(".pdf")


# --- every kind of value ----------------------------------------------------------------------


def test_bytes_that_fit_are_sent_exactly_as_given():
    data = jpeg((64, 48))
    for value in (data, bytearray(data), memoryview(data)):
        part = one(value)
        assert part.data == data and part.mime == "image/jpeg"
        assert part.size == len(data) and part.digest == hashlib.sha256(data).hexdigest()
        assert (part.width, part.height) == (64, 48)


def test_pil_image_is_encoded_png_for_drawings_jpeg_for_photos():
    drawing = one(picture((50, 40)))
    assert drawing.mime == "image/png" and drawing.label == "PIL image 50×40"
    snap = one(photo((200, 150)))
    assert snap.mime == "image/jpeg" and sniff(snap.data) == "image/jpeg"
    rgba = one(picture((20, 20), mode="RGBA"))
    assert rgba.mime == "image/png"


def test_pil_digest_is_of_pixels_and_stable():
    a, b = one(picture()), one(picture())
    assert a.digest == b.digest and a.data == b.data
    assert one(picture(colour="blue")).digest != a.digest


def test_url_is_sent_as_url_by_default():
    part = one("https://example.test/cat.png?x=1")
    assert part.url == "https://example.test/cat.png?x=1" and part.data is None
    assert part.mime is None  # not guessed from the name where the format does not need it
    assert part.digest == hashlib.sha256(part.url.encode()).hexdigest()


def test_gemini_url_type_from_its_name_or_refused():
    assert one("https://example.test/cat.JPG", GEMINI).mime == "image/jpeg"
    (doc,) = prepare_inputs(None, ["https://example.test/paper.pdf"], GEMINI)
    assert doc.kind == "document" and doc.mime == "application/pdf"
    with pytest.raises(InputError, match=r"needs the type of a URL.s content.*--inline"):
        one("https://example.test/image?id=3", GEMINI)


@pytest.mark.parametrize("encode", [
    lambda d: "data:image/png;base64," + base64.b64encode(d).decode(),
    lambda d: "data:;base64," + base64.b64encode(d).decode(),
    lambda d: "data:image/jpeg;base64," + base64.b64encode(d).decode(),  # a lying type
    lambda d: "data:image/png," + "".join(f"%{b:02x}" for b in d),
])
def test_data_urls(encode):
    data = png()
    part = one(encode(data))
    assert part.data == data and part.mime == "image/png" and part.label == "data URL"


def test_bad_data_url():
    with pytest.raises(InputError, match="base64 data is damaged"):
        one("data:image/png;base64,@@@")
    with pytest.raises(InputError, match="no comma"):
        one("data:image/png;base64")


def test_ipython_image(tmp_path):
    from IPython.display import Image

    data = png()
    assert one(Image(data=data)).data == data
    path = tmp_path / "x.png"
    path.write_bytes(data)
    part = one(Image(filename=str(path)))
    assert part.data == data and part.label == "x.png"
    assert one(Image(url="https://example.test/y.png")).url == "https://example.test/y.png"


def test_matplotlib_figure():
    matplotlib = pytest.importorskip("matplotlib", reason="matplotlib is not in the test extra")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2), dpi=50)
    ax.plot([1, 2, 3], [3, 1, 2])
    part = one(fig)
    plt.close(fig)
    assert part.mime == "image/png" and part.label == "matplotlib figure"
    assert (part.width, part.height) == (150, 100)


class Figure:
    """A stand-in with matplotlib's ``savefig`` (the real one is tested when installed)."""

    __module__ = "matplotlib.figure"

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[dict] = []

    def savefig(self, buf, **kw):
        self.calls.append(kw)
        buf.write(self.data)


def test_figure_is_drawn_as_png_without_metadata():
    fig = Figure(png())
    part = one(fig)
    assert part.data == fig.data and part.label == "matplotlib figure"
    assert fig.calls == [{"format": "png", "metadata": {"Software": None}}]


def test_values_that_are_not_inputs():
    with pytest.raises(InputError, match="a dict cannot be sent; give a PIL image"):
        one({"a": 1})
    with pytest.raises(InputError, match="a int cannot be sent"):
        one(3)


def test_none_and_nan_mean_no_input():
    assert prepare_inputs([None, float("nan")], None, OPENAI) == ()
    assert prepare_inputs(None, None, OPENAI) == ()


def test_pandas_empty_cells_mean_no_input():
    """A DataFrame's image column with a gap holds NA or NaT there, not None."""
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    assert prepare_inputs([pd.NA, pd.NaT, np.float32("nan")], [pd.NA], OPENAI) == ()
    assert prepare_inputs(pd.NA, None, OPENAI) == ()


def test_unreadable_paths(tmp_path):
    with pytest.raises(InputError, match=r"Image 1 \(missing.png\)|cannot read .*missing.png"):
        one(tmp_path / "missing.png")
    with pytest.raises(InputError, match="is not a file"):
        one(tmp_path)
    secret = tmp_path / "locked.png"
    secret.write_bytes(png())
    secret.chmod(0)
    try:
        if not secret.read_bytes():  # pragma: no cover - root reads anything
            pass
    except PermissionError:
        with pytest.raises(InputError, match="Permission denied"):
            one(secret)
    finally:
        secret.chmod(0o600)
    with pytest.raises(InputError, match="cannot read"):
        one("no\0such")


def test_not_an_image():
    with pytest.raises(InputError, match=r"Image 1 \(bytes\) cannot be read as an image"):
        one(b"hello, world")


def test_other_formats_converted_with_pillow():
    bmp = encoded(picture(), "BMP")
    part = one(bmp)
    assert part.mime == "image/png" and part.width == 40


def test_gif_converted_for_gemini_kept_for_others():
    data = gif()
    assert one(data, GEMINI).mime == "image/png"
    assert one(data, CLAUDE).data == data


def test_detail_passed_and_checked():
    assert one(png(), detail="low").detail == "low"
    assert one(png(), CLAUDE, detail="low").detail is None  # no such setting there
    with pytest.raises(InputError, match="detail must be one of low, high, auto"):
        one(png(), detail="max")


# --- downscaling ------------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "size", "expected"), [
    (OPENAI, (4000, 3000), (1024, 768)),     # fit 2048 x 2048, then 768 on the short side
    (RESPONSES, (3000, 4000), (768, 1024)),
    (CLAUDE, (4000, 3000), (1238, 928)),     # 1568 long edge and ~1.15 megapixels
    (GEMINI, (4000, 3000), (3072, 2304)),    # fit 3072 x 3072
    (OPENAI, (600, 400), (600, 400)),        # never up
])
def test_downscaled_to_the_providers_useful_maximum(provider, size, expected):
    part = one(photo(size), provider)
    assert (part.width, part.height) == expected
    from PIL import Image

    assert Image.open(io.BytesIO(part.data)).size == expected


def test_detail_low_and_opt_out():
    assert (one(photo((2000, 1000)), detail="low").width,) == (512,)
    big = one(photo((2000, 1000)), downscale=False)
    assert (big.width, big.height) == (2000, 1000)


def test_big_file_bytes_downscaled_and_digest_stable():
    data = encoded(photo((3000, 2000)), "JPEG", quality=90)
    a, b = one(data), one(data)
    assert (a.width, a.height) == (1152, 768) and a.mime == "image/jpeg"
    assert a.digest == b.digest != hashlib.sha256(data).hexdigest()
    assert a.digest != one(data, CLAUDE).digest


def test_exif_orientation_applied():
    from PIL import Image

    img = photo((300, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # turned 90 degrees
    data = encoded(img, "JPEG", exif=exif.tobytes())
    part = one(data)
    assert (part.width, part.height) == (200, 300)


def test_users_image_is_not_changed():
    img = photo((3000, 2000))
    before = img.tobytes()[:1000], img.size
    one(img)
    assert (img.tobytes()[:1000], img.size) == before


# --- every mode Pillow has: converted to 8 bits without clipping ------------------------------


def _modes() -> list[str]:
    from PIL import Image

    return list(Image.MODES)


def assert_a_gradient(data: bytes, mode: str) -> None:
    """The image sent runs from black to white, left to right, as the source did."""
    levels = column_levels(data)
    if mode == "1":  # black, then white
        half = len(levels) // 2
        assert max(levels[: half - 2]) < 8 and min(levels[half + 2 :]) > 247, levels
        return
    assert levels[0] < 8 and levels[-1] > 247, (levels[:3], levels[-3:])
    assert all(b >= a - 3 for a, b in itertools.pairwise(levels)), levels  # never darker
    assert len({round(v) for v in levels}) > min(len(levels) // 2, 128)  # not two tones


@pytest.mark.parametrize("mode", _modes())
@pytest.mark.parametrize(("size", "sent"), [((256, 8), (256, 8)), ((4200, 60), (2048, 29))],
                         ids=["as-is", "downscaled"])
def test_every_pillow_mode_is_sent_without_clipping(mode, size, sent):
    """A PIL image in each of Pillow's modes: its pixels as sent, not clipped to white or
    refused ("image has wrong mode"), also where it is reduced and resized."""
    part = one(gradient(mode, size))
    assert (part.width, part.height) == sent
    assert_a_gradient(part.data, mode)
    assert part.thumbnail is None or part.thumbnail.startswith("data:image/")
    with_thumb = one(gradient(mode, (64, 8)), thumbnails=True)
    assert with_thumb.thumbnail and with_thumb.thumbnail.startswith("data:image/")


def _tiff_round_trips(mode: str) -> bool:
    from PIL import Image

    try:
        data = encoded(gradient(mode, (8, 2)), "TIFF")
        return Image.open(io.BytesIO(data)).mode == mode
    except Exception:
        return False


@pytest.mark.parametrize("mode", [m for m in _modes() if _tiff_round_trips(m)])
@pytest.mark.parametrize("size", [(256, 8), (4200, 60)], ids=["as-is", "downscaled"])
def test_every_mode_pillow_opens_from_a_file(mode, size):
    """A TIFF in each mode Pillow opens it in (I;16, I;16B, I, F, CMYK, YCbCr, LAB, PA,
    ...): converted to PNG or JPEG for the provider, a gradient still."""
    part = one(encoded(gradient(mode, size), "TIFF"))
    assert part.mime in ("image/png", "image/jpeg")
    assert_a_gradient(part.data, mode)


@pytest.mark.parametrize("edge", [1000, 3000])
def test_a_16_bit_greyscale_png_scan_stays_a_gradient(edge):
    """A 16-bit greyscale PNG (a scan, a micrograph), downscaled: not sent all white, and
    not refused at 3000 × 3000."""
    from PIL import Image

    data = encoded(gradient("I;16", (edge, edge)), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    part = one(data)
    assert (part.width, part.height) == (768, 768)
    assert_a_gradient(part.data, "I;16")
    levels = column_levels(part.data)
    assert abs(levels[384] - 127.5) < 4  # the middle is mid-grey: scaled, not clipped


@pytest.mark.parametrize(("values", "expected"), [
    ([-1000, 0, 1000], [0, 127, 255]),      # any range: stretched to black .. white
    ([0, 128, 255], [0, 128, 255]),         # within 8 bits: as it is
    ([0, 32768, 65535], [0, 127, 255]),     # within 16 bits: scaled
])
def test_32_bit_integer_pixels_are_mapped_not_clipped(values, expected):
    import numpy as np
    from PIL import Image

    img = Image.fromarray(np.array([values] * 4, dtype="int32"))
    levels = column_levels(one(img).data)
    assert [round(v) for v in levels] == pytest.approx(expected, abs=1)


@pytest.mark.parametrize(("values", "expected"), [
    ([0.0, 0.5, 1.0], [0, 127, 255]),       # 0.0 .. 1.0, as floats usually are
    ([-2.5, 0.0, 2.5], [0, 127, 255]),      # any other range: stretched
    ([3.0, 3.0, 3.0], [3, 3, 3]),           # flat
])
def test_float_pixels_are_mapped_not_clipped(values, expected):
    import numpy as np
    from PIL import Image

    img = Image.fromarray(np.array([values] * 4, dtype="float32"))
    levels = column_levels(one(img).data)
    assert [round(v) for v in levels] == pytest.approx(expected, abs=1)


def test_palette_transparency_is_kept():
    from PIL import Image

    img = Image.new("P", (40, 20))
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (20, 0, 40, 20))
    img.info["transparency"] = 0
    for size, sent in (((40, 20), (40, 20)), ((4000, 20), (2048, 10))):
        part = one(img.resize(size) if size != (40, 20) else img)
        assert (part.width, part.height) == sent and part.mime == "image/png"
        got = Image.open(io.BytesIO(part.data)).convert("RGBA")
        assert got.getpixel((0, 0))[3] == 0 and got.getpixel((sent[0] - 1, 0)) == (255, 0, 0,
                                                                                      255)


# --- limits ---------------------------------------------------------------------------------


class Tiny(Provider):
    """A provider with tiny limits and no documents (not registered)."""

    name = "tiny"
    inputs = InputLimits(image_types=frozenset({"image/png"}), image_urls=False,
                         max_image_bytes=2000, max_request_bytes=4000, max_images=2)


def test_limits_each_one_line():
    tiny = Tiny()
    small = png((8, 8))
    with pytest.raises(InputError, match=r"^3 images in one request; the tiny format takes at "
                                         r"most 2\.$"):
        prepare_inputs([small, small, small], None, tiny)
    with pytest.raises(InputError, match="the tiny format does not take PDF documents"):
        prepare_inputs(None, [PDF], tiny)
    with pytest.raises(InputError, match="does not take images by URL; use --inline"):
        prepare_inputs(["https://example.test/a.png"], None, tiny)
    with pytest.raises(InputError, match="is a JPEG; the tiny format takes only PNG images"):
        prepare_inputs([jpeg()], None, tiny, downscale=False)
    noisy = encoded(photo((60, 60)), "PNG")
    assert len(noisy) > 2000
    with pytest.raises(InputError, match=r"is [\d.]+ KB; the tiny format takes at most 2 KB "
                                         r"per image \(make it smaller, or let it be "
                                         "downscaled: drop --no-downscale"):
        prepare_inputs([noisy], None, tiny, downscale=False)


def test_request_size_limit():
    tiny = Tiny()
    part = one(png((8, 8)), tiny)
    big = replace(part, size=1800)
    with pytest.raises(InputError, match=r"take 4\.8 KB as sent \(base64\); the tiny format "
                                         r"takes at most 4 KB per request"):
        prepare_inputs([big, big], None, tiny)


def test_pdf_limits_and_urls():
    with pytest.raises(InputError, match="openai format does not take PDF documents by URL; "
                                         r"use --inline \(inline=True\)"):
        prepare_inputs(None, ["https://example.test/a.pdf"], OPENAI)
    (doc,) = prepare_inputs(None, ["https://example.test/a.pdf"], RESPONSES)
    assert doc.url and doc.kind == "document"
    huge = PDF + b"\0" * 20_000_001
    with pytest.raises(InputError, match=r"is 20,000,1\d\d bytes; the gemini format takes at "
                                         r"most 20,000,000 bytes per PDF"):
        prepare_inputs(None, [huge], GEMINI)


def test_too_many_for_claude():
    parts = [one(png((8, 8)), CLAUDE)] * 101
    with pytest.raises(InputError, match="101 images in one request; the anthropic format "
                                         "takes at most 100"):
        prepare_inputs(parts, None, CLAUDE)


def test_every_provider_declares_its_inputs():
    for name in ("openai", "responses", "anthropic", "gemini"):
        p = get_provider(name)
        assert p.capabilities.images == bool(p.inputs.image_types)
        assert p.capabilities.documents == bool(p.inputs.document_types)
        assert p.inputs.max_edge and p.inputs.max_request_bytes and p.inputs.max_images
    assert "image/gif" not in GEMINI.inputs.image_types
    assert CLAUDE.inputs.image_types == {"image/png", "image/jpeg", "image/gif", "image/webp"}


# --- display ---------------------------------------------------------------------------------


def test_describe_inputs():
    parts = prepare_inputs([png(), "https://example.test/a.png"], [PDF], OPENAI)
    assert describe_inputs(parts) == "2 images, 1 PDF"
    assert describe_inputs(parts[:1]) == "1 image"
    assert describe_inputs([]) == ""


def test_thumbnails_are_small_safe_data_urls():
    parts = prepare_inputs([photo((2000, 1500)), "https://evil.test/x.png?<script>"], [PDF],
                           OPENAI, thumbnails=True)
    assert parts[0].thumbnail.startswith("data:image/jpeg;base64,")
    assert len(parts[0].thumbnail) < 12_000
    markup = thumbnails_html([p.summary() for p in parts])
    # the photo's thumbnail and the picture it opens; the URL is shown as text, never loaded
    assert markup.count("<img ") == 2 and markup.count("<details") == 1
    assert "https://evil.test/x.png?&lt;script&gt;" in markup and "<script>" not in markup
    assert "PDF" in markup


def test_a_thumbnail_opens_the_picture_at_full_width_with_no_script():
    """A click on a thumbnail (a <details>' summary) shows the picture inline, as wide as
    the output (at most PREVIEW_EDGE pixels, a data: URL made here): no new window, no
    request, no script; the same in an export and where output is sanitized."""
    from PIL import Image

    from structmagic.inputs.pictures import PREVIEW_EDGE

    (part,) = prepare_inputs([photo((2000, 1500))], [], OPENAI, thumbnails=True)
    assert part.preview.startswith("data:image/jpeg;base64,")
    whole = Image.open(io.BytesIO(base64.b64decode(part.preview.split(",", 1)[1])))
    # the picture as the model saw it (as sent), at most PREVIEW_EDGE pixels
    assert whole.size == (part.width, part.height) and max(whole.size) <= PREVIEW_EDGE
    markup = thumbnails_html([part.summary()])
    assert_inert(markup)
    summary, rest = markup.split("</summary>")
    assert "<summary" in summary and part.thumbnail in summary and "zoom-in" in summary
    assert part.preview in rest and "max-width:100%" in rest.split(part.preview)[1]
    assert part.summary() == replace(part.summary(), preview=None)  # display only


def test_thumbnail_that_is_not_a_safe_data_url_is_not_an_img():
    part = replace(one(png()), thumbnail='javascript:alert(1)" onerror="x', label="<b>x</b>")
    markup = thumbnails_html([part.summary()])
    assert "<img" not in markup and "javascript:" not in markup.split("title=")[0]
    assert "&lt;b&gt;x&lt;/b&gt;" in markup and "<b>x" not in markup


def test_part_is_immutable_and_hashable():
    part = one(png())
    with pytest.raises(AttributeError):
        part.mime = "image/gif"  # type: ignore[misc]
    assert hash(part) == hash(one(png()))
    assert isinstance(part, Part) and part.b64 is part.b64  # encoded once


# --- without Pillow -----------------------------------------------------------------------------


def test_without_pillow_bytes_and_paths_still_work(no_pillow, tmp_path):
    data = tiny_png()  # sniffed and walked, not decoded: no Pillow needed
    path = tmp_path / "x.bin"
    path.write_bytes(data)
    for value in (data, path, "data:image/png;base64," + base64.b64encode(data).decode()):
        part = one(value, thumbnails=True)
        assert part.data == data and part.mime == "image/png"
        assert part.thumbnail == "data:image/png;base64," + base64.b64encode(data).decode()
    assert one(PDF).mime == "application/pdf"
    assert one("https://example.test/a.png").url


def test_without_pillow_features_say_what_to_install(no_pillow):
    gif_bytes = tiny_gif()
    with pytest.raises(InputError, match=r"GIF, which the gemini format does not take; it is "
                                         r"converted to PNG with Pillow: install Pillow: pip "
                                         r"install 'structmagic\[pillow\]'"):
        one(gif_bytes, GEMINI)
    with pytest.raises(InputError, match=r"first bytes are 42 4d.*pip install "
                                         r"'structmagic\[pillow\]'"):
        one(b"BM" + b"\0" * 40)
    big = b"\xff\xd8\xff\xd9" + b"\0" * 6_000_000  # a whole (empty) JPEG, then padding
    with pytest.raises(InputError, match=r"6 MB; the anthropic format takes at most 5 MB per "
                                         r"image \(make it smaller, or install Pillow"):
        one(big, CLAUDE)


def test_without_pillow_a_pil_like_value_says_so(no_pillow):
    class Fake:
        __module__ = "PIL.Image"

    with pytest.raises(InputError, match=r"needs Pillow; install Pillow"):
        one(Fake())


def test_importing_structmagic_does_not_import_pillow():
    import subprocess

    code = ("import structmagic, structmagic.providers as p, structmagic.inputs, sys;"
            "[p.get_provider(n) for n in p.provider_names()];"
            "print('PIL' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parent.parent, check=True)
    assert out.stdout.strip() == "False"
