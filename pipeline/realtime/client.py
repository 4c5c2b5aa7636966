"""One realtime session over WebSocket: configure, stream a segment's audio (and frames)
at a pace, finish, and gather one answer per utterance the server found.

The protocol is docs/provider.md "Realtime engine". The client never retries: a session
that breaks is redone whole by `pipeline/realtime/engine.py`, which books every attempt.
Each response's usage is handed to `on_response` the moment `response.done` arrives, so
the books hold it before anything can make the segment run (and bill) again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ltb.errors import ProviderError
from ltb.providers import Provider, ProviderEndpoint, served_by
from ltb.settings import Settings
from ltb.usage import TokenCounts

INPUT_RATE_HZ = 16_000
OUTPUT_RATE_HZ = 24_000
# 100 ms blocks of 1,600 samples, as the provider's sample sends its microphone.
BLOCK_SAMPLES = 1_600
BLOCK_S = BLOCK_SAMPLES / INPUT_RATE_HZ
REALTIME_PATH = "/api-ws/v1/realtime"
TRANSCRIPTION_MODEL = "qwen3-asr-flash-realtime"
# Error-event codes that say "try again": the server closes the session after them.
_RETRYABLE_EVENT_CODES = frozenset({"internal_error", "server_error", "service_unavailable"})
_RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What `session.update` asks for. `voice` None means text only."""

    target_lang: str
    source_lang: str
    voice: str | None = None

    def session(self) -> dict[str, Any]:
        session: dict[str, Any] = {
            "modalities": ["text", "audio"] if self.voice else ["text"],
            "input_audio_format": "pcm16",
            # The API reference names pcm24; the sample sends pcm16. Both give 24 kHz PCM16.
            "output_audio_format": "pcm24",
            "translation": {"language": self.target_lang},
            "input_audio_transcription": {
                "model": TRANSCRIPTION_MODEL,
                "language": self.source_lang,
            },
        }
        if self.voice:
            session["voice"] = self.voice
        return session


@dataclass(frozen=True, slots=True)
class Frame:
    """A JPEG sent as visual context, `at_s` seconds into the segment."""

    at_s: float
    jpeg: bytes
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class SessionInput:
    pcm16: bytes  # little-endian PCM16, mono, 16 kHz
    frames: tuple[Frame, ...] = ()

    @property
    def duration_s(self) -> float:
        return len(self.pcm16) / 2 / INPUT_RATE_HZ


# The protocol's status of a response the server finished.
RESPONSE_COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class UtteranceReply:
    """One response: the translation of one utterance the server's VAD found."""

    index: int  # order within the session
    response_id: str | None
    text: str
    transcript: str
    pcm: bytes  # PCM16 mono 24 kHz
    usage: TokenCounts
    status: str  # "completed" or "incomplete" (output cap reached)
    # Seconds of the segment's audio sent when the response began: the utterance ended
    # before this point (an upper bound for placing it).
    heard_by_s: float

    @property
    def dub_s(self) -> float:
        return len(self.pcm) / 2 / OUTPUT_RATE_HZ

    @property
    def completed(self) -> bool:
        """The server finished the answer (not cut at the output cap)."""
        return self.status == RESPONSE_COMPLETED


@dataclass(frozen=True, slots=True)
class SessionResult:
    session_id: str | None
    utterances: tuple[UtteranceReply, ...]
    provider: Provider | None
    # What had arrived of an answer the session broke off in (billed, never reported).
    in_flight_text: str = ""
    in_flight_pcm_s: float = 0.0


@dataclass(frozen=True, slots=True)
class SessionTimeouts:
    connect_s: float = 10.0
    # Nothing from the server for this long after session.finish: the session is stuck.
    idle_s: float = 120.0


@dataclass
class _Reading:
    """What the reader has gathered so far; the partial answer goes with an error."""

    session_id: str | None = None
    sent_s: float = 0.0
    utterances: list[UtteranceReply] = field(default_factory=list)
    transcript: str = ""
    response_id: str | None = None
    heard_by_s: float = 0.0
    text_parts: str = ""
    # The hypothesis of the answer under way (text events carry all of it so far).
    text_stash: str = ""
    pcm_parts: list[bytes] = field(default_factory=list)
    finished: bool = False
    error: ProviderError | None = None

    @property
    def in_flight(self) -> bool:
        return self.response_id is not None


class RealtimeClient:
    """Opens sessions against one realtime endpoint and model."""

    def __init__(
        self,
        *,
        url: str,
        api_key: str,
        model: str,
        pace: float = 1.0,
        timeouts: SessionTimeouts | None = None,
        provider: Provider | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        # Sent on every handshake besides the key (a test harness's fault header, say).
        self.headers = dict(headers or {})
        self.api_key = api_key
        self.model = model
        self.pace = pace
        self.timeouts = timeouts or SessionTimeouts()
        self.provider = provider

    @property
    def session_url(self) -> str:
        joiner = "&" if "?" in self.url else "?"
        return self.url if "model=" in self.url else f"{self.url}{joiner}model={self.model}"

    async def run_session(
        self,
        config: SessionConfig,
        media: SessionInput,
        *,
        on_response: Callable[[UtteranceReply], None],
        client_request_id: str | None = None,
    ) -> SessionResult:
        """Streams `media` through one session and returns every utterance's answer.

        Raises ProviderError (`retryable` says whether a new session may succeed); the
        answers that did arrive are attached as `partial` (a SessionResult).
        """
        reading = _Reading()
        headers = {**self.headers, "Authorization": f"Bearer {self.api_key}"}
        if client_request_id:
            headers["X-Client-Request-Id"] = client_request_id
        try:
            ws = await websockets.connect(
                self.session_url,
                additional_headers=headers,
                max_size=None,
                open_timeout=self.timeouts.connect_s,
                # Pings would compete with audio for a slow link; the idle timeout covers a stall.
                ping_interval=None,
            )
        except InvalidStatus as exc:
            raise _handshake_error(exc) from exc
        except (OSError, TimeoutError) as exc:
            raise ProviderError(
                f"the realtime endpoint could not be reached: {exc}",
                code="provider_unavailable",
                retryable=True,
            ) from exc
        if ws.response is not None:
            self.provider = served_by(ws.response.headers)
        try:
            await self._converse(ws, config, media, reading, on_response)
        except ProviderError as error:
            error.partial = self._result(reading)
            raise
        finally:
            with contextlib.suppress(Exception):
                await ws.close()
        return self._result(reading)

    def _result(self, reading: _Reading) -> SessionResult:
        return SessionResult(
            session_id=reading.session_id,
            utterances=tuple(reading.utterances),
            provider=self.provider,
            in_flight_text=reading.transcript + reading.text_parts + reading.text_stash,
            in_flight_pcm_s=sum(len(p) for p in reading.pcm_parts) / 2 / OUTPUT_RATE_HZ,
        )

    async def _converse(
        self,
        ws: ClientConnection,
        config: SessionConfig,
        media: SessionInput,
        reading: _Reading,
        on_response: Callable[[UtteranceReply], None],
    ) -> None:
        reader = asyncio.create_task(_read(ws, reading, on_response))
        try:
            await _send(ws, "session.update", session=config.session())
            await self._stream(ws, media, reading, reader)
            if not reader.done():
                await _send(ws, "session.finish")
        except ConnectionClosed:
            pass  # the reader says how the session ended
        try:
            await _until_quiet(reader, reading, idle_s=self.timeouts.idle_s)
        finally:
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        if reading.error is not None:
            raise reading.error
        if not reading.finished:
            raise ProviderError(
                "the realtime session ended before session.finished",
                code="stream_cut",
                retryable=True,
                request_id=reading.session_id,
            )

    async def _stream(
        self,
        ws: ClientConnection,
        media: SessionInput,
        reading: _Reading,
        reader: asyncio.Task[None],
    ) -> None:
        """Audio in 100 ms blocks at `pace` × real time; each frame after the block that
        reaches its time (never before the first block, which the server requires)."""
        step = BLOCK_SAMPLES * 2
        frames = sorted(media.frames, key=lambda f: f.at_s)
        next_frame = 0
        started = time.monotonic()
        for index, start in enumerate(range(0, len(media.pcm16), step)):
            if reader.done():
                return  # the server ended the session; sending more is pointless
            due = started + index * BLOCK_S / self.pace
            wait_s = due - time.monotonic()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            block = media.pcm16[start : start + step]
            await _send(ws, "input_audio_buffer.append", audio=base64.b64encode(block).decode())
            reading.sent_s = (start + len(block)) / 2 / INPUT_RATE_HZ
            while next_frame < len(frames) and frames[next_frame].at_s <= reading.sent_s:
                image = base64.b64encode(frames[next_frame].jpeg).decode()
                await _send(ws, "input_image_buffer.append", image=image)
                next_frame += 1


async def _send(ws: ClientConnection, kind: str, **fields: Any) -> None:
    await ws.send(json.dumps({"event_id": f"event_{uuid.uuid4().hex}", "type": kind, **fields}))


async def _until_quiet(reader: asyncio.Task[None], reading: _Reading, *, idle_s: float) -> None:
    """Waits for the reader, allowing `idle_s` of silence between two events."""
    while not reader.done():
        before = (len(reading.utterances), reading.text_parts, len(reading.pcm_parts))
        done, _ = await asyncio.wait({reader}, timeout=idle_s)
        after = (len(reading.utterances), reading.text_parts, len(reading.pcm_parts))
        if not done and before == after:
            reading.error = ProviderError(
                f"the realtime session sent nothing for {idle_s:g} s",
                code="provider_timeout",
                retryable=True,
                request_id=reading.session_id,
            )
            return
    reader.result()


async def _read(
    ws: ClientConnection, reading: _Reading, on_response: Callable[[UtteranceReply], None]
) -> None:
    try:
        async for message in ws:
            event = json.loads(message)
            if not isinstance(event, dict):
                continue
            _take(event, reading, on_response)
            if reading.finished or (reading.error is not None and not reading.error.retryable):
                return
    except ConnectionClosed as closed:
        if reading.error is None:
            code = closed.rcvd.code if closed.rcvd else 1006
            reading.error = ProviderError(
                f"the realtime session was closed (code {code}) before it finished",
                code="stream_cut",
                retryable=True,
                request_id=reading.session_id,
            )


def _take(
    event: dict[str, Any], reading: _Reading, on_response: Callable[[UtteranceReply], None]
) -> None:
    kind = event.get("type")
    if kind == "session.created":
        session = event.get("session") or {}
        reading.session_id = session.get("id") if isinstance(session, dict) else None
    elif kind == "conversation.item.input_audio_transcription.completed":
        reading.transcript = str(event.get("transcript") or "")
    elif kind == "response.created":
        response = event.get("response") or {}
        reading.response_id = str(response.get("id") or "") or None
        reading.heard_by_s = reading.sent_s
        reading.text_parts, reading.pcm_parts = "", []
    elif kind in ("response.audio_transcript.text", "response.text.text"):
        reading.text_stash = str(event.get("text") or "") + str(event.get("stash") or "")
    elif kind in ("response.audio_transcript.done", "response.text.done"):
        reading.text_parts = str(event.get("transcript") or event.get("text") or "")
    elif kind == "response.audio.delta":
        # Each delta is its own base64 string: decoded one by one, never concatenated.
        reading.pcm_parts.append(base64.b64decode(str(event.get("delta") or "")))
    elif kind == "response.done":
        response = event.get("response") or {}
        reply = UtteranceReply(
            index=len(reading.utterances),
            response_id=str(response.get("id") or reading.response_id or "") or None,
            text=reading.text_parts,
            transcript=reading.transcript,
            pcm=b"".join(reading.pcm_parts),
            usage=realtime_counts(response.get("usage") or {}),
            status=str(response.get("status") or RESPONSE_COMPLETED),
            heard_by_s=reading.heard_by_s,
        )
        reading.utterances.append(reply)
        reading.response_id, reading.transcript = None, ""
        reading.text_parts, reading.text_stash, reading.pcm_parts = "", "", []
        on_response(reply)
    elif kind == "session.finished":
        reading.finished = True
    elif kind == "error":
        reading.error = _event_error(event.get("error") or {}, reading)


def realtime_counts(usage: Mapping[str, Any]) -> TokenCounts:
    """The realtime usage object (`response.done.response.usage`) in the service's kinds.
    The source transcript is already inside the output text."""
    inputs = usage.get("input_tokens_details") or {}
    outputs = usage.get("output_tokens_details") or {}
    return TokenCounts(
        input_audio=int(inputs.get("audio_tokens") or 0),
        input_image=int(inputs.get("image_tokens") or 0),
        input_text=int(inputs.get("text_tokens") or 0),
        output_text=int(outputs.get("text_tokens") or 0),
        output_audio=int(outputs.get("audio_tokens") or 0),
    )


def _event_error(error: Mapping[str, Any], reading: _Reading) -> ProviderError:
    code = str(error.get("code") or error.get("type") or "error")
    message = str(error.get("message") or "")
    retryable = code in _RETRYABLE_EVENT_CODES or error.get("type") == "server_error"
    if code == "data_inspection_failed":
        mapped = "provider_rejected"
    elif retryable:
        mapped = "provider_unavailable"
    else:
        mapped = "provider_rejected"
    return ProviderError(
        f"the realtime session reported {code}: {message}".strip(),
        code=mapped,
        retryable=retryable,
        request_id=reading.response_id or reading.session_id,
    )


def _handshake_error(exc: InvalidStatus) -> ProviderError:
    response = exc.response
    status = response.status_code
    code, message = None, ""
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        body = json.loads(response.body or b"{}")
        inner = body.get("error", body) if isinstance(body, dict) else {}
        if isinstance(inner, dict):
            code, message = inner.get("code"), str(inner.get("message") or "")
    if status == 401:
        mapped = "provider_auth"
    elif status == 429:
        mapped = "provider_rate_limited"
    elif status in _RETRYABLE_STATUS:
        mapped = "provider_unavailable"
    else:
        mapped = "provider_rejected"
    retry_after = response.headers.get("retry-after")
    return ProviderError(
        f"the realtime endpoint refused the session: {status} {code or ''} {message}".strip(),
        code=mapped,
        status=status,
        retryable=status in _RETRYABLE_STATUS,
        retry_after_s=float(retry_after) if retry_after and retry_after.isdigit() else None,
        request_id=response.headers.get("x-request-id"),
    )


def realtime_client_for(endpoint: ProviderEndpoint, settings: Settings) -> RealtimeClient:
    """The realtime client a worker or a local command uses: DashScope's (or the configured)
    WebSocket URL, or, for an emulator this process started, the emulator's own."""
    url = settings.realtime_url
    if endpoint.emulated:
        root = endpoint.base_url.split("/compatible-mode")[0]
        url = root.replace("https://", "wss://").replace("http://", "ws://") + REALTIME_PATH
    return RealtimeClient(
        url=url,
        api_key=endpoint.api_key,
        model=settings.realtime_model,
        pace=settings.realtime_pace,
        timeouts=SessionTimeouts(
            connect_s=settings.provider_connect_timeout_s,
            idle_s=settings.provider_first_byte_timeout_s,
        ),
        provider=endpoint.provider,
    )
