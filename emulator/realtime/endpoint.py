"""The WebSocket handshake: key, faults, request quota and model, refused the way the file
API refuses them (an HTTP status and the same error body), since no socket is open yet.
Once accepted, the session takes over and every problem is an `error` event."""

from __future__ import annotations

import hmac
import logging
import uuid
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from emulator.errors import ProviderError, invalid_api_key, model_not_found, rate_limited
from emulator.faults import FAULT_HEADER
from emulator.ledger import LedgerEntry, key_id
from emulator.realtime.protocol import MODELS
from emulator.realtime.session import RealtimeSession
from ltb.providers import EMULATOR_HEADER
from ltb.usage import TokenCounts

if TYPE_CHECKING:
    from emulator.app import Emulator

log = logging.getLogger("emulator")


async def serve(websocket: WebSocket, emulator: Emulator) -> None:
    request_id = str(uuid.uuid4())
    api_key: str | None = None
    forced: str | None = None
    model = websocket.query_params.get("model")
    try:
        api_key = _presented_key(websocket)
        _check_key(api_key, emulator)
        forced = websocket.headers.get(FAULT_HEADER)
        if emulator.realtime_faults.handshake.draw(forced).kind == "429":
            raise rate_limited(
                "limit_burst_rate",
                "Request rate increased too quickly. To ensure system stability, please adjust "
                "your client logic to scale requests more smoothly over time.",
                retry_after_s=1,
            )
        emulator.quota.admit_request(key_id(api_key))
        if not model or model not in MODELS:
            raise model_not_found(model or "")
    except ProviderError as refusal:
        emulator.ledger.record(
            LedgerEntry.build(
                request_id=request_id,
                api_key=api_key,
                model=model,
                outcome="error",
                status=refusal.status,
                counts=TokenCounts(),
                input_kind=None,
                error_code=refusal.code,
                kind="realtime",
            )
        )
        await websocket.send_denial_response(
            JSONResponse(
                refusal.body(request_id),
                status_code=refusal.status,
                headers=refusal.headers(request_id),
            )
        )
        return
    # The emulator names itself on the handshake as on every HTTP answer (ltb.providers).
    await websocket.accept(
        headers=[(b"x-request-id", request_id.encode()), (EMULATOR_HEADER.encode(), b"1")]
    )
    session = RealtimeSession(
        websocket,
        config=lambda: emulator.config,
        ledger=emulator.ledger,
        quota=emulator.quota,
        faults=emulator.realtime_faults,
        api_key=api_key,
        quota_key=key_id(api_key),
        model=model,
        forced_fault=None if forced in (None, "429") else forced,
    )
    await session.run()


def _presented_key(websocket: WebSocket) -> str:
    scheme, _, key = websocket.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise invalid_api_key(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."
        )
    return key


def _check_key(key: str, emulator: Emulator) -> None:
    expected = emulator.config.api_key
    if expected and not hmac.compare_digest(key.encode(), expected.encode()):
        raise invalid_api_key("Incorrect API key provided.")
