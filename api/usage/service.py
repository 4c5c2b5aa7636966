"""Usage reports: grouped, in one currency per row, optionally repriced with another table."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from api.errors import ApiError
from api.usage.repository import COLUMNS, TIME_GRAINS, grouped_usage
from api.usage.schemas import UsageReport, UsageRow
from ltb.db.models import Tenant
from ltb.pricing import PriceBook, PriceTable
from ltb.usage import TOKEN_KINDS, TokenCounts


def parse_group_by(raw: str) -> list[str]:
    names = [name.strip() for name in raw.split(",") if name.strip()]
    for name in names:
        if name in TIME_GRAINS or name in COLUMNS or (name.startswith("label:") and len(name) > 6):
            continue
        raise ApiError(
            422,
            "invalid_group_by",
            f"cannot group by {name!r}; use day, week, month, target_lang, source_lang, model, batch, purpose or label:<name>",
        )
    if len(names) != len(set(names)):
        raise ApiError(422, "invalid_group_by", "each group_by name may appear once")
    return names


def report(
    session: Session,
    *,
    tenant: Tenant,
    prices: PriceBook,
    since: date | None,
    until: date | None,
    group_by: list[str],
    reprice_with: str | None,
) -> UsageReport:
    table: PriceTable | None = prices.by_id(reprice_with) if reprice_with else None
    raw = grouped_usage(
        session,
        tenant_id=tenant.id,
        first_day=since,
        end_day=until,
        group_by=group_by,
    )
    merged: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(
        lambda: {kind: 0 for kind in TOKEN_KINDS} | {"requests": 0, "cost": Decimal(0)}
    )
    for row in raw:
        currency = table.currency if table else row["currency"]
        key = (*row["group"].values(), currency)
        bucket = merged[key]
        bucket["group"] = {k: "" if v is None else str(v) for k, v in row["group"].items()}
        bucket["currency"] = currency
        for kind in TOKEN_KINDS:
            bucket[kind] += row[kind]
        bucket["requests"] += row["requests"]
        if table is not None:
            counts = TokenCounts(**{kind: row[kind] for kind in TOKEN_KINDS})
            bucket["cost"] += table.cost(row["model"], counts).amount
        else:
            bucket["cost"] += Decimal(row["cost"])
    rows = [
        UsageRow(
            group=b["group"],
            input_audio_tokens=b["input_audio"],
            input_video_tokens=b["input_video"],
            input_text_tokens=b["input_text"],
            output_text_tokens=b["output_text"],
            output_audio_tokens=b["output_audio"],
            input_image_tokens=b["input_image"],
            total_tokens=sum(b[kind] for kind in TOKEN_KINDS),
            requests=b["requests"],
            cost=float(round(b["cost"], 6)),
            currency=b["currency"],
            price_table=table.id if table else None,
        )
        for b in merged.values()
    ]
    return UsageReport(group_by=group_by, rows=rows)


def as_csv(report: UsageReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fields = list(UsageRow.model_fields)
    fields.remove("group")
    writer.writerow([*report.group_by, *fields])
    for row in report.rows:
        data = row.model_dump()
        writer.writerow(
            [row.group.get(name, "") for name in report.group_by] + [data[f] for f in fields]
        )
    return out.getvalue()
