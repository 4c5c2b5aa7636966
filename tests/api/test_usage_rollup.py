"""The daily rollup stays exactly in step with usage_records, whatever is deleted and
however large a job's labels are, on Postgres and on SQLite."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, delete
from sqlalchemy.orm import Session

from ltb.db.migrate import upgrade
from ltb.db.models import Job, Tenant, UsageRecord

from support.postgres import fresh_database
from support.rollup import rollup_totals, usage_totals


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ltb.sqlite3'}"
        upgrade(url)
        made = create_engine(url)
        yield made
        made.dispose()
        return
    with fresh_database("rollup") as plain:
        made = create_engine(plain.replace("postgresql://", "postgresql+psycopg://", 1))
        yield made
        made.dispose()


def _job_with_usage(session: Session, tenant: Tenant, labels: dict[str, str], n: int) -> Job:
    job = Job(
        tenant_id=tenant.id,
        source_uri="s3://media/x/a.mp3",
        target_lang="en",
        outputs=["text"],
        output_prefix="s3://out/x/",
        labels=labels,
    )
    session.add(job)
    session.flush()
    for attempt in range(n):
        session.add(
            UsageRecord(
                tenant_id=tenant.id,
                job_id=job.id,
                chunk_idx=0,
                attempt=attempt + 1,
                model="qwen3-livetranslate-flash",
                input_audio=375,
                output_text=120,
                outcome="ok",
                price_table="illustrative-2025-12-01",
                currency="USD",
                cost=0.00495,
            )
        )
    session.flush()
    return job


def test_deleting_a_job_by_hand_takes_its_usage_out_of_the_rollup(engine: Engine) -> None:
    with Session(engine) as session:
        tenant = Tenant(name=f"t-{uuid.uuid4().hex[:8]}", read_prefixes=[])
        session.add(tenant)
        session.flush()
        kept = _job_with_usage(session, tenant, {"customer": "acme"}, 2)
        gone = _job_with_usage(session, tenant, {"customer": "acme"}, 3)
        session.commit()
        assert rollup_totals(engine) == usage_totals(engine)
        # The cascade removes the job's usage rows after the job itself.
        session.execute(delete(Job).where(Job.id == gone.id))
        session.commit()
        assert session.get(Job, kept.id) is not None
    totals = rollup_totals(engine)
    assert totals == usage_totals(engine)
    assert [requests for *_, requests, _audio, _cost in totals] == [2]


def test_a_label_of_any_accepted_size_never_breaks_recording(engine: Engine) -> None:
    big = {"note": secrets.token_urlsafe(6_000), "other": secrets.token_urlsafe(3_000)}
    with Session(engine) as session:
        tenant = Tenant(name=f"t-{uuid.uuid4().hex[:8]}", read_prefixes=[])
        session.add(tenant)
        session.flush()
        _job_with_usage(session, tenant, big, 2)
        session.commit()
        # Usage records are completed in place: the update path re-keys the rollup row too.
        for record in session.query(UsageRecord).filter(UsageRecord.tenant_id == tenant.id):
            record.output_text = 200
        session.commit()
    assert rollup_totals(engine) == usage_totals(engine)
