"""Idempotency keys, for jobs and batches alike: a replay with the same body returns what the
first request made; the same key with another body is refused.

A body's fingerprint covers only the fields it sets away from their defaults. A release
that adds an optional field (with a default) therefore leaves the fingerprints of earlier
requests unchanged, so a client replaying its key across an upgrade is not refused.
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol, TypeVar

from pydantic import BaseModel

from api.errors import ApiError


class Fingerprinted(Protocol):
    request_fingerprint: str | None


Row = TypeVar("Row", bound=Fingerprinted)


def request_fingerprint(body: BaseModel) -> str:
    fields = body.model_dump(mode="json", exclude_defaults=True)
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def replayed(row: Row, fingerprint: str, *, what: str) -> tuple[Row, bool]:
    """The row a key made before, if this body is the one that made it."""
    if row.request_fingerprint != fingerprint:
        raise ApiError(
            409,
            "idempotency_key_reused",
            f"this Idempotency-Key was used with a different {what}; use a new key",
        )
    return row, True
