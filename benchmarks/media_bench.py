"""Issue 3's benchmark: probe, speech map and plan for a 2-hour audio file and a
10-minute 1080p video, as a multiple of real time on one core, with peak RSS.

    python -m benchmarks media

The media are generated once into .ltb/bench-media/ from the committed espeak clips.
Each file is then analysed and planned in a fresh child process pinned to one core, so
its RSS and CPU are the pipeline's own.
"""

from __future__ import annotations

import json
import os
import sys
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks._measure import ROOT, peak_rss_self_mb, pin_to_one_core, run_measured, timed

if TYPE_CHECKING:
    # numpy, PyAV and OpenCV load inside functions only: the measuring child must pin
    # itself to one core before any library starts a thread.
    import av.audio.stream
    import av.container
    import numpy as np
    import numpy.typing as npt

    Pcm16 = npt.NDArray[np.int16]

CACHE = ROOT / ".ltb" / "bench-media"
SPEECH_DIR = ROOT / "tests" / "fixtures" / "speech"
RATE_HZ = 16_000
# Bump when the generated media change, so a stale cache is not measured.
MEDIA_VERSION = 1

AUDIO_S = 2 * 3600.0
VIDEO_S = 10 * 60.0
VIDEO_FPS = Fraction(30000, 1001)
VIDEO_SIZE = (1920, 1080)
TARGETS = {"audio_realtime_x": 200, "peak_rss_mb": 300}

TEXT = ("text", "srt", "vtt")
DUB = (*TEXT, "wav")
# name -> (outputs, visual_context); the video is also planned with its frames as context.
AUDIO_PLANS = {"text": (TEXT, False), "wav": (DUB, False)}
VIDEO_PLANS = {**AUDIO_PLANS, "text_visual": (TEXT, True), "wav_visual": (DUB, True)}


def run() -> dict[str, Any]:
    audio = speech_recording(AUDIO_S)
    video = video_with_speech(VIDEO_S)
    results = {
        "audio_2h": _measure(audio, kind="audio", source="mp3, 16 kHz mono, 32 kbit/s"),
        "video_10min_1080p": _measure(
            video,
            kind="video",
            source="mp4: H.264 1920x1080 29.97 fps (x264 ultrafast, crf 30); AAC 48 kHz stereo 128 kbit/s",
        ),
    }
    peak_mb = max(r["peak_rss_mb"] for r in results.values())
    return {
        **results,
        "targets": TARGETS,
        "targets_met": {
            "audio_realtime_x": results["audio_2h"]["realtime_x_cpu"]
            >= TARGETS["audio_realtime_x"],
            "peak_rss_mb": peak_mb < TARGETS["peak_rss_mb"],
        },
        "method": (
            "each file in a fresh child pinned to one core (sched_setaffinity); "
            "realtime_x_cpu = media seconds / CPU seconds (user+sys) of analyse_source plus "
            "every plan; process figures include interpreter start-up and imports; "
            "peak RSS from wait4 of the child, in 10^6 bytes"
        ),
    }


def _measure(path: Path, *, kind: str, source: str) -> dict[str, Any]:
    print(f"measuring {path.name}", flush=True)
    log = CACHE / f"{path.stem}.log"
    env = dict(os.environ)
    env.pop("LTB_TARGET_CHUNK_S", None)  # plan with the defaults users get
    usage = run_measured(
        [sys.executable, "-m", "benchmarks.media_bench", "measure", str(path), kind],
        log_path=log,
        env=env,
    )
    if usage.returncode != 0:
        raise RuntimeError(f"measuring {path.name} failed; see {log}")
    child = json.loads(log.read_text().strip().splitlines()[-1])
    duration_s = child["duration_s"]
    stages = [child["analysis"], *child["plans"].values()]
    cpu_s = sum(s["cpu_s"] for s in stages)
    wall_s = sum(s["wall_s"] for s in stages)
    return {
        "file": path.name,
        "source": source,
        "size_mb": round(path.stat().st_size / 1e6, 1),
        "duration_s": round(duration_s, 1),
        "speech": child["speech"],
        "pipeline_wall_s": round(wall_s, 2),
        "pipeline_cpu_s": round(cpu_s, 2),
        "realtime_x_cpu": round(duration_s / cpu_s, 1),
        "realtime_x_wall": round(duration_s / wall_s, 1),
        "peak_rss_mb": round(usage.peak_rss_mb, 1),
        "rss_after_imports_mb": child["rss_after_imports_mb"],
        "stages": {"probe_and_speech_map": child["analysis"], "plans": child["plans"]},
        "process": usage.as_dict(),
        "realtime_x_process_cpu": round(duration_s / usage.cpu_s, 1),
        "core": child["core"],
    }


def _measure_in_child(path: Path, kind: str) -> None:
    """The child's side: pin, import, analyse, plan, print one JSON line."""
    core = pin_to_one_core()
    from ltb.settings import get_settings
    from pipeline.analysis import analyse_source, media_limits
    from pipeline.estimate import TranslationRequest, plan_options, plan_source

    rss_after_imports_mb = peak_rss_self_mb()
    settings = get_settings()
    with timed() as analysis_time:
        analysis = analyse_source(path, limits=media_limits(settings))
    plans: dict[str, Any] = {}
    for name, (outputs, visual) in (VIDEO_PLANS if kind == "video" else AUDIO_PLANS).items():
        request = TranslationRequest.checked(
            target_lang="en", outputs=outputs, visual_context=visual
        )
        with timed() as plan_time:
            plan = plan_source(analysis, plan_options(settings, request, url_delivery=False))
        plans[name] = {
            "chunks": len(plan.chunks),
            "requests": plan.requests,
            "input_tokens": plan.estimate.input_tokens,
            **plan_time.as_dict(),
        }
    figures = {
        "core": core,
        "duration_s": analysis.duration_s,
        "speech": analysis.speech.summary(),
        "analysis": analysis_time.as_dict(),
        "plans": plans,
        "rss_after_imports_mb": round(rss_after_imports_mb, 1),
    }
    print(json.dumps(figures))


# --- generated media ------------------------------------------------------------------


def speech_samples(duration_s: float, *, seed: int) -> Pcm16:
    """Utterances from the committed espeak clips in every language, with the pauses of
    real talk, over a quiet room's noise floor: int16 mono at 16 kHz."""
    import numpy as np
    import soundfile as sf

    index = json.loads((SPEECH_DIR / "index.json").read_text(encoding="utf-8"))
    clips = [sf.read(SPEECH_DIR / item["file"], dtype="int16")[0] for item in index]
    rng = np.random.default_rng(seed)
    total = round(duration_s * RATE_HZ)
    samples = np.zeros(total, dtype=np.int16)
    t = round(rng.uniform(0.5, 2.0) * RATE_HZ)
    while True:
        clip = clips[rng.integers(len(clips))]
        if t + len(clip) > total:
            break
        gain = rng.uniform(0.5, 1.0)  # speakers are not all at the same level
        samples[t : t + len(clip)] = (clip * gain).astype(np.int16)
        t += len(clip)
        draw = rng.random()
        # Mostly breaths between phrases, some sentence and turn gaps, now and then a
        # long break: the mix the planner's cut-in-pauses logic is meant for.
        if draw < 0.02:
            pause_s = rng.uniform(6.0, 20.0)
        elif draw < 0.30:
            pause_s = rng.uniform(0.8, 2.5)
        else:
            pause_s = rng.uniform(0.2, 0.7)
        t += round(pause_s * RATE_HZ)
    # A -60 dBFS noise floor: real recordings are never digital silence.
    noise_sigma = 32768 * 10 ** (-60 / 20)
    block = 1 << 20
    for start in range(0, total, block):
        piece = samples[start : start + block].astype(np.float32)
        piece += rng.normal(0.0, noise_sigma, piece.size).astype(np.float32)
        samples[start : start + block] = np.clip(piece, -32768, 32767).astype(np.int16)
    return samples


def speech_recording(duration_s: float, *, seed: int = 1) -> Path:
    """A cached speech recording of `duration_s`: mp3, 16 kHz mono, 32 kbit/s, as sources often are."""
    import av

    path = CACHE / f"speech-{round(duration_s)}s-seed{seed}-v{MEDIA_VERSION}.mp3"
    if path.exists():
        return path
    print(f"generating {path.name}", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    samples = speech_samples(duration_s, seed=seed)
    partial = path.with_suffix(".partial.mp3")
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libmp3lame", rate=RATE_HZ, layout="mono")
        stream.bit_rate = 32_000
        encoder = _AudioEncoder(container, stream)
        encoder.push(samples)
        encoder.close()
    partial.rename(path)
    return path


def video_with_speech(duration_s: float, *, seed: int = 2) -> Path:
    """A cached 1080p 29.97 fps H.264 video of moving bars with a speech soundtrack (AAC,
    48 kHz stereo), its packets interleaved as a real file's are."""
    import av
    import numpy as np

    width, height = VIDEO_SIZE
    path = CACHE / f"video-{round(duration_s)}s-{height}p-seed{seed}-v{MEDIA_VERSION}.mp4"
    if path.exists():
        return path
    print(f"generating {path.name}", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    soundtrack = speech_samples(duration_s, seed=seed)
    partial = path.with_suffix(".partial.mp4")
    with av.open(str(partial), "w") as container:
        video = container.add_stream("libx264", rate=VIDEO_FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "30"}
        audio = container.add_stream("aac", rate=48_000, layout="stereo")
        audio.bit_rate = 128_000
        encoder = _AudioEncoder(container, audio)
        # yuv420p as one array: the luma plane, then chroma at neutral grey.
        picture = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
        ramp = (np.arange(width + 256) % 256).astype(np.uint8)
        fed = 0
        for index in range(round(duration_s * VIDEO_FPS)):
            shift = index * 4 % 256
            picture[:height] = ramp[shift : shift + width]
            frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
            for packet in video.encode(frame):
                container.mux(packet)
            # The soundtrack keeps pace with the picture, so audio and video interleave.
            until = min(len(soundtrack), round((index + 1) / VIDEO_FPS * RATE_HZ))
            encoder.push(soundtrack[fed:until])
            fed = until
        encoder.push(soundtrack[fed:])
        for packet in video.encode():
            container.mux(packet)
        encoder.close()
    partial.rename(path)
    return path


class _AudioEncoder:
    """Feeds int16 mono 16 kHz samples to an output audio stream in its own format."""

    def __init__(
        self, container: av.container.OutputContainer, stream: av.audio.stream.AudioStream
    ) -> None:
        import av

        self._container, self._stream = container, stream
        codec = stream.codec_context
        self._resampler = av.AudioResampler(
            format=codec.format, layout=codec.layout, rate=codec.sample_rate
        )
        self._pts = 0

    def push(self, samples: Pcm16) -> None:
        import av

        block = 1 << 16
        for start in range(0, len(samples), block):
            piece = samples[start : start + block].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(piece, format="s16", layout="mono")
            frame.sample_rate, frame.pts = RATE_HZ, self._pts
            frame.time_base = Fraction(1, RATE_HZ)
            self._pts += piece.shape[1]
            self._encode(self._resampler.resample(frame))

    def close(self) -> None:
        self._encode(self._resampler.resample(None))
        for packet in self._stream.encode(None):
            self._container.mux(packet)

    def _encode(self, frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)


if __name__ == "__main__":
    if sys.argv[1:2] != ["measure"] or len(sys.argv) != 4:
        raise SystemExit("usage: python -m benchmarks.media_bench measure FILE audio|video")
    _measure_in_child(Path(sys.argv[2]), sys.argv[3])
