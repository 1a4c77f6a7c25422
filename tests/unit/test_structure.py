"""The layout's rules, checked on the code: no module imports another package's private names,
and the public API is what ``harness.__all__`` says."""

from __future__ import annotations

import ast
import importlib
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


def test_the_rule_catches_a_private_import(tmp_path: Path) -> None:
    assert private_imports(ROOT / "harness" / "check" / "_mechanisms.py") == []  # same package
    bad = ROOT / "harness" / "reports" / "_probe_for_test.py"
    try:
        bad.write_text("from harness.check._ledger import read\nfrom harness.summary import _Model\n")
        assert len(private_imports(bad)) == 2
    finally:
        bad.unlink()


def test_every_public_name_is_importable_from_the_package() -> None:
    for name in harness.__all__:
        assert getattr(harness, name) is not None, name
    for package in ("scenario", "cluster", "run", "check", "reports", "bench"):
        module = importlib.import_module(f"harness.{package}")
        assert module.__doc__, f"harness.{package} says what it owns"
