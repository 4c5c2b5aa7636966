"""The provider's error answers: status, code, type and body, exactly as the SDK sees them.

Body: {"error": {"message", "type", "param", "code"}, "request_id"}, with the same id in the
`x-request-id` header (docs/provider.md, "Errors"). Types follow what the compatible-mode endpoint
sends: `invalid_request_error` for caller mistakes, the code itself for quota, moderation and
internal errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ltb.providers import EMULATOR_HEADER

INVALID_PARAMETER = "InvalidParameter"


@dataclass(eq=False)
class ProviderError(Exception):
    """A refusal the emulator answers with before (or instead of) a stream."""

    status: int
    code: str
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    retry_after_s: int | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self, request_id: str) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            },
            "request_id": request_id,
        }

    def headers(self, request_id: str) -> dict[str, str]:
        headers = {"x-request-id": request_id, EMULATOR_HEADER: "1"}
        if self.retry_after_s is not None:
            headers["retry-after"] = str(self.retry_after_s)
        return headers


def invalid_parameter(message: str, *, param: str | None = None) -> ProviderError:
    """400 InvalidParameter: the request or its media cannot be used as sent."""
    return ProviderError(400, INVALID_PARAMETER, message, param=param)


def invalid_api_key(message: str) -> ProviderError:
    return ProviderError(401, "invalid_api_key", message)


def model_not_found(model: str) -> ProviderError:
    # The compatible-mode endpoint answers an unknown model the way OpenAI does: 404 with
    # code `model_not_found`. The SDK then raises NotFoundError, which a client must treat as
    # permanent; a 400 would be indistinguishable from a bad parameter.
    return ProviderError(
        404,
        "model_not_found",
        f"The model `{model}` does not exist or you do not have access to it.",
        param="model",
    )


def rate_limited(code: str, message: str, *, retry_after_s: int) -> ProviderError:
    """429 with the quota code as its type, and a Retry-After the SDK honours."""
    return ProviderError(429, code, message, type=code, retry_after_s=retry_after_s)


def internal_error() -> ProviderError:
    return ProviderError(
        500,
        "internal_error",
        "An internal error has occured, please try again later or contact service support.",
        type="internal_error",
    )


def data_inspection_failed(*, output: bool) -> ProviderError:
    where = "Output" if output else "Input"
    return ProviderError(
        400,
        "data_inspection_failed",
        f"{where} data may contain inappropriate content.",
        type="data_inspection_failed",
    )
