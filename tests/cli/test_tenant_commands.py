"""`ltb tenants` and `ltb keys` as an operator runs them: the `ltb` executable against a
throwaway Postgres database."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.postgres import fresh_database
from support.processes import BIN


class Operator:
    def __init__(self, database_url: str, cwd: Path) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LTB_")},
            "LTB_DATABASE_URL": database_url,
            "LTB_HOME": str(cwd / "home"),
            "LTB_OUTPUT_BUCKET": "ltb-outputs",
        }
        self.cwd = cwd

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(BIN / "ltb"), *args],
            env=self.env,
            cwd=self.cwd,  # away from any .env in the checkout
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert "Traceback" not in done.stdout + done.stderr, done.stderr
        return done

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def refused(self, *args: str) -> str:
        """The error code a refused command printed (it exits with status 2)."""
        done = self.run(*args)
        assert done.returncode == 2, (done.stdout, done.stderr)
        return done.stderr.split("error", 1)[1].split(":", 1)[0].strip()


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with fresh_database("tenant_cli") as url:
        yield url


@pytest.fixture
def operator(database_url: str, tmp_path: Path) -> Operator:
    return Operator(database_url, tmp_path)


def new_name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def test_read_and_write_grants_are_kept_apart_as_folders(operator: Operator) -> None:
    name = new_name()
    operator.ok(
        "tenants",
        "create",
        name,
        "--allow-read",
        "s3://media/initech",
        "--allow",  # the older spelling of --allow-read
        "s3://archive/initech/",
        "--allow-write",
        "s3://deliveries/initech",
    )

    shown = json.loads(operator.ok("tenants", "show", name))

    assert shown["read_prefixes"] == ["s3://media/initech/", "s3://archive/initech/"]
    assert shown["write_prefixes"] == ["s3://deliveries/initech/"]
    assert shown["default_output_prefix"] == f"s3://ltb-outputs/{name}/"
    assert len(shown["webhook_secret"]) == 64


def test_bad_grants_and_unknown_tenants_are_refused_with_codes(operator: Operator) -> None:
    name = new_name()
    assert operator.refused("tenants", "create", name, "--allow", "media/x/") == "invalid_prefix"
    assert (
        operator.refused(
            "tenants", "create", name, "--allow", "s3://media/x/", "--allow-write", "s3://../"
        )
        == "invalid_prefix"
    )
    assert operator.refused("tenants", "show", name) == "unknown_tenant"
    assert operator.refused("tenants", "rotate-secret", name) == "unknown_tenant"
    assert operator.refused("keys", "list", "--tenant", name) == "unknown_tenant"


def test_rotate_secret_replaces_the_webhook_secret(operator: Operator) -> None:
    name = new_name()
    operator.ok("tenants", "create", name, "--allow", f"s3://media/{name}/")
    before = json.loads(operator.ok("tenants", "show", name))["webhook_secret"]

    printed = operator.ok("tenants", "rotate-secret", name)

    after = json.loads(operator.ok("tenants", "show", name))["webhook_secret"]
    assert printed == after != before
    assert len(after) == 64


def test_keys_are_listed_and_revoked_by_id(operator: Operator) -> None:
    name, other = new_name(), new_name()
    for tenant in (name, other):
        operator.ok("tenants", "create", tenant, "--allow", f"s3://media/{tenant}/")
    first = operator.ok("keys", "create", "--tenant", name)
    second = operator.ok("keys", "create", "--tenant", name)
    operator.ok("keys", "create", "--tenant", other)

    listed = json.loads(operator.ok("keys", "list", "--tenant", name, "--json"))

    assert [key["prefix"] for key in listed] == [first[:12], second[:12]]
    assert all(key["revoked_at"] is None for key in listed)
    table = operator.ok("keys", "list", "--tenant", name)
    assert first not in table and second not in table  # only ever the prefix
    assert all(key["id"] in table and "active" in table for key in listed)

    revoked = operator.ok("keys", "revoke", listed[0]["id"])

    assert listed[0]["id"] in revoked
    now = json.loads(operator.ok("keys", "list", "--tenant", name, "--json"))
    assert now[0]["revoked_at"] is not None and now[1]["revoked_at"] is None
    assert "revoked" in operator.ok("keys", "list", "--tenant", name).splitlines()[0]
    # Revoking again changes nothing and is not an error.
    operator.ok("keys", "revoke", listed[0]["id"])
    again = json.loads(operator.ok("keys", "list", "--tenant", name, "--json"))
    assert again[0]["revoked_at"] == now[0]["revoked_at"]
    assert all(
        key["revoked_at"] is None
        for key in json.loads(operator.ok("keys", "list", "--tenant", other, "--json"))
    )


def test_revoking_an_unknown_or_malformed_key_id_is_refused(operator: Operator) -> None:
    assert operator.refused("keys", "revoke", str(uuid.uuid4())) == "unknown_key"
    assert operator.refused("keys", "revoke", "ltb_not-an-id") == "invalid_key_id"


def test_operator_keys_are_created_listed_and_revoked_apart_from_tenants(
    operator: Operator,
) -> None:
    name = new_name()
    operator.ok("tenants", "create", name, "--allow", f"s3://media/{name}/")
    tenant_key = operator.ok("keys", "create", "--tenant", name)
    key = operator.ok("keys", "create", "--operator")
    assert key.startswith("ltb_") and key != tenant_key

    listed = json.loads(operator.ok("keys", "list", "--operator", "--json"))
    assert key[:12] in [row["prefix"] for row in listed]
    mine = next(row for row in listed if row["prefix"] == key[:12])
    tenant_keys = json.loads(operator.ok("keys", "list", "--tenant", name, "--json"))
    assert [row["prefix"] for row in tenant_keys] == [tenant_key[:12]]

    operator.ok("keys", "revoke", mine["id"])
    after = json.loads(operator.ok("keys", "list", "--operator", "--json"))
    assert next(row for row in after if row["id"] == mine["id"])["revoked_at"] is not None

    # A key is a tenant's or an operator's, never both, never neither.
    for args in ((), ("--operator", "--tenant", name)):
        assert operator.refused("keys", "create", *args) == "invalid_key_request"
        assert operator.refused("keys", "list", *args) == "invalid_key_request"


def test_a_tenant_s_retention_is_set_changed_and_cleared(operator: Operator) -> None:
    name = new_name()
    operator.ok("tenants", "create", name, "--allow", f"s3://media/{name}/")
    assert json.loads(operator.ok("tenants", "show", name))["retention_days"] is None

    updated = json.loads(operator.ok("tenants", "update", name, "--retention-days", "30"))

    assert updated["retention_days"] == 30
    assert json.loads(operator.ok("tenants", "show", name))["retention_days"] == 30
    cleared = json.loads(operator.ok("tenants", "update", name, "--keep-forever"))
    assert cleared["retention_days"] is None

    other = new_name()
    operator.ok(
        "tenants", "create", other, "--allow", f"s3://media/{other}/", "--retention-days", "7"
    )
    assert json.loads(operator.ok("tenants", "show", other))["retention_days"] == 7


def test_bad_retention_updates_are_refused_with_codes(operator: Operator) -> None:
    name = new_name()
    operator.ok("tenants", "create", name, "--allow", f"s3://media/{name}/")

    assert operator.refused("tenants", "update", name, "--retention-days", "0") == (
        "invalid_retention"
    )
    assert operator.refused("tenants", "update", name) == "invalid_tenant_update"
    assert operator.refused(
        "tenants", "update", name, "--retention-days", "3", "--keep-forever"
    ) == ("invalid_tenant_update")
    assert operator.refused("tenants", "update", new_name(), "--keep-forever") == "unknown_tenant"


def test_tenants_update_sets_weight_cap_and_budget_keeps_what_is_left_out_and_0_removes(
    operator: Operator,
) -> None:
    name = new_name()
    operator.ok("tenants", "create", name, "--allow", f"s3://media/{name}/")
    defaults = json.loads(operator.ok("tenants", "show", name))
    assert (defaults["weight"], defaults["max_concurrent_chunks"]) == (1, None)
    assert defaults["monthly_token_budget"] is None

    printed = json.loads(
        operator.ok(
            "tenants",
            "update",
            name,
            "--weight",
            "3",
            "--max-concurrent-chunks",
            "20",
            "--monthly-token-budget",
            "5000000",
        )
    )
    assert {key: printed[key] for key in ("weight", "max_concurrent_chunks")} == {
        "weight": 3,
        "max_concurrent_chunks": 20,
    }
    assert printed["monthly_token_budget"] == 5000000 and printed["name"] == name
    operator.ok("tenants", "update", name, "--max-concurrent-chunks", "0")
    shown = json.loads(operator.ok("tenants", "show", name))
    assert (shown["weight"], shown["max_concurrent_chunks"]) == (3, None)
    assert shown["monthly_token_budget"] == 5000000
    assert operator.refused("tenants", "update", new_name(), "--weight", "2") == "unknown_tenant"
    assert operator.run("tenants", "update", name, "--weight", "0").returncode == 2
