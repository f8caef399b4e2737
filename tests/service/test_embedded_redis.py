"""The embedded redis-server: append-only with fsync, a stable socket across restarts, one server per data dir."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from service.embedded_redis import AOF_FILE, EmbeddedRedis


def test_restart_keeps_url_and_data_and_a_second_server_is_refused(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path / "data")
    url = first.start()
    try:
        with redis.Redis.from_url(url) as r:
            assert r.config_get("appendfsync") == {"appendfsync": "always"}
            assert r.config_get("save") == {"save": ""}  # no snapshot forks: the AOF is the durable copy
            r.set("k", "v")
        assert (tmp_path / "data" / AOF_FILE).stat().st_size > 0
        second = EmbeddedRedis(tmp_path / "data")
        with pytest.raises(RuntimeError, match="is still serving"):
            second.start(timeout_s=0.5)
        second.stop()
        first.stop()
        assert first.start() == url
        with redis.Redis.from_url(url) as r:
            assert r.get("k") == b"v"
    finally:
        first.stop()
    assert url == f"unix://{tmp_path / 'data' / 'redis.sock'}"


def test_a_data_dir_too_deep_for_a_socket_path_gets_a_temp_socket(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / ("d" * 100))
    try:
        with redis.Redis.from_url(server.start()) as r:
            assert r.ping()
        socket_dir = server.socket.parent
        assert socket_dir != server.data_dir
    finally:
        server.stop()
    assert not socket_dir.exists()
