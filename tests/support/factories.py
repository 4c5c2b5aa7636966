"""Test rows from factory_boy factories, rather than hand-built ones (docs/architecture.md, "How the code reads")."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy.orm import Session

from ltb.db.models import ApiKey, Job, Tenant, UsageRecord
from ltb.tenancy import hash_key


class _Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_persistence = "flush"


class TenantFactory(_Base):
    class Meta:
        model = Tenant

    id = factory.LazyFunction(uuid.uuid4)
    name = factory.Sequence(lambda n: f"tenant-{n}-{uuid.uuid4().hex[:6]}")
    read_prefixes = factory.LazyAttribute(lambda t: [f"s3://media/{t.name}/"])
    write_prefixes = factory.LazyFunction(list)


class ApiKeyFactory(_Base):
    class Meta:
        model = ApiKey

    tenant_id = factory.LazyFunction(uuid.uuid4)
    key_hash = factory.LazyFunction(lambda: hash_key(uuid.uuid4().hex))
    display_prefix = "ltb_test_"


class JobFactory(_Base):
    class Meta:
        model = Job

    id = factory.LazyFunction(uuid.uuid4)
    tenant_id = factory.LazyFunction(uuid.uuid4)
    source_uri = factory.LazyAttribute(lambda j: f"s3://media/x/{j.id}.mp3")
    target_lang = "en"
    outputs = factory.LazyFunction(lambda: ["text", "srt"])
    output_prefix = factory.LazyAttribute(lambda j: f"s3://ltb-outputs/x/{j.id}/")
    labels = factory.LazyFunction(dict)
    status = "queued"
    created_at = factory.LazyFunction(lambda: datetime.now(UTC))


class UsageRecordFactory(_Base):
    class Meta:
        model = UsageRecord

    id = factory.LazyFunction(uuid.uuid4)
    chunk_idx = 0
    attempt = 1
    request_id = factory.LazyFunction(lambda: f"req-{uuid.uuid4().hex}")
    model = "qwen3-livetranslate-flash"
    input_audio = 375
    output_text = 120
    estimated = False
    outcome = "ok"
    price_table = "illustrative-2025-12-01"
    currency = "USD"
    cost = Decimal("0.00495")
    created_at = factory.LazyFunction(lambda: datetime.now(UTC))


def bind_factories(session: Session) -> None:
    for factory_class in (TenantFactory, ApiKeyFactory, JobFactory, UsageRecordFactory):
        factory_class._meta.sqlalchemy_session = session


def tenant_with_key(**tenant_fields: object) -> tuple[Tenant, str]:
    """A tenant and a working API key for it."""
    tenant = TenantFactory(**tenant_fields)
    secret = f"ltb_test_{uuid.uuid4().hex}"
    ApiKeyFactory(tenant_id=tenant.id, key_hash=hash_key(secret), display_prefix=secret[:12])
    return tenant, secret
