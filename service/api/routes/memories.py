"""/memories: write a memory, retrieve from it, read its metadata, delete it; all within the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response

from service.api.deps import MemoriesDep, TenantDep
from service.requests import ORJSONRoute
from service.responses import ORJSONResponse
from service.schemas import ErrorBody, MemoryCreate, MemoryList, MemoryPublic, RetrieveRequest, RetrieveResult

router = APIRouter(prefix="/memories", tags=["memories"], route_class=ORJSONRoute)

MemoryId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ERRORS = {
    401: {"model": ErrorBody, "description": "Missing or invalid API key."},
    404: {"model": ErrorBody, "description": "Unknown memory or model."},
    409: {
        "model": ErrorBody,
        "description": "θ written by a different checkpoint, or unreadable; or a write with this Idempotency-Key "
        "still in progress (see Retry-After).",
    },
    413: {"model": ErrorBody, "description": "Too many patterns / queries, body too large, or over the θ quota."},
    422: {
        "model": ErrorBody,
        "description": "Wrong dims, non-finite or out-of-domain values, or a malformed memory id (field named).",
    },
    429: {
        "model": ErrorBody,
        "description": "Engine queue full or no free Redis connection (see Retry-After), or over the memory quota.",
    },
    503: {"model": ErrorBody, "description": "Deadline passed waiting for the engine, or Redis unavailable."},
}


@router.post(
    "",
    operation_id="memories-create",
    status_code=201,
    response_model=MemoryPublic,
    responses={
        201: {"headers": {"Location": {"description": "The new memory's URL.", "schema": {"type": "string"}}}},
        **ERRORS,
    },
    summary="Write patterns into a new memory",
)
async def create_memory(
    body: MemoryCreate,
    memories: MemoriesDep,
    tenant: TenantDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="A retried write with the same key (and body) returns the same memory.",
        ),
    ] = None,
) -> ORJSONResponse:
    memory = await memories.create(tenant, body, idempotency_key)
    return ORJSONResponse(memory, status_code=201, headers={"Location": f"{router.prefix}/{memory['id']}"})


@router.get(
    "",
    operation_id="memories-list",
    response_model=MemoryList,
    responses={code: ERRORS[code] for code in (401, 404, 422, 429, 503)},
    summary="The caller's memories, newest first (metadata, no θ)",
)
async def list_memories(
    memories: MemoriesDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Memories per page.")] = 100,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page; omit for the newest.")
    ] = None,
    model: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Only this model's memories (a page may then hold fewer than `limit`; follow next_cursor).",
        ),
    ] = None,
) -> ORJSONResponse:
    return ORJSONResponse(await memories.list(tenant, limit, cursor, model))


@router.post(
    "/{memory_id}/retrieve",
    operation_id="memories-retrieve",
    response_model=RetrieveResult,
    responses=ERRORS,
    summary="Read queries from a memory",
)
async def retrieve(
    memory_id: MemoryId, body: RetrieveRequest, memories: MemoriesDep, tenant: TenantDep
) -> ORJSONResponse:
    return ORJSONResponse(await memories.retrieve(tenant, memory_id, body))


@router.get(
    "/{memory_id}",
    operation_id="memories-get",
    response_model=MemoryPublic,
    responses={code: ERRORS[code] for code in (401, 404, 409, 422, 429, 503)},
    summary="A memory's metadata (no θ)",
)
async def get_memory(memory_id: MemoryId, memories: MemoriesDep, tenant: TenantDep) -> ORJSONResponse:
    return ORJSONResponse((await memories.get(tenant, memory_id)).public())


@router.delete(
    "/{memory_id}",
    operation_id="memories-delete",
    status_code=204,
    responses={code: ERRORS[code] for code in (401, 404, 422, 429, 503)},
    summary="Delete",
)
async def delete_memory(memory_id: MemoryId, memories: MemoriesDep, tenant: TenantDep) -> Response:
    await memories.delete(tenant, memory_id)
    return Response(status_code=204)
