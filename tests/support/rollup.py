"""The usage rollup checked against the rows it sums, on Postgres and SQLite alike."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, text

Totals = set[tuple[Any, ...]]


def rollup_totals(engine: Engine) -> Totals:
    """Per tenant, target and labels: requests, input audio tokens and cost, as the
    rollup has them (rows that net to nothing left out)."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT tenant_id, target_lang, labels, sum(requests), sum(input_audio), "
                "sum(cost) FROM usage_daily_rollup GROUP BY tenant_id, target_lang, labels"
            )
        ).all()
    return _normalised(rows)


def usage_totals(engine: Engine) -> Totals:
    """The same figures computed from usage_records themselves."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT u.tenant_id, j.target_lang, j.labels, count(*), sum(u.input_audio), "
                "sum(u.cost) FROM usage_records u JOIN jobs j ON j.id = u.job_id "
                "GROUP BY u.tenant_id, j.target_lang, j.labels"
            )
        ).all()
    return _normalised(rows)


def _normalised(rows: Any) -> Totals:
    out: Totals = set()
    for tenant, target, labels, requests, audio, cost in rows:
        if not requests:
            continue
        if isinstance(labels, str):
            labels = json.loads(labels)
        out.add(
            (
                str(tenant).replace("-", ""),
                target,
                json.dumps(labels, sort_keys=True),
                int(requests),
                int(audio),
                Decimal(str(cost)).quantize(Decimal("0.00000001")),
            )
        )
    return out
