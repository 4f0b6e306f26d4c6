"""The package's shape: layers that import only downwards, no cycles, no giant modules or functions.

Each sub-package of `premirna` sits on a layer (docs/ARCHITECTURE.md); a module may import from its
own sub-package and from sub-packages on lower layers, never from its own layer's other
sub-packages or from above. Imports are read from the source (every `import` and `from ... import`,
function-local ones too), so a cycle hidden inside a function is found as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "premirna"

#: Sub-package -> layer. The top-level modules (cli, __main__) sit above everything.
LAYERS: dict[str, int] = {
    "core": 1,
    "rna": 2,
    "data": 3,
    "fold": 3,
    "encode": 4,
    "training": 5,
    "classifier": 6,
    "generator": 6,
    "validate": 7,
    "interpret": 7,
    "report": 7,
}
TOP = 8
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
#: Functions allowed to be longer, each with the reason.
LONG_FUNCTIONS: dict[str, str] = {}


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `path` imports (the longest known prefix of each name)."""
    out = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import (use absolute premirna.* imports)")
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name.startswith("premirna."):
                out.add(name)
    return out


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in LAYERS:
        return TOP
    return LAYERS[parts[1]]


def subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else module


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle (each reported once, from its first module)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    return found


def test_every_subpackage_has_a_layer():
    present = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert present <= set(LAYERS), f"sub-packages without a layer: {sorted(present - set(LAYERS))}"


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_imports_go_down_only():
    wrong = [
        f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
        for module, targets in graph().items()
        for target in sorted(targets)
        if layer(module) < TOP
        and subpackage(target) != subpackage(module)
        and layer(target) >= layer(module)
    ]
    assert wrong == []


def test_modules_are_small():
    big = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert big == {}


def test_functions_are_short():
    long = {}
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                key = f"{name}.{node.name}"
                if length > MAX_FUNCTION_LINES and key not in LONG_FUNCTIONS:
                    long[key] = length
    assert long == {}


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b", "a"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c", "a"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(edges, expected):
    assert cycles(edges) == expected


def test_the_layer_check_sees_upward_and_sideways_imports(tmp_path):
    package = tmp_path / "premirna"
    for sub in ("core", "data", "fold"):
        (package / sub).mkdir(parents=True)
        (package / sub / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "core" / "io.py").write_text("from premirna.fold.table import x\n")
    (package / "data" / "a.py").write_text("def f():\n    from premirna.fold.table import y\n")
    (package / "fold" / "table.py").write_text("x = y = 1\n")
    known = modules(package)
    assert imports(package / "core" / "io.py", known) == {"premirna.fold.table"}
    assert imports(package / "data" / "a.py", known) == {"premirna.fold.table"}
