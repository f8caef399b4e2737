"""/models: what is served (to any authenticated caller)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from service.api.deps import MetricsDep, RegistryDep, StoreDep, caller_tenant
from service.responses import ORJSONResponse
from service.schemas import ErrorBody, ModelList
from service.versions import count_memories

router = APIRouter(
    prefix="/models",
    tags=["models"],
    dependencies=[Depends(caller_tenant)],
    responses={401: {"model": ErrorBody, "description": "Missing or invalid API key."}},
)


@router.get("", operation_id="models-list", response_model=ModelList, summary="Served models")
async def list_models(registry: RegistryDep, store: StoreDep, metrics: MetricsDep) -> ORJSONResponse:
    return ORJSONResponse({"models": registry.describe(await count_memories(registry, store, metrics))})
