"""deploy/grafana/: the dashboards docker-compose.yml provisions ask only for what exists.

Every Postgres panel's SQL (and every variable's) runs, with Grafana's macros and the
dashboard's variables filled in, on a throwaway database migrated to head, as the role
the compose file creates for Grafana, which may read the reporting views and nothing
else. Every metric a Prometheus panel names is served by the real metrics app."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from api.app import create_metrics_app
from ltb.settings import Settings

from support.factories import JobFactory, TenantFactory, UsageRecordFactory, bind_factories
from support.postgres import fresh_database

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
# Where the compose file's Postgres lives, as its grafana-role service names it.
COMPOSE_DATABASE_URL = "postgresql://ltb:ltb@postgres:5432/ltb"
NOW = datetime.now(UTC)
RANGE = (NOW - timedelta(days=7), NOW + timedelta(minutes=1))


@dataclass(frozen=True)
class Reports:
    url: str
    role: str


def dashboard(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def datasources() -> dict[str, str]:
    """Provisioned datasource uid -> type."""
    provisioned = yaml.safe_load((GRAFANA / "provisioning/datasources/ltb.yaml").read_text())
    return {source["uid"]: source["type"] for source in provisioned["datasources"]}


def targets(of_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
    kinds = datasources()
    for path in DASHBOARDS:
        for panel in dashboard(path)["panels"]:
            for target in panel["targets"]:
                uid = target.get("datasource", panel["datasource"])["uid"]
                if kinds[uid] == of_type:
                    yield f"{path.stem}: {panel['title']}", target


def variable_queries() -> Iterator[tuple[str, str]]:
    kinds = datasources()
    for path in DASHBOARDS:
        for variable in dashboard(path)["templating"]["list"]:
            if variable["type"] == "query" and kinds[variable["datasource"]["uid"]].endswith(
                "postgresql-datasource"
            ):
                yield f"{path.stem}: ${variable['name']}", variable["query"]


def variable_values() -> dict[str, str]:
    values: dict[str, str] = {}
    for path in DASHBOARDS:
        for variable in dashboard(path)["templating"]["list"]:
            value = variable["current"]["value"]
            assert values.setdefault(variable["name"], value) == value, variable["name"]
    return values


def grafana_sql(sql: str, *, start: datetime, end: datetime) -> str:
    """SQL as Grafana's Postgres datasource sends it: macros expanded, variables filled."""
    since, until = (f"'{moment.strftime('%Y-%m-%dT%H:%M:%SZ')}'" for moment in (start, end))
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)", rf"\1 BETWEEN {since} AND {until}", sql)
    sql = sql.replace("$__timeFrom()", since).replace("$__timeTo()", until)
    for name, value in sorted(variable_values().items(), key=lambda item: -len(item[0])):
        sql = sql.replace(f"${{{name}}}", value).replace(f"${name}", value)
    assert "$" not in sql, f"an unexpanded macro or variable: {sql}"
    return sql


def role_script(*, url: str, role: str) -> str:
    """The compose file's grafana-role script, aimed at `url` and creating `role`."""
    command = COMPOSE["services"]["grafana-role"]["command"]
    script: str = command[0]
    assert COMPOSE_DATABASE_URL in script
    # Compose reads `$$` as a literal `$`; the role name is the only lower-case "grafana".
    script = script.replace("$$", "$").replace("grafana", role)
    return script.replace(COMPOSE_DATABASE_URL, url)


@pytest.fixture(scope="module")
def reports() -> Iterator[Reports]:
    """A database at head holding some usage, and Grafana's role on it."""
    role = f"ltb_test_grafana_{uuid.uuid4().hex[:8]}"
    with fresh_database("grafana") as url:
        _add_usage(url)
        created = subprocess.run(
            ["/bin/sh", "-c", role_script(url=url, role=role)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "GRAFANA_DB_PASSWORD": "test-password"},
            check=False,
        )
        assert created.returncode == 0, created.stderr
        yield Reports(url=url, role=role)
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def _add_usage(url: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with Session(engine) as session:
        bind_factories(session)
        for customer in ("acme-films", None):
            tenant = TenantFactory()
            for lang, cost in (("en", "0.50"), ("ja", "1.25")):
                job = JobFactory(
                    tenant_id=tenant.id,
                    target_lang=lang,
                    status="succeeded",
                    labels={"customer": customer} if customer else {},
                    created_at=NOW - timedelta(hours=2),
                    finished_at=NOW - timedelta(hours=1),
                )
                UsageRecordFactory(tenant_id=tenant.id, job_id=job.id, cost=Decimal(cost))
                UsageRecordFactory(
                    tenant_id=tenant.id,
                    job_id=job.id,
                    attempt=2,
                    outcome="provider_rate_limited",
                    cost=Decimal("0"),
                )
        session.commit()
    engine.dispose()


# --- the files ------------------------------------------------------------------------


def test_dashboards_are_provisioned_by_the_compose_file() -> None:
    grafana = COMPOSE["services"]["grafana"]
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/ltb.yaml").read_text())
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])

    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert mounts["./deploy/grafana/dashboards"] == provider["providers"][0]["options"]["path"]
    assert DASHBOARDS
    prometheus = COMPOSE["configs"]["prometheus"]["content"]
    assert '"api:9464"' in prometheus
    assert "http://prometheus:9090" in (GRAFANA / "provisioning/datasources/ltb.yaml").read_text()


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_every_panel_has_a_unique_id_a_provisioned_datasource_and_a_query(path: Path) -> None:
    board = dashboard(path)
    kinds = datasources()
    ids = [panel["id"] for panel in board["panels"]]

    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert kinds[panel["datasource"]["uid"]] == panel["datasource"]["type"], panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target.get("expr") or target.get("rawSql"), panel["title"]


def test_the_panels_the_operators_asked_for_are_there() -> None:
    titles = {panel["title"] for path in DASHBOARDS for panel in dashboard(path)["panels"]}
    wanted = (
        "Throughput",
        "Quota used",
        "429 share",
        "Queue depth",
        "quota by tenant",
        "Job latency",
        "Cost per day by customer",
        "Cost per day by target language",
        "20 most expensive jobs",
    )
    for words in wanted:
        assert any(words.lower() in title.lower() for title in titles), words


# --- Postgres -----------------------------------------------------------------------------


def run_as_grafana(reports: Reports, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(reports.url) as connection:
        connection.execute(f'SET ROLE "{reports.role}"')
        rows = connection.execute(sql.encode()).fetchall()
        connection.rollback()
    return rows


POSTGRES_TARGETS = list(targets("grafana-postgresql-datasource"))


@pytest.mark.parametrize(
    ("where", "target"), POSTGRES_TARGETS, ids=[where for where, _ in POSTGRES_TARGETS]
)
def test_every_panel_sql_runs_on_the_views_as_grafanas_role(
    reports: Reports, where: str, target: dict[str, Any]
) -> None:
    sql = grafana_sql(target["rawSql"], start=RANGE[0], end=RANGE[1])

    rows = run_as_grafana(reports, sql)

    assert rows, f"{where}: no rows from the usage the fixture recorded"
    assert all(value is not None for value in rows[0][:2]), where


def test_variables_run_as_grafanas_role(reports: Reports) -> None:
    queries = list(variable_queries())
    assert queries
    for where, sql in queries:
        rows = run_as_grafana(reports, grafana_sql(sql, start=RANGE[0], end=RANGE[1]))
        assert ("USD",) in rows, where


def test_grafanas_role_reads_the_views_and_nothing_else(reports: Reports) -> None:
    assert run_as_grafana(reports, "SELECT count(*) FROM usage_daily")[0][0] > 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        run_as_grafana(reports, "SELECT count(*) FROM usage_records")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        run_as_grafana(reports, "SELECT key_hash FROM api_keys")


def test_panel_figures_are_the_recorded_ones(reports: Reports) -> None:
    """Cost per customer, the top jobs and the quota shares add up to the fixture's rows."""
    by_title = {
        where.split(": ", 1)[1]: target["rawSql"]
        for where, target in targets("grafana-postgresql-datasource")
    }

    def panel(title: str) -> list[tuple[Any, ...]]:
        return run_as_grafana(reports, grafana_sql(by_title[title], start=RANGE[0], end=RANGE[1]))

    per_customer = {row[1]: row[2] for row in panel("Cost per day by customer")}
    assert per_customer == {"acme-films": Decimal("1.75"), "(no customer label)": Decimal("1.75")}
    top = panel("The 20 most expensive jobs")
    assert [row[10] for row in top] == sorted((row[10] for row in top), reverse=True)
    assert len(top) == 4
    tenants = panel("Tenants' use of the quota in the range")
    assert sum(row[6] for row in tenants) == pytest.approx(1.0)
    assert {row[2] for row in tenants} == {2}  # one 429 per job, two jobs per tenant


# --- Prometheus -----------------------------------------------------------------------------


def test_every_metric_a_panel_names_is_served(reports: Reports, tmp_path: Path) -> None:
    settings = Settings(
        profile="embedded",
        home=tmp_path / "home",
        database_url=reports.url,
        broker_url="memory://",
        storage_root=tmp_path / "objects",
    )
    with TestClient(create_metrics_app(settings)) as client:
        response = client.get("/metrics")
    assert response.status_code == 200, response.text
    served = {
        sample.name
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    named = {
        (where, name)
        for where, target in targets("prometheus")
        for name in re.findall(r"\bltb_[a-z0-9_]+\b", target["expr"])
    }

    assert named
    missing = sorted((where, name) for where, name in named if name not in served)
    assert not missing, missing
    # The metrics carry no tenant label, and the dashboards ask for none.
    assert not any("tenant" in target["expr"] for _, target in targets("prometheus"))
