"""Engine calls for batches of requests: a batch's answers equal each request read alone."""

from __future__ import annotations

import numpy as np
import torch

from model.config import tiny_binary_config
from model.engine import Engine
from model.memory import EnergyMemory
from model.tasks import random_binary_patterns
from service.batch_ops import ReadJob, WriteJob, read_batch, write_batch


def test_noisy_and_clamped_reads_in_one_batch_are_read_as_if_alone() -> None:
    """A noisy read (nothing known) is read as rounds of erasures; batched with clamped reads it must not be
    read as a plain clamped read with an all-free mask."""
    torch.manual_seed(0)
    config = tiny_binary_config(untrusted_read_rounds=3, untrusted_read_erased=6, distortions=("erase", "flip"))
    engine = Engine(EnergyMemory(config), "x", "cpu")
    X = random_binary_patterns(3, 4, 32)
    theta = engine.write(X).numpy()
    queries = X.numpy().copy()
    queries[:, :, :3] *= -1
    jobs = [
        ReadJob(theta[0], queries[0], None),  # noisy
        ReadJob(theta[1], queries[1], queries[1] != 0),  # clamped
        ReadJob(theta[2], queries[2], None),  # noisy
    ]
    calls: list[int] = []
    together = read_batch(engine, calls.append, jobs)
    assert sorted(calls) == [1, 2]  # one engine call per group: the two noisy reads, the clamped one
    for job, outcome in zip(jobs, together, strict=True):
        (alone,) = read_batch(engine, calls.append, [job])
        assert np.array_equal(outcome.patterns, alone.patterns)
    assert np.array_equal(together[1].patterns, queries[1])  # every entry clamped: the query comes back
    assert not np.array_equal(together[0].patterns, queries[0])  # read as erasures: something moved


def test_traced_and_untraced_reads_in_one_batch_are_read_as_if_alone() -> None:
    """A traced read shares no engine call with untraced ones; its last state is the untraced answer."""
    torch.manual_seed(0)
    engine = Engine(EnergyMemory(tiny_binary_config()), "x", "cpu")
    X = random_binary_patterns(2, 4, 32)
    theta = engine.write(X).numpy()
    queries = X.numpy().copy()
    queries[:, :, :8] = 0.0
    calls: list[int] = []
    plain, traced = read_batch(
        engine,
        calls.append,
        [ReadJob(theta[0], queries[0], queries[0] != 0), ReadJob(theta[0], queries[0], queries[0] != 0, True)],
    )
    assert calls == [1, 1]
    assert plain.trace is None and traced.trace is not None
    assert np.array_equal(plain.patterns, traced.patterns) and np.array_equal(plain.energies, traced.energies)
    steps = engine.config.read_steps + 1
    assert traced.trace.patterns.shape == (4, steps, 32) and traced.trace.patterns.dtype == np.int8
    assert np.array_equal(traced.trace.patterns[:, -1], plain.patterns)
    assert np.array_equal(traced.trace.energies[:, -1], plain.energies)


def test_writes_without_a_self_check_skip_it_and_leave_the_others_as_if_alone() -> None:
    torch.manual_seed(0)
    engine = Engine(EnergyMemory(tiny_binary_config(distortions=("erase", "flip"))), "x", "cpu")
    X = random_binary_patterns(2, 4, 32).numpy()
    calls: list[int] = []
    unchecked, checked = write_batch(engine, calls.append, [WriteJob(X[0], self_check=False), WriteJob(X[1])])
    (checked_alone,) = write_batch(engine, calls.append, [WriteJob(X[1])])
    (unchecked_alone,) = write_batch(engine, calls.append, [WriteJob(X[0])])
    assert unchecked.recall_errors is None and unchecked.theta == unchecked_alone.theta
    assert checked.recall_errors == checked_alone.recall_errors and set(checked.recall_errors) == {"erase", "flip"}
    assert checked.theta == checked_alone.theta
