"""`Annotated` dependencies: what routes take from app.state (built in the lifespan, never at import)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.memories import MemoryService
from service.metrics import Metrics
from service.registry import ModelRegistry
from service.store import MemoryStore


def _memories(request: Request) -> MemoryService:
    return request.app.state.memories


def _registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


def _store(request: Request) -> MemoryStore:
    return request.app.state.store


def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics


MemoriesDep = Annotated[MemoryService, Depends(_memories)]
RegistryDep = Annotated[ModelRegistry, Depends(_registry)]
StoreDep = Annotated[MemoryStore, Depends(_store)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
