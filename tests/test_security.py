"""Model text never runs in the browser, and the key never leaves the kernel."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import structmagic as sm
from structmagic.call.result import Result
from structmagic.display.render import error_html, result_html
from structmagic.display.widget import StructuredWidget
from structmagic.grounding import Grounding, Source

from fakeserver import Reply, chat, chat_stream
from htmlaudit import POISON, POISON_HTML, assert_inert, widget_texts
from sm_fixtures import CANARY


def poisoned_value() -> dict:
    return {
        "steps": [{"explanation": p, "output": p, p: "key is poison"} for p in POISON],
        "final_answer": " ".join(POISON),
    }


POISON_SCHEMA = {
    "title": "<img src=x onerror=alert('title')>",
    "type": "object",
    "properties": {
        "steps": {"type": "array", "items": {"type": "object"}},
        "final_answer": {"type": "string", "description": "<script>alert('desc')</script>"},
    },
    "required": ["steps", "final_answer"],
}


def test_poisoned_answer_binds_unchanged_and_renders_inert(server, settings):
    value = poisoned_value()
    server.queue(chat_stream(json.dumps(value), pieces=11, reasoning="<script>x()</script>"))
    wdg = StructuredWidget(title="<b onmouseover=alert(1)>t</b>", model="<i>m</i>",
                           min_interval=0)
    wdg.start()
    res = sm.structured("q", POISON_SCHEMA, stream=True, observer=wdg)
    wdg.finish(res)
    assert res.data == value  # the data is the user's, unchanged
    texts = widget_texts(wdg.widget)
    assert any("&lt;img src=x onerror=alert(1)&gt;" in t for t in texts)
    for text in texts:
        assert_inert(text)
    handouts = [res.handout_html(), res.handout_html(ask_first=True)]
    for markup in (result_html(res), res._repr_html_(), res._repr_mimebundle_()["text/html"],
                   *handouts):
        assert_inert(markup)
        assert "&lt;script&gt;" in markup
    for markup in handouts:  # the handout's one <style> is its own, whatever the model wrote
        assert markup.count("<style>") == 1 and "<style>body" not in markup


def test_poisoned_grounding_renders_inert():
    """A grounded answer over a poisoned document: values, keys (paths, labels) and the
    source text all stay text, in the result's HTML and in its widget."""
    text = "\n".join([*POISON, "javascript:alert(3)", "url(https://evil.example/y)",
                      "lone \ud800 and nul \x00"])
    grounding: dict[str, Grounding] = {}
    for p in POISON:
        start = text.find(p)
        grounding[p] = Grounding("exact", start, start + len(p), text=p, value=p)
        grounding[f'["{p}"]'] = Grounding("ungrounded", value=p)
    res = Result(data=poisoned_value(), plain=poisoned_value(), raw="{}", model="m",
                 schema_name="<i>s</i>", grounding=grounding, source=Source(text),
                 labels={POISON[0]: POISON[1]})
    for markup in (result_html(res), res._repr_mimebundle_()["text/html"]):
        shown = assert_inert(markup)
        assert "&lt;script&gt;" in markup and "<img" not in markup
        assert all(p in shown for p in POISON)
        markup.encode("utf-8")
    wdg = StructuredWidget(title="t", labels=res.labels)
    wdg.finish(res)
    assert "structmagic-grounded" in wdg.ground_view.value
    for value in widget_texts(wdg.widget):
        assert_inert(value)


def test_poisoned_error_messages_render_inert(server, settings):
    page = "<html><body><script>alert(1)</script><img src=x onerror=alert(2)>Bad</body></html>"
    server.queue(*[Reply.text(page, status=502, content_type="text/html")] * 3)
    with pytest.raises(sm.ServerError) as info:
        sm.structured("q", POISON_SCHEMA)
    assert "<script" not in str(info.value) and "onerror" not in str(info.value)
    assert_inert(error_html(info.value))
    err = sm.RefusalError("<img src=x onerror=alert(1)>")
    assert_inert(error_html(err))
    wdg = StructuredWidget(title="t")
    wdg.fail(err)
    for text in widget_texts(wdg.widget):
        assert_inert(text)


def test_magic_line_refuses_a_key_option(ip, server):
    ip.user_ns["s"] = POISON_SCHEMA
    for line in ("--api-key sk-abc", "--api_key=sk-abc", "--key sk-abc", "--token sk-abc"):
        res = ip.run_cell(f"%%structured s -o x {line}\nq", store_history=False)
        assert "no key option" in str(res.error_in_exec), line
    assert server.requests == []


def test_headless_kernel_without_key_fails_at_once(monkeypatch):
    from structmagic import config
    from structmagic.magic.keys import prompt_key

    class Shell:
        kernel = None

    saved = config.configured()
    config.reset()
    try:
        with pytest.raises(sm.ConfigError, match="not an interactive session"):
            prompt_key(Shell(), "API key")
    finally:
        config.reset(saved)


def test_key_never_in_reprs_config_or_logs(ip, server, settings, caplog, capfd, tmp_path):
    caplog.set_level(logging.DEBUG)
    cassette = tmp_path / "rec.jsonl"
    server.queue(chat(json.dumps({"steps": [], "final_answer": "x"})))
    res = sm.structured("q", POISON_SCHEMA, cache="record", cassette=str(cassette))
    ip.run_cell("%structured_config", store_history=False)
    ip.run_cell("%config StructuredMagics", store_history=False)
    ip.run_cell("%xmode Verbose", store_history=False)
    server.queue(Reply.status(401, "bad key", echo_auth=True))
    ip.user_ns["s"] = POISON_SCHEMA
    failed = ip.run_cell("%%structured s -o x --mode json_schema\nq", store_history=False)
    ip.run_cell("%xmode Context", store_history=False)
    assert isinstance(failed.error_in_exec, sm.AuthenticationError)
    out, err = capfd.readouterr()
    from structmagic import config

    surfaces = [
        out, err, repr(res), str(res), repr(sm.load_schema(POISON_SCHEMA)),
        repr(config.resolve()), str(config.resolve().masked()), repr(config.configured()),
        repr(failed.error_in_exec), str(failed.error_in_exec),
        failed.error_in_exec.body_excerpt, cassette.read_text(),
        *(r.getMessage() for r in caplog.records),
    ]
    assert server.requests[-1].headers["authorization"] == f"Bearer {CANARY}"
    for text in surfaces:
        assert CANARY not in text and CANARY[-6:] not in text
    assert "authorization" not in cassette.read_text().lower()


def test_saved_notebook_and_html_export_are_inert(tmp_path, fake_server):
    """Run a notebook that shows a poisoned answer, save it, export it with nbconvert."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbconvert")
    from nbclient import NotebookClient

    fake_server.reset()
    value = poisoned_value()
    fake_server.responder = lambda req: (
        chat_stream(json.dumps(value), pieces=7) if (req.json or {}).get("stream")
        else chat(json.dumps(value)))
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import structmagic as sm\n"
            f"sm.configure(base_url={fake_server.url + '/v1'!r}, api_key={CANARY!r}, "
            "model='m')\n%load_ext structmagic"),
        nbformat.v4.new_code_cell(f"schema = {json.dumps(POISON_SCHEMA)}"),
        nbformat.v4.new_code_cell("%%structured schema -o answer\nq"),
        nbformat.v4.new_code_cell("%%structured schema\nq"),
        nbformat.v4.new_code_cell("answer['final_answer'][:8]"),
        nbformat.v4.new_code_cell("%%structured schema --reveal --hide-answer --ask-first\nq"),
    ]
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}},
                            store_widget_state=True)
    client.execute()
    path = tmp_path / "poison.ipynb"
    nbformat.write(nb, path)
    saved = path.read_text()
    assert "<img src=x" in json.dumps(value)  # the test really is poisoned
    for cell in (*nb.cells[2:4], nb.cells[5]):
        assert cell.outputs, "the magic showed nothing"
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html",
                    str(path), "--output-dir", str(tmp_path)], check=True,
                   capture_output=True, timeout=120)
    exported = (tmp_path / "poison.html").read_text()
    for p in POISON_HTML:
        assert p not in exported, p
    # the handout (reveal mode's text/html, which an export without widget state shows)
    (handout,) = [o.data["text/html"] for o in nb.cells[5].outputs
                  if "structmagic-handout" in o.get("data", {}).get("text/html", "")]
    assert "&lt;img src=x onerror=alert(1)&gt;" in handout and "Your answer:" in handout
    assert_inert(handout)
    assert "https://evil.example" not in exported.replace("https://evil.example/x.png)", "")
    # the widget state saved in the notebook holds escaped text only
    state = nb.metadata.get("widgets", {})
    text = json.dumps(state)
    for p in POISON_HTML:
        assert p not in text
    assert CANARY[-6:] not in saved.replace(CANARY, "")  # only the setup cell's own source
    assert Path(path).exists()


def test_verbose_traceback_of_an_interrupt_shows_no_key(ip, server, settings, capfd, sigint):
    from fakeserver import Reply

    server.queue(Reply.hang(5))
    ip.user_ns["s"] = POISON_SCHEMA
    ip.run_cell("%xmode Verbose", store_history=False)
    sigint.after_requests(1)  # while the server holds the answer back
    try:
        res = ip.run_cell("%%structured s -o x --no-stream\nq", store_history=False)
    finally:
        ip.run_cell("%xmode Context", store_history=False)
    assert isinstance(res.error_in_exec, KeyboardInterrupt)
    out, err = capfd.readouterr()
    assert "KeyboardInterrupt" in out + err
    assert CANARY not in out + err and CANARY[-6:] not in out + err
    assert "site-packages/httpcore" not in out + err  # no library frames, nor their locals
