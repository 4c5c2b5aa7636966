"""The FastAPI application (`ltb api`). OpenAPI at /docs."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from api import health
from api.batches import endpoints as batches
from api.body_limit import BodyLimit
from api.console import endpoints as console
from api.context import ServiceContext
from api.cues import endpoints as cues
from api.deps import KeyCache
from api.errors import install_error_handlers
from api.jobs import endpoints as jobs
from api.metrics import CounterFloor
from api.metrics import router as metrics_router
from api.ratelimit import enforce_rate_limit, rate_limiter
from api.usage import endpoints as usage
from ltb import __version__
from ltb.db.engine import session_factory
from ltb.pricing import load_price_book
from ltb.queue import make_celery
from ltb.settings import Settings, get_settings
from ltb.storage import object_store


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    # Everything loaded at start-up lives as long as the process: freezing it keeps the
    # garbage collector from rescanning it on every full collection, which showed as
    # latency spikes of a few hundred milliseconds under load.
    gc.collect()
    gc.freeze()
    yield


def _context(settings: Settings) -> ServiceContext:
    return ServiceContext(
        settings=settings,
        sessions=session_factory(settings, pre_ping=False),
        store=object_store(settings),
        queue=make_celery(settings),
        prices=load_price_book(settings.price_table_file),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The public REST API. It has no /metrics: that is `create_metrics_app`'s, on its own
    listener, so nobody outside can make Postgres sum the usage tables."""
    settings = settings or get_settings()
    app = FastAPI(
        lifespan=_lifespan,
        title="livetranslate-batch",
        version=__version__,
        description=(
            "Batch translation of audio and video in S3 into text, SRT/VTT subtitles and WAV dubs "
            "through qwen3-livetranslate-flash, with token usage and cost per request, job and tenant."
        ),
    )
    app.state.context = _context(settings)
    app.state.key_cache = KeyCache(ttl_s=settings.auth_cache_s)
    app.state.rate_limiter = rate_limiter(settings)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    app.include_router(health.router)
    # Every route that acts for a tenant draws from that tenant's request budget.
    per_tenant = [Depends(enforce_rate_limit)]
    app.include_router(jobs.router, dependencies=per_tenant)
    app.include_router(cues.router, dependencies=per_tenant)
    app.include_router(batches.router, dependencies=per_tenant)
    app.include_router(usage.router, dependencies=per_tenant)
    app.include_router(console.router)  # /console: its pages resolve the tenant themselves
    return app


def create_metrics_app(settings: Settings | None = None) -> FastAPI:
    """GET /metrics alone, for the metrics listener (LTB_METRICS_HOST/PORT). One per
    process: its counters never decrease while it lives (see api.metrics)."""
    settings = settings or get_settings()
    app = FastAPI(title="livetranslate-batch metrics", version=__version__, openapi_url=None)
    app.state.context = _context(settings)
    app.state.counters = CounterFloor()
    install_error_handlers(app)
    app.include_router(metrics_router)
    return app
