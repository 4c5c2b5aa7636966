"""Runs one command and reports the kernel's figures for it, from a process that is small.

Why a go-between: Linux carries a process's peak RSS across exec, and Python starts its
children with vfork, so a child of the benchmark harness would inherit the harness's own
peak (hundreds of MB of generated media) as its "peak RSS". Started from this small
process instead, the command's peak is its own.

    python -m benchmarks._spawn REPORT.json COMMAND [ARG...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from benchmarks._measure import ChildUsage, kib_to_mb


def main(report: Path, args: list[str]) -> int:
    started = time.monotonic()
    proc = subprocess.Popen(args)
    # wait4 rather than proc.wait(): it is the only call that yields this child's rusage.
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it has been reaped
    figures = ChildUsage(
        returncode=proc.returncode,
        wall_s=time.monotonic() - started,
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
        peak_rss_mb=kib_to_mb(usage.ru_maxrss),
    )
    report.write_text(json.dumps(asdict(figures)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]), sys.argv[2:]))
