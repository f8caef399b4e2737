"""Large bodies are parsed in a parser process; what the routes see is the same as for a body parsed in place."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from service.body_parser import as_float32_matrix, parse_body

from .conftest import KEYS, TENANT


def test_rectangles_of_numbers_become_float32_arrays_and_nothing_else_does() -> None:
    assert as_float32_matrix([[1, -1], [0.5, 2]]).dtype == np.float32
    np.testing.assert_array_equal(as_float32_matrix([[1, -1], [0.5, 2]]), [[1, -1], [0.5, 2]])
    for rows in ([[1, 2], [3]], [[True, False]], [["1"]], [], [1, 2], "x", None, [[[1]]], [[1, None]]):
        assert as_float32_matrix(rows) is None, rows  # left as JSON, validated (and named) as usual
    assert np.isinf(as_float32_matrix([[1e300]])).all()  # beyond float32: refused later as not finite


def test_the_parser_converts_only_the_matrix_fields() -> None:
    parsed = parse_body(b'{"model": "tiny", "patterns": [[1, -1]], "metadata": {"rows": [[1, 2]]}}')
    assert isinstance(parsed["patterns"], np.ndarray) and parsed["metadata"] == {"rows": [[1, 2]]}
    assert parse_body(b"[1, 2]") == [1, 2]
    with pytest.raises(ValueError):  # json.JSONDecodeError: FastAPI answers it with a 422
        parse_body(b'{"patterns": [[1, }')


def test_every_body_through_the_parser_process_gives_the_same_answers_and_errors(make_server, bits) -> None:
    auth = {"Authorization": f"Bearer {KEYS[TENANT]}", "content-type": "application/json"}
    X = bits.patterns(6)
    Q = bits.erase(X, 8)
    bodies = {
        "ragged": {"model": "tiny", "patterns": [[1.0] * 32, [1.0] * 31]},
        "short": {"model": "tiny", "patterns": [[1.0] * 31]},
        "booleans": {"model": "tiny", "patterns": [[True] * 32]},
        "value": {"model": "tiny", "patterns": [[1.0] * 31 + [0.5]]},
    }
    seen = []
    for offload in (10**9, 0):  # parsed in place, then every body in the parser process
        with make_server(parse_offload_bytes=offload) as server, httpx.Client(base_url=server.url) as http:
            written = http.post("/memories", json={"model": "tiny", "patterns": X.tolist()}, headers=auth)
            assert written.status_code == 201
            path = f"/memories/{written.json()['id']}/retrieve"
            outcome = {"answer": http.post(path, json={"queries": Q.tolist()}, headers=auth).json()}
            for name, body in bodies.items():
                response = http.post("/memories", json=body, headers=auth)
                outcome[name] = (response.status_code, response.json().get("error", {}).get("field"))
            malformed = http.post("/memories", content=b'{"model": "tiny", "patterns": [[1,', headers=auth)
            outcome["malformed"] = malformed.status_code
            seen.append(outcome)
    assert seen[0] == seen[1]
    assert seen[1]["ragged"] == (422, "patterns[1]") and seen[1]["short"] == (422, "patterns[0]")
    assert seen[1]["value"] == (422, "patterns[0][31]") and seen[1]["malformed"] == 422
