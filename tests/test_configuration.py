"""Every setting is documented in .env.example, and nothing documented is unknown."""

from __future__ import annotations

import re
from pathlib import Path

from ltb.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def _documented() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


def _variable(field: str) -> str:
    return "DASHSCOPE_API_KEY" if field == "dashscope_api_key" else f"LTB_{field.upper()}"


def test_env_example_documents_every_setting_and_only_those() -> None:
    expected = {_variable(name) for name in Settings.model_fields}
    assert _documented() == expected


def test_env_example_shows_the_defaults(monkeypatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("LTB_") or name == "DASHSCOPE_API_KEY":
            monkeypatch.delenv(name)
    defaults = Settings(_env_file=None).model_dump()
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            monkeypatch.setenv(match.group(1), match.group(2))
    assert Settings(_env_file=None).model_dump() == defaults


def test_the_work_prefix_follows_the_output_bucket_unless_it_is_set(monkeypatch) -> None:
    for name in ("LTB_WORK_PREFIX", "LTB_OUTPUT_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    assert Settings(_env_file=None, output_bucket="outputs").work_prefix == "s3://outputs/_work/"
    monkeypatch.setenv("LTB_OUTPUT_BUCKET", "outputs")
    monkeypatch.setenv("LTB_WORK_PREFIX", "")  # a copied .env.example leaves it blank
    assert Settings(_env_file=None).work_prefix == "s3://outputs/_work/"
    monkeypatch.setenv("LTB_WORK_PREFIX", "s3://scratch/ltb/")
    assert Settings(_env_file=None).work_prefix == "s3://scratch/ltb/"


def test_a_killed_workers_chunk_is_taken_over_within_two_minutes_by_default(monkeypatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("LTB_"):
            monkeypatch.delenv(name)
    settings = Settings(_env_file=None)
    # The lease runs out, then the next reaper sweep hands the chunk out again.
    assert settings.chunk_lease_s + settings.reaper_interval_s <= 120
