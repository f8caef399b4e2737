"""The front page, the demo page's files and its digits: served without a key, with fixed content types and a
Content-Security-Policy, same-origin only, and kept out of the API spec."""

from __future__ import annotations

import re

import httpx
import numpy as np
import pytest

from model.data.digits import load_digits
from service.api.routes.demo import DEMO_DIGITS
from service.demo import CONTENT_SECURITY_POLICY, STATIC_DIR
from service.main import create_app


@pytest.fixture
def http(server) -> httpx.Client:
    """No API key: none of these needs one."""
    with httpx.Client(base_url=server.url) as client:
        yield client


def test_the_front_page_links_the_demo_and_the_docs(http: httpx.Client) -> None:
    response = http.get("/")
    assert response.status_code == 200 and response.headers["content-type"] == "text/html; charset=utf-8"
    assert 'href="/demo/"' in response.text and 'href="/docs"' in response.text
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/demo/", "text/html; charset=utf-8"),
        ("/demo/index.html", "text/html; charset=utf-8"),
        ("/demo/demo.js", "text/javascript; charset=utf-8"),
        ("/demo/demo.css", "text/css; charset=utf-8"),
        ("/demo/favicon.svg", "image/svg+xml"),
    ],
)
def test_the_page_files_have_their_content_types_and_the_policy(http: httpx.Client, path: str, media_type: str) -> None:
    response = http.get(path)
    assert response.status_code == 200 and response.headers["content-type"] == media_type
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"


def test_demo_without_a_slash_leads_to_the_page_and_unknown_files_are_404(http: httpx.Client) -> None:
    assert http.get("/demo", follow_redirects=True).url.path == "/demo/"
    assert http.get("/demo/nothing.js").status_code == 404


def test_the_page_loads_nothing_from_elsewhere() -> None:
    """No CDN: every file the page loads is its own, and it inlines no script or style (the policy forbids them)."""
    files = {path.name: path.read_text() for path in STATIC_DIR.iterdir()}
    assert set(files) == {"index.html", "demo.js", "demo.css", "favicon.svg"}
    for name, text in files.items():
        assert not re.search(r"(src|href)=\"(https?:)?//", text), name
        assert not re.search(r"(fetch|import)\(\s*[\"'`]https?:", text), name
    assert not re.search(r"<script>|<style>| style=| on[a-z]+=", files["index.html"])
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "'unsafe-eval'" not in CONTENT_SECURITY_POLICY


def test_the_digits_are_the_bundled_test_split(http: httpx.Client) -> None:
    body = http.get("/demo/digits").json()
    assert body["shape"] == [1, 8, 8]
    expected = load_digits("test")[:DEMO_DIGITS].flatten(1).numpy()
    np.testing.assert_allclose(np.asarray(body["images"], dtype=np.float32), expected)


def test_the_pages_are_not_in_the_api_spec() -> None:
    paths = create_app().openapi()["paths"]
    assert not [path for path in paths if path == "/" or path.startswith("/demo")]
