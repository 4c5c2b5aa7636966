"""The dubbed video: the source's picture, the dub mix and the original audio, with subtitles.

The video stream is copied packet for packet (a remux): nothing is decoded or re-encoded,
so the picture is bit-identical to the source and the work is I/O, not CPU.

Tracks, in order:

1. video, copied from the source;
2. the dub mix, encoded to AAC, marked default (and `dub` where the container says so);
3. the original audio, copied when the container can hold it as it is, else encoded to AAC
   (MP4 holds the usual audio codecs; Matroska holds any codec, but a copied track whose
   encoder priming starts before zero would shift every track, so such a track is encoded);
4. subtitles in the target language, then in the source language when its cues are given:
   mov_text in MP4, SubRip (S_TEXT/UTF8) in Matroska, none marked default, since the dub
   already speaks the target language.

Every audio and subtitle track carries a language code (track_language: ISO 639-2, or
ISO 639-3 where 639-2 has none, e.g. `yue`) and a title. MP4s are written faststart (the
index before the media) so they play while downloading. Packets from all tracks are
interleaved by time as they are written, so memory stays flat whatever the length.

An audio-only source cannot become a dubbed *video*: mux_dubbed_video refuses it with
RequestRefused(code="video_output_needs_video") (see require_video). Nothing is made up
to stand in for a picture, and the audio-only deliverables (the dub WAV, the subtitles)
already serve such a source.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import av
import av.container
import av.stream
from av.audio.stream import AudioStream
from av.subtitles.codeccontext import SubtitleCodecContext
from av.subtitles.stream import SubtitleStream
from av.subtitles.subtitle import SubtitleSet

from ltb.errors import RequestRefused
from ltb.media.containers import open_media
from pipeline.deliver.language_tags import language_name, track_language
from pipeline.subtitles.cues import Cue
from pipeline.subtitles.writers import checked_cues

Container = Literal["mp4", "mkv"]
if TYPE_CHECKING:
    # PyAV's stubs make Packet generic in its stream; at run time it is a plain class.
    AnyPacket: TypeAlias = av.Packet[Any]

_FORMATS: dict[Container, str] = {"mp4": "mp4", "mkv": "matroska"}
_SUBTITLE_CODECS: dict[Container, str] = {"mp4": "mov_text", "mkv": "subrip"}
# Audio codecs an MP4 carries that players know; anything else is encoded to AAC.
_MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"})
_MIX_RATE_HZ = 48_000
_AAC_BITS_PER_CHANNEL = 96_000
_AAC_FRAME_SAMPLES = 1024
_MS = Fraction(1, 1000)
# The text subtitle encoders take their events as ASS; this is the least header they parse.
_ASS_HEADER = b"""[Script Info]
ScriptType: v4.00+
PlayResX: 384
PlayResY: 288

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""


@dataclass(frozen=True, slots=True)
class Track:
    """One track of the file as written."""

    kind: Literal["video", "audio", "subtitle"]
    codec: str
    language: str | None
    title: str | None
    default: bool
    copied: bool


@dataclass(frozen=True, slots=True)
class MuxReport:
    """What mux_dubbed_video wrote, for the manifest."""

    container: Container
    duration_s: float
    tracks: tuple[Track, ...]


def require_video(source: Path) -> None:
    """Refuse a source without a picture: a dubbed video needs one to copy."""
    with open_media(source) as container:
        if not _picture_streams(container):
            raise RequestRefused(
                f"{source.name} has no video, so there is no dubbed video to make; "
                "ask for the dub as audio ('wav') or for subtitles instead",
                code="video_output_needs_video",
            )


def mux_dubbed_video(
    *,
    source: Path,
    dub_mix: Path,
    out_path: Path,
    container: Container,
    target_lang: str,
    source_lang: str | None,
    target_cues: Sequence[Cue],
    source_cues: Sequence[Cue] | None = None,
) -> MuxReport:
    """Write `out_path`: the source's video copied, the dub mix as the default audio track,
    the original audio after it, and soft subtitles in the target (and source) language.

    `dub_mix` is any audio file PyAV reads (mix_dub writes FLAC); it is cut at the source's
    duration. Cues are checked as SRT's are; the file appears only once complete.
    """
    if container not in _FORMATS:
        raise ValueError(f"unknown container {container!r}; expected mp4 or mkv")
    require_video(source)
    subtitles: list[tuple[str | None, Sequence[Cue]]] = [(target_lang, target_cues)]
    if source_cues is not None:
        subtitles.append((source_lang, source_cues))
    partial = out_path.with_name(out_path.name + ".partial")
    try:
        report = _write(
            source=source,
            dub_mix=dub_mix,
            out_path=partial,
            container=container,
            target_lang=target_lang,
            source_lang=source_lang,
            subtitles=subtitles,
        )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out_path)
    return report


def _write(
    *,
    source: Path,
    dub_mix: Path,
    out_path: Path,
    container: Container,
    target_lang: str,
    source_lang: str | None,
    subtitles: list[tuple[str | None, Sequence[Cue]]],
) -> MuxReport:
    options = {"movflags": "+faststart"} if container == "mp4" else {}
    with (
        open_media(source) as video_in,
        open_media(source) as audio_in,
        open_media(dub_mix) as dub_in,
        av.open(str(out_path), "w", format=_FORMATS[container], options=options) as out,
    ):
        source_video = _picture_streams(video_in)[0]
        duration_s = _duration_s(video_in, source_video)
        tracks: list[Track] = []
        video = out.add_stream_from_template(source_video)
        tracks.append(Track("video", video.codec_context.name, None, None, False, True))

        dub_in_stream = dub_in.streams.audio[0]
        channels = min(max(dub_in_stream.codec_context.channels or 1, 1), 2)
        dub = _aac_stream(out, channels=channels)
        tracks.append(
            _tag(
                dub,
                lang=target_lang,
                title=f"{language_name(target_lang)} (dub)",
                container=container,
                disposition=av.stream.Disposition.default | av.stream.Disposition.dub,
                kind="audio",
                copied=False,
            )
        )

        original_in = audio_in.streams.audio[0] if audio_in.streams.audio else None
        original: av.stream.Stream | None = None
        copy_original = False
        original_channels = 1
        if original_in is not None:
            copy_original = _can_copy_audio(source, original_in, container_kind=container)
            original_channels = min(max(original_in.codec_context.channels or 1, 1), 2)
            if copy_original:
                original = out.add_stream_from_template(original_in)
            else:
                original = _aac_stream(out, channels=original_channels)
            tracks.append(
                _tag(
                    original,
                    lang=source_lang,
                    title=f"{language_name(source_lang)} (original)",
                    container=container,
                    disposition=av.stream.Disposition.original,
                    kind="audio",
                    copied=copy_original,
                )
            )

        subtitle_streams: list[tuple[SubtitleStream, Sequence[Cue]]] = []
        for lang, cues in subtitles:
            stream = out.add_stream(_SUBTITLE_CODECS[container])
            assert isinstance(stream, SubtitleStream)
            stream.codec_context.subtitle_header = _ASS_HEADER
            stream.time_base = _MS
            subtitle_streams.append((stream, cues))
            tracks.append(
                _tag(
                    stream,
                    lang=lang,
                    title=language_name(lang),
                    container=container,
                    disposition=av.stream.Disposition(0),
                    kind="subtitle",
                    copied=False,
                )
            )

        # Matroska's segment duration counts an encoded track's priming (its CodecDelay)
        # on top of its last packet: end the encoded audio one AAC frame sooner there.
        # Timestamps are kept on the source's clock, which need not start at zero (MPEG-TS
        # rarely does): the dub and the subtitles start where the picture's clock does.
        origin_s = (video_in.start_time or 0) / av.time_base
        audio_ends_by_s = origin_s + duration_s
        if container == "mkv":
            audio_ends_by_s -= _AAC_FRAME_SAMPLES / _MIX_RATE_HZ
        sources: list[Iterator[AnyPacket]] = [
            _copied(video_in, source_video, video),
            _encoded(
                dub_in,
                dub_in_stream,
                dub,
                channels=channels,
                starts_at_s=origin_s,
                ends_by_s=audio_ends_by_s,
            ),
        ]
        if original_in is not None and original is not None:
            if copy_original:
                sources.append(_copied(audio_in, original_in, original))
            else:
                assert isinstance(original, AudioStream)
                sources.append(
                    _encoded(
                        audio_in,
                        original_in,
                        original,
                        channels=original_channels,
                        starts_at_s=None,
                        ends_by_s=audio_ends_by_s,
                    )
                )
        for stream, cues in subtitle_streams:
            sources.append(_subtitle_packets(stream, cues, origin_s=origin_s, until_s=duration_s))
        for packet in _interleaved(sources):
            out.mux(packet)
    return MuxReport(container=container, duration_s=duration_s, tracks=tuple(tracks))


def _picture_streams(container: av.container.InputContainer) -> list[av.stream.Stream]:
    # An m4a's cover art is a one-frame video stream, not a picture to dub.
    return [
        stream
        for stream in container.streams.video
        if not stream.disposition & av.stream.Disposition.attached_pic
    ]


def _can_copy_audio(source: Path, stream: av.stream.Stream, *, container_kind: Container) -> bool:
    if container_kind == "mp4":
        return stream.codec_context.name in _MP4_AUDIO_CODECS
    # Matroska has no edit list: a copied track whose encoder priming starts before zero
    # (AAC from an MP4 does) would shift every track later, the picture included. An
    # encoded track declares its priming as CodecDelay instead, which shifts nothing.
    with open_media(source) as container:
        audio = next(s for s in container.streams.audio if s.index == stream.index)
        first = next((packet for packet in container.demux(audio) if packet.pts is not None), None)
    return first is None or first.pts is None or first.pts >= 0


def _duration_s(container: av.container.InputContainer, video: av.stream.Stream) -> float:
    if container.duration:
        return float(container.duration / av.time_base)
    if video.duration and video.time_base:
        return float(video.duration * video.time_base)
    raise ValueError("the source does not say how long it is")


def _aac_stream(out: av.container.OutputContainer, *, channels: int) -> AudioStream:
    stream = out.add_stream("aac", rate=_MIX_RATE_HZ)
    stream.codec_context.layout = "stereo" if channels == 2 else "mono"
    stream.codec_context.bit_rate = _AAC_BITS_PER_CHANNEL * channels
    # FFmpeg's "fast" quantizer search rather than its default "twoloop": at 96 kb/s a
    # channel its maintainer found it sounds as good or better (twoloop earns its cost at
    # low rates), and it takes a third of the CPU, which for a long stereo track is most
    # of the remux.
    stream.codec_context.options = {"aac_coder": "fast"}
    return stream


def _tag(
    stream: av.stream.Stream,
    *,
    lang: str | None,
    title: str,
    container: Container,
    disposition: av.stream.Disposition,
    kind: Literal["audio", "subtitle"],
    copied: bool,
) -> Track:
    code = track_language(lang, container=container)
    stream.metadata["language"] = code
    stream.metadata["title"] = title
    # MP4 players show a track's handler name where Matroska has a title.
    stream.metadata["handler_name"] = title
    stream.disposition = disposition
    return Track(
        kind=kind,
        codec=stream.codec_context.name,
        language=code,
        title=title,
        default=bool(disposition & av.stream.Disposition.default),
        copied=copied,
    )


def _copied(
    container: av.container.InputContainer, source: av.stream.Stream, target: av.stream.Stream
) -> Iterator[AnyPacket]:
    for packet in container.demux(source):
        # The demuxer ends each stream with an empty packet that carries no data.
        if packet.dts is None and packet.pts is None:
            continue
        packet.stream = target
        yield packet


def _encoded(
    container: av.container.InputContainer,
    source: AudioStream,
    target: AudioStream,
    *,
    channels: int,
    starts_at_s: float | None,
    ends_by_s: float,
) -> Iterator[AnyPacket]:
    """`source` encoded to `target`, its first sample at `starts_at_s` on the output's clock
    (None: where its own timestamps put it), cut so that it ends by `ends_by_s`."""
    resampler = av.AudioResampler(
        format=target.codec_context.format,
        layout="stereo" if channels == 2 else "mono",
        rate=_MIX_RATE_HZ,
    )
    first: int | None = None
    limit = 0
    written = 0
    for frame in container.decode(source):
        if first is None:
            at_s = starts_at_s
            if at_s is None:
                at_s = 0.0
                if frame.pts is not None and frame.time_base is not None:
                    at_s = float(frame.pts * frame.time_base)
            first = round(at_s * _MIX_RATE_HZ)
            # AAC codes 1024 samples a frame and the last frame is written whole: stopping
            # on a frame boundary keeps the track from running past the picture.
            room = max(0, round(ends_by_s * _MIX_RATE_HZ) - first)
            limit = room // _AAC_FRAME_SAMPLES * _AAC_FRAME_SAMPLES
        for resampled in resampler.resample(frame):
            if written >= limit:
                break
            if written + resampled.samples > limit:
                resampled = _cut(resampled, limit - written)
            resampled.pts = first + written
            resampled.time_base = Fraction(1, _MIX_RATE_HZ)
            written += resampled.samples
            yield from target.encode(resampled)
    yield from target.encode(None)


def _cut(frame: av.AudioFrame, keep: int) -> av.AudioFrame:
    planes = frame.to_ndarray()
    cut = av.AudioFrame.from_ndarray(
        planes[:, :keep].copy(), format=frame.format.name, layout=frame.layout.name
    )
    cut.sample_rate = frame.sample_rate
    return cut


def _subtitle_packets(
    stream: SubtitleStream, cues: Sequence[Cue], *, origin_s: float, until_s: float
) -> Iterator[AnyPacket]:
    codec = stream.codec_context
    assert isinstance(codec, SubtitleCodecContext)
    limit_ms = round(until_s * 1000)
    origin_ms = round(origin_s * 1000)
    for cue in checked_cues(cues):
        if cue.start_ms >= limit_ms:
            break
        end_ms = min(cue.end_ms, limit_ms)
        # ASS dialogue: nine fields before the text; \N is its line break.
        text = "\\N".join(cue.lines)
        event = SubtitleSet.create(
            text=f"0,0,Default,,0,0,0,,{text}".encode(), start=0, end=end_ms - cue.start_ms
        )
        packet = codec.encode_subtitle(event)
        packet.stream = stream
        packet.time_base = _MS
        packet.pts = packet.dts = origin_ms + cue.start_ms
        packet.duration = end_ms - cue.start_ms
        yield packet


def _interleaved(sources: list[Iterator[AnyPacket]]) -> Iterator[AnyPacket]:
    # Merge the tracks by decoding time, holding one packet per track.
    order = count()
    heap: list[tuple[float, int, int, AnyPacket]] = []

    def push(index: int) -> None:
        packet = next(sources[index], None)
        if packet is not None:
            heapq.heappush(heap, (_time_s(packet), next(order), index, packet))

    for index in range(len(sources)):
        push(index)
    while heap:
        _, _, index, packet = heapq.heappop(heap)
        yield packet
        push(index)


def _time_s(packet: AnyPacket) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    if stamp is None or packet.time_base is None:
        return 0.0
    # Plain float arithmetic: a Fraction product for each of a long file's packets is a
    # noticeable share of a remux's CPU.
    time_base = packet.time_base
    return stamp * time_base.numerator / time_base.denominator
