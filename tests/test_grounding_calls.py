"""Grounding in every road a call takes: structured(), batch(), a provider batch job, the
Extractor and the magic, against the loopback fake server. What is sent (nothing more than
without grounding; the re-ask's words), what is bound (``Result.grounding``, the
``grounded`` column, :func:`structmagic.grounding_frame`) and what fails
(:class:`structmagic.UngroundedError`)."""

from __future__ import annotations

import json
import pickle

import pytest
from IPython.core.error import UsageError

import structmagic as sm
from structmagic.grounding import Source

from batchapi_helpers import items, use
from fakebatch import item_answer
from fakeserver import chat
from media_helpers import tiny_png
from pdfmake import SCAN, make_pdf

INVOICE = {
    "type": "object",
    "properties": {
        "vendor": {"type": "string"},
        "total": {"type": "number"},
        "paid": {"type": "boolean"},
    },
    "required": ["vendor", "total", "paid"],
    "additionalProperties": False,
}
DOC = "Invoice from Acme Tools GmbH.\nTotal due: $1,234.00 (not paid)."
GOOD = {"vendor": "Acme Tools GmbH", "total": 1234, "paid": False}
PLANTED = {"vendor": "Globex Corporation", "total": 1234, "paid": False}


def statuses(res: sm.Result) -> dict[str, str]:
    return {path: rec.status for path, rec in res.grounding.items()}


# --- one call ------------------------------------------------------------------------------------


def test_grounding_sends_nothing_more_and_finds_each_value(server, settings):
    server.queue(chat(json.dumps(GOOD)), chat(json.dumps(GOOD)))
    plain = sm.structured(DOC, INVOICE)
    res = sm.structured(DOC, INVOICE, ground=True)
    first, second = server.requests
    assert first.json == second.json  # grounding is computed here, from the answer
    assert plain.grounding is None and plain.source is None
    assert statuses(res) == {"vendor": "exact", "total": "normalized", "paid": "not_applicable"}
    assert res.source == Source(DOC)
    vendor = res.grounding["vendor"]
    assert DOC[vendor.start:vendor.end] == "Acme Tools GmbH" == vendor.text
    assert res.grounding["total"].text == DOC[res.grounding["total"].start:
                                              res.grounding["total"].end]
    assert "1,234" in res.grounding["total"].text
    assert res.attempts == 1
    again = pickle.loads(pickle.dumps(res))
    assert again.grounding == res.grounding and again.source == res.source


def test_the_source_given_and_a_blank_one(server, settings):
    server.queue(*(chat(json.dumps(GOOD)) for _ in range(3)))
    res = sm.structured("Extract the invoice.", INVOICE, ground=True, source=DOC)
    assert res.source.text == DOC and res.grounding["vendor"].status == "exact"
    blank = sm.structured("Extract the invoice.", INVOICE, ground=True, source="  ")
    assert blank.source is None
    assert statuses(blank) == {"vendor": "unverifiable", "total": "unverifiable",
                               "paid": "not_applicable"}
    messages = [{"role": "system", "content": "Be exact."},
                {"role": "user", "content": [{"type": "text", "text": DOC}]}]
    chatted = sm.structured(messages, INVOICE, ground=True)
    assert chatted.source.text == DOC  # the user's messages, not the system prompt
    with pytest.raises(sm.ConfigError, match="source must be the text"):
        sm.structured("x", INVOICE, ground=True, source=b"bytes")
    assert len(server.requests) == 3  # the bad source failed before any request
    pd = pytest.importorskip("pandas")
    for empty in (float("nan"), pd.NA):  # an empty cell of a source column
        server.queue(chat(json.dumps(GOOD)))
        cell = sm.structured("Extract the invoice.", INVOICE, ground=True, source=empty)
        assert cell.source is None and statuses(cell)["vendor"] == "unverifiable"


def test_the_template_words_are_not_a_source_for_the_steps_field(server, settings):
    schema = {"type": "object", "properties": {
        "steps": {"type": "array", "items": {"type": "string"}},
        "vendor": {"type": "string"}}, "required": ["steps", "vendor"],
        "additionalProperties": False}
    server.queue(chat(json.dumps({"steps": ["I read the header."], "vendor": "Acme Tools GmbH"})))
    res = sm.structured(DOC, schema, ground=True)
    assert statuses(res) == {"steps[0]": "not_applicable", "vendor": "exact"}


def test_require_grounding_asks_again_for_the_values_not_found(server, settings):
    server.queue(chat(json.dumps(PLANTED)), chat(json.dumps(GOOD)))
    res = sm.structured(DOC, INVOICE, require_grounding=True)
    assert res.data == GOOD and res.attempts == 2
    assert statuses(res)["vendor"] == "exact"
    first = server.requests[0].json["messages"]
    reask = server.requests[1].json["messages"]
    assert reask[:-2] == first and len(reask) == len(first) + 2
    assert reask[-2] == {"role": "assistant", "content": json.dumps(PLANTED)}
    said = reask[-1]["content"]
    assert reask[-1]["role"] == "user"
    assert '- vendor: "Globex Corporation"' in said
    assert "total" not in said.split("Give each value")[0]  # only the values not found
    assert "exactly as the document writes it, or null" in said


def test_require_grounding_fails_after_the_reasks_and_warn_keeps(server, settings):
    server.queue(chat(json.dumps(PLANTED)), chat(json.dumps(PLANTED)))
    with pytest.raises(sm.UngroundedError) as caught:
        sm.structured(DOC, INVOICE, require_grounding=True)
    err = caught.value
    assert isinstance(err, sm.AnswerError)
    assert err.paths == ["vendor"] and err.attempts == 2
    assert err.value == PLANTED and err.grounding["vendor"].status == "ungrounded"
    assert "1 value is not in the source text after 2 tries" in str(err)
    assert "  - vendor" in str(err)
    assert pickle.loads(pickle.dumps(err)).paths == ["vendor"]
    server.queue(chat(json.dumps(PLANTED)))
    with pytest.raises(sm.UngroundedError, match="after 1 try"):
        sm.structured(DOC, INVOICE, require_grounding="on", reasks=0)
    server.queue(chat(json.dumps(PLANTED)), chat(json.dumps(PLANTED)))
    kept = sm.structured(DOC, INVOICE, require_grounding="warn")
    assert kept.data == PLANTED and kept.attempts == 2
    assert statuses(kept)["vendor"] == "ungrounded"
    with pytest.raises(sm.ConfigError, match="choose one of off, on, warn"):
        sm.structured(DOC, INVOICE, require_grounding="maybe")


def test_an_image_has_no_text_to_check(server, settings):
    server.queue(chat(json.dumps(GOOD)), chat(json.dumps(GOOD)))
    res = sm.structured(DOC, INVOICE, ground=True, images=tiny_png(), downscale=False)
    assert res.source is None
    assert statuses(res)["vendor"] == "unverifiable"
    ocr = sm.structured(DOC, INVOICE, ground=True, images=tiny_png(), downscale=False,
                        source="OCR: Acme Tools GmbH, total 1234")
    assert statuses(ocr)["vendor"] == "exact"


def test_a_pdf_grounds_in_its_text_layer_with_pages(server, settings):
    pdf = make_pdf([["Invoice 7", "Vendor: Acme Tools GmbH"], SCAN,
                    ["Total due: 1.234,00 EUR", "Amount: 1,234.00"]])
    server.queue(chat(json.dumps(GOOD)))
    res = sm.structured("Extract the invoice.", INVOICE, ground=True, files=pdf)
    assert res.source.pages[0] == 0 and len(res.source.pages) == 3
    vendor, total = res.grounding["vendor"], res.grounding["total"]
    assert (vendor.status, vendor.page, total.page) == ("exact", 1, 3)
    assert res.source.text[total.start:total.end] == total.text
    scanned = make_pdf([SCAN])
    server.queue(chat(json.dumps(GOOD)))
    res = sm.structured("Extract the invoice.", INVOICE, ground=True, files=scanned)
    assert res.source is None and statuses(res)["vendor"] == "unverifiable"


def test_a_pdf_that_cannot_be_read_fails_before_anything_is_sent(server, settings,
                                                                 monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pypdf", None)
    from structmagic.inputs import pdftext

    pdftext.clear_cache()
    with pytest.raises(sm.InputError, match=r"pip install 'structmagic\[pdf\]'"):
        sm.structured("x", INVOICE, ground=True, files=make_pdf([["Acme"]]))
    assert server.requests == []


# --- many rows ---------------------------------------------------------------------------------


def _echo_vendor(req):
    """The vendor named in the request's last line, or a planted one for 'Initech'."""
    text = req.json["messages"][-1]["content"]
    vendor = text.rsplit("Vendor: ", 1)[-1].strip()
    return chat(json.dumps({"vendor": vendor, "total": 5, "paid": True}))


def test_batch_grounds_each_row_in_its_own_source(server, settings):
    server.responder = _echo_vendor
    prompts = ["Vendor: Acme", "Vendor: Initech"]
    results = sm.batch(prompts, INVOICE, ground=True,
                       source=["Acme sold 5 items.", None])
    assert [r.source.text for r in results] == ["Acme sold 5 items.", "Vendor: Initech"]
    assert statuses(results[0]) == {"vendor": "exact", "total": "exact",
                                    "paid": "not_applicable"}
    assert statuses(results[1])["total"] == "ungrounded"
    frame = sm.grounding_frame(results)
    assert list(frame.columns) == ["row", "path", "value", "status", "start", "end", "page",
                                   "text", "score"]
    assert frame[frame.status == "ungrounded"][["row", "path"]].values.tolist() == [
        [1, "total"]]
    with pytest.raises(sm.InputError, match="source has 1 entries for 2 prompts"):
        sm.batch(prompts, INVOICE, ground=True, source=["only one"])


def test_the_frame_has_a_grounded_column(server, settings):
    pd = pytest.importorskip("pandas")
    from structmagic.rows.frame import results_frame

    server.responder = _echo_vendor
    results = sm.batch(["Vendor: Acme 5", "Vendor: Initech"], INVOICE, ground=True)
    frame = results_frame(results, ["a", "b"], ["vendor", "total", "paid"])
    assert frame["grounded"].tolist() == [1.0, 0.5]
    named = results_frame(results, ["a", "b"], ["grounded", "vendor"])
    assert "row_grounded" in named.columns
    plain = results_frame(sm.batch(["Vendor: Acme"], INVOICE), [0], ["vendor"])
    assert "grounded" not in plain.columns
    failed = sm.Result(error=sm.ConfigError("x"))
    assert pd.isna(results_frame([failed, *results[:1]], [0, 1], ["vendor"])["grounded"][0])


def test_a_provider_batch_job_grounds_and_requires(fake, server):
    def planted(body):
        """In the job, row 2 names a label its prompt does not have (its synchronous re-run
        answers as the prompt says)."""
        if "item 2" in json.dumps(body):
            return json.dumps({"n": 2, "label": "item 99"})
        return item_answer(body)

    use(server, "openai")
    fake.answer = planted
    job = sm.submit_batch(items(3), {"type": "object", "properties": {
        "n": {"type": "integer"}, "label": {"type": "string"}}, "required": ["n", "label"],
        "additionalProperties": False}, require_grounding=True)
    results = job.results(retry="sync")
    assert [r.data["label"] for r in results] == ["item 0", "item 1", "item 2"]
    assert all(r.grounding["label"].status == "exact" for r in results)
    assert job.summary.get("invalid") == 1 and job.summary.get("retried_ok") == 1
    resent = [r for r in server.requests if r.path.endswith("/chat/completions")]
    assert len(resent) == 1 and "item 2" in json.dumps(resent[0].json)


# --- the magic -------------------------------------------------------------------------------


def test_magic_ground_binds_a_grounded_result(ip, server):
    ip.user_ns["invoice"] = INVOICE
    ip.user_ns["doc"] = DOC
    server.queue(chat(json.dumps(GOOD)), chat(json.dumps(GOOD)))
    ip.run_cell_magic("structured", "invoice --ground --quiet -o out", "{doc}")
    assert ip.user_ns["out"] == GOOD
    ip.run_cell_magic("structured", "invoice --source doc --ground --quiet -o out2",
                      "Extract it.")
    assert server.requests[1].json["messages"][-1]["content"] == "Extract it."
    with pytest.raises(UsageError, match="--source names the text to ground"):
        ip.run_cell_magic("structured", "invoice --source doc -o x", "Extract it.")
    ip.user_ns["numbers"] = [1, 2]
    with pytest.raises(UsageError, match=r"^--source numbers: source must be the text"):
        ip.run_cell_magic("structured", "invoice --ground --source numbers -o x", "Go.")
    assert len(server.requests) == 2


def test_magic_each_grounds_in_the_rows_own_values(ip, server):
    pd = pytest.importorskip("pandas")
    server.responder = _echo_vendor
    ip.user_ns["invoice"] = INVOICE
    ip.user_ns["df"] = pd.DataFrame({"v": ["Acme 5", "Initech"]}, index=["r1", "r2"])
    # '5' is in the template's words for both rows, but only the first row's value has it
    ip.run_cell_magic("structured", "invoice --each df --ground --quiet -o out",
                      "Pay 5 now. Vendor: {v}")
    out = ip.user_ns["out"]
    assert out["grounded"].tolist() == [1.0, 0.5]
    g = sm.grounding_frame(out)
    assert set(g["row"]) == {"r1", "r2"}
    assert g[(g.row == "r2") & (g.path == "total")]["status"].tolist() == ["ungrounded"]
    with pytest.raises(sm.InputError, match="not made by %%structured --each"):
        sm.grounding_frame(out.copy())


def test_magic_each_source_column_and_require_warn(ip, server):
    pd = pytest.importorskip("pandas")
    server.responder = _echo_vendor
    ip.user_ns["invoice"] = INVOICE
    ip.user_ns["df"] = pd.DataFrame({"v": ["Acme", "Initech"],
                                     "doc": ["Acme charges 5.", None]})
    ip.run_cell_magic("structured", "invoice --each df --source doc --require-grounding warn "
                      "--reasks 0 --quiet -o out", "Vendor: {v}")
    out = ip.user_ns["out"]
    assert out["grounded"].tolist()[0] == 1.0
    assert pd.isna(out["grounded"].tolist()[1])  # no source text: nothing to look for
    assert out["error"].isna().all()


def test_extractor_adds_the_grounded_column(server, settings):
    pd = pytest.importorskip("pandas")
    server.responder = _echo_vendor
    ex = sm.Extractor(INVOICE, "Pay 5 now. Vendor: {v}", ground=True)
    assert "grounded" in ex.columns() and ex.meta()["grounded"].dtype == "float64"
    out = ex(pd.DataFrame({"v": ["Acme 5", "Initech"]}))
    assert out["grounded"].tolist() == [1.0, 0.5]
    by_column = sm.Extractor(INVOICE, "Vendor: {v}", ground=True, source="doc")
    out = by_column(pd.DataFrame({"v": ["Acme"], "doc": ["Acme, 5 units"]}))
    assert out["grounded"].tolist() == [1.0]
    with pytest.raises(sm.ConfigError, match="source names the input column"):
        sm.Extractor(INVOICE, "Vendor: {v}", source="doc")
    assert "grounded" not in sm.Extractor(INVOICE, "Vendor: {v}").columns()
    restored = pickle.loads(pickle.dumps(by_column))
    assert restored.source == "doc" and restored.grounded


def test_magic_require_grounding_alone_fails_the_cell_and_binds_nothing(ip, server):
    ip.user_ns["invoice"] = INVOICE
    ip.user_ns["doc"] = DOC
    ip.user_ns["out"] = "earlier"
    server.queue(chat(json.dumps(PLANTED)), chat(json.dumps(PLANTED)))
    with pytest.raises(sm.UngroundedError, match="not in the source text after 2 tries"):
        ip.run_cell_magic("structured", "invoice --require-grounding --quiet -o out", "{doc}")
    assert ip.user_ns["out"] == "earlier"
    assert len(server.requests) == 2
    with pytest.raises(UsageError, match="invalid choice: 'always'"):
        ip.run_cell_magic("structured", "invoice --require-grounding always -o out", "{doc}")


def test_a_batch_job_with_files_needs_the_pdf_reader_before_it_submits(fake, server,
                                                                      monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pypdf", None)
    use(server, "openai")
    with pytest.raises(sm.InputError, match=r"pip install 'structmagic\[pdf\]'"):
        sm.submit_batch(items(2), INVOICE, ground=True, files=[make_pdf([["Acme"]]), None])
    assert fake.creates == [] and server.requests == []


def test_a_batch_job_row_whose_pdf_cannot_be_read_fails_alone(fake, server, monkeypatch):
    from structmagic.inputs import pdftext

    use(server, "openai")
    fake.answer = lambda body: json.dumps({"vendor": "Acme", "total": 1, "paid": True})
    job = sm.submit_batch(["item 0", "item 1", "item 2"], INVOICE, ground=True,
                          files=[make_pdf([["Acme 1"]]), None, tiny_png()])
    pdftext.clear_cache()
    monkeypatch.setitem(__import__("sys").modules, "pypdf", None)  # gone since it submitted
    results = job.results(retry="none")
    assert isinstance(results[0].error, sm.InputError)
    assert statuses(results[1]) == {"vendor": "ungrounded", "total": "exact",
                                    "paid": "not_applicable"}
    assert results[1].source.text == "item 1"  # its prompt
    assert results[2].source is None  # a picture: no text to check
    assert statuses(results[2])["vendor"] == "unverifiable"


def test_magic_engine_dask_grounds_in_the_source_column(ip, server):
    dask = pytest.importorskip("dask")
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    server.responder = _echo_vendor
    frame = pd.DataFrame({"v": ["Acme", "Initech"], "doc": ["Acme owes 5.", "Initech"]})
    ip.user_ns.update(invoice=INVOICE, ddf=dd.from_pandas(frame, npartitions=2))
    with dask.config.set(scheduler="synchronous"):
        res = ip.run_cell("%%structured invoice --each ddf --engine dask --compute --ground "
                          "--source doc -o out\nVendor: {v}", store_history=False)
        assert res.success, res.error_in_exec
        assert ip.user_ns["out"]["grounded"].tolist() == [1.0, 0.5]
        res = ip.run_cell("%%structured invoice --each ddf --engine dask --ground "
                          "--source text -o out\nVendor: {v}", store_history=False)
        assert "--source must name columns of ddf: text is not" in str(res.error_in_exec)
