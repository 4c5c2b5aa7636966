"""Checks shared by the translate tests."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltb.usage import TOKEN_KINDS

from support.emulator import Emulator

LTB = str(Path(sys.executable).parent / "ltb")


@dataclass(frozen=True)
class Run:
    status: int
    stdout: str
    stderr: str
    out: Path

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.out / "manifest.json").read_text(encoding="utf-8"))


def translate(
    emulator: Emulator,
    source: Path,
    out: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout_s: float = 600,
) -> Run:
    """Runs `ltb translate` as a user would, pointed at `emulator` as the provider."""
    environment = {
        **os.environ,
        "DASHSCOPE_API_KEY": emulator.api_key,
        "LTB_PROVIDER_BASE_URL": emulator.base_url,
        # Quick retries: the faults are injected, so waiting long proves nothing.
        "LTB_PROVIDER_BACKOFF_BASE_S": "0.05",
        "LTB_PROVIDER_BACKOFF_MAX_S": "0.5",
        "LTB_PROVIDER_MAX_ATTEMPTS": "10",
        **(env or {}),
    }
    done = subprocess.run(
        [LTB, "translate", str(source), "--out", str(out), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout_s,
    )
    return Run(done.returncode, done.stdout, done.stderr, out)


_USAGE_TO_KIND = {
    ("prompt_tokens_details", "audio_tokens"): "input_audio",
    ("prompt_tokens_details", "video_tokens"): "input_video",
    ("prompt_tokens_details", "text_tokens"): "input_text",
    ("completion_tokens_details", "text_tokens"): "output_text",
    ("completion_tokens_details", "audio_tokens"): "output_audio",
}


def ledger_kinds(entry: dict[str, Any]) -> dict[str, int]:
    """A ledger entry's billed usage, by token kind."""
    usage = entry.get("usage") or {}
    kinds = dict.fromkeys(TOKEN_KINDS, 0)
    for (group, field), kind in _USAGE_TO_KIND.items():
        kinds[kind] += int((usage.get(group) or {}).get(field) or 0)
    return kinds


def billed_kinds(ledger: list[dict[str, Any]]) -> dict[str, int]:
    totals = dict.fromkeys(TOKEN_KINDS, 0)
    for entry in ledger:
        for kind, value in ledger_kinds(entry).items():
            totals[kind] += value
    return totals


def assert_books_balance(manifest: dict[str, Any], ledger: list[dict[str, Any]]) -> None:
    """Every billed request is in the manifest; reported usage matches exactly; estimated
    usage (streams cut before their usage chunk) is never below what was billed; and the
    manifest's totals are the sums of its records."""
    records = manifest["requests"]
    by_id = {r["request_id"]: r for r in records if r["request_id"]}
    by_record = {r["id"]: r for r in records}
    for entry in ledger:
        # Matched by the provider's request id, or, when the client died before reading
        # the response, by the id it sent (X-Client-Request-Id: the usage record's id).
        record = by_id.get(entry["request_id"]) or by_record.get(
            entry.get("client_request_id") or ""
        )
        assert record is not None, (
            f"billed request {entry['request_id']} is missing from the manifest"
        )
        billed = ledger_kinds(entry)
        if record["estimated"]:
            assert all(record["usage"][k] >= billed[k] for k in TOKEN_KINDS), (record, entry)
        else:
            assert record["usage"] == billed, (record, entry)
    sums = {k: sum(r["usage"][k] for r in records) for k in TOKEN_KINDS}
    assert manifest["totals"]["by_kind"] == sums
    assert manifest["totals"]["requests"] == len(records)
    # Each chunk's billed tokens are its records' sums, and the chunks add up to the total.
    chunk_sums = {k: sum(c["tokens_billed"][k] for c in manifest["chunks"]) for k in TOKEN_KINDS}
    assert chunk_sums == sums


_SRT_CUE = re.compile(
    r"(?P<n>[1-9][0-9]*)\n"
    r"(?P<a>\d\d):(?P<b>[0-5]\d):(?P<c>[0-5]\d),(?P<d>\d{3}) --> "
    r"(?P<e>\d\d):(?P<f>[0-5]\d):(?P<g>[0-5]\d),(?P<h>\d{3})\n"
    r"(?P<text>[^\n]+(?:\n[^\n]+)?)\n"
)


def read_srt_strictly(raw: bytes) -> list[tuple[float, float, list[str]]]:
    """Parses SRT the strict way docs/architecture.md ("Outputs") states it, failing on any deviation."""
    text = raw.decode("utf-8")
    assert "\r" not in text, "LF line endings only"
    if not text:
        return []
    assert text.endswith("\n") and not text.endswith("\n\n"), (
        "the last cue ends with one LF, no blank line"
    )
    blocks = text[:-1].split("\n\n")
    cues: list[tuple[float, float, list[str]]] = []
    for number, block in enumerate(blocks, start=1):
        match = _SRT_CUE.fullmatch(block + "\n")
        assert match, f"malformed cue {number}: {block!r}"
        assert int(match["n"]) == number, "cues are numbered from 1 without gaps"
        g = match.groupdict()
        start = int(g["a"]) * 3600 + int(g["b"]) * 60 + int(g["c"]) + int(g["d"]) / 1000
        end = int(g["e"]) * 3600 + int(g["f"]) * 60 + int(g["g"]) + int(g["h"]) / 1000
        lines = g["text"].split("\n")
        assert all(line.strip() for line in lines), "no blank text lines"
        assert end > start
        cues.append((start, end, lines))
    for (_, end, _), (start, _, _) in itertools.pairwise(cues):
        assert start >= end, "cues are sorted and never overlap"
    return cues
