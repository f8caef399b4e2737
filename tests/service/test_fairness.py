"""Two tenants under load through a real server: a burst from one is refused (429 tenant_busy) and only that
tenant's; the other's requests are all answered, and the refusals are counted per tenant on /metrics."""

from __future__ import annotations

import asyncio

import httpx

from .conftest import KEYS, Bits


async def retrieve_burst(url: str, tenant: str, memory_id: str, queries: list[list[float]], count: int) -> list[int]:
    """`count` concurrent single-query retrieves by `tenant`: their statuses."""
    headers = {"Authorization": f"Bearer {KEYS[tenant]}"}
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30) as http:
        answers = await asyncio.gather(
            *(http.post(f"/memories/{memory_id}/retrieve", json={"queries": queries}) for _ in range(count))
        )
    for answer in answers:
        assert answer.status_code == 200 or answer.json()["error"]["type"] == "tenant_busy", answer.text
    return [answer.status_code for answer in answers]


def test_one_tenant_s_burst_is_refused_without_refusing_the_other(make_server, bits: Bits) -> None:
    # every batch waits 0.5 s for company, so the burst piles up in the queue while it arrives
    with make_server(tenant_max_queued=4, max_delay_ms=500.0) as server:
        ids = {}
        for tenant in ("alice", "bob"):
            with server.client(tenant) as client:
                ids[tenant] = client.write("tiny", bits.patterns(4)).id
        query = bits.patterns(1).tolist()

        async def both() -> tuple[list[int], list[int]]:
            return await asyncio.gather(
                retrieve_burst(server.url, "alice", ids["alice"], query, 48),
                retrieve_burst(server.url, "bob", ids["bob"], query, 4),
            )

        alice, bob = asyncio.run(both())
        assert bob == [200] * 4
        assert alice.count(429) > 0 and alice.count(200) >= 4
        metrics = httpx.get(f"{server.url}/metrics").text
        refused = {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line[0] != "#"
        }
        assert refused['ebmm_tenant_refusals_total{reason="tenant_busy",tenant="alice"}'] == alice.count(429)
        assert refused['ebmm_tenant_refusals_total{reason="tenant_busy",tenant="bob"}'] == 0
