"""structmagic's jsonschema import (structmagic.fastimport): same checkers, clean sys.modules.

Every test runs fresh interpreters (imports are cached within one): a plain
``import jsonschema`` process is the reference, and a process that imports jsonschema
through :func:`structmagic.fastimport.import_jsonschema` must agree with it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

HAS_SYNTAX = all(importlib.util.find_spec(m) is not None for m in ("rfc3987_syntax", "lark"))
HAS_RFC3987 = importlib.util.find_spec("rfc3987") is not None
HAS_DURATION = all(importlib.util.find_spec(m) is not None
                   for m in ("isoduration", "arrow", "dateutil"))
needs_syntax = pytest.mark.skipif(
    not HAS_SYNTAX or HAS_RFC3987,
    reason="needs rfc3987_syntax and lark (jsonschema[format-nongpl]) and no rfc3987",
)

PLAIN = "import jsonschema\n"
OURS = "from structmagic.fastimport import import_jsonschema\njsonschema = import_jsonschema()\n"

#: every registered format of every dialect is checked against these
VALUES: list[Any] = [
    "http://example.com", "https://例え.テスト/パス?q=値#frag", "http://[::1]:80/x",
    "http://[v7.abc]/", "http://u:p@h:8080/p;x?y#z", "//host/path", "/abs/path", "rel/path",
    "?q", "#f", "", " ", "a b", "http://exa mple.com", "http://h/%zz", "http://h/%41",
    "mailto:a@b.c", "urn:isbn:0451450523", "file:///etc/passwd", ":no-scheme", "1http://x",
    "ht!tp://x", "http://h:port/", "http://h/<>", "http://h/\u00e9", "http://h/\ue000",
    "http://h/\U0001f600", "http://h/\x7f", "http://h/\\", "HTTP://H/", "x:", "a:b:c",
    "2024-02-29", "2023-02-29", "2024-01-01T12:00:00Z", "2024-01-01t12:00:00+05:30",
    "12:00:00Z", "25:00:00Z", "12:00:00", "P1Y2M3DT4H5M6S", "P1W", "PT", "P1Y2W", "P",
    "PT1.5S", "P1M", "1Y", "P-1D", "a@example.com",
    "not-an-email", "127.0.0.1", "256.0.0.1", "::1", "fe80::1%eth0", "example.com",
    "-bad-.com", "xn--bcher-kva.example", "bücher.example", "/a/b~0c", "a/b", "0#", "1/x",
    "{var}", "{var", "#fff", "red", "not-a-color", "^[a-z]+$", "(",
    "00000000-0000-0000-0000-000000000000", "not-a-uuid",
    0, 1.5, None, True, ["http://x"], {"a": 1},
]

#: prints, as JSON, what every dialect's format checker (and a default FormatChecker())
#: registers, and how it judges every value: "ok", "FormatError:<cause>", or "raised:<type>"
REPORT = """
import json, sys
values = json.loads(sys.argv[1])
checkers = {"FormatChecker()": jsonschema.FormatChecker()}
for cls in (jsonschema.Draft3Validator, jsonschema.Draft4Validator,
            jsonschema.Draft6Validator, jsonschema.Draft7Validator,
            jsonschema.Draft201909Validator, jsonschema.Draft202012Validator):
    checkers[cls.__name__] = cls.FORMAT_CHECKER
out, rows = {}, {}
for label, checker in checkers.items():
    judged = {}
    for fmt in sorted(checker.checkers):
        key = checker.checkers[fmt]  # (function, raises): judged once however many dialects
        if key not in rows:
            rows[key] = row = []
            for value in values:
                try:
                    checker.check(value, fmt)
                    row.append("ok")
                except jsonschema.FormatError as exc:
                    row.append("FormatError:" + type(exc.cause).__name__)
                except Exception as exc:
                    row.append("raised:" + type(exc).__name__)
        judged[fmt] = rows[key]
    out[label] = judged
print(json.dumps(out, sort_keys=True))
"""


def _start(code: str, *args: str, path: list[Path] | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        str(p) for p in [*(path or []), ROOT, *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _result(proc: subprocess.Popen[str]) -> Any:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def run(*codes: str, path: list[Path] | None = None) -> Any:
    """Run each code in a fresh interpreter (structmagic from this checkout), all at once;
    the last line of each one's output parsed as JSON (one code: its result, else a list)."""
    results = [_result(p) for p in [_start(c, path=path) for c in codes]]
    return results[0] if len(codes) == 1 else results


def reports(*preludes: str, path: list[Path] | None = None) -> list[Any]:
    """:data:`REPORT` after each prelude, each in a fresh interpreter, all at once."""
    procs = [_start(p + REPORT, json.dumps(VALUES), path=path) for p in preludes]
    return [_result(p) for p in procs]


# --- the same checkers, the same answers -------------------------------------------------------


def test_every_format_checker_gives_the_same_answers_as_a_plain_import():
    plain, ours = reports(PLAIN, OURS)
    assert plain.keys() == ours.keys()
    for label in plain:
        assert sorted(plain[label]) == sorted(ours[label]), label  # same formats registered
        for fmt, row in plain[label].items():
            assert ours[label][fmt] == row, (label, fmt)
    if HAS_SYNTAX and not HAS_RFC3987:
        assert {"iri", "iri-reference"} <= set(ours["Draft202012Validator"])
        # the corpus exercises both answers of the deferred checks
        for fmt in ("iri", "iri-reference", "uri", "uri-reference"):
            row = ours["Draft202012Validator"][fmt]
            assert "ok" in row and any(r.startswith("FormatError") for r in row), fmt
    if HAS_DURATION:
        row = ours["Draft202012Validator"]["duration"]
        assert "ok" in row and "FormatError:EmptyDuration" in row  # isoduration's own names


@pytest.mark.parametrize("missing", ["rfc3987_syntax", "lark", "rfc3986_validator",
                                     "isoduration", "arrow"])
def test_a_missing_module_registers_nothing_as_in_a_plain_import(missing):
    """Not installed (``sys.modules[name] = None`` makes both the import and find_spec fail):
    no stand-in, so jsonschema registers no checker for it, exactly as without us."""
    block = f"import sys\nsys.modules[{missing!r}] = None\n"
    plain, ours = reports(block + PLAIN, block + OURS)
    assert plain == ours
    formats = set(ours["Draft202012Validator"])
    if missing in ("rfc3987_syntax", "lark"):
        assert not {"iri", "iri-reference"} & formats
    elif missing in ("isoduration", "arrow"):
        assert "duration" not in formats
    else:
        assert not {"uri", "uri-reference"} & formats


def test_with_rfc3987_installed_nothing_is_deferred(tmp_path):
    """jsonschema prefers rfc3987 and never asks for the others: nothing to stand in for."""
    (tmp_path / "rfc3987.py").write_text(
        "def parse(value, rule):\n"
        "    if ' ' in value:\n"
        "        raise ValueError(value)\n"
        "    return {'rule': rule}\n"
    )
    code = """
    import json, sys
    jsonschema = import_jsonschema()
    print(json.dumps({"modules": sorted(m for m in ("rfc3987_syntax", "rfc3986_validator",
                                                    "rfc3987") if m in sys.modules),
                      "iri": jsonschema._format.is_iri.__module__,
                      "ok": jsonschema.FormatChecker().conforms("http://x", "iri"),
                      "bad": jsonschema.FormatChecker().conforms("a b", "iri")}))
    """
    info = run("from structmagic.fastimport import import_jsonschema\n" + textwrap.dedent(code),
               path=[tmp_path])
    assert info == {"modules": ["rfc3987"], "iri": "jsonschema._format", "ok": True,
                    "bad": False}
    plain, ours = reports(PLAIN, OURS, path=[tmp_path])
    assert plain == ours


# --- sys.modules hygiene ------------------------------------------------------------------------


@needs_syntax
def test_no_stand_in_is_left_and_a_later_import_is_the_real_module():
    code = """
    import json, sys, types
    from structmagic.fastimport import import_jsonschema
    jsonschema = import_jsonschema()
    after_import = sorted(m for m in ("rfc3987_syntax", "rfc3986_validator", "lark",
                                      "isoduration", "arrow") if m in sys.modules)
    import rfc3987_syntax, rfc3986_validator   # the user's own imports
    real = all(type(m) is types.ModuleType and m.__spec__ is not None and m.__file__
               for m in (rfc3987_syntax, rfc3986_validator))
    print(json.dumps({
        "after_import": after_import,
        "real": real,
        "parser": hasattr(rfc3987_syntax, "syntax_parser"),
        "regex": hasattr(rfc3986_validator, "URI_RE_COMP"),
        "iri": jsonschema.FormatChecker().conforms("http://ex.com/\u00e9", "iri"),
        "bad_iri": jsonschema.FormatChecker().conforms("a b", "iri"),
        "same": sys.modules["rfc3987_syntax"] is rfc3987_syntax,
    }))
    """
    info = run(code)
    assert info == {"after_import": [], "real": True, "parser": True, "regex": True,
                    "iri": True, "bad_iri": False, "same": True}


@needs_syntax
@pytest.mark.skipif(not HAS_DURATION, reason="needs isoduration, arrow and dateutil")
def test_the_real_module_is_imported_on_the_first_check_of_its_format():
    code = """
    import json, sys
    from structmagic.fastimport import import_jsonschema
    jsonschema = import_jsonschema()
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    seen = {}
    for fmt in ("date", "email", "uri", "iri", "duration"):
        checker.conforms("x", fmt)
        seen[fmt] = sorted(m for m in ("rfc3986_validator", "rfc3987_syntax", "lark",
                                       "isoduration", "arrow") if m in sys.modules)
    real = sys.modules["rfc3987_syntax"]
    print(json.dumps({"seen": seen, "real": hasattr(real, "syntax_parser")}))
    """
    info = run(code)
    assert info["seen"] == {
        "date": [], "email": [], "uri": ["rfc3986_validator"],
        "iri": ["lark", "rfc3986_validator", "rfc3987_syntax"],
        "duration": ["arrow", "isoduration", "lark", "rfc3986_validator", "rfc3987_syntax"],
    }
    assert info["real"]


@needs_syntax
@pytest.mark.parametrize("first", ["jsonschema", "rfc3987_syntax"])
def test_an_earlier_import_is_left_alone(first):
    """jsonschema or rfc3987_syntax imported before us: jsonschema uses the real function."""
    code = f"""
    import json, sys
    import {first}
    from structmagic.fastimport import import_jsonschema
    jsonschema = import_jsonschema()
    fn = jsonschema._format._rfc3987_is_valid_syntax
    print(json.dumps({{"real": fn is sys.modules["rfc3987_syntax"].is_valid_syntax,
                      "same": jsonschema is sys.modules["jsonschema"]}}))
    """
    assert run(code) == {"real": True, "same": True}


@needs_syntax
def test_a_module_that_fails_to_import_later_leaves_its_format_unchecked():
    """A broken installation (found, but its import fails at the first check): the format
    passes, as an unregistered format does in a plain process where the import failed."""
    code = """
    import json, sys
    from structmagic.fastimport import import_jsonschema
    jsonschema = import_jsonschema()
    sys.modules["lark"] = None   # rfc3987_syntax's import now fails
    checker = jsonschema.FormatChecker()
    print(json.dumps([checker.conforms(v, "iri") for v in ("http://x", "a b", 3)]))
    """
    plain = """
    import json, sys
    sys.modules["lark"] = None
    import jsonschema
    checker = jsonschema.FormatChecker()
    print(json.dumps([checker.conforms(v, "iri") for v in ("http://x", "a b", 3)]))
    """
    assert run(code, plain) == [[True, True, True]] * 2


# --- threads ------------------------------------------------------------------------------------


@needs_syntax
def test_threads_importing_at_once_share_one_module_and_leave_no_stand_in():
    """Four threads start together: two through import_jsonschema, one plain ``import
    jsonschema``, one ``import rfc3987_syntax`` using it at once (it may get the stand-in
    while it is installed: the stand-in then delegates to the real module)."""
    code = """
    import json, sys, threading, types
    from structmagic.fastimport import import_jsonschema
    barrier = threading.Barrier(4)
    got = {}

    def ours(i):
        barrier.wait()
        got[f"ours{i}"] = import_jsonschema()

    def plain():
        barrier.wait()
        import jsonschema
        got["plain"] = jsonschema

    def syntax():
        barrier.wait()
        import rfc3987_syntax
        got["syntax"] = [rfc3987_syntax.is_valid_syntax("iri", "http://x/\u00e9"),
                         rfc3987_syntax.is_valid_syntax("iri", "a b")]

    threads = [threading.Thread(target=ours, args=(1,)), threading.Thread(target=ours, args=(2,)),
               threading.Thread(target=plain), threading.Thread(target=syntax)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    mods = {got["ours1"], got["ours2"], got["plain"]}
    real = sys.modules["rfc3987_syntax"]
    checker = got["ours1"].FormatChecker()
    print(json.dumps({
        "one_module": len(mods) == 1 and mods == {sys.modules["jsonschema"]},
        "syntax": got["syntax"],
        "real": type(real) is types.ModuleType and hasattr(real, "syntax_parser"),
        "checks": [checker.conforms("http://x/\u00e9", "iri"), checker.conforms("a b", "iri"),
                   checker.conforms("http://x", "uri"), checker.conforms("a b", "uri")],
    }))
    """
    expected = {"one_module": True, "syntax": [True, False], "real": True,
                "checks": [True, False, True, False]}
    assert run(code, code) == [expected] * 2  # the threads interleave differently each time


# --- structmagic itself -------------------------------------------------------------------------


@needs_syntax
def test_structmagic_validates_with_the_deferred_checks_and_never_compiles_unused_grammars():
    code = """
    import json, sys
    import structmagic as sm
    from structmagic.schema import issues_of, validator_for
    spec = sm.load_schema({"type": "object", "properties": {"n": {"type": "integer"}},
                           "required": ["n"], "additionalProperties": False})
    spec.check({"n": 1})
    before = sorted(m for m in ("rfc3987_syntax", "lark", "rfc3986_validator")
                    if m in sys.modules)
    v = validator_for({"type": "object", "properties": {
        "home": {"type": "string", "format": "iri"},
        "site": {"type": "string", "format": "uri"}}})
    good = issues_of(v, {"home": "http://ex.com/\u00e9", "site": "http://x"})
    bad = issues_of(v, {"home": "a b", "site": "a b"})
    print(json.dumps({"before": before, "good": len(good), "bad": [i.path for i in bad]}))
    """
    info = run(code)
    assert info == {"before": [], "good": 0, "bad": ["$.home", "$.site"]}
