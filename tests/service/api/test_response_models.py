"""Every route's real response body is exactly its documented response model: nothing missing, nothing extra.

The handlers return ORJSONResponse directly (no FastAPI response validation on the hot path), so this is
where the `response_model`s are enforced.
"""

from __future__ import annotations

import httpx
import numpy as np
from pydantic import BaseModel

from service.schemas import ErrorBody, Health, MemoryPublic, ModelList, Readiness, RetrieveResult

from ..conftest import KEYS, TENANT


def assert_exactly(model: type[BaseModel], body: object) -> None:
    assert model.model_validate(body).model_dump(mode="json") == body


def test_each_route_returns_exactly_its_response_model(server, bits) -> None:
    auth = {"Authorization": f"Bearer {KEYS[TENANT]}"}
    with httpx.Client(base_url=server.url, headers=auth) as http:
        assert_exactly(ModelList, http.get("/models").json())
        assert_exactly(Health, http.get("/healthz").json())
        assert_exactly(Readiness, http.get("/readyz").json())
        X = bits.patterns(4)
        written = http.post("/memories", json={"model": "tiny", "patterns": X.tolist(), "metadata": {"a": [1]}})
        assert written.status_code == 201
        assert_exactly(MemoryPublic, written.json())
        memory_id = written.json()["id"]
        assert_exactly(MemoryPublic, http.get(f"/memories/{memory_id}").json())
        for body in (
            {"queries": bits.erase(X, 8).tolist()},
            {"queries": X.tolist(), "noisy": True},
            {"queries": X.tolist(), "trace": True},
        ):
            answer = http.post(f"/memories/{memory_id}/retrieve", json=body)
            assert answer.status_code == 200
            assert_exactly(RetrieveResult, answer.json())
        images = np.random.default_rng(0).random((2, 64)).tolist()
        image_memory = http.post("/memories", json={"model": "tiny-conv", "patterns": images}).json()
        assert_exactly(MemoryPublic, image_memory)
        answer = http.post(f"/memories/{image_memory['id']}/retrieve", json={"queries": images})
        assert_exactly(RetrieveResult, answer.json())
        for failed in (
            http.get("/memories/nope"),
            http.post("/memories", json={"model": "tiny"}),
            http.get("/models", headers={"Authorization": "Bearer wrong"}),
        ):
            assert failed.status_code >= 400
            assert_exactly(ErrorBody, failed.json())
