"""While Postgres is unreachable the API answers at once with 503 and a code, never a
500 or a hang, and it needs no restart once the database is back (the pool reconnects)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from ltb.settings import Settings

from support.processes import free_port


def test_a_database_that_cannot_be_reached_is_a_503_with_a_code(tmp_path: Path) -> None:
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/ltb"
    settings = Settings(
        _env_file=None,
        home=tmp_path,
        database_url=nobody,
        broker_url="memory://",
        storage_root=tmp_path / "objects",
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        answer = client.get("/v1/jobs", headers={"Authorization": "Bearer ltb_" + "x" * 40})
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "database_unavailable"
    assert int(answer.headers["Retry-After"]) > 0
