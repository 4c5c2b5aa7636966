"""Issue 11's benchmark: a 10-minute source through the realtime engine at pace 1.0 with 4
sessions, against the file engine on the same source.

    python -m benchmarks realtime
    LTB_BENCH_REALTIME_PACE=4 python -m benchmarks realtime   # faster than real time

At pace 1.0 each session streams its segment as a microphone would, so 10 minutes split
into 4 sessions cannot end before about 2.5 minutes; the figure to read is how close the
run comes to that floor. Both runs use one `ltb emulator` process; the realtime run with
the emulator's answers delayed as the provider's (--realtime-factor 1: 3 s after each
utterance), the file run at the translate benchmark's factor 0.2.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from benchmarks._measure import run_measured
from benchmarks.media_bench import CACHE, speech_recording
from benchmarks.translate_bench import API_KEY, _emulator

SPEECH_S = 10 * 60.0
SESSIONS = 4
SEGMENT_S = 150.0
FILE_FACTOR = 0.2
LTB = Path(sys.executable).parent / "ltb"


def run() -> dict[str, Any]:
    pace = float(os.environ.get("LTB_BENCH_REALTIME_PACE", "1.0"))
    source = speech_recording(SPEECH_S, seed=5)
    with (
        tempfile.TemporaryDirectory(prefix="ltb-realtime-bench-") as scratch,
        _emulator() as (url, _pid),
    ):
        httpx.post(f"{url}/_emulator/config", json={"realtime_factor": 1.0}).raise_for_status()
        realtime = _translate(
            source, url, Path(scratch), "realtime",
            {"LTB_REALTIME_PACE": str(pace), "LTB_REALTIME_SEGMENT_S": str(SEGMENT_S)},
            ["--engine", "realtime", "--source-lang", "en", "--concurrency", str(SESSIONS)],
        )  # fmt: skip
        httpx.post(f"{url}/_emulator/reset").raise_for_status()
        httpx.post(
            f"{url}/_emulator/config", json={"realtime_factor": FILE_FACTOR}
        ).raise_for_status()
        file = _translate(source, url, Path(scratch), "file", {}, ["--concurrency", str(SESSIONS)])
    floor_s = SPEECH_S / SESSIONS / pace
    return {
        "speech_min": SPEECH_S / 60,
        "pace": pace,
        "sessions": SESSIONS,
        "segment_s": SEGMENT_S,
        "parallelism_floor_s": round(floor_s, 1),
        "realtime": realtime | {"wall_over_floor": round(realtime["wall_s"] / floor_s, 2)},
        "file": file,
        "realtime_vs_file": {
            "tokens": round(realtime["total_tokens"] / max(1, file["total_tokens"]), 2),
            "cost": round(realtime["cost"] / max(1e-9, file["cost"]), 2),
        },
        "method": (
            "each run a fresh `ltb translate` child against one `ltb emulator` process; "
            f"realtime at LTB_REALTIME_PACE={pace} with the emulator's --realtime-factor 1 "
            f"(answers 3 s after each utterance), file engine at factor {FILE_FACTOR}; "
            "outputs text,srt; prices from the bundled illustrative table"
        ),
    }


def _translate(
    source: Path, url: str, scratch: Path, name: str, extra_env: dict[str, str], args: list[str]
) -> dict[str, Any]:
    out = scratch / name
    env = {
        **os.environ,
        "DASHSCOPE_API_KEY": API_KEY,
        "LTB_PROVIDER_BASE_URL": f"{url}/compatible-mode/v1",
        "LTB_REALTIME_URL": url.replace("http://", "ws://") + "/api-ws/v1/realtime",
        "LTB_HOME": str(scratch / "home"),
        **extra_env,
    }
    print(f"translating {source.name} with the {name} engine", flush=True)
    usage = run_measured(
        [str(LTB), "translate", str(source), "--target", "de", "--outputs", "text,srt",
         "--out", str(out), *args],
        env=env,
        log_path=CACHE / f"realtime-bench-{name}.log",
    )  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text()) if usage.returncode == 0 else {}
    totals = manifest.get("totals", {})
    return {
        "succeeded": usage.returncode == 0 and manifest.get("outcome") == "ok",
        "wall_s": round(usage.wall_s, 1),
        "cpu_s": round(usage.cpu_s, 1),
        "requests": totals.get("requests"),
        "sessions": totals.get("sessions"),
        "total_tokens": totals.get("total_tokens", 0),
        "by_kind": totals.get("by_kind"),
        "cost": manifest.get("cost", {}).get("amount", 0.0),
    }
