"""Write, retrieve, get, delete, TTL and idempotent retries through a real server and real Redis."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from ebmm_client import EBMMClient, EBMMError
from model.engine import Engine
from service.batch_ops import SELF_CHECK_SEED

from ..conftest import memory_key


def stored_theta(server, memory_id: str) -> torch.Tensor:
    """θ exactly as the service stored it: [1, P]."""
    raw = server.redis().hget(memory_key(memory_id), "theta")
    return torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy())[None]


def test_write_then_retrieve_equals_the_engine_in_process(server, client: EBMMClient, engine: Engine, bits) -> None:
    X = bits.patterns(32)
    memory = client.write("tiny", X, metadata={"owner": "test"})
    assert (memory.model, memory.num_patterns, memory.metadata) == ("tiny", 32, {"owner": "test"})
    assert memory.checkpoint_hash == engine.info.checkpoint_hash
    assert memory.expires_at is None and memory.write_ms > 0

    theta = stored_theta(server, memory.id)
    torch.testing.assert_close(theta, engine.write(torch.from_numpy(X)[None]), rtol=1e-5, atol=1e-5)
    generator = torch.Generator().manual_seed(SELF_CHECK_SEED)  # the service's: a lone write is reproducible
    (expected_error,) = engine.self_check(theta, torch.from_numpy(X)[None], generator=generator).values()
    assert memory.recall_error.metric == "error_bits"
    assert memory.recall_error.distortion == "erase 8 of 32 entries"
    assert memory.recall_error.mean == pytest.approx(float(expected_error), abs=1e-4)
    assert [(d.name, d.distortion) for d in memory.recall_error.by_distortion] == [("erase", "erase 8 of 32 entries")]

    Q = bits.erase(X, 8)
    result = client.retrieve(memory.id, Q)
    Qt = torch.from_numpy(Q)[None]
    local = engine.read(theta, Qt, Qt != 0)
    assert np.array_equal(np.asarray(result.patterns), local.patterns[0].numpy())
    np.testing.assert_allclose(result.energies, local.energies[0].numpy(), rtol=1e-5, atol=1e-5)
    changed = (local.patterns[0] != Qt[0]).float().mean(-1).numpy()
    np.testing.assert_allclose(result.changed, changed, atol=1e-6)
    assert set(np.unique(result.patterns)) <= {-1.0, 1.0}


def test_base64_writes_store_what_json_writes_store(client: EBMMClient, bits) -> None:
    X = bits.patterns(16)
    as_b64, as_json = client.write("tiny", X, encoding="b64"), client.write("tiny", X)
    assert as_b64.num_patterns == 16
    Q = bits.erase(X, 8)
    assert client.retrieve(as_b64.id, Q) == client.retrieve(as_json.id, Q)


def test_base64_arrays_give_the_same_answers_as_json(client: EBMMClient, bits) -> None:
    X = bits.patterns(16)
    memory = client.write("tiny", X, encoding="b64")
    Q = bits.erase(X, 8)
    known = (Q != 0).astype(np.float32)
    as_json = client.retrieve(memory.id, Q, known)
    as_b64 = client.retrieve(memory.id, Q, known, encoding="b64")  # base64 queries, mask and answer
    assert isinstance(as_b64.patterns, np.ndarray) and as_b64.patterns.dtype == np.float32
    assert np.array_equal(as_b64.patterns, np.asarray(as_json.patterns, dtype=np.float32))
    assert (as_b64.energies, as_b64.changed) == (as_json.energies, as_json.changed)


def test_known_mask_decides_what_is_clamped(client: EBMMClient, bits) -> None:
    X = bits.patterns(4)
    memory = client.write("tiny", X)
    nothing_known = client.retrieve(memory.id, X, np.zeros_like(X))
    all_known = client.retrieve(memory.id, X, np.ones_like(X))
    assert np.array_equal(np.asarray(all_known.patterns), X)  # every entry clamped: the query comes back
    assert all_known.changed == [0.0] * 4
    moved = (np.asarray(nothing_known.patterns) != X).mean(-1)
    np.testing.assert_allclose(nothing_known.changed, moved, atol=1e-6)


def test_noisy_queries_keep_nothing_fixed(server, client: EBMMClient, engine: Engine, bits) -> None:
    """Flipped bits: without `noisy` every ±1 entry is clamped and the query comes back unchanged; with it
    the read runs with nothing clamped, exactly as the engine reads with known = None."""
    X = bits.patterns(4)
    memory = client.write("tiny", X)
    Q = X.copy()
    Q[:, :3] *= -1  # three wrong bits per query, no zeros
    clamped = client.retrieve(memory.id, Q)
    assert np.array_equal(np.asarray(clamped.patterns), Q) and clamped.changed == [0.0] * 4
    noisy = client.retrieve(memory.id, Q, noisy=True)
    local = engine.read(stored_theta(server, memory.id), torch.from_numpy(Q)[None], None)
    assert np.array_equal(np.asarray(noisy.patterns), local.patterns[0].numpy())
    assert not np.array_equal(np.asarray(noisy.patterns), Q) and max(noisy.changed) > 0
    with pytest.raises(EBMMError) as refused:
        client.retrieve(memory.id, Q, np.ones_like(Q), noisy=True)
    assert refused.value.status == 422 and "known_mask or noisy" in refused.value.message


def test_a_traced_retrieve_ends_at_the_untraced_answer(server, client: EBMMClient, engine: Engine, bits) -> None:
    """trace: true returns K + 1 decoded states per query with their energies; the last is the answer the same
    request gets untraced, and the answer is the engine's."""
    X = bits.patterns(6)
    memory = client.write("tiny", X)
    Q = bits.erase(X[:4], 8)
    plain = client.retrieve(memory.id, Q)
    traced = client.retrieve(memory.id, Q, trace=True)
    assert plain.trace is None and traced.trace is not None and len(traced.trace) == 4
    assert (traced.patterns, traced.energies, traced.changed) == (plain.patterns, plain.energies, plain.changed)
    local = engine.read(stored_theta(server, memory.id), torch.from_numpy(Q)[None], torch.from_numpy(Q != 0)[None])
    for query, steps, answer, energy in zip(Q, traced.trace, plain.patterns, plain.energies, strict=True):
        states = np.asarray(steps.states)
        assert steps.rounds == 1 and states.shape == (engine.info.read_steps + 1, 32)
        assert len(steps.energies) == engine.info.read_steps + 1
        assert np.array_equal(states[0][query != 0], query[query != 0])  # starts at the query
        assert states[-1].tolist() == answer and steps.energies[-1] == energy
        assert set(np.unique(states)) <= {-1.0, 1.0}
    assert np.array_equal(np.asarray(traced.patterns), local.patterns[0].numpy())
    raw = client.http.post(f"/memories/{memory.id}/retrieve", json={"queries": Q.tolist()}).json()
    assert raw["trace"] is None  # off by default


def test_a_traced_image_retrieve_stays_in_the_value_range(client: EBMMClient) -> None:
    images = np.random.default_rng(2).random((3, 64), dtype=np.float32)
    memory = client.write("tiny-conv", images)
    occluded = images.copy().reshape(3, 8, 8)
    occluded[:, :4, :4] = 0.5
    traced = client.retrieve(memory.id, occluded.reshape(3, 64)[:2], trace=True)
    for steps, answer in zip(traced.trace, traced.patterns, strict=True):
        states = np.asarray(steps.states)
        assert ((states >= 0) & (states <= 1)).all() and np.allclose(states[-1], answer)
        assert not np.allclose(states[0], states[-1])


def test_image_model_round_trip(client: EBMMClient) -> None:
    images = np.random.default_rng(1).random((3, 64), dtype=np.float32)  # 3 images of 1×8×8 in [0, 1]
    memory = client.write("tiny-conv", images, encoding="b64")
    assert memory.recall_error.metric == "mse" and memory.recall_error.distortion == "occlude a 4x4 block"
    occluded = images.copy().reshape(3, 8, 8)
    occluded[:, :4, :4] = 0.5
    result = client.retrieve(memory.id, occluded.reshape(3, 64))
    answers = np.asarray(result.patterns)
    assert answers.shape == (3, 64) and ((answers >= 0) & (answers <= 1)).all()
    assert len(result.energies) == 3 and all(np.isfinite(result.energies))


def test_get_and_delete(client: EBMMClient, bits) -> None:
    memory = client.write("tiny", bits.patterns(3))
    assert client.get(memory.id) == memory
    client.delete(memory.id)
    for call in (lambda: client.get(memory.id), lambda: client.delete(memory.id)):
        with pytest.raises(EBMMError) as info:
            call()
        assert (info.value.status, info.value.type) == (404, "not_found")
    with pytest.raises(EBMMError, match="404 not_found"):
        client.retrieve(memory.id, bits.patterns(1))


def test_ttl_expires_memories(client: EBMMClient, bits) -> None:
    memory = client.write("tiny", bits.patterns(2), ttl_seconds=1)
    assert memory.expires_at is not None and 0.9 < memory.expires_at - memory.created_at < 1.1
    assert client.get(memory.id).id == memory.id
    time.sleep(1.3)
    with pytest.raises(EBMMError, match="404 not_found"):
        client.get(memory.id)


def test_idempotent_retry_returns_the_same_memory(client: EBMMClient, bits) -> None:
    X = bits.patterns(5)
    first = client.write("tiny", X, idempotency_key="order-17")
    again = client.write("tiny", X, idempotency_key="order-17")
    assert again == first
    other = client.write("tiny", X, idempotency_key="order-18")
    assert other.id != first.id
    with pytest.raises(EBMMError) as info:
        client.write("tiny", bits.patterns(5), idempotency_key="order-17")
    assert (info.value.status, info.value.type, info.value.field) == (422, "idempotency_conflict", "Idempotency-Key")


def test_a_write_without_self_check_stores_the_same_theta_and_no_recall_error(server, client: EBMMClient, bits) -> None:
    X = bits.patterns(6)
    checked = client.write("tiny", X)
    unchecked = client.write("tiny", X, self_check=False, idempotency_key="bulk-1")
    assert checked.recall_error is not None and unchecked.recall_error is None
    assert torch.equal(stored_theta(server, unchecked.id), stored_theta(server, checked.id))
    assert client.get(unchecked.id).recall_error is None
    assert unchecked.id in [m.id for m in client.list_memories(limit=10).memories]
    assert client.write("tiny", X, self_check=False, idempotency_key="bulk-1").id == unchecked.id
    with pytest.raises(EBMMError) as info:  # the same key asking for a self-check is another request
        client.write("tiny", X, idempotency_key="bulk-1")
    assert (info.value.status, info.value.type) == (422, "idempotency_conflict")


def test_models_and_health(client: EBMMClient, engine: Engine) -> None:
    models = {m.name: m for m in client.models()}
    assert set(models) == {"tiny", "tiny-conv"}
    tiny = models["tiny"]
    assert (tiny.kind, tiny.domain, tiny.input_dim, tiny.max_patterns) == ("fc", "binary", 32, 48)
    assert (tiny.writable_floats, tiny.checkpoint_hash) == (8 * 32 + 8, engine.info.checkpoint_hash)
    assert models["tiny-conv"].input_shape == [1, 8, 8]
    assert client.health().status == "ok"
    ready = client.ready()
    assert (ready.status, ready.redis, ready.models) == ("ready", True, 2)
