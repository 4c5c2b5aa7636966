"""Every error a client sees: a status, a stable code and a message; never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from ltb.errors import LtbError, MediaError, RequestRefused

log = logging.getLogger("ltb.api")

# What a client is asked to wait while the database is unreachable.
DATABASE_RETRY_AFTER_S = 5


class ApiError(LtbError):
    """An error with its HTTP status."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.headers = headers


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def _body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            _body(exc.code, exc.message), status_code=exc.status, headers=exc.headers
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
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'] if p != 'body')}: {error['msg']}"
            for error in exc.errors()
        )
        return JSONResponse(
            _body("invalid_request", problems or "the request is invalid"), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "unauthorized",
            404: "not_found",
            405: "method_not_allowed",
            413: "request_too_large",
            429: "rate_limited",
        }.get(exc.status_code, "http_error")
        return JSONResponse(
            _body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
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
