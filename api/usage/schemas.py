"""What crosses the wire for usage reports."""

from __future__ import annotations

from pydantic import BaseModel

from api.jobs.schemas import TokenTotals


class UsageRow(TokenTotals):
    group: dict[str, str]
    currency: str | None
    price_table: str | None


class UsageReport(BaseModel):
    group_by: list[str]
    rows: list[UsageRow]
