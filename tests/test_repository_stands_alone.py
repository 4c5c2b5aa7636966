"""A clone is all a newcomer has: nothing in it may send the reader to a file outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Spelled in pieces so that this file does not match itself.
OUTSIDE = re.compile(
    "|".join(re.escape(name) for name in ("DESIGN" + ".md", "STYLE" + ".md", "../" + "shared"))
)


def test_no_tracked_file_points_outside_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    offenders = []
    for name in filter(None, tracked):
        path = ROOT / name.decode()
        if not path.is_file() or path.suffix in {".mp4", ".flac", ".wav"}:
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        offenders += [
            f"{name.decode()}:{number}"
            for number, line in enumerate(text.splitlines(), 1)
            if OUTSIDE.search(line)
        ]
    assert offenders == []
