"""Estimates of columns of images and PDFs: each provider's documented token rule for an
image (by its size as the provider scales it) and for a PDF page, the pages counted in the
file, and the estimate and the magic counting them without sending anything."""

from __future__ import annotations

import json
import zlib

import pytest

import structmagic as sm
from structmagic import estimate
from structmagic.cost.media import input_tokens
from structmagic.inputs import measure as measure_module
from structmagic.inputs.measure import measure_inputs, pdf_pages
from structmagic.providers import get_provider

from cost_helpers import SCHEMA
from media_helpers import PDF, encoded, photo, picture, png


def pages_pdf(n: int) -> bytes:
    """A PDF of ``n`` blank pages, as Pillow writes one (plain page objects)."""
    pages = [picture((60, 80)) for _ in range(n)]
    return encoded(pages[0], "PDF", save_all=True, append_images=pages[1:])


def object_stream_pdf(n: int) -> bytes:
    """A PDF 1.5 whose ``n`` page objects sit in a compressed object stream (as many
    writers store them), so no ``/Type /Page`` is in the file's own bytes."""
    objects = b" ".join(b"<< /Type /Page /Parent 2 0 R >>" for _ in range(n))
    offsets = b" ".join(f"{3 + i} {i * 32}".encode() for i in range(n))
    data = zlib.compress(offsets + b"\n" + objects)
    head = (b"%PDF-1.5\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            + b"2 0 obj << /Type /Pages /Count " + str(n).encode() + b" >> endobj\n")
    stream = (b"9 0 obj << /Type /ObjStm /N " + str(n).encode() + b" /First "
              + str(len(offsets) + 1).encode() + b" /Filter /FlateDecode /Length "
              + str(len(data)).encode() + b" >>\nstream\n")
    return head + stream + data + b"\nendstream\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def tokens(provider: str, width: int | None, height: int | None,
           detail: str | None = None) -> int:
    limits = get_provider(provider).inputs
    return limits.tokens.image(limits, width, height, detail)


# --- the rules, on the vendors' own worked examples ------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "responses"])
@pytest.mark.parametrize(("size", "detail", "expected"), [
    ((1024, 1024), None, 765),      # 768 × 768: four 512-px tiles, 85 + 4 × 170
    ((1024, 1024), "high", 765),
    ((2048, 4096), None, 1105),     # 1024 × 2048, then 768 × 1536: six tiles
    ((4096, 8192), "auto", 1105),   # fitted into 2048 px first
    ((512, 512), None, 255),        # one tile, not scaled up
    ((4000, 3000), "low", 85),      # low detail: always 85
    ((None, None), None, 765),      # a URL: taken as 1024 × 1024
])
def test_openai_tiles(provider, size, detail, expected):
    assert tokens(provider, *size, detail) == expected


@pytest.mark.parametrize(("size", "expected"), [
    ((1000, 1000), 1334),           # 1,000,000 / 750
    ((200, 200), 54),
    ((1092, 1092), 1533),           # scaled to about 1.15 megapixels first
    ((8000, 2000), 820),            # long edge to 1568 px first: 1568 × 392 / 750
    ((None, None), 1399),           # a URL: taken as 1024 × 1024
])
def test_claude_counts_pixels(size, expected):
    assert tokens("anthropic", *size) == expected
    assert tokens("anthropic", *size, "low") == expected  # Claude has no detail setting


@pytest.mark.parametrize(("size", "expected"), [
    ((384, 384), 258),              # within 384 px on both sides: one image, 258
    ((300, 100), 258),
    ((385, 200), 258),              # one 768-px tile
    ((1536, 768), 516),             # two tiles
    ((3072, 3072), 16 * 258),
    ((6144, 6144), 16 * 258),       # scaled to 3072 px first
])
def test_gemini_tiles(size, expected):
    assert tokens("gemini", *size) == expected


def test_pdf_pages_per_provider():
    per_page = {name: get_provider(name).inputs.tokens.page
                for name in ("openai", "responses", "anthropic", "gemini")}
    assert per_page == {"openai": 1500, "responses": 1500, "anthropic": 2000, "gemini": 258}


# --- pages and sizes ---------------------------------------------------------------------------


def test_pdf_pages_counts_page_objects_not_the_page_tree():
    assert pdf_pages(pages_pdf(3)) == 3
    assert pdf_pages(pages_pdf(1)) == 1
    assert pdf_pages(PDF) == 1  # a page tree with no pages: at least one page
    assert pdf_pages(b"%PDF-1.7 nothing to read") == 1


def test_pdf_pages_looks_inside_compressed_object_streams():
    data = object_stream_pdf(5)
    assert data.count(b"/Type /Page ") == 0  # not in the file's own bytes
    assert pdf_pages(data) == 5


def test_a_damaged_object_stream_is_skipped():
    data = object_stream_pdf(4).replace(b"stream\n", b"stream\n\x00garbage", 1)
    assert pdf_pages(data) == 1


def test_measure_reads_sizes_without_decoding(tmp_path):
    img = picture((640, 480))
    path = tmp_path / "scan.png"
    path.write_bytes(encoded(img, "PNG"))
    found = measure_inputs([img, path, str(path), encoded(img, "JPEG"),
                            "https://example.org/a.png"], [pages_pdf(2)], detail="low")
    assert [(m.kind, m.width, m.height) for m in found] == [
        ("image", 640, 480), ("image", 640, 480), ("image", 640, 480),
        ("image", 640, 480), ("image", None, None), ("document", None, None)]
    assert found[-1].pages == 2 and found[-1].mime == "application/pdf"
    assert all(m.detail == "low" for m in found[:-1])


def test_measure_without_pillow_reads_png_and_gif_headers(monkeypatch):
    monkeypatch.setattr(measure_module.P, "have_pillow", lambda: False)
    gif = encoded(picture((33, 21)), "GIF")
    jpeg = encoded(picture((50, 40)), "JPEG")
    found = measure_inputs([png((70, 45)), gif, jpeg], None)
    assert [(m.width, m.height) for m in found] == [(70, 45), (33, 21), (None, None)]


@pytest.mark.parametrize(("value", "message"), [
    ("/no/such/scan.png", r"Image 1: cannot read '/no/such/scan.png'"),
    (b"not an image at all", "Image 1 \\(bytes\\) cannot be read as an image"),
    (3.5, "Image 1: a float cannot be sent"),
])
def test_measure_errors_name_the_input(value, message):
    with pytest.raises(sm.InputError, match=message):
        measure_inputs([value], None)


# --- the estimate ------------------------------------------------------------------------------


@pytest.fixture
def priced(settings):
    sm.configure(prices={"test-model": (1, 2)})
    yield
    sm.configure(prices=None)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_estimate_counts_each_rows_images_and_pages_and_sends_nothing(server, priced,
                                                                      provider):
    scan = picture((2048, 1536))
    prompts = ["receipt 1", "receipt 2", "receipt 3"]
    text = estimate(prompts, SCHEMA, provider=provider)
    est = estimate(prompts, SCHEMA, provider=provider, images=[[scan], [scan, scan], None],
                   files=[None, None, [pages_pdf(3)]])
    assert server.requests == []
    limits = get_provider(provider).inputs
    media = 3 * limits.tokens.image(limits, 2048, 1536) + 3 * limits.tokens.page
    assert est.input_tokens.expected == text.input_tokens.expected + media
    assert est.cost.expected > text.cost.expected
    assert (f"3 images and 1 PDF of 3 pages: {media:,} input tokens by the provider's rule"
            in est.text())


def test_estimate_low_detail_counts_less(server, priced):
    scan = picture((2048, 1536))
    high = estimate(["r"], SCHEMA, images=[[scan]])
    low = estimate(["r"], SCHEMA, images=[[scan]], detail="low")
    assert high.input_tokens.expected - low.input_tokens.expected == 765 - 85


def test_estimate_names_the_row_of_an_unreadable_image(server, priced):
    with pytest.raises(sm.InputError, match=r"Row 1: Image 1: cannot read"):
        estimate(["a", "b"], SCHEMA, images=[[picture()], ["/no/such/scan.png"]])
    with pytest.raises(sm.InputError, match="one entry"):
        estimate(["a", "b"], SCHEMA, images=[[picture()]])
    assert server.requests == []


def test_exact_sends_the_images_to_the_count_endpoint(server, priced):
    from cost_helpers import SyntheticUsage

    sm.configure(base_url=server.url + "/v1")
    usage = SyntheticUsage()
    server.responder = usage
    estimate(["r 1", "r 2"], SCHEMA, provider="anthropic", exact=True,
             images=[[picture((64, 48))], None])
    assert [r.path for r in server.requests] == ["/v1/messages/count_tokens"] * 2
    contents = [r.json["messages"][0]["content"] for r in server.requests]
    blocks = sorted([b["type"] for b in c] if isinstance(c, list) else ["text"]
                    for c in contents)
    assert blocks == [["image", "text"], ["text"]]
    image = next(c[0] for c in contents if isinstance(c, list))
    assert image["source"]["type"] == "base64" and image["source"]["media_type"] == "image/png"


def test_a_sample_runs_the_picked_rows_with_their_images(server, priced):
    from cost_helpers import SyntheticUsage

    usage = SyntheticUsage()
    server.responder = usage
    images = [[picture((40 + i, 30))] for i in range(4)]
    estimate([f"r {i}" for i in range(4)], SCHEMA, images=images, sample=2, detail="low")
    sent = [r.json["messages"][0]["content"] for r in server.requests]
    assert len(sent) == 2
    for content in sent:
        kinds = [part["type"] for part in content]
        assert kinds == ["image_url", "text"]
        assert content[0]["image_url"]["detail"] == "low"


def test_magic_estimate_counts_the_image_column(ip, server, priced, capfd):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"name": ["a", "b"], "scan": [picture((1024, 1024)),
                                                       picture((1024, 1024))]})
    ip.user_ns.update(schema=SCHEMA, frame=frame, cover=pages_pdf(2))
    res = ip.run_cell("%%structured schema --each frame --image scan --file cover --estimate "
                      "-o est\nTotal of {name}", store_history=False)
    assert res.success, res.error_in_exec
    assert server.requests == []
    assert "2 images and 2 PDFs of 4 pages: 7,530 input tokens" in capfd.readouterr().out
    # one cell, its own image
    res = ip.run_cell("%%structured schema --image cover_image --estimate\nTotal",
                      store_history=False)
    assert "cover_image" in str(res.error_in_exec)  # no such variable: a usage error
    ip.user_ns["cover_image"] = picture((512, 512))
    res = ip.run_cell("%%structured schema --image cover_image --estimate --detail low\nTotal",
                      store_history=False)
    assert res.success, res.error_in_exec
    assert "1 image: 85 input tokens" in res.result.text()


def test_text_only_estimates_say_nothing_of_images(server, priced):
    assert "image" not in estimate(["a", "b"], SCHEMA, images=[None, None]).text()


def test_object_streams_unpack_within_a_bound(monkeypatch):
    """A stream that unpacks to far more than it holds (a zip bomb) stops at the bound."""
    monkeypatch.setattr(measure_module, "_MAX_UNPACKED", 200)
    assert pdf_pages(object_stream_pdf(20)) < 20  # the page objects past 200 bytes unread
    monkeypatch.setattr(measure_module, "_MAX_UNPACKED", 64 * 1024 * 1024)
    assert pdf_pages(object_stream_pdf(20)) == 20


def test_the_budget_counts_an_items_images_before_it_is_sent(settings, priced):
    """Under --max-cost each item is estimated before it goes out: its images count by the
    provider's rule from the first item on (not only once real usage has been learned)."""
    from structmagic.config import resolve
    from structmagic.rows.budget import ItemEstimator
    from structmagic.schema import load_schema

    spec, scan = load_schema(SCHEMA), picture((1024, 1024))
    plain = ItemEstimator(["r 1", "r 2"], spec, resolve({}))
    with_images = ItemEstimator(["r 1", "r 2"], spec, resolve({}), images=[[scan], None])
    assert with_images.counted(0) == plain.counted(0) + 765
    assert with_images.counted(1) == plain.counted(1)
    low = ItemEstimator(["r 1"], spec, resolve({}), images=[[scan]], detail="low")
    assert low.counted(0) == plain.counted(0) + 85
    broken = ItemEstimator(["r 1"], spec, resolve({}), images=[["/no/such/scan.png"]])
    assert broken.counted(0) == 0  # the item fails alone when it is run, as without a cap


# --- one count for the estimate, the budget and the batch API's cap ----------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_the_estimate_the_budget_and_a_batch_jobs_cap_count_images_alike(fake, server,
                                                                         provider):
    """Three 700 × 700 photos: the batch API's ``max_cost`` counts them by the provider's
    rule, as the estimate and the threads' budget do, never as base64 text."""
    from structmagic.config import resolve
    from structmagic.rows.budget import ItemEstimator
    from structmagic.schema import load_schema

    from batchapi_helpers import use

    use(server, provider, prices={"test-model": (1.0, 1.0)}, max_tokens=200)
    photos = [encoded(photo((700, 700), seed=i), "JPEG", quality=95) for i in range(3)]
    assert all(len(p) > 100_000 for p in photos)  # some 400,000 characters of base64
    prompts = [f"item {i}" for i in range(3)]
    est = estimate(prompts, SCHEMA, images=photos)
    limits = get_provider(provider).inputs
    assert est.input_tokens.expected >= 3 * limits.tokens.image(limits, 700, 700)
    counted = ItemEstimator(prompts, load_schema(SCHEMA), resolve({}), images=photos)
    assert sum(counted.counted(i) for i in range(3)) == est.input_tokens.expected
    high = est.batch_cost.high
    assert high < 0.01
    # a cap under the estimate's high end is refused, saying about that figure (the line's
    # body counts a few tokens more: its model, max_tokens and the parts' JSON wrappers)
    with pytest.raises(sm.ConfigError, match="may cost up to") as info:
        sm.submit_batch(prompts, SCHEMA, images=photos, max_cost=high * 0.9)
    upto = float(str(info.value).split("may cost up to $")[1].split(" ")[0])
    assert high <= upto <= high * 1.06
    assert len(fake.creates) == 0
    # and one a little over it is not
    job = sm.submit_batch(prompts, SCHEMA, images=photos, max_cost=high * 1.1)
    assert len(fake.creates) == 1 and job.max_cost == pytest.approx(high * 1.1)


@pytest.mark.parametrize("provider", ["openai", "responses", "anthropic", "gemini"])
def test_the_data_of_an_image_or_a_pdf_in_a_body_is_not_counted_as_text(settings, provider):
    from structmagic.call.media import Media
    from structmagic.call.plan import Asking
    from structmagic.config import resolve
    from structmagic.cost.media import request_tokens
    from structmagic.cost.tokens import count_body
    from structmagic.inputs.measure import measure_part
    from structmagic.schema import load_schema
    from structmagic.transport.request import build

    given = resolve({"provider": provider})
    chosen = get_provider(provider)
    asking = Asking(load_schema(SCHEMA), given, chosen)

    def body(prompt: str, image: bytes, pdf: bytes | None = PDF):
        parts = Media().parts(given, images=image, files=pdf)
        return build(asking.first(prompt, parts), given, chosen)[1], parts

    small, _ = body("receipt 1", png((40, 30)))
    large, parts = body("receipt 1", encoded(photo((400, 300)), "PNG"))
    assert len(json.dumps(large)) > len(json.dumps(small)) + 100_000
    assert count_body(large) == count_body(small)  # the same text, whatever the data
    assert count_body(large) < 200
    measured = [measure_part(p) for p in parts]
    rule = sum(input_tokens(m, chosen.inputs) for m in measured)
    assert request_tokens(large, measured, chosen.inputs) == count_body(large) + rule
    # a data URL in the prompt's text is text the model reads
    text, _ = body("decode data:image/png;base64," + "QUJD" * 100, png((40, 30)))
    assert count_body(text) >= count_body(small) + 100
