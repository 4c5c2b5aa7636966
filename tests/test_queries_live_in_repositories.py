"""Every query lives in a repository module of its domain (docs/architecture.md, "How
the code reads"): a step, a service or a core module reads as the journey and calls named
queries, and a query has one home to look for it.

A repository module is named `repository.py` (api/jobs/repository.py) or
`<domain>_repository.py` (worker/sweep_repository.py, ltb/lifecycle_repository.py).
Elsewhere no module builds a statement (select, update, delete, insert, text, exists,
union) nor executes one. Loading a row by its key (session.get), adding and deleting rows
stay where the unit of work is. Read from the source with `ast`, so the test needs nothing
installed.

Every package is read but migrations/: a migration is a script of SQL run once, in order,
against the schema of its day, so it cannot call the repositories of today's models.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ltb", "pipeline", "worker", "api", "cli", "emulator")

# SQLAlchemy's statement builders, when imported from sqlalchemy.
BUILDERS = frozenset(
    {"select", "update", "delete", "insert", "text", "exists", "union", "union_all"}
)
# Methods that run a statement, whatever the object (a session or a connection).
RUNNERS = frozenset({"execute", "scalars", "scalar", "exec_driver_sql", "query"})

# Modules outside a repository that may still touch SQL: which kinds of site, and why.
ALLOWED: dict[str, tuple[frozenset[str], str]] = {
    "api/health.py": (
        frozenset({"text(", ".execute("}),
        "a readiness probe asks the database to answer SELECT 1; it reads nothing of the domain",
    ),
    "ltb/db/engine.py": (
        frozenset({".execute("}),
        "session plumbing: PRAGMAs set on each new SQLite connection, before any query",
    ),
    "ltb/db/models.py": (
        frozenset({"text("}),
        "the predicate of a partial index is part of the schema, not a query",
    ),
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


def crossings(root: Path = ROOT) -> list[str]:
    wrong = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if is_repository(path):
                continue
            relative = path.relative_to(root).as_posix()
            allowed, _why = ALLOWED.get(relative, (frozenset(), ""))
            wrong += [
                f"{relative}:{site}"
                for site in query_sites(path)
                if site.split(": ", 1)[1] not in allowed
            ]
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


def test_an_allowance_covers_only_its_kind_of_site(tmp_path: Path) -> None:
    models = tmp_path / "ltb" / "db" / "models.py"
    models.parent.mkdir(parents=True)
    models.write_text(
        "from sqlalchemy import text\n"
        "WHERE = text(\"status = 'done'\")\n"
        "def count(session):\n"
        "    return session.scalar(text('SELECT count(*) FROM jobs'))\n"
    )
    (tmp_path / "ltb" / "lifecycle_repository.py").write_text(
        "def end(session, statement):\n    return session.execute(statement)\n"
    )
    # models.py may build text() (an index's predicate), never run a statement.
    assert crossings(tmp_path) == ["ltb/db/models.py:4: .scalar("]


def test_the_allowed_modules_still_exist() -> None:
    assert [name for name in ALLOWED if not (ROOT / name).is_file()] == []
