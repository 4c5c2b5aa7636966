"""Issue 13's benchmark: peak RSS of assembling all four outputs, dub included, for a
2-hour source, the way `ltb translate` does it and the way the worker's finalize step does.

    python -m benchmarks memory

The source is the media suite's 2-hour speech recording, analysed and planned for a dub
with the defaults users get. Each chunk's dub is what the emulator answers for it (its
tone voice, as long as the chunk's speech times the emulator's dub factor), stored as raw
PCM16 where the worker keeps chunk audio. The provider is not called: what is measured is
assembly, the stage whose memory grew with the length of the dub.

Each caller runs in a fresh child pinned to one core:
- cli: each chunk's dub spilled to a scratch file as `ltb translate` spills its replies,
  then `assemble_outputs`, which reads them back one at a time;
- worker: each chunk's dub stored in a chunk_audio row (an SQLite file standing in for
  Postgres), then the finalize step's own readers and `assemble_outputs`, as
  `finalize_job` does;
- render: the dub alone, each chunk's audio read from the store only when its segment is
  stretched: what `render_dub` itself costs once no caller holds every chunk's audio.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from benchmarks._measure import peak_rss_self_mb, pin_to_one_core, run_measured, timed
from benchmarks.media_bench import AUDIO_S, CACHE, speech_recording

TARGETS = {"peak_rss_mb": 300}
OUTPUTS = ("text", "srt", "vtt", "wav")
WORK = CACHE / "memory"
BUCKET = "ltb-outputs"
CALLERS = ("cli", "worker", "render")
TEXT = "A translated sentence of about the usual length for a few seconds of speech. "


def run() -> dict[str, Any]:
    source = speech_recording(AUDIO_S)
    layout = _chunk_layout(source)
    figures = {caller: _measure(caller, layout) for caller in CALLERS}
    dub_s = sum(chunk["dub_samples"] for chunk in layout["chunks"]) / 24_000
    return {
        # Issue 13's figure: the worker's and the CLI's, the render alone for comparison.
        "dub_2h_peak_rss_mb": {caller: f["peak_rss_mb"] for caller, f in figures.items()},
        "source": f"{source.name}: {AUDIO_S / 3600:.0f} h, mp3, 16 kHz mono",
        "chunks": len(layout["chunks"]),
        "dubbed_min": round(dub_s / 60, 1),
        "chunk_audio_mb": round(dub_s * 24_000 * 2 / 1e6, 1),
        "runs": figures,
        "targets": TARGETS,
        "targets_met": {
            caller: f["peak_rss_mb"] < TARGETS["peak_rss_mb"] for caller, f in figures.items()
        },
        "method": (
            "each caller in a fresh child pinned to one core (sched_setaffinity); peak RSS from "
            "wait4 of the child, in 10^6 bytes, interpreter start-up and imports included; "
            "chunk_audio_mb is the dub PCM the chunks hold between them"
        ),
    }


def _chunk_layout(source: Path) -> dict[str, Any]:
    """Plans the source for a dub and stores each chunk's emulated dub; cached on disk."""
    layout_path = WORK / f"{source.stem}.layout.json"
    if layout_path.exists():
        layout: dict[str, Any] = json.loads(layout_path.read_text())
        stored = Path(layout["store_root"]) / BUCKET
        if all((stored / c["audio_uri"].split("/", 3)[3]).exists() for c in layout["chunks"]):
            return layout
    print(f"planning {source.name} and storing its chunks' dubs", flush=True)
    from emulator.config import EmulatorConfig
    from emulator.dub import dub_samples, tone_voice
    from ltb.settings import get_settings
    from pipeline.analysis import analyse_source, media_limits
    from pipeline.estimate import TranslationRequest, plan_options, plan_source

    settings = get_settings()
    analysis = analyse_source(source, limits=media_limits(settings))
    request = TranslationRequest.checked(target_lang="en", outputs=OUTPUTS, visual_context=False)
    plan = plan_source(analysis, plan_options(settings, request, url_delivery=False))
    factor = EmulatorConfig().dub_factor
    store_root = WORK / "objects"
    shutil.rmtree(store_root, ignore_errors=True)
    (store_root / BUCKET / "chunks").mkdir(parents=True)
    chunks = []
    for chunk in plan.chunks:
        if chunk.silent:
            continue
        samples = dub_samples(chunk.speech_s, factor)
        key = f"chunks/chunk-{chunk.index}.pcm"
        (store_root / BUCKET / key).write_bytes(
            tone_voice(samples, seed=str(chunk.index)).astype("<i2").tobytes()
        )
        chunks.append(
            {
                "index": chunk.index,
                "span": [chunk.span.start_s, chunk.span.end_s],
                "speech": [[s.start_s, s.end_s] for s in chunk.speech],
                "audio_uri": f"s3://{BUCKET}/{key}",
                "dub_samples": samples,
            }
        )
    layout = {
        "duration_s": analysis.duration_s,
        "store_root": str(store_root),
        "chunks": chunks,
    }
    layout_path.write_text(json.dumps(layout))
    return layout


def _measure(caller: str, layout: dict[str, Any]) -> dict[str, Any]:
    print(f"assembling as the {caller}", flush=True)
    layout_path = WORK / "layout.json"
    layout_path.write_text(json.dumps(layout))
    out_dir = WORK / f"out-{caller}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    env = {**os.environ, "LTB_HOME": str(WORK / f"home-{caller}")}
    env.pop("LTB_TARGET_CHUNK_S", None)
    log = WORK / f"assemble-{caller}.log"
    usage = run_measured(
        [sys.executable, "-m", "benchmarks.memory_bench", caller, str(layout_path), str(out_dir)],
        log_path=log,
        env=env,
    )
    if usage.returncode != 0:
        raise RuntimeError(f"assembling as the {caller} failed; see {log}")
    child = json.loads(log.read_text().strip().splitlines()[-1])
    shutil.rmtree(out_dir, ignore_errors=True)  # a 2-hour dub.wav is 345 MB
    return {
        "peak_rss_mb": round(usage.peak_rss_mb, 1),
        "rss_after_imports_mb": child["rss_after_imports_mb"],
        "assemble": child["assemble"],
        "dub": child["dub"],
        "process": usage.as_dict(),
        "core": child["core"],
    }


def _assemble_in_child(caller: str, layout_path: Path, out_dir: Path) -> None:
    """The child's side: pin, import, gather the chunks as `caller` does, assemble."""
    core = pin_to_one_core()
    # What assembly imports, loaded before the baseline is read.
    from ltb.settings import get_settings
    from ltb.storage import LocalStore

    if caller == "worker":
        import worker.tasks  # noqa: F401  (what a worker process has loaded)
    elif caller == "cli":
        import cli.translate_cmd  # noqa: F401  (what `ltb translate` has loaded)

    layout = json.loads(layout_path.read_text())
    rss_after_imports_mb = peak_rss_self_mb()
    settings = get_settings()
    store = LocalStore(Path(layout["store_root"]))
    with timed() as assemble_time:
        if caller == "render":
            dub = _render_streaming(layout, store, out_dir, settings)
        else:
            dub = _assemble(caller, layout, store, out_dir, settings)
    figures = {
        "core": core,
        "rss_after_imports_mb": round(rss_after_imports_mb, 1),
        "assemble": assemble_time.as_dict(),
        "dub": {
            "duration_s": dub.duration_s,
            "loudness_lufs": dub.loudness_lufs,
            "true_peak_dbtp": dub.true_peak_dbtp,
            "gain_db": round(dub.gain_db, 3),
            "limiter_reduction_db": round(dub.limiter_reduction_db, 3),
            "placements": len(dub.placements),
        },
    }
    print(json.dumps(figures))


def _assemble(caller: str, layout: dict[str, Any], store: Any, out_dir: Path, settings: Any) -> Any:
    """All four outputs from the chunks, gathered as `caller` gathers them."""
    from pipeline.assemble import DubSettings, assemble_outputs

    if caller == "cli":
        translated = _spill_as_the_cli(layout, store, out_dir / ".ltb" / "dub")
    else:
        translated = _read_as_the_worker(layout, store, out_dir / "chunk-audio.sqlite")
    assembled = assemble_outputs(
        translated,
        outputs=OUTPUTS,
        target_lang="en",
        timeline_end_s=layout["duration_s"],
        out_dir=out_dir,
        no_speech=False,
        dub=DubSettings(
            max_speed=settings.max_speed,
            loudness_lufs=settings.loudness_lufs,
            true_peak_dbtp=settings.true_peak_dbtp,
        ),
    )
    return assembled.dub


def _render_streaming(layout: dict[str, Any], store: Any, out_dir: Path, settings: Any) -> Any:
    """write_dub's placement and render, each chunk's audio read only when it is stretched."""
    from ltb.storage import ObjectRef
    from pipeline.dub import DubRequest, place_dubs, render_dub, samples_from_pcm16

    chunks = {c["index"]: c for c in layout["chunks"]}
    placements = place_dubs(
        [
            DubRequest(c["index"], anchor_s=c["speech"][0][0], duration_s=c["dub_samples"] / 24_000)
            for c in chunks.values()
        ],
        timeline_end_s=layout["duration_s"],
        max_speed=settings.max_speed,
    )
    segments = (
        (
            placement,
            samples_from_pcm16(
                pcm=store.get_bytes(
                    ObjectRef.parse(chunks[placement.index]["audio_uri"]), max_bytes=2**31
                )
            ),
        )
        for placement in placements
    )
    return render_dub(
        segments,
        timeline_end_s=layout["duration_s"],
        out_path=out_dir / "dub.wav",
        loudness_lufs=settings.loudness_lufs,
        true_peak_dbtp=settings.true_peak_dbtp,
    )


def _spill_as_the_cli(layout: dict[str, Any], store: Any, dub_dir: Path) -> list[Any]:
    """The chunks as `ltb translate` keeps them: each reply's dub spilled as it arrives."""
    from ltb.storage import ObjectRef
    from ltb.timeline import Span
    from pipeline.assemble import TranslatedChunk
    from pipeline.run_local import _Books, _spilled

    books = _Books(dub_dir=dub_dir)
    return [
        TranslatedChunk(
            index=c["index"],
            span=Span(*c["span"]),
            speech=tuple(Span(a, b) for a, b in c["speech"]),
            text=TEXT,
            audio=_spilled(
                books,
                c["index"],
                store.get_bytes(ObjectRef.parse(c["audio_uri"]), max_bytes=2**31),
            ),
        )
        for c in layout["chunks"]
    ]


def _read_as_the_worker(layout: dict[str, Any], store: Any, database: Path) -> list[Any]:
    """The chunks as finalize_job gathers them: done rows whose dub is in chunk_audio,
    read by its own readers (an SQLite file stands in for Postgres; the broker and the
    provider play no part in reading chunk audio)."""
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from ltb.db.models import Base, Chunk, ChunkAudio
    from ltb.storage import ObjectRef
    from worker import finalize_step
    from worker.dub_audio import stored_dubs

    engine = create_engine(f"sqlite:///{database}")
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    job_id, tenant_id = uuid.uuid4(), uuid.uuid4()
    rows = []
    # What the chunk step leaves: each done chunk with its dub beside it, one commit each.
    for c in layout["chunks"]:
        row = Chunk(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            job_id=job_id,
            idx=c["index"],
            start_s=c["span"][0],
            end_s=c["span"][1],
            speech=c["speech"],
            status="done",
            result_text=TEXT,
        )
        pcm = store.get_bytes(ObjectRef.parse(c["audio_uri"]), max_bytes=2**31)
        with sessions.begin() as session:
            session.add(row)
            session.flush()
            session.add(ChunkAudio(chunk_id=row.id, pcm=pcm))
        del pcm
        rows.append(row)
    dubs = stored_dubs(sessions, store, job_id, rows)
    return [finalize_step._translated(row, dubs[row.id]) for row in rows]


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in CALLERS:
        raise SystemExit(
            "usage: python -m benchmarks.memory_bench cli|worker|render LAYOUT.json OUT_DIR"
        )
    _assemble_in_child(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
