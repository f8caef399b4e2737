"""The Python client (clients/python, `ebmm_client`) against a live server and real Redis: sync and async."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from ebmm_client import AsyncEBMMClient, EBMMClient, EBMMError, MemoryPage, MemoryPublic, RecallError, Retrieval
from ebmm_client.decode import decode
from ebmm_client.models import DistortionError, DistortionPublic, ModelPublic
from tests.service.conftest import BINARY, CONV, KEYS, TENANT

ROOT = Path(__file__).resolve().parents[2]
ONES = [1.0] * 32


def error_of(call) -> EBMMError:
    with pytest.raises(EBMMError) as info:
        call()
    return info.value


def test_write_get_retrieve_delete_give_typed_results(client: EBMMClient, bits) -> None:
    X = bits.patterns(3)
    memory = client.write(BINARY, X, ttl_seconds=600, metadata={"owner": "py"})
    assert isinstance(memory, MemoryPublic) and isinstance(memory.recall_error, RecallError)
    assert (memory.model, memory.num_patterns, memory.metadata) == (BINARY, 3, {"owner": "py"})
    assert memory.expires_at is not None and memory.expires_at > memory.created_at
    assert all(isinstance(d, DistortionError) for d in memory.recall_error.by_distortion)
    assert client.get(memory.id) == memory

    Q = bits.erase(X, 8)
    answer = client.retrieve(memory.id, Q)
    assert isinstance(answer, Retrieval) and answer.extra == {}
    patterns = np.asarray(answer.patterns)
    assert patterns.shape == (3, 32) and set(np.unique(patterns)) <= {-1.0, 1.0}
    assert np.array_equal(patterns[Q != 0], Q[Q != 0])  # a binary read keeps the known (non-zero) entries
    assert len(answer.energies) == len(answer.changed) == 3

    client.delete(memory.id)
    gone = error_of(lambda: client.get(memory.id))
    assert (gone.status, gone.type, gone.field) == (404, "not_found", "memory_id")


def test_errors_carry_status_type_message_and_field(client: EBMMClient) -> None:
    wrong_dims = error_of(lambda: client.write(BINARY, [ONES, [1.0] * 31]))
    assert (wrong_dims.status, wrong_dims.type, wrong_dims.field) == (422, "validation", "patterns[1]")
    assert "has 31 numbers" in wrong_dims.message and "(field patterns[1])" in str(wrong_dims)
    too_many = error_of(lambda: client.write(BINARY, [ONES] * 49))
    assert (too_many.status, too_many.type, too_many.field) == (413, "too_large", "patterns")
    unknown_model = error_of(lambda: client.write("nope", [ONES]))
    assert (unknown_model.status, unknown_model.type, unknown_model.field) == (404, "not_found", "model")


def test_extra_fields_are_sent_as_given(client: EBMMClient) -> None:
    """`extra` passes body fields this client version does not know (the server here refuses this one by name)."""
    refused = error_of(lambda: client.write(BINARY, [ONES], extra={"colour": "red"}))
    assert (refused.status, refused.field) == (422, "colour")


def test_models_health_and_readiness(client: EBMMClient) -> None:
    models = {m.name: m for m in client.models()}
    assert set(models) == {BINARY, CONV} and all(isinstance(m, ModelPublic) for m in models.values())
    assert (models[BINARY].domain, models[BINARY].input_dim, models[CONV].input_shape) == ("binary", 32, [1, 8, 8])
    assert all(isinstance(d, DistortionPublic) for d in models[CONV].distortions)
    assert client.health().status == "ok"
    assert (client.ready().status, client.ready().redis) == ("ready", True)
    assert "ebmm_" in client.metrics()


def test_answer_fields_this_client_does_not_know_do_not_break_it(client: EBMMClient, bits) -> None:
    memory = client.write(BINARY, bits.patterns(2))
    body = client.http.get(f"/memories/{memory.id}").json()
    assert decode(MemoryPublic, {**body, "added_later": {"x": 1}}) == memory
    answer = client.http.post(f"/memories/{memory.id}/retrieve", json={"queries": [ONES]}).json()
    kept = Retrieval.from_json({**answer, "added_later": [{"energy": 1.0}]})
    assert kept.patterns == answer["patterns"] and kept.extra == {"added_later": [{"energy": 1.0}]}


def test_the_async_client_does_the_same(server, bits) -> None:
    stored = [bits.patterns(2) for _ in range(4)]

    async def scenario() -> None:
        async with AsyncEBMMClient(server.url, api_key=KEYS[TENANT]) as client:
            memories = await asyncio.gather(*(client.write(BINARY, X) for X in stored))
            assert [await client.get(m.id) for m in memories] == memories
            answers = await asyncio.gather(*(client.retrieve(m.id, X) for m, X in zip(memories, stored, strict=True)))
            for answer, X in zip(answers, stored, strict=True):
                assert np.array_equal(np.asarray(answer.patterns), X)  # every entry known: the query comes back
            assert [m.name for m in await client.models()] == [BINARY, CONV]
            await asyncio.gather(*(client.delete(m.id) for m in memories))
            with pytest.raises(EBMMError) as gone:
                await client.get(memories[0].id)
            assert gone.value.status == 404

    asyncio.run(scenario())


def test_another_tenant_key_sees_nothing(server, client: EBMMClient) -> None:
    memory = client.write(BINARY, [ONES])
    with EBMMClient(server.url, api_key=KEYS["bob"]) as bob:
        assert error_of(lambda: bob.get(memory.id)).status == 404
    with EBMMClient(server.url, api_key="not-a-key") as nobody:
        assert (error_of(nobody.models).status, error_of(nobody.models).type) == (401, "unauthorized")


def test_the_package_needs_only_httpx() -> None:
    project = tomllib.loads((ROOT / "clients/python/pyproject.toml").read_text())["project"]
    assert project["name"] == "ebmm-client" and project["dependencies"] == ["httpx>=0.27"]
    assert project["optional-dependencies"] == {"numpy": ["numpy>=1.26"]}
    check = (
        "import sys, ebmm_client; "
        "loaded = {m.split('.')[0] for m in sys.modules}; "
        "print(sorted(loaded & {'torch', 'pydantic', 'fastapi', 'service', 'model', 'numpy', 'orjson'}))"
    )
    imported = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True, cwd="/")
    assert imported.stdout.strip() == "[]"


def test_errors_carry_the_request_id(client: EBMMClient) -> None:
    assert error_of(lambda: client.get("nope", request_id="py-client-1")).request_id == "py-client-1"
    assert error_of(lambda: client.get("nope")).request_id  # generated by the server when the client sends none


def test_base64_retrieve_answers_as_a_numpy_array(client: EBMMClient, bits) -> None:
    X = bits.patterns(4)
    memory = client.write(BINARY, X, encoding="b64")
    Q = bits.erase(X, 8)
    as_b64, as_json = client.retrieve(memory.id, Q, encoding="b64"), client.retrieve(memory.id, Q)
    assert isinstance(as_b64.patterns, np.ndarray) and as_b64.patterns.dtype == np.float32
    assert np.array_equal(as_b64.patterns, np.asarray(as_json.patterns, dtype=np.float32))
    assert (as_b64.energies, as_b64.changed, as_b64.extra) == (as_json.energies, as_json.changed, {})


def test_pages_and_the_iterator_list_newest_first(client: EBMMClient, bits) -> None:
    written = [client.write(BINARY, bits.patterns(1)) for _ in range(3)]
    newest_first = [m.id for m in reversed(written)]
    first = client.list_memories(limit=2, model=BINARY)
    assert isinstance(first, MemoryPage) and [m.id for m in first.memories] == newest_first[:2]
    assert first.next_cursor is not None
    second = client.list_memories(limit=2, model=BINARY, cursor=first.next_cursor)
    assert second.memories[0].id == newest_first[2]
    listed = [m.id for m in client.iter_memories(model=BINARY, page_size=2)]
    assert listed[:3] == newest_first and len(listed) == len(set(listed))
    conv = client.write(CONV, np.full((1, 64), 0.5, dtype=np.float32))
    assert next(m.id for m in client.iter_memories(model=CONV)) == conv.id
    assert all(m.model == CONV for m in client.iter_memories(model=CONV))


def test_the_async_iterator_lists_every_memory(server, bits) -> None:
    async def scenario() -> None:
        async with AsyncEBMMClient(server.url, api_key=KEYS[TENANT]) as client:
            written = [await client.write(BINARY, bits.patterns(1)) for _ in range(3)]
            listed = [m.id async for m in client.iter_memories(model=BINARY, page_size=1)]
            assert listed[:3] == [m.id for m in reversed(written)]

    asyncio.run(scenario())


def test_models_list_their_versions(client: EBMMClient) -> None:
    client.write(BINARY, [ONES])
    model = next(m for m in client.models() if m.name == BINARY)
    newest = [v for v in model.versions if v.newest]
    assert len(newest) == 1 and newest[0].checkpoint_hash == model.checkpoint_hash and newest[0].memories >= 1


def test_a_traced_retrieve_comes_back_typed(client: EBMMClient, bits) -> None:
    memory = client.write(BINARY, bits.patterns(2))
    answer = client.retrieve(memory.id, bits.patterns(1), trace=True)
    (steps,) = answer.trace
    assert steps.rounds == 1 and len(steps.states) == len(steps.energies) > 1
    assert steps.states[-1] == answer.patterns[0] and client.retrieve(memory.id, bits.patterns(1)).trace is None
