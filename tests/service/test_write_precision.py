"""EBMM_WRITE_PRECISION reaches every served fc engine, and the service stores what its engine writes."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import torch

from model.engine import Engine
from model.theta_precision import from_bytes

from .conftest import BINARY, KEYS, TENANT, Bits, memory_key

AUTH = {"Authorization": f"Bearer {KEYS[TENANT]}"}


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_the_setting_reaches_the_engine_and_the_stored_theta(
    make_server, checkpoints, bits: Bits, precision: str
) -> None:
    X = bits.patterns(6)
    written = {  # θ: [P] as each precision writes it in-process
        name: Engine.from_checkpoint(checkpoints / BINARY, "cpu", write_precision=name)
        .write(torch.from_numpy(X)[None])[0]
        .numpy()
        for name in ("float32", "bfloat16")
    }
    with make_server(write_precision=precision) as server, httpx.Client(headers=AUTH) as http:
        dtypes = {engine.info.kind: engine.write_dtype for engine in server.app.state.registry.engines.values()}
        assert dtypes == {"fc": getattr(torch, precision), "conv": torch.float32}  # conv writes by autograd
        memory = http.post(f"{server.url}/memories", json={"model": BINARY, "patterns": X.tolist()}).json()
        stored = from_bytes(server.redis().hget(memory_key(memory["id"]), "theta"), "float32")
    # equal up to float32 summation order (the service pads batches); bfloat16 rounding is ~100× larger
    np.testing.assert_allclose(stored, written[precision], rtol=0, atol=1e-6)
    assert np.abs(written["bfloat16"] - written["float32"]).max() > 1e-4
