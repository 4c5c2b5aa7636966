"""A small typed client for the REST API, behind `ltb submit`, `ltb status` and `ltb usage`.

Every failure becomes an `LtbError` with a stable code: the API's own `{"error": {code,
message}}` for a refusal (4xx, `ApiRefused`), `ApiUnavailable` when the service cannot be
reached or fails on its side (5xx). Nothing is retried except a GET whose pooled connection
was reset, which is safe to send again.
"""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any

import httpx

from ltb import __version__
from ltb.errors import LtbError

# Generous reads: a usage report over a long period is computed while we wait.
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# A server closing an idle keep-alive connection just as we reuse it: the GET never ran.
_RESET = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class ApiRefused(LtbError):
    """The API refused the request (4xx): the input or the key needs changing."""

    def __init__(
        self, message: str, *, code: str, status: int, body: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        # The whole answer, for refusals that say more than a message (a cue edit's violations).
        self.body = body or {}


class ApiUnavailable(LtbError):
    """The API could not be reached, or failed on its side (5xx): try again later."""

    code = "api_unavailable"


class ApiClient:
    """The jobs and usage endpoints, authenticated with one tenant's API key."""

    def __init__(
        self, base_url: str, key: str, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise LtbError(
                f"the API URL must start with http:// or https://, not {base_url[:100]!r}; set LTB_API_URL or --api-url",
                code="invalid_api_url",
            )
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {key}", "User-Agent": f"ltb/{__version__}"},
            timeout=TIMEOUT,
            transport=transport,
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def submit(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """POST /v1/jobs: the job view (the existing job when the key was used before)."""
        response = self._send(
            "POST", "/v1/jobs", json=body, headers={"Idempotency-Key": idempotency_key}
        )
        return _json_object(response)

    def job(self, job_id: str) -> dict[str, Any]:
        """GET /v1/jobs/{id}: status, progress, estimate, usage, outputs, error."""
        return _json_object(self._send("GET", f"/v1/jobs/{_job_id(job_id)}"))

    def cues(self, job_id: str) -> dict[str, Any]:
        """GET /v1/jobs/{id}/cues: the current revision's cues."""
        return _json_object(self._send("GET", f"/v1/jobs/{_job_id(job_id)}/cues"))

    def edit_cues(self, job_id: str, edits: list[dict[str, Any]]) -> dict[str, Any]:
        """PATCH /v1/jobs/{id}/cues: the revision queued (a 422 lists each violation)."""
        response = self._send("PATCH", f"/v1/jobs/{_job_id(job_id)}/cues", json={"cues": edits})
        return _json_object(response)

    def redo(self, job_id: str, chunk_index: int, voice: str | None = None) -> dict[str, Any]:
        """POST /v1/jobs/{id}/chunks/{index}/redo: the revision queued."""
        body = {"voice": voice} if voice else {}
        path = f"/v1/jobs/{_job_id(job_id)}/chunks/{chunk_index}/redo"
        return _json_object(self._send("POST", path, json=body))

    def usage(self, params: dict[str, str], csv: bool = False) -> dict[str, Any] | str:
        """GET /v1/usage: the report as JSON, or the API's CSV text verbatim."""
        query = {**params, "format": "csv" if csv else "json"}
        response = self._send("GET", "/v1/usage", params=query)
        return response.text if csv else _json_object(response)

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            try:
                response = self._http.request(method, path, **options)
            except _RESET:
                if method != "GET":
                    raise  # a POST may have been applied: never send it twice
                response = self._http.request(method, path, **options)
        except httpx.TimeoutException as exc:
            raise ApiUnavailable(
                f"the API at {self.base_url} did not answer in time ({type(exc).__name__})",
                code="api_timeout",
            ) from exc
        except httpx.HTTPError as exc:
            raise ApiUnavailable(
                f"cannot reach the API at {self.base_url} ({exc or type(exc).__name__}); is `ltb api` running there? Set LTB_API_URL or --api-url",
                code="api_unreachable",
            ) from exc
        if not response.is_success:
            raise _refusal(response)
        return response


def _job_id(job_id: str) -> str:
    try:
        uuid.UUID(job_id)
    except ValueError:
        raise LtbError(
            f"{job_id[:100]!r} is not a job id (a UUID, as `ltb submit` prints)",
            code="invalid_job_id",
        ) from None
    return job_id


def _refusal(response: httpx.Response) -> LtbError:
    """The API's `{"error": {"code", "message"}}`, or a stand-in for a body without one."""
    code, message = f"http_{response.status_code}", response.text[:300].strip()
    body: dict[str, Any] = {}
    try:
        body = response.json()
        error = body.get("error")
    except (ValueError, AttributeError):
        body, error = {}, None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        code, message = error["code"], str(error.get("message", ""))
    message = message or response.reason_phrase
    if response.status_code >= 500:
        return ApiUnavailable(
            f"the API failed on its side (HTTP {response.status_code}): {message}", code=code
        )
    return ApiRefused(message, code=code, status=response.status_code, body=body)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ApiUnavailable(
            f"{response.request.url} answered with something other than a JSON object; is LTB_API_URL the ltb API?",
            code="bad_response",
        )
    return data
