"""Assembly writes every kind the registry marks `from_cues` from the cues it is given
(a cue edit), and every other kind from the chunks, as before."""

from __future__ import annotations

from pathlib import Path

from ltb.outputs import OUTPUTS
from ltb.states import OutputKind
from ltb.timeline import Span
from pipeline.assemble import DubSettings, TranslatedChunk, assemble_outputs
from pipeline.subtitles import Cue

DUB = DubSettings(max_speed=1.3, loudness_lufs=-23.0, true_peak_dbtp=-1.0)
CHUNK = TranslatedChunk(index=0, span=Span(0.0, 6.0), speech=(Span(0.5, 5.5),), text="Hello there.")


def test_the_subtitle_kinds_are_the_ones_written_from_cues() -> None:
    assert {kind for kind, spec in OUTPUTS.items() if spec.from_cues} >= {
        OutputKind.SRT,
        OutputKind.VTT,
    }
    assert not OUTPUTS[OutputKind.TEXT].from_cues and not OUTPUTS[OutputKind.WAV].from_cues


def test_given_cues_replace_the_built_ones_in_every_subtitle_kind(tmp_path: Path) -> None:
    (tmp_path / "built").mkdir()
    built = assemble_outputs(
        [CHUNK],
        outputs=["text", "srt", "vtt"],
        target_lang="en",
        timeline_end_s=6.0,
        out_dir=tmp_path / "built",
        no_speech=False,
        dub=DUB,
    )
    assert [c.lines for c in built.cues] == [("Hello there.",)]
    edited = [Cue(built.cues[0].start_s, built.cues[0].end_s, ("Hello, edited.",))]
    (tmp_path / "edited").mkdir()
    again = assemble_outputs(
        [CHUNK],
        outputs=["text", "srt", "vtt"],
        target_lang="en",
        timeline_end_s=6.0,
        out_dir=tmp_path / "edited",
        no_speech=False,
        dub=DUB,
        cues=edited,
    )
    assert again.cues == edited
    assert "Hello, edited." in again.paths["srt"].read_text(encoding="utf-8")
    assert "Hello, edited." in again.paths["vtt"].read_text(encoding="utf-8")
    assert again.paths["text"].read_text(encoding="utf-8") == "Hello there.\n"
