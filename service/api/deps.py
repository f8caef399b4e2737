"""`Annotated` dependencies: what routes take from app.state (built in the lifespan, never at import).

They are `async def` although they never await: FastAPI runs a plain `def` dependency in its thread pool,
a thread hop per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.auth import authenticate_headers
from service.memories import MemoryService
from service.metrics import Metrics
from service.registry import ModelRegistry
from service.request_context import note
from service.store import MemoryStore


async def _memories(request: Request) -> MemoryService:
    return request.app.state.memories


async def _registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


async def _store(request: Request) -> MemoryStore:
    return request.app.state.store


async def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics


_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key (instead of Bearer).")


async def caller_tenant(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key)],
) -> str:
    """The caller's tenant (401 without a valid key); every memory route is scoped to it. Memory routes checked
    the key before reading the body (`ORJSONRoute`): their tenant is in `request.state`."""
    tenant = getattr(request.state, "tenant", None)
    if tenant is None:
        headers = request.headers  # the raw headers: `bearer` is None for any other scheme, which must be a 401
        tenant = authenticate_headers(
            request.app.state.api_keys, headers.get("authorization"), headers.get("x-api-key")
        )
    note(tenant=tenant)
    return tenant


MemoriesDep = Annotated[MemoryService, Depends(_memories)]
RegistryDep = Annotated[ModelRegistry, Depends(_registry)]
StoreDep = Annotated[MemoryStore, Depends(_store)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
TenantDep = Annotated[str, Depends(caller_tenant)]
