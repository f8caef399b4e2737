"""The load benchmark drives a real server: it shares the service tests' fixtures (tiny checkpoints, keys)."""

from tests.service.conftest import bits, checkpoints, client, engine, make_server, server  # noqa: F401  (pytest fixtures)
