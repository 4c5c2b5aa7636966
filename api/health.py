"""/healthz says the process runs; /readyz says it can do its work (database, broker, and
storage: every configured bucket exists and takes writes)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import ContextDep
from ltb.buckets import check_buckets
from ltb.errors import LtbError

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(context: ContextDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        with context.sessions() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001  (a probe reports failures, it does not raise them)
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        with context.queue.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["broker"] = f"error: {type(exc).__name__}"
    try:
        check_buckets(context.store, context.settings)
        checks["storage"] = "ok"
    except LtbError as exc:
        # The code names the bucket's role; the message names the bucket (never credentials).
        checks["storage"] = f"error: {exc.code}: {exc.message}"
    except Exception as exc:  # noqa: BLE001
        checks["storage"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )
