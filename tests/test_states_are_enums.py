"""States are named by their ltb/states.py enums, never spelled as strings: a status
compared, assigned or queried as a literal is a copy that a renamed or added state would
miss. The console's templates get the enums as globals (api/console/endpoints.py).

Read from the source with `ast`; a literal is flagged where it plays a state's part: in a
comparison, as a `status=`/`stage=` argument, or as the value of a "status" key.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ltb.states import BatchStatus, ChunkStatus, JobStage, JobStatus, WebhookStatus

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("api", "worker", "pipeline", "ltb")
STATES = frozenset(
    member.value
    for enum in (JobStatus, JobStage, ChunkStatus, BatchStatus, WebhookStatus)
    for member in enum
)
STATE_ARGUMENTS = frozenset({"status", "stage"})


def _state(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in STATES:
        return node.value
    return None


def literal_states(source: str) -> list[str]:
    """`line: literal` for each state spelled as a string in Python `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        candidates: list[ast.AST | None] = []
        if isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                if isinstance(operand, ast.Tuple | ast.List | ast.Set):
                    candidates += operand.elts
                else:
                    candidates.append(operand)
        elif isinstance(node, ast.keyword) and node.arg in STATE_ARGUMENTS:
            candidates.append(node.value)
        elif isinstance(node, ast.Dict):
            candidates += [
                value
                for key, value in zip(node.keys, node.values, strict=True)
                if isinstance(key, ast.Constant) and key.value in STATE_ARGUMENTS
            ]
        for candidate in candidates:
            if (state := _state(candidate)) is not None:
                found.append(f"{getattr(candidate, 'lineno', 0)}: {state!r}")
    return sorted(found, key=lambda hit: (int(hit.split(":")[0]), hit))


# In a template any quoted state is one: its text has no other use for the word.
TEMPLATE_LITERAL = re.compile("[\"'](" + "|".join(sorted(STATES)) + ")[\"']")


def test_python_names_states_by_their_enums() -> None:
    wrong = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "ltb" / "states.py":
                continue
            relative = path.relative_to(ROOT).as_posix()
            wrong += [f"{relative}:{hit}" for hit in literal_states(path.read_text("utf-8"))]
    assert wrong == []


def test_console_templates_name_states_by_their_enums() -> None:
    wrong = []
    for path in sorted((ROOT / "api" / "console" / "templates").rglob("*.html")):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            wrong += [
                f"{path.name}:{number}: {m.group(0)}" for m in TEMPLATE_LITERAL.finditer(line)
            ]
    assert wrong == []


def test_the_check_sees_a_state_spelled_as_a_string() -> None:
    source = (
        "if job.status == 'failed' or chunk.status in ('pending', 'running'):\n"
        "    finish(job, status='cancelled')\n"
        "row = {'status': 'queued', 'estimated': 'queued'}\n"
        "print('running')\n"  # prose, not a state's part
    )
    assert literal_states(source) == [
        "1: 'failed'",
        "1: 'pending'",
        "1: 'running'",
        "2: 'cancelled'",
        "3: 'queued'",
    ]
