"""What a translation will cost, before anything is spent: the plan priced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ltb import tokens
from ltb.errors import MediaError, RequestRefused
from ltb.languages import check_dub_request, check_language, check_outputs
from ltb.outputs import DEFAULT_DUCK_DB, MAX_DUCK_DB, MIN_DUCK_DB, spoken
from ltb.pricing import Cost, PriceTable
from ltb.settings import Settings
from ltb.states import DubMix, Engine
from pipeline.analysis import SourceAnalysis
from pipeline.plan import ChunkPlan, Limits, PlanOptions, Source, plan_chunks


@dataclass(frozen=True, slots=True)
class TranslationRequest:
    """What a user asks for, checked before anything is fetched or billed."""

    target_lang: str
    outputs: tuple[str, ...]
    visual_context: bool = False
    source_lang: str | None = None
    voice: str | None = None
    engine: Engine = Engine.FILE
    # How the dub meets the source's soundtrack in mix_wav, mp4 and mkv.
    dub_mix: DubMix = DubMix.REPLACE
    duck_db: float = DEFAULT_DUCK_DB

    @classmethod
    def checked(
        cls,
        *,
        target_lang: str,
        outputs: list[str] | tuple[str, ...],
        visual_context: bool = False,
        source_lang: str | None = None,
        voice: str | None = None,
        engine: Engine = Engine.FILE,
        dub_mix: str = DubMix.REPLACE,
        duck_db: float = DEFAULT_DUCK_DB,
    ) -> TranslationRequest:
        """Refuses unknown languages, unknown outputs (or ones `engine` cannot build), dubs
        the provider cannot speak, and a mix it cannot make."""
        check_language(target_lang)
        if source_lang is not None:
            check_language(source_lang, role="source")
        kinds = check_outputs(outputs, engine=engine)
        chosen_voice = check_dub_request(target_lang, voice) if spoken(kinds) else voice
        if dub_mix not in tuple(DubMix):
            raise RequestRefused(
                f"dub mix must be one of: {', '.join(DubMix)}; got {dub_mix!r}",
                code="invalid_option",
            )
        if not MIN_DUCK_DB <= duck_db <= MAX_DUCK_DB:
            raise RequestRefused(
                f"duck_db must lie between {MIN_DUCK_DB:g} and {MAX_DUCK_DB:g} dB; got {duck_db:g}",
                code="invalid_option",
            )
        return cls(
            target_lang=target_lang,
            outputs=kinds,
            visual_context=visual_context,
            source_lang=source_lang,
            voice=chosen_voice,
            engine=engine,
            dub_mix=DubMix(dub_mix),
            duck_db=duck_db,
        )


def plan_options(
    settings: Settings, request: TranslationRequest, *, url_delivery: bool
) -> PlanOptions:
    """The planner's options for `request` under `settings`."""
    inline_only = settings.payload_delivery == "inline" or not url_delivery
    return PlanOptions(
        target_lang=request.target_lang,
        outputs=request.outputs,
        visual_context=request.visual_context,
        dub_length_factor=settings.dub_length_factor,
        text_tokens_per_speech_s=settings.text_tokens_per_speech_s,
        max_chunk_s=settings.target_chunk_s,
        limits=Limits(
            input_margin=settings.input_safety_margin,
            output_margin=settings.output_safety_margin,
            max_payload_chars=Limits().max_payload_chars if inline_only else None,
        ),
    )


def plan_source(analysis: SourceAnalysis, options: PlanOptions) -> ChunkPlan:
    source = Source(
        duration_s=analysis.duration_s, speech=analysis.speech, video=analysis.info.video
    )
    return plan_chunks(source, options)


def single_request(analysis: SourceAnalysis, *, visual_context: bool) -> dict[str, Any]:
    """The whole file as one request: what it would cost, and whether the provider takes it."""
    audio = tokens.audio_tokens(analysis.speech.duration_s)
    video = 0
    props = analysis.info.video
    if visual_context and props is not None:
        try:
            video = tokens.video_tokens(
                height=props.height, width=props.width, total_frames=props.frames, fps=props.fps
            )
        except MediaError:
            video = 0  # under a second of video: the provider takes no frames from it
    return {
        "audio_tokens": audio,
        "video_tokens": video,
        "input_tokens": audio + video,
        "fits_input_limit": audio + video <= tokens.MAX_INPUT_TOKENS,
    }


def estimate_report(
    *,
    name: str,
    analysis: SourceAnalysis,
    plan: ChunkPlan,
    request: TranslationRequest,
    cost: Cost,
) -> dict[str, Any]:
    """The estimate in the shape `ltb estimate --json` prints."""
    props = analysis.info.video
    estimate = plan.estimate
    return {
        "file": name,
        "duration_s": round(analysis.duration_s, 3),
        "has_video": props is not None,
        "video": (
            {"width": props.width, "height": props.height, "fps": props.fps, "frames": props.frames}
            if props
            else None
        ),
        "speech": {
            "regions": len(analysis.speech.regions),
            "speech_s": round(analysis.speech.speech_s, 3),
        },
        "target_lang": request.target_lang,
        "outputs": list(request.outputs),
        "visual_context": "on" if request.visual_context else "off",
        "outcome": "no_speech" if plan.no_speech else "ok",
        "single_request": single_request(analysis, visual_context=request.visual_context),
        "chunks": [
            {
                "index": c.index,
                "start_s": round(c.span.start_s, 3),
                "end_s": round(c.span.end_s, 3),
                "speech_s": round(c.speech_s, 3),
                "audio_tokens": c.cost.audio_tokens,
                "video_tokens": c.cost.video_tokens,
                "input_tokens": c.cost.input_tokens,
                "est_output_tokens": c.cost.output_tokens,
                "est_output_text_tokens": c.cost.output_text_tokens,
                "est_output_audio_tokens": c.cost.output_audio_tokens,
                "payload_chars": c.cost.payload_chars,
                "delivery": c.delivery,
                "silent": c.silent,
                "cut_through_speech": c.cut_through_speech,
            }
            for c in plan.chunks
        ],
        "totals": {
            "requests": plan.requests,
            "input_tokens": estimate.input_tokens,
            "est_output_tokens": estimate.output_tokens,
            "by_kind": estimate.as_dict(),
        },
        "cost": cost.as_dict(),
        "warnings": [*analysis.warnings, *plan.warnings],
    }


def price(table: PriceTable, model: str, plan: ChunkPlan) -> Cost:
    return table.cost(model, plan.estimate)
