"""The API answers as its OpenAPI document says: Schemathesis, with every check, against
a live `ltb api` (embedded profile: SQLite and a folder store in a temporary LTB_HOME,
with a tenant and its key).

Schemathesis sends a few thousand requests in a few seconds, far past the tenant's request
rate (LTB_API_RATE_PER_TENANT_RPS, 20 a second by default), so this run raises the rate;
the 429 itself is documented and tested in tests/api/test_request_limits.py. What the
document cannot state, tests/contract/schemathesis.toml allows, rule by rule.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support.processes import BIN, free_port, running

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Per operation: enough to cover every enum, boundary and negative case the coverage
# phase derives, and to keep the run under a minute on a loaded two-core machine.
MAX_EXAMPLES = 30


def test_the_live_api_keeps_its_openapi_contract(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LTB_", "DASHSCOPE", "AWS_"))
    } | {
        "LTB_HOME": str(home),
        "LTB_STORAGE_ROOT": str(home / "objects"),
        "LTB_SCRATCH_DIR": str(home / "scratch"),
        "LTB_API_RATE_PER_TENANT_RPS": "10000",
        "LTB_API_RATE_BURST": "10000",
    }

    def ltb(*args: str) -> str:
        done = subprocess.run(
            [str(BIN / "ltb"), *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    ltb("db", "upgrade")
    ltb("tenants", "create", "contract", "--allow-read", "s3://media/contract/")
    key = ltb("keys", "create", "--tenant", "contract")
    (home / "objects" / "ltb-outputs").mkdir(parents=True)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(
        [str(BIN / "ltb"), "api", "--port", str(port), "--metrics-port", str(free_port())],
        ready_url=f"{base}/healthz",
        env=env,
        log_path=tmp_path / "api.log",
    ):
        run = subprocess.run(
            [
                str(BIN / "schemathesis"),
                "--config-file",
                str(CONFIG),
                "--no-color",
                "run",
                f"{base}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--header",
                f"Authorization: Bearer {key}",
                "--request-timeout",
                "30",
            ],
            # Schemathesis keeps its example database and reports in the working directory.
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    summary = run.stdout[-6000:]
    print(summary)  # operations, test cases, warnings: shown with pytest -rP
    assert run.returncode == 0, f"{summary}\n{run.stderr[-2000:]}"
