"""Client of the EBMM memory service (sync and async, httpx).

    from ebmm_client import EBMMClient

    with EBMMClient("http://127.0.0.1:8000", api_key="…") as client:
        memory = client.write("binary128", patterns)        # [N][D] numbers or a numpy array
        answer = client.retrieve(memory.id, queries)         # .patterns, .energies, .changed
        for stored in client.iter_memories():                # newest first
            ...

Typed results are the dataclasses of `ebmm_client.models`, generated from the service's OpenAPI spec
(scripts/generate-clients.sh), plus `Retrieval` and `MemoryPage`; errors raise `EBMMError`.
"""

from ebmm_client.arrays import Array, Encoding
from ebmm_client.async_client import AsyncEBMMClient
from ebmm_client.client import EBMMClient
from ebmm_client.errors import EBMMError
from ebmm_client.models import Health, MemoryPublic, ModelPublic, Readiness, RecallError
from ebmm_client.results import MemoryPage, Retrieval

__all__ = [
    "Array",
    "AsyncEBMMClient",
    "EBMMClient",
    "EBMMError",
    "Encoding",
    "Health",
    "MemoryPage",
    "MemoryPublic",
    "ModelPublic",
    "Readiness",
    "RecallError",
    "Retrieval",
]
