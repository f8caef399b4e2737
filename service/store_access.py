"""The service's Redis for commands run beside the servers (`ebmm models retire`, `ebmm store migrate`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.embedded_redis import EmbeddedRedis
from service.metrics import Metrics
from service.settings import Settings
from service.store import MemoryStore, Quota


@asynccontextmanager
async def redis_for(settings: Settings) -> AsyncIterator[MemoryStore]:
    """A store on the service's Redis: REDIS_URL, or the embedded one of EBMM_DATA_DIR (the running server's, or
    one started for the while)."""
    quota = Quota(settings.tenant_max_memories, settings.tenant_max_floats)
    embedded = None
    url = settings.redis_url
    if url is None:
        embedded = EmbeddedRedis(settings.data_dir, settings.embedded_appendfsync)
        if embedded.running():
            url, embedded = embedded.url, None
        else:
            url = await asyncio.to_thread(embedded.start)
    store = MemoryStore(url, settings.redis_timeout_s, quota, Metrics(), cluster=settings.redis_cluster)
    try:
        yield store
    finally:
        await store.close()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
