"""/v1/usage"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.deps import ContextDep, SessionDep, TenantDep
from api.usage import service
from api.usage.schemas import UsageReport

router = APIRouter(prefix="/v1/usage", tags=["usage"])


@router.get("", response_model=UsageReport)
def usage(
    tenant: TenantDep,
    session: SessionDep,
    context: ContextDep,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    group_by: Annotated[
        str,
        Query(
            description="Comma-separated: day, week, month, target_lang, source_lang, model, batch, label:<name>"
        ),
    ] = "day",
    format: Literal["json", "csv"] = "json",
    price_table: Annotated[
        str | None, Query(description="Reprice with this price table id.")
    ] = None,
) -> UsageReport | Response:
    """Tokens by kind, requests and cost per group, for the tenant's requests in [from, to)."""
    result = service.report(
        session,
        tenant=tenant,
        prices=context.prices,
        since=since,
        until=until,
        group_by=service.parse_group_by(group_by),
        reprice_with=price_table,
    )
    if format == "csv":
        return Response(service.as_csv(result), media_type="text/csv; charset=utf-8")
    return result
