"""The published OpenAPI document (docs/openapi.json) is the app's, and it describes every
answer a route can give."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.openapi_doc import PUBLISHED, document

TENANT_STATUSES = {"401", "422", "429", "500", "503"}
# Error bodies that say more than the code and message, each still an ErrorBody with keys
# beside "error": a refused cue edit lists its violations.
ERROR_BODIES = {"ErrorBody", "CueRejection"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return document()


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, methods in doc["paths"].items()
        for method, operation in methods.items()
    ]


def test_the_published_document_is_the_apps(doc: dict[str, Any]) -> None:
    published = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    stale = sorted(
        f"{method.upper()} {path}"
        for path, method, operation in _operations(doc)
        if published.get("paths", {}).get(path, {}).get(method) != operation
    )
    assert published == doc, (
        f"docs/openapi.json differs from the app ({', '.join(stale) or 'components'}): "
        "run `make openapi`"
    )


def test_every_tenant_route_documents_its_errors_with_the_error_body(doc: dict[str, Any]) -> None:
    for path, method, operation in _operations(doc):
        if not path.startswith("/v1/"):
            continue
        answers = operation["responses"]
        needed = TENANT_STATUSES | ({"413"} if method == "post" else set())
        assert needed <= set(answers), (method, path, sorted(answers))
        if "{" in path:
            assert "404" in answers, (method, path)
        for status, answer in answers.items():
            if status.startswith(("4", "5")):
                schema = answer["content"]["application/json"]["schema"]
                name = schema["$ref"].removeprefix("#/components/schemas/")
                assert name in ERROR_BODIES, (path, status)
                body = doc["components"]["schemas"][name]
                assert body["properties"]["error"] == {"$ref": "#/components/schemas/ErrorInfo"}
                assert "error" in body["required"], name
        assert "Retry-After" in answers["429"]["headers"]


def test_the_contract_names_its_enums_dates_and_csv(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert "en" in schemas["Language"]["enum"] and "Kiki" in schemas["Voice"]["enum"]
    assert schemas["JobView"]["additionalProperties"] is False
    usage = doc["paths"]["/v1/usage"]["get"]
    dates = {p["name"]: p["schema"] for p in usage["parameters"] if p["name"] in ("from", "to")}
    assert all(
        {"type": "string", "format": "date"} in schema.get("anyOf", [schema])
        for schema in dates.values()
    ), dates
    assert "text/csv" in usage["responses"]["200"]["content"]
    submit = schemas["JobCreate"]["properties"]
    assert submit["source_uri"]["pattern"].startswith("^s3://")
