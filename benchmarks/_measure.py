"""What the benchmarks measure, and how: wall time, CPU time and peak RSS.

A figure for "the pipeline" is taken in a child process of its own, so the harness's
own memory (generated media, earlier runs) never counts against it. Peak RSS comes from
the kernel: `os.wait4` returns the rusage of that one child (and of any children it
reaped), whereas `getrusage(RUSAGE_CHILDREN)` would report the largest of every child
this process ever waited for. The child is started from a small go-between
(`benchmarks._spawn`), because Linux carries a parent's peak RSS across fork and exec.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Linux reports ru_maxrss in KiB. Figures are in decimal MB (10^6 bytes), the stricter
# reading of a "300 MB" target.
_KIB = 1024
_MB = 1_000_000


def kib_to_mb(kib: int) -> float:
    return kib * _KIB / _MB


@dataclass(frozen=True, slots=True)
class ChildUsage:
    """What the kernel measured of one child process, from start to exit."""

    returncode: int
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    def as_dict(self) -> dict[str, Any]:
        return {
            "returncode": self.returncode,
            "wall_s": round(self.wall_s, 2),
            "cpu_s": round(self.cpu_s, 2),
            "user_s": round(self.user_s, 2),
            "sys_s": round(self.sys_s, 2),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
        }


def run_measured(
    args: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    timeout_s: float = 3600.0,
) -> ChildUsage:
    """Runs `args` to completion, its output to `log_path`, and returns its usage.

    The command runs under `benchmarks._spawn`, so its peak RSS is not the harness's
    (see there). A child still running after `timeout_s` is killed with its go-between;
    its figures are then returned with a negative return code, so a hung run shows up as
    a failure, not a hang.
    """
    report = log_path.with_suffix(".usage.json")
    report.unlink(missing_ok=True)
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._spawn", str(report), *args],
            cwd=cwd,
            env=dict(env or os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: the watchdog kills both
        )
    watchdog = threading.Timer(timeout_s, os.killpg, (proc.pid, signal.SIGKILL))
    watchdog.start()
    try:
        proc.wait()
    finally:
        watchdog.cancel()
    if not report.exists():
        return ChildUsage(
            returncode=proc.returncode or -1,
            wall_s=time.monotonic() - started,
            user_s=0.0,
            sys_s=0.0,
            peak_rss_mb=0.0,
        )
    return ChildUsage(**json.loads(report.read_text()))


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + sys, its reaped children included) a live process has used so far."""
    # /proc/PID/stat: the command name may hold spaces, so count fields after its ")".
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def peak_rss_self_mb() -> float:
    """This process's peak RSS so far.

    Read from VmHWM, which belongs to this process's own address space; ru_maxrss would
    include the parent's peak, carried across exec (see benchmarks._spawn).
    """
    status = Path("/proc/self/status").read_text().splitlines()
    line = next(line for line in status if line.startswith("VmHWM:"))
    return kib_to_mb(int(line.split()[1]))


@dataclass(slots=True)
class StageTime:
    wall_s: float = 0.0
    cpu_s: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"wall_s": round(self.wall_s, 4), "cpu_s": round(self.cpu_s, 4)}


@contextmanager
def timed() -> Iterator[StageTime]:
    """Times the block: wall seconds and this process's CPU seconds (user + sys, all threads)."""
    stage = StageTime()
    wall_start, cpu_start = time.monotonic(), time.process_time()
    try:
        yield stage
    finally:
        stage.wall_s = time.monotonic() - wall_start
        stage.cpu_s = time.process_time() - cpu_start


def pin_to_one_core() -> int:
    """Pins this process (and the threads it starts later) to one CPU; returns which.

    Called before numpy, PyAV or OpenCV load, so their thread pools see a single core and
    "on one core" is what the kernel enforces, not what we hope.
    """
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core
