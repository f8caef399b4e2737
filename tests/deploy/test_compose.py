"""deploy/docker-compose*.yml: valid against the Compose Specification schema, and wired as deploy/README says.

The schema check uses check-jsonschema and the compose-spec JSON schema it vendors (`vendor.compose-spec`), so
it runs without a Docker engine or network.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import COMPOSE, COMPOSE_GPU, DEPLOY, load_yaml

CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
PINNED_IMAGE = re.compile(r"[\w./-]+:v?\d+(\.\d+)+[\w.-]*")  # an explicit version tag, never `latest`


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def interpolate(value: str) -> str:
    """Compose's `${VAR:-default}` with the variable unset: the default."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE)


def test_compose_files_match_the_compose_specification() -> None:
    result = validate(COMPOSE, COMPOSE_GPU)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_compose_file(tmp_path: Path, compose: dict) -> None:
    compose = copy.deepcopy(compose)
    compose["services"]["redis"]["healthcheck"]["intervall"] = "10s"  # misspelt key
    compose["services"]["api"]["deploy"]["replicas"] = [2]
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(compose))
    result = validate(broken)
    assert result.returncode == 1
    assert "intervall" in result.stdout and "replicas" in result.stdout


def test_services_have_pinned_images_healthchecks_and_restart_policies(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"api", "redis", "prometheus", "grafana"}
    for name, service in services.items():
        assert PINNED_IMAGE.fullmatch(interpolate(service["image"])), f"{name}: {service['image']} is not pinned"
        assert service["restart"] == "unless-stopped", name
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD" and len(test) > 1, name
    assert services["redis"]["image"].startswith("redis:")
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")


def test_api_builds_the_repository_image_and_talks_to_the_redis_service(compose: dict) -> None:
    api = compose["services"]["api"]
    assert (DEPLOY / api["build"]["context"] / api["build"]["dockerfile"]).is_file()
    assert api["build"]["target"] == "runtime"
    assert interpolate(api["build"]["args"]["TORCH_INDEX_URL"]) == "https://download.pytorch.org/whl/cpu"
    assert api["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(api["healthcheck"]["test"])
    assert int(interpolate(str(api["deploy"]["replicas"]))) >= 1
    # Replicas share the service name; on the host each gets its own port from a range, so scaling never
    # collides on one fixed port.
    (ports,) = api["ports"]
    host, container = interpolate(ports).rsplit(":", 1)
    low, high = map(int, host.split("-"))
    assert container == "8000" and high - low + 1 >= int(interpolate(str(api["deploy"]["replicas"])))


def test_redis_persists_with_an_append_only_file_on_a_named_volume(compose: dict) -> None:
    redis = compose["services"]["redis"]
    command = redis["command"]
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "redis-cli" in redis["healthcheck"]["test"]
    assert "redis-data:/data" in redis["volumes"]


def test_volumes_are_named_and_bind_mounts_exist(compose: dict) -> None:
    assert set(compose["volumes"]) == {"redis-data", "prometheus-data", "grafana-data"}
    used = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                assert (DEPLOY / source).is_dir(), f"{name}: bind mount {source} does not exist"
            else:
                used.add(source)
            assert target.startswith("/"), name
    assert used == set(compose["volumes"])


def test_prometheus_and_grafana_load_the_checked_in_configuration(compose: dict) -> None:
    prometheus = compose["services"]["prometheus"]
    assert "./prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    grafana = compose["services"]["grafana"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./grafana/dashboards:/etc/grafana/dashboards:ro" in grafana["volumes"]
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "ebmm.yml")["providers"][0]
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DEPLOY / "grafana" / "dashboards" / os.path.basename(home)).is_file()
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def test_gpu_override_reserves_an_nvidia_device_and_builds_cuda_torch() -> None:
    api = load_yaml(COMPOSE_GPU)["services"]["api"]
    (device,) = api["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"] and device["count"] >= 1
    assert re.fullmatch(
        r"https://download\.pytorch\.org/whl/cu\d+", interpolate(api["build"]["args"]["TORCH_INDEX_URL"])
    )
