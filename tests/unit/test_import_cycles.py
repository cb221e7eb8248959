"""No import cycles in the layer or the sandbox. Every import counts: at module level, inside a function, and
under `if TYPE_CHECKING:` (a cycle there is still two modules that each need the other to be read)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"silentcheck": ROOT / "layers" / "shared" / "silentcheck", "sandbox": ROOT / "sandbox"}


def _modules(package: str, directory: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (a package is its __init__.py)."""
    modules = {}
    for path in directory.rglob("*.py"):
        parts = [package, *path.relative_to(directory).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's own modules that `name` imports, wherever in the file the import is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            # `from p import m` imports the module p.m when there is one, else a name defined in p.
            targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import p.m.x` where x is not a module: p.m
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(package: str, directory: Path) -> dict[str, set[str]]:
    modules = _modules(package, directory)
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_cycle(package: str) -> None:
    graph = import_graph(package, PACKAGES[package])

    assert len(graph) > 10, "the walk found the package's modules"
    assert cycles(graph) == []


def _write(directory: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    root = _write(tmp_path / "pkg", {
        "__init__.py": "",
        "a.py": "from pkg import b\n",
        "b.py": "def late():\n    from pkg.a import thing\n    return thing\n",
        "c.py": "import pkg.a\n",
    })

    assert cycles(import_graph("pkg", root)) == [["pkg.a", "pkg.b"]]


def test_a_cycle_through_type_checking_and_relative_imports_is_found(tmp_path: Path) -> None:
    root = _write(tmp_path / "pkg", {
        "__init__.py": "",
        "sub/__init__.py": "",
        "sub/app.py": "from .admin import Controls\n",
        "sub/admin.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..sub.app import Sim\n",
    })

    assert cycles(import_graph("pkg", root)) == [["pkg.sub.admin", "pkg.sub.app"]]


def test_a_package_that_re_exports_its_modules_is_no_cycle(tmp_path: Path) -> None:
    root = _write(tmp_path / "pkg", {
        "__init__.py": "from pkg.app import Sim\n",
        "app.py": "from pkg.state import State\nclass Sim: ...\n",
        "state.py": "class State: ...\n",
    })

    assert cycles(import_graph("pkg", root)) == []
