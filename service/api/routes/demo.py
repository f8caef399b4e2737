"""The front page (`/`, linking the demo and the API docs) and the demo page's data: digits of the bundled test
split. The page's files themselves are mounted at /demo (service.demo.DemoFiles); none of this is in the API
spec, and none of it needs a key (it holds nothing of any tenant)."""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from model.data.digits import load_digits
from service.demo import SECURITY_HEADERS
from service.responses import ORJSONResponse

router = APIRouter(include_in_schema=False)

# Digits of the test split the page offers (the first ones, in the split's order).
DEMO_DIGITS = 96

FRONT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>EBMM memory service</title></head>
<body><h1>EBMM memory service</h1>
<p>An associative memory served over HTTP (Energy-Based Memory Models, Bartunov et al., ICLR 2020).</p>
<ul>
<li><a href="/demo/">Demo</a>: store bit patterns or images, corrupt one and watch the memory restore it
step by step</li>
<li><a href="/docs">API documentation</a> (OpenAPI)</li>
</ul></body></html>
"""


@cache
def _digits_body() -> dict:
    images = load_digits("test")[:DEMO_DIGITS]  # [N, 1, 8, 8] in [0, 1]
    return {"shape": list(images.shape[1:]), "images": images.flatten(1).tolist()}


@router.get("/")
async def front_page() -> HTMLResponse:
    return HTMLResponse(FRONT_PAGE, headers=SECURITY_HEADERS)


@router.get("/demo/digits")
async def demo_digits() -> ORJSONResponse:
    """{"shape": [1, 8, 8], "images": [N][64]}: the first DEMO_DIGITS digits of the bundled test split, in [0, 1]."""
    return ORJSONResponse(_digits_body(), headers={"Cache-Control": "max-age=3600"})
