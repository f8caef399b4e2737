"""Model versions: serving a new checkpoint never orphans a memory. Servers with one, two and three versions of
`tiny` share one real Redis, as replicas of a rolling upgrade do; each memory is read by the version that wrote it,
older versions load on demand within a bound, and a version still in use cannot be retired."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from model.checkpoint import checkpoint_hash, save_checkpoint
from model.config import tiny_binary_config
from model.memory import EnergyMemory
from service.embedded_redis import EmbeddedRedis
from service.serve_process import ROOT, serve_env

from .conftest import KEYS, TENANT, Bits, ServerThread, settings_for

AUTH = {"Authorization": f"Bearer {KEYS[TENANT]}"}


def version_dirs(root: Path, labels: list[str]) -> Path:
    """`root/tiny/<label>/`: a tiny binary checkpoint per label, seeded by the label (so each differs)."""
    for label in labels:
        torch.manual_seed(int(label))
        save_checkpoint(EnergyMemory(tiny_binary_config(max_patterns=48, distortion_size=8)), root / "tiny" / label)
    return root


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server all the servers of a test share."""
    server = EmbeddedRedis(tmp_path / "redis")
    yield server.start()
    server.stop()


def server_on(root: Path, tmp_path: Path, redis_url: str, **changes: object) -> ServerThread:
    return ServerThread(settings_for(root, tmp_path / "unused", redis_url=redis_url, **changes))


def versions_of(http: httpx.Client) -> list[dict]:
    (model,) = [m for m in http.get("/models").json()["models"] if m["name"] == "tiny"]
    return model["versions"]


class Traffic(threading.Thread):
    """Writes a memory, reads it back, over and over, against whichever server `url` names now; records every
    answer and every failure."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop = url, threading.Event()
        self.written: dict[str, tuple[list, list]] = {}  # id -> (query, answer)
        self.failures: list[str] = []
        self.served_by: list[str] = []  # the URL of each finished round
        self.bits = Bits(seed=7)

    def run(self) -> None:
        with httpx.Client(headers=AUTH, timeout=30) as http:
            while not self.stop.is_set():
                url = self.url
                X = self.bits.patterns(4)
                query = self.bits.erase(X, 8).tolist()
                created = http.post(f"{url}/memories", json={"model": "tiny", "patterns": X.tolist()})
                if created.status_code != 201:
                    self.failures.append(created.text)
                    continue
                answer = http.post(f"{url}/memories/{created.json()['id']}/retrieve", json={"queries": query})
                if answer.status_code != 200:
                    self.failures.append(answer.text)
                    continue
                self.written[created.json()["id"]] = (query, answer.json()["patterns"])
                self.served_by.append(url)


def rounds_on(traffic: Traffic, url: str, count: int) -> None:
    """Wait until the traffic has finished `count` rounds on `url`."""
    for _ in range(3000):
        if traffic.served_by.count(url) >= count or not traffic.is_alive():
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"traffic made no progress on {url}")


def test_an_upgrade_under_live_traffic_loses_nothing(tmp_path: Path, redis_url: str) -> None:
    old_root = version_dirs(tmp_path / "old", ["1"])
    new_root = version_dirs(tmp_path / "new", ["1", "2"])
    v1, v2 = checkpoint_hash(new_root / "tiny" / "1"), checkpoint_hash(new_root / "tiny" / "2")
    assert v1 == checkpoint_hash(old_root / "tiny" / "1") and v1 != v2

    old = server_on(old_root, tmp_path, redis_url).__enter__()
    traffic = Traffic(old.url)
    traffic.start()
    rounds_on(traffic, old.url, 5)
    with server_on(new_root, tmp_path, redis_url) as new:  # the new replica comes up, traffic moves to it
        traffic.url = new.url
        rounds_on(traffic, new.url, 5)
        old.__exit__(None, None, None)  # the old replica drains and stops
        rounds_on(traffic, new.url, 10)
        traffic.stop.set()
        traffic.join(timeout=60)
        assert traffic.failures == []

        with httpx.Client(base_url=new.url, headers=AUTH) as http:
            by_version = {v1: 0, v2: 0}
            for memory_id, (query, answer) in traffic.written.items():
                memory = http.get(f"/memories/{memory_id}").json()
                by_version[memory["checkpoint_hash"]] += 1
                again = http.post(f"/memories/{memory_id}/retrieve", json={"queries": query})
                assert again.status_code == 200 and again.json()["patterns"] == answer  # read by its own version
            assert by_version[v1] >= 5 and by_version[v2] >= 10
            listed = versions_of(http)
            assert [(v["version"], v["checkpoint_hash"], v["newest"], v["memories"]) for v in listed] == [
                ("1", v1, False, by_version[v1]),
                ("2", v2, True, by_version[v2]),
            ]
            metrics = http.get("/metrics").text
            assert f'ebmm_model_version_memories{{model="tiny",version="1"}} {float(by_version[v1])}' in metrics

            # version 1 cannot be retired while its memories live, nor can the newest
            code, said = retire(new_root, redis_url, "1")
            assert code == 1 and f"refused: {by_version[v1]} memories still use version 1 of tiny" in said
            code, said = retire(new_root, redis_url, "2")
            assert code == 1 and "version 2 is the newest of tiny" in said
            v1_memories = [i for i in traffic.written if http.get(f"/memories/{i}").json()["checkpoint_hash"] == v1]
            http.delete(f"/memories/{v1_memories[0]}")
            code, said = retire(new_root, redis_url, "1", "--force")
            assert code == 0 and f"retired tiny version 1 ({v1}), {by_version[v1] - 1} memories deleted" in said
            assert (new_root / "tiny" / "retired" / "1" / "config.json").exists()
            assert all(http.get(f"/memories/{i}").status_code == 404 for i in v1_memories)

    with (
        server_on(new_root, tmp_path, redis_url) as restarted,
        httpx.Client(base_url=restarted.url, headers=AUTH) as http,
    ):
        assert [v["version"] for v in versions_of(http)] == ["2"]


def retire(root: Path, redis_url: str, label: str, *flags: str) -> tuple[int, str]:
    """`ebmm models retire tiny <label>`: its exit code and what it printed (on one line)."""
    env = serve_env({"EBMM_CHECKPOINT_DIR": str(root), "EBMM_REDIS_URL": redis_url})
    command = [sys.executable, "-m", "ebmm.cli", "models", "retire", "tiny", label, *flags]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    return done.returncode, " ".join(done.stdout.split())


def test_old_versions_load_on_demand_and_stay_bounded(tmp_path: Path, redis_url: str, bits: Bits) -> None:
    root = tmp_path / "checkpoints"
    written = {}
    for labels in (["1"], ["1", "2"]):  # each newest version writes one memory
        version_dirs(root, labels)
        with server_on(root, tmp_path, redis_url) as server, httpx.Client(base_url=server.url, headers=AUTH) as http:
            X = bits.patterns(4)
            written[labels[-1]] = (
                http.post("/memories", json={"model": "tiny", "patterns": X.tolist()}).json()["id"],
                X,
            )
    version_dirs(root, ["3"])
    with (
        server_on(root, tmp_path, redis_url, max_old_versions=1) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as http,
    ):
        loaded = lambda: [v["loaded"] for v in versions_of(http)]  # noqa: E731
        assert loaded() == [False, False, True]
        for label, expected in (("1", [True, False, True]), ("2", [False, True, True]), ("1", [True, False, True])):
            memory_id, X = written[label]
            answer = http.post(f"/memories/{memory_id}/retrieve", json={"queries": X.tolist()})
            assert answer.status_code == 200 and np.array_equal(answer.json()["patterns"], X)
            assert loaded() == expected
        shutil.rmtree(root / "tiny" / "2")  # gone from disk while unloaded: its memories cannot be read
        answer = http.post(f"/memories/{written['2'][0]}/retrieve", json={"queries": written["2"][1].tolist()})
        assert answer.status_code == 503 and answer.json()["error"]["type"] == "unavailable"
