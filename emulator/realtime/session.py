"""One realtime session, from session.created to session.finished.

Two tasks share the socket: the listener reads client events (configuration, audio, images,
finish), feeds the audio to the utterance detector and queues each utterance it ends; the
responder answers the queued utterances one at a time, in order, each after the configured
latency. Sends are serialised, so events of one response never interleave with an error
event for a bad append.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from emulator.config import EmulatorConfig
from emulator.errors import data_inspection_failed, internal_error
from emulator.faults import Fault
from emulator.ledger import Ledger, LedgerEntry
from emulator.limits import QuotaWindows
from emulator.realtime import billing
from emulator.realtime.answer import UtteranceAnswer, compose
from emulator.realtime.faults import RealtimeFaults
from emulator.realtime.images import AcceptedImage, ImageGate
from emulator.realtime.protocol import RealtimeError, encode, event, new_id
from emulator.realtime.utterances import Utterance, UtteranceDetector, check_audio
from emulator.realtime.validation import SessionSettings, apply_update, decode_base64, parse_frame
from emulator.stream import StreamCut
from ltb.tokens import MAX_INPUT_TOKENS
from ltb.usage import TokenCounts

log = logging.getLogger("emulator")

DUB_RATE_HZ = 24_000
# After session.finished the client is expected to disconnect; a client that does not is
# closed on after this long.
FINISH_GRACE_S = 10.0
CLOSE_INTERNAL_ERROR = 1011
CLOSE_GOING_AWAY = 1001
# What a send or receive raises once the client has gone (the ASGI server's own disconnect
# error is an OSError; Starlette turns some into WebSocketDisconnect or a RuntimeError).
CLIENT_GONE: tuple[type[Exception], ...] = (WebSocketDisconnect, RuntimeError, OSError)


@dataclass(frozen=True, slots=True)
class _Work:
    """One utterance to answer, with what its response bills for input."""

    utterance: Utterance
    settings: SessionSettings
    window_start_s: float
    images: tuple[AcceptedImage, ...]
    due: float  # monotonic time the response may start


class RealtimeSession:
    def __init__(
        self,
        websocket: WebSocket,
        *,
        config: Callable[[], EmulatorConfig],
        ledger: Ledger,
        quota: QuotaWindows,
        faults: RealtimeFaults,
        api_key: str,
        quota_key: str,
        model: str,
        forced_fault: str | None,
    ) -> None:
        self._ws = websocket
        self._config = config
        self._ledger = ledger
        self._quota = quota
        self._faults = faults
        self._api_key = api_key
        self._quota_key = quota_key
        self.model = model
        self._forced_fault = forced_fault
        self.id = new_id("sess")
        self.settings = SessionSettings()
        self._detector = UtteranceDetector()
        self._images = ImageGate()
        self._pending_images: list[AcceptedImage] = []
        self._window_start_s = 0.0
        self._audio_seen = False
        self._finishing = False
        self._queue: asyncio.Queue[_Work | None] = asyncio.Queue()
        self._send_lock = asyncio.Lock()

    # --- the socket -----------------------------------------------------------------------

    async def _send(self, payload: dict[str, Any]) -> None:
        async with self._send_lock:
            await self._ws.send_text(encode(payload))

    async def run(self) -> None:
        await self._send(
            event(
                "session.created",
                session=self.settings.as_session(session_id=self.id, model=self.model),
            )
        )
        listener = asyncio.create_task(self._listen(), name=f"{self.id}-listen")
        responder = asyncio.create_task(self._respond(), name=f"{self.id}-respond")
        done, _ = await asyncio.wait({listener, responder}, return_when=asyncio.FIRST_COMPLETED)
        if listener in done:
            # The client went away (or broke the protocol's framing): nothing more can be sent.
            responder.cancel()
            await asyncio.gather(responder, return_exceptions=True)
            listener.result()
            return
        # The responder ended: session.finished was sent, or a fault ended the session.
        try:
            closing = responder.result()
        except BaseException:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            raise
        if closing is not None:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            with contextlib.suppress(RuntimeError, OSError):
                await self._ws.close(code=closing)
            return
        try:
            await asyncio.wait_for(listener, FINISH_GRACE_S)
        except TimeoutError:
            with contextlib.suppress(RuntimeError, OSError):
                await self._ws.close()

    # --- client events --------------------------------------------------------------------

    async def _listen(self) -> None:
        try:
            await self._listen_until_gone()
        except CLIENT_GONE:
            return

    async def _listen_until_gone(self) -> None:
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            try:
                await self._handle(raw)
            except RealtimeError as error:
                await self._send(error.as_event())
            except CLIENT_GONE:
                raise
            except Exception:
                log.exception("realtime session %s failed on a client event", self.id)
                broken = internal_error()
                await self._send(
                    RealtimeError(broken.code, broken.message, None, type="server_error").as_event()
                )

    async def _handle(self, raw: str | bytes) -> None:
        kind, body = parse_frame(raw)
        if self._finishing:
            raise RealtimeError(
                "invalid_value", "The session is finishing; no more events are accepted.", "type"
            )
        if kind == "session.update":
            self.settings = apply_update(self.settings, body.get("session"))
            await self._send(
                event(
                    "session.updated",
                    session=self.settings.as_session(session_id=self.id, model=self.model),
                )
            )
        elif kind == "input_audio_buffer.append":
            pcm = decode_base64(body.get("audio"), param="audio")
            check_audio(pcm)
            self._audio_seen = True
            for utterance in self._detector.feed(pcm):
                self._enqueue(utterance)
        elif kind == "input_image_buffer.append":
            raw_image = decode_base64(body.get("image"), param="image")
            self._pending_images.append(
                self._images.admit(
                    raw_image, audio_s=self._detector.audio_s, audio_seen=self._audio_seen
                )
            )
        else:  # session.finish
            self._finishing = True
            for utterance in self._detector.finish():
                self._enqueue(utterance)
            self._queue.put_nowait(None)

    def _enqueue(self, utterance: Utterance) -> None:
        latency_s = self._config().realtime_latency_s * self._config().realtime_factor
        self._queue.put_nowait(
            _Work(
                utterance=utterance,
                settings=self.settings,
                window_start_s=self._window_start_s,
                images=tuple(self._pending_images),
                due=time.monotonic() + latency_s,
            )
        )
        self._window_start_s = utterance.heard_s
        self._pending_images = []

    # --- responses ------------------------------------------------------------------------

    async def _respond(self) -> int | None:
        """Answers utterances until session.finish; returns a close code if a fault ends the
        session early, None after session.finished."""
        try:
            return await self._respond_in_turn()
        except CLIENT_GONE:
            return CLOSE_GOING_AWAY

    async def _respond_in_turn(self) -> int | None:
        first = True
        while True:
            work = await self._queue.get()
            if work is None:
                await self._send(event("session.finished"))
                return None
            forced = self._forced_fault if first else None
            first = False
            fault = self._faults.response.draw(forced)
            wait_s = work.due - time.monotonic()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            closing = await self._answer(work, fault)
            if closing is not None:
                return closing

    async def _answer(self, work: _Work, fault: Fault) -> int | None:
        response_id = new_id("resp")
        window_s = max(0.0, work.utterance.heard_s - work.window_start_s)
        inputs = billing.input_counts(window_s, work.images)
        detail = {
            "session_id": self.id,
            "utterance": {
                "index": work.utterance.index,
                "start_s": work.utterance.span.start_s,
                "end_s": work.utterance.span.end_s,
            },
            "window": {"start_s": round(work.window_start_s, 6), "end_s": work.utterance.heard_s},
            "target_lang": work.settings.target_lang,
            "modalities": list(work.settings.modalities),
        }
        if billing.over_input_limit(inputs):
            await self._refuse(
                response_id,
                RealtimeError(
                    "invalid_value",
                    f"Range of input length should be [1, {MAX_INPUT_TOKENS}]: this response's "
                    f"input is {inputs.input_tokens:,} tokens ({inputs.input_audio:,} audio, "
                    f"{inputs.input_video:,} image). Send fewer or smaller images.",
                    None,
                ),
                detail,
            )
            return None
        if fault.kind == "500":
            error = internal_error()
            await self._refuse(
                response_id,
                RealtimeError(error.code, error.message, None, type="server_error"),
                detail,
                status=500,
            )
            return CLOSE_INTERNAL_ERROR
        if fault.kind == "moderation-input":
            error = data_inspection_failed(output=False)
            await self._refuse(
                response_id, RealtimeError(error.code, error.message, None, type=error.type), detail
            )
            return None
        answer = await asyncio.to_thread(compose, work.utterance, work.settings, self._config())
        books = billing.ResponseBooks(
            response_id=response_id,
            session_id=self.id,
            api_key=self._api_key,
            quota_key=self._quota_key,
            model=self.model,
            inputs=inputs,
            audio_in_s=window_s,
            images=len(work.images),
            detail=detail,
            ledger=self._ledger,
            quota=self._quota,
        )
        try:
            await _Playback(self, work, answer, books, response_id, fault).play()
        except _Abandoned:
            return None
        except StreamCut:
            raise
        except asyncio.CancelledError:
            # The listener saw the client go: whatever was sent is billed.
            books.close("client_disconnected")
            raise
        except CLIENT_GONE:
            # A send found the client gone before the listener did.
            books.close("client_disconnected")
            return CLOSE_GOING_AWAY
        except Exception:
            log.exception("realtime response %s failed", response_id)
            broken = internal_error()
            books.close("error", error_code=broken.code)
            with contextlib.suppress(*CLIENT_GONE):
                await self._send(
                    RealtimeError(broken.code, broken.message, None, type="server_error").as_event()
                )
            return CLOSE_INTERNAL_ERROR
        return None

    async def _refuse(
        self, response_id: str, error: RealtimeError, detail: dict[str, Any], *, status: int = 400
    ) -> None:
        self._ledger.record(
            LedgerEntry.build(
                request_id=response_id,
                api_key=self._api_key,
                model=self.model,
                outcome="error",
                status=status,
                counts=TokenCounts(),
                input_kind="audio",
                error_code=error.code,
                kind="realtime",
                realtime=detail,
            )
        )
        await self._send(error.as_event())


class _Playback:
    """The events of one response, paced, meeting its fault if it has one."""

    def __init__(
        self,
        session: RealtimeSession,
        work: _Work,
        answer: UtteranceAnswer,
        books: billing.ResponseBooks,
        response_id: str,
        fault: Fault,
    ) -> None:
        self._session = session
        self._settings = work.settings
        self._work = work
        self._answer = answer
        self._books = books
        self._fault = fault
        self.response_id = response_id
        self.item_id = new_id("item")
        self.input_item_id = new_id("item")
        config = session._config()
        self._stall_s = config.stall_s
        deltas = max(1, len(answer.text_pieces) + len(answer.pcm_pieces))
        dub_s = sum(len(piece) // 2 for piece in answer.pcm_pieces) / DUB_RATE_HZ
        speech_s = work.utterance.span.duration_s
        # The response plays out over about as long as it would be heard, times the factor.
        self._pace_s = max(dub_s, speech_s) * config.realtime_factor / deltas

    async def _send(self, payload: dict[str, Any]) -> None:
        await self._session._send(payload)

    def _ids(self) -> dict[str, Any]:
        return {
            "response_id": self.response_id,
            "item_id": self.item_id,
            "output_index": 0,
            "content_index": 0,
        }

    def _response(self, status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
        settings = self._settings
        return {
            "id": self.response_id,
            "object": "realtime.response",
            "conversation_id": self._session.id,
            "status": status,
            "modalities": list(settings.modalities),
            "voice": settings.voice,
            "output_audio_format": settings.output_audio_format,
            "output": output,
        }

    def _item(self, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "object": "realtime.item",
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def _part(self, text: str) -> dict[str, Any]:
        if self._settings.wants_audio:
            return {"type": "audio", "transcript": text}
        return {"type": "text", "text": text}

    async def play(self) -> None:
        if self._settings.transcription_model:
            await self._transcript()
        await self._send(event("response.created", response=self._response("in_progress", [])))
        await self._send(
            event(
                "response.output_item.added",
                response_id=self.response_id,
                output_index=0,
                item=self._item("in_progress", []),
            )
        )
        await self._send(event("response.content_part.added", **self._ids(), part=self._part("")))
        deltas = len(self._answer.text_pieces) + len(self._answer.pcm_pieces)
        strike_at = self._fault.strikes_after(deltas)
        sent = 0
        text_kind = (
            "response.audio_transcript.text" if self._settings.wants_audio else "response.text.text"
        )
        for index, piece in enumerate(self._answer.text_pieces):
            await self._maybe_strike(sent, strike_at)
            await self._pace()
            self._books.sent_text(piece)
            confirmed = "".join(self._answer.text_pieces[:index])
            await self._send(event(text_kind, **self._ids(), text=confirmed, stash=piece))
            sent += 1
        for pcm in self._answer.pcm_pieces:
            await self._maybe_strike(sent, strike_at)
            await self._pace()
            self._books.sent_audio(len(pcm) // 2)
            await self._send(
                event("response.audio.delta", **self._ids(), delta=base64.b64encode(pcm).decode())
            )
            sent += 1
        await self._maybe_strike(sent, strike_at)
        await self._finish()

    async def _transcript(self) -> None:
        language = self._settings.source_lang
        pieces = self._answer.transcript_pieces
        common = {"item_id": self.input_item_id, "content_index": 0, "language": language}
        for index, piece in enumerate(pieces):
            await self._send(
                event(
                    "conversation.item.input_audio_transcription.text",
                    **common,
                    emotion="neutral",
                    text="".join(pieces[:index]),
                    stash=piece,
                )
            )
        self._books.sent_transcript(self._answer.transcript)
        await self._send(
            event(
                "conversation.item.input_audio_transcription.completed",
                **common,
                emotion="neutral",
                transcript=self._answer.transcript,
            )
        )

    async def _pace(self) -> None:
        if self._pace_s:
            await asyncio.sleep(self._pace_s)

    async def _maybe_strike(self, sent: int, strike_at: int | None) -> None:
        if strike_at is None or sent != strike_at:
            return
        if self._fault.kind == "stall":
            await asyncio.sleep(self._stall_s)
            return
        if self._fault.kind == "cut":
            self._books.close("cut")
            # Raised out of the application: the server then drops the TCP connection with
            # no close frame, which is what a network cut looks like to the client.
            raise StreamCut(self.response_id)
        error = data_inspection_failed(output=True)
        self._books.close("error", error_code=error.code)
        await self._send(RealtimeError(error.code, error.message, None, type=error.type).as_event())
        raise _Abandoned

    async def _finish(self) -> None:
        text = self._answer.text
        part = self._part(text)
        if self._settings.wants_audio:
            await self._send(
                event("response.audio_transcript.done", **self._ids(), transcript=text)
            )
            await self._send(event("response.audio.done", **self._ids()))
        else:
            await self._send(event("response.text.done", **self._ids(), text=text))
        await self._send(event("response.content_part.done", **self._ids(), part=part))
        item = self._item("completed", [part])
        await self._send(
            event(
                "response.output_item.done", response_id=self.response_id, output_index=0, item=item
            )
        )
        finish_reason = "length" if self._answer.truncated else "stop"
        usage = billing.realtime_usage(self._books.counts)
        response = self._response("completed" if finish_reason == "stop" else "incomplete", [item])
        if finish_reason == "length":
            response["status_details"] = {"type": "incomplete", "reason": "max_output_tokens"}
        # The books close before the event is handed over, so a client that reads
        # response.done and then asks the ledger always finds the entry.
        self._books.close(
            "ok" if finish_reason == "stop" else "length", finish_reason=finish_reason
        )
        await self._send(event("response.done", response={**response, "usage": usage}))


class _Abandoned(Exception):
    """A response ended by a moderation error: the session carries on without it."""
