"""What crosses the wire for usage reports."""

from __future__ import annotations

from ltb.schemas import Outside, TokenTotals


class UsageRow(TokenTotals):
    group: dict[str, str]
    currency: str | None
    price_table: str | None


class UsageReport(Outside):
    group_by: list[str]
    rows: list[UsageRow]
