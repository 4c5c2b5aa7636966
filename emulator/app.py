"""The emulator's HTTP surface: the provider's chat-completions endpoint, the realtime
engine's WebSocket (/api-ws/v1/realtime, emulator.realtime), plus a small `/_emulator/*`
side door for tests (ledger, reset, health) that the real API does not have.

One request's way through, in the order the provider's gateway and model would meet it:
key -> burst fault -> requests per minute -> validation -> injected refusals -> media intake
and decoding -> input limit -> tokens per minute -> the answer, streamed.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response

from emulator import billing, media
from emulator.answer import compose, pace_per_delta, play
from emulator.config import EmulatorConfig
from emulator.errors import (
    ProviderError,
    data_inspection_failed,
    internal_error,
    invalid_api_key,
    invalid_parameter,
    rate_limited,
)
from emulator.faults import FAULT_HEADER, FaultPlan
from emulator.intake import received_media
from emulator.ledger import Ledger, LedgerEntry, key_id
from emulator.limits import QuotaWindows
from emulator.realtime import endpoint as realtime_endpoint
from emulator.realtime.faults import RealtimeFaults
from emulator.realtime.protocol import PATH as REALTIME_PATH
from emulator.requests import TranslationRequest, parse_body, validate
from emulator.session import StreamSession
from emulator.stream import ChunkFactory, EventStreamResponse
from ltb.errors import MediaError
from ltb.providers import EMULATOR_HEADER
from ltb.timeline import Span
from ltb.usage import TokenCounts

log = logging.getLogger("emulator")

# A request body larger than this is refused: a 10,485,760-character data URI plus the JSON
# around it fits with room to spare.
MAX_BODY_BYTES = 16 * 1024**2
# A client's own id for its request, echoed into the ledger (OpenAI's API accepts the same).
CLIENT_REQUEST_ID_HEADER = "x-client-request-id"
RECONFIGURABLE = frozenset(
    {
        "fail_429",
        "fail_500",
        "cut",
        "moderation",
        "seed",
        "retry_after_s",
        "first_byte_ms",
        "realtime_factor",
        "max_output_tokens",
        "stall_s",
        "dub_factor",
        "realtime_latency_s",
    }
)


@dataclass
class Emulator:
    """Everything one emulator instance remembers between requests."""

    config: EmulatorConfig
    ledger: Ledger = field(default_factory=Ledger)
    quota: QuotaWindows = field(init=False)
    faults: FaultPlan = field(init=False)
    realtime_faults: RealtimeFaults = field(init=False)

    def __post_init__(self) -> None:
        self.quota = QuotaWindows(rpm=self.config.rpm, tpm=self.config.tpm)
        self._plan_faults()

    def _plan_faults(self) -> None:
        c = self.config
        self.faults = FaultPlan(
            fail_429=c.fail_429,
            fail_500=c.fail_500,
            cut=c.cut,
            moderation=c.moderation,
            seed=c.seed,
        )
        self.realtime_faults = RealtimeFaults(c)

    def reconfigure(self, changes: dict[str, Any]) -> None:
        """Changes faults, pacing or output caps between requests (a test harness control;
        the real API has nothing like it). The quota windows and the ledger carry on."""
        unknown = set(changes) - RECONFIGURABLE
        if unknown:
            raise ValueError(
                f"cannot change {', '.join(sorted(unknown))}; only {', '.join(sorted(RECONFIGURABLE))}"
            )
        self.config = replace(self.config, **changes)
        self._plan_faults()

    def reset(self) -> None:
        """Empties the ledger and the quota windows and restarts the fault sequence."""
        self.ledger.reset()
        self.quota.reset()
        self.faults.reset()
        self.realtime_faults.reset()


@dataclass
class _Seen:
    """What is known about a request so far, for its ledger entry if it is refused."""

    api_key: str | None = None
    model: str | None = None
    input_kind: str | None = None
    media_duration_s: float | None = None
    client_request_id: str | None = None


def create_app(config: EmulatorConfig) -> FastAPI:
    emulator = Emulator(config)
    app = FastAPI(
        title="livetranslate-batch provider emulator",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.emulator = emulator

    async def chat_completions(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        seen = _Seen(client_request_id=request.headers.get(CLIENT_REQUEST_ID_HEADER))
        try:
            return await _serve(request, emulator, request_id, seen)
        except ProviderError as refusal:
            return _refuse(emulator, refusal, request_id, seen)
        except Exception:
            log.exception("emulator failed on request %s", request_id)
            return _refuse(emulator, internal_error(), request_id, seen)

    for prefix in ("/compatible-mode/v1", "/v1"):
        app.add_api_route(f"{prefix}/chat/completions", chat_completions, methods=["POST"])

    async def realtime(websocket: WebSocket) -> None:
        await realtime_endpoint.serve(websocket, emulator)

    app.add_api_websocket_route(REALTIME_PATH, realtime)

    @app.get("/_emulator/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/_emulator/ledger")
    async def ledger() -> JSONResponse:
        return JSONResponse(emulator.ledger.summary())

    @app.post("/_emulator/reset")
    async def reset() -> dict[str, str]:
        emulator.reset()
        return {"status": "reset"}

    @app.post("/_emulator/config")
    async def reconfigure(request: Request) -> JSONResponse:
        try:
            emulator.reconfigure(await request.json())
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"status": "configured"})

    return app


async def _serve(request: Request, emulator: Emulator, request_id: str, seen: _Seen) -> Response:
    config = emulator.config
    # The body is read before anything is refused: answering while a client is still
    # uploading megabytes would leave it writing into a closed socket.
    raw_body = await _read_body(request)
    api_key = _bearer_key(request, config, seen)
    quota_key = key_id(api_key)

    fault = emulator.faults.draw(request.headers.get(FAULT_HEADER))
    if fault.kind == "429":
        raise rate_limited(
            "limit_burst_rate",
            "Request rate increased too quickly. To ensure system stability, please adjust "
            "your client logic to scale requests more smoothly over time.",
            retry_after_s=config.retry_after_s,
        )
    emulator.quota.admit_request(quota_key)

    body = parse_body(raw_body)
    seen.model = body.get("model") if isinstance(body.get("model"), str) else None
    translation = validate(body)
    seen.input_kind = translation.media_kind
    if fault.kind == "500":
        raise internal_error()
    if fault.kind == "moderation-input":
        raise data_inspection_failed(output=False)

    measured, counts, regions = await _hear(translation, config, seen)
    emulator.quota.admit_tokens(quota_key, counts.input_tokens)

    answer = await asyncio.to_thread(compose, translation, regions, config)
    session = StreamSession(
        request_id=request_id,
        api_key=api_key,
        quota_key=quota_key,
        model=translation.model,
        media=measured,
        input_counts=counts,
        ledger=emulator.ledger,
        quota=emulator.quota,
        client_request_id=seen.client_request_id,
    )
    chunks = ChunkFactory(
        request_id=request_id, model=translation.model, include_usage=translation.include_usage
    )
    events = play(
        answer,
        session=session,
        chunks=chunks,
        fault=fault,
        pace_s=pace_per_delta(
            answer, media_s=measured.duration_s, realtime_factor=config.realtime_factor
        ),
        stall_s=config.stall_s,
    )
    if config.first_byte_ms:
        await asyncio.sleep(config.first_byte_ms / 1000)
    return EventStreamResponse(
        events,
        headers={
            "x-request-id": request_id,
            "cache-control": "no-cache",
            EMULATOR_HEADER: "1",
        },
        on_close=lambda: session.close("client_disconnected"),
    )


async def _hear(
    translation: TranslationRequest, config: EmulatorConfig, seen: _Seen
) -> tuple[media.MeasuredInput, TokenCounts, tuple[Span, ...]]:
    """Fetches and decodes the media; bills its input; maps its speech if it fits."""
    param = (
        "messages.content.input_audio.data"
        if translation.media_kind == "audio"
        else "messages.content.video_url.url"
    )
    async with received_media(translation.media_ref, config=config, param=param) as path:
        try:
            measured = await asyncio.to_thread(media.measure, path, translation.media_kind)
            seen.media_duration_s = measured.duration_s
            counts = billing.input_counts(measured)
            # Refused before the speech map: an over-long input is not worth listening to.
            billing.check_input_limit(counts)
            regions = await asyncio.to_thread(media.speech_regions, path)
        except MediaError as exc:
            raise invalid_parameter(
                f"The media cannot be used: {exc.message}.", param=param
            ) from None
    return measured, counts, regions


def _bearer_key(request: Request, config: EmulatorConfig, seen: _Seen) -> str:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise invalid_api_key(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."
        )
    # Noted before the check, so a refused key shows in the ledger (as its tag only).
    seen.api_key = key
    if config.api_key and not hmac.compare_digest(key.encode(), config.api_key.encode()):
        raise invalid_api_key("Incorrect API key provided.")
    return key


async def _read_body(request: Request) -> bytes:
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > MAX_BODY_BYTES:
            raise invalid_parameter(f"The request body exceeds {MAX_BODY_BYTES:,} bytes.")
    return bytes(body)


def _refuse(emulator: Emulator, refusal: ProviderError, request_id: str, seen: _Seen) -> Response:
    """The provider's error answer; the ledger records it, billed nothing."""
    emulator.ledger.record(
        LedgerEntry.build(
            request_id=request_id,
            api_key=seen.api_key,
            model=seen.model,
            outcome="error",
            status=refusal.status,
            counts=TokenCounts(),
            input_kind=seen.input_kind,
            media_duration_s=seen.media_duration_s,
            error_code=refusal.code,
            client_request_id=seen.client_request_id,
        )
    )
    return JSONResponse(
        refusal.body(request_id), status_code=refusal.status, headers=refusal.headers(request_id)
    )
