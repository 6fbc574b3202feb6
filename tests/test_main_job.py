"""The README's main job: the quickstart runs offline, with no key, and writes its page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
    assert page.count('class="structmagic-result"') >= 3  # steps shown without a widget
    assert "9.8 比 9.11 大" in page and "Step 4" in page
