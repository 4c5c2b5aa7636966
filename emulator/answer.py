"""What the model "says" for one request, decided before the first byte is sent, and how it
is played out as a paced stream that may meet a fault."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

from emulator.billing import fit_output
from emulator.config import EmulatorConfig
from emulator.content import SCRIPTS, joined, pseudo_translation, text_pieces
from emulator.dub import pcm_pieces, render_dub
from emulator.errors import data_inspection_failed, internal_error
from emulator.faults import Fault
from emulator.requests import TranslationRequest
from emulator.session import StreamSession
from emulator.stream import DONE, ChunkFactory, StreamCut, sse
from ltb.timeline import Span, total_duration_s

log = logging.getLogger("emulator")


@dataclass(frozen=True, slots=True)
class Answer:
    text_pieces: tuple[str, ...]
    pcm_pieces: tuple[bytes, ...]
    finish_reason: str

    @property
    def deltas(self) -> int:
        return len(self.text_pieces) + len(self.pcm_pieces)


def compose(request: TranslationRequest, regions: Sequence[Span], config: EmulatorConfig) -> Answer:
    """Text for every speech region, then the dub, both cut at the output limit."""
    sentences = pseudo_translation(request.target_lang, regions)
    text = joined(request.target_lang, sentences)
    dub = render_dub(
        sentences if request.wants_audio else (),
        request.target_lang,
        speech_s=total_duration_s(regions) if request.wants_audio else 0.0,
        factor=config.dub_factor,
        engine=config.voice_engine,
    )
    budget = min(request.max_tokens or config.max_output_tokens, config.max_output_tokens)
    fitted = fit_output(text, dub, budget)
    # A file with no speech still opens the stream with one empty text delta.
    pieces = text_pieces(fitted.text, dense=SCRIPTS[request.target_lang].dense) or [""]
    return Answer(
        text_pieces=tuple(pieces),
        pcm_pieces=tuple(pcm_pieces(fitted.dub)),
        finish_reason="length" if fitted.truncated else "stop",
    )


async def play(
    answer: Answer,
    *,
    session: StreamSession,
    chunks: ChunkFactory,
    fault: Fault,
    pace_s: float,
    stall_s: float,
) -> AsyncGenerator[bytes, None]:
    """The stream: text deltas, audio deltas, the finish chunk, the usage chunk, [DONE].

    A failure of the emulator itself mid-stream ends the stream the way the provider ends
    one: an error line (internal_error), recorded as such rather than as a disconnect.
    """
    events = _events(
        answer, session=session, chunks=chunks, fault=fault, pace_s=pace_s, stall_s=stall_s
    )
    try:
        async for event in events:
            yield event
    except StreamCut:
        raise
    except Exception:
        log.exception("emulator failed mid-stream on request %s", session.request_id)
        error = internal_error()
        session.close("error", error_code=error.code)
        yield sse(error.body(session.request_id))


async def _events(
    answer: Answer,
    *,
    session: StreamSession,
    chunks: ChunkFactory,
    fault: Fault,
    pace_s: float,
    stall_s: float,
) -> AsyncGenerator[bytes, None]:
    strike_at = fault.strikes_after(answer.deltas)
    payloads = [chunks.text(piece, first=i == 0) for i, piece in enumerate(answer.text_pieces)]
    payloads += [chunks.audio(base64.b64encode(pcm).decode()) for pcm in answer.pcm_pieces]
    for index in range(len(payloads) + 1):
        if index == strike_at:
            if fault.kind == "stall":
                # Silence with the connection open: the client's read timeout must fire.
                await asyncio.sleep(stall_s)
            else:
                async for event in _strike(fault, session=session, chunks=chunks):
                    yield event
                return
        if index == len(payloads):
            break
        if pace_s:
            await asyncio.sleep(pace_s)
        if index < len(answer.text_pieces):
            session.sent_text(answer.text_pieces[index])
        else:
            session.sent_audio(len(answer.pcm_pieces[index - len(answer.text_pieces)]) // 2)
        yield sse(payloads[index])
    yield sse(chunks.finish(answer.finish_reason))
    if chunks.include_usage:
        yield sse(
            chunks.usage(
                session.counts.as_provider_usage(video_input=session.media.kind == "video")
            )
        )
    session.close(
        "length" if answer.finish_reason == "length" else "ok", finish_reason=answer.finish_reason
    )
    yield DONE


async def _strike(
    fault: Fault, *, session: StreamSession, chunks: ChunkFactory
) -> AsyncGenerator[bytes, None]:
    if fault.kind == "cut":
        session.close("cut")
        raise StreamCut(session.request_id)
    # Moderation of the output: an error line in the stream, then the stream ends.
    error = data_inspection_failed(output=True)
    session.close("error", error_code=error.code)
    body = error.body(session.request_id)
    body["error"]["id"] = chunks.completion_id
    yield sse(body)


def pace_per_delta(answer: Answer, *, media_s: float, realtime_factor: float) -> float:
    """Seconds between deltas so the stream lasts about media_s x realtime_factor."""
    if realtime_factor <= 0:
        return 0.0
    return media_s * realtime_factor / max(1, answer.deltas)
