"""EBMM_THETA_DTYPE: θ stored in 16 bits takes half the bytes, answers exactly as the engine does with θ at that
precision, and memories keep the dtype they were written with when the setting changes."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import torch

from model.engine import Engine
from model.theta_precision import at_rest
from service.batch_ops import SELF_CHECK_SEED

from .conftest import KEYS, TENANT, Bits, memory_key

AUTH = {"Authorization": f"Bearer {KEYS[TENANT]}"}
P = 8 * 32 + 8  # θ floats of the tiny binary model


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16_bit_theta_is_half_the_bytes_and_read_as_stored(
    make_server, tmp_path, engine: Engine, bits: Bits, dtype: str
) -> None:
    X = bits.patterns(8)
    Q = bits.erase(X, 8)
    with make_server(tmp_path / "data", theta_dtype="float32") as server, httpx.Client(headers=AUTH) as http:
        written_as_float32 = http.post(f"{server.url}/memories", json={"model": "tiny", "patterns": X.tolist()}).json()
    with make_server(tmp_path / "data", theta_dtype=dtype) as server, httpx.Client(headers=AUTH) as http:
        memory = http.post(f"{server.url}/memories", json={"model": "tiny", "patterns": X.tolist()}).json()
        stored = server.redis().hgetall(memory_key(memory["id"]))
        assert stored[b"theta_dtype"] == dtype.encode() and len(stored[b"theta"]) == 2 * P

        X_t = torch.from_numpy(X)[None]
        theta = at_rest(engine.write(X_t), dtype)  # [1, P]: what the service stored
        generator = torch.Generator().manual_seed(SELF_CHECK_SEED)
        (expected_error,) = engine.self_check(theta, X_t, generator=generator).values()
        assert memory["recall_error"]["mean"] == pytest.approx(float(expected_error), abs=1e-4)
        answer = http.post(f"{server.url}/memories/{memory['id']}/retrieve", json={"queries": Q.tolist()}).json()
        Q_t = torch.from_numpy(Q)[None]
        assert np.array_equal(answer["patterns"], engine.read(theta, Q_t, Q_t != 0).patterns[0].numpy())

        # the float32 memory written before the setting changed is read at float32
        old = written_as_float32["id"]
        assert server.redis().hget(memory_key(old), "theta_dtype") == b"float32"
        answer = http.post(f"{server.url}/memories/{old}/retrieve", json={"queries": Q.tolist()}).json()
        assert np.array_equal(answer["patterns"], engine.read(engine.write(X_t), Q_t, Q_t != 0).patterns[0].numpy())
