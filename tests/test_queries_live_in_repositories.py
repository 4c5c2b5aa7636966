"""Every query of the workers and the API lives in a repository module of its domain
(docs/architecture.md, "How the code reads"): a step or a service reads as the journey and
calls named queries, and a query has one home to look for it.

A repository module is named `repository.py` (api/jobs/repository.py) or
`<domain>_repository.py` (worker/sweep_repository.py). Elsewhere no module builds a
statement (select, update, delete, insert, text, exists, union) nor executes one. Loading a
row by its key (session.get), adding and deleting rows stay where the unit of work is.
Read from the source with `ast`, so the test needs nothing installed.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("worker", "api")

# SQLAlchemy's statement builders, when imported from sqlalchemy.
BUILDERS = frozenset(
    {"select", "update", "delete", "insert", "text", "exists", "union", "union_all"}
)
# Methods that run a statement, whatever the object (a session or a connection).
RUNNERS = frozenset({"execute", "scalars", "scalar", "exec_driver_sql", "query"})

# Modules outside a repository that may still touch SQL, and why.
ALLOWED = {
    # A readiness probe asks the database to answer, it reads nothing of the domain.
    "api/health.py": "SELECT 1",
}


def is_repository(path: Path) -> bool:
    return path.stem == "repository" or path.stem.endswith("_repository")


def query_sites(path: Path) -> list[str]:
    """`line: what` for every statement built or run in the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    builders: set[str] = set()  # local names bound to a builder
    modules: set[str] = set()  # local names bound to the sqlalchemy package
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            builders.update(a.asname or a.name for a in node.names if a.name in BUILDERS)
        elif isinstance(node, ast.Import):
            modules.update(
                a.asname or a.name for a in node.names if a.name.split(".")[0] == "sqlalchemy"
            )
    sites = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in builders:
            sites.append(f"{node.lineno}: {func.id}(")
        elif isinstance(func, ast.Attribute):
            if func.attr in RUNNERS:
                sites.append(f"{node.lineno}: .{func.attr}(")
            elif (
                func.attr in BUILDERS
                and isinstance(func.value, ast.Name)
                and func.value.id in modules
            ):
                sites.append(f"{node.lineno}: {func.value.id}.{func.attr}(")
    return sorted(sites, key=lambda site: int(site.split(":")[0]))


def crossings() -> list[str]:
    wrong = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if is_repository(path) or relative in ALLOWED:
                continue
            wrong += [f"{relative}:{site}" for site in query_sites(path)]
    return wrong


def test_queries_live_only_in_repository_modules() -> None:
    assert crossings() == []


def test_the_check_sees_a_query_outside_a_repository(tmp_path: Path) -> None:
    module = tmp_path / "step.py"
    module.write_text(
        "import sqlalchemy as sa\n"
        "from sqlalchemy import select as pick, func\n"
        "def f(session, seen):\n"
        "    seen.update({1})\n"  # a set's update is no statement
        "    func.count()\n"
        "    session.scalars(pick(1))\n"
        "    return sa.text('SELECT 1')\n"
    )
    assert query_sites(module) == ["6: .scalars(", "6: pick(", "7: sa.text("]


def test_the_allowed_modules_still_exist() -> None:
    assert [name for name in ALLOWED if not (ROOT / name).is_file()] == []
