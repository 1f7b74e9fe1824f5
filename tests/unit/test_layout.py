"""The layout read from the import graph of every first-party module: no import cycle, no
private name imported across modules, imports one way (verify <- constructions <- proofs <- the
tool), and no import inside a function except where an optional extra is loaded. Also: the
top-level ``loopmlp --help`` loads no command module and none of the kernel's heavy dependencies.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("verify", "constructions", "proofs", "loopmlp")
"""The first-party packages, lowest layer first: a package imports only those before it."""
EXTRAS = ("matplotlib", "onnx", "onnxruntime", "vnnlib", "cvc5", "dask", "distributed",
          "bitwuzla")
"""Optional extras: a module that imports one is loaded inside the function that needs it."""
INERT = {"loopmlp.pytest_plugin"}
"""Loaded by every pytest run (a pytest11 entry point): it imports the kernel inside its hooks,
only when ``--loopmlp`` is given, so that it stays cheap and inert otherwise."""
PENDING: set[str] = set()
"""Modules exempt from the one-way and the inside-a-function checks while they are reworked:
none, so both rules hold for every module."""


@dataclass
class Module:
    """One first-party module: its imports of first-party modules, where they are, and names."""

    name: str
    path: Path
    imports: list[tuple[str, str | None, bool, int]] = field(default_factory=list)
    third_party: set[str] = field(default_factory=set)  # at module level


def _modules() -> dict[str, Module]:
    mods: dict[str, Module] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            mods[name] = Module(name, path)
    for m in mods.values():
        _read(m, mods)
    return mods


def _resolve(m: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = m.name.split(".")
    package = base if m.path.name == "__init__.py" else base[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def _read(m: Module, mods: dict[str, Module]) -> None:
    tree = ast.parse(m.path.read_text(encoding="utf-8"))
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
             for n in ast.walk(f) if isinstance(n, ast.Import | ast.ImportFrom)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            src = _resolve(m, node)
            targets = [(f"{src}.{a.name}" if f"{src}.{a.name}" in mods else src, a.name)
                       for a in node.names]
        else:
            continue
        for target, name in targets:
            top = target.split(".")[0]
            if top not in PACKAGES:
                if id(node) not in inner and not getattr(node, "level", 0):
                    m.third_party.add(top)
                continue
            while target not in mods and "." in target:
                target = target.rsplit(".", 1)[0]
            if target != m.name:
                m.imports.append((target, name, id(node) in inner, node.lineno))


MODULES = _modules()


def test_the_graph_is_read() -> None:
    """The checks below are only as good as the reading: known edges of each kind are seen."""
    edges = {(m, t, local) for m, mod in MODULES.items() for t, _, local, _ in mod.imports}
    assert ("verify.methods.exhaustive", "verify.methods.base", False) in edges
    assert ("loopmlp.report.content", "loopmlp.report.plots", True) in edges
    assert "matplotlib" in MODULES["loopmlp.report.plots"].third_party
    assert len(MODULES) > 80


def test_no_import_cycle() -> None:
    edges = {m: {t for t, *_ in mod.imports} for m, mod in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def strong(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges[v]:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in edges:
        if v not in index:
            strong(v)
    assert cycles == []


def test_no_private_name_crosses_a_module() -> None:
    private = [f"{m} imports {t}.{name}" for m, mod in MODULES.items()
               for t, name, _, _ in mod.imports
               if name and name.startswith("_") and not name.startswith("__")]
    assert private == []


def test_imports_run_one_way() -> None:
    layer = {pkg: i for i, pkg in enumerate(PACKAGES)}
    upward = [f"{m}:{line} imports {t}" for m, mod in MODULES.items()
              for t, _, _, line in mod.imports
              if layer[t.split(".")[0]] > layer[m.split(".")[0]]
              and not (m in PENDING and t.startswith("loopmlp.cli."))]
    assert upward == []


def test_imports_inside_functions_only_load_optional_extras() -> None:
    def loads_an_extra(target: str) -> bool:
        return bool(MODULES[target].third_party & set(EXTRAS))

    inside = [f"{m}:{line} imports {t}" for m, mod in MODULES.items()
              for t, _, local, line in mod.imports
              if local and m not in INERT | PENDING and not loads_an_extra(t)]
    assert inside == []


def test_the_command_modules_are_in_the_table() -> None:
    from loopmlp.cli.dispatch import COMMANDS

    for c in COMMANDS:
        assert c.module in MODULES, c
        assert c.module.startswith("loopmlp.cli."), c
    names = [c.name for c in COMMANDS]
    assert len(names) == len(set(names))


def test_each_command_module_configures_the_parser_it_is_given() -> None:
    """A command module defines ``add_arguments(parser)`` and never adds its own top-level
    parser, so its line in ``loopmlp --help`` is written once, in the table."""
    from loopmlp.cli.dispatch import COMMANDS

    for c in COMMANDS:
        tree = ast.parse(MODULES[c.module].path.read_text(encoding="utf-8"))
        functions = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
        assert "add_arguments" in functions, c.module
        assert "add_commands" not in functions, c.module
        assert f'"{c.help}"' not in MODULES[c.module].path.read_text(encoding="utf-8"), c


def test_top_level_help_loads_no_command_module() -> None:
    """Building the top-level parser imports the command table only: no command's module and
    none of the heavy libraries the commands use."""
    from loopmlp.cli.dispatch import COMMANDS

    code = ("import sys; from loopmlp.cli.dispatch import build_parser; build_parser(); "
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True, cwd=ROOT).stdout.split())
    heavy = {"numpy", "scipy", "sympy", "z3", "rich", "hypothesis", "verify.network",
             "proofs.registry"}
    assert not heavy & loaded
    assert not {c.module for c in COMMANDS} & loaded
