"""θ at rest in 16 bits: the stored bytes decode to exactly the rounded values reads and the self-check use."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.theta_precision import THETA_DTYPES, at_rest, from_bytes, to_bytes


@pytest.mark.parametrize("dtype", list(THETA_DTYPES))
def test_bytes_hold_exactly_theta_at_rest(dtype: str) -> None:
    theta = torch.randn(3, 1000) * 0.3
    stored = to_bytes(theta, dtype)
    assert [len(raw) for raw in stored] == [1000 * THETA_DTYPES[dtype].itemsize] * 3
    decoded = torch.from_numpy(np.stack([from_bytes(raw, dtype) for raw in stored]))
    assert decoded.dtype == torch.float32 and torch.equal(decoded, at_rest(theta, dtype))
    error = (at_rest(theta, dtype) - theta).abs().max().item()
    bound = {"float32": 0.0, "float16": 2.0**-11, "bfloat16": 2.0**-8}[dtype]  # relative rounding, |θ| < 2
    assert error <= 2 * bound and (dtype == "float32") == (error == 0.0)
