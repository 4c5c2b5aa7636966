"""The package layers, as the imports draw them (docs/architecture.md, "Packages and layers").

Every import counts, at the top of a module or inside a function: a lazy import is still a
dependency. Read from the source with `ast`, so the test needs nothing installed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Which of the project's packages each package may import, besides itself.
ALLOWED: dict[str, set[str]] = {
    # The core: settings, data model, states, registries, formulas. The schema's history
    # (Alembic's migrations) belongs to the data model, and the core runs it.
    "ltb": {"migrations"},
    "migrations": {"ltb"},
    "emulator": {"ltb"},
    "pipeline": {"ltb"},
    "worker": {"ltb", "pipeline"},
    "api": {"ltb", "pipeline"},
    "cli": {"ltb", "pipeline", "worker", "api", "emulator"},
}
PROJECT = set(ALLOWED) | {"benchmarks"}

# The one deliberate exception: with no provider key, local commands and workers start the
# emulator in-process, and that choice is made in one function of the pipeline.
EXCEPTIONS = {("pipeline/provider.py", "emulator")}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & PROJECT


def crossings(package: str) -> list[str]:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for imported in imported_packages(path) - {package} - ALLOWED[package]:
            if (relative, imported) not in EXCEPTIONS:
                wrong.append(f"{relative} imports {imported}")
    return wrong


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    assert crossings(package) == []


def test_the_check_sees_a_crossing_when_there_is_one(tmp_path: Path) -> None:
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from worker.tasks import app\n    return app\n")
    assert imported_packages(module) == {"worker"}


def test_every_package_is_placed_in_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - PROJECT == set()
