"""/models: what is served."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import RegistryDep
from service.responses import ORJSONResponse
from service.schemas import ModelList

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", operation_id="models-list", response_model=ModelList, summary="Served models")
async def list_models(registry: RegistryDep) -> ORJSONResponse:
    return ORJSONResponse({"models": registry.describe()})
