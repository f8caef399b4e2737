"""Issue 16 item 8: a key configured from a non-ASCII string works when sent as UTF-8, and a request with an
`Authorization` header that is not Bearer is a 401 even with a valid X-API-Key (one rule, as documented)."""

from __future__ import annotations

import httpx

from service.auth import key_digest

from .conftest import KEYS, TENANT

NON_ASCII_KEY = "clé-schlüssel-ключ-鍵-" + "x" * 16


def test_a_non_ascii_key_sent_as_utf8_is_accepted(make_server) -> None:
    with make_server(api_keys=f"{key_digest(NON_ASCII_KEY)}:carol") as server:
        for header in ("X-API-Key", "Authorization"):
            value = NON_ASCII_KEY.encode() if header == "X-API-Key" else b"Bearer " + NON_ASCII_KEY.encode()
            response = httpx.get(f"{server.url}/models", headers={header: value})
            assert response.status_code == 200, (header, response.text)
        assert httpx.get(f"{server.url}/models", headers={"X-API-Key": b"cl\xe9"}).status_code == 401


def test_a_non_bearer_authorization_is_401_even_with_a_valid_x_api_key(server, client) -> None:
    memory_id = client.write("tiny", [[1.0] * 32]).id
    headers = {"Authorization": "Basic dXNlcjpwYXNz", "X-API-Key": KEYS[TENANT]}
    with httpx.Client(base_url=server.url, headers=headers) as http:
        for method, path in (
            ("GET", f"/memories/{memory_id}"),
            ("GET", "/models"),
            ("DELETE", f"/memories/{memory_id}"),
        ):
            response = http.request(method, path)
            assert response.status_code == 401, (method, path, response.text)
            assert "Bearer" in response.json()["error"]["message"]
    assert client.get(memory_id).id == memory_id
    both = {"Authorization": f"Bearer {KEYS[TENANT]}", "X-API-Key": "something else"}
    assert httpx.get(f"{server.url}/memories/{memory_id}", headers=both).status_code == 200  # Bearer wins
