"""What one engine call does for a batch of requests; these run on the engine thread only.

Writes of different N share one call: patterns are padded to the largest N and the engine's pattern_mask
hides the padding. Reads of different memories share a call too: each request's θ is one row of θ [B, P]
and its queries are padded to the batch's largest M (requests are grouped by their query bucket, M rounded up
to a power of two, so padding never more than doubles the work). Traced reads (the opt-in `trace`) never share
a call with untraced ones, so the untraced reads keep their cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import groupby

import numpy as np
import torch

from model.buckets import query_bucket
from model.engine import Engine
from model.theta_precision import ThetaDtype, to_bytes
from service.batcher import Batcher, BatchQueue, Op

# The write-time self-check draws its distortions from this seed: the same patterns written alone always
# report the same recall_error.
SELF_CHECK_SEED = 0


@dataclass(frozen=True)
class WriteJob:
    patterns: np.ndarray  # [N, D] float32
    self_check: bool = True  # read the patterns back from each trained distortion (recall_errors)


@dataclass(frozen=True)
class WriteOutcome:
    theta: bytes  # P little-endian floats of `theta_dtype`
    theta_dtype: ThetaDtype
    recall_errors: dict[str, float] | None  # the self-check's mean error per trained family, standard first
    engine_ms: float  # the whole batch's engine time


@dataclass(frozen=True)
class ReadJob:
    theta: np.ndarray  # [P] float32
    queries: np.ndarray  # [M, D] float32
    known: np.ndarray | None  # [M, D] bool (True = clamped) or None (nothing clamped)
    trace: bool = False  # also return every state of the read


@dataclass(frozen=True)
class ReadTraceOutcome:
    """Every state of a traced read (S = rounds · (K + 1)), decoded as answers are."""

    patterns: np.ndarray  # [M, S, D], typed like ReadOutcome.patterns
    energies: np.ndarray  # [M, S] float32
    rounds: int


@dataclass(frozen=True)
class ReadOutcome:
    patterns: np.ndarray  # [M, D]: int8 for domains of discrete values (binary: ±1), float32 otherwise
    energies: np.ndarray  # [M] float32
    changed: np.ndarray  # [M] float32: fraction of entries that differ from the query
    trace: ReadTraceOutcome | None = None


CallCounter = Callable[[int], None]  # counts one engine call of that many items (Metrics.count_engine_call)


def write_batch(engine: Engine, count_call: CallCounter, jobs: Sequence[WriteJob]) -> list[WriteOutcome]:
    """B writes -> B θ (at the engine's θ precision, as stored) and, for the jobs that ask for it, write-time
    self-check errors: one engine.write + one engine.self_check of those memories."""
    start = time.perf_counter()
    shape = engine.info.input_shape
    counts = [len(job.patterns) for job in jobs]
    X = torch.zeros(len(jobs), max(counts), *shape)  # [B, N, *S]
    for b, job in enumerate(jobs):
        X[b, : counts[b]] = torch.from_numpy(job.patterns).view(counts[b], *shape)
    mask = torch.arange(max(counts)) < torch.tensor(counts)[:, None]  # [B, N]
    theta = engine.write(X, mask)  # [B, P]
    count_call(len(jobs))
    checked = [b for b, job in enumerate(jobs) if job.self_check]
    errors: list[dict[str, float] | None] = [None] * len(jobs)
    if checked:
        generator = torch.Generator().manual_seed(SELF_CHECK_SEED)
        rows = torch.tensor(checked)
        by_family = engine.self_check(theta[rows], X[rows], mask[rows], generator)
        means = {name: e.cpu().tolist() for name, e in by_family.items()}  # {family: [checked]}
        for k, b in enumerate(checked):
            errors[b] = {name: float(e[k]) for name, e in means.items()}
    thetas = to_bytes(theta, engine.theta_dtype)
    engine_ms = 1000.0 * (time.perf_counter() - start)
    return [WriteOutcome(thetas[b], engine.theta_dtype, errors[b], engine_ms) for b in range(len(jobs))]


def _group_key(job: ReadJob) -> tuple[bool, bool, int]:
    """Reads share an engine call when they clamp alike (a read with nothing known may be read differently,
    see Engine.read), are all traced or all not, and their query counts share a bucket."""
    return job.known is None, job.trace, query_bucket(len(job.queries))


def read_batch(engine: Engine, count_call: CallCounter, jobs: Sequence[ReadJob]) -> list[ReadOutcome]:
    """B reads -> B answers, one engine.read per group of alike reads."""
    order = sorted(range(len(jobs)), key=lambda i: _group_key(jobs[i]))
    outcomes: dict[int, ReadOutcome] = {}
    for _, group in groupby(order, key=lambda i: _group_key(jobs[i])):
        indices = list(group)
        outcomes.update(zip(indices, _read_group(engine, [jobs[i] for i in indices]), strict=True))
        count_call(len(indices))
    return [outcomes[i] for i in range(len(jobs))]


def _read_group(engine: Engine, jobs: Sequence[ReadJob]) -> list[ReadOutcome]:
    info = engine.info
    counts = [len(job.queries) for job in jobs]
    batch, width = len(jobs), max(counts)
    theta = torch.from_numpy(np.stack([job.theta for job in jobs]))  # [B, P]
    Q = torch.zeros(batch, width, info.input_dim)  # [B, M, D]; padded rows are read and ignored
    clamp = any(job.known is not None for job in jobs)
    known = torch.zeros(batch, width, info.input_dim, dtype=torch.bool) if clamp else None
    for b, job in enumerate(jobs):
        Q[b, : counts[b]] = torch.from_numpy(job.queries)
        if known is not None and job.known is not None:
            known[b, : counts[b]] = torch.from_numpy(job.known)
    view = (batch, width, *info.input_shape)
    traced = jobs[0].trace  # a group is all traced or all not (_group_key)
    result = engine.read(theta, Q.view(view), None if known is None else known.view(view), trace=traced)
    answers = result.patterns.reshape(batch, width, info.input_dim).cpu()
    energies = result.energies.cpu().numpy()
    changed = engine.domain.changed(answers, Q).numpy()
    answers_np = _as_answers(engine, answers.numpy())
    traces: list[ReadTraceOutcome | None] = [None] * batch
    if result.trace is not None:
        path = _as_answers(engine, result.trace.patterns.reshape(batch, width, -1, info.input_dim).cpu().numpy())
        path_energies = result.trace.energies.cpu().numpy()
        traces = [
            ReadTraceOutcome(path[b, : counts[b]], path_energies[b, : counts[b]], result.trace.rounds)
            for b in range(batch)
        ]
    return [
        ReadOutcome(answers_np[b, : counts[b]], energies[b, : counts[b]], changed[b, : counts[b]], traces[b])
        for b in range(batch)
    ]


def _as_answers(engine: Engine, decoded: np.ndarray) -> np.ndarray:
    """Decoded states as clients get them: int8 for domains of discrete values (±1: one byte each, rendered as
    integers), float32 otherwise."""
    return decoded.astype(np.int8) if engine.domain.pattern_values is not None else decoded


@dataclass(frozen=True)
class ModelQueues:
    """One served model's two batch queues."""

    write: BatchQueue[WriteJob, WriteOutcome]
    read: BatchQueue[ReadJob, ReadOutcome]

    @classmethod
    def add(cls, batcher: Batcher, name: str, engine: Engine) -> ModelQueues:
        padded = engine.mode == "graph"
        count = batcher.metrics.count_engine_call
        return cls(
            batcher.add(name, Op.WRITE, partial(write_batch, engine, partial(count, name, Op.WRITE, padded))),
            batcher.add(name, Op.READ, partial(read_batch, engine, partial(count, name, Op.READ, padded))),
        )


@dataclass(frozen=True)
class LocalQueues:
    """Where a model version's queues come from when the engine runs in this process: this batcher's."""

    batcher: Batcher

    def add(self, model: str, checkpoint_hash: str, engine: Engine) -> ModelQueues:
        return ModelQueues.add(self.batcher, model, engine)

    async def remove(self, queues: ModelQueues) -> None:
        await self.batcher.remove(queues.write, queues.read)
