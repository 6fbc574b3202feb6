"""The package surface: the pinned __all__, cheap side-effect-free import, the extension."""

from __future__ import annotations

import json
import subprocess
import sys

import structmagic

EXPECTED_ALL = {
    "APIError", "APITimeoutError", "AnswerError", "AuthenticationError", "BadRequestError",
    "BatchError", "BatchInterrupted", "BatchJob", "BatchRowError", "BatchUnavailableError",
    "CallInterrupted",
    "CassetteError", "CassetteMissError", "ConfigError",
    "ContentFilterError", "Extractor", "InputError", "Interrupted", "InvalidOutputError",
    "NotRun", "RateLimitError", "RefusalError", "Result", "SchemaError",
    "SchemaIgnoredError", "SchemaSpec",
    "ServerError",
    "StreamError", "StructuredError", "StructuredMagics", "TransportError", "TruncatedError",
    "UngroundedError",
    "UnsupportedFormatError", "UnsupportedInputError", "ValidationIssue", "__version__",
    "abatch", "astream", "astructured", "batch", "batch_iter", "compare", "compare_each",
    "configure", "estimate", "ground", "grounding_frame", "load_corrections",
    "load_ipython_extension", "load_schema", "rerun", "review", "schema_dsl", "score",
    "structured",
    "submit_batch", "unload_ipython_extension",
}


def test_all_is_pinned_and_every_name_resolves():
    assert set(structmagic.__all__) == EXPECTED_ALL
    for name in structmagic.__all__:
        assert getattr(structmagic, name) is not None, name


def test_error_tree():
    e = structmagic
    assert issubclass(e.APITimeoutError, e.TransportError)
    for cls in (e.AuthenticationError, e.RateLimitError, e.ServerError, e.BadRequestError):
        assert issubclass(cls, e.APIError)
    assert issubclass(e.UnsupportedFormatError, e.BadRequestError)
    assert issubclass(e.UnsupportedInputError, e.BadRequestError)
    for cls in (e.RefusalError, e.TruncatedError, e.ContentFilterError, e.InvalidOutputError):
        assert issubclass(cls, e.AnswerError)
    assert issubclass(e.SchemaIgnoredError, e.InvalidOutputError)
    assert issubclass(e.CassetteMissError, e.CassetteError)
    assert issubclass(e.BatchInterrupted, e.CallInterrupted)
    assert issubclass(e.CallInterrupted, KeyboardInterrupt)
    assert issubclass(e.BatchUnavailableError, e.BatchError)
    assert issubclass(e.BatchRowError, e.BatchError)
    for cls in (e.ConfigError, e.SchemaError, e.APIError, e.AnswerError, e.StreamError,
                e.TransportError, e.CassetteError, e.InputError, e.BatchError, e.NotRun,
                e.Interrupted):
        assert issubclass(cls, e.StructuredError)


def test_every_error_is_drawn_in_the_tree_and_exported():
    """Each error class of structmagic lives in its errors module, is drawn in that module's
    tree (its docstring) and is a public name of the package."""
    import re

    from structmagic import errors

    classes = {name for name, obj in vars(errors).items() if isinstance(obj, type)
               and issubclass(obj, (errors.StructuredError, KeyboardInterrupt))
               and obj.__module__ == errors.__name__}
    assert {"StructuredError", "NotRun", "Interrupted", "BatchInterrupted"} <= classes
    for name in classes:
        assert name in errors.__all__ and name in structmagic.__all__, name
        assert re.search(rf"^\s*[│├└─ ]*{name}\b", errors.__doc__, re.M), name
    for module in _modules():  # and none is defined anywhere else
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, errors.StructuredError):
                assert obj.__module__ == errors.__name__, f"{obj} outside the errors module"


def _modules():
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(structmagic.__path__, "structmagic."):
        yield importlib.import_module(info.name)


def test_import_is_cheap_and_has_no_side_effects():
    code = (
        "import sys, json, os; before = set(sys.modules); env = dict(os.environ);"
        "import structmagic;"
        "new = sorted(set(sys.modules) - before);"
        "print(json.dumps({'new': new, 'env_same': env == dict(os.environ)}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    info = json.loads(out.stdout)
    heavy = {"httpx", "jsonschema", "ipywidgets", "pydantic", "pandas", "IPython"}
    assert not heavy & {m.split(".")[0] for m in info["new"]}, info["new"]
    assert info["env_same"]


def test_load_ext_registers_magics_and_stays_light():
    code = (
        "import sys, json; from IPython.core.interactiveshell import InteractiveShell;"
        "ip = InteractiveShell.instance(); before = set(sys.modules);"
        "ip.run_line_magic('load_ext', 'structmagic');"
        "m = ip.magics_manager.magics;"
        "new = {x.split('.')[0] for x in set(sys.modules) - before};"
        "print(json.dumps({'cell': 'structured' in m['cell'],"
        " 'line': 'structured_config' in m['line'], 'new': sorted(new),"
        " 'hook': sys.excepthook.__module__}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["cell"] and info["line"]
    assert not {"httpx", "jsonschema", "ipywidgets", "pydantic", "pandas"} & set(info["new"])
    assert info["hook"] != "structmagic"
