"""A usage report reshaped for the cost charts: one series per stacked value."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from api.usage.schemas import UsageReport

TOKEN_FIELDS = (
    "input_audio_tokens",
    "input_video_tokens",
    "input_text_tokens",
    "output_text_tokens",
    "output_audio_tokens",
    "input_image_tokens",
)


def usage_chart(report: UsageReport, *, grain: str, stack: str) -> dict[str, Any]:
    """Periods on the x axis; for cost and for tokens, one series per value of `stack`
    (a target language, or a label's value; "(none)" where a job had no such label)."""
    cost: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    tokens: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    currencies: set[str] = set()
    periods: set[str] = set()
    for row in report.rows:
        period = row.group.get(grain, "")
        series = row.group.get(stack, "") or "(none)"
        periods.add(period)
        if row.currency:
            currencies.add(row.currency)
        cost[series][period] += row.cost
        tokens[series][period] += sum(getattr(row, name) for name in TOKEN_FIELDS)
    labels = sorted(periods)
    names = sorted(cost)
    return {
        "labels": labels,
        "stack": stack,
        "currency": ", ".join(sorted(currencies)) or None,
        "cost": [
            {"label": name, "data": [round(cost[name][p], 6) for p in labels]} for name in names
        ],
        "tokens": [{"label": name, "data": [tokens[name][p] for p in labels]} for name in names],
        "totals": [
            {
                "label": name,
                "cost": round(sum(cost[name].values()), 6),
                "tokens": sum(tokens[name].values()),
            }
            for name in names
        ],
    }
