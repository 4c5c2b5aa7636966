"""/v1/usage"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from api.deps import ContextDep, SessionDep, TenantDep
from api.errors import TENANT_ERRORS, errors
from api.params import Day
from api.usage import service
from api.usage.schemas import UsageReport

router = APIRouter(prefix="/v1/usage", tags=["usage"])

# What api.usage.service.parse_group_by reads: comma-separated names, blanks ignored.
_GROUP = (
    r"\s*(?:day|week|month|target_lang|source_lang|model|batch|purpose|label:[^,]*[^,\s][^,]*)?\s*"
)
GROUP_BY_PATTERN = rf"^{_GROUP}(?:,{_GROUP})*$"


_CSV: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report: JSON, or with format=csv one CSV row per group "
        "(the group_by columns, then the token kinds, requests, cost, currency, price_table).",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get("", response_model=UsageReport, responses=_CSV | errors(*TENANT_ERRORS, 400))
def usage(
    tenant: TenantDep,
    session: SessionDep,
    context: ContextDep,
    since: Annotated[Day | None, Query(alias="from", description="First UTC day.")] = None,
    until: Annotated[Day | None, Query(alias="to", description="UTC day after the last.")] = None,
    group_by: Annotated[
        str,
        Query(
            description="Comma-separated, each at most once: day, week, month, target_lang, "
            "source_lang, model, batch, purpose (`translate`, or `redo` for chunks redone on "
            "request), label:<name>",
            # Published, not enforced here: parse_group_by answers invalid_group_by.
            json_schema_extra={"pattern": GROUP_BY_PATTERN},
        ),
    ] = "day",
    format: Literal["json", "csv"] = "json",
    price_table: Annotated[
        str | None,
        Query(description="Reprice with this price table id; an unknown one is a 400."),
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
