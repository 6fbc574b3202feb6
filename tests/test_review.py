"""Review in the notebook: the corrections file (records, locked appends from two processes,
damaged lines), a row's input key, the review (Python and widget: inputs by schema type,
checks before saving, the order, the count line), corrections as labels (``score``,
``--expect corrections``) and as few-shot examples (``--examples corrections:K``, before the
row, the prompt cache's breakpoint after them, the estimate), reviewed rows kept by ``--only``
and winning in the bound frame; against the loopback fake server."""

from __future__ import annotations

import json
import math
import pickle
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

import structmagic as sm
from structmagic.call.result import Result
from structmagic.display.review import FieldForm
from structmagic.rows.review import Review
from structmagic.schema.spec import schema_digest
from structmagic.transport.cassette import request_key
from structmagic.transport.corrections import (
    MISSING,
    Correction,
    CorrectionsWarning,
    add_correction,
    corrections_path,
    field_values,
    load_corrections,
    value_from,
)

from fakeserver import CREATED, Reply, chat
from htmlaudit import POISON_HTML, assert_inert
from providers import anthropic

PARCEL = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "kg": {"type": "number"},
        "boxes": {"type": "integer"},
        "mood": {"enum": ["calm", "urgent"]},
        "fragile": {"type": "boolean"},
        "lines": {"type": "array", "items": {
            "type": "object", "properties": {"item": {"type": "string"},
                                             "qty": {"type": "integer"}},
            "required": ["item", "qty"], "additionalProperties": False}},
    },
    "required": ["name", "kg", "boxes", "mood", "fragile", "lines"],
    "additionalProperties": False,
}
NOTES = ["note 0: Ada sends 1.5 kg in 2 boxes", "note 1: Bo sends 2 kg in 1 box, urgent",
         "note 2: Cy sends 3 kg in 4 boxes, fragile"]
ANSWERS = [
    {"name": "Ada", "kg": 1.5, "boxes": 2, "mood": "calm", "fragile": False,
     "lines": [{"item": "books", "qty": 2}]},
    {"name": "Bo", "kg": 2.0, "boxes": 1, "mood": "calm", "fragile": False, "lines": []},
    {"name": "Cy", "kg": 3.0, "boxes": 4, "mood": "calm", "fragile": True,
     "lines": [{"item": "cups", "qty": 4}]},
]


def note_number(req: Any) -> int:
    """The note a request is about: the last ``note N`` in its turns (after the examples)."""
    text = json.dumps(req.json)
    return int(text.rsplit("note ", 1)[1].split(":", 1)[0])


def respond(req: Any) -> Reply:
    return chat(json.dumps(ANSWERS[note_number(req)]))


def respond_unsure(req: Any) -> Reply:
    """Each note's answer with one token of log-probability -k (row 2 the least sure)."""
    k = note_number(req)
    text = json.dumps(ANSWERS[k])
    return Reply.json({
        "id": "c", "object": "chat.completion", "created": CREATED, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "logprobs": {"content": [{"token": text, "logprob": -0.5 * k,
                                               "bytes": list(text.encode())}]},
                     "finish_reason": "stop"}]})


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- the corrections file --------------------------------------------------------------------


def test_a_value_as_its_fields_and_back():
    value = {"a": 1, "lines": [{"q": 1, "tags": []}, {"q": None}], "e": {}, "s": "x"}
    fields = field_values(value)
    assert fields == [("a", 1), ("lines[0].q", 1), ("lines[0].tags", []), ("lines[1].q", None),
                      ("e", {}), ("s", "x")]
    assert value_from(fields) == value
    for other in (5, "x", None, [], [1, [2, {}]], {"unit price": 2, "x y": [{"z": 1}]}):
        assert value_from(field_values(other)) == other
    with pytest.raises(ValueError):
        value_from([("a", 1), ("a.b", 2)])  # a path under a leaf


def test_a_record_keeps_each_field_with_both_values(tmp_path):
    model = {"name": "Ada", "kg": 1.5, "lines": [{"item": "a"}, {"item": "b"}]}
    reviewed = {"name": "Ada", "kg": 2.0, "lines": [{"item": "a"}]}
    rec = Correction.of(key="k1", schema="parcel", schema_hash="h", model=model,
                        reviewed=reviewed, time=12.5, source="the note")
    assert rec.verdict == "corrected" and rec.changed == ["kg", "lines[1].item"]
    line = json.loads(rec.to_json())
    assert line == {"key": "k1", "schema": "parcel", "schema_hash": "h", "verdict": "corrected",
                    "time": 12.5, "source": "the note", "fields": [
                        {"path": "name", "model": "Ada", "reviewed": "Ada"},
                        {"path": "kg", "model": 1.5, "reviewed": 2.0},
                        {"path": "lines[0].item", "model": "a", "reviewed": "a"},
                        {"path": "lines[1].item", "model": "b"}]}  # removed in review
    path = tmp_path / "c.jsonl"
    add_correction(path, rec)
    (back,) = load_corrections(path).rows()
    assert back == rec and back.reviewed == reviewed and back.model == model
    same = Correction.of(key="k2", schema="parcel", schema_hash="h", model=model,
                         reviewed=json.loads(json.dumps(model)), time=1.0)
    assert same.verdict == "accepted" and same.changed == [] and same.source is None
    assert "source" not in json.loads(same.to_json())


def test_the_default_file_is_beside_the_cassette_else_in_the_working_folder(settings):
    from structmagic.config import resolve

    assert corrections_path(resolve()) == Path("structmagic-corrections.jsonl")
    there = resolve(cache="cache", cassette="/data/notes.cassette.jsonl")
    assert corrections_path(there) == Path("/data/notes.corrections.jsonl")
    assert corrections_path(resolve(corrections="~/c.jsonl")) == Path("~/c.jsonl").expanduser()
    assert corrections_path(there, "x.jsonl") == Path("x.jsonl")


def test_two_processes_appending_at_once_lose_nothing(tmp_path):
    path = tmp_path / "shared.jsonl"
    script = textwrap.dedent(f"""
        import sys
        from structmagic.transport.corrections import Correction, add_correction
        who = sys.argv[1]
        for i in range(300):
            add_correction({str(path)!r}, Correction.of(
                key=f"{{who}}-{{i}}", schema="s", schema_hash="h",
                model={{"text": "x" * 3000}}, reviewed={{"text": "y" * 3000, "i": i}},
                time=float(i)))
    """)
    env = {"PYTHONPATH": str(Path(sm.__file__).resolve().parents[1])}
    procs = [subprocess.Popen([sys.executable, "-c", script, who], env=env)
             for who in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    found = load_corrections(path)
    assert len(found) == 600 and len(path.read_text().splitlines()) == 600
    assert {r.key for r in found.rows()} == {f"{w}-{i}" for w in "ab" for i in range(300)}


def test_a_damaged_line_is_skipped_with_one_note_and_appends_go_on(tmp_path):
    path = tmp_path / "c.jsonl"
    good = Correction.of(key="k1", schema="s", schema_hash="h", model={"a": 1},
                         reviewed={"a": 2}, time=1.0)
    add_correction(path, good)
    with path.open("a") as fh:
        fh.write("<<<<<<< HEAD\n")
        fh.write('{"key": "k9", "schema": "s"}\n')  # not a whole record
        fh.write('{"key": "cut", "schema": "s", "schema_ha')  # a writer killed mid-line
    with pytest.warns(CorrectionsWarning) as seen:
        found = load_corrections(path)
    messages = [str(w.message) for w in seen]
    assert any(f"{path}:2:" in m and "merge-conflict marker" in m for m in messages)
    assert any(f"{path}:3:" in m and "'schema_hash'" in m for m in messages)
    assert any(f"{path}:4:" in m and "not JSON" in m for m in messages)
    assert [r.key for r in found.rows()] == ["k1"]
    later = Correction.of(key="k2", schema="s", schema_hash="h", model={"a": 1},
                          reviewed={"a": 1}, time=2.0)
    add_correction(path, later)  # starts on a line of its own after the cut one
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorrectionsWarning)
        found = load_corrections(path)
    assert [r.key for r in found.rows()] == ["k1", "k2"]
    assert path.read_text().splitlines()[-1] == later.to_json()


def test_no_key_reaches_the_file(server, settings, tmp_path, canary):
    server.responder = respond
    results = sm.batch(NOTES, PARCEL)
    path = tmp_path / "c.jsonl"
    sm.review(results, source=[f"{n} (key {canary})" for n in NOTES],
              corrections=path).correct(0, {"name": f"Ada {canary}"})
    text = path.read_text()
    assert canary not in text and canary[-6:] not in text
    assert "prompt" not in text and NOTES[1] not in text  # only the row reviewed, its source


def test_a_file_that_cannot_be_written_saves_nothing_and_says_so(tmp_path):
    folder = tmp_path / "a-file"
    folder.write_text("")
    rec = Correction.of(key="k", schema="s", schema_hash="h", model={"a": 1},
                        reviewed={"a": 2}, time=1.0)
    with pytest.raises(sm.ConfigError, match="cannot be written"):
        add_correction(folder / "c.jsonl", rec)


# --- a row's input key ---------------------------------------------------------------------------


def test_a_rows_input_key_is_the_recordings_key_of_its_first_request(server, settings,
                                                                     tmp_path):
    server.responder = respond
    cassette = tmp_path / "rec.cassette.jsonl"
    results = sm.batch(NOTES, PARCEL, cache="record", cassette=str(cassette))
    recorded = [json.loads(line) for line in cassette.read_text().splitlines()]
    keys = {note_number(type("R", (), {"json": e["request"]})): e["key"] for e in recorded}
    assert [r.input_key for r in results] == [keys[0], keys[1], keys[2]]
    for req, res in zip(sorted(server.requests, key=note_number), results, strict=True):
        assert res.input_key == request_key("openai", "/v1/chat/completions", req.json)
    assert all(r.schema == PARCEL for r in results)
    # what is added to ask a row (log-probabilities, samples) leaves its key as it was
    server.responder = respond_unsure
    again = sm.batch(NOTES, PARCEL, confidence=True)
    assert [r.input_key for r in again] == [r.input_key for r in results]
    assert sm.structured(NOTES[0], PARCEL).input_key == ""  # a single call: no work for it


def test_results_pickled_before_the_key_existed_still_load(server, settings):
    res = Result(data={"a": 1}, plain={"a": 1}, raw='{"a": 1}', input_key="k", schema={})
    state = res.__getstate__()
    del state["input_key"], state["schema"]
    old = Result.__new__(Result)
    old.__setstate__(state)
    assert old.input_key == "" and old.schema is None
    assert pickle.loads(pickle.dumps(res)).input_key == "k"


# --- the review, from Python ---------------------------------------------------------------------


def unsure_results(server) -> list[Result]:
    server.responder = respond_unsure
    return sm.batch(NOTES, PARCEL, confidence=True)


def test_the_most_doubtful_rows_come_first_and_each_save_is_written_at_once(
        server, settings, tmp_path, clock):
    results = unsure_results(server)
    path = tmp_path / "c.jsonl"
    rv = sm.review(results, source=NOTES, corrections=path)
    assert [r.label for r in rv.rows] == [2, 1, 0]  # doubt 1 - exp(-k/2), highest first
    assert rv.row == 2 and repr(rv) == "<Review response: 0 reviewed · 0 corrected · 3 left>"
    rec = rv.correct(changes={"boxes": 3, "lines[0].qty": 3})
    assert rec.verdict == "corrected" and rec.changed == ["boxes", "lines[0].qty"]
    assert rec.time == clock.time() and rec.source == NOTES[2]
    (line,) = records(path)  # written at once
    assert line["key"] == results[2].input_key and line["schema_hash"] == schema_digest(PARCEL)
    assert rv.row == 1  # the next row not reviewed
    rv.accept()
    rv.correct(0, {"mood": "urgent"})
    assert rv.count_line() == "3 reviewed · 2 corrected · 0 left"
    assert [r["verdict"] for r in records(path)] == ["corrected", "accepted", "corrected"]
    # the review survives: a new one over the same rows finds every answer
    assert sm.review(results, corrections=path).count_line() == rv.count_line()


def test_a_value_that_does_not_match_the_schema_is_not_saved(server, settings, tmp_path):
    results = unsure_results(server)
    path = tmp_path / "c.jsonl"
    rv = sm.review(results, corrections=path)
    for changes, said in (({"kg": "heavy"}, "kg: 'heavy' is not of type 'number'"),
                          ({"mood": "sleepy"}, "mood: 'sleepy' is not one of"),
                          ({"lines[0].qty": 1.5}, "lines[0].qty: 1.5 is not of type")):
        with pytest.raises(sm.InputError, match=re.escape(said)):
            rv.correct(2, changes)
    with pytest.raises(sm.InputError, match="no field"):
        rv.correct(2, {"nothing.here": 1})
    assert not path.exists()
    rec = rv.correct(2, {"kg": 3})  # the model's value: saved as accepted
    assert rec.verdict == "accepted"
    rv.correct(2, {"kg": 3})  # the same review again: nothing new is written
    assert len(records(path)) == 1


def test_failed_rows_are_left_out_and_rows_without_a_key_cannot_be_saved(server, settings,
                                                                         tmp_path):
    server.responder = lambda req: (Reply.status(400, "no") if note_number(req) == 1
                                    else respond(req))
    results = sm.batch(NOTES, PARCEL, retries=0)
    rv = sm.review(results, corrections=tmp_path / "c.jsonl")
    assert [r.label for r in rv.rows] == [0, 2]  # no doubt measured: the input order
    assert rv.count_line() == "0 reviewed · 0 corrected · 2 left · 1 failed row not shown " \
                              "(no answer to review)"
    alone = sm.structured(NOTES[0], PARCEL)
    with pytest.raises(sm.ConfigError, match="no input key"):
        sm.review([alone], corrections=tmp_path / "c.jsonl").accept()
    with pytest.raises(sm.InputError, match="results of a column"):
        sm.review({"a": 1})


def test_skip_previous_next_and_go(server, settings, tmp_path):
    results = unsure_results(server)
    rv = sm.review(results, corrections=tmp_path / "c.jsonl")
    rv.skip()
    assert rv.row == 1
    rv.accept(0)  # row 0 reviewed: the next row not reviewed after it comes round to row 2
    assert rv.row == 2
    rv.skip()
    assert rv.row == 1
    rv.skip()
    assert rv.row == 2
    rv.next()
    assert rv.row == 1
    rv.previous()
    rv.previous()
    assert rv.row == 2
    rv.go(0)
    assert rv.row == 0
    with pytest.raises(sm.InputError, match="No row 7"):
        rv.go(7)


# --- the widget ----------------------------------------------------------------------------------


def inputs(form: FieldForm) -> dict[str, Any]:
    """The form's input widgets by their field path (their tooltip)."""
    found: dict[str, Any] = {}
    stack = [form.box]
    while stack:
        w = stack.pop()
        stack.extend(getattr(w, "children", ()) or ())
        if "structmagic-review-field" in getattr(w, "_dom_classes", ()):
            found[w.tooltip] = w
    return found


def test_each_field_gets_an_input_fitting_its_type():
    import ipywidgets as w

    form = FieldForm(PARCEL, ANSWERS[0])
    got = inputs(form)
    assert sorted(got) == ["boxes", "fragile", "kg", "lines[0].item", "lines[0].qty", "mood",
                           "name"]
    assert isinstance(got["name"], w.Text) and got["name"].value == "Ada"
    assert isinstance(got["kg"], w.Text) and got["kg"].value == "1.5"
    assert isinstance(got["mood"], w.Dropdown) and got["mood"].value == "calm"
    assert [label for label, _ in got["mood"].options] == ["calm", "urgent"]
    assert isinstance(got["fragile"], w.Checkbox) and got["fragile"].value is False
    assert got["mood"].description == "Mood" and got["lines[0].qty"].description == "Qty"
    assert form.read() == (ANSWERS[0], {})
    got["kg"].value = "2.25"
    got["mood"].value = "urgent"
    got["fragile"].value = True
    value, problems = form.read()
    assert problems == {} and value["kg"] == 2.25 and value["mood"] == "urgent"
    assert value["fragile"] is True


def test_array_items_are_rows_to_edit_add_and_remove():
    form = FieldForm(PARCEL, ANSWERS[2])
    array = form.top.children["lines"][0]
    array.add(MISSING)
    got = inputs(form)
    got["lines[1].item"].value = "plates"
    got["lines[1].qty"].value = "6"
    value, problems = form.read()
    assert problems == {} and value["lines"] == [{"item": "cups", "qty": 4},
                                                 {"item": "plates", "qty": 6}]
    array.remove(array.items[0])
    value, _ = form.read()
    assert value["lines"] == [{"item": "plates", "qty": 6}]
    assert array.list_box.children[0].children[0].value.endswith("1.</span>")  # renumbered


def test_problems_show_next_to_their_fields_and_nothing_is_saved(server, settings, tmp_path):
    results = unsure_results(server)
    path = tmp_path / "c.jsonl"
    rv = sm.review(results, corrections=path)
    view = rv.widget
    got = inputs(view.form)
    got["kg"].value = "a lot"
    got["boxes"].value = "2.5"
    got["name"].value = ""
    view.buttons["save"].click()
    form = view.form
    problems = {p: n.problem.value for p, n in form.top.nodes([]) if n.problem.value}
    assert "not a number: a lot" in problems["kg"]
    assert "not a whole number: 2.5" in problems["boxes"]
    assert "Not saved: 2 problems" in view.status.value
    assert not path.exists() and rv.row == 2
    got["kg"].value = "3.5"
    got["boxes"].value = "4"
    view.buttons["save"].click()
    (line,) = records(path)
    assert line["verdict"] == "corrected" and rv.row == 1
    assert "1 reviewed · 1 corrected · 2 left" in view.count.value
    assert "Saved row 2 as corrected (name, kg)" in view.status.value


def test_the_keys_accept_and_move(server, settings, tmp_path):
    results = unsure_results(server)
    path = tmp_path / "c.jsonl"
    rv = sm.review(results, corrections=path)
    view = rv.widget
    view.keys._handle_custom_msg({"event": "submit"}, [])  # Enter, as the page sends it
    assert records(path)[0]["verdict"] == "accepted" and rv.row == 1
    view.slider.value = 3  # the arrow keys move the slider: to the third row shown
    assert rv.row == 0
    # Enter in a field's box saves the form
    field = inputs(view.form)["name"]
    field.value = "Ada Lovelace"
    field._handle_custom_msg({"event": "submit"}, [])
    assert records(path)[-1]["verdict"] == "corrected"


def test_model_text_is_escaped_in_every_part_of_the_widget(server, settings, tmp_path):
    poison = POISON_HTML[0]
    value = {**ANSWERS[0], "name": poison, "lines": [{"item": POISON_HTML[2], "qty": 1}]}
    res = Result(data=value, plain=value, raw=json.dumps(value), schema=PARCEL,
                 schema_name="<b>parcel</b>", input_key="k", confidence={"name": 0.2})
    rv = sm.review([res], source=[POISON_HTML[1]], corrections=tmp_path / "c.jsonl",
                   labels={"name": POISON_HTML[3]})
    view = rv.widget
    for html in (view.header.value, view.source.value, view.count.value, rv._repr_html_()):
        assert_inert(html)
        assert "<img" not in html and "<svg" not in html
    assert POISON_HTML[1] in assert_inert(view.source.value)
    got = inputs(view.form)
    got["kg"].value = poison
    view.buttons["save"].click()
    for _, node in view.form.top.nodes([]):
        assert_inert(node.problem.value)
    assert poison in assert_inert(view.form.top.children["kg"][0].problem.value)
    assert got["name"].value == poison  # a text box's value: plain text


def test_the_source_shows_the_grounded_values_when_grounding_ran(server, settings, tmp_path):
    from structmagic.display.grounded import GROUNDED_CLASS

    server.responder = respond
    results = sm.batch(NOTES, PARCEL, ground=True)
    rv = sm.review(results, corrections=tmp_path / "c.jsonl")
    assert GROUNDED_CLASS in rv.widget.source.value  # the values' spans in the note
    assert_inert(rv.widget.source.value)
    plain = sm.review(sm.batch(NOTES, PARCEL), corrections=tmp_path / "c.jsonl")
    assert "No source text for this row" in plain.widget.source.value


def test_the_magic_reviews_only_a_columns_results(ip, settings):
    ip.user_ns["values"] = [{"a": 1}]
    with pytest.raises(UsageError, match="holds a list, not the DataFrame"):
        ip.run_line_magic("structured_review", "values")
    with pytest.raises(UsageError, match="no variable named 'nothing'"):
        ip.run_line_magic("structured_review", "nothing")


# --- labels ------------------------------------------------------------------------------


def test_score_against_the_corrections_with_the_schema_from_the_results(server, settings,
                                                                        tmp_path):
    results = unsure_results(server)
    path = tmp_path / "c.jsonl"
    rv = sm.review(results, corrections=path)
    rv.correct(2, {"boxes": 5})
    rv.correct(1, {"mood": "urgent"})
    rv.accept(0)
    scored = sm.score(results, load_corrections(path))
    table = scored.table
    assert table.loc["boxes", "accuracy"] == pytest.approx(2 / 3)
    assert table.loc["mood", "accuracy"] == pytest.approx(2 / 3)
    assert table.loc["name", "accuracy"] == 1.0 and set(table["n"]) == {3}
    assert scored.note == f"3 of 3 rows scored against the corrections of {path}."
    # a record made for another version of the schema is not used, and the note says so
    changed = {**PARCEL, "properties": {**PARCEL["properties"], "kg": {"type": "integer"}}}
    other = [Result(data=r.data, plain=r.plain, raw=r.raw, input_key=r.input_key,
                    schema=changed) for r in results]
    again = sm.score(other, load_corrections(path))
    assert (again.table["n"] == 0).all()
    assert "3 reviewed for another version of the schema 'response', not used" in again.note
    with pytest.raises(sm.ConfigError, match="needs the schema"):
        sm.score([r.plain for r in results], load_corrections(path))


def test_expect_corrections_scores_the_reviewed_rows_and_the_frame_keeps_them(
        ip, server, settings, tmp_path, capfd):
    pd = pytest.importorskip("pandas")
    server.responder = respond_unsure
    cassette = tmp_path / "notes.cassette.jsonl"
    ip.user_ns.update(parcel=PARCEL, notes=pd.Series(NOTES, index=["n0", "n1", "n2"]))
    ip.run_line_magic("structured_config", f"--cache cache --cassette {cassette}")
    cell = "%%structured parcel --each notes -o out --confidence --quiet{}\n{{item}}"
    assert ip.run_cell(cell.format(""), store_history=False).success
    rv = ip.run_line_magic("structured_review", "out --source notes")
    assert isinstance(rv, Review) and rv.row == "n2"
    rv.correct("n2", {"boxes": 5})
    rv.correct("n1", {"mood": "urgent"})
    rv.accept("n0")
    out = ip.user_ns["out"]
    assert out.loc["n2", "boxes"] == 5 and out.loc["n1", "mood"] == "urgent"
    assert out["reviewed"].tolist() == ["accepted", "corrected", "corrected"]
    path = tmp_path / "notes.corrections.jsonl"  # beside the cassette
    assert len(records(path)) == 3
    # the same column cell, as after a kernel restart: answered from the recording, each
    # reviewed value wins in the frame, and the two corrected rows count as the model's errors
    ip.run_line_magic("structured_config", "--cache replay")
    asked = len(server.requests)
    assert ip.run_cell(cell.format(" --expect corrections").replace(" --quiet", ""),
                       store_history=False).success
    assert len(server.requests) == asked
    out = ip.user_ns["out"]
    assert out.loc["n2", "boxes"] == 5 and out["reviewed"].tolist()[1] == "corrected"
    scores = out.attrs["scores"]
    assert scores.loc["boxes", "accuracy"] == pytest.approx(2 / 3)
    assert scores.loc["mood", "accuracy"] == pytest.approx(2 / 3)
    assert scores.loc["kg", "within_tol"] == 1.0
    shown = capfd.readouterr().out
    assert f"3 of 3 rows scored against the corrections of {path}." in shown


def test_only_never_re_runs_a_reviewed_row(ip, server, settings, tmp_path, capfd):
    pd = pytest.importorskip("pandas")
    server.responder = respond_unsure
    path = tmp_path / "c.jsonl"
    ip.user_ns.update(parcel=PARCEL, notes=pd.Series(NOTES))
    ip.run_line_magic("structured_config", f"--corrections {path}")
    try:
        cell = "%%structured parcel --each notes -o out --confidence --quiet{}\n{{item}}"
        assert ip.run_cell(cell.format(""), store_history=False).success
        ip.run_line_magic("structured_review", "out").correct(2, {"boxes": 9})
        asked = len(server.requests)
        res = ip.run_cell(cell.format(" --only doubtful --doubt-above 0.2").replace(
            " --quiet", ""), store_history=False)
        assert res.success, res.error_in_exec
        # rows 1 and 2 are doubtful (0.39, 0.63); row 2 was reviewed: only row 1 is sent
        assert [note_number(r) for r in server.requests[asked:]] == [1]
        assert ip.user_ns["out"].loc[2, "boxes"] == 9
        assert "(1 reviewed row kept as reviewed)" in capfd.readouterr().out
        again = sm.rerun(ip.user_ns["out"], NOTES, PARCEL, only="doubtful", doubt_above=0.2,
                         confidence=True)
        assert [note_number(r) for r in server.requests[asked + 1:]] == [1]
        assert again.loc[2, "boxes"] == 9
    finally:
        ip.run_line_magic("structured_config", "--corrections ''")


# --- examples ----------------------------------------------------------------------------------


def reviewed_file(server, tmp_path) -> tuple[Path, list[Result]]:
    results = unsure_results(server)
    path = tmp_path / "c.jsonl"
    rv = sm.review(results, source=NOTES, corrections=path)
    rv.accept(0)  # accepted first, in time
    rv.correct(2, {"boxes": 5})
    return path, results


def test_examples_go_before_the_row_the_same_for_every_row(server, settings, tmp_path):
    path, _ = reviewed_file(server, tmp_path)
    server.reset()
    server.responder = respond
    results = sm.batch(NOTES, PARCEL, system="Read shipping notes.")
    server.reset()
    server.responder = respond
    again = sm.batch(NOTES, PARCEL, examples="corrections:2", corrections=str(path),
                     system="Read shipping notes.")
    taught = [{"role": "user", "content": NOTES[2]},  # corrected first, then accepted
              {"role": "assistant", "content": json.dumps(
                  {**ANSWERS[2], "boxes": 5}, separators=(",", ":"))},
              {"role": "user", "content": NOTES[0]},
              {"role": "assistant", "content": json.dumps(ANSWERS[0], separators=(",", ":"))}]
    for req in server.requests:
        messages = req.json["messages"]
        assert messages[0] == {"role": "system", "content": "Read shipping notes."}
        assert messages[1:5] == taught and messages[5]["content"] in NOTES
    # the rows' keys are those of the run without examples: their labels still match
    assert [r.input_key for r in again] == [r.input_key for r in results]
    one = sm.structured("note 1: x", PARCEL, examples=[("note 0: a", ANSWERS[0])])
    assert server.requests[-1].json["messages"][:2] == [
        {"role": "user", "content": "note 0: a"},
        {"role": "assistant", "content": json.dumps(ANSWERS[0], separators=(",", ":"))}]
    assert one.data == ANSWERS[1]


def test_examples_need_reviewed_rows_with_their_source(ip, server, settings, tmp_path):
    results = unsure_results(server)
    path = tmp_path / "c.jsonl"
    sm.review(results, corrections=path).accept(0)  # no source given: not an example
    with pytest.raises(sm.ConfigError, match="no reviewed row of the schema"):
        sm.structured(NOTES[1], PARCEL, examples="corrections:1", corrections=str(path))
    ip.user_ns.update(parcel=PARCEL)
    with pytest.raises(UsageError, match="kept its source text"):
        ip.run_cell_magic("structured", f"parcel --examples corrections:1 --corrections {path}",
                          NOTES[1])
    for bad in ("corrections:0", "corrections", "examples:2"):
        with pytest.raises(UsageError, match="write corrections:K"):
            ip.run_cell_magic("structured", f"parcel --examples {bad}", NOTES[1])
    with pytest.raises(sm.ConfigError, match="input text, value"):
        sm.structured(NOTES[1], PARCEL, examples=[("only one",)])


def test_expect_with_examples_leaves_the_taught_rows_out(ip, server, settings, tmp_path,
                                                         capfd):
    pd = pytest.importorskip("pandas")
    path = tmp_path / "c.jsonl"
    server.responder = respond_unsure
    ip.user_ns.update(parcel=PARCEL, notes=pd.Series(NOTES))
    cell = ("%%structured parcel --each notes -o out --confidence --quiet --corrections {}{}"
            "\n{{item}}")
    assert ip.run_cell(cell.format(path, ""), store_history=False).success
    rv = ip.run_line_magic("structured_review", f"out --source notes --corrections {path}")
    rv.accept(0)
    rv.correct(2, {"boxes": 5})
    res = ip.run_cell(cell.format(path, " --examples corrections:1 --expect corrections")
                      .replace(" --quiet", ""), store_history=False)
    assert res.success, res.error_in_exec
    scores = ip.user_ns["out"].attrs["scores"]
    assert set(scores["n"]) == {1}  # row 0 scored; row 2 was taught; row 1 not reviewed
    assert (f"1 of 3 rows scored against the corrections of {path}; 1 taught as examples, "
            "not scored.") in capfd.readouterr().out


def test_claudes_cache_breakpoint_comes_after_the_examples(server, settings, tmp_path):
    path, _ = reviewed_file(server, tmp_path)
    server.reset()
    server.responder = lambda req: anthropic(json.dumps(ANSWERS[note_number(req)]))
    shared = "Read this shipping note carefully and give every field. " * 200
    sm.batch([shared + n for n in NOTES], PARCEL, provider="anthropic", model="claude-x",
             examples="corrections:2", corrections=str(path))
    for req in server.requests:
        messages = req.json["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"] * 2 + ["user"]
        row = messages[4]["content"]
        assert row[0] == {"type": "text", "text": shared + "note ",
                          "cache_control": {"type": "ephemeral"}}
        assert row[1]["text"] in [n.removeprefix("note ") for n in NOTES]
        assert all("cache_control" not in json.dumps(m) for m in messages[:4])


def test_the_estimate_counts_the_examples(server, settings, tmp_path):
    path, _ = reviewed_file(server, tmp_path)
    plain = sm.estimate(NOTES, PARCEL, max_tokens=100)
    taught = sm.estimate(NOTES, PARCEL, max_tokens=100, examples="corrections:2",
                         corrections=str(path))
    turns = sum(len(json.dumps(t)) for t in (NOTES[2], NOTES[0], ANSWERS[2], ANSWERS[0]))
    extra = taught.input_tokens.expected - plain.input_tokens.expected
    assert extra >= 3 * turns / 4 * 0.8  # about four characters a token, for every row
    assert not math.isnan(extra)

