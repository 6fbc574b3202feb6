"""End to end in a real JupyterLab and a real browser.

Starts JupyterLab on loopback with a token and drives headless Chromium (Debian's package,
through Playwright) against the loopback fake server, checking what a person would see:

- ``notebooks/walkthrough.ipynb``: steps arriving one by one, the final answer, the
  reasoning section opening on click, the reveal buttons with "try it first" (a wrong and a
  right answer typed, checked by the kernel) and the answer held back until *Show answer*
  (screenshots in the light and the dark theme), and a refusal shown once (in the widget)
  while the cell still fails;
- the walkthrough's stored outputs opened in JupyterLab where no widget can be drawn: the
  handout, sanitized as untrusted output, its steps opening one at a time, in both themes;
- a notebook of shapes built here: long English and Chinese text (the line height measured
  on wrapped lines), a 40-step answer (its height bounded, header and final answer in view,
  earlier steps folded, opened by a click while the answer still streams), field labels,
  the waiting state (never ``{}``), and a 401 shown once while run-all stops at that cell;
  screenshots in the light and the dark theme;
- a comparison of three models (one slow, one refusing): a column each, the differing field
  marked, the refusal kept in its column while the others bind;
- round two of what a user sees: a 100-step answer whose opened fold is one list
  (consecutive steps adjacent on screen, none cut, one scroll area), while it streams, after,
  and revealed after *Show all*; a comparison with one-line column headers and its answers
  in one grid (each field at one height for every model), the differing fields readable
  (computed colours' contrast at least 4.5) in the light and the dark theme; the progress
  bar of ``--each`` on one line, with the run's own rate; a picture's thumbnail opening the
  picture at the output's width by a click, and closing it;
- a page made as an export would be (JavaScript off, every request blocked and counted):
  a result's thumbnail inside its box, opening its picture; the scores' chart drawn; none;
- a grounded result (built by hand over a source with Chinese text and emoji) in its widget,
  light and dark: a value clicked scrolls the source box to its mark (a fragment link and
  :target rules, no script), a mark clicked shows its value, the marks readable (contrast
  measured); the same as stored untrusted output (its <style> dropped), and exported (no
  request, JavaScript off);
- a result with a confidence per value (built by hand), in its widget and as stored untrusted
  output, light and dark: a bar beside each value as full as its figure, the two under 50%
  in the warning colour, every bar readable on its background (contrast measured), the
  lowest named first under the title, the table of values opened, lowest first;
- the README's export, opened with every request blocked and counted: none;
- the exported walkthrough, a handout, with JavaScript off: the answer hidden at first, the
  steps opened by a click and by the keyboard, no request; printed to PDF (Chromium's own
  print), every step and the answer in the PDF's text (``pdftext.py``).

Screenshots go to test-artifacts/. Skipped, saying so, when Chromium or Playwright is not
installed. CJK text needs a CJK font on the machine (fonts-noto-cjk or fonts-wqy-zenhei)
to show in screenshots.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from structmagic.display.grounded import contrast

from fakeserver import FakeLLMServer, Reply, chat, chat_stream
from pdftext import pdf_text

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "structmagic-browser-test-token"
REASONING = "Align the decimals first: 9.80 against 9.11."
ANSWER = {
    "steps": [{"explanation": f"Step number {i}: compare digit {i} of both numbers.",
               "output": f"partial result {i}"} for i in range(1, 7)],
    "final_answer": "9.8 is larger than 9.11",
}
LONG_EN = ("Align the decimals first, so that both numbers have the same number of digits "
           "after the point; then compare the tenths digit, which already decides the "
           "comparison because eight is larger than one. ") * 3
LONG_ZH = ("先比较整数部分：9.11 和 9.8 的整数部分都是 9，所以要继续比较小数部分。把小数位数对齐："
           "9.8 可以写成 9.80，这样两个数都有两位小数。比较十分位：9.11 的十分位是 1，"
           "9.80 的十分位是 8，而 1 < 8。") * 2
LONG_ANSWER = {"steps": [{"explanation": LONG_EN, "output": "9.8"},
                         {"explanation": LONG_ZH, "output": "9.8 > 9.11"}],
               "final_answer": "9.8 比 9.11 大。"}
FORTY = {"steps": [{"explanation": f"Look at digit {i} of both numbers and compare them.",
                    "output": f"result {i}"} for i in range(1, 41)],
         "final_answer": "9.8 is larger than 9.11 (forty steps)"}
SCHEMA = {
    "type": "object",
    "properties": {
        "steps": {"type": "array", "items": {
            "type": "object",
            "properties": {"explanation": {"type": "string"}, "output": {"type": "string"}},
            "required": ["explanation", "output"], "additionalProperties": False}},
        "final_answer": {"type": "string"},
    },
    "required": ["steps", "final_answer"],
    "additionalProperties": False,
}
SHAPES = [
    f"%load_ext structmagic\nmath = {SCHEMA!r}",
    "%%structured math -o longtext\nlong text please",
    '%%structured math -o forty --label "final_answer=Answer"\nforty steps please',
    "%%structured math -o slow\nslow start please",
    "%%structured math -o denied --mode json_schema --retries 0\nunauthorized please",
    "never_run = True",
]
LONG, FORTY_CELL, SLOW, DENIED, AFTER = 1, 2, 3, 4, 5
# The walkthrough's --reveal problem as recorded (notebooks/make_notebooks.py, MATH_ANSWER):
# each step's output, and the final answer.
RECORDED_OUTPUTS = ["9 = 9", "9.11 与 9.80", "0.1 < 0.8", "9.8 > 9.11"]
RECORDED_ANSWER = "9.8 比 9.11 大。"
# What a user sees, round two: a 100-step answer streamed, the same revealed and shown
# whole, a comparison whose answers differ, a column's progress bar.
HUNDRED = {"steps": [{"explanation": f"Look at digit {i} of both numbers and compare them.",
                      "output": f"result {i}"} for i in range(1, 101)],
           "final_answer": "9.8 is larger than 9.11 (a hundred steps)"}
REVIEW = {"type": "object", "properties": {
    "sentiment": {"type": "string", "title": "Sentiment"},
    "summary": {"type": "string"}, "stars": {"type": "integer"}},
    "required": ["sentiment", "summary", "stars"], "additionalProperties": False}
ROUND_TWO = [
    f"%load_ext structmagic\nmath = {SCHEMA!r}\nreview = {REVIEW!r}\n"
    "items = ['a', 'b', 'c', 'd', 'e']",
    "%%structured math -o hundred\nhundred steps please",
    "%%structured math -o taught --reveal\nhundred steps please",
    "%%structured review -o rated --compare model-quick,model-slow,model-refuses\n"
    "review please",
    "%%structured math --each items -o rows\n{item} rows please",
    "from PIL import Image, ImageDraw\nreceipt = Image.new('RGB', (600, 800), 'white')\n"
    "ImageDraw.Draw(receipt).rectangle((100, 100, 500, 300), fill='navy')",
    "%%structured math --image receipt -o read\nreceipt please",
    "%%structured math --each items --estimate --max-tokens 300\n{item}",
    "%%structured math -o stopped\nstop me please",
]
HUNDRED_CELL, TAUGHT, RATED, ROWS, RECEIPT, ESTIMATE, STOPPED = 1, 2, 3, 4, 6, 7, 8
COMPARE = [
    f"%load_ext structmagic\nmath = {SCHEMA!r}",
    "%%structured math -o trio --compare model-quick,model-slow,model-refuses\n"
    "compare please",
    "sorted(trio)",
]


# A grounded result built by hand (no aligner, no server): a source with Chinese text and
# emoji, long enough that its box scrolls, the total at its end; one value not found.
GROUNDED_CELL = r'''import json
from structmagic.call.result import Result
from structmagic.grounding import Grounding, Source

head = "发票 Invoice\n供应商：上海星辰贸易有限公司 😀 Stars Trading\n发票号码：INV-2024-001\n"
lines = "".join(f"第{i}行 Line {i}: widgets and gadgets, packed with care.\n" for i in range(1, 61))
text = head + lines + "合计金额：¥1,234.00 🎉\nTotal: 1.234,00 EUR\n"


def at(value, sub=None, status="exact", score=1.0):
    sub = str(value) if sub is None else sub
    start = text.find(sub)
    return Grounding(status, start, start + len(sub), text=sub, score=score, value=value)


value = {"supplier": "上海星辰贸易有限公司", "party": "😀 Stars", "trading": "Stars Trading",
         "invoice_no": "INV-2024-001", "total": 1234.0, "currency": "USD"}
grounding = {"supplier": at("上海星辰贸易有限公司"), "party": at("😀 Stars"),
             "trading": at("Stars Trading"), "invoice_no": at("INV-2024-001"),
             "total": at(1234.0, "¥1,234.00", status="fuzzy", score=0.87),
             "currency": Grounding("ungrounded", value="USD")}
grounded = Result(data=value, plain=value, raw=json.dumps(value, ensure_ascii=False),
                  model="model-x", schema_name="invoice", grounding=grounding,
                  source=Source(text))
grounded'''
# the fields' indices in the grounding (the ids' k): the first value, the total at the end
SUPPLIER, TOTAL = 0, 4

# A result with a confidence per value, built by hand: an invoice of three lines (a row's
# item poisoned), two values under 50%.
CONFIDENT_CELL = r'''import json
from structmagic.call.result import Result

value = {"invoice_no": "INV-2024-001", "total": 1234.0, "currency": "EUR",
         "lines": [{"item": "widgets", "qty": 3, "unit price": 12.5},
                   {"item": "gadgets", "qty": 7, "unit price": 4.25},
                   {"item": "<img src=x onerror=alert(1)>", "qty": 1, "unit price": 0.5}]}
confidence = {"invoice_no": 0.97, "total": 0.61, "currency": 0.35, "lines[0].item": 0.99,
              "lines[0].qty": 0.88, 'lines[0]["unit price"]': 0.9, "lines[1].item": 0.95,
              "lines[1].qty": 0.23, 'lines[1]["unit price"]': 0.8, "lines[2].item": 0.75,
              "lines[2].qty": 0.92, 'lines[2]["unit price"]': 0.66}
confident = Result(data=value, plain=value, raw=json.dumps(value), model="model-x",
                   schema_name="invoice", confidence=confidence)
confident'''
# the confidences the cell gives, in percent, and the two under 50%, lowest first
CONFIDENT = {"invoice_no": 97, "total": 61, "currency": 35, "lines[0].item": 99,
             "lines[0].qty": 88, 'lines[0]["unit price"]': 90, "lines[1].item": 95,
             "lines[1].qty": 23, 'lines[1]["unit price"]': 80, "lines[2].item": 75,
             "lines[2].qty": 92, 'lines[2]["unit price"]': 66}
CONFIDENT_LOW = ["lines[1].qty", "currency"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _responder(req: Any) -> Reply:
    text = json.dumps(req.json or {})
    if "compare please" in text:
        model = (req.json or {}).get("model")
        if model == "model-refuses":
            return chat_stream("", refusal="I would rather not compare numbers.", pieces=3)
        answer = dict(ANSWER, final_answer="9.8 is larger" if model == "model-quick"
                      else "9.11 is larger")
        return chat_stream(json.dumps(answer), pieces=30 if model == "model-quick" else 60,
                           delay=0.02 if model == "model-quick" else 0.05)
    if "review please" in text:
        model = (req.json or {}).get("model")
        if model == "model-refuses":
            return chat_stream("", refusal="I would rather not rate this.", pieces=3)
        quick = model == "model-quick"
        answer = {"sentiment": "positive" if quick else "mixed, leaning positive",
                  "summary": ("Loved it." if quick else "Good value, though the battery "
                              "could last longer and the case scratches easily."),
                  "stars": 5 if quick else 4}
        return chat_stream(json.dumps(answer), pieces=10, delay=0.02 if quick else 0.08)
    if "hundred steps please" in text:  # ~3 s of streaming
        return chat_stream(json.dumps(HUNDRED), pieces=300, delay=0.01)
    if "stop me please" in text:  # ~30 s: stopped long before its end
        return chat_stream(json.dumps(ANSWER), pieces=300, delay=0.1)
    if "receipt please" in text:
        return chat_stream(json.dumps(ANSWER), pieces=4)
    if "rows please" in text:
        return chat(json.dumps(ANSWER))
    if "unauthorized please" in text:
        return Reply.status(401, "Incorrect API key provided.")
    if "refuse" in text:
        return chat_stream("", refusal="I can't help with that.", pieces=3)
    if "long text please" in text:
        return chat_stream(json.dumps(LONG_ANSWER, ensure_ascii=False), pieces=10)
    if "forty steps please" in text:  # ~5 s of streaming: a fold appears at step 9
        return chat_stream(json.dumps(FORTY), pieces=160, delay=0.03)
    if "slow start please" in text:  # '{"' first, then a pause before the first step
        answer = json.dumps({"steps": [{"explanation": "one", "output": "1"}],
                             "final_answer": "x"})
        return chat_stream(answer, piece_size=2, delay=0.15)
    # ~60 pieces, 40 ms apart: the answer takes a few seconds to stream
    return chat_stream(json.dumps(ANSWER), pieces=60, delay=0.04, reasoning=REASONING)


def _write_notebooks(work: Path) -> None:
    nb = json.loads((ROOT / "notebooks" / "walkthrough.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    nb["metadata"].pop("widgets", None)
    (work / "walkthrough.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    shapes = {**nb, "cells": [
        {"cell_type": "code", "metadata": {}, "source": src, "outputs": [],
         "execution_count": None, "id": f"shape-{i}"} for i, src in enumerate(SHAPES)]}
    (work / "shapes.ipynb").write_text(json.dumps(shapes), encoding="utf-8")
    compare = {**nb, "cells": [
        {"cell_type": "code", "metadata": {}, "source": src, "outputs": [],
         "execution_count": None, "id": f"compare-{i}"} for i, src in enumerate(COMPARE)]}
    (work / "compare.ipynb").write_text(json.dumps(compare), encoding="utf-8")
    round_two = {**nb, "cells": [
        {"cell_type": "code", "metadata": {}, "source": src, "outputs": [],
         "execution_count": None, "id": f"round-two-{i}"} for i, src in enumerate(ROUND_TWO)]}
    (work / "roundtwo.ipynb").write_text(json.dumps(round_two), encoding="utf-8")
    # the walkthrough as stored, where no widget can be drawn: only text/html and text/plain
    stored = json.loads((ROOT / "notebooks" / "walkthrough.ipynb").read_text(encoding="utf-8"))
    stored["metadata"].pop("widgets", None)
    for cell in stored["cells"]:
        for output in cell.get("outputs", []):
            output.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
    (work / "handout.ipynb").write_text(json.dumps(stored), encoding="utf-8")
    _write_grounded(work / "grounded.ipynb")
    _write_grounded(work / "grounded-stored.ipynb", stored=True)
    _write_result_cell(work / "confident.ipynb", CONFIDENT_CELL, "confident")
    _write_result_cell(work / "confident-stored.ipynb", CONFIDENT_CELL, "confident",
                       stored=True)


def _write_grounded(path: Path, *, stored: bool = False) -> None:
    """A notebook of one cell, :data:`GROUNDED_CELL` (see :func:`_write_result_cell`)."""
    _write_result_cell(path, GROUNDED_CELL, "grounded", stored=stored)


def _write_result_cell(path: Path, cell: str, name: str, *, stored: bool = False) -> None:
    """A notebook of one cell, ``cell``, whose value is the Result it names ``name``;
    ``stored``: with the output it gives where no widget is drawn (its text/html and
    text/plain, made here as the kernel would)."""
    outputs: list[dict[str, Any]] = []
    if stored:
        scope: dict[str, Any] = {}
        exec(cell, scope)  # the cell's own code: a Result built by hand
        result = scope[name]
        outputs = [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                    "data": {"text/html": result._repr_html_(),
                             "text/plain": result._text()}}]
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": cell,
                     "outputs": outputs, "execution_count": 1 if stored else None,
                     "id": f"{name}-0"}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb), encoding="utf-8")


@pytest.fixture(scope="module")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium): "
                    "the browser test did not run")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    return CHROMIUM


@pytest.fixture(scope="module")
def lab(tmp_path_factory, chromium_path):
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed")
    work = tmp_path_factory.mktemp("lab")
    _write_notebooks(work)
    # no "Would you like to get notified about Jupyter news?" toast over the screenshots
    labconfig = work / "config" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    server = FakeLLMServer()
    server.start()
    server.responder = _responder
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "STRUCTMAGIC_"))}
    env.update(OPENAI_BASE_URL=server.url + "/v1", OPENAI_API_KEY="sk-browser-test-0000",
               STRUCTMAGIC_CACHE="off", JUPYTER_CONFIG_DIR=str(work / "config"),
               JUPYTER_RUNTIME_DIR=str(work / "runtime"),
               # the user's own JupyterLab settings and workspaces stay out of the test
               JUPYTERLAB_SETTINGS_DIR=str(work / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(work / "workspaces"))
    log = (work / "lab.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={TOKEN}",
         f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.open_browser=False", "--allow-root",
         "--LabApp.extension_manager=readonly"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                server.stop()
                pytest.fail("JupyterLab did not start:\n" + (work / "lab.log").read_text())
            time.sleep(0.3)
    yield url, server
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    server.stop()


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _open(browser: Any, lab: tuple[str, Any], name: str, height: int) -> Any:
    url, _ = lab
    page = browser.new_page(viewport={"width": 1280, "height": height})
    # a workspace of its own: only this notebook open, whatever an earlier test left open
    page.goto(f"{url}/lab/workspaces/{Path(name).stem}/tree/{name}?token={TOKEN}")
    page.wait_for_selector(".jp-Notebook", timeout=90_000)
    # the notebook's own kernel started and connected (the status bar reads "idle" before a
    # kernel is attached; running cells then would ask for a kernel in a dialog)
    page.wait_for_function(KERNEL_READY, arg=name, timeout=120_000)
    return page


# Whether notebook ``name`` is the current widget and its kernel is connected and idle.
KERNEL_READY = """name => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const session = w && w.sessionContext && w.sessionContext.session;
    const kernel = session && session.kernel;
    return !!kernel && w.context.path.endsWith(name) && kernel.connectionStatus === 'connected'
        && kernel.status === 'idle';
}"""


def _run_all(page: Any) -> None:
    """Run every cell, once the notebook is the current widget and its kernel is ready."""
    page.locator(".jp-Notebook .jp-Cell").first.click()
    for _ in range(3):
        # not awaited: the command's promise only ends when every cell has run
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        try:
            page.wait_for_function(
                """() => Array.from(document.querySelectorAll('.jp-InputPrompt'))
                    .some(p => p.textContent.includes('*') || /\\d/.test(p.textContent))""",
                timeout=20_000)
            return
        except Exception:  # playwright's TimeoutError: not started yet, try again
            page.wait_for_timeout(500)
    raise AssertionError("JupyterLab never started running the cells")


def _wait_idle(page: Any) -> None:
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=90_000)


def _theme(page: Any, name: str) -> None:
    page.evaluate("t => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})",
                  f"JupyterLab {name.title()}")
    page.wait_for_function("t => document.body.dataset.jpThemeName === t",
                           arg=f"JupyterLab {name.title()}", timeout=20_000)
    page.wait_for_timeout(800)


def _each_theme(page: Any, view: Any) -> Iterator[str]:
    """The light theme, then the dark one, ``view`` scrolled into sight in each; the light
    one again after."""
    for theme in ("light", "dark"):
        _theme(page, theme)
        view.scroll_into_view_if_needed()
        yield theme
    _theme(page, "light")


def _run_until(page: Any, selector: str, least: int) -> None:
    """Run every cell, wait for the kernel to be idle and for ``least`` elements matching
    ``selector`` to be drawn."""
    _run_all(page)
    _wait_idle(page)
    page.wait_for_function("([s, n]) => document.querySelectorAll(s).length >= n",
                           arg=[selector, least], timeout=60_000)


# Cell text is read after scrolling the cell into view: JupyterLab does not lay out cells far
# off screen (content-visibility), and innerText is empty for those until the next frames
# are drawn. Run-all scrolls the notebook down as it goes, so any cell may be off screen.
DRAWN = "for (let k = 0; k < 3; k++) await new Promise(r => requestAnimationFrame(r));"


def _drawn(script: str) -> str:
    """``script`` with each ``await drawn();`` waiting for the next frames to be drawn."""
    return script.replace("await drawn();", DRAWN)


# The text of the first widget of the notebook (null before it shows).
FIRST_WIDGET_TEXT = _drawn("""async () => {
    const w = document.querySelector('.jp-OutputArea-output .structmagic-widget');
    if (!w) return null;
    if (!w.innerText) { w.scrollIntoView({block: 'start'}); await drawn(); }
    return w.innerText;
}""")

# The text of cell i's widget (null before it shows), the cell scrolled into view first.
CELL_WIDGET_TEXT = _drawn("""async i => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
    const w = cell && cell.querySelector('.structmagic-widget');
    if (!w) return null;
    w.scrollIntoView({block: 'start'});
    if (!w.innerText) { await drawn(); }
    return w.innerText;
}""")

# What a failed cell shows: its error outputs (stderr blocks), the structmagic error
# paragraphs in its widgets, and the whole output area's text.
CELL_ERRORS = _drawn("""async i => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
    cell.scrollIntoView({block: 'start'});
    await drawn();
    const area = cell.querySelector('.jp-OutputArea');
    return {
        stderr: Array.from(area.querySelectorAll(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
            .map(e => e.innerText.trim()),
        widgetErrors: area.querySelectorAll('.structmagic-widget .structmagic-error').length,
        text: area.innerText,
        prompt: cell.querySelector('.jp-InputPrompt').innerText,
    };
}""")

# Line boxes of the text spans in cell i's widget that wrap over 3+ lines: the distance
# between successive lines, and how the text starts.
WRAPPED_LINES = _drawn("""async i => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
    cell.scrollIntoView({block: 'start'});
    await drawn();
    const out = [];
    cell.querySelectorAll('.structmagic-widget span').forEach(s => {
        const tops = [...new Set(Array.from(s.getClientRects()).map(r => Math.round(r.top)))]
            .sort((a, b) => a - b);
        if (tops.length >= 3) {
            const gaps = tops.slice(1).map((t, k) => t - tops[k]);
            out.push({lines: tops.length, gap: Math.max(...gaps), text: s.innerText.slice(0, 12),
                      fontSize: parseFloat(getComputedStyle(s).fontSize)});
        }
    });
    return out;
}""")


# Whether the theme is dark where the widget's "Try it first." label and the answer check's
# line are drawn: their text is light (the theme's font colour), on the notebook's background.
THEMED = """w => {
    const lum = c => { const [r, g, b] = c.match(/[\\d.]+/g).map(Number);
                       return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255; };
    const label = Array.from(w.querySelectorAll('b')).find(b => b.innerText === 'Try it first.');
    const bg = getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor;
    return {dark: lum(getComputedStyle(label).color) > 0.5 && lum(bg) < 0.5,
            label: getComputedStyle(label).color, background: bg};
}"""


def _steps(text: str) -> int:
    return len(re.findall(r"Step \d+\n", text))


def _cell_errors(page: Any, index: int) -> dict[str, Any]:
    """CELL_ERRORS for cell index, once the cell is drawn (its prompt is never empty then)."""
    deadline = time.monotonic() + 10
    while True:
        shown = page.evaluate(CELL_ERRORS, index)
        if shown["prompt"].strip() or time.monotonic() > deadline:
            return shown
        page.wait_for_timeout(100)


def _assert_failed_once(page: Any, index: int, message: str, ename: str) -> None:
    """The failed cell shows its message once (the widget) and a one-line error block."""
    shown = _cell_errors(page, index)
    assert shown["widgetErrors"] == 1, shown
    assert shown["stderr"] == [f"{ename}: see above"], shown  # the cell still failed
    assert shown["text"].count(message) == 1, shown["text"]


@pytest.mark.timeout(300)
def test_walkthrough_in_jupyterlab(lab, browser):
    _, server = lab
    page = _open(browser, lab, "walkthrough.ipynb", 2200)
    try:
        _run_all(page)

        # While the first answer streams: distinct intermediate states, then the final one.
        seen: list[int] = []
        final_text = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            first = page.evaluate(FIRST_WIDGET_TEXT)
            if first is not None:
                if "9.8 is larger than 9.11" in first and "done" in first:
                    final_text = first
                    break
                n = _steps(first)
                if n and (not seen or seen[-1] != n):
                    seen.append(n)
            time.sleep(0.05)
        assert final_text, f"the final answer never showed; last seen: {first!r}"
        intermediate = [n for n in seen if n < len(ANSWER["steps"])]
        assert len(set(intermediate)) >= 2, f"steps did not arrive one by one: {seen}"
        assert _steps(final_text) == 6
        assert "Explanation" in final_text and "Final answer" in final_text  # labels

        # Wait for every cell to finish (the last one fails on purpose).
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll(
                '.jp-OutputArea-output .structmagic-widget')).some(
                w => w.innerText.includes('RefusalError'))""", timeout=60_000)
        _wait_idle(page)
        page.evaluate("() => document.querySelector('.jp-Cell').scrollIntoView()")
        page.screenshot(path=str(ARTIFACTS / "walkthrough-final.png"), full_page=True)
        widgets = page.locator(".jp-OutputArea-output .structmagic-widget")
        assert widgets.count() == 3

        # The reasoning section opens on click.
        first = widgets.nth(0)
        first.scroll_into_view_if_needed()
        assert REASONING not in first.inner_text()
        first.get_by_text("Model reasoning").click()
        page.wait_for_timeout(300)
        assert REASONING in first.inner_text()
        first.screenshot(path=str(ARTIFACTS / "widget-reasoning-open.png"))

        # Reveal mode with --ask-first and --hide-answer: no step until Next; the typed
        # answer checked by the kernel; Show all shows every step, not the answer.
        reveal = widgets.nth(1)
        reveal.scroll_into_view_if_needed()
        assert _steps(reveal.inner_text()) == 0 and "Try it first." in reveal.inner_text()
        nxt = reveal.get_by_role("button", name="Next")
        prev = reveal.get_by_role("button", name="Previous")
        show_all = reveal.get_by_role("button", name="Show all")
        show_answer = reveal.get_by_role("button", name="Show answer")
        assert prev.is_disabled() and show_answer.is_disabled()
        box = reveal.locator("input[type=text]")
        box.fill("9.11 is larger")
        box.press("Enter")
        page.wait_for_function("el => el.innerText.includes('Not quite')",
                               arg=reveal.element_handle(), timeout=10_000)
        assert "9.8 is larger than 9.11" not in reveal.inner_text()  # wrong: no answer given
        box.fill("  9.8 IS larger than 9.11 ")  # normalised as --expect compares strings
        reveal.get_by_role("button", name="Check").click()
        page.wait_for_function("el => el.innerText.includes('Right')",
                               arg=reveal.element_handle(), timeout=10_000)
        for theme in ("light", "dark"):
            _theme(page, theme)
            reveal.scroll_into_view_if_needed()
            shown = reveal.evaluate(THEMED)
            assert shown["dark"] == (theme == "dark"), shown  # the theme's colours, not fixed
            reveal.screenshot(path=str(ARTIFACTS / f"widget-ask-first-{theme}.png"))
        _theme(page, "light")
        nxt.click()
        page.wait_for_function(
            "el => /Step 1\\n/.test(el.innerText)", arg=reveal.element_handle(),
            timeout=10_000)
        assert _steps(reveal.inner_text()) == 1
        nxt.click()
        page.wait_for_function(
            "el => /Step 2\\n/.test(el.innerText)", arg=reveal.element_handle(),
            timeout=10_000)
        prev.click()
        page.wait_for_timeout(300)
        assert _steps(reveal.inner_text()) == 1
        show_all.click()
        page.wait_for_function(
            "el => /Step 6\\n/.test(el.innerText)", arg=reveal.element_handle(),
            timeout=10_000)
        text = reveal.inner_text()
        assert _steps(text) == 6 and "9.8 is larger than 9.11" not in text  # held back
        assert "Raw JSON" not in text and "Model reasoning" not in text  # they hold it too
        assert show_answer.is_enabled()
        show_answer.click()
        page.wait_for_function("el => el.innerText.includes('9.8 is larger than 9.11')",
                               arg=reveal.element_handle(), timeout=10_000)
        assert "Raw JSON" in reveal.inner_text()
        reveal.screenshot(path=str(ARTIFACTS / "widget-reveal-all.png"))

        # The error shows once, in the widget; the cell failed (a one-line error block).
        failed = widgets.nth(2)
        failed.scroll_into_view_if_needed()
        assert "RefusalError" in failed.inner_text()
        assert "can't help" in failed.inner_text()
        last = page.locator(".jp-Notebook .jp-Cell").count() - 1
        _assert_failed_once(page, last, "can't help", "RefusalError")
        page.locator(".jp-Notebook .jp-Cell").nth(last).screenshot(
            path=str(ARTIFACTS / "widget-error.png"))
        # the kernel really streamed from the loopback server
        asked = [json.dumps(r.json or {}) for r in server.requests
                 if (r.json or {}).get("stream")]
        assert len([a for a in asked if "Explain step" in a or "refuse" in a]) == 3
    finally:
        page.close()


def _watch_forty(page: Any) -> dict[str, Any]:
    """Follow the 40-step answer as it streams; open the fold while it still streams."""
    seen: dict[str, Any] = {"heights": [], "opened_while_streaming": False, "texts": []}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = page.evaluate(CELL_WIDGET_TEXT, FORTY_CELL)
        if text is None:
            time.sleep(0.05)
            continue
        seen["texts"].append(text)
        widget = page.locator(".jp-Cell").nth(FORTY_CELL).locator(".structmagic-widget")
        seen["heights"].append(widget.evaluate("w => w.offsetHeight"))
        if "done" in text:
            return seen
        if ("earlier steps" in text and "streaming" in text
                and not seen["opened_while_streaming"]):
            # the frontend opens the section by itself: no kernel round trip needed
            widget.get_by_text(re.compile(r"… \d+ earlier steps")).click()
            page.wait_for_function(
                "i => /Step 1\\n/.test(document.querySelectorAll('.jp-Cell')[i].innerText)",
                arg=FORTY_CELL, timeout=5_000)
            after = page.evaluate(CELL_WIDGET_TEXT, FORTY_CELL)
            seen["opened_while_streaming"] = "streaming" in after
            seen["open_text"] = after
            page.locator(".jp-Cell").nth(FORTY_CELL).screenshot(
                path=str(ARTIFACTS / "shapes-forty-steps-opened-while-streaming.png"))
        time.sleep(0.05)
    raise AssertionError("the 40-step answer never finished")


@pytest.mark.timeout(300)
def test_shapes_in_jupyterlab(lab, browser):
    """Line height, a 40-step answer, labels, the waiting state, a 401; both themes."""
    page = _open(browser, lab, "shapes.ipynb", 1000)
    try:
        _run_all(page)
        forty = _watch_forty(page)

        # the waiting state, never "{}", while the slow answer has not sent its first step
        slow: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = page.evaluate(CELL_WIDGET_TEXT, SLOW)
            if text is not None:
                if "waiting for the answer" in text and not any(
                        "waiting for the answer" in t for t in slow):
                    page.locator(".jp-Cell").nth(SLOW).screenshot(
                        path=str(ARTIFACTS / "shapes-waiting.png"))
                slow.append(text)
                if "done" in text:
                    break
            time.sleep(0.03)
        _wait_idle(page)
        page.wait_for_timeout(500)

        assert forty["opened_while_streaming"], "the earlier steps did not open while streaming"
        assert "Step 1\n" in forty["open_text"]
        assert max(forty["heights"]) < 1700  # opened, the fold scrolls within 60vh
        assert not any("{}" in t for t in slow), slow
        assert any("waiting for the answer" in t for t in slow), slow
        assert "one" in slow[-1] and "done" in slow[-1]

        # the 40 steps: folded again, the widget is short, header and answer both in view
        widget = page.locator(".jp-Cell").nth(FORTY_CELL).locator(".structmagic-widget")
        widget.get_by_text("… 36 earlier steps").click()
        page.wait_for_timeout(500)
        widget.evaluate("w => w.scrollIntoView({block: 'start'})")
        box = widget.evaluate("""w => {
            const header = w.querySelector('.jupyter-widget-html, .widget-html')
                .getBoundingClientRect();
            const answer = w.querySelector('.structmagic-answer').getBoundingClientRect();
            return {height: w.offsetHeight, headerTop: header.top,
                    answerBottom: answer.bottom, viewport: window.innerHeight,
                    text: w.innerText};
        }""")
        assert box["height"] < 1000, box  # 4,577 px when every step was on show
        assert box["headerTop"] >= 0 and box["answerBottom"] <= box["viewport"], box
        text = box["text"]
        assert "… 36 earlier steps" in text and _steps(text) == 4  # steps 37-40 in view
        assert "Answer\n" in text or "Answer:" in text  # --label final_answer=Answer
        assert "9.8 is larger than 9.11 (forty steps)" in text
        assert "Explanation" in text and "explanation" not in text  # humanised label

        # the line height on wrapped lines, English and Chinese
        wrapped = page.evaluate(WRAPPED_LINES, LONG)
        texts = [w["text"] for w in wrapped]
        assert any(t.startswith("Align") for t in texts), wrapped
        assert any(t.startswith("先比较") for t in texts), wrapped
        for w in wrapped:
            assert w["gap"] <= 1.6 * w["fontSize"], w  # 28 px (about 2.15x) before
            assert w["gap"] >= 1.2 * w["fontSize"], w
        long_text = page.evaluate(CELL_WIDGET_TEXT, LONG)
        assert "Final answer" in long_text and "Explanation" in long_text

        # the 401: once, in the widget; the cell failed, so run-all stopped there
        _assert_failed_once(page, DENIED, "Incorrect API key provided", "AuthenticationError")
        error_lines = page.evaluate(WRAPPED_LINES, DENIED)
        assert error_lines and all(w["gap"] <= 1.6 * w["fontSize"] for w in error_lines)
        after = _cell_errors(page, AFTER)
        assert re.fullmatch(r"\[ ?\]:", after["prompt"].strip()), after  # never ran

        for theme in ("light", "dark"):
            _theme(page, theme)
            for index, name in ((LONG, "longtext"), (FORTY_CELL, "forty-steps"),
                                (SLOW, "waited"), (DENIED, "error-401")):
                cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
                cell.scroll_into_view_if_needed()
                cell.screenshot(path=str(ARTIFACTS / f"shapes-{name}-{theme}.png"))
        _theme(page, "light")
    finally:
        page.close()


@pytest.mark.timeout(300)
def test_three_models_side_by_side(lab, browser):
    page = _open(browser, lab, "compare.ipynb", 1300)
    try:
        _run_all(page)
        _wait_idle(page)
        # the widget's views and their last state can be drawn after the kernel has gone
        # idle (on a busy machine the comm messages trail): wait for the final state (the
        # note on differing fields comes with the finish) rather than read it half drawn
        page.wait_for_function(
            "(document.querySelector('.structmagic-comparison')?.textContent ?? '')"
            ".includes('Answers differ on')", timeout=60_000)
        shown = page.evaluate(_drawn("""async () => {
            const box = document.querySelector('.structmagic-comparison');
            box.scrollIntoView({block: 'start'});
            await drawn();
            const columns = Array.from(box.querySelectorAll('.structmagic-widget'));
            const rects = columns.map(c => c.getBoundingClientRect());
            return {columns: columns.map(c => c.innerText), tops: rects.map(r => Math.round(r.top)),
                    lefts: rects.map(r => Math.round(r.left)), text: box.innerText,
                    marked: box.querySelectorAll('.structmagic-answers .structmagic-differ')
                        .length,
                    answers: Array.from(box.querySelectorAll('.structmagic-answers tr'))
                        .map(r => Array.from(r.cells).map(c => c.innerText.trim())),
                    errors: box.querySelectorAll('.structmagic-error').length};
        }"""))
        assert len(shown["columns"]) == 3
        assert len(set(shown["tops"])) == 1, shown["tops"]  # side by side, one row
        assert shown["lefts"] == sorted(shown["lefts"])
        # the answers in one grid: a row per field, a column per model
        assert shown["answers"][0] == ["", "model-quick", "model-slow", "model-refuses"]
        final = next(r for r in shown["answers"] if r[0] == "Final answer")
        assert final[1:] == ["9.8 is larger", "9.11 is larger", "—"], shown["answers"]
        assert "I would rather not compare numbers." in shown["columns"][2]
        assert shown["errors"] == 1 and shown["marked"] == 1
        assert "Answers differ on: Final answer" in shown["text"]
        last = page.locator(".jp-Notebook .jp-Cell").nth(2)
        assert "['model-quick', 'model-refuses', 'model-slow']" in last.inner_text()
        page.locator(".structmagic-comparison").first.screenshot(
            path=str(ARTIFACTS / "compare-three-models.png"))
    finally:
        page.close()


# The step cards of cell i's widget on show, in the order they are drawn: each card's step
# number and box; and every element inside the widget's steps that scrolls on its own.
STEP_CARDS = _drawn("""async i => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
    const w = cell.querySelector('.structmagic-widget');
    w.scrollIntoView({block: 'start'});
    await drawn();
    const cards = [];
    w.querySelectorAll('.widget-html, .jupyter-widget-html').forEach(h => {
        const m = /^Step (\\d+)$/m.exec(h.innerText.trim().split('\\n')[0]);
        if (!m || h.offsetParent === null) return;
        const r = h.getBoundingClientRect();
        cards.push({step: Number(m[1]), top: r.top, bottom: r.bottom,
                    clipped: h.scrollHeight > h.clientHeight + 1});
    });
    const scrollers = Array.from(w.querySelectorAll('*')).filter(e => {
        const o = getComputedStyle(e).overflowY;
        return (o === 'auto' || o === 'scroll') && e.scrollHeight > e.clientHeight + 1
            && e.querySelector('.widget-html, .jupyter-widget-html');
    }).map(e => ({cls: e.className, height: e.clientHeight, inner: e.scrollHeight}));
    return {cards, scrollers};
}""")

# The contrast ratio (WCAG) of each marked (differing) cell's text on its background.
DIFFER_CONTRAST = """box => {
    const rgba = c => { const v = c.match(/[\\d.]+/g).map(Number);
                        return {r: v[0], g: v[1], b: v[2], a: v.length > 3 ? v[3] : 1}; };
    const lin = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    const lum = c => 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
    const out = [];
    box.querySelectorAll('.structmagic-differ th, .structmagic-differ td').forEach(cell => {
        const bg = rgba(getComputedStyle(cell).backgroundColor);
        cell.querySelectorAll('b, span').forEach(t => {
            if (!t.innerText.trim()) return;
            const fg = rgba(getComputedStyle(t).color);
            const mix = k => fg[k] * fg.a + bg[k] * (1 - fg.a);
            const f = {r: mix('r'), g: mix('g'), b: mix('b')};
            const [hi, lo] = [lum(f), lum(bg)].sort((a, b) => b - a);
            out.push({text: t.innerText.slice(0, 20), ratio: (hi + 0.05) / (lo + 0.05),
                      color: getComputedStyle(t).color,
                      background: getComputedStyle(cell).backgroundColor});
        });
    });
    return out;
}"""


def _one_list(page: Any, index: int, last: int, folded: int) -> dict[str, Any]:
    """Steps 1..``last`` of cell index's widget are drawn in order, each right below the one
    before (none cut, none out of place): the first ``folded`` in one list that scrolls as a
    whole (its own scroll offset apart), then the others below it."""
    shown = page.evaluate(STEP_CARDS, index)
    cards = shown["cards"]
    assert [c["step"] for c in cards] == list(range(1, last + 1)), cards
    assert not any(c["clipped"] for c in cards), cards
    for before, after in itertools.pairwise(cards):
        if before["step"] != folded:  # the fold's end and the steps in view: two boxes
            assert -1 <= after["top"] - before["bottom"] <= 24, (before, after)
    assert len(shown["scrollers"]) <= 1, shown["scrollers"]  # the earlier list alone
    return shown


@pytest.mark.timeout(300)
def test_round_two_long_answers_comparisons_and_bars(lab, browser):
    """A 100-step answer: opened while it streams and after, the earlier steps are one list
    (consecutive steps adjacent on screen, no step cut, one scroll area); the same revealed,
    after Show all. A comparison: a one-line header per column, the answers in one grid (a
    field at the same height for every model), the differing fields readable (contrast at
    least 4.5) in the light and the dark theme. A progress bar: its line on one line. A
    thumbnail opens its picture. The estimate as a table whose words never break. The stop
    button: one short line and a neutral "interrupted" badge."""
    page = _open(browser, lab, "roundtwo.ipynb", 1200)
    try:
        _run_all(page)
        widget = page.locator(".jp-Cell").nth(HUNDRED_CELL).locator(".structmagic-widget")
        opened_while_streaming = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = page.evaluate(CELL_WIDGET_TEXT, HUNDRED_CELL) or ""
            if "earlier steps" in text and "streaming" in text:
                widget.get_by_text(re.compile(r"… \d+ earlier steps")).click()
                page.wait_for_timeout(300)
                if "streaming" in (page.evaluate(CELL_WIDGET_TEXT, HUNDRED_CELL) or ""):
                    folded = int(re.search(r"… (\d+) earlier steps",
                                           page.evaluate(CELL_WIDGET_TEXT, HUNDRED_CELL))[1])
                    cards = page.evaluate(STEP_CARDS, HUNDRED_CELL)["cards"]
                    assert [c["step"] for c in cards][:folded] == list(range(1, folded + 1))
                    opened_while_streaming = True
                    page.locator(".jp-Cell").nth(HUNDRED_CELL).screenshot(
                        path=str(ARTIFACTS / "round-two-hundred-streaming.png"))
                break
            time.sleep(0.05)
        assert opened_while_streaming, "the earlier steps did not open while streaming"

        # the stop button while the last cell streams: one short line, a neutral badge
        page.wait_for_function(
            "i => /streaming/.test(document.querySelectorAll('.jp-Cell')[i]"
            "?.querySelector('.structmagic-widget')?.textContent ?? '')",
            arg=STOPPED, timeout=60_000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:interrupt-kernel')")
        _wait_idle(page)
        page.wait_for_function(
            "(document.querySelector('.structmagic-comparison')?.textContent ?? '')"
            ".includes('Answers differ on')", timeout=60_000)
        page.wait_for_timeout(500)
        stopped = _cell_errors(page, STOPPED)
        assert stopped["stderr"] == ["KeyboardInterrupt: see above"], stopped
        assert stopped["widgetErrors"] == 0 and "Traceback" not in stopped["text"], stopped
        assert stopped["text"].count("nothing was bound") == 1, stopped["text"]
        stop_widget = page.locator(".jp-Cell").nth(STOPPED).locator(".structmagic-widget")
        badge = stop_widget.evaluate("""w => {
            const b = Array.from(w.querySelectorAll('span')).find(
                s => s.innerText.trim() === 'interrupted');
            return b && {color: getComputedStyle(b).color,
                         muted: getComputedStyle(w.querySelector('.structmagic-stopped')).color};
        }""")
        assert badge and badge["color"] == badge["muted"], badge  # neutral, not an error's red

        # the 100 steps, done: the fold (still open) is one list, steps 1-96, then 97-100
        widget.evaluate("w => w.scrollIntoView({block: 'start'})")
        _one_list(page, HUNDRED_CELL, 100, 96)

        # revealed, then Show all: the same
        taught = page.locator(".jp-Cell").nth(TAUGHT).locator(".structmagic-widget")
        taught.scroll_into_view_if_needed()
        assert "Step 1\n" in taught.inner_text() and "Step 2\n" not in taught.inner_text()
        taught.get_by_role("button", name="Show all").click()
        page.wait_for_function("el => /Step 100\\n/.test(el.innerText)",
                               arg=taught.element_handle(), timeout=10_000)
        taught.get_by_text(re.compile(r"… 96 earlier steps")).click()
        page.wait_for_timeout(500)
        _one_list(page, TAUGHT, 100, 96)

        # the comparison: one-line headers, the answers in one grid
        box = page.locator(".structmagic-comparison").first
        box.scroll_into_view_if_needed()
        grid = box.evaluate("""b => {
            const heads = Array.from(b.querySelectorAll('.structmagic-header')).map(h => ({
                height: h.getBoundingClientRect().height,
                line: parseFloat(getComputedStyle(h).lineHeight), title: h.title}));
            const rows = Array.from(b.querySelectorAll('.structmagic-answers tbody tr'))
                .map(r => ({name: r.cells[0].innerText.trim(),
                            tops: Array.from(r.cells).map(c => Math.round(
                                c.getBoundingClientRect().top))}));
            return {heads, rows};
        }""")
        assert len(grid["heads"]) == 3
        for head in grid["heads"]:
            assert head["height"] <= 1.6 * head["line"] + 6, head  # one line
            assert "tokens" in head["title"] or "model-refuses" in head["title"], head
        assert [r["name"] for r in grid["rows"]] == ["Sentiment", "Summary", "Stars"]
        for row in grid["rows"]:
            assert len(set(row["tops"])) == 1, row  # the same height for every model
        for theme in ("light", "dark"):
            _theme(page, theme)
            box.scroll_into_view_if_needed()
            ratios = box.evaluate(DIFFER_CONTRAST)
            assert len(ratios) >= 6, ratios  # three differing fields: a label and values
            assert min(r["ratio"] for r in ratios) >= 4.5, ratios
            box.screenshot(path=str(ARTIFACTS / f"round-two-compare-{theme}.png"))
            page.locator(".jp-Cell").nth(HUNDRED_CELL).screenshot(
                path=str(ARTIFACTS / f"round-two-hundred-{theme}.png"))

            # the progress bar of --each: its line on one line beside the bar
            bar = page.locator(".jp-Cell").nth(ROWS).locator(".structmagic-progress")
            bar.scroll_into_view_if_needed()
            line = bar.evaluate("""b => {
                const text = b.querySelector('.widget-html-content > div[style]');
                const r = text.getBoundingClientRect();
                return {height: r.height, line: parseFloat(getComputedStyle(text).lineHeight),
                        text: text.textContent};
            }""")
            assert line["height"] <= 1.6 * line["line"], line
            assert "5/5 · 5 ok · 0 failed" in line["text"] and "/s ·" in line["text"], line
            rate = float(re.search(r"([\d.]+)/s", line["text"])[1])
            assert rate < 1000, line  # the run's own rate (250,000/s before)
            bar.screenshot(path=str(ARTIFACTS / f"round-two-progress-{theme}.png"))

            # a picture's thumbnail opens the picture at the output's width, and closes
            receipt = page.locator(".jp-Cell").nth(RECEIPT).locator(".structmagic-widget")
            receipt.scroll_into_view_if_needed()
            _picture_opens(receipt, f"round-two-receipt-{theme}")

            # the estimate: a table whose words never break ("--exact" on one line)
            estimate = page.locator(".jp-Cell").nth(ESTIMATE).locator(".structmagic-estimate")
            estimate.scroll_into_view_if_needed()
            words = estimate.evaluate(_drawn("""async e => {
                await drawn();
                const out = [];
                const walk = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
                for (let n = walk.nextNode(); n; n = walk.nextNode()) {
                    for (const m of n.textContent.matchAll(/\\S+/g)) {
                        const r = document.createRange();
                        r.setStart(n, m.index);
                        r.setEnd(n, m.index + m[0].length);
                        const tops = new Set(Array.from(r.getClientRects())
                            .map(x => Math.round(x.top)));
                        if (tops.size > 1) out.push(m[0]);
                    }
                }
                return {broken: out, text: e.innerText,
                        math: e.querySelectorAll('mjx-container, .MathJax').length};
            }"""))
            assert "--exact" in words["text"] and words["broken"] == [], words
            # money stays text: "$0.15 in / $0.60 out" is no formula to MathJax
            assert words["math"] == 0 and "$0.15 in / $0.60 out" in words["text"], words
            estimate.screenshot(path=str(ARTIFACTS / f"round-two-estimate-{theme}.png"))
            page.locator(".jp-Cell").nth(STOPPED).screenshot(
                path=str(ARTIFACTS / f"round-two-interrupted-{theme}.png"))
        _theme(page, "light")
    finally:
        page.close()


def _picture_opens(where: Any, name: str) -> None:
    """The first thumbnail under ``where``: its whole picture hidden, then shown by a click
    as wide as the output allows (far wider than the thumbnail), then hidden again."""
    picture = where.locator(".structmagic-picture").first
    whole = picture.locator("img").nth(1)
    assert not whole.is_visible()
    thumb = picture.locator("summary img").bounding_box()
    picture.locator("summary").click()
    whole.wait_for(state="visible", timeout=5_000)
    shown = whole.evaluate("""i => ({width: i.getBoundingClientRect().width,
        natural: i.naturalWidth, src: i.src.slice(0, 22),
        room: i.closest('.structmagic-inputs').getBoundingClientRect().width})""")
    assert shown["src"] == "data:image/png;base64," or shown["src"].startswith("data:image/")
    assert shown["natural"] > 0 and shown["width"] >= 3 * thumb["width"], shown
    assert shown["width"] <= shown["room"] + 1, shown
    picture.screenshot(path=str(ARTIFACTS / f"{name}-opened.png"))
    picture.locator("summary").click()
    assert not whole.is_visible()


# A page made here as an export would be: a result read from a picture, and the scores of
# two models with their chart (the chart made when matplotlib is installed).
STATIC_PAGE = r'''
import pandas as pd

import structmagic as sm
from structmagic.call.result import Result
from structmagic.display.scores import ScoresView
from structmagic.inputs import prepare_inputs
from structmagic.providers import get_provider
from PIL import Image, ImageDraw

receipt = Image.new("RGB", (600, 800), "white")
ImageDraw.Draw(receipt).rectangle((100, 100, 500, 300), fill="navy")
(part,) = prepare_inputs([receipt], [], get_provider("openai"), thumbnails=True)
value = {"total": 12.5, "currency": "EUR"}
read = Result(data=value, plain=value, raw="{}", model="m", schema_name="receipt",
              inputs=(part.summary(),))
schema = {"type": "object", "properties": {"sentiment": {"enum": ["pos", "neg"]},
          "stars": {"type": "integer"}}, "required": ["sentiment", "stars"]}
labels = [{"sentiment": "pos", "stars": 5}, {"sentiment": "neg", "stars": 1}]
answers = {"model-a": labels, "model-b": [labels[0], {"sentiment": "pos", "stars": 2}]}
scores = pd.concat({m: sm.score(a, labels, schema).table for m, a in answers.items()},
                   names=["model", "field"])
PAGE = ("<!doctype html><meta charset=utf-8><body style='width:900px'>"
        + read._repr_html_() + ScoresView(scores, title="review")._repr_html_() + "</body>")
'''


@pytest.mark.timeout(120)
def test_exported_picture_and_chart_work_with_no_script_and_no_request(browser, tmp_path):
    """An exported result's thumbnail sits in its box and opens the picture by a click with
    JavaScript off; the scores' chart is an image in the page; nothing is requested."""
    pytest.importorskip("matplotlib")
    scope: dict[str, Any] = {}
    exec(STATIC_PAGE, scope)
    page_file = tmp_path / "export.html"
    page_file.write_text(scope["PAGE"], encoding="utf-8")
    context, page, requests = _static_page(browser, page_file, 1000, 1400)
    try:
        result = page.locator(".structmagic-result")
        assert result.locator(".structmagic-picture").count() == 1  # inside the result's box
        _picture_opens(result, "export-receipt")
        chart = page.locator(".structmagic-chart img")
        chart.scroll_into_view_if_needed()
        drawn = chart.evaluate("i => ({natural: i.naturalWidth, width: i.width})")
        assert drawn["natural"] > 300 and drawn["width"] > 300, drawn
        page.locator(".structmagic-scores").screenshot(path=str(ARTIFACTS / "export-scores.png"))
        assert requests == []
    finally:
        context.close()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """The README's main-job command, run once into a directory of its own: its pages."""
    out = tmp_path_factory.mktemp("export")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.search(r"python -m jupyter nbconvert [^\n`]+", readme).group(0)
    args = command.split()[1:]
    args[args.index("--output-dir") + 1] = str(out)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "STRUCTMAGIC_", "ANTHROPIC_", "GEMINI_"))}
    subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=300)
    return out


def _static_page(browser: Any, page_file: Path, width: int, height: int
                 ) -> tuple[Any, Any, list[str]]:
    """``page_file`` opened as an exported page is read: JavaScript off, every request but
    the page's own blocked and counted (:func:`_offline`); the context, the page and the
    list of requests."""
    context = browser.new_context(java_script_enabled=False,
                                  viewport={"width": width, "height": height})
    page = context.new_page()
    requests = _offline(page, page_file)
    page.goto(page_file.as_uri(), wait_until="load")
    return context, page, requests


def _offline(page: Any, page_file: Path) -> list[str]:
    """Block every request but the page's own; the list of those asked for (and blocked)."""
    requests: list[str] = []

    def route(r: Any) -> None:  # the network is blocked: only the page itself loads
        if r.request.url == page_file.as_uri():
            r.continue_()
        else:
            r.abort()

    def count(request: Any) -> None:
        if request.url != page_file.as_uri():
            requests.append(request.url)

    page.route("**/*", route)
    page.on("request", count)
    return requests


@pytest.mark.timeout(300)
def test_exported_page_makes_no_request(browser, exported):
    """The README's export command; the page opened with every request counted (and
    blocked): none, and the CJK text in a font list that names CJK fonts."""
    page_file = (exported / "quickstart.html").resolve()
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    try:
        requests = _offline(page, page_file)
        page.goto(page_file.as_uri(), wait_until="load")
        page.wait_for_timeout(1500)  # late scripts (DOMContentLoaded loaders) would ask now
        assert requests == []
        shown = page.evaluate("""() => {
            const span = Array.from(document.querySelectorAll('.structmagic-result span'))
                .find(s => s.innerText.includes('整数部分'));
            return {font: getComputedStyle(span).fontFamily,
                    lineHeight: parseFloat(getComputedStyle(span.parentElement).lineHeight),
                    fontSize: parseFloat(getComputedStyle(span).fontSize),
                    results: document.querySelectorAll('.structmagic-result').length};
        }""")
        assert "WenQuanYi Zen Hei" in shown["font"] and "Noto Sans CJK SC" in shown["font"]
        assert shown["lineHeight"] <= 1.6 * shown["fontSize"], shown
        assert shown["results"] >= 3
        page.screenshot(path=str(ARTIFACTS / "export-quickstart.png"), full_page=True)
    finally:
        page.close()


def _seen(locator: Any) -> list[bool]:
    """Whether each element the locator matches is visible (drawn, not in a closed
    ``<details>``)."""
    return [locator.nth(i).is_visible() for i in range(locator.count())]


@pytest.mark.timeout(300)
def test_exported_handout_opens_step_by_step_without_javascript_and_prints_whole(
        browser, exported):
    """build/walkthrough.html with JavaScript off: the answer hidden at first; step 1 opened
    by a click, the next steps and the answer by Tab and Enter, each summary appearing once
    the step before it is open; no request beyond the page; then printed (print media, and
    Chromium's PDF): every step and the answer open."""
    page_file = (exported / "walkthrough.html").resolve()
    context, page, requests = _static_page(browser, page_file, 1100, 900)
    try:
        handout = page.locator(".structmagic-handout")
        assert handout.count() == 1
        handout.scroll_into_view_if_needed()
        summaries = handout.locator("summary")
        answer = handout.get_by_text(RECORDED_ANSWER)
        outputs = [handout.get_by_text(o, exact=True) for o in RECORDED_OUTPUTS]

        # at first: the prompt and step 1's summary; no step, no answer
        assert handout.get_by_text("Your answer:").is_visible()
        assert handout.locator("input[type=text]").is_visible()
        assert [t for t, v in zip(summaries.all_inner_texts(), _seen(summaries), strict=True)
                if v] == ["Step 1 — show"]
        assert answer.count() >= 1 and not any(_seen(answer))
        assert not any(v for o in outputs for v in _seen(o))
        page.screenshot(path=str(ARTIFACTS / "handout-closed.png"), full_page=True)

        # step 1 by a click; step 2 appears, closed
        handout.locator("summary", has_text="Step 1").click()
        assert _seen(outputs[0]) == [True] and not any(_seen(outputs[1]))
        assert handout.locator("summary", has_text="Step 1").inner_text() == "Step 1"  # open
        assert handout.locator("summary", has_text="Step 2").is_visible()
        # the others by the keyboard: Tab to the next summary, Enter opens it
        for k in range(2, 5):
            page.keyboard.press("Tab")
            focused = handout.locator("summary:focus")
            assert focused.inner_text() == f"Step {k} — show"
            page.keyboard.press("Enter")
            assert _seen(outputs[k - 1]) == [True], k
            assert not any(_seen(answer)), k  # the answer stays back to the end
        page.keyboard.press("Tab")
        assert handout.locator("summary:focus").inner_text() == "Final answer — show"
        page.keyboard.press("Enter")
        assert any(_seen(answer))
        page.screenshot(path=str(ARTIFACTS / "handout-opened.png"), full_page=True)
        assert requests == []

        # printed, from a fresh load (every section closed): every step and the answer open
        page.goto(page_file.as_uri(), wait_until="load")
        page.emulate_media(media="print")
        assert all(_seen(o) == [True] for o in outputs)
        assert any(_seen(answer))
        assert not any(_seen(handout.get_by_text("— show")))  # the hints are not printed
        pdf = page.pdf(format="A4", print_background=True)
        printed = pdf_text(pdf)
        assert pdf.startswith(b"%PDF-") and len(pdf) > 10_000
        for k, output in enumerate(RECORDED_OUTPUTS, 1):
            assert f"Step {k}" in printed, k
            if output.isascii():  # CJK glyphs need a CJK font on this machine
                assert output in printed, output
        assert re.search(r"Final answer\s*:\s*9\.8", printed), printed[-400:]
        assert "Your answer:" in printed and "— show" not in printed
        (ARTIFACTS / "handout-printed.pdf").write_bytes(pdf)
        assert requests == []
    finally:
        context.close()


@pytest.mark.timeout(300)
def test_handout_in_jupyterlab_where_no_widget_is_drawn(lab, browser):
    """The walkthrough's stored outputs without their widget views, as an untrusted notebook
    shows them: JupyterLab sanitizes the handout (its <style> and every style value with a
    var() dropped, its input disabled), yet its steps open one at a time, the answer last,
    its text takes the theme's colour (light and dark) and its summaries the accent; the
    stored result beside it keeps its step cards' edges and its boxes."""
    page = _open(browser, lab, "handout.ipynb", 1400)
    try:
        handout = page.locator(".jp-OutputArea-output .structmagic-handout")
        handout.scroll_into_view_if_needed()
        assert handout.count() == 1
        assert handout.locator("style").count() == 0  # dropped from untrusted output
        assert handout.locator("input[type=text]").is_disabled()  # JupyterLab disables it
        answer = handout.get_by_text(RECORDED_ANSWER)
        assert not any(_seen(answer))
        handout.locator("summary", has_text="Step 1").click()
        step2 = handout.locator("summary", has_text="Step 2")
        assert step2.is_visible() and not any(_seen(answer))
        step2.focus()
        page.keyboard.press("Enter")
        assert handout.get_by_text(RECORDED_OUTPUTS[1], exact=True).is_visible()
        colours = {}
        for theme in ("light", "dark"):
            _theme(page, theme)
            handout.scroll_into_view_if_needed()
            colours[theme] = handout.evaluate("""h => {
                const lum = c => { const [r, g, b] = c.match(/[\\d.]+/g).map(Number);
                                   return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255; };
                const card = h.querySelector('details > div');
                const bg = getComputedStyle(document.querySelector('.jp-Notebook'));
                return {text: lum(getComputedStyle(card).color),
                        background: lum(bg.backgroundColor),
                        card: getComputedStyle(card).backgroundColor,
                        summary: getComputedStyle(h.querySelector('summary')).color};
            }""")
            handout.screenshot(path=str(ARTIFACTS / f"handout-in-lab-{theme}.png"))
        _theme(page, "light")
        assert colours["light"]["text"] < 0.5 < colours["light"]["background"], colours
        assert colours["dark"]["text"] > 0.5 > colours["dark"]["background"], colours
        for shown in colours.values():
            assert shown["card"] == "rgba(0, 0, 0, 0)", shown  # the page's own background
            assert shown["summary"] == "rgb(25, 118, 210)", shown  # the plain accent kept

        # the stored result beside it, sanitized too, keeps its structure: the step cards'
        # edges, the answer's box, the result's box (their plain colours, given first)
        result = page.locator(".jp-OutputArea-output .structmagic-result").first
        result.scroll_into_view_if_needed()
        edges = result.evaluate("""r => {
            const s = e => getComputedStyle(e);
            const cards = Array.from(r.querySelectorAll('div')).filter(
                d => /^Step \\d+/.test(d.innerText) && s(d).borderLeftWidth === '3px');
            const answer = r.querySelector('.structmagic-answer');
            return {cards: cards.length, card: cards.length ? s(cards[0]).borderLeftColor : null,
                    answer: [s(answer).borderTopWidth, s(answer).borderTopColor],
                    box: [s(r).borderTopWidth, s(r).borderTopColor]};
        }""")
        assert edges["cards"] >= 3 and edges["card"] == "rgb(25, 118, 210)", edges
        assert edges["answer"] == ["2px", "rgb(56, 142, 60)"], edges
        assert edges["box"] == ["1px", "rgb(224, 224, 224)"], edges
        result.screenshot(path=str(ARTIFACTS / "result-sanitized-in-lab.png"))
    finally:
        page.close()


# Where a fragment link's target is: within its scrolling box (the source box, or the list of
# values) and the window, whether it is the :target, and the :target rule's outline on it.
TARGET_STATE = """a => {
    const id = a.getAttribute('href').slice(1);
    const target = document.getElementById(id)  // untrusted output: the id kept aside
        || document.querySelector(`[data-jupyter-id="${id}"]`);
    const box = target.closest('.sm-g-source, .sm-g-fields');
    const t = target.getBoundingClientRect(), b = box.getBoundingClientRect();
    const s = getComputedStyle(target);
    return {inBox: t.top >= b.top - 1 && t.bottom <= b.bottom + 1 && t.height > 0,
            inWindow: t.top >= 0 && t.bottom <= window.innerHeight,
            target: target.matches(':target'), outline: s.outlineStyle,
            outlineColor: s.outlineColor, animation: s.animationName,
            tag: target.tagName, text: target.textContent,
            scrolls: box.scrollHeight > box.clientHeight + 20, boxHeight: b.height};
}"""

# Every mark's computed text and background colours and their WCAG contrast (a nested mark
# has a transparent background: the one around it is what it is read on).
MARK_CONTRAST = """view => {
    const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const lin = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    const lum = c => { const [r, g, b] = rgb(c).map(lin);
                       return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
    return Array.from(view.querySelectorAll('mark'))
        .filter(m => getComputedStyle(m).backgroundColor !== 'rgba(0, 0, 0, 0)')
        .map(m => { const s = getComputedStyle(m);
                    const [a, b] = [lum(s.color), lum(s.backgroundColor)];
                    return {text: m.textContent, color: s.color, background: s.backgroundColor,
                            ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)}; });
}"""


def _scroll_boxes_to_top(view: Any) -> None:
    view.evaluate("v => v.querySelectorAll('.sm-g-source, .sm-g-fields')"
                  ".forEach(b => { b.scrollTop = 0; })")


def _follow(page: Any, link: Any, *, target: bool = True) -> dict[str, Any]:
    """Click a fragment link; once its target is in its box's view (and the :target),
    where it is."""
    link.click()
    page.wait_for_function(
        f"a => ({TARGET_STATE})(a).inBox && ({TARGET_STATE})(a).inWindow"
        + (f" && ({TARGET_STATE})(a).target" if target else ""),
        arg=link.element_handle(), timeout=10_000)
    return link.evaluate(TARGET_STATE)


def _check_grounded_view(page: Any, view: Any, name: str, *, styled: bool = True) -> None:
    """The grounded view as a person uses it: the source with its marks; a value clicked
    brings its mark into the source box's view, outlined (``styled``: where our <style>
    was kept); a mark clicked brings its value into view; every mark readable (contrast
    4.5:1 at least); a screenshot."""
    text = view.locator(".sm-g-source").inner_text()
    assert "上海星辰贸易有限公司" in text and "😀" in text and "🎉" in text
    marks = view.locator(".sm-g-source mark")
    assert marks.count() >= 5
    assert view.locator("mark", has_text="¥1,234.00").count() == 1
    assert "not found in the source" in view.inner_text()  # the value not found, in view
    # each value's row holds its label (on one line) above its value: not JupyterLab's
    # floated <dt>/<dd> of outputs
    rows = view.evaluate("""v => Array.from(v.querySelectorAll('.sm-g-field')).map(row => {
        const r = row.getBoundingClientRect(), dt = row.querySelector('dt'),
              dd = row.querySelector('dd'), t = dt.getBoundingClientRect(),
              d = dd.getBoundingClientRect();
        return {label: dt.innerText, lines: dt.querySelector('b').getClientRects().length,
                inside: t.top >= r.top - 1 && d.bottom <= r.bottom + 1,
                below: d.top >= t.bottom - 1};
    })""")
    assert len(rows) == 6 and all(r["inside"] and r["below"] and r["lines"] == 1
                                  for r in rows), rows
    _scroll_boxes_to_top(view)
    total = view.locator(f'dl a[href$="-s{TOTAL}"]')
    before = total.evaluate(TARGET_STATE)
    assert before["scrolls"] and not before["inBox"], before  # the box scrolls inside itself
    assert before["boxHeight"] < 500, before
    shown = _follow(page, total, target=styled)
    assert shown["tag"] == "MARK" and shown["text"] == "¥1,234.00", shown
    if styled:
        assert shown["outline"] == "solid" and shown["outlineColor"] == "rgb(230, 81, 0)", (
            shown)
        assert shown["animation"] == "structmagic-grounded-flash", shown
    view.screenshot(path=str(ARTIFACTS / f"{name}-total.png"))
    contrast = view.evaluate(MARK_CONTRAST)
    assert len(contrast) >= 5
    for mark in contrast:
        assert mark["ratio"] >= 4.5, mark
    # and back: the supplier's mark, clicked, brings its value's row into view
    supplier = view.locator(f'.sm-g-source a[href$="-f{SUPPLIER}"]').first
    row = _follow(page, supplier, target=styled)
    assert row["tag"] == "DIV" and row["inWindow"], row
    assert row["outline"] == ("solid" if styled else "none"), row
    assert "上海星辰贸易有限公司" in row["text"]


@pytest.mark.timeout(300)
def test_grounded_view_in_jupyterlab(lab, browser):
    """A grounded result's widget in JupyterLab, light and dark: the source with Chinese text
    and emoji marked, a value clicked scrolls the source box to its mark (no script of ours:
    a fragment link and :target rules), a mark clicked shows its value; the marks readable."""
    page = _open(browser, lab, "grounded.ipynb", 1300)
    try:
        view = page.locator(".jp-OutputArea-output .structmagic-widget .structmagic-grounded")
        _run_until(page, ".jp-OutputArea-output .structmagic-widget .structmagic-grounded mark",
                   5)
        assert view.count() == 1
        view.scroll_into_view_if_needed()
        for theme in _each_theme(page, view):
            _check_grounded_view(page, view, f"grounded-widget-{theme}")
            # the links scrolled the source box and the notebook, nothing else: the page
            # itself and JupyterLab's own panels stay where they were, menu bar on top
            shell = page.evaluate("""() => ({
                root: document.scrollingElement.scrollTop,
                menu: document.querySelector('#jp-top-panel').getBoundingClientRect().top,
                shifted: Array.from(document.querySelectorAll('.lm-Widget'))
                    .filter(e => e.scrollTop && getComputedStyle(e).overflowY === 'hidden')
                    .map(e => e.className), hash: location.hash})""")
            assert shell["root"] == 0 and shell["menu"] == 0 and not shell["shifted"], shell
            assert re.fullmatch(r"#smg[0-9a-f]+-\d+-f0", shell["hash"]), shell
            page.locator(".jp-OutputArea-output .structmagic-widget").screenshot(
                path=str(ARTIFACTS / f"grounded-widget-{theme}.png"))
        # the same notebook still open, its widget still there, its kernel idle
        assert page.evaluate("() => window.jupyterapp.shell.currentWidget.context.path") == (
            "grounded.ipynb")
        assert view.count() == 1
        page.wait_for_function(KERNEL_READY, arg="grounded.ipynb", timeout=10_000)
    finally:
        page.close()


@pytest.mark.timeout(300)
def test_grounded_view_in_jupyterlab_where_no_widget_is_drawn(lab, browser):
    """The stored text/html of a grounded result, as an untrusted notebook shows it:
    JupyterLab drops its <style> (no outline, no flash) and every style using var(), yet the
    marks keep their colours and the links still scroll the source box to a mark and back."""
    page = _open(browser, lab, "grounded-stored.ipynb", 1300)
    try:
        view = page.locator(".jp-OutputArea-output .structmagic-grounded")
        assert view.count() == 1
        assert view.locator("style").count() == 0  # dropped from untrusted output
        for theme in _each_theme(page, view):
            _check_grounded_view(page, view, f"grounded-untrusted-{theme}", styled=False)
    finally:
        page.close()


@pytest.fixture(scope="module")
def grounded_export(tmp_path_factory) -> Path:
    """The grounded notebook run and exported as the README exports: its page."""
    out = tmp_path_factory.mktemp("grounded-export")
    _write_grounded(out / "grounded.ipynb")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "STRUCTMAGIC_", "ANTHROPIC_", "GEMINI_"))}
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--config",
                    str(ROOT / "notebooks" / "export_config.py"), "--to", "html", "--execute",
                    str(out / "grounded.ipynb"), "--output-dir", str(out)],
                   cwd=out, env=env, check=True, capture_output=True, timeout=300)
    return out / "grounded.html"


@pytest.mark.timeout(300)
def test_exported_grounded_view_links_without_javascript(browser, grounded_export):
    """The exported page, JavaScript off and every request blocked and counted: the marks
    are there, a value clicked scrolls the source box to its mark, a mark clicked shows its
    value; no request."""
    page_file = grounded_export.resolve()
    context, page, requests = _static_page(browser, page_file, 1100, 900)
    try:
        view = page.locator(".structmagic-result .structmagic-grounded")
        assert view.count() == 1
        view.scroll_into_view_if_needed()
        _check_grounded_view(page, view, "grounded-export")
        page.screenshot(path=str(ARTIFACTS / "grounded-export.png"), full_page=True)
        assert requests == []
    finally:
        context.close()


# Each gauge of a view shown (not inside a closed <details>): its bar's size, how full it is,
# its fill's, track's and edge's colours, and the colour behind it (the first ancestor with a
# background).
GAUGES = """v => Array.from(v.querySelectorAll('.structmagic-gauge'))
    .filter(g => !g.closest('details:not([open])'))
    .map(g => {
        const bar = g.querySelector('.structmagic-bar'), fill = bar.firstElementChild;
        const b = bar.getBoundingClientRect(), f = fill.getBoundingClientRect();
        let behind = 'rgba(0, 0, 0, 0)', e = g;
        while (e && (behind === 'rgba(0, 0, 0, 0)' || behind === 'transparent')) {
            behind = getComputedStyle(e).backgroundColor; e = e.parentElement; }
        const s = getComputedStyle(bar);
        return {title: g.title, low: g.classList.contains('structmagic-low'),
                figure: g.innerText.trim(), width: b.width, height: b.height,
                inner: bar.clientWidth, filled: f.width, fill: getComputedStyle(fill)
                .backgroundColor, track: s.backgroundColor, edge: s.borderTopColor, behind,
                shown: s.visibility === 'visible'};
    })"""

# The line naming the lowest values: its text, and for each value named, its figure's
# weight and colour against the line's own.
LOWEST_LINE = """v => { const line = v.querySelector('.structmagic-lowest');
    return {text: line.innerText, colour: getComputedStyle(line).color,
            figures: Array.from(line.querySelectorAll('span[title]')).map(s => {
                const b = s.querySelector('b');
                return {text: s.innerText, bold: !!b && +getComputedStyle(b).fontWeight >= 600,
                        colour: getComputedStyle(b || s).color}; })}; }"""


def _rgb_hex(css: str) -> str:
    r, g, b = (int(x) for x in re.findall(r"\d+", css)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def _check_bars(view: Any, name: str, *, styled: bool) -> None:
    """The bars of the confident result as a person sees them: one beside each of its 12
    values, each drawn as full as its figure, the two under 50% in the warning colour, every
    fill readable on its track and every bar on what is behind it (3:1, as a chart's marks:
    by its edge or its track); the lowest named first in
    the line under the title, bold (``styled``: in the warning colour too); the table of
    values, opened, lowest first; screenshots."""
    gauges = view.evaluate(GAUGES)
    assert len(gauges) == len(CONFIDENT), gauges
    assert sorted(g["title"] for g in gauges) == sorted(
        f"confidence {p}%" for p in CONFIDENT.values())
    for g in gauges:
        share = int(g["figure"].rstrip("%")) / 100
        assert g["shown"] and g["width"] >= 20 and g["height"] >= 5, g
        assert abs(g["filled"] - g["inner"] * share) <= 1.5, g
        assert g["low"] == (share < 0.5), g
        assert g["fill"] == ("rgb(216, 67, 21)" if share < 0.5 else "rgb(25, 118, 210)"), g
        track, behind = _rgb_hex(g["track"]), _rgb_hex(g["behind"])
        assert contrast(_rgb_hex(g["fill"]), track) >= 3, g
        assert max(contrast(track, behind), contrast(_rgb_hex(g["edge"]), behind)) >= 3, g
    lowest = view.evaluate(LOWEST_LINE)
    assert lowest["text"] == "lowest confidence: lines[1].qty 23% · currency 35% · total 61%", (
        lowest)
    assert [f["bold"] for f in lowest["figures"]] == [True, True, False], lowest
    if styled:  # the warning colour (a theme variable: dropped where output is sanitized)
        assert lowest["figures"][0]["colour"] != lowest["figures"][2]["colour"], lowest
    assert view.locator(".structmagic-doubt").inner_text() == "doubt 0.77"
    view.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    table = view.locator("details.structmagic-confidence")
    table.locator("summary").click()
    rows = table.evaluate(GAUGES)
    assert [r["figure"] for r in rows] == [f"{p}%" for p in sorted(CONFIDENT.values())], rows
    assert [r["low"] for r in rows[:3]] == [True, True, False]
    assert table.locator("code").first.inner_text() == CONFIDENT_LOW[0]
    view.screenshot(path=str(ARTIFACTS / f"{name}-table.png"))
    table.locator("summary").click()  # closed again, for the next theme
    assert "<img src=x onerror=alert(1)>" in view.inner_text()  # text, not an image
    assert view.locator("img").count() == 0


@pytest.mark.timeout(300)
def test_confidence_bars_in_jupyterlab(lab, browser):
    """A result with a confidence per value, in its widget and as stored untrusted output
    (no widget drawn: its text/html sanitized, every var() dropped), in the light and the
    dark theme: a bar beside each value, as full as its figure, the lowest marked and named
    first; the table of values lowest first."""
    page = _open(browser, lab, "confident.ipynb", 1300)
    try:
        widget = page.locator(".jp-OutputArea-output .structmagic-widget")
        _run_until(page, ".jp-OutputArea-output .structmagic-widget .structmagic-gauge",
                   len(CONFIDENT))
        assert widget.count() == 1
        for theme in _each_theme(page, widget):
            _check_bars(widget, f"confidence-widget-{theme}", styled=True)
    finally:
        page.close()
    page = _open(browser, lab, "confident-stored.ipynb", 1300)
    try:
        view = page.locator(".jp-OutputArea-output .structmagic-result")
        assert view.count() == 1
        for theme in _each_theme(page, view):
            _check_bars(view, f"confidence-untrusted-{theme}", styled=False)
    finally:
        page.close()
