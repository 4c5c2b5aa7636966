"""A revoked key is refused by every API process within LTB_AUTH_CACHE_S: two API apps
on one committed Postgres database, each remembering the key it has checked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ltb.db.engine import session_factory, unit_of_work
from ltb.settings import Settings
from ltb.tenancy import create_key, create_tenant, revoke_key
from ltb.tenant_repository import list_keys

from support.postgres import fresh_database

CACHE_S = 1.0


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with fresh_database("revocation") as url:
        yield url


def settings_for(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        profile="embedded",
        home=tmp_path / "home",
        database_url=database_url,
        broker_url="memory://",
        storage_root=tmp_path / "objects",
        output_bucket="ltb-outputs",
        auth_cache_s=CACHE_S,
    )


def refused_within(client: TestClient, key: str, deadline: float) -> bool:
    """Polls until the key gets a 401, or the deadline passes."""
    while time.monotonic() < deadline:
        status = client.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"}).status_code
        if status == 401:
            return True
        assert status == 200
        time.sleep(0.05)
    return False


def test_a_revoked_key_is_refused_by_every_api_app_within_the_cache_lifetime(
    database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, tmp_path)
    sessions = session_factory(settings)
    with unit_of_work(sessions) as session:
        tenant = create_tenant(session, name="revoked", read_prefixes=["s3://media/revoked/"])
        key, kept = create_key(session, tenant=tenant), create_key(session, tenant=tenant)
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        for client in (first, second):  # both have checked, and remember, both keys
            for checked in (key, kept):
                answer = client.get("/v1/jobs", headers={"Authorization": f"Bearer {checked}"})
                assert answer.status_code == 200

        with unit_of_work(sessions) as session:
            listed = list_keys(session, tenant=tenant)
            revoke_key(session, str(next(k.id for k in listed if k.display_prefix == key[:12])))
        revoked_at = time.monotonic()

        # The cache lifetime, plus room for a loaded machine.
        deadline = revoked_at + CACHE_S + 2.0
        assert refused_within(first, key, deadline)
        assert refused_within(second, key, deadline)
        for client in (first, second):
            answer = client.get("/v1/jobs", headers={"Authorization": f"Bearer {kept}"})
            assert answer.status_code == 200
