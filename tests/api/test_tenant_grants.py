"""Read and write grants are folders, and separate: a source must lie inside a read
grant, an output_prefix inside a write grant or the tenant's default output folder."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ltb.db.models import Job
from ltb.errors import RequestRefused
from ltb.tenancy import create_tenant, default_output_prefix, folder

from support.factories import tenant_with_key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def submit(client: TestClient, key: str, **fields: object):
    return client.post("/v1/jobs", json={"target_lang": "en", **fields}, headers=auth(key))


@pytest.fixture
def initech(db: Session) -> tuple[object, str]:
    # Written without a trailing slash, as a grant used to be typed.
    name = f"initech-{uuid.uuid4().hex[:6]}"
    return tenant_with_key(
        name=name,
        read_prefixes=[f"s3://media/{name}"],
        write_prefixes=[f"s3://deliveries/{name}"],
    )


def test_a_read_grant_is_a_folder_not_a_string_prefix(client: TestClient, initech) -> None:
    tenant, key = initech

    inside = submit(client, key, source_uri=f"s3://media/{tenant.name}/talk.mp4")
    sibling = submit(client, key, source_uri=f"s3://media/{tenant.name}-secret/talk.mp4")

    assert inside.status_code == 202, inside.text
    assert sibling.status_code == 403, sibling.text
    assert sibling.json()["error"]["code"] == "source_not_allowed"


def test_a_batch_cannot_reach_a_sibling_folder_either(client: TestClient, initech) -> None:
    tenant, key = initech
    for fields in (
        {"sources": [f"s3://media/{tenant.name}-secret/talk.mp4"]},
        {"source_prefix": f"s3://media/{tenant.name}-secret/"},
    ):
        response = client.post(
            "/v1/batches", json={"target_langs": ["en"], **fields}, headers=auth(key)
        )
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "source_not_allowed"


def test_a_read_grant_is_not_a_write_grant(client: TestClient, db: Session, initech) -> None:
    tenant, key = initech

    response = submit(
        client,
        key,
        source_uri=f"s3://media/{tenant.name}/talk.mp4",
        output_prefix=f"s3://media/{tenant.name}/translated/",
    )

    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "output_not_allowed"
    assert db.query(Job).filter(Job.tenant_id == tenant.id).count() == 0


@pytest.mark.parametrize(
    "output_prefix",
    [
        "s3://deliveries/{name}/talk/",  # inside the write grant
        "s3://deliveries/{name}",  # the write grant itself
        "s3://ltb-outputs/{name}/talk/",  # the default output folder needs no grant
    ],
)
def test_write_grants_and_the_default_output_folder_are_writable(
    client: TestClient, db: Session, initech, output_prefix: str
) -> None:
    tenant, key = initech
    wanted = output_prefix.format(name=tenant.name)

    response = submit(
        client, key, source_uri=f"s3://media/{tenant.name}/talk.mp4", output_prefix=wanted
    )

    assert response.status_code == 202, response.text
    job = db.get(Job, uuid.UUID(response.json()["id"]))
    assert job is not None and job.output_prefix == wanted.rstrip("/") + "/"


def test_a_job_that_names_no_output_prefix_writes_under_the_default_one(
    client: TestClient, db: Session, initech
) -> None:
    tenant, key = initech

    response = submit(client, key, source_uri=f"s3://media/{tenant.name}/talk.mp4")

    assert response.status_code == 202, response.text
    job = db.get(Job, uuid.UUID(response.json()["id"]))
    assert job is not None
    assert job.output_prefix == default_output_prefix(tenant, job.id, output_bucket="ltb-outputs")


@pytest.mark.parametrize(
    "output_prefix", ["s3://deliveries/{name}-other/x/", "s3://ltb-outputs/{name}-other/x/"]
)
def test_a_sibling_of_a_write_folder_is_not_writable(
    client: TestClient, initech, output_prefix: str
) -> None:
    tenant, key = initech

    response = submit(
        client,
        key,
        source_uri=f"s3://media/{tenant.name}/talk.mp4",
        output_prefix=output_prefix.format(name=tenant.name),
    )

    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "output_not_allowed"


def test_new_grants_are_stored_as_folders(db: Session) -> None:
    name = f"acme-{uuid.uuid4().hex[:6]}"
    tenant = create_tenant(
        db,
        name=name,
        read_prefixes=["s3://media/acme", "s3://media/acme/", "s3://archive"],
        write_prefixes=["s3://out/acme//"],
    )
    assert tenant.read_prefixes == ["s3://media/acme/", "s3://archive/"]
    assert tenant.write_prefixes == ["s3://out/acme/"]


@pytest.mark.parametrize(
    "prefix", ["media/acme/", "https://media/acme/", "s3://", "s3://media/../x/", "s3://M/x/"]
)
def test_malformed_grants_are_refused_with_a_code(prefix: str) -> None:
    with pytest.raises(RequestRefused) as refused:
        folder(prefix)
    assert refused.value.code == "invalid_prefix"
