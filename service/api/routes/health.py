"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.api.deps import MetricsDep, RegistryDep, StoreDep
from service.responses import ORJSONResponse
from service.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    operation_id="health-live",
    response_model=Health,
    responses={503: {"model": Health, "description": "The embedded Redis died and could not be restarted."}},
    summary="The process is alive",
)
async def healthz(request: Request) -> ORJSONResponse:
    embedded = request.app.state.embedded
    if embedded is not None and not embedded.healthy:  # restart the process: its embedded Redis is gone
        return ORJSONResponse({"status": "embedded redis down"}, status_code=503)
    return ORJSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    operation_id="health-ready",
    response_model=Readiness,
    responses={
        503: {"model": Readiness, "description": "Redis unreachable, no model loaded, or the engine process down."}
    },
    summary="Redis reachable, models loaded, the engine (process) answering",
)
async def readyz(request: Request, store: StoreDep, registry: RegistryDep) -> ORJSONResponse:
    redis_ok = await store.ping()
    models = len(registry.engines)
    link = request.app.state.engine_link
    engine_ok = link is None or await link.ready()
    ready = redis_ok and models > 0 and engine_ok
    body = {"status": "ready" if ready else "not ready", "redis": redis_ok, "models": models, "engine": engine_ok}
    return ORJSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    operation_id="health-metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}},
    summary="Prometheus metrics",
)
async def metrics(request: Request, metrics: MetricsDep) -> Response:
    link = request.app.state.engine_link  # with an engine process, its batcher and engine families come from there
    engine = None if link is None else await link.metrics()
    return Response(metrics.exposition(engine), media_type=CONTENT_TYPE_LATEST)
