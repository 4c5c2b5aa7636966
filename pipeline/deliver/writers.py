"""The deliverables' writers: TTML subtitles, the dub mix as WAV, and the dubbed video.

They share one dub mix (Assembly.mix_file): asking for mix.wav, an MP4 and an MKV mixes
once. The mix is what the videos carry as their default audio track and what mix.wav
holds; dub.wav keeps meaning the dub alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import soundfile

from pipeline.assembly import Assembly, Written, dub_warnings
from pipeline.deliver.mix import MixReport
from pipeline.deliver.mux import Container, mux_dubbed_video
from pipeline.subtitles.ttml import write_ttml

# A RIFF WAV counts its size in 32 bits: a longer mix is written as RF64 (EBU Tech 3306),
# which every broadcast tool reads and which is a WAV up to that size.
_WAV_LIMIT_BYTES = 2**32 - 1024
_BLOCK_FRAMES = 65_536


def write_ttml_file(assembly: Assembly, path: Path) -> Written:
    """subtitles.ttml: the same cues as the SRT, as an IMSC 1.1 Text document."""
    frame_size = assembly.source.frame_size if assembly.source else None
    document = write_ttml(assembly.cues(), lang=assembly.target_lang, frame_size=frame_size)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(document)
    return Written()


def write_mix_wav(assembly: Assembly, path: Path) -> Written:
    """mix.wav: the dub mix, 48 kHz 24-bit, streamed from the mix in blocks."""
    flac, report = assembly.mix_file()
    partial = path.with_name(path.name + ".partial")
    with soundfile.SoundFile(flac) as mixed:
        size = mixed.frames * mixed.channels * 3
        with soundfile.SoundFile(
            partial,
            mode="w",
            samplerate=mixed.samplerate,
            channels=mixed.channels,
            subtype="PCM_24",
            format="WAV" if size < _WAV_LIMIT_BYTES else "RF64",
        ) as wav:
            for block in mixed.blocks(blocksize=_BLOCK_FRAMES, dtype="int32", always_2d=True):
                wav.write(block)
    os.replace(partial, path)
    return _with_dub(assembly, report)


def write_mp4(assembly: Assembly, path: Path) -> Written:
    return _video(assembly, path, container="mp4")


def write_mkv(assembly: Assembly, path: Path) -> Written:
    return _video(assembly, path, container="mkv")


def _video(assembly: Assembly, path: Path, *, container: Container) -> Written:
    """The source's picture copied, the dub mix as the default audio, soft subtitles."""
    if assembly.source is None:
        raise ValueError("a dubbed video needs the source")
    source = assembly.source.path()
    flac, report = assembly.mix_file()
    mux_dubbed_video(
        source=source,
        dub_mix=flac,
        out_path=path,
        container=container,
        target_lang=assembly.target_lang,
        source_lang=assembly.source.lang,
        target_cues=assembly.cues(),
        source_cues=assembly.source_cues,
    )
    return _with_dub(assembly, report)


def _with_dub(assembly: Assembly, mix: MixReport) -> Written:
    # The mix carries the dub: its placements and warnings reach the manifest even when
    # dub.wav is not asked for.
    _, dub = assembly.dub_file()
    return Written(dub=dub, mix=mix, warnings=dub_warnings(dub))
