"""`ltb translate` parks each reply's dub in a scratch file as it arrives, so a long
file's dub is never in memory whole; assembly reads the files back one at a time and
the run removes them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ltb.pricing import load_price_book
from ltb.settings import Settings
from pipeline import run_local
from pipeline.dub.chunk_audio import PcmFile
from pipeline.estimate import TranslationRequest
from pipeline.provider import StreamedReply
from pipeline.ratelimit import LocalRateLimiter
from pipeline.translate import ChunkResult

from support.library import MediaLibrary

DUB = b"\x10\x00" * 24_000  # a second of PCM16 at 24 kHz


def test_replies_dubs_wait_on_disk_until_assembly_reads_them(
    tmp_path: Path, media: MediaLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    def answered(work: Any, **_: Any) -> ChunkResult:
        reply = StreamedReply(
            request_id="req", text="Hello.", pcm=DUB, finish_reason="stop", usage=None
        )
        return ChunkResult(reply=reply, attempts=())

    handed: list[Any] = []
    assemble = run_local.assemble_outputs

    def watched(chunks: Any, **options: Any) -> Any:
        handed.extend(chunk.audio for chunk in chunks)
        assert handed[0].read() == DUB
        assert all(isinstance(audio, PcmFile) and audio.path.is_file() for audio in handed)
        return assemble(chunks, **options)

    monkeypatch.setattr(run_local, "translate_chunk", answered)
    monkeypatch.setattr(run_local, "assemble_outputs", watched)
    settings = Settings(_env_file=None, home=tmp_path / "home", target_chunk_s=5)  # type: ignore[call-arg]
    client: Any = SimpleNamespace(
        model=settings.model, provider="emulator", base_url="http://127.0.0.1:9"
    )
    job = run_local.LocalJob(
        source=media.speech_mp3,
        request=TranslationRequest.checked(
            target_lang="en", outputs=["text", "wav"], voice="Cherry"
        ),
        out_dir=tmp_path / "out",
    )

    result = run_local.translate_file(
        job,
        settings=settings,
        client=client,
        limiter=LocalRateLimiter(rpm=100, tpm=100_000),
        price_table=load_price_book(None).current(),
    )

    assert result.outcome == "ok"
    assert len(handed) >= 2
    assert result.manifest["dub"]["segments"] == len(handed)
    assert not any(audio.path.exists() for audio in handed)  # removed after assembly
