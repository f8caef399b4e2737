"""API fuzzing with schemathesis against the live OpenAPI schema of a real server on loopback.

Per operation, a bounded, reproducible set of generated requests: positive ones (valid by the schema) and
negative ones (violating it), with a valid API key, and with the path's `memory_id` either generated or a real
memory's. None may get a 5xx, and every response must match the schema: a documented status code, its content
type and its body schema.
"""

from __future__ import annotations

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.main import openapi_json

from .conftest import KEYS, TENANT

EXAMPLES = 40  # per case below
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
AUTH = {"Authorization": f"Bearer {KEYS[TENANT]}"}
SPEC = orjson.loads(openapi_json())
OPERATIONS = [(method.upper(), path) for path, methods in SPEC["paths"].items() for method in methods]
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
# Every operation gets valid requests; those with a body or a path parameter also get invalid ones; memory
# routes also get valid requests for a real memory's id (the generated ids name no memory).
CASES = [(op, POSITIVE, False) for op in OPERATIONS]
CASES += [(op, NEGATIVE, False) for op in OPERATIONS if op[0] == "POST" or "{" in op[1]]
CASES += [(op, POSITIVE, True) for op in OPERATIONS if "{memory_id}" in op[1]]


@pytest.mark.parametrize(
    ("operation", "mode", "real_id"),
    CASES,
    ids=[f"{m} {p} {mode}{' real id' if real else ''}" for (m, p), mode, real in CASES],
)
def test_no_5xx_and_responses_match_the_live_schema(
    server, client, operation: tuple[str, str], mode: GenerationMode, real_id: bool
) -> None:
    method, path = operation
    live = schemathesis.openapi.from_url(f"{server.url}/openapi.json")[path][method]
    path_parameters = {"memory_id": client.write("tiny", [[1.0] * 32]).id} if real_id else None

    @given(case=live.as_strategy(mode, headers=AUTH, path_parameters=path_parameters))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests on every run
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS, timeout=30)

    call()
