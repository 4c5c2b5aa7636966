"""Every error a client sees: a status, a stable code and a message; never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from ltb.errors import LtbError, MediaError, RequestRefused
from ltb.schemas import ErrorBody

log = logging.getLogger("ltb.api")

# What a client is asked to wait while the database is unreachable.
DATABASE_RETRY_AFTER_S = 5

# Validation errors of these types answer with their own code rather than invalid_request:
# clients branch on `unknown_language` and `unknown_voice` (see api.jobs.schemas).
CODED_VALIDATION_ERRORS = frozenset({"unknown_language", "unknown_voice"})

# What each error status means, for the OpenAPI document: every route lists the statuses it
# can answer from this one table (`errors(...)`), all with the {"error": {code, message}} body.
ERROR_STATUSES: dict[int, str] = {
    400: "The request names something unusable: `invalid_source_uri` (not an s3://bucket/key), "
    "`price_table_missing`, a storage error while listing a source prefix, `http_error` "
    "(a body that is not JSON).",
    401: "`unauthorized`: no API key, or one that is unknown or revoked.",
    403: "`source_not_allowed` or `output_not_allowed`: outside the tenant's read or write grants.",
    404: "`not_found`: no such job, batch or chunk for this tenant.",
    409: "A conflict with the current state: `idempotency_key_reused`, `not_cancellable`, "
    "`not_retryable`, `budget_exceeded`, `job_not_finished` (delete a queued or running job), "
    "`job_deleted` (retry a deleted job), `job_not_succeeded`, `revision_pending`, "
    "`chunk_not_redoable`.",
    413: "`request_too_large`: the body is over LTB_API_MAX_BODY_BYTES.",
    422: "The request breaks a rule: `invalid_request` (the schema), `unknown_language`, "
    "`unknown_voice`, `voice_unsupported`, `audio_output_unsupported`, "
    "`output_needs_realtime_engine`, `source_lang_required`, `engine_unavailable`, "
    "`video_output_needs_video`, `invalid_callback_url`, "
    "`callback_url_not_allowed`, `too_many_jobs`, `no_sources`, `invalid_cursor`, "
    "`invalid_label_filter`, `invalid_group_by`, `invalid_voices`, `retention_too_long`, "
    "`voice_not_used`, `cue_rules_violated` (with `violations`: each cue's index, rule and "
    "message)…",
    429: "`rate_limited`: over the tenant's request rate; wait `Retry-After` seconds. "
    "`tenant_budget_exhausted`: the tenant's tokens booked this month reached its monthly "
    "token budget; new jobs and batches are refused until the month ends (`Retry-After`).",
    500: "`internal_error`: the service hit an unexpected error.",
    503: "`database_unavailable`: the database is unreachable; retry after `Retry-After` seconds.",
}
# Every route that acts for a tenant can answer these.
TENANT_ERRORS = (401, 422, 429, 500, 503)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status it can answer besides its success."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        documented[status] = {"model": ErrorBody, "description": ERROR_STATUSES[status]}
        if status in (429, 503):
            documented[status]["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before sending again.",
                    "schema": {"type": "integer"},
                }
            }
    return documented


class ApiError(LtbError):
    """An error with its HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.headers = headers
        # Keys beside "error" in the body (a cue edit's violations), as the route documents.
        self.extra = extra


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def _body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            {**_body(exc.code, exc.message), **(exc.extra or {})},
            status_code=exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(RequestRefused)
    async def refused(_: Request, exc: RequestRefused) -> JSONResponse:
        return JSONResponse(_body(exc.code, exc.message), status_code=422)

    @app.exception_handler(MediaError)
    async def media(_: Request, exc: MediaError) -> JSONResponse:
        return JSONResponse(_body(exc.code, exc.message), status_code=422)

    @app.exception_handler(LtbError)
    async def ltb_error(_: Request, exc: LtbError) -> JSONResponse:
        return JSONResponse(_body(exc.code, exc.message), status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        found = exc.errors()
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'] if p != 'body')}: {error['msg']}"
            for error in found
        )
        code = next(
            (e["type"] for e in found if e["type"] in CODED_VALIDATION_ERRORS), "invalid_request"
        )
        return JSONResponse(_body(code, problems or "the request is invalid"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "unauthorized",
            404: "not_found",
            405: "method_not_allowed",
            413: "request_too_large",
            429: "rate_limited",
        }.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return JSONResponse(
            _body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
        )

    # The database is down or restarting: a client should come back shortly, and a load
    # balancer should not count it as a bug. The pool reconnects by itself once it is back.
    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("the database is unavailable: %s", type(exc).__name__)
        return JSONResponse(
            _body("database_unavailable", "the database is unavailable; try again shortly"),
            status_code=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            _body("internal_error", "the service hit an unexpected error"), status_code=500
        )


def _allowed_methods(request: Request) -> str:
    """Every method the path answers, as the OpenAPI document lists them. Starlette names
    only those of the first route that matches the path, and GET and POST on one path
    are two routes."""
    app: FastAPI = request.app
    methods: set[str] = set()
    for template, operations in app.openapi().get("paths", {}).items():
        if compile_path(template)[0].fullmatch(request.url.path):
            methods.update(method.upper() for method in operations)
    return ", ".join(sorted(methods))
