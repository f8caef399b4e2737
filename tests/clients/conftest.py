"""The clients run against the service tests' real servers (tiny checkpoints, embedded Redis, API keys)."""

from tests.service.conftest import bits, checkpoints, client, server  # noqa: F401  (pytest fixtures)
