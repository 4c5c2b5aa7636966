"""Runs the benchmarks and writes their figures to bench-results.json at the repository root.

    python -m benchmarks                 # all of them
    python -m benchmarks media memory    # some of them, merged into the existing file
    python -m benchmarks api_latency     # on demand only: POST latency and its profile
    python -m benchmarks chaos           # the chaos suite alone (also: make chaos)

Each module exposes `run() -> dict`; its figures go under its own key, except the
fleet benchmark's, which are written at the top level as the issue specifies.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench-results.json"
SUITES = {
    "media": "benchmarks.media_bench",
    "translate": "benchmarks.translate_bench",
    "fleet": "benchmarks.fleet_bench",
    "chaos": "benchmarks.chaos_bench",
    "memory": "benchmarks.memory_bench",
    "deliverables": "benchmarks.deliverables_bench",
    "fairness": "benchmarks.fairness_bench",
    "long_file": "benchmarks.long_file_bench",
    "api_latency": "benchmarks.api_latency_bench",
    "realtime": "benchmarks.realtime_bench",
}
# Figures these suites produce are written at the top level of the file.
TOP_LEVEL = {"fleet"}
# Run only when named: the fleet suite already takes api_latency's three runs, this one
# takes them (and the POST profile) on its own in a few minutes.
ON_DEMAND = {"api_latency"}


def machine() -> dict[str, Any]:
    import os

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }


def main(names: list[str]) -> None:
    chosen = names or [name for name in SUITES if name not in ON_DEMAND]
    unknown = [name for name in chosen if name not in SUITES]
    if unknown:
        raise SystemExit(f"unknown benchmark {unknown}; choose from {', '.join(SUITES)}")
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in chosen:
        print(f"== {name}", flush=True)
        started = time.monotonic()
        figures = importlib.import_module(SUITES[name]).run()
        figures["wall_s"] = round(time.monotonic() - started, 1)
        if name in TOP_LEVEL:
            results.update(figures)
        else:
            results[name] = figures
        results["machine"] = machine()
        results["written_at"] = datetime.now(UTC).isoformat()
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(figures, indent=2), flush=True)
    print(f"figures written to {RESULTS}")


if __name__ == "__main__":
    main(sys.argv[1:])
