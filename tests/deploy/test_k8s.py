"""deploy/k8s: every overlay renders with `kubectl kustomize` and validates against the Kubernetes schemas
(kubernetes-validate, strict) and the CRDs it uses (vendored in tests/deploy/crds); the PrometheusRule holds
the compose alerts; every image is pinned; the grace period covers the drain; probes, GPU placement and
autoscaling name what the service really serves and exports. No cluster needed."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from service.metrics import Metrics
from service.settings import Settings

from .conftest import DASHBOARD, DEPLOY, PROMETHEUS_DIR, load_script, load_yaml, selectors

K8S = DEPLOY / "k8s"
CRDS = Path(__file__).parent / "crds"
OVERLAYS = sorted(path.parent.name for path in (K8S / "overlays").glob("*/kustomization.yaml"))
K8S_VERSIONS = ["1.29.0", "1.37.0"]  # the oldest and newest Kubernetes the manifests are checked against
MIN_KUSTOMIZE = (5, 0)  # components, `labels`, configMapGenerator merges

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="pip install -e '.[test]' (kubernetes-validate)"
)


@cache
def kubectl() -> str:
    """The kubectl binary with an embedded kustomize new enough for these manifests (else the test skips)."""
    path = shutil.which("kubectl")
    if path is None:
        pytest.skip("kubectl not installed (scripts/ensure-kubectl.sh installs it as root with apt)")
    version = json.loads(subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True).stdout)
    found = re.match(r"v(\d+)\.(\d+)", version.get("kustomizeVersion", ""))
    if found is None or (int(found[1]), int(found[2])) < MIN_KUSTOMIZE:
        pytest.skip(
            f"kubectl's kustomize {version.get('kustomizeVersion')} is older than v5 (Debian's kubernetes-client)"
        )
    return path


@cache
def render(overlay: str) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize deploy/k8s/overlays/<overlay>` prints."""
    result = subprocess.run([kubectl(), "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def objects(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in render(overlay) if doc["kind"] == kind]


def one(overlay: str, kind: str) -> dict[str, Any]:
    [found] = objects(overlay, kind)
    return found


def api_container(overlay: str) -> dict[str, Any]:
    [container] = one(overlay, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def settings_of(overlay: str) -> Settings:
    """The service's Settings as the rendered ConfigMap sets them (the environment of the pod)."""
    data = settings_data(overlay)
    return Settings(**{key.removeprefix("EBMM_").lower(): value for key, value in data.items()})


def settings_data(overlay: str) -> dict[str, str]:
    [settings] = [c for c in objects(overlay, "ConfigMap") if c["metadata"]["name"].startswith("ebmm-settings")]
    return settings["data"]


# --- custom resources: their CRDs' openAPIV3Schema as strict JSON Schema -----------------------------------


def strict_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD's structural schema as JSON Schema that rejects unknown fields (as the API server's strict field
    validation does): `additionalProperties: false` wherever properties are listed and unknown fields are not
    preserved; `x-kubernetes-int-or-string` and `nullable` spelled out."""
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
        if not isinstance(node, dict):
            return
        for value in node.values():
            visit(value)
        if node.get("x-kubernetes-int-or-string"):
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if node.get("nullable") and "type" in node:
            node["type"] = [node["type"], "null"]
        preserved = node.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in node and "additionalProperties" not in node and not preserved:
            node["additionalProperties"] = False

    visit(schema)
    return schema


@cache
def crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> a validator of that custom resource, from the vendored CRDs."""
    validators = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        for version in crd["spec"]["versions"]:
            schema = strict_json_schema(version["schema"]["openAPIV3Schema"])
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            validators[key] = jsonschema.Draft7Validator(schema)
    return validators


def validate(doc: dict[str, Any], k8s_version: str) -> None:
    """Raise if `doc` is not a valid object: a built-in kind by kubernetes-validate (strict), a custom one by its
    vendored CRD; a kind neither knows fails too."""
    custom = crd_validators().get((doc["apiVersion"], doc["kind"]))
    if custom is not None:
        custom.validate(doc)
    else:
        kubernetes_validate.validate(doc, k8s_version, strict=True)


# --- tests ---------------------------------------------------------------------------------------------------


def test_every_overlay_is_tested() -> None:
    assert OVERLAYS == ["cpu", "cpu-hpa", "gpu", "redis-cluster"]


@pytest.mark.parametrize("k8s_version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlays_render_and_validate_against_the_schemas(overlay: str, k8s_version: str) -> None:
    docs = render(overlay)
    assert {doc["kind"] for doc in docs} >= {"Namespace", "Deployment", "Service", "PodDisruptionBudget"}
    for doc in docs:
        validate(doc, k8s_version)
        assert doc["kind"] == "Namespace" or doc["metadata"]["namespace"] == "ebmm"


@pytest.mark.parametrize(
    ("kind", "path", "wrong"),
    [
        ("Deployment", ["spec", "template", "spec", "containers", 0, "ports", 0, "containerPort"], "8000/tcp"),
        ("Deployment", ["spec", "template", "spec", "terminationGracePeriod"], 50),  # unknown field
        ("ScaledObject", ["spec", "minReplicas"], 2),  # unknown field (it is minReplicaCount)
        ("ServiceMonitor", ["spec", "endpoints", 0, "interval"], "15 seconds"),
        ("PrometheusRule", ["spec", "groups", 0, "rules", 0, "for"], "a minute"),
    ],
)
def test_the_validation_catches_mistakes(kind: str, path: list[Any], wrong: Any) -> None:
    """The check above can fail: one wrong value or unknown field in a rendered object is refused."""
    doc = copy.deepcopy(one("cpu", kind))
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = wrong
    with pytest.raises(jsonschema.ValidationError):
        validate(doc, K8S_VERSIONS[-1])


def test_the_prometheus_rule_is_the_compose_alerts() -> None:
    build = load_script(K8S / "build_prometheusrule.py")
    assert (K8S / "components" / "monitoring" / "prometheusrule.yaml").read_text(encoding="utf-8") == build.render()
    alerts = load_yaml(PROMETHEUS_DIR / "alerts.yml")
    for overlay in OVERLAYS:
        assert one(overlay, "PrometheusRule")["spec"]["groups"] == alerts["groups"]


def test_the_alerts_and_the_scrape_job_agree() -> None:
    """The alerts select job="ebmm-api"; the ServiceMonitor's job label is the Service's name."""
    for overlay in OVERLAYS:
        service = one(overlay, "Service")
        monitor = one(overlay, "ServiceMonitor")
        assert service["metadata"]["name"] == "ebmm-api" and "jobLabel" not in monitor["spec"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}
        assert service["spec"]["selector"].items() <= pod_labels(overlay).items()


def test_every_image_is_pinned() -> None:
    for overlay in OVERLAYS:
        pod = one(overlay, "Deployment")["spec"]["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            name, _, tag = container["image"].rpartition(":")
            assert "/" in name and tag and tag != "latest" and "/" not in tag, container["image"]
    assert api_container("gpu")["image"].endswith("-cu128")  # the CUDA build of the image


def test_the_grace_period_covers_the_pre_stop_pause_and_the_drain() -> None:
    for overlay in OVERLAYS:
        pod = one(overlay, "Deployment")["spec"]["template"]["spec"]
        [pause] = [int(arg) for arg in api_container(overlay)["lifecycle"]["preStop"]["exec"]["command"][1:]]
        assert pod["terminationGracePeriodSeconds"] >= pause + settings_of(overlay).drain_bound_s()


def test_probes_use_the_services_health_routes() -> None:
    for overlay in OVERLAYS:
        container = api_container(overlay)
        port = container["ports"][0]
        assert (port["name"], port["containerPort"]) == ("http", 8000)
        assert container["args"] == ["--host", "0.0.0.0", "--port", "8000"]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_every_setting_is_one_the_service_reads() -> None:
    """Settings ignores unknown EBMM_ variables: a misspelt one would silently do nothing."""
    fields = {f"EBMM_{name.upper()}" for name in Settings.model_fields}
    for overlay in OVERLAYS:
        assert set(settings_data(overlay)) <= fields
        settings_of(overlay)  # and each value parses
    assert settings_of("redis-cluster").redis_cluster and not settings_of("cpu").redis_cluster


def test_pods_spread_and_disruptions_are_bounded() -> None:
    for overlay in OVERLAYS:
        pod = one(overlay, "Deployment")["spec"]["template"]["spec"]
        keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        for constraint in pod["topologySpreadConstraints"]:
            assert constraint["labelSelector"]["matchLabels"].items() <= pod_labels(overlay).items()
        budget = one(overlay, "PodDisruptionBudget")["spec"]
        assert (
            budget["maxUnavailable"] == 1 and budget["selector"]["matchLabels"].items() <= pod_labels(overlay).items()
        )


def test_gpu_pods_get_one_gpu_and_one_engine_each() -> None:
    container = api_container("gpu")
    pod = one("gpu", "Deployment")["spec"]["template"]["spec"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "--workers" not in container["args"]  # one uvicorn worker: one engine on the pod's one GPU
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert settings_of("gpu").device == "cuda" and settings_of("cpu").device == "cpu"
    assert "nvidia.com/gpu" not in api_container("cpu")["resources"].get("limits", {})


def test_autoscaling_on_queue_depth_or_on_cpu() -> None:
    exported = {family.name for family in text_string_to_metric_families(Metrics().exposition().decode())}
    for overlay in OVERLAYS:
        scalers = objects(overlay, "ScaledObject") + objects(overlay, "HorizontalPodAutoscaler")
        assert len(scalers) == 1  # KEDA owns an HPA of its own: never both
        assert scalers[0]["spec"]["scaleTargetRef"]["name"] == one(overlay, "Deployment")["metadata"]["name"]
    assert one("cpu-hpa", "HorizontalPodAutoscaler")["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    for overlay in ("cpu", "gpu", "redis-cluster"):
        [trigger] = one(overlay, "ScaledObject")["spec"]["triggers"]
        query = trigger["metadata"]["query"]
        names = {node.name for node in selectors(query)}
        assert names == {"ebmm_queue_depth"} <= exported
        assert 'job="ebmm-api"' in query


def test_the_dashboard_config_map_is_the_dashboard() -> None:
    for overlay in OVERLAYS:
        [dashboard] = [c for c in objects(overlay, "ConfigMap") if c["metadata"]["name"] == "ebmm-grafana-dashboard"]
        assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert dashboard["data"]["ebmm.json"] == DASHBOARD.read_text(encoding="utf-8")
        uids = {
            panel["datasource"]["uid"]
            for panel in json.loads(dashboard["data"]["ebmm.json"])["panels"]
            if isinstance(panel.get("datasource"), dict)
        }
        [source] = [c for c in objects(overlay, "ConfigMap") if c["metadata"]["name"] == "ebmm-grafana-datasource"]
        provided = yaml.safe_load(source["data"]["ebmm-datasource.yaml"])["datasources"]
        assert uids <= {d["uid"] for d in provided}


def test_every_object_fits_client_side_apply() -> None:
    """`kubectl apply` keeps each object in an annotation, and annotations may hold 256 KiB in all."""
    for overlay in OVERLAYS:
        for doc in render(overlay):
            assert len(json.dumps(doc)) < 256 * 1024 // 2, (overlay, doc["kind"], doc["metadata"]["name"])


# --- helpers -------------------------------------------------------------------------------------------------


def pod_labels(overlay: str) -> dict[str, str]:
    return one(overlay, "Deployment")["spec"]["template"]["metadata"]["labels"]
