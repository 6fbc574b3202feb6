"""Import jsonschema without compiling rfc3987_syntax's grammars up front.

Why: when the ``rfc3987`` package is absent, ``jsonschema/_format.py`` runs::

    with suppress(ImportError):
        from rfc3987_syntax import is_valid_syntax as _rfc3987_is_valid_syntax

and importing ``rfc3987_syntax`` compiles about 38 Lark grammars, which takes about a second.
Every environment with JupyterLab has it (``jupyter-events`` and ``nbformat`` ask for
``jsonschema[format-nongpl]``), so the first ``%%structured`` cell of a kernel would spend
almost all of its time there, for the ``iri`` and ``iri-reference`` formats that most
schemas never use. ``rfc3986_validator`` (``uri``, ``uri-reference``) is imported the same
way and compiles two large regular expressions (about 10 ms), and ``isoduration``
(``duration``) imports ``arrow`` (about 14 ms).

How: :func:`import_jsonschema` imports jsonschema with a stand-in for each of these modules
in ``sys.modules``, and removes the stand-ins as soon as the import is done. A stand-in's
function (the one name jsonschema imports from it) imports the real module on its first
call and delegates to it, so jsonschema registers exactly the format checkers it would have
registered, and they give exactly the same answers; only the real module's import moves to
the first check of its formats (in this kernel, by anyone: the user's own jsonschema is the
same module). Any other attribute of a stand-in loads the real module and delegates too.
jsonschema also reads one exception class from ``isoduration`` when it registers the
``duration`` checker (the error that checker expects): the stand-in holds a class of the
same name and base, and its function turns the real module's exception into a subclass of
it named as the real one (``EmptyDuration`` ...), with the same arguments and the real
exception as its cause, so a bad duration is the same format error with the same message.

Nothing is deferred, and this is a plain ``import jsonschema``, when jsonschema is already
imported (or being imported), or when ``rfc3987`` is installed (jsonschema then uses it and
imports neither module). A module is not deferred when it is already imported (jsonschema
uses it as it is), or when it or a module it needs cannot be found (jsonschema's import of
it would fail, so jsonschema would not register its checkers, and a stand-in must not make
it do so). If the real module still fails to import at the first check (a broken
installation), the check passes, as an unregistered format does in plain jsonschema (for
``duration``, only jsonschema's own last-letter test of the value remains).

One lock serialises the imports made here: two threads importing at once see one set of
stand-ins, and a thread that calls a stand-in while it is installed waits for the import to
finish, then gets the real module.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

__all__ = ["import_jsonschema"]

#: modules that jsonschema's format module imports one function from and only calls later:
#: module -> (that function's name, the modules it needs to import, the exception classes
#: jsonschema reads from it at once: name -> base)
DEFERRED: dict[str, tuple[str, tuple[str, ...], dict[str, type[Exception]]]] = {
    "rfc3987_syntax": ("is_valid_syntax", ("lark",), {}),  # iri, iri-reference
    "rfc3986_validator": ("validate_rfc3986", (), {}),  # uri, uri-reference
    "isoduration": ("parse_duration", ("arrow", "dateutil"),  # duration
                    {"DurationParsingException": ValueError}),
}
#: jsonschema imports this instead of the modules above when it is installed
_PREFERRED = "rfc3987"

_lock = threading.RLock()
_installed: dict[str, types.ModuleType] = {}  # name -> our stand-in, while it is in sys.modules
_real: dict[str, types.ModuleType | None] = {}  # name -> the real module, None: failed


def import_jsonschema() -> types.ModuleType:
    """The ``jsonschema`` module, imported without importing rfc3987_syntax and
    rfc3986_validator until their formats are first checked."""
    if "jsonschema" not in sys.modules:
        with _lock:
            if "jsonschema" not in sys.modules:
                _import_with_stand_ins()
    import jsonschema

    return jsonschema


def _deferrable() -> list[str]:
    """The modules to stand in for (none if jsonschema would not import them)."""
    try:
        if importlib.util.find_spec(_PREFERRED) is not None:
            return []
        return [name for name, (_, needs, _errors) in DEFERRED.items()
                if name not in sys.modules and name not in _real
                and all(importlib.util.find_spec(m) is not None for m in (name, *needs))]
    except (ImportError, ValueError):  # a broken path entry or module: stay out of the way
        return []


def _import_with_stand_ins() -> None:
    for name in _deferrable():
        function, _, errors = DEFERRED[name]
        _installed[name] = sys.modules[name] = _make_stand_in(name, function, errors)
    try:
        import jsonschema  # noqa: F401
    finally:
        for name, stand_in in list(_installed.items()):
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            del _installed[name]


def _make_stand_in(name: str, function: str, errors: dict[str, type[Exception]]
                   ) -> types.ModuleType:
    module = types.ModuleType(name, f"Stand-in: imports {name} on first use.")
    # the classes jsonschema takes at once, named as the real ones
    mine = {error: type(error, (base,), {"__module__": name}) for error, base in errors.items()}

    def proxy(*args: Any, **kwargs: Any) -> Any:
        real = _load(name)
        if real is None:
            return True  # as an unregistered format: not checked
        try:
            return getattr(real, function)(*args, **kwargs)
        except Exception as exc:
            for error, cls in mine.items():
                theirs = getattr(real, error, None)
                if isinstance(theirs, type) and isinstance(exc, theirs):
                    raise _mirror(cls, type(exc))(*exc.args) from exc
            raise

    def delegate(attr: str) -> Any:
        """Every other attribute (the module's ``__getattr__``): from the real module."""
        if attr.startswith("__"):  # the import system's probes (__path__, ...) stay cheap
            raise AttributeError(attr)
        real = _load(name)
        if real is None:
            raise AttributeError(f"module {name!r} could not be imported")
        return getattr(real, attr)

    proxy.__name__ = proxy.__qualname__ = function
    proxy.__module__ = name
    proxy.__doc__ = f"{name}.{function}, imported on its first call."
    setattr(module, function, proxy)
    for error, cls in mine.items():
        setattr(module, error, cls)
    module.__getattr__ = delegate  # type: ignore[method-assign]
    return module


_mirrors: dict[tuple[type, type], type] = {}


def _mirror(mine: type, theirs: type) -> type:
    """A subclass of our stand-in class ``mine`` named as the real exception ``theirs`` (a
    subclass of the real class it stands for, such as isoduration's ``EmptyDuration``)."""
    key = (mine, theirs)
    if key not in _mirrors:
        if theirs.__name__ == mine.__name__:
            _mirrors[key] = mine
        else:
            _mirrors[key] = type(theirs.__name__, (mine,), {"__module__": theirs.__module__,
                                                            "__qualname__": theirs.__qualname__})
    return _mirrors[key]


def _load(name: str) -> types.ModuleType | None:
    """The real module ``name`` (imported once), or None if it cannot be imported."""
    if name not in _real:
        with _lock:  # waits while another thread's stand-ins are installed
            if name not in _real:
                stand_in = _installed.get(name)
                if stand_in is not None and sys.modules.get(name) is stand_in:
                    del sys.modules[name]  # called during our own import: load the real one
                try:
                    _real[name] = importlib.import_module(name)
                except ImportError:
                    _real[name] = None
    return _real[name]
