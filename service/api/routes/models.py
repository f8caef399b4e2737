"""/models: what is served (to any authenticated caller)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from service.api.deps import RegistryDep, caller_tenant
from service.responses import ORJSONResponse
from service.schemas import ErrorBody, ModelList

router = APIRouter(
    prefix="/models",
    tags=["models"],
    dependencies=[Depends(caller_tenant)],
    responses={401: {"model": ErrorBody, "description": "Missing or invalid API key."}},
)


@router.get("", operation_id="models-list", response_model=ModelList, summary="Served models")
async def list_models(registry: RegistryDep) -> ORJSONResponse:
    return ORJSONResponse({"models": registry.describe()})
