"""Issue 4's benchmark: 30 minutes of speech through `ltb translate` against the emulator
at real-time factor 0.2, with --concurrency 1, 4 and 8.

    python -m benchmarks translate

The emulator runs as its own process; each `ltb translate` is a child measured by the
kernel, so its CPU seconds are the service's own: waiting on the provider is idle time
and costs none.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks._measure import ROOT, process_cpu_s, run_measured
from benchmarks.media_bench import CACHE, speech_recording
from ltb.settings import get_settings

SPEECH_S = 30 * 60.0
REALTIME_FACTOR = 0.2
CONCURRENCY = (1, 4, 8)
OUTPUTS = "text,srt,vtt,wav"
# The default plan sends a dub job in chunks of about 3 minutes (~10 requests here);
# chunks of at most 60 s, cut in pauses, make ~40, enough for 8 workers to share.
TARGET_CHUNK_S = 60
# The emulator's defaults, which are the provider's account quota.
QUOTA_RPM, QUOTA_TPM = 100, 100_000
API_KEY = "bench"
LTB = Path(sys.executable).parent / "ltb"


def run() -> dict[str, Any]:
    source = speech_recording(SPEECH_S, seed=3)
    runs: dict[str, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="ltb-translate-bench-") as scratch,
        _emulator() as (url, emulator_pid),
    ):
        for concurrency in CONCURRENCY:
            print(f"translating {source.name} with --concurrency {concurrency}", flush=True)
            httpx.post(f"{url}/_emulator/reset").raise_for_status()
            emulator_cpu_s = process_cpu_s(emulator_pid)
            figures = _translate(source, concurrency, url=url, scratch=Path(scratch))
            emulator_cpu_s = process_cpu_s(emulator_pid) - emulator_cpu_s
            # The emulator shares this machine's cores; with both busy, more concurrency
            # cannot shorten the run, so say how close to saturation it was.
            figures["emulator_cpu_s"] = round(emulator_cpu_s, 1)
            figures["machine_cpu_busy"] = round(
                (figures["cpu_s"] + emulator_cpu_s) / (figures["wall_s"] * (os.cpu_count() or 1)),
                2,
            )
            ledger = httpx.get(f"{url}/_emulator/ledger").json()
            figures["quota"] = _quota_use(ledger["entries"])
            figures["books_balance"] = figures.pop("billed_tokens") == ledger["totals"]["total"]
            runs[str(concurrency)] = figures
    serial_wall_s = runs["1"]["wall_s"]
    for figures in runs.values():
        figures["speedup"] = round(serial_wall_s / figures["wall_s"], 2)
    return {
        "speech_min": SPEECH_S / 60,
        "realtime_factor": REALTIME_FACTOR,
        "source": f"{source.name}: mp3, 16 kHz mono, 32 kbit/s",
        "outputs": OUTPUTS,
        "target_chunk_s": TARGET_CHUNK_S,
        "cpus": os.cpu_count(),
        "runs": runs,
        "quota_binding": any(r["quota"]["binding"] for r in runs.values()),
        "method": (
            "each run a fresh `ltb translate` child against one `ltb emulator` process "
            f"(LTB_TARGET_CHUNK_S={TARGET_CHUNK_S}); CPU is the child's user+sys from wait4, "
            "so provider waits (idle) are excluded; the emulator's CPU (from /proc) is reported "
            "apart; machine_cpu_busy = (translate + emulator CPU) / (wall x cpus); "
            "peak RSS in 10^6 bytes"
        ),
    }


def _translate(source: Path, concurrency: int, *, url: str, scratch: Path) -> dict[str, Any]:
    out = scratch / f"c{concurrency}"
    env = {
        **os.environ,
        "DASHSCOPE_API_KEY": API_KEY,
        "LTB_PROVIDER_BASE_URL": f"{url}/compatible-mode/v1",
        "LTB_TARGET_CHUNK_S": str(TARGET_CHUNK_S),
        "LTB_HOME": str(scratch / "home"),  # keep clear of the checkout's own .ltb state
    }
    args = [str(LTB), "translate", str(source), "--target", "en", "--outputs", OUTPUTS]
    usage = run_measured(
        [*args, "--concurrency", str(concurrency), "--out", str(out)],
        env=env,
        log_path=CACHE / f"translate-c{concurrency}.log",
    )
    manifest = json.loads((out / "manifest.json").read_text()) if usage.returncode == 0 else {}
    media_min = SPEECH_S / 60
    return {
        "succeeded": usage.returncode == 0 and manifest.get("outcome") == "ok",
        "wall_s": round(usage.wall_s, 1),
        "cpu_s": round(usage.cpu_s, 1),
        "cpu_s_per_media_min": round(usage.cpu_s / media_min, 2),
        "peak_rss_mb": round(usage.peak_rss_mb, 1),
        "chunks": len(manifest.get("chunks", [])),
        "requests": manifest.get("totals", {}).get("requests"),
        "billed_tokens": manifest.get("totals", {}).get("total_tokens"),
        "process": usage.as_dict(),
    }


def _quota_use(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The busiest 60 s of the ledger (by when each request ended) against the quota."""
    ended = sorted((e["created_at"], e["usage"].get("total_tokens", 0)) for e in entries)
    peak_requests = peak_tokens = 0
    first = 0
    tokens_in_window = 0
    for last, (end_s, tokens) in enumerate(ended):
        tokens_in_window += tokens
        while ended[first][0] <= end_s - 60.0:
            tokens_in_window -= ended[first][1]
            first += 1
        peak_requests = max(peak_requests, last - first + 1)
        peak_tokens = max(peak_tokens, tokens_in_window)
    refused = sum(1 for e in entries if e["status"] == 429)
    # The client's limiter admits up to this share of the quota, so it would bind first.
    headroom = get_settings().quota_headroom
    return {
        "rpm": QUOTA_RPM,
        "tpm": QUOTA_TPM,
        "peak_requests_per_min": peak_requests,
        "peak_tokens_per_min": peak_tokens,
        "refused_429": refused,
        "client_limiter_headroom": headroom,
        "binding": refused > 0
        or peak_requests >= QUOTA_RPM * headroom
        or peak_tokens >= QUOTA_TPM * headroom,
    }


@contextmanager
def _emulator() -> Iterator[tuple[str, int]]:
    """`ltb emulator` as its own process, ready when its health endpoint answers."""
    # The test suite's helpers start, wait for and stop real processes; reuse them.
    sys.path.insert(0, str(ROOT / "tests"))
    from support.processes import free_port, running

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = CACHE / "translate-emulator.log"
    log.unlink(missing_ok=True)
    args = [str(LTB), "emulator", "--port", str(port), "--api-key", API_KEY]
    with running(
        [*args, "--realtime-factor", str(REALTIME_FACTOR)],
        ready_url=f"{url}/_emulator/health",
        log_path=log,
    ) as process:
        yield url, process.pid
