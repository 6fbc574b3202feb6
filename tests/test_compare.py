"""Models side by side (``compare``, ``compare_each``, ``--compare``), scores against labels
(``score``, ``--expect``), and the comparison's widget and HTML."""

from __future__ import annotations

import html
import json
import re
import threading

import pytest
from IPython.core.error import UsageError

import structmagic as sm
from structmagic.display.markup import DIFFER_BG
from structmagic.display.render import comparison_table_html
from structmagic.rows.compare import Target, parse_targets

from fakeserver import Reply, chat
from htmlaudit import POISON_HTML, assert_inert, widget_texts
from providers import anthropic

SCHEMA = {"type": "object",
          "properties": {"sentiment": {"enum": ["positive", "neutral", "negative"]},
                         "stars": {"type": "integer"}, "summary": {"type": "string"}},
          "required": ["sentiment", "stars", "summary"], "additionalProperties": False}
ANSWERS = {
    "model-a": {"sentiment": "positive", "stars": 5, "summary": "great"},
    "model-b": {"sentiment": "positive", "stars": 4, "summary": "great"},
}


def _by_model(req) -> Reply:
    model = req.json["model"]
    if model == "model-refuses":
        return chat(None, refusal="I will not rate this.")
    return chat(json.dumps(ANSWERS[model]), usage=(5, 7))


# --- models --------------------------------------------------------------------------------------


def test_parse_targets():
    targets = parse_targets("gpt-4o-mini, anthropic:claude-sonnet-4-5,llama3:8b")
    assert targets == [Target("gpt-4o-mini", "gpt-4o-mini"),
                       Target("anthropic:claude-sonnet-4-5", "claude-sonnet-4-5", "anthropic"),
                       Target("llama3:8b", "llama3:8b")]  # "llama3" is no provider
    assert parse_targets(["a", "gemini:g"])[1].provider == "gemini"
    for bad, message in (("a,,b", "empty"), ("a,a", "twice"), ("a", "at least two")):
        with pytest.raises(sm.ConfigError, match=message):
            parse_targets(bad)


# --- one prompt ---------------------------------------------------------------------------------


def test_every_model_is_asked_at_once_and_each_keeps_its_own_outcome(server, settings):
    arrived = threading.Barrier(3, timeout=5)

    def respond(req):
        arrived.wait()  # all three requests are in flight together, or this times out
        return _by_model(req)

    server.responder = respond
    comp = sm.compare("Rate: loved it", SCHEMA, "model-a,model-b,model-refuses")
    assert list(comp.results) == ["model-a", "model-b", "model-refuses"]
    values = comp.values()
    assert values["model-a"] == ANSWERS["model-a"] and values["model-b"] == ANSWERS["model-b"]
    assert isinstance(values["model-refuses"], sm.RefusalError)
    assert comp.disagreements() == ["stars"]
    assert sorted(r.json["model"] for r in server.requests) == [
        "model-a", "model-b", "model-refuses"]
    assert all(r.json["messages"][-1]["content"] == "Rate: loved it" for r in server.requests)


def test_a_provider_prefix_picks_that_models_format(server, settings):
    text = json.dumps(ANSWERS["model-a"])
    server.responder = lambda req: (anthropic(text) if req.path.endswith("/messages")
                                    else chat(text))
    comp = sm.compare("q", SCHEMA, ["anthropic:claude-x", "gpt-x"])
    assert all(r.error is None for r in comp.results.values())
    paths = sorted(r.path for r in server.requests)
    assert paths == ["/v1/chat/completions", "/v1/messages"]
    assert comp.disagreements() == []


def test_the_comparison_text_is_stable_and_its_html_inert(server, settings):
    poison = POISON_HTML[0]
    server.responder = lambda req: chat(json.dumps(
        {"sentiment": "neutral", "stars": 3 if req.json["model"] == "m1" else 2,
         "summary": poison}))
    comp = sm.compare("q", SCHEMA, "m1,m2")
    text = comp._text()
    assert text.splitlines()[0] == "response — 2 models"
    assert "== m1 ==" in text and "Answers differ on: stars" in text
    assert "tokens" not in text and " s" not in text.splitlines()[0]
    html = comp._repr_html_()
    assert poison in assert_inert(html)
    assert DIFFER_BG in html


def test_a_field_only_a_later_model_answered_is_a_disagreement(server, settings):
    """The fields compared are those of every valid answer: an optional field that the
    first model left out and the second answered differs, and is marked as such."""
    from structmagic.display.compare_widget import ComparisonWidget

    schema = {"type": "object", "properties": {"stars": {"type": "integer"},
                                               "note": {"type": "string"}},
              "required": ["stars"], "additionalProperties": False}
    server.responder = lambda req: chat(json.dumps(
        {"stars": 3, "note": None} if req.json["model"] == "m1" else {"stars": 3, "note": "x"}))
    comp = sm.compare("q", schema, "m1,m2")
    assert [r.plain for r in comp.results.values()] == [{"stars": 3}, {"stars": 3, "note": "x"}]
    assert comp.disagreements() == ["note"]
    assert "Answers differ on: note" in comp._text()
    html = comp._repr_html_()
    grid = html.split('class="structmagic-answers"')[1]
    rows = grid.split("<tr")[2:]  # the header row first
    assert [re.sub("<[^>]+>", "", r.split("</th>")[0].split(">", 1)[1]) for r in rows] == [
        "Stars", "Note"]
    # one marked row, holding the label and each model's value of the field that differs
    assert [r.startswith(' class="structmagic-differ"') for r in rows] == [False, True]
    assert DIFFER_BG in rows[1] and ">x<" in rows[1] and ">—<" in rows[1]
    widget = ComparisonWidget(comp.targets, title="review")
    widget.finish(comp)
    assert widget.columns["m2"].differ == ("note",)
    assert widget.answers.value == comparison_table_html(comp.results, {}, ["note"])
    assert widget.answers.value.count("structmagic-differ") == 1
    assert "Answers differ on: Note" in widget.note.value


# --- the magic ----------------------------------------------------------------------------------


def test_the_magic_binds_every_models_value(ip, server, settings):
    server.responder = _by_model
    ip.user_ns["schema"] = SCHEMA
    res = ip.run_cell("%%structured schema -o rated --compare model-a,model-b,model-refuses\n"
                      "Rate: fine", store_history=False)
    assert res.success, res.error_in_exec
    rated = ip.user_ns["rated"]
    assert rated["model-a"] == ANSWERS["model-a"]
    assert isinstance(rated["model-refuses"], sm.RefusalError)


def test_the_magic_fails_when_every_model_fails_and_binds_nothing(ip, server, settings):
    server.responder = lambda req: chat(None, refusal="no")
    ip.user_ns.update(schema=SCHEMA, rated="earlier")
    res = ip.run_cell("%%structured schema -o rated --compare m1,m2\nq", store_history=False)
    assert isinstance(res.error_in_exec, sm.RefusalError)
    assert ip.user_ns["rated"] == "earlier"


@pytest.mark.parametrize(("line", "message"), [
    ("--compare a,b --model c", "not --model"),
    ("--compare a", "at least two"),
    ("--expect label", "go with --each"),
    ("--each rows --compare a,b --max-cost 1", "cannot be combined with --engine or --compare"),
    ("--each rows --compare a,b --estimate", "once per model instead of --compare"),
    ("--each rows --expect label --tol -1", "--tol must be a number >= 0"),
])
def test_compare_usage_errors(ip, server, settings, line, message):
    ip.user_ns.update(schema=SCHEMA, rows=["a"], pic=b"")
    res = ip.run_cell(f"%%structured schema -o x {line}\nq", store_history=False)
    assert message in str(res.error_in_exec)
    assert server.requests == []


def test_every_model_gets_the_image_in_its_own_format(ip, server, settings):
    from fake_media import received_parts
    from media_helpers import png

    def answer(req):
        if "messages" in req.json and req.json.get("model") == "m1":
            return chat(json.dumps(ANSWERS["model-a"]))
        return anthropic(json.dumps(ANSWERS["model-b"]))

    server.responder = answer
    picture = png()
    ip.user_ns.update(schema=SCHEMA, pic=picture)
    res = ip.run_cell("%%structured schema -o rated --compare m1,anthropic:m2 --image pic "
                      "--quiet\nRate the photo", store_history=False)
    assert res.success, res.error_in_exec
    assert len(server.requests) == 2
    for req in server.requests:
        (part,) = received_parts(req)
        assert part.kind == "image" and part.data == picture
    assert set(ip.user_ns["rated"]) == {"m1", "anthropic:m2"}


def test_bad_labels_fail_before_any_request(server, settings):
    with pytest.raises(sm.ConfigError, match="labels must map field names"):
        sm.structured("q", SCHEMA, labels=["sentiment"])
    with pytest.raises(sm.ConfigError, match="labels must map field names"):
        sm.compare("q", SCHEMA, "a,b", labels=["sentiment"])
    assert server.requests == []


# --- a column, and scores -------------------------------------------------------------------------

ROWS = [("great phone", {"sentiment": "positive", "stars": 5, "summary": "Great"}),
        ("awful", {"sentiment": "negative", "stars": 1, "summary": "awful"}),
        ("ok i guess", {"sentiment": "neutral", "stars": 3, "summary": "OK"})]


def _column_answer(req):
    text = req.json["messages"][-1]["content"].removeprefix("Rate: ")
    model = req.json["model"]
    expected = dict(dict(ROWS)[text])
    if model == "sloppy":  # gets the neutral row wrong, and writes summaries in lower case
        expected["summary"] = expected["summary"].lower()
        if text == "ok i guess":
            expected.update(sentiment="positive", stars=4)
    return chat(json.dumps(expected), usage=(10, 5))


def test_compare_each_gives_field_at_model_columns_and_a_summary(server, settings):
    server.responder = _column_answer
    table = sm.compare_each([f"Rate: {t}" for t, _ in ROWS], SCHEMA, "exact,sloppy",
                            index=["r1", "r2", "r3"], concurrency=2)
    frame = table.frame
    assert list(frame.index) == ["r1", "r2", "r3"]
    assert list(frame.columns) == [
        "sentiment@exact", "stars@exact", "summary@exact", "error@exact",
        "sentiment@sloppy", "stars@sloppy", "summary@sloppy", "error@sloppy"]
    assert list(frame["stars@sloppy"]) == [5, 1, 4]
    summary = table.summary
    assert list(summary.index) == ["exact", "sloppy"]
    assert summary.loc["exact", "valid"] == 1.0 and summary.loc["sloppy", "tokens"] == 45


def test_a_field_called_error_keeps_its_column_in_compare_each(server, settings):
    schema = {"type": "object", "properties": {"error": {"type": "string"}},
              "required": ["error"], "additionalProperties": False}
    server.responder = lambda req: (chat(None, refusal="no") if req.json["model"] == "m2"
                                    else chat(json.dumps({"error": "E1"})))
    frame = sm.compare_each(["a"], schema, "m1,m2").frame
    assert list(frame.columns) == ["error@m1", "row_error@m1", "error@m2", "row_error@m2"]
    assert frame.loc[0, "error@m1"] == "E1" and frame.loc[0, "row_error@m1"] is None
    assert frame.loc[0, "error@m2"] is None
    assert frame.loc[0, "row_error@m2"].startswith("RefusalError")


def test_score_on_a_hand_computed_fixture():
    schema = {"type": "object", "properties": {
        "sentiment": {"enum": ["pos", "neg", "neu"]}, "title": {"type": "string"},
        "price": {"type": "number"}, "tags": {"type": "array", "items": {"type": "string"}},
        "ok": {"type": "boolean"}}, "required": ["sentiment"]}
    answers = [{"sentiment": "pos", "title": "Hello  World", "price": 9.99, "tags": ["a", "B"],
                "ok": True},
               {"sentiment": "neg", "title": "x", "price": 5.0, "tags": ["c"], "ok": False},
               None]
    labels = [{"sentiment": "pos", "title": "hello world", "price": 10.0,
               "tags": ["a", "b", "c"], "ok": True},
              {"sentiment": "neu", "title": "x", "price": 5.0, "tags": ["c"]},
              {"sentiment": "pos"}]
    result = sm.score(answers, labels, schema, tol=0.05)
    t = result.table
    assert t.loc["sentiment", "n"] == 3 and t.loc["sentiment", "accuracy"] == pytest.approx(1 / 3)
    assert (t.loc["title", "accuracy"], t.loc["title", "normalised"]) == (0.5, 1.0)
    assert (t.loc["price", "accuracy"], t.loc["price", "within_tol"]) == (0.5, 1.0)
    assert (t.loc["tags", "precision"], t.loc["tags", "recall"]) == (1.0, 0.75)
    assert (t.loc["ok", "n"], t.loc["ok", "accuracy"]) == (1, 1.0)
    confusion = result.confusion["sentiment"]
    assert confusion.loc["pos", "pos"] == 1 and confusion.loc["pos", "(none)"] == 1
    assert confusion.loc["neu", "neg"] == 1 and int(confusion.values.sum()) == 3
    with pytest.raises(sm.ConfigError, match="align"):
        sm.score(answers, labels[:2], schema)


def test_confusion_cells_count_every_row_that_falls_in_them():
    """Each cell of a confusion table is the number of rows with that (expected, predicted)
    pair, however many rows share it."""
    schema = {"type": "object", "properties": {"sentiment": {"enum": ["pos", "neg", "neu"]}},
              "required": ["sentiment"]}
    pairs = [("pos", "neg"), ("pos", "neg"), ("pos", "neg"), ("neg", "neg"), ("neg", "neg"),
             ("pos", None), ("pos", None), ("neu", "neu")]
    answers = [None if got is None else {"sentiment": got} for _, got in pairs]
    labels = [{"sentiment": want} for want, _ in pairs]
    confusion = sm.score(answers, labels, schema).confusion["sentiment"]
    assert confusion.to_dict("index") == {
        "pos": {"pos": 0, "neg": 3, "neu": 0, "(none)": 2},
        "neg": {"pos": 0, "neg": 2, "neu": 0, "(none)": 0},
        "neu": {"pos": 0, "neg": 0, "neu": 1, "(none)": 0},
    }
    assert int(confusion.values.sum()) == len(pairs)


def test_the_magic_compares_a_column_and_scores_it(ip, server, settings):
    pd = pytest.importorskip("pandas")
    server.responder = _column_answer
    ip.user_ns.update(schema=SCHEMA, df=pd.DataFrame(
        {"text": [t for t, _ in ROWS], "label": [e for _, e in ROWS]}, index=[7, 8, 9]))
    res = ip.run_cell("%%structured schema --each df -o out --compare exact,sloppy "
                      "--expect label\nRate: {text}", store_history=False)
    assert res.success, res.error_in_exec
    out = ip.user_ns["out"]
    assert list(out.index) == [7, 8, 9] and "stars@sloppy" in out.columns
    scores = out.attrs["scores"]
    assert scores.loc[("exact", "stars"), "accuracy"] == 1.0
    assert scores.loc[("sloppy", "stars"), "accuracy"] == pytest.approx(2 / 3)
    assert scores.loc[("sloppy", "summary"), "accuracy"] == pytest.approx(1 / 3)
    assert scores.loc[("sloppy", "summary"), "normalised"] == 1.0
    assert out.attrs["summary"].loc["sloppy", "valid"] == 1.0


def _scored(server):
    """Two models' scores on ROWS, and their summary."""
    import pandas as pd

    server.responder = _column_answer
    table = sm.compare_each([f"Rate: {t}" for t, _ in ROWS], SCHEMA, "exact,sloppy")
    labels = [e for _, e in ROWS]
    scores = pd.concat({m: sm.score(r, labels, SCHEMA).table for m, r in table.results.items()},
                       names=["model", "field"])
    return scores, table.summary


def test_scores_show_as_captioned_tables_and_a_chart(server, settings):
    """Percentages, no column that is empty for every model, the best model of each field
    marked, a caption on each table; the chart an image of a data: URI (the exported page
    keeps it, and makes no request)."""
    pytest.importorskip("matplotlib")
    from structmagic.display.scores import ScoresView

    scores, summary = _scored(server)
    view = ScoresView(scores, summary, title="review <b>")
    text = view._text()
    assert text == ScoresView(scores, summary, title="review <b>")._text()  # deterministic
    lines = text.splitlines()
    assert lines[0].startswith("Each model's answers") and "valid answers" in lines[1]
    assert "mean latency" in lines[1] and "cost" not in lines[1]  # unknown for all: dropped
    assert "100%" in lines[2] and "1.0" not in text and "0.666667" not in text
    scored = lines[lines.index(next(x for x in lines if x.startswith("Scores against"))):]
    assert "best model of each is marked ★" in scored[0]
    rows = {tuple(x.split()[:2]): x for x in scored[2:]}
    assert rows[("Stars", "accuracy")].split()[-3:] == ["100%", "★", "66.7%"]
    assert rows[("Summary", "normalised")].count("★") == 2  # a tie: both marked
    assert not any(m in text for m in ("precision", "recall", "within"))  # empty: left out
    page = view._repr_html_()
    shown = assert_inert(page)
    assert "review &lt;b&gt;" in page and page.count("<caption") == 2
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/]+={0,2}"', page)
    assert "http" not in page.split("<img", 1)[1].split(">", 1)[0]
    assert "66.7%" in shown and "★" in shown


def test_without_matplotlib_the_scores_say_what_to_install(server, settings, monkeypatch):
    import sys

    from structmagic.display.scores import CHART_HINT, ScoresView

    scores, summary = _scored(server)
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    page = ScoresView(scores, summary)._repr_html_()
    assert "<img" not in page and html.escape(CHART_HINT) in page
    assert page.count("<table") == 2


def test_the_magic_shows_one_view_of_its_scores(ip, server, settings, monkeypatch):
    pd = pytest.importorskip("pandas")
    from structmagic.display.scores import ScoresView
    from structmagic.magic import each

    shown: list[object] = []
    monkeypatch.setattr(each, "_display", shown.append)
    server.responder = _column_answer
    ip.user_ns.update(schema=SCHEMA, df=pd.DataFrame(
        {"text": [t for t, _ in ROWS], "label": [e for _, e in ROWS]}))
    res = ip.run_cell("%%structured schema --each df -o out --compare exact,sloppy "
                      "--expect label\nRate: {text}", store_history=False)
    assert res.success, res.error_in_exec
    (view,) = shown  # one view: the summary and the scores, not two untitled tables
    assert isinstance(view, ScoresView) and view.summary is not None
    assert view.scores is ip.user_ns["out"].attrs["scores"]


def test_expect_alone_scores_the_one_model(ip, server, settings):
    pd = pytest.importorskip("pandas")
    server.responder = _column_answer
    ip.user_ns.update(schema=SCHEMA, df=pd.DataFrame(
        {"text": [t for t, _ in ROWS], "label": [e for _, e in ROWS]}))
    ip.run_cell("%structured_config --model sloppy", store_history=False)
    res = ip.run_cell("%%structured schema --each df -o out --expect label\nRate: {text}",
                      store_history=False)
    assert res.success, res.error_in_exec
    assert ip.user_ns["out"].attrs["scores"].loc["sentiment", "accuracy"] == pytest.approx(2 / 3)
    res = ip.run_cell("%%structured schema --each df -o out --expect nope\nRate: {text}",
                      store_history=False)
    assert "'nope' is not one" in str(res.error_in_exec)


def test_expect_leaves_the_rows_without_a_label_out(ip, server, settings):
    pd = pytest.importorskip("pandas")
    server.responder = _column_answer
    sloppy = {"sentiment": "positive", "stars": 4, "summary": "ok"}  # the sloppy answer
    for gap in (None, float("nan"), pd.NA):
        labels = pd.Series([ROWS[0][1], gap, sloppy], dtype="object")
        ip.user_ns.update(schema=SCHEMA, df=pd.DataFrame(
            {"text": [t for t, _ in ROWS], "label": labels}))
        res = ip.run_cell("%%structured schema --each df -o out --model sloppy --expect label"
                          "\nRate: {text}", store_history=False)
        assert res.success, res.error_in_exec
        scores = ip.user_ns["out"].attrs["scores"]
        assert scores.loc["stars", "n"] == 2 and scores.loc["stars", "accuracy"] == 1.0, gap


def test_a_bad_expect_fails_before_the_column_is_sent(ip, server, settings):
    pd = pytest.importorskip("pandas")
    server.responder = _column_answer
    ip.user_ns.update(schema=SCHEMA, out="earlier", texts=[t for t, _ in ROWS],
                      df=pd.DataFrame({"text": [t for t, _ in ROWS]}))
    for line, body in (("--each df --expect nope", "{text}"),
                       ("--each df --compare exact,sloppy --expect nope", "{text}"),
                       ("--each texts --expect label", "{item}")):
        res = ip.run_cell(f"%%structured schema -o out {line}\nRate: {body}",
                          store_history=False)
        assert isinstance(res.error_in_exec, UsageError), line
        assert "--expect needs a column of the --each DataFrame" in str(res.error_in_exec)
    assert server.requests == [] and ip.user_ns["out"] == "earlier"


def test_each_compare_sends_each_rows_image_to_every_model(ip, server, settings):
    pd = pytest.importorskip("pandas")
    from fake_media import received_parts
    from media_helpers import jpeg, png

    pictures = [png(), jpeg()]
    seen: list[tuple[str, bytes]] = []

    def answer(req):
        (part,) = received_parts(req)
        seen.append((req.json["model"], part.data))
        return chat(json.dumps(ANSWERS["model-a"]))

    server.responder = answer
    ip.user_ns.update(schema=SCHEMA, df=pd.DataFrame({"photo": pictures}))
    res = ip.run_cell("%%structured schema --each df -o out --compare m1,m2 --image photo "
                      "--quiet\nRate the photo", store_history=False)
    assert res.success, res.error_in_exec
    assert sorted(seen) == sorted((m, p) for m in ("m1", "m2") for p in pictures)
    assert list(ip.user_ns["out"]["stars@m2"]) == [5, 5]


# --- the widget -----------------------------------------------------------------------------------


def test_the_widget_has_a_column_per_model_and_marks_differences(server, settings):
    from structmagic.display.compare_widget import ComparisonWidget

    server.responder = _by_model
    comp = sm.compare("q", SCHEMA, "model-a,model-b,model-refuses")
    widget = ComparisonWidget(comp.targets, title="review")
    widget.start()
    widget.finish(comp)
    assert [c.status for c in widget.columns.values()] == ["done", "done", "error"]
    assert len(widget.row.children) == 3
    # one grid of answers, a row per field; each column's own answer gives way to it
    assert widget.answers.layout.display is None
    assert all(c.answer.layout.display == "none" for c in widget.columns.values())
    answers = widget.answers.value
    assert answers.count("structmagic-differ") == 1  # one highlight per differing field
    marked = answers.split('class="structmagic-differ"')[1].split("</tr>")[0]
    assert DIFFER_BG in marked and "Stars" in marked
    assert "Answers differ on: Stars" in widget.note.value
    for text in widget_texts(widget.widget):
        assert_inert(text)


def test_reveal_steps_every_column_in_lockstep(server, settings):
    from structmagic.display.compare_widget import ComparisonWidget

    step = {"type": "object", "properties": {"explanation": {"type": "string"}},
            "required": ["explanation"], "additionalProperties": False}
    steps = {"type": "object", "properties": {
        "steps": {"type": "array", "items": step}, "answer": {"type": "string"}},
        "required": ["steps", "answer"], "additionalProperties": False}
    server.responder = lambda req: chat(json.dumps(
        {"steps": [{"explanation": e} for e in ("abc" if req.json["model"] == "long" else "a")],
         "answer": "x"}))
    comp = sm.compare("q", steps, "long,short")
    widget = ComparisonWidget(comp.targets, title="steps", reveal=True)
    widget.finish(comp)
    assert widget.revealed == 1 and not widget.next_button.disabled
    widget.next_button.click()
    assert [c.revealed for c in widget.columns.values()] == [2, 1]
    assert ">step 2 of 3<" in widget.position.value
    widget.all_button.click()
    assert [c.revealed for c in widget.columns.values()] == [3, 1]
    assert widget.next_button.disabled
    assert all(c.nav.layout.display == "none" for c in widget.columns.values())


# --- a column from any iterable ------------------------------------------------------------------


def _column_functions():
    return {
        "batch": lambda rows: sm.batch(rows, SCHEMA),
        "estimate": lambda rows: sm.estimate(rows, SCHEMA, prices={"test-model": (1, 1)}),
        "submit_batch": lambda rows: sm.submit_batch(rows, SCHEMA),
        "compare_each": lambda rows: sm.compare_each(rows, SCHEMA, "exact,sloppy"),
        "score": lambda rows: sm.score(rows, [dict(e) for _, e in ROWS], SCHEMA),
    }


@pytest.mark.parametrize("name", ["batch", "estimate", "compare_each", "score"])
def test_every_column_function_takes_a_generator(server, settings, name):
    server.responder = _column_answer
    rows = ((f"Rate: {t}" if name != "score" else e) for t, e in ROWS)
    done = _column_functions()[name](rows)
    if name == "batch":
        assert [r.data["stars"] for r in done] == [5, 1, 3]
    elif name == "estimate":
        assert done.rows == 3
    elif name == "compare_each":
        assert list(done.frame["stars@exact"]) == [5, 1, 3]
    else:
        assert done.table.loc["stars", "accuracy"] == 1.0


@pytest.mark.parametrize("bad", [5, None, "Rate: great phone", {"a": "Rate: awful"}])
@pytest.mark.parametrize("name", ["batch", "estimate", "submit_batch", "compare_each", "score"])
def test_one_value_where_a_column_is_wanted_is_an_input_error(server, settings, tmp_path,
                                                             name, bad):
    sm.configure(batch_manifest=str(tmp_path / "batches.json"))  # none written here
    what = "answers" if name == "score" else "prompts"
    with pytest.raises(sm.InputError, match=f"{what} must be a list"):
        _column_functions()[name](bad)
    assert server.requests == []


def test_a_dataframe_given_as_prompts_says_to_give_a_column(server, settings):
    pd = pytest.importorskip("pandas")
    with pytest.raises(sm.InputError, match=r"not a DataFrame \(one of its columns"):
        sm.batch(pd.DataFrame({"text": ["a"]}), SCHEMA)
    assert server.requests == []


def test_a_columns_header_is_one_line_with_its_own_time(server, settings, clock):
    """Each column's header is one line (its label, status and time; the model, tokens and
    cost on hover), the model not repeated when it is the label; a model that refused shows
    its own time, not the time the slowest model ended."""
    from structmagic.display.compare_widget import ComparisonWidget

    def respond(req):
        if req.json["model"] == "model-refuses":
            clock.advance(2.0)  # the refusal takes 2 s (the only time that passes)
            return chat(None, refusal="no")
        return _by_model(req)

    server.responder = respond
    comp = sm.compare("q", SCHEMA, "model-a,model-refuses")
    assert comp.results["model-refuses"].elapsed == 2.0  # measured on the settings' clock
    widget = ComparisonWidget(comp.targets, title="review", clock=clock)
    widget.start()
    clock.advance(7.0)  # the slowest model ends 7 s later
    widget.finish(comp)
    slow, refused = widget.columns["model-a"], widget.columns["model-refuses"]
    for column in (slow, refused):
        header = column.header.value
        assert header.count(f">{column.title}<") == 1  # the label once; the model is it
        assert "white-space:nowrap" in header and "<br" not in header
    assert "12 tokens" in slow.header.value.split('title="')[1].split('"')[0]
    assert "12 tokens" not in re.sub(r'title="[^"]*"', "", slow.header.value)
    assert ">2.0 s<" in refused.header.value and "7.0 s" not in refused.header.value


def test_an_interrupted_comparison_says_so_once_in_one_line(ip, server, settings, monkeypatch,
                                                            capfd, sigint):
    """The stop button during a comparison: every column still waiting says "interrupted"
    (a neutral badge), nothing is bound, and the traceback is one line."""
    from structmagic.magic import cell

    widgets = []
    real = cell.ComparisonWidget

    def record(*args, **kwargs):
        widgets.append(real(*args, **kwargs))
        return widgets[-1]

    monkeypatch.setattr(cell, "ComparisonWidget", record)
    monkeypatch.setattr(ip, "kernel", object(), raising=False)
    server.responder = lambda req: Reply.hang(5)
    ip.user_ns.update(schema=SCHEMA, out="before")
    sigint.after_requests(2)  # both models asked, their answers held
    res = ip.run_cell("%%structured schema -o out --compare m1,m2\nq", store_history=False)
    exc = res.error_in_exec
    assert isinstance(exc, sm.CallInterrupted) and ip.user_ns["out"] == "before"
    assert exc._render_traceback_() == ["\x1b[0;31mKeyboardInterrupt\x1b[0m: see above"]
    (widget,) = widgets
    assert [c.status for c in widget.columns.values()] == ["interrupted", "interrupted"]
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
