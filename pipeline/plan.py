"""plan: cut the timeline into chunks that each fit every provider limit, and say what
each will cost before anything is spent (docs/architecture.md "Chunk planning rules and limits").

A pure function of (media properties, speech map, options). The chunks tile the whole
timeline. Long silences become chunks of their own that are never sent, because
silence is billed like speech. Everything else is cut only inside pauses, choosing the
longest pause near an even share of the stretch, so chunks come out balanced and as few
as the limits allow: with visual context on, every chunk over ~21 s costs ~16,000 video
tokens whatever its length, so fewer chunks is cheaper.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from ltb import tokens
from ltb.errors import MediaError
from ltb.media.probe import VideoProps
from ltb.media.speech_map import QuietPoint, SpeechMap
from ltb.outputs import spoken
from ltb.timeline import Span, spans_within, total_duration_s
from ltb.usage import TokenCounts
from pipeline.payload import (
    DATA_URI_LIMIT_CHARS,
    Delivery,
    VideoPayload,
    audio_payload_chars,
    video_payload,
    video_payload_chars,
)

# Text tokens per second of speech relative to the default rate. Scripts that tokenise
# less efficiently (Devanagari, Thai, Greek, Arabic) produce more tokens for the same
# speech. Starting points, to be tuned against real billing.
TEXT_TOKEN_FACTOR: dict[str, float] = {
    "hi": 2.0,
    "th": 1.6,
    "el": 1.5,
    "ar": 1.3,
    "vi": 1.3,
    "ru": 1.2,
    "ko": 1.2,
    "ja": 1.1,
}

# Silence kept on each side of a skipped silence, so no chunk starts or ends on a syllable.
SKIP_KEEP_S = 0.5
# How far from the ideal cut a pause may be and still be preferred for its length.
CUT_WINDOW = 0.35
# Shortest part a truncated chunk is split into before the service gives up on it.
MIN_SPLIT_S = 2.0


@dataclass(frozen=True, slots=True)
class Limits:
    max_input_tokens: int = tokens.MAX_INPUT_TOKENS
    max_output_tokens: int = tokens.MAX_OUTPUT_TOKENS
    input_margin: float = 0.05
    output_margin: float = 0.10
    # None when payloads too big for a data URI may be sent by URL instead.
    max_payload_chars: int | None = DATA_URI_LIMIT_CHARS

    @property
    def input_budget(self) -> int:
        return math.floor(self.max_input_tokens * (1 - self.input_margin))

    @property
    def output_budget(self) -> int:
        return math.floor(self.max_output_tokens * (1 - self.output_margin))


@dataclass(frozen=True, slots=True)
class PlanOptions:
    target_lang: str
    outputs: tuple[str, ...] = ("text", "srt")
    visual_context: bool = False
    dub_length_factor: float = 1.15
    text_tokens_per_speech_s: float = 4.0
    # Pauses at least this long are cut out and never sent (see `_skip_threshold_s`).
    silence_skip_s: float = 30.0
    # An extra cap on chunk length; 0 leaves only the provider's limits.
    max_chunk_s: float = 0.0
    limits: Limits = field(default_factory=Limits)

    @property
    def wants_dub(self) -> bool:
        return spoken(self.outputs)

    @property
    def text_tokens_per_s(self) -> float:
        return self.text_tokens_per_speech_s * TEXT_TOKEN_FACTOR.get(self.target_lang, 1.0)


@dataclass(frozen=True, slots=True)
class ChunkCost:
    audio_tokens: int = 0
    video_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0
    payload_chars: int = 0

    @property
    def input_tokens(self) -> int:
        return self.audio_tokens + self.video_tokens

    @property
    def output_tokens(self) -> int:
        return self.output_text_tokens + self.output_audio_tokens

    def as_counts(self) -> TokenCounts:
        return TokenCounts(
            input_audio=self.audio_tokens,
            input_video=self.video_tokens,
            output_text=self.output_text_tokens,
            output_audio=self.output_audio_tokens,
        )


@dataclass(frozen=True, slots=True)
class PlannedChunk:
    index: int
    span: Span
    speech: tuple[Span, ...]
    cost: ChunkCost
    video: VideoPayload | None
    delivery: Delivery = "inline"
    cut_through_speech: bool = False

    @property
    def silent(self) -> bool:
        """A chunk with no speech is never sent."""
        return not self.speech

    @property
    def speech_s(self) -> float:
        return total_duration_s(self.speech)


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    chunks: tuple[PlannedChunk, ...]
    warnings: tuple[str, ...] = ()

    @property
    def requests(self) -> int:
        return sum(1 for chunk in self.chunks if not chunk.silent)

    @property
    def no_speech(self) -> bool:
        return self.requests == 0

    @property
    def estimate(self) -> TokenCounts:
        return TokenCounts.sum(chunk.cost.as_counts() for chunk in self.chunks)


@dataclass(frozen=True, slots=True)
class Source:
    """What the planner knows of the media."""

    duration_s: float
    speech: SpeechMap
    video: VideoProps | None = None


def plan_chunks(source: Source, options: PlanOptions) -> ChunkPlan:
    """Cuts `source` into chunks that respect every limit and tile its timeline."""
    timeline = _Timeline(source, options)
    spans: list[tuple[Span, bool]] = []  # (span, cut_through_speech)
    warnings: list[str] = []
    for stretch, has_speech in _stretches(source, _skip_threshold_s(source, options)):
        if not has_speech:
            spans.append((stretch, False))
            continue
        for span, forced in timeline.cut(stretch):
            spans.append((span, forced))
            if forced:
                warnings.append(
                    f"cut_through_speech: no pause fits the limits near {span.end_s:.2f} s; "
                    "the cut goes through speech at its quietest point"
                )
    chunks = tuple(
        timeline.chunk(index, span, cut_through_speech=forced or _starts_mid_speech(spans, index))
        for index, (span, forced) in enumerate(spans)
    )
    return ChunkPlan(chunks=chunks, warnings=tuple(dict.fromkeys(warnings)))


def split_chunk(
    chunk: PlannedChunk, source: Source, options: PlanOptions, *, first_index: int
) -> tuple[PlannedChunk, PlannedChunk] | None:
    """Splits a chunk whose answer was truncated into two halves cut near its middle.

    Returns None when the chunk is too short to split further.
    """
    if chunk.span.duration_s < 2 * MIN_SPLIT_S:
        return None
    timeline = _Timeline(source, options)
    middle = chunk.span.start_s + chunk.span.duration_s / 2
    cut, forced = timeline.choose_cut(
        chunk.span.start_s + MIN_SPLIT_S, chunk.span.end_s - MIN_SPLIT_S, target=middle
    )
    left = timeline.chunk(first_index, Span(chunk.span.start_s, cut), cut_through_speech=forced)
    right = timeline.chunk(first_index + 1, Span(cut, chunk.span.end_s), cut_through_speech=forced)
    return left, right


def _skip_threshold_s(source: Source, options: PlanOptions) -> float:
    """How long a pause must be before cutting it out pays for itself.

    Skipping a pause saves its audio tokens but may add a chunk. With visual context on,
    an extra chunk costs about 16,000 video tokens, so only a pause whose audio costs more
    than that is worth skipping.
    """
    props = source.video
    if not (options.visual_context and props is not None):
        return options.silence_skip_s
    plateau = _video_for(props, 30.0)
    if plateau is None:
        return options.silence_skip_s
    return max(options.silence_skip_s, tokens.seconds_for_audio_tokens(plateau.tokens))


def _stretches(source: Source, skip_s: float) -> list[tuple[Span, bool]]:
    """The timeline as alternating speech stretches and skippable silences."""
    end = source.duration_s
    regions = source.speech.regions
    if not regions:
        return [(Span(0.0, end), False)] if end > 0 else []
    out: list[tuple[Span, bool]] = []
    start = 0.0
    if regions[0].start_s >= skip_s:
        start = regions[0].start_s - SKIP_KEEP_S
        out.append((Span(0.0, start), False))
    for before, after in itertools.pairwise(regions):
        if after.start_s - before.end_s >= skip_s:
            silence = Span(before.end_s + SKIP_KEEP_S, after.start_s - SKIP_KEEP_S)
            out.append((Span(start, silence.start_s), True))
            out.append((silence, False))
            start = silence.end_s
    if end - regions[-1].end_s >= skip_s:
        silence = Span(regions[-1].end_s + SKIP_KEEP_S, end)
        out.append((Span(start, silence.start_s), True))
        out.append((silence, False))
    else:
        out.append((Span(start, end), True))
    return out


def _starts_mid_speech(spans: Sequence[tuple[Span, bool]], index: int) -> bool:
    # The chunk after a forced cut starts inside the speech the cut went through.
    return index > 0 and spans[index - 1][1]


class _Timeline:
    """Speech lookups and cost evaluation for one source under one set of options."""

    def __init__(self, source: Source, options: PlanOptions) -> None:
        self.source = source
        self.options = options
        self.regions = source.speech.regions
        self.starts = [r.start_s for r in self.regions]
        self.cumulative = [0.0]
        for region in self.regions:
            self.cumulative.append(self.cumulative[-1] + region.duration_s)
        self.quiet: Sequence[QuietPoint] = source.speech.quiet_points
        self.quiet_times = [q.time_s for q in self.quiet]

    # --- speech lookups -------------------------------------------------------------

    def speech_before(self, t: float) -> float:
        """Seconds of speech in [0, t)."""
        i = bisect.bisect_right(self.starts, t)
        if i == 0:
            return 0.0
        last = self.regions[i - 1]
        return self.cumulative[i - 1] + min(last.duration_s, max(0.0, t - last.start_s))

    def speech_s(self, span: Span) -> float:
        return self.speech_before(span.end_s) - self.speech_before(span.start_s)

    def pauses(self, lo: float, hi: float) -> list[Span]:
        """Pauses between speech regions whose middle lies in (lo, hi]."""
        i = max(0, bisect.bisect_left(self.starts, lo) - 1)
        out = []
        for before, after in zip(self.regions[i:], self.regions[i + 1 :], strict=False):
            if before.end_s > hi:
                break
            middle = (before.end_s + after.start_s) / 2
            if lo < middle <= hi:
                out.append(Span(before.end_s, after.start_s))
        return out

    # --- costs ------------------------------------------------------------------------

    def cost(self, span: Span) -> tuple[ChunkCost, VideoPayload | None]:
        options, duration = self.options, span.duration_s
        speech_s = self.speech_s(span)
        if speech_s <= 0:
            return ChunkCost(), None
        video = None
        video_tokens = 0
        payload_chars = audio_payload_chars(duration)
        props = self.source.video
        if options.visual_context and props is not None:
            # Only the part of the chunk where the video runs has frames to send.
            video_s = min(span.end_s, props.duration_s) - span.start_s
            video = _video_for(props, video_s) if video_s > 0 else None
        if video is not None:
            video_tokens = video.tokens
            payload_chars = video_payload_chars(video, duration)
        dub_tokens = (
            tokens.audio_tokens(speech_s * options.dub_length_factor) if options.wants_dub else 0
        )
        cost = ChunkCost(
            audio_tokens=tokens.audio_tokens(duration),
            video_tokens=video_tokens,
            output_text_tokens=math.ceil(speech_s * options.text_tokens_per_s),
            output_audio_tokens=dub_tokens,
            payload_chars=payload_chars,
        )
        return cost, video

    def fits(self, span: Span) -> bool:
        options, limits = self.options, self.options.limits
        if options.max_chunk_s and span.duration_s > options.max_chunk_s + 1e-9:
            return False
        cost, _ = self.cost(span)
        if cost.input_tokens > limits.input_budget or cost.output_tokens > limits.output_budget:
            return False
        return limits.max_payload_chars is None or cost.payload_chars <= limits.max_payload_chars

    def furthest_end(self, start: float, end: float) -> float:
        """The latest end in (start, end] at which [start, end) still fits (to 10 ms)."""
        if self.fits(Span(start, end)):
            return end
        lo, hi = start, end
        while hi - lo > 0.01:
            mid = (lo + hi) / 2
            if self.fits(Span(start, mid)):
                lo = mid
            else:
                hi = mid
        return lo

    def chunk(self, index: int, span: Span, *, cut_through_speech: bool) -> PlannedChunk:
        cost, video = self.cost(span)
        too_big = (
            self.options.limits.max_payload_chars is None
            and cost.payload_chars > DATA_URI_LIMIT_CHARS
        )
        return PlannedChunk(
            index=index,
            span=span,
            speech=tuple(spans_within(self.regions, span)),
            cost=cost,
            video=video,
            delivery="url" if too_big else "inline",
            cut_through_speech=cut_through_speech,
        )

    # --- cutting ----------------------------------------------------------------------

    def cut(self, stretch: Span) -> list[tuple[Span, bool]]:
        """Cuts one speech stretch into balanced chunks that fit; flags cuts through speech."""
        out: list[tuple[Span, bool]] = []
        pos = stretch.start_s
        while not self.fits(Span(pos, stretch.end_s)):
            hi = self.furthest_end(pos, stretch.end_s)
            if hi - pos < 0.05:
                raise ValueError(
                    f"no chunk starting at {pos:.2f} s fits the limits; "
                    "the margins or max_chunk_s leave no room"
                )
            remaining = self._greedy_count(pos, stretch.end_s)
            target = min(hi, pos + (stretch.end_s - pos) / remaining)
            cut, forced = self.choose_cut(pos, hi, target=target)
            out.append((Span(pos, cut), forced))
            pos = cut
        out.append((Span(pos, stretch.end_s), False))
        return out

    def _greedy_count(self, start: float, end: float) -> int:
        """How many chunks [start, end) needs if every chunk were as long as allowed."""
        count = 1
        while not self.fits(Span(start, end)):
            start = self.furthest_end(start, end)
            count += 1
        return count

    def choose_cut(self, lo: float, hi: float, *, target: float) -> tuple[float, bool]:
        """Where to cut in (lo, hi]: the longest pause near `target`, else the quietest moment.

        Returns the cut time and whether it goes through speech.
        """
        reach = CUT_WINDOW * (target - lo)
        near = self.pauses(target - reach, min(hi, target + reach))
        if near:
            best = max(near, key=lambda p: (round(p.duration_s, 2), -abs(_middle(p) - target)))
            return _middle(best), False
        anywhere = self.pauses(lo + 0.25 * (target - lo), hi)
        if anywhere:
            best = min(anywhere, key=lambda p: abs(_middle(p) - target))
            return _middle(best), False
        return self._quietest(lo + 0.5 * (hi - lo), hi), True

    def _quietest(self, lo: float, hi: float) -> float:
        first = bisect.bisect_left(self.quiet_times, lo)
        last = bisect.bisect_right(self.quiet_times, hi)
        candidates = self.quiet[first:last]
        if not candidates:
            return hi
        return min(candidates, key=lambda q: (q.level_db, -q.time_s)).time_s


def _video_for(props: VideoProps, duration_s: float) -> VideoPayload | None:
    """The chunk's video payload, or None when the chunk is too short for the provider to
    sample frames from (under about a second); such a chunk goes as audio alone."""
    try:
        return video_payload(
            source_width=props.width,
            source_height=props.height,
            source_fps=props.fps,
            duration_s=duration_s,
        )
    except MediaError:
        return None


def _middle(pause: Span) -> float:
    return (pause.start_s + pause.end_s) / 2
