"""The Kubernetes manifests render with `kubectl kustomize` and every object validates offline.

Built-in kinds are validated strictly by kubernetes-validate against the Kubernetes API
schemas. KEDA's ScaledObject is a CRD the tool has no schema for: it is validated against the
part of KEDA's CRD schema we use (KEDA_SCALED_OBJECT below), and checked to scale the worker
Deployment on Celery's queue."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from api.keys import parse_keys
from tests.support.services import require_binary
from worker.apps_file import load_apps
from worker.celery import QUEUE
from worker.settings import Settings
from worker.targets_file import load_targets

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.27.0"  # the oldest we support: autoscaling/v2, policy/v1
OVERLAYS = ["example", "external-redis"]

# From KEDA's keda.sh_scaledobjects.yaml (v2), cut to the fields pushgate sets.
KEDA_SCALED_OBJECT: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer"},
                "cooldownPeriod": {"type": "integer"},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "authenticationRef": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": {"type": "string"}},
                                "additionalProperties": False,
                            },
                            "metadata": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        },
                        "additionalProperties": False,
                    },
                },
            },
        },
    },
}

# From KEDA's keda.sh_triggerauthentications.yaml (v2), cut to the fields pushgate sets.
KEDA_TRIGGER_AUTHENTICATION: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "kind": {"const": "TriggerAuthentication"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "secretTargetRef": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["parameter", "name", "key"],
                        "additionalProperties": False,
                        "properties": {
                            "parameter": {"type": "string"},
                            "name": {"type": "string"},
                            "key": {"type": "string"},
                        },
                    },
                }
            },
        },
    },
}


def render(folder: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize folder` renders."""
    result = subprocess.run(
        [require_binary("kubectl"), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr  # e.g. deprecated fields
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(K8S / "overlays" / request.param)


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """The rendered objects of one kind, by name."""
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, pod spec) of every Deployment and StatefulSet."""
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def test_every_object_validates_offline(rendered: list[dict[str, Any]]) -> None:
    checked = set()
    for obj in rendered:
        if obj["apiVersion"].startswith("keda.sh/"):
            keda = {"ScaledObject": KEDA_SCALED_OBJECT}
            jsonschema.validate(obj, keda.get(obj["kind"], KEDA_TRIGGER_AUTHENTICATION))
        else:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        checked.add(obj["kind"])
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "ScaledObject",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ConfigMap",
    } <= checked


def test_a_broken_object_is_refused() -> None:
    deployment = by_kind(render(K8S / "base"), "Deployment")["pushgate-api"]
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    scaled = by_kind(render(K8S / "base"), "ScaledObject")["pushgate-worker"]
    scaled["spec"]["triggers"][0]["metadata"]["listLength"] = 4
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, KEDA_SCALED_OBJECT)


def test_pods_run_locked_down_with_requests_and_limits(rendered: list[dict[str, Any]]) -> None:
    specs = dict(pod_specs(rendered))
    assert {"pushgate-api", "pushgate-worker"} <= set(specs)
    for name, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), name


def test_probes_and_graceful_shutdown(rendered: list[dict[str, Any]]) -> None:
    specs = dict(pod_specs(rendered))
    api = specs["pushgate-api"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    worker_spec = specs["pushgate-worker"]
    worker = worker_spec["containers"][0]
    assert "inspect ping" in " ".join(worker["startupProbe"]["exec"]["command"])
    assert "pushgate@%h" in " ".join(worker["command"])
    assert worker["livenessProbe"]["exec"]["command"][:3] == ["python", "-m", "worker.liveness"]
    env = {e["name"]: e.get("value") for e in worker["env"]}
    assert env["PUSHGATE_LIVENESS_FILE"].startswith("/tmp/")  # the writable emptyDir
    grace = float(env["PUSHGATE_SHUTDOWN_GRACE"].rstrip("s"))
    assert worker_spec["terminationGracePeriodSeconds"] > grace


def test_registry_token_is_a_secret_file_on_the_workers_only(
    rendered: list[dict[str, Any]],
) -> None:
    specs = dict(pod_specs(rendered))
    worker = specs["pushgate-worker"]["containers"][0]
    env = {e["name"]: e.get("value") for e in worker["env"]}
    token_file = Path(env["PUSHGATE_REGISTRY_TOKEN_FILE"])
    mount = next(m for m in worker["volumeMounts"] if m["mountPath"] == str(token_file.parent))
    volume = next(v for v in specs["pushgate-worker"]["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"].startswith("pushgate-registry")
    assert "PUSHGATE_REGISTRY_TOKEN" not in env
    api = specs["pushgate-api"]
    assert not any(
        v.get("secret", {}).get("secretName", "").startswith("pushgate-registry")
        for v in api["volumes"]
    )
    keys = by_kind(rendered, "ConfigMap")
    config = next(c for n, c in keys.items() if n.startswith("pushgate-config"))
    assert config["data"]["PUSHGATE_API_KEYS_FILE"].startswith("/run/pushgate/keys/")


def test_workers_scale_on_celerys_queue_and_budgets_cover_both(
    rendered: list[dict[str, Any]],
) -> None:
    scaled = by_kind(rendered, "ScaledObject")["pushgate-worker"]
    assert scaled["spec"]["scaleTargetRef"]["name"] in by_kind(rendered, "Deployment")
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] in ("redis", "redis-sentinel")
    assert trigger["metadata"]["listName"] == QUEUE
    hpa = by_kind(rendered, "HorizontalPodAutoscaler")["pushgate-api"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "pushgate-api"
    budgets = by_kind(rendered, "PodDisruptionBudget")
    selected = {
        b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for b in budgets.values()
    }
    assert {"pushgate-api", "pushgate-worker"} <= selected


def test_only_the_api_takes_ingress(rendered: list[dict[str, Any]]) -> None:
    policies = by_kind(rendered, "NetworkPolicy")
    deny = policies["pushgate-default-deny-ingress"]["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny
    open_to_all = [
        p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for p in policies.values()
        if any("from" not in rule for rule in p["spec"].get("ingress", []))
    ]
    assert open_to_all == ["pushgate-api"]
    for name, policy in policies.items():
        target = policy["spec"]["podSelector"].get("matchLabels", {})
        assert target.get("app.kubernetes.io/name") != "pushgate-worker", name


def test_example_files_are_what_pushgate_reads() -> None:
    files = K8S / "overlays" / "example" / "files"
    keys = parse_keys(yaml.safe_load((files / "api-keys.yaml").read_text()), "api-keys.yaml")
    assert [k.name for k in keys] == ["ci-pipeline"]
    settings = Settings(targets_file=files / "targets.yaml", apps_file=files / "apps.yaml")
    policies = load_apps(settings, load_targets(settings))
    assert policies.default_targets("myapp") == ["replicated"]
    base = yaml.safe_load((K8S / "base" / "config.yaml").read_text().split("---")[1])
    assert yaml.safe_load(base["data"]["apps.yaml"]) == []  # deny until the overlay says
    compose = Settings(apps_file=K8S.parent / "apps.yaml")  # docker-compose.yml's
    assert load_apps(compose, load_targets(compose)).default_targets("any") == ["replicated"]


def test_redis_takes_a_password_from_the_secret_pushgate_and_keda_read(
    rendered: list[dict[str, Any]],
) -> None:
    specs = dict(pod_specs(rendered))
    for name in ("pushgate-api", "pushgate-worker"):
        env = {e["name"]: e for e in specs[name]["containers"][0]["env"]}
        ref = env["PUSHGATE_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "pushgate-redis" and ref["key"] == "password", name
    auth = by_kind(rendered, "TriggerAuthentication")["pushgate-redis"]
    assert auth["spec"]["secretTargetRef"][0]["name"] == "pushgate-redis"
    trigger = by_kind(rendered, "ScaledObject")["pushgate-worker"]["spec"]["triggers"][0]
    assert trigger["authenticationRef"]["name"] == "pushgate-redis"
    if "pushgate-redis" in specs:  # the bundled Redis
        redis_container = specs["pushgate-redis"]["containers"][0]
        assert "--requirepass" in redis_container["command"]
        assert "pushgate-redis" in by_kind(rendered, "Secret")
