"""The FastAPI app: `create_app(settings)` wires routers, middleware and error handlers; `lifespan` builds the
parts (API keys, models, Redis, store, batcher) at start-up and takes them down in reverse order.

Shutdown is graceful: on SIGTERM uvicorn stops accepting connections and waits for the requests in flight
(their items are in the batcher's queues and get served), then the lifespan drains the batcher, closes the
store and stops the embedded Redis, which fsyncs its append-only file.

    uvicorn --factory service.main:create_app      # or: ebmm serve
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import torch
from fastapi import FastAPI

from service.api.routes import demo, health, memories, models
from service.auth import DEV_TENANT, ApiKeys
from service.batch_ops import LocalQueues
from service.batcher import Batcher
from service.body_parser import BodyParser
from service.demo import DemoFiles
from service.embedded_redis import EmbeddedRedis
from service.engine_link import EngineLink
from service.errors import install_error_handlers
from service.heap import freeze_startup_heap
from service.lean_dispatch import LeanDispatch
from service.memories import MemoryService
from service.metrics import Metrics
from service.middleware import BodyLimit
from service.registry import ModelRegistry
from service.request_context import RequestRecord
from service.responses import ORJSONResponse
from service.settings import Settings
from service.store import MemoryStore, Quota
from service.tracing import instrument
from service.versions import start_counting


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    metrics: Metrics = app.state.metrics
    app.state.api_keys = ApiKeys.from_settings(settings)  # first: a server without keys must not start
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    remote = settings.engine_socket is not None  # the engine process runs the models: here only their info is used
    registry = await asyncio.to_thread(ModelRegistry.from_settings, settings, not remote)
    embedded, url = None, settings.redis_url
    if url is None:
        embedded = EmbeddedRedis(settings.data_dir, settings.embedded_appendfsync)
        url = embedded.start()  # on this thread: the server's lifetime is tied to the thread that starts it
    quota = Quota(settings.tenant_max_memories, settings.tenant_max_floats)
    provider = app.state.tracer_provider
    tracer = None if provider is None else provider.get_tracer("ebmm")
    store = MemoryStore(
        url,
        settings.redis_timeout_s,
        quota,
        metrics,
        cluster=settings.redis_cluster,
        max_connections=settings.redis_max_connections,
        pool_wait_s=settings.deadline_s,
        reservation_s=settings.write_reservation_s(),
        tracer=tracer,
    )
    batcher = Batcher.from_settings(settings, metrics, tracer)
    link = None if settings.engine_socket is None else EngineLink(settings.engine_socket, settings.deadline_s)
    registry.start(LocalQueues(batcher) if link is None else link)
    metrics.init_models(registry.trained_distortions())
    metrics.init_tenants({DEV_TENANT} if app.state.api_keys is None else app.state.api_keys.tenants)
    app.state.registry, app.state.store, app.state.redis_url, app.state.embedded = registry, store, url, embedded
    app.state.engine_link = link
    app.state.memories = MemoryService(settings, registry, store, metrics)
    app.state.body_parser = BodyParser(settings.parse_offload_bytes)
    counting = await start_counting(registry, store, metrics)
    freeze_startup_heap()
    try:
        yield
    finally:
        counting.cancel()
        await asyncio.to_thread(app.state.body_parser.close)
        await batcher.drain()
        if link is not None:
            await link.close()
        await store.close()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        if provider is not None:
            await asyncio.to_thread(provider.shutdown)  # exports the spans still buffered


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app with its own settings (default: from the environment) and its own metrics registry."""
    settings = settings or Settings()
    metrics = Metrics()
    app = FastAPI(
        title="EBMM memory service",
        version="0.1.0",
        summary="Energy-Based Memory Models (Bartunov et al., ICLR 2020): write patterns, retrieve from corruptions.",
        lifespan=lifespan,
        default_response_class=ORJSONResponse,
        # FastAPI's own OpenTelemetry hooks look up the global providers (environment reads) on every request;
        # the service's tracing is EBMM_TRACING's instrumentation (service.tracing)
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings, app.state.metrics = settings, metrics
    app.include_router(memories.router)
    app.include_router(models.router)
    app.include_router(health.router)
    app.include_router(demo.router)
    app.mount("/demo", DemoFiles(), name="demo")  # after demo.router: /demo/digits is a route
    install_error_handlers(app)
    app.add_middleware(LeanDispatch, routes=memories.router.routes, metrics=metrics)  # innermost
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, metrics=metrics)
    app.add_middleware(RequestRecord, metrics=metrics)  # ids, counts and logs 413s from the body limit too
    app.state.tracer_provider = instrument(app) if settings.tracing else None  # outermost
    return app


def openapi_json(app: FastAPI | None = None) -> bytes:
    """The OpenAPI document, with sorted keys and a final newline (diff-friendly; `ebmm openapi` writes it)."""
    spec = (app or create_app()).openapi()
    return orjson.dumps(spec, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
