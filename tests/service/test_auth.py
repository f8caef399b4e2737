"""API keys: hashed entries, 401 on every protected route, both headers, key rotation, no start without keys."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from service.auth import DEV_TENANT, ApiKeys, AuthConfigError, key_digest
from service.main import create_app, lifespan
from service.settings import Settings

from .conftest import KEYS, TENANT, api_keys, memory_key

ONES = [1.0] * 32
PROTECTED = [  # (method, path, body): every route that reads or writes tenant data, and /models
    ("POST", "/memories", {"model": "tiny", "patterns": [ONES]}),
    ("POST", "/memories/{id}/retrieve", {"queries": [ONES]}),
    ("GET", "/memories/{id}", None),
    ("DELETE", "/memories/{id}", None),
    ("GET", "/models", None),
]


def test_entries_map_key_hashes_to_tenants() -> None:
    keys = ApiKeys.parse(f"{key_digest('k1')}:alice, {key_digest('k2')}:bob\n# a comment\n\n", "test")
    assert [keys.tenant_of(k) for k in ("k1", "k2", "k3", "")] == ["alice", "bob", None, None]
    assert keys.tenant_of(key_digest("k1")) is None  # the stored hash is not itself a key


@pytest.mark.parametrize(
    "text", ["alice", f"{key_digest('k')[:63]}:alice", f"{key_digest('k')}:", f"{key_digest('k')}:a{{b}}"]
)
def test_malformed_entries_are_refused(text: str) -> None:
    with pytest.raises(AuthConfigError, match="EBMM_API_KEYS line 1: expected `sha256hex:tenant`"):
        ApiKeys.parse(text, "EBMM_API_KEYS")


def test_keys_file_and_env_are_merged(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# ops keys\n{key_digest('from-file')}:ops  # rotated 2025-01\n")
    settings = Settings(api_keys=f"{key_digest('from-env')}:dev-team", api_keys_file=path)
    keys = ApiKeys.from_settings(settings)
    assert keys is not None and (keys.tenant_of("from-file"), keys.tenant_of("from-env")) == ("ops", "dev-team")
    with pytest.raises(AuthConfigError, match="EBMM_API_KEYS_FILE"):
        ApiKeys.from_settings(Settings(api_keys_file=tmp_path / "missing"))


async def test_a_server_without_keys_refuses_to_start(checkpoints: Path, tmp_path: Path) -> None:
    settings = Settings(checkpoint_dir=checkpoints, data_dir=tmp_path, api_keys=None, api_keys_file=None)
    app = create_app(settings)
    with pytest.raises(AuthConfigError, match="EBMM_AUTH_DISABLED=true for local development only"):
        async with lifespan(app):
            pass
    assert not (tmp_path / "appendonly.aof").exists()  # it stopped before starting anything


def test_auth_disabled_is_explicit_and_logged_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="service.auth"):
        assert ApiKeys.from_settings(Settings(auth_disabled=True, api_keys=None)) is None
    assert "AUTHENTICATION IS DISABLED" in caplog.text


def protected_calls(memory_id: str) -> list[tuple[str, str, dict | None]]:
    return [(method, path.format(id=memory_id), body) for method, path, body in PROTECTED]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"Authorization": f"Basic {KEYS[TENANT]}"}],
    ids=["missing", "wrong-bearer", "wrong-x-api-key", "not-bearer"],
)
def test_missing_or_wrong_key_is_401_on_every_protected_route(server, client, headers: dict[str, str]) -> None:
    memory_id = client.write("tiny", [ONES]).id
    with httpx.Client(base_url=server.url, headers=headers) as http:
        for method, path, body in protected_calls(memory_id):
            response = http.request(method, path, json=body)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error"]["type"] == "unauthorized"
            assert response.headers["WWW-Authenticate"] == "Bearer"
        invalid = http.post("/memories", json={"colour": "red"})  # the key is checked before the body's fields
        assert invalid.status_code == 401, invalid.text
        for path in ("/healthz", "/readyz", "/metrics"):  # probes and the Prometheus scrape stay open
            assert http.get(path).status_code == 200
    assert client.get(memory_id).id == memory_id  # nothing was deleted


def test_bearer_and_x_api_key_are_equivalent(server, client) -> None:
    memory_id = client.write("tiny", [ONES]).id
    for headers in ({"Authorization": f"Bearer {KEYS[TENANT]}"}, {"X-API-Key": KEYS[TENANT]}):
        with httpx.Client(base_url=server.url, headers=headers) as http:
            assert http.get(f"/memories/{memory_id}").json()["id"] == memory_id


def test_key_rotation_two_keys_one_tenant(make_server, tmp_path: Path) -> None:
    old, new = "old-key-of-alice", "new-key-of-alice"
    with make_server(tmp_path / "data", api_keys=api_keys({"alice": old}) + "," + api_keys({"alice": new})) as both:
        with httpx.Client(base_url=both.url, headers={"X-API-Key": old}) as with_old:
            memory = with_old.post("/memories", json={"model": "tiny", "patterns": [ONES]}).json()
        with httpx.Client(base_url=both.url, headers={"X-API-Key": new}) as with_new:
            assert with_new.get(f"/memories/{memory['id']}").json() == memory  # same tenant, same memories
    with make_server(tmp_path / "data", api_keys=api_keys({"alice": new})) as rotated:  # the old key is dropped
        assert httpx.get(f"{rotated.url}/memories/{memory['id']}", headers={"X-API-Key": old}).status_code == 401
        response = httpx.get(f"{rotated.url}/memories/{memory['id']}", headers={"X-API-Key": new})
        assert response.json() == memory


def test_auth_disabled_serves_everyone_as_the_dev_tenant(make_server) -> None:
    with make_server(api_keys=None, auth_disabled=True) as server, httpx.Client(base_url=server.url) as http:
        response = http.post("/memories", json={"model": "tiny", "patterns": [ONES]})
        assert response.status_code == 201
        assert server.redis().exists(memory_key(response.json()["id"], DEV_TENANT))
