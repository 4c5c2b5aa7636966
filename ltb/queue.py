"""The Celery app both sides share: the API sends tasks by name, the workers run them.

A message only says "look at job X" or "look at chunk Y"; Postgres holds the state, so
there is no result backend (docs/architecture.md "Reliability rules").
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from ltb.settings import Settings, get_settings

log = logging.getLogger("ltb.queue")

PLAN_JOB = "ltb.plan_job"
TRANSLATE_CHUNK = "ltb.translate_chunk"
FINALIZE_JOB = "ltb.finalize_job"
REAP = "ltb.reap"
DISPATCH_BATCH = "ltb.dispatch_batch"
DELIVER_WEBHOOK = "ltb.deliver_webhook"
# Retention (ltb/retention.py): one job's deletion, and the periodic sweep for expiry.
PURGE_JOB = "ltb.purge_job"
EXPIRE_OUTPUTS = "ltb.expire_outputs"
# Writes a job's next output revision (a cue edit, or a chunk redone on request).
PUBLISH_REVISION = "ltb.publish_revision"

PLAN_QUEUE = "ltb"
CHUNK_QUEUE = "ltb.chunks"
# The plans of a batch's jobs. A worker takes from its queues in turn, so one job's plan
# is not queued behind a 5,000-job batch's plans (the chunks' fairness is the dispatcher's).
BATCH_PLAN_QUEUE = "ltb.batch-plans"
# What `ltb worker` consumes: the translation work. Its depth is the queue depth.
QUEUES = (CHUNK_QUEUE, PLAN_QUEUE, BATCH_PLAN_QUEUE)
# Webhook deliveries, consumed by `ltb webhooks` (and by `ltb worker --beat` on a single
# node): a receiver that answers slowly holds a delivery process, never a translator.
WEBHOOK_QUEUE = "ltb.webhooks"


def queue_depth(queue: Celery, *, timeout_s: float = 2.0) -> int | None:
    """Messages waiting in the task queue (not those a worker holds); None if unreadable."""
    try:
        with queue.connection_for_read(
            connect_timeout=timeout_s,
            # Redis reads these; the other transports ignore them.
            transport_options={"socket_connect_timeout": timeout_s, "socket_timeout": timeout_s},
        ) as connection:
            connection.ensure_connection(max_retries=0)
            # Not passive: on Redis an empty queue is a missing key, which a passive
            # declare reports as NOT_FOUND rather than as zero messages.
            channel: Any = connection.default_channel  # kombu's stubs know only StdChannel
            waiting = 0
            for name in QUEUES:
                waiting += int(channel.queue_declare(queue=name, passive=False).message_count)
            return waiting
    except Exception:
        log.debug("could not read the queue depth", exc_info=True)
        return None


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    app = Celery("ltb", broker=settings.broker, set_as_current=False)
    app.conf.update(_celery_options(settings))
    return app


def _celery_options(settings: Settings) -> dict[str, Any]:
    if (
        not settings.task_soft_time_limit_s
        < settings.task_time_limit_s
        < settings.broker_visibility_timeout_s
    ):
        raise ValueError(
            "LTB_TASK_SOFT_TIME_LIMIT_S < LTB_TASK_TIME_LIMIT_S < LTB_BROKER_VISIBILITY_TIMEOUT_S must hold"
        )
    transport: dict[str, Any] = {"visibility_timeout": settings.broker_visibility_timeout_s}
    if settings.broker.startswith("filesystem://"):
        folder = settings.home / "broker"
        # kombu writes its control exchange under the working directory unless told otherwise.
        control = folder / "control"
        control.mkdir(parents=True, exist_ok=True)
        transport |= {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(control),
            "store_processed": False,
        }
    return {
        # A task is acknowledged only when it has finished, and a worker takes one at a time,
        # so a worker killed mid-task leaves its message for another (and the lease for the reaper).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "result_backend": None,
        "task_soft_time_limit": settings.task_soft_time_limit_s,
        "task_time_limit": settings.task_time_limit_s,
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "task_default_queue": PLAN_QUEUE,
        # Chunks and finalizes have their own queue, consumed alongside the plans: the first
        # job of a 10,000-job batch starts translating long before the last one is planned.
        "task_routes": {
            TRANSLATE_CHUNK: {"queue": CHUNK_QUEUE},
            FINALIZE_JOB: {"queue": CHUNK_QUEUE},
            PUBLISH_REVISION: {"queue": CHUNK_QUEUE},
            DELIVER_WEBHOOK: {"queue": WEBHOOK_QUEUE},
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        "beat_schedule": {
            "reap": {"task": REAP, "schedule": settings.reaper_interval_s},
            "expire-outputs": {"task": EXPIRE_OUTPUTS, "schedule": settings.retention_interval_s},
        },
    }
