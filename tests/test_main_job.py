"""The README's main job: the quickstart and the walkthrough run offline, with no key, and
write their pages; the walkthrough's page is a handout that loads nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FINAL_ANSWER = "9.8 比 9.11 大。"  # the walkthrough's --reveal problem (the recording's answer)


class _Where(HTMLParser):
    """Where a text shows: the open elements (tag, class) around each occurrence; and every
    attribute or element that would make a request."""

    def __init__(self, needle: str) -> None:
        super().__init__(convert_charrefs=True)
        self.needle = needle
        self.stack: list[tuple[str, str]] = []
        self.found: list[list[tuple[str, str]]] = []
        self.requests: list[str] = []
        self._data_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self._data_script = (a.get("type") or "").startswith("application/vnd.jupyter")
            if a.get("src"):
                self.requests.append(f"<script src={a['src']}>")
        if tag in ("link", "iframe", "img", "embed", "object"):
            self.requests.append(f"<{tag}>")
        if tag not in ("br", "input", "meta", "link", "img"):
            self.stack.append((tag, a.get("class") or ""))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break
        if tag == "script":
            self._data_script = False

    def handle_data(self, data: str) -> None:
        if self.needle in data and not self._data_script:  # widget state is inert data
            self.found.extend([list(self.stack)] * data.count(self.needle))


def test_readme_main_job_runs_offline(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.search(r"python -m jupyter nbconvert [^\n`]+", readme).group(0)
    args = command.split()[1:]  # without "python"
    args[args.index("--output-dir") + 1] = str(tmp_path)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "STRUCTMAGIC_", "ANTHROPIC_", "GEMINI_"))}
    subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=300)
    page = (tmp_path / "quickstart.html").read_text(encoding="utf-8")
    results = re.findall(r'class="structmagic-result( structmagic-handout)? mathjax_ignore"', page)
    assert len(results) >= 3  # steps shown without a widget
    assert results.count(" structmagic-handout") == 1  # the --reveal cell: a handout
    assert "9.8 比 9.11 大" in page and "Step 4" in page

    # the walkthrough: a handout whose answer shows only inside its last, closed section
    handout = (tmp_path / "walkthrough.html").read_text(encoding="utf-8")
    where = _Where(FINAL_ANSWER)
    where.feed(handout)
    where.close()
    assert where.requests == []  # no CDN script, stylesheet, font or image
    assert "cdnjs" not in handout and "unpkg" not in handout
    assert handout.count('class="structmagic-result structmagic-handout mathjax_ignore"') == 1
    assert where.found, "the final answer is not in the page"
    for stack in where.found:
        classes = [c for tag, c in stack if tag == "details"]
        assert any("structmagic-final" in c for c in classes), stack  # behind its section...
        steps = [c for c in classes if "structmagic-step" in c]
        assert len(steps) == 5, stack  # ...nested in the four steps' sections
    assert "<details open" not in handout
    assert "Your answer:" in handout and "@media print" in handout
    assert all(f"Step {i}<" in handout for i in range(1, 5))
