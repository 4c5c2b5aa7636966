"""GET /v1/usage: token kinds, requests and cost grouped for dashboards."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from support.factories import JobFactory, UsageRecordFactory, tenant_with_key


@pytest.fixture
def books(db: Session):
    """Two customers, three days, two targets, and one request from another tenant."""
    tenant, key = tenant_with_key(name=f"books-{uuid.uuid4().hex[:6]}")
    other, _ = tenant_with_key(name=f"other-{uuid.uuid4().hex[:6]}")
    en_acme = JobFactory(tenant_id=tenant.id, target_lang="en", labels={"customer": "acme"})
    de_acme = JobFactory(
        tenant_id=tenant.id, target_lang="de", source_lang="ja", labels={"customer": "acme"}
    )
    en_globex = JobFactory(tenant_id=tenant.id, target_lang="en", labels={"customer": "globex"})
    theirs = JobFactory(tenant_id=other.id, target_lang="en", labels={"customer": "acme"})
    day = lambda d, h=12: datetime(2026, 5, d, h, tzinfo=UTC)  # noqa: E731
    for job, when, audio, text, cost in [
        (en_acme, day(1), 375, 120, "0.005"),
        (en_acme, day(1, 23), 100, 40, "0.0014"),
        (de_acme, day(2), 200, 80, "0.0028"),
        (en_globex, day(3), 50, 10, "0.0006"),
        (theirs, day(1), 9999, 9999, "9.99"),
    ]:
        UsageRecordFactory(
            tenant_id=job.tenant_id,
            job_id=job.id,
            created_at=when,
            input_audio=audio,
            output_text=text,
            cost=Decimal(cost),
        )
    return key


def usage(client: TestClient, key: str, **params) -> dict:
    response = client.get(
        "/v1/usage",
        params={"from": "2026-05-01T00:00:00Z", "to": "2026-06-01T00:00:00Z", **params},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def by(rows: list[dict], name: str) -> dict[str, dict]:
    return {row["group"][name]: row for row in rows}


def test_grouped_by_day_sums_tokens_requests_and_cost(client: TestClient, books: str) -> None:
    rows = by(usage(client, books, group_by="day")["rows"], "day")
    assert set(rows) == {"2026-05-01", "2026-05-02", "2026-05-03"}
    first = rows["2026-05-01"]
    assert (first["input_audio_tokens"], first["output_text_tokens"], first["requests"]) == (
        475,
        160,
        2,
    )
    assert first["total_tokens"] == 635
    assert first["cost"] == pytest.approx(0.0064)
    assert first["currency"] == "USD"


def test_grouped_by_target_language_and_by_a_label(client: TestClient, books: str) -> None:
    targets = by(usage(client, books, group_by="target_lang")["rows"], "target_lang")
    assert {k: v["requests"] for k, v in targets.items()} == {"en": 3, "de": 1}
    customers = by(usage(client, books, group_by="label:customer")["rows"], "label:customer")
    assert {k: v["input_audio_tokens"] for k, v in customers.items()} == {"acme": 675, "globex": 50}
    both = usage(client, books, group_by="label:customer,target_lang")["rows"]
    assert len(both) == 3
    models = usage(client, books, group_by="model")["rows"]
    assert [r["group"]["model"] for r in models] == ["qwen3-livetranslate-flash"]


def test_grouped_by_purpose_a_redone_chunk_is_its_own_group(
    client: TestClient, books: str, db: Session
) -> None:
    translated = by(usage(client, books, group_by="purpose")["rows"], "purpose")
    assert set(translated) == {"translate"} and translated["translate"]["requests"] == 4
    job = JobFactory(tenant_id=_tenant_of(db, books), target_lang="en")
    UsageRecordFactory(
        tenant_id=job.tenant_id,
        job_id=job.id,
        created_at=datetime(2026, 5, 4, tzinfo=UTC),
        purpose="redo",
        cost=Decimal("0.002"),
    )
    rows = by(usage(client, books, group_by="purpose")["rows"], "purpose")
    assert rows["redo"]["requests"] == 1 and rows["redo"]["cost"] == pytest.approx(0.002)
    assert rows["translate"]["requests"] == 4


def _tenant_of(db: Session, key: str) -> uuid.UUID:
    from sqlalchemy import select

    from ltb.db.models import ApiKey
    from ltb.tenancy import hash_key

    tenant_id = db.scalar(select(ApiKey.tenant_id).where(ApiKey.key_hash == hash_key(key)))
    assert tenant_id is not None
    return tenant_id


def test_the_window_is_half_open_and_another_tenant_is_never_counted(
    client: TestClient, books: str
) -> None:
    rows = usage(
        client,
        books,
        group_by="day",
        **{"from": "2026-05-02T00:00:00Z", "to": "2026-05-03T00:00:00Z"},
    )["rows"]
    assert [r["group"]["day"] for r in rows] == ["2026-05-02"]
    total = sum(r["input_audio_tokens"] for r in usage(client, books, group_by="month")["rows"])
    assert total == 725  # the other tenant's 9,999 never appear


def test_csv_has_a_header_and_one_line_per_group(client: TestClient, books: str) -> None:
    response = client.get(
        "/v1/usage",
        params={"group_by": "day", "format": "csv"},
        headers={"Authorization": f"Bearer {books}"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["day"] for r in table] == ["2026-05-01", "2026-05-02", "2026-05-03"]
    assert table[0]["input_audio_tokens"] == "475"


def test_repricing_uses_the_named_table_and_says_so(client: TestClient, books: str) -> None:
    rows = usage(client, books, group_by="month", price_table="illustrative-2025-12-01")["rows"]
    (row,) = rows
    # 725 audio in at 10/M and 250 text out at 10/M
    assert row["cost"] == pytest.approx((725 * 10 + 250 * 10) / 1_000_000)
    assert row["price_table"] == "illustrative-2025-12-01"


@pytest.mark.parametrize("group_by", ["colour", "label:", "day,day"])
def test_unknown_groupings_are_refused(client: TestClient, books: str, group_by: str) -> None:
    response = client.get(
        "/v1/usage", params={"group_by": group_by}, headers={"Authorization": f"Bearer {books}"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_group_by"


USAGE_DAILY_COLUMNS = [
    "day",
    "tenant",
    "tenant_id",
    "model",
    "target_lang",
    "source_lang",
    "batch_id",
    "labels",
    "input_audio_tokens",
    "input_video_tokens",
    "input_text_tokens",
    "output_text_tokens",
    "output_audio_tokens",
    "input_image_tokens",
    "total_tokens",
    "requests",
    "rate_limited_requests",
    "cost",
    "currency",
    "price_table",
]
JOB_COSTS_COLUMNS = [
    "job_id",
    "tenant",
    "tenant_id",
    "batch_id",
    "status",
    "source_uri",
    "target_lang",
    "source_lang",
    "labels",
    "created_at",
    "finished_at",
    "input_audio_tokens",
    "input_video_tokens",
    "input_text_tokens",
    "output_text_tokens",
    "output_audio_tokens",
    "input_image_tokens",
    "total_tokens",
    "requests",
    "cost",
    "currency",
    "estimated_cost",
    "price_table",
]


def test_the_bi_views_have_their_documented_columns_and_the_books_figures(
    db: Session, books: str
) -> None:
    from sqlalchemy import text

    for view, columns in (("usage_daily", USAGE_DAILY_COLUMNS), ("job_costs", JOB_COSTS_COLUMNS)):
        result = db.execute(text(f"SELECT * FROM {view} LIMIT 0"))
        assert list(result.keys()) == columns, view
    tenant_id = db.execute(
        text("SELECT tenant_id FROM usage_records WHERE cost = 0.005")
    ).scalar_one()
    daily = db.execute(
        text(
            "SELECT sum(input_audio_tokens), sum(requests), sum(cost) FROM usage_daily WHERE tenant_id = :t"
        ),
        {"t": tenant_id},
    ).one()
    assert (int(daily[0]), int(daily[1])) == (725, 4) and float(daily[2]) == pytest.approx(0.0098)
    per_job = db.execute(
        text(
            "SELECT target_lang, requests, total_tokens FROM job_costs WHERE tenant_id = :t ORDER BY total_tokens DESC"
        ),
        {"t": tenant_id},
    ).all()
    assert [(r.target_lang, r.requests, r.total_tokens) for r in per_job] == [
        ("en", 2, 635),
        ("de", 1, 280),
        ("en", 1, 60),
    ]


def test_grouped_by_model_the_realtime_engine_shows_its_image_tokens(
    client: TestClient, db: Session
) -> None:
    tenant, key = tenant_with_key(name=f"engines-{uuid.uuid4().hex[:6]}")
    job = JobFactory(tenant_id=tenant.id, target_lang="en", engine="realtime")
    when = datetime(2026, 5, 4, 12, tzinfo=UTC)
    UsageRecordFactory(tenant_id=tenant.id, job_id=job.id, created_at=when, input_audio=300)
    UsageRecordFactory(
        tenant_id=tenant.id,
        job_id=job.id,
        created_at=when,
        model="qwen3-livetranslate-flash-realtime",
        engine="realtime",
        input_audio=125,
        input_image=588,
        output_text=30,
    )
    rows = by(usage(client, key, group_by="model")["rows"], "model")
    realtime = rows["qwen3-livetranslate-flash-realtime"]
    assert realtime["input_image_tokens"] == 588
    assert realtime["total_tokens"] == 125 + 588 + 30
    assert rows["qwen3-livetranslate-flash"]["input_image_tokens"] == 0
