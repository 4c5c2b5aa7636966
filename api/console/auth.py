"""Who is signed in to the console, and the CSRF check on what they post.

The pasted API key is exchanged for an HttpOnly, SameSite=Strict cookie scoped to
/console: page scripts never see the key, and every request resolves it through the
API's own dependency (api.deps.get_tenant), so the console makes exactly the API's tenant
checks, rate limit included. Posts carry a CSRF token derived from the key by HMAC, which
a page from another origin cannot compute.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from api.deps import SessionDep, get_tenant
from api.errors import ApiError
from api.ratelimit import enforce_rate_limit
from ltb.db.models import Tenant
from ltb.tenancy import hash_key
from ltb.tenant_repository import is_operator_key

COOKIE = "ltb_console"
CSRF_HEADER = "X-CSRF-Token"
PATH = "/console"


class SignInRequired(ApiError):
    """No valid key in the session: the console answers with the sign-in page."""

    def __init__(self, message: str = "sign in with an API key") -> None:
        super().__init__(401, "unauthorized", message)


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in console user: a tenant, or an operator (tenant None, read-only)."""

    tenant: Tenant | None
    csrf: str

    @property
    def operator(self) -> bool:
        return self.tenant is None

    def require_tenant(self) -> Tenant:
        if self.tenant is None:
            # The operator's view is read-only and across tenants; tenant pages are not its.
            raise ApiError(403, "operator_read_only", "an operator key sees the fleet view only")
        return self.tenant


def csrf_token(key: str) -> str:
    return hmac.new(key.encode(), b"ltb-console-csrf", hashlib.sha256).hexdigest()


def resolve(request: Request, session: SessionDep, key: str) -> Viewer:
    """The viewer `key` signs in; SignInRequired when it is unknown or revoked."""
    try:
        tenant = get_tenant(
            request, session, HTTPAuthorizationCredentials(scheme="Bearer", credentials=key)
        )
    except ApiError as exc:
        if exc.status != 401:
            raise
        if not is_operator_key(session, hash_key(key)):
            raise SignInRequired("the API key is not valid") from exc
        return Viewer(tenant=None, csrf=csrf_token(key))
    enforce_rate_limit(request, tenant)
    return Viewer(tenant=tenant, csrf=csrf_token(key))


def current_viewer(request: Request, session: SessionDep) -> Viewer:
    key = request.cookies.get(COOKIE)
    if not key:
        raise SignInRequired()
    viewer = resolve(request, session, key)
    if request.method not in ("GET", "HEAD"):
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), viewer.csrf.encode()):
            raise ApiError(403, "csrf_failed", "the request lacks this session's CSRF token")
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
