"""The package's architecture, checked on its source: layers, one direction, no cycles.

The data's way is one direction (README, "How it is built")::

    magic -> rows -> api -> call -> display -> cost -> transport -> config -> providers
          -> schema / inputs -> errors -> redact

A module may import modules of its own layer or of the layers below it, never above. Every
import of the package's own modules counts here, also one made inside a function or through
``importlib.import_module``, and so do the packages an import runs first (importing
``structmagic.cost.price`` runs ``structmagic/cost/__init__.py``): an import hidden in a
function is still a dependency, and a cycle held together by one is still a cycle. Imports
of the package's own modules are made at module level (inside a function only a heavy
third-party package is imported); the lazy
loaders of a package's ``__init__`` (``__getattr__``) and the provider registry are the only
dynamic imports. No module imports another module's underscore name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "structmagic"
PACKAGE = "structmagic"

#: top first; a module belongs to the layer of the longest prefix that names it
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("package", ("structmagic",)),
    ("magic", ("structmagic.magic",)),
    ("rows", ("structmagic.rows",)),
    ("api", ("structmagic.api",)),
    ("call", ("structmagic.call",)),
    ("display", ("structmagic.display",)),
    ("cost", ("structmagic.cost",)),
    ("transport", ("structmagic.transport",)),
    ("config", ("structmagic.config", "structmagic.secret")),
    ("providers", ("structmagic.providers",)),
    # the leaves below the providers: schemas, inputs, and the price type the settings hold
    ("schema/inputs", ("structmagic.schema", "structmagic.inputs", "structmagic.grounding",
                       "structmagic.cost.price",
                       "structmagic.fastimport")),
    ("errors", ("structmagic.errors",)),
    ("redact", ("structmagic.redact",)),
)

#: the third-party packages that only the IPython front end imports
FRONT_END_ONLY = ("IPython.core",)


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module of the package
    line: int
    inside_function: bool
    dynamic: bool  # through importlib.import_module
    names: tuple[str, ...]  # the names taken (``from x import a, b``)


def _modules() -> dict[str, tuple[Path, bool]]:
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


MODULES = _modules()


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _context(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> tuple[bool, bool]:
    """(under ``if TYPE_CHECKING``, inside a function)."""
    typing_only = in_function = False
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only = True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_function = True
    return typing_only, in_function


def _children(package: str) -> list[str]:
    prefix = package + "."
    return [m for m in MODULES if m.startswith(prefix) and "." not in m[len(prefix):]]


def _imports_of(module: str) -> Iterator[Import]:
    path, is_package = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = _parents(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                target = _resolve(module, is_package, node.level, node.module)
            elif node.module and node.module.split(".")[0] == PACKAGE:
                target = node.module
            else:
                continue
            typing_only, in_function = _context(node, parents)
            if typing_only:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    yield Import(module, sub, node.lineno, in_function, False, ())
                else:
                    yield Import(module, target, node.lineno, in_function, False,
                                 (alias.name,))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    typing_only, in_function = _context(node, parents)
                    if not typing_only:
                        yield Import(module, alias.name, node.lineno, in_function, False, ())
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module"):
            _, in_function = _context(node, parents)
            for target in _dynamic_targets(node, module, is_package, tree):
                yield Import(module, target, node.lineno, in_function, True, ())


def _dynamic_targets(call: ast.Call, module: str, is_package: bool, tree: ast.Module
                     ) -> list[str]:
    """The package's modules an ``import_module(...)`` call may import: a constant name; the
    values of the module's name map for ``f".{MAP[name]}"``; any module of the package for
    another name made from ``__name__``; none for a name that is not the package's."""
    arg = call.args[0] if call.args else None
    package = module if is_package else module.rsplit(".", 1)[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        names = [arg.value]
    elif isinstance(arg, ast.JoinedStr):
        text = ast.unparse(arg)
        maps = {n.targets[0].id: n.value for n in tree.body if isinstance(n, ast.Assign)
                and isinstance(n.targets[0], ast.Name) and isinstance(n.value, ast.Dict)}
        used = [m for m in maps if "{" + m + "[" in text]
        if text.startswith("f'.{") and used:
            names = ["." + v.value for m in used for v in maps[m].values
                     if isinstance(v, ast.Constant) and isinstance(v.value, str)]
        elif "__name__" in text or "__package__" in text or text.startswith("f'."):
            return _children(package)
        else:
            return []
    else:
        return []
    out = []
    for name in names:
        if name.startswith("."):
            level = len(name) - len(name.lstrip("."))
            out.append(_resolve(module, is_package, level, name.lstrip(".") or None))
        elif name.split(".")[0] == PACKAGE:
            out.append(name)
    return out


def _with_packages(imports: list[Import]) -> list[Import]:
    """Each import, and the packages it runs first: importing ``a.b.c`` runs ``a/__init__``
    and ``a/b/__init__`` unless they already hold the importing module (then they ran
    before it), or import nothing of the package."""
    importing = {imp.source for imp in imports}
    out = []
    for imp in imports:
        out.append(imp)
        parts = imp.target.split(".")
        for i in range(1, len(parts)):
            package = ".".join(parts[:i])
            if package in importing and not (
                    imp.source == package or imp.source.startswith(package + ".")):
                out.append(Import(imp.source, package, imp.line, imp.inside_function,
                                  imp.dynamic, ()))
    return out


IMPORTS = _with_packages([imp for module in MODULES for imp in _imports_of(module)
                          if imp.target in MODULES and imp.target != imp.source])


def _layer(module: str) -> int:
    best, rank = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank >= 0, f"{module} is in no layer: add it to LAYERS"
    return rank


def test_every_module_is_in_a_layer():
    for module in MODULES:
        _layer(module)


def test_the_root_keeps_only_the_public_face_and_the_cross_cutting_pieces():
    flat = sorted(m.rsplit(".", 1)[1] for m, (_, pkg) in MODULES.items()
                  if m.count(".") == 1 and not pkg)
    assert flat == ["api", "config", "errors", "fastimport", "redact", "secret"]


def test_imports_go_down_the_layers():
    upward = [f"{i.source}:{i.line} imports {i.target} "
              f"({LAYERS[_layer(i.source)][0]} -> {LAYERS[_layer(i.target)][0]})"
              for i in IMPORTS if _layer(i.target) < _layer(i.source)]
    assert upward == []


def test_no_import_cycle_counting_imports_inside_functions():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in IMPORTS:
        graph[imp.source].add(imp.target)
    cycles = _strongly_connected(graph)
    assert cycles == []


def test_own_modules_are_imported_at_module_level():
    hidden = [f"{i.source}:{i.line} imports {i.target} inside a function" for i in IMPORTS
              if i.inside_function and not i.dynamic]
    assert hidden == []


def test_only_lazy_package_loaders_and_the_registry_import_dynamically():
    dynamic = sorted({i.source for i in IMPORTS if i.dynamic})
    assert dynamic == ["structmagic", "structmagic.providers.registry", "structmagic.rows",
                       "structmagic.schema"]


def test_no_module_imports_another_modules_underscore_name():
    private = [f"{i.source}:{i.line} imports {name} from {i.target}" for i in IMPORTS
               for name in i.names if name.startswith("_") and not name.startswith("__")]
    assert private == []


def test_only_the_magic_package_imports_ipython_core():
    outside = []
    for module, (path, _) in MODULES.items():
        if module == "structmagic.magic" or module.startswith("structmagic.magic."):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            outside += [f"{module}:{node.lineno} imports {n}" for n in names
                        if n.startswith(FRONT_END_ONLY)]
    assert outside == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_says_what_it_exports(module):
    path, _ = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{module} has no docstring"
    assert any(isinstance(t, ast.Name) and t.id == "__all__"
               for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
               for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
               ), f"{module} has no __all__"


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found
