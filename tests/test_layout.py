"""The package's shape: few top-level modules, no import cycles, small modules, a declared plugin API.

Imports are read with `ast` from the source, every form counted: module level, inside functions and
under ``if TYPE_CHECKING``. The one cycle allowed is the energy algebra's operator dispatch
(``core/energy`` <-> ``core/nodes`` <-> ``core/context``).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "energyflow"
PLUGINS = sorted(p for p in (ROOT / "plugins").glob("*/energyflow_*") if p.is_dir())
ALLOWED_CYCLE = {"energyflow.core.energy", "energyflow.core.nodes", "energyflow.core.context"}
MAX_LINES = 300
MAX_TOP_LEVEL = 8


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(module, names)`` for every absolute import in the file, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return found


def import_graph(known: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (``from pkg import sub`` counts as importing ``pkg.sub``)."""
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for module, names in imports(path):
            if module not in known:
                continue
            targets = {f"{module}.{n}" for n in names if f"{module}.{n}" in known}
            if len(targets) < len(names) or not names:
                targets.add(module)
            graph[name] |= targets - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_and_only_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_besides_the_operator_dispatch():
    found = cycles(import_graph(modules(PACKAGE)))
    assert [c for c in found if c != ALLOWED_CYCLE] == [], "import cycles among energyflow's modules"


def test_the_top_of_the_package_holds_only_entry_points_and_leaves():
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert len(top) <= MAX_TOP_LEVEL, top
    for folder in (p for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"):
        init = folder / "__init__.py"
        assert init.is_file() and ast.get_docstring(ast.parse(init.read_text())), \
            f"energyflow/{folder.name}/__init__.py should say in a docstring what lives there"


@pytest.mark.parametrize("root", [PACKAGE, *PLUGINS], ids=lambda p: p.name)
def test_no_module_over_the_line_limit(root):
    long = {name: n for name, path in modules(root).items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


@pytest.mark.parametrize("root", PLUGINS, ids=lambda p: p.name)
def test_first_party_plugins_use_only_the_declared_plugin_api(root):
    """A plugin imports ``energyflow`` or a subpackage's ``__init__``, and only names in its ``__all__``."""
    wrong = []
    for name, path in modules(root).items():
        for module, names in imports(path):
            if module != "energyflow" and not module.startswith("energyflow."):
                continue
            package = PACKAGE.parent.joinpath(*module.split("."))
            if not (package / "__init__.py").is_file():
                wrong.append(f"{name}: {module} is not energyflow or a subpackage")
                continue
            declared = set(getattr(importlib.import_module(module), "__all__", ()))
            wrong += [f"{name}: {module}.{n} is not in its __all__" for n in names if n not in declared]
    assert wrong == [], "\n".join(wrong)


def test_the_plugin_api_check_catches_a_deep_import(tmp_path):
    (tmp_path / "energyflow_fake").mkdir()
    (tmp_path / "energyflow_fake" / "bad.py").write_text(
        "from energyflow.samplers.base import Sampler\nfrom energyflow.recipe import _private\n")
    with pytest.raises(AssertionError) as failed:
        test_first_party_plugins_use_only_the_declared_plugin_api(tmp_path / "energyflow_fake")
    assert "energyflow.samplers.base is not energyflow or a subpackage" in str(failed.value)
    assert "energyflow.recipe._private is not in its __all__" in str(failed.value)
