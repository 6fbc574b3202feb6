"""End to end in a real JupyterLab and a real browser (issue 7).

Starts JupyterLab on loopback with a token, opens notebooks/walkthrough.ipynb in headless
Chromium (Debian's package, driven by Playwright), runs every cell against the loopback fake
server streaming slowly, and checks what a person would see: steps appearing one by one, the
final answer, the reasoning section opening on click, the reveal buttons, and an error shown
in the widget. Screenshots go to test-artifacts/.

Skipped, saying so, when Chromium or Playwright is not installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fakeserver import FakeLLMServer, chat_stream

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _responder(req):
    text = json.dumps(req.json or {})
    if "refuse" in text:
        return chat_stream("", refusal="I can't help with that.", pieces=3)
    # ~60 pieces, 40 ms apart: the answer takes a few seconds to stream
    return chat_stream(json.dumps(ANSWER), pieces=60, delay=0.04, reasoning=REASONING)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium): "
                    "the browser test did not run")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed")
    work = tmp_path_factory.mktemp("lab")
    nb = json.loads((ROOT / "notebooks" / "walkthrough.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    nb["metadata"].pop("widgets", None)
    (work / "walkthrough.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    server = FakeLLMServer()
    server.start()
    server.responder = _responder
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "STRUCTMAGIC_"))}
    env.update(OPENAI_BASE_URL=server.url + "/v1", OPENAI_API_KEY="sk-browser-test-0000",
               STRUCTMAGIC_CACHE="off", JUPYTER_CONFIG_DIR=str(work / "config"),
               JUPYTER_RUNTIME_DIR=str(work / "runtime"))
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


def _run_all(page) -> None:
    """Run every cell, once the notebook is the current widget and its kernel is ready."""
    page.locator(".jp-Notebook .jp-Cell").first.click()
    for _ in range(20):
        # not awaited: the command's promise only ends when every cell has run
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        try:
            page.wait_for_function(
                """() => Array.from(document.querySelectorAll('.jp-InputPrompt'))
                    .some(p => p.textContent.includes('*') || /\\d/.test(p.textContent))""",
                timeout=3_000)
            return
        except Exception:  # playwright's TimeoutError: not started yet, try again
            page.wait_for_timeout(500)
    raise AssertionError("JupyterLab never started running the cells")


WIDGET_TEXTS = """() => Array.from(document.querySelectorAll(
    '.jp-OutputArea-output .structmagic-widget')).map(w => w.innerText)"""


def _steps(text: str) -> int:
    return len(re.findall(r"Step \d+\n", text))


@pytest.mark.timeout(300)
def test_walkthrough_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    url, server = lab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2200})
            page.goto(f"{url}/lab/tree/walkthrough.ipynb?token={TOKEN}")
            page.wait_for_selector(".jp-Notebook", timeout=90_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                   timeout=90_000)
            _run_all(page)

            # While the first answer streams: distinct intermediate states, then the final one.
            seen: list[int] = []
            final_text = ""
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                texts = page.evaluate(WIDGET_TEXTS)
                if os.environ.get("SM_DEBUG"):
                    with open("/tmp/sm_debug.txt", "a") as fh:
                        fh.write(repr(texts)[:400] + "\n")
                if texts:
                    first = texts[0]
                    if "9.8 is larger than 9.11" in first and "done" in first:
                        final_text = first
                        break
                    n = _steps(first)
                    if n and (not seen or seen[-1] != n):
                        seen.append(n)
                time.sleep(0.05)
            assert final_text, "the final answer never showed"
            intermediate = [n for n in seen if n < len(ANSWER["steps"])]
            assert len(set(intermediate)) >= 2, f"steps did not arrive one by one: {seen}"
            assert _steps(final_text) == 6

            # Wait for every cell to finish (the last one fails on purpose).
            page.wait_for_function(
                """() => Array.from(document.querySelectorAll(
                    '.jp-OutputArea-output .structmagic-widget')).some(
                    w => w.innerText.includes('RefusalError'))""", timeout=60_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                   timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "walkthrough-final.png"), full_page=True)
            widgets = page.locator(".jp-OutputArea-output .structmagic-widget")
            assert widgets.count() == 3

            # The reasoning section opens on click.
            first = widgets.nth(0)
            assert REASONING not in first.inner_text()
            first.get_by_text("Model reasoning").click()
            page.wait_for_timeout(300)
            assert REASONING in first.inner_text()
            first.screenshot(path=str(ARTIFACTS / "widget-reasoning-open.png"))

            # Reveal mode: one step at a time, Next / Previous / Show all.
            reveal = widgets.nth(1)
            assert _steps(reveal.inner_text()) == 1
            nxt = reveal.get_by_role("button", name="Next")
            prev = reveal.get_by_role("button", name="Previous")
            show_all = reveal.get_by_role("button", name="Show all")
            assert prev.is_disabled()
            nxt.click()
            page.wait_for_function(
                "el => /Step 2\\n/.test(el.innerText)", arg=reveal.element_handle(),
                timeout=10_000)
            assert _steps(reveal.inner_text()) == 2
            prev.click()
            page.wait_for_timeout(300)
            assert _steps(reveal.inner_text()) == 1
            show_all.click()
            page.wait_for_timeout(300)
            assert _steps(reveal.inner_text()) == 6
            assert "9.8 is larger than 9.11" in reveal.inner_text()
            reveal.screenshot(path=str(ARTIFACTS / "widget-reveal-all.png"))

            # The error stays visible in the widget.
            failed = widgets.nth(2)
            assert "RefusalError" in failed.inner_text()
            assert "can't help" in failed.inner_text()
            failed.screenshot(path=str(ARTIFACTS / "widget-error.png"))
            # the kernel really streamed from the loopback server
            streamed = [r for r in server.requests if (r.json or {}).get("stream")]
            assert len(streamed) == 3
        finally:
            browser.close()
