"""Scratch files that killed workers left behind are removed, at worker start-up and by
the reaper, once they are older than any task can live; a live task's files stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

from job_support import MakeContext

from worker.cleanup import sweep_scratch
from worker.reaper import reap


def _make(path: Path, *, age_s: float, folder: bool = False) -> Path:
    if folder:
        path.mkdir(parents=True)
        (path / "payload.mp3").write_bytes(b"x")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    moment = time.time() - age_s
    os.utime(path, (moment, moment))
    return path


def _layout(scratch: Path, objects: Path, *, age_s: float) -> dict[str, list[Path]]:
    old = age_s + 60
    return {
        "leftovers": [
            _make(scratch / "sources" / ".download-0a1b", age_s=old),
            _make(scratch / "sources" / "..download-0a1b.x7y.part", age_s=old),
            _make(scratch / "payloads" / "5f0c", age_s=old, folder=True),
            _make(scratch / "finalize-9d2e-abc", age_s=old, folder=True),
            _make(objects / ".partial" / ".talk.mp3.q1w2.part", age_s=old),
        ],
        "kept": [
            # A cached source and its lock, however old, and a live task's files.
            _make(scratch / "sources" / ("ab" * 32), age_s=old),
            _make(scratch / "sources" / "0123.lock", age_s=old),
            _make(scratch / "sources" / ".download-live", age_s=1),
            _make(scratch / "payloads" / "live", age_s=1, folder=True),
            _make(objects / "ltb-outputs" / "acme" / "out.txt", age_s=old),
        ],
    }


def test_the_reaper_removes_old_leftovers_and_keeps_everything_else(
    make_ctx: MakeContext, tmp_path: Path
) -> None:
    ctx = make_ctx(task_soft_time_limit_s=60, task_time_limit_s=120)
    files = _layout(ctx.settings.scratch_dir, ctx.settings.storage_root, age_s=120)

    reap(ctx)

    assert [p for p in files["leftovers"] if p.exists()] == []
    assert [p for p in files["kept"] if not p.exists()] == []


def test_a_sweep_at_start_up_removes_the_same(make_ctx: MakeContext) -> None:
    settings = make_ctx(task_soft_time_limit_s=60, task_time_limit_s=120).settings
    files = _layout(settings.scratch_dir, settings.storage_root, age_s=120)

    assert sweep_scratch(settings) == len(files["leftovers"])

    assert [p for p in files["leftovers"] if p.exists()] == []
    assert [p for p in files["kept"] if not p.exists()] == []
