"""Headers every call of one client sends."""

from __future__ import annotations

from collections.abc import Mapping


def session_headers(api_key: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
    """`headers` plus `Authorization: Bearer <api_key>` when a key is given."""
    auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return {**(headers or {}), **auth}
