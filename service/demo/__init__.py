"""The demo page's static files (service/demo/static: HTML, one vanilla-JS module, CSS, an icon; no build step, no CDN),
served at /demo with fixed content types and a Content-Security-Policy that lets the page load only itself
and talk only to this origin."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
MEDIA_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


class DemoFiles(StaticFiles):
    """StaticFiles over STATIC_DIR (index.html at /demo/) whose every response carries SECURITY_HEADERS and whose
    files have the media type of their suffix in MEDIA_TYPES, whatever the host's mimetypes say."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC_DIR, html=True)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        media_type = MEDIA_TYPES.get(Path(path).suffix or ".html")  # no suffix: a directory's index.html
        if media_type is not None and response.status_code == 200:
            charset = "; charset=utf-8" if media_type.startswith("text/") else ""
            response.headers["content-type"] = media_type + charset
        response.headers.update(SECURITY_HEADERS)
        return response
