"""deploy/k8s/: every manifest is valid against the Kubernetes schemas (bundled with
kubernetes-validate, so offline), the kustomizations list every file, and every
container runs a real `ltb` command with the settings and limits the code expects."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from ltb.queue import QUEUES
from ltb.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
# The base; the default kustomization (K8S) adds KEDA's ScaledObject, the overlay in HPA
# a CPU HorizontalPodAutoscaler instead.
BASE = K8S / "base"
HPA = K8S / "hpa"
KUSTOMIZATIONS = (K8S, BASE, HPA)
LTB = Path(sys.executable).with_name("ltb")
# The Kubernetes release the manifests are checked against (the package's newest schemas).
KUBERNETES_VERSION = kubernetes_validate.utils.latest_version()
# Resources whose schema is a CRD's: checked for shape (apiVersion, kind, required spec
# fields) since kubernetes-validate bundles only the built-in kinds.
CRD_REQUIRED_SPEC = {("keda.sh/v1alpha1", "ScaledObject"): ("scaleTargetRef", "triggers")}
WORKLOADS = {"Deployment", "Job"}


def documents(path: Path) -> list[dict[str, Any]]:
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


def manifest_files() -> list[Path]:
    return sorted(
        path
        for folder in KUSTOMIZATIONS
        for path in folder.glob("*.yaml")
        if path.name != "kustomization.yaml"
    )


def resources() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in manifest_files():
        for doc in documents(path):
            yield path, doc


def by_kind(kind: str, name: str) -> dict[str, Any]:
    found = [
        doc for _, doc in resources() if doc["kind"] == kind and doc["metadata"]["name"] == name
    ]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


def containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for _, doc in resources():
        if doc["kind"] in WORKLOADS:
            for container in pod_spec(doc)["containers"]:
                yield f"{doc['kind']}/{doc['metadata']['name']}", container


def ltb_help(*command: str) -> str:
    """`ltb ... --help`, as the image's entrypoint prints it."""
    result = subprocess.run(
        [str(LTB), *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
        check=False,
    )
    assert result.returncode == 0, f"ltb {' '.join(command)} --help: {result.stderr}"
    return result.stdout


def subcommands(help_text: str) -> set[str]:
    """The command names listed in the Commands panel of a --help page."""
    _, _, panel = help_text.partition("Commands")
    return set(re.findall(r"^│ ([a-z][\w-]*)\s", panel, flags=re.MULTILINE))


# --- schemas --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", manifest_files(), ids=lambda path: path.relative_to(K8S).as_posix()
)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(path: Path) -> None:
    docs = documents(path)
    assert docs, f"{path} holds no resource"
    for doc in docs:
        key = (doc["apiVersion"], doc["kind"])
        if key in CRD_REQUIRED_SPEC:
            assert doc["metadata"]["name"]
            for field in CRD_REQUIRED_SPEC[key]:
                assert doc["spec"].get(field), f"{path}: {doc['kind']} lacks spec.{field}"
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_is_real_and_offline() -> None:
    """A misspelt field is caught (strict) from the schemas inside the package."""
    deployment = copy.deepcopy(by_kind("Deployment", "ltb-worker"))
    pod_spec(deployment)["terminationGracePeriodSecond"] = 60

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    assert (Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema").is_dir()


# --- kustomizations -------------------------------------------------------------------


def kustomization(folder: Path) -> dict[str, Any]:
    return documents(folder / "kustomization.yaml")[0]


def resolved(folder: Path) -> list[tuple[str, str]]:
    """(kind, name) of every resource a kustomization builds, following its folders."""
    found: list[tuple[str, str]] = []
    for entry in kustomization(folder)["resources"]:
        target = (folder / entry).resolve()
        if target.is_dir():
            found += resolved(target)
        else:
            found += [(doc["kind"], doc["metadata"]["name"]) for doc in documents(target)]
    return found


@pytest.mark.parametrize("folder", list(KUSTOMIZATIONS), ids=lambda folder: folder.name)
def test_each_kustomization_lists_every_manifest_beside_it(folder: Path) -> None:
    listed = [entry for entry in kustomization(folder)["resources"] if entry.endswith(".yaml")]
    beside = {path.name for path in folder.glob("*.yaml")} - {"kustomization.yaml"}

    assert sorted(listed) == sorted(beside)


def test_exactly_one_autoscaler_acts_on_the_workers_in_each_build() -> None:
    default, fallback, base = resolved(K8S), resolved(HPA), resolved(BASE)
    scaled = by_kind("ScaledObject", "ltb-worker")
    hpa = by_kind("HorizontalPodAutoscaler", "ltb-worker")

    assert len(default) == len(set(default)) and len(fallback) == len(set(fallback))
    assert set(default) - set(base) == {("ScaledObject", "ltb-worker")}
    assert set(fallback) - set(base) == {("HorizontalPodAutoscaler", "ltb-worker")}
    assert scaled["spec"]["scaleTargetRef"]["name"] == "ltb-worker"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ltb-worker"
    assert scaled["spec"]["maxReplicaCount"] == hpa["spec"]["maxReplicas"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")
@pytest.mark.parametrize("folder", [K8S, HPA], ids=lambda folder: folder.name)
def test_kustomize_builds_it_in_one_namespace(folder: Path) -> None:
    """What `kubectl apply -k` would send: the same resources, all in one namespace."""
    built = subprocess.run(
        ["kubectl", "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    docs = [doc for doc in yaml.safe_load_all(built.stdout) if doc]

    assert sorted((doc["kind"], doc["metadata"]["name"]) for doc in docs) == sorted(
        resolved(folder)
    )
    namespaced = [doc for doc in docs if doc["kind"] != "Namespace"]
    assert {doc["metadata"].get("namespace") for doc in namespaced} == {"livetranslate-batch"}
    images = {
        container["image"]
        for doc in docs
        if doc["kind"] in WORKLOADS
        for container in pod_spec(doc)["containers"]
    }
    assert images == {"livetranslate-batch:latest"}


# --- commands and images ----------------------------------------------------------------


def test_every_container_runs_a_real_ltb_command_from_the_image() -> None:
    top = subcommands(ltb_help())
    assert {"api", "worker", "webhooks", "beat", "db"} <= top
    seen: set[tuple[str, ...]] = set()
    for where, container in containers():
        assert container["image"] == "livetranslate-batch", where
        assert container["command"] == ["ltb"], where
        args = container["args"]
        assert args[0] in top, f"{where}: `ltb {args[0]}` is not a command"
        nested = subcommands(ltb_help(args[0]))
        if nested:
            assert args[1] in nested, f"{where}: `ltb {args[0]} {args[1]}` is not a command"
        # Every option parses: an unknown one fails before --help is read.
        ltb_help(*args)
        seen.add(tuple(args[:2]) if nested else (args[0],))
    assert seen == {("api",), ("worker",), ("webhooks",), ("beat",), ("db", "upgrade")}


def test_the_image_name_is_set_in_one_place() -> None:
    assert [image["name"] for image in kustomization(BASE)["images"]] == ["livetranslate-batch"]


# --- what the code expects ---------------------------------------------------------------


def configured() -> Settings:
    """The settings the ConfigMap gives every process (the Secret's are placeholders)."""
    data = by_kind("ConfigMap", "ltb-config")["data"]
    return Settings(
        **{key.removeprefix("LTB_").lower(): value for key, value in data.items() if value}
    )


def test_the_config_map_and_secret_name_only_real_settings() -> None:
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    config = by_kind("ConfigMap", "ltb-config")["data"]
    secret = by_kind("Secret", "ltb-secrets")["stringData"]

    assert set(config) <= documented
    assert set(secret) == {
        "DASHSCOPE_API_KEY",
        "LTB_DATABASE_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }
    assert config["LTB_PROFILE"] == "production"
    assert not set(config) & set(secret)
    configured()  # the values parse, and the Celery limits are in order
    for where, container in containers():
        sources = {
            ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]
        }
        assert sources == {"ltb-config", "ltb-secrets"}, where


def test_a_release_can_apply_the_settings_and_the_migration_alone() -> None:
    """docs/operations.md selects them with app.kubernetes.io/component in (config,migrate)."""
    for kind, name in (("ConfigMap", "ltb-config"), ("Secret", "ltb-secrets")):
        assert by_kind(kind, name)["metadata"]["labels"]["app.kubernetes.io/component"] == "config"
    job = by_kind("Job", "ltb-migrate")
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migrate"
    assert (
        "app.kubernetes.io/component in (config,migrate)"
        in (ROOT / "docs" / "operations.md").read_text()
    )


def test_worker_grace_outlasts_a_chunks_time_limits_and_pre_stop_warm_shuts_down() -> None:
    settings = configured()
    worker = pod_spec(by_kind("Deployment", "ltb-worker"))
    (container,) = worker["containers"]

    assert worker["terminationGracePeriodSeconds"] > settings.task_soft_time_limit_s
    assert worker["terminationGracePeriodSeconds"] > settings.task_time_limit_s
    # SIGTERM to PID 1 (the worker: `ltb` is exec'd as the entrypoint) is Celery's warm shutdown.
    hook = " ".join(container["lifecycle"]["preStop"]["exec"]["command"])
    assert "kill -TERM 1" in hook


def test_api_probes_and_metrics_listener_on_the_cluster_network_only() -> None:
    settings = configured()
    api = pod_spec(by_kind("Deployment", "ltb-api"))
    (container,) = api["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    env = {item["name"]: item["value"] for item in container.get("env", [])}
    metrics = by_kind("Service", "ltb-api-metrics")

    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert ports["metrics"] == settings.metrics_port == 9464
    assert env["LTB_METRICS_HOST"] == "0.0.0.0"
    assert metrics["spec"]["type"] == "ClusterIP"
    assert [port["port"] for port in metrics["spec"]["ports"]] == [settings.metrics_port]
    assert metrics["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(settings.metrics_port),
        "prometheus.io/path": "/metrics",
    }
    for _, doc in resources():
        if doc["kind"] == "Service":
            assert doc["spec"].get("type", "ClusterIP") == "ClusterIP"


def test_exactly_one_beat_replaced_by_recreate() -> None:
    beat = by_kind("Deployment", "ltb-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    source = (BASE / "beat-deployment.yaml").read_text()
    assert "exactly one" in source and "reaper" in source


def test_keda_scales_on_both_celery_queues() -> None:
    scaled = by_kind("ScaledObject", "ltb-worker")
    triggers = scaled["spec"]["triggers"]

    assert {trigger["type"] for trigger in triggers} == {"redis"}
    assert {trigger["metadata"]["listName"] for trigger in triggers} == set(QUEUES)
    assert all(int(trigger["metadata"]["listLength"]) >= 1 for trigger in triggers)


def test_pod_disruption_budgets_select_real_pods() -> None:
    labels = [
        doc["spec"]["template"]["metadata"]["labels"]
        for _, doc in resources()
        if doc["kind"] in WORKLOADS
    ]
    budgets = [doc for _, doc in resources() if doc["kind"] == "PodDisruptionBudget"]
    assert budgets
    for budget in budgets:
        wanted = budget["spec"]["selector"]["matchLabels"]
        assert any(wanted.items() <= pod.items() for pod in labels), budget["metadata"]["name"]


def dockerfile_user() -> tuple[int, int]:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    match = re.search(r"^USER (\d+):(\d+)$", text, flags=re.MULTILINE)
    assert match, "deploy/Dockerfile must name its user by number"
    uid, gid = int(match[1]), int(match[2])
    assert f"--uid {uid}" in text and f"--gid {gid}" in text
    return uid, gid


def test_pods_run_as_the_images_non_root_user_with_a_read_only_root() -> None:
    uid, gid = dockerfile_user()
    assert uid != 0
    for _, doc in resources():
        if doc["kind"] not in WORKLOADS:
            continue
        spec = pod_spec(doc)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == uid
        assert spec["securityContext"]["runAsGroup"] == gid
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
            mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
            # LTB_HOME and LTB_SCRATCH_DIR (deploy/Dockerfile) and tempfiles stay writable.
            assert {"/var/lib/ltb", "/tmp"} <= mounts
            assert container["resources"]["requests"] and container["resources"]["limits"]


def test_worker_is_sized_for_the_two_core_profile() -> None:
    settings = configured()
    (container,) = pod_spec(by_kind("Deployment", "ltb-worker"))["containers"]
    resources_ = container["resources"]

    assert resources_["requests"]["cpu"] == resources_["limits"]["cpu"] == "2"
    assert settings.worker_concurrency == 4
    # The source cache fits the scratch volume, with room for the payloads being encoded.
    home = next(
        v for v in pod_spec(by_kind("Deployment", "ltb-worker"))["volumes"] if v["name"] == "home"
    )
    assert settings.scratch_cache_max_bytes < _bytes(home["emptyDir"]["sizeLimit"])


def _bytes(quantity: str) -> int:
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(quantity.removesuffix(suffix)) * factor
    return int(quantity)
