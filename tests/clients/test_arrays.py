"""Matrices on the wire: base64 little-endian float32 with its shape, decoded back exactly; JSON rows as given."""

from __future__ import annotations

import base64

import numpy as np

from ebmm_client.arrays import decode_b64, encode


def test_base64_round_trip_is_exact_little_endian_float32() -> None:
    X = np.arange(-6, 6, dtype=np.float64).reshape(3, 4) / 7  # not float32: the client converts
    fields = encode("queries", X, "b64")
    assert fields["shape"] == [3, 4] and set(fields) == {"queries_b64", "shape"}
    assert base64.b64decode(fields["queries_b64"]) == X.astype("<f4").tobytes()
    back = decode_b64(fields["queries_b64"], fields["shape"])
    assert back.dtype == np.float32 and np.array_equal(back, X.astype(np.float32))


def test_lists_encode_either_way_and_a_mask_has_no_shape_of_its_own() -> None:
    rows = [[1.0, -1.0], [0.0, 1.0]]
    assert encode("patterns", rows, "json") == {"patterns": rows}
    assert encode("patterns", np.asarray(rows), "json") == {"patterns": rows}
    mask = encode("known_mask", rows, "b64", with_shape=False)
    assert set(mask) == {"known_mask_b64"}
    assert np.array_equal(decode_b64(mask["known_mask_b64"], [2, 2]), np.asarray(rows, dtype=np.float32))
