"""The usage report's query. It reads the daily rollup that triggers keep in step with
usage_records, so a month costs a few hundred rows whatever the number of requests."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from ltb.db.models import UsageDaily

TIME_GRAINS = ("day", "week", "month")
COLUMNS = ("target_lang", "source_lang", "model", "batch", "purpose")


def dimension(name: str, dialect: str) -> ColumnElement[Any] | Any:
    """The SQL expression a group-by name stands for, in this database's dialect."""
    day = UsageDaily.day
    if name in TIME_GRAINS:
        if dialect == "postgresql":
            if name == "day":
                return func.to_char(day, "YYYY-MM-DD")
            if name == "month":
                return func.to_char(day, "YYYY-MM")
            return func.to_char(func.date_trunc("week", day), "YYYY-MM-DD")
        if name == "day":
            return func.strftime("%Y-%m-%d", day)
        if name == "month":
            return func.strftime("%Y-%m", day)
        # The Monday on or before the day (ISO weeks start on Monday, like date_trunc's).
        return func.date(day, "-6 days", "weekday 1")
    if name == "target_lang":
        return UsageDaily.target_lang
    if name == "source_lang":
        return UsageDaily.source_lang
    if name == "model":
        return UsageDaily.model
    if name == "batch":
        return UsageDaily.batch_id
    if name == "purpose":
        return UsageDaily.purpose
    if name.startswith("label:") and len(name) > len("label:"):
        return func.coalesce(UsageDaily.labels[name[len("label:") :]].as_string(), "")
    raise ValueError(name)


def grouped_usage(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    first_day: date | None,
    end_day: date | None,
    group_by: list[str],
) -> list[dict[str, Any]]:
    """Token sums, request counts and cost per group and model, in one currency per row,
    over the UTC days [first_day, end_day)."""
    dialect = session.get_bind().dialect.name
    keys = [dimension(name, dialect).label(f"g{i}") for i, name in enumerate(group_by)]
    query: Select[Any] = select(
        *keys,
        UsageDaily.model.label("model_"),
        UsageDaily.currency.label("currency"),
        func.sum(UsageDaily.input_audio).label("input_audio"),
        func.sum(UsageDaily.input_video).label("input_video"),
        func.sum(UsageDaily.input_text).label("input_text"),
        func.sum(UsageDaily.output_text).label("output_text"),
        func.sum(UsageDaily.output_audio).label("output_audio"),
        func.sum(UsageDaily.input_image).label("input_image"),
        func.sum(UsageDaily.requests).label("requests"),
        func.sum(UsageDaily.cost).label("cost"),
    ).where(UsageDaily.tenant_id == tenant_id)
    if first_day is not None:
        query = query.where(UsageDaily.day >= first_day)
    if end_day is not None:
        query = query.where(UsageDaily.day < end_day)
    # Grouped by model too, so a report can be repriced per model; merged again above.
    query = query.group_by(*keys, UsageDaily.model, UsageDaily.currency).order_by(*keys)
    rows = []
    for row in session.execute(query):
        mapping = row._mapping
        rows.append(
            {
                "group": {name: mapping[f"g{i}"] for i, name in enumerate(group_by)},
                "model": mapping["model_"],
                "currency": mapping["currency"] or None,
                "input_audio": int(mapping["input_audio"] or 0),
                "input_video": int(mapping["input_video"] or 0),
                "input_text": int(mapping["input_text"] or 0),
                "output_text": int(mapping["output_text"] or 0),
                "output_audio": int(mapping["output_audio"] or 0),
                "input_image": int(mapping["input_image"] or 0),
                "requests": int(mapping["requests"] or 0),
                "cost": mapping["cost"] or 0,
            }
        )
    return [row for row in rows if row["requests"]]
