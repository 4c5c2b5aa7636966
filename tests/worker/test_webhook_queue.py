"""Webhook deliveries travel on a queue of their own, so a slow receiver never holds a
worker that translates."""

from __future__ import annotations

import uuid
from pathlib import Path

import redis

from ltb.queue import DELIVER_WEBHOOK, QUEUES, TRANSLATE_CHUNK, make_celery
from ltb.settings import Settings

from support.redis_server import redis_server


def test_a_delivery_is_sent_to_the_webhook_queue_and_not_to_the_translation_queues(
    tmp_path: Path,
) -> None:
    with redis_server(tmp_path) as server:
        queue = make_celery(Settings(home=tmp_path / "home", broker_url=server.url))
        queue.send_task(DELIVER_WEBHOOK, args=[str(uuid.uuid4())])
        queue.send_task(TRANSLATE_CHUNK, args=[str(uuid.uuid4())])
        broker = redis.Redis.from_url(server.url)
        try:
            # On Redis a queue is a list under its own name.
            assert broker.llen("ltb.webhooks") == 1
            assert {name: broker.llen(name) for name in QUEUES} == {
                "ltb.chunks": 1,
                "ltb": 0,
                "ltb.batch-plans": 0,
            }
        finally:
            broker.close()
