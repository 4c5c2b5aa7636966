"""Errors that reach users carry a stable code and a message that says what to do."""

from __future__ import annotations


class LtbError(Exception):
    """A failure a user can act on. `code` is stable; it goes into the API and the manifest."""

    code: str = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class MediaError(LtbError):
    """The source media cannot be used as it is (empty, corrupt, unsupported, over a cap)."""

    code = "unsupported_media"


class RequestRefused(LtbError):
    """The request itself is invalid: refused before anything is fetched or billed."""

    code = "invalid_request"


class BudgetExceeded(LtbError):
    code = "budget_exceeded"


class ProviderError(LtbError):
    """The provider answered with an error, or the stream broke.

    `retryable` says whether the same request may succeed later (429, 5xx, a cut stream).
    """

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retryable: bool = False,
        retry_after_s: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.request_id = request_id
        # What arrived before the failure, if anything (set by the provider client).
        self.partial: object | None = None
