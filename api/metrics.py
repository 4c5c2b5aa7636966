"""GET /metrics: the whole fleet in the Prometheus text format, read at scrape time.

Workers are many processes on many machines, so per-process counters would need a
multiprocess registry and would still differ between API replicas. Every scrape asks
Postgres (the truth) and the broker instead: one consistent fleet-wide view, the same
from every replica, so scrape one replica (or aggregate replicas with max(), never sum()).

The metrics are fleet-wide on purpose: tenant labels would have unbounded cardinality and
would show one tenant's traffic to anyone who reads the dashboards. The endpoint asks for
no API key, so it is not part of the public API: `ltb api` serves it on a listener of its
own (LTB_METRICS_HOST/PORT, loopback by default), which only the internal network sees.

Counters come from sums over rows, and rows can be deleted (a tenant removed, usage
pruned), which would move a sum down; Prometheus reads any decrease as a restart and
rate() would spike. So each counter series passes through a CounterFloor, which keeps
what it last emitted and adds only increases of the sum: within one process a counter
never decreases, and a series whose rows all disappear keeps its last value.

The queries, and what each costs, are in api/metrics_repository.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta

from celery import Celery
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from api.deps import ContextDep, SessionDep
from api.metrics_repository import (
    chunk_durations,
    jobs_by_status,
    provider_seconds,
    provider_usage,
)
from ltb.db.models import utcnow
from ltb.queue import queue_depth

log = logging.getLogger("ltb.api.metrics")

router = APIRouter(tags=["health"])

# Chunks finished this long ago still count in the duration histogram.
CHUNK_DURATION_WINDOW = timedelta(hours=24)
# A scrape must answer even when the broker hangs: connect and read for at most this long.
BROKER_TIMEOUT_S = 2.0


class CounterFloor:
    """Keeps counters monotonic in this process, whatever their source sums do.

    Per series it remembers the last source sum and the last value emitted; the next
    value is the last one plus the source's increase, if any. Rows deleted between two
    scrapes are thus never subtracted; rows deleted and added within one interval count
    only their net increase, an undercount, never a decrease. `lock` serialises scrapes,
    so two scrapes cannot interleave old and new sums.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._series: dict[str, dict[tuple[str, ...], tuple[float, float]]] = {}

    def hold(self, name: str, sums: dict[tuple[str, ...], float]) -> dict[tuple[str, ...], float]:
        """The values to emit for counter `name`, given its current sums by label values.
        Series seen before and absent now are kept, as sums of zero."""
        series = self._series.setdefault(name, {})
        emitted: dict[tuple[str, ...], float] = {}
        for labels in sorted({*series, *sums}):
            now = sums.get(labels, 0.0)
            if labels in series:
                last_sum, last_value = series[labels]
                value = last_value + max(0.0, now - last_sum)
            else:
                value = now
            series[labels] = (now, value)
            emitted[labels] = value
        return emitted


# --- the collector ----------------------------------------------------------------------


class FleetCollector(Collector):
    """The fleet's metrics, queried afresh on every collect() (one per scrape)."""

    def __init__(self, *, session: Session, queue: Celery, counters: CounterFloor) -> None:
        self.session = session
        self.queue = queue
        self.counters = counters

    def collect(self) -> Iterator[Metric]:
        yield self._jobs()
        yield self._chunk_durations()
        yield from self._provider()
        yield from self._queue()

    def _jobs(self) -> Metric:
        jobs = GaugeMetricFamily("ltb_jobs", "Jobs in each status, fleet-wide.", labels=["status"])
        for status, count in jobs_by_status(self.session).items():
            jobs.add_metric([status], count)
        return jobs

    def _chunk_durations(self) -> Metric:
        window_h = CHUNK_DURATION_WINDOW.total_seconds() / 3600
        durations = chunk_durations(self.session, finished_since=utcnow() - CHUNK_DURATION_WINDOW)
        return HistogramMetricFamily(
            "ltb_chunk_duration_seconds",
            f"Seconds from a chunk's last claim to its completion, for chunks done in the "
            f"last {window_h:g} hours (a sliding window, recomputed per scrape: use "
            f"histogram_quantile on the buckets themselves, not on rate()).",
            buckets=[(str(bound), n) for bound, n in durations.buckets]
            + [("+Inf", durations.count)],
            sum_value=durations.sum_s,
        )

    def _counter(
        self,
        name: str,
        documentation: str,
        sums: dict[tuple[str, ...], float],
        *,
        labels: list[str],
    ) -> CounterMetricFamily:
        family = CounterMetricFamily(name, documentation, labels=labels)
        for label_values, value in self.counters.hold(name, sums).items():
            family.add_metric(list(label_values), value)
        return family

    def _provider(self) -> Iterator[Metric]:
        usage = provider_usage(self.session)
        by_model = sorted(usage.by_model.items())
        yield self._counter(
            "ltb_provider_tokens",
            "Provider tokens by kind and model, as recorded (reported, or estimated when "
            "the provider reported none).",
            {
                (kind, model): float(count)
                for model, figures in by_model
                for kind, count in figures.tokens.items()
            },
            labels=["kind", "model"],
        )
        yield self._counter(
            "ltb_provider_requests",
            "Provider requests by model, failed and retried ones included.",
            {(model,): float(figures.requests) for model, figures in by_model},
            labels=["model"],
        )
        yield self._counter(
            "ltb_provider_rate_limited",
            "Provider requests refused with 429 (outcome provider_rate_limited), by model.",
            {(model,): float(figures.rate_limited) for model, figures in by_model},
            labels=["model"],
        )
        yield self._counter(
            "ltb_cost",
            "Cost of provider requests by currency.",
            {(currency,): float(amount) for currency, amount in usage.cost_by_currency.items()},
            labels=["currency"],
        )
        seconds = provider_seconds(self.session)
        yield self._counter(
            "ltb_rate_limiter_wait_seconds",
            "Seconds provider requests waited for the account-wide rate limiter.",
            {(): seconds.limiter_wait_s},
            labels=[],
        )
        yield self._counter(
            "ltb_provider_request_seconds",
            "Seconds provider requests took, waiting for the limiter excluded.",
            {(): seconds.request_s},
            labels=[],
        )

    def _queue(self) -> Iterator[Metric]:
        depth = queue_depth(self.queue)
        yield GaugeMetricFamily(
            "ltb_broker_up",
            "1 if this scrape could read the task queue from the broker, else 0.",
            value=0 if depth is None else 1,
        )
        # Absent rather than a sentinel when the broker cannot be read: a -1 would drag
        # averages and hide from threshold alerts; alert on ltb_broker_up == 0 instead.
        if depth is not None:
            yield GaugeMetricFamily(
                "ltb_queue_depth",
                "Messages waiting in the task queue, not counting those workers hold.",
                value=depth,
            )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
def metrics(request: Request, session: SessionDep, context: ContextDep) -> Response:
    """Fleet-wide metrics for Prometheus, read from the database and broker per scrape."""
    counters: CounterFloor = request.app.state.counters
    with counters.lock:
        body = generate_latest(
            FleetCollector(session=session, queue=context.queue, counters=counters)
        )
    return Response(body, media_type=CONTENT_TYPE_LATEST)
