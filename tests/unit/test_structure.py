"""The layout's rules, checked on the code: no module imports another package's private names,
and the public API is what ``harness.__all__`` says."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import harness

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "harness").rglob("*.py"), *(ROOT / "tests").rglob("*.py"),
                  ROOT / "conftest.py"])


def _package_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1])


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(path: Path) -> list[str]:
    """``from X import _y`` or an import of a private module ``X._m`` from outside X's package."""
    here = _package_of(path)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
            names = [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            modules, names = [a.name for a in node.names], []
        else:
            continue
        for module in modules:
            parts = module.split(".")
            owner = ".".join(parts[:-1]) if any(_private(p) for p in parts) else module
            if any(_private(p) for p in parts) and owner != here:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports private module {module}")
            bad = [n for n in names if _private(n)]
            if bad and _package_of_module(module) != here:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports {', '.join(bad)} "
                             f"from {module}")
    return found


def _package_of_module(module: str) -> str:
    return module.rsplit(".", 1)[0]


def test_no_module_imports_another_modules_private_names() -> None:
    problems = [p for path in SOURCES for p in private_imports(path)]
    assert problems == []


def test_the_rule_catches_a_private_import(tmp_path: Path, monkeypatch) -> None:
    assert private_imports(ROOT / "harness" / "check" / "_mechanisms.py") == []  # same package
    bad = tmp_path / "harness" / "reports" / "probe.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("from harness.check._ledger import read\nfrom harness.summary import _Model\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert len(private_imports(bad)) == 2


def test_every_public_name_is_importable_from_the_package() -> None:
    for name in harness.__all__:
        assert getattr(harness, name) is not None, name
    for package in ("scenario", "record", "cluster", "apps", "drive", "check", "reports", "bench"):
        module = importlib.import_module(f"harness.{package}")
        assert module.__doc__, f"harness.{package} says what it owns"


# The order data flows in: a module may import its own package and those before it, never after.
LAYERS = ["paths|errors", "scenario", "record", "cluster", "apps", "drive", "check", "summary",
          "reports|recheck", "runner", "bench|matrix", "cli", "__main__"]
RANK = {unit: rank for rank, names in enumerate(LAYERS) for unit in names.split("|")}


def _unit(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "harness"


def harness_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``harness.*`` import in ``path``, lazy ones inside functions too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, m) for line, m in found if m.startswith("harness.")]


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_violations(paths: list[Path]) -> list[str]:
    problems = []
    for path in paths:
        me = _unit(_module_of(path))
        if me == "harness":
            continue  # the package's lazy public map names every layer
        for line, module in harness_imports(path):
            there = _unit(module)
            if there not in RANK or me not in RANK:
                problems.append(f"{path.relative_to(ROOT)}:{line}: {module} has no layer")
            elif RANK[there] > RANK[me]:
                problems.append(f"{path.relative_to(ROOT)}:{line}: {me} imports {module} "
                                f"(a later layer)")
    return problems


def import_cycles(paths: list[Path]) -> list[list[str]]:
    """Cycles between modules of the harness (strongly connected groups of two or more)."""
    graph = {_module_of(p): set() for p in paths}
    for path in paths:
        for _, module in harness_imports(path):
            target = module if module in graph else module.rsplit(".", 1)[0]
            if target in graph and target != _module_of(path):
                graph[_module_of(path)].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


LIBRARY = sorted((ROOT / "harness").rglob("*.py"))


def test_no_import_runs_against_the_order_data_flows() -> None:
    assert layer_violations(LIBRARY) == []


def test_no_import_cycle() -> None:
    assert import_cycles(LIBRARY) == []


def test_the_order_rules_catch_a_backward_import_and_a_cycle(tmp_path: Path, monkeypatch) -> None:
    pkg = tmp_path / "harness"
    (pkg / "record").mkdir(parents=True)
    back = pkg / "record" / "back.py"
    back.write_text("from harness.check import check_run\n")
    a, b = pkg / "record" / "a.py", pkg / "record" / "b.py"
    a.write_text("import harness.record.b\n")
    b.write_text("from harness.record.a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert len(layer_violations([back])) == 1
    assert import_cycles([a, b]) == [["harness.record.a", "harness.record.b"]]


def test_the_readme_layout_names_every_package_and_top_level_module() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    units = [p for p in (ROOT / "harness").iterdir()
             if (p.is_dir() and (p / "__init__.py").exists())
             or (p.suffix == ".py" and not p.name.startswith("_"))]
    missing = [p.name for p in units if f"harness/{p.name}" not in layout]
    assert missing == []
    for package in (p for p in units if p.is_dir()):
        doc = importlib.import_module(f"harness.{package.name}").__doc__
        assert doc and len(doc.split()) > 8, f"harness.{package.name} says what it owns"
