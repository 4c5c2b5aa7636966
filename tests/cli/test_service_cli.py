"""The service's process commands refuse a configuration they cannot run safely."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LTB = str(Path(sys.executable).parent / "ltb")


def test_a_production_worker_refuses_to_start_without_a_provider_key(tmp_path: Path) -> None:
    # Without a key the worker would serve every job from the emulator's placeholders.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DASHSCOPE_API_KEY", "LTB_DASHSCOPE_API_KEY")
    } | {"LTB_PROFILE": "production", "LTB_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [LTB, "worker"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # no .env file to read a key from
        timeout=60,
    )
    assert done.returncode == 2
    assert "provider_key_missing" in done.stderr
    assert "DASHSCOPE_API_KEY" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_production_translate_refuses_to_fall_back_to_the_emulator(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DASHSCOPE_API_KEY", "LTB_DASHSCOPE_API_KEY")
    } | {"LTB_PROFILE": "production"}
    source = Path(__file__).parents[2] / "ltb" / "data" / "demo-sample.mp4"
    done = subprocess.run(
        [LTB, "translate", str(source), "--target", "en", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2
    assert "provider_key_missing" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "manifest.json").exists()
