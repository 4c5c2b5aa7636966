"""/healthz says the process runs; /readyz says it can do its work (database, broker, and
storage: every configured bucket exists and takes writes)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import text

from api.deps import ContextDep
from ltb.buckets import check_buckets
from ltb.errors import LtbError
from ltb.schemas import Outside

router = APIRouter(tags=["health"])


class Liveness(Outside):
    status: Literal["ok"]


class Readiness(Outside):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(
        description="database, broker, storage: `ok`, or `error: ` and what failed."
    )


@router.get("/healthz", response_model=Liveness)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Something it needs is not ready."}},
)
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
