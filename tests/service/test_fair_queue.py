"""The per-tenant waiting line: round-robin across tenants, FIFO within one, served tenants to the back."""

from __future__ import annotations

from service.fair_queue import FairQueue


def filled(*items: tuple[str, int]) -> FairQueue[tuple[str, int]]:
    queue: FairQueue[tuple[str, int]] = FairQueue()
    for tenant, n in items:
        queue.push(tenant, (tenant, n))
    return queue


def test_a_burst_does_not_push_another_tenant_to_the_back() -> None:
    queue = filled(*[("noisy", i) for i in range(10)], ("quiet", 0), ("quiet", 1))
    assert queue.take(4) == [("noisy", 0), ("quiet", 0), ("noisy", 1), ("quiet", 1)]
    assert len(queue) == 8 and queue.waiting("noisy") == 8 and queue.waiting("quiet") == 0


def test_tenants_left_out_of_a_batch_go_first_in_the_next() -> None:
    queue = filled(("a", 0), ("a", 1), ("b", 0), ("c", 0))
    assert queue.take(2) == [("a", 0), ("b", 0)]
    assert queue.take(2) == [("c", 0), ("a", 1)]
    assert len(queue) == 0 and queue.take(5) == []


def test_one_tenant_alone_is_served_in_arrival_order() -> None:
    queue = filled(*[("only", i) for i in range(5)])
    assert [next(queue.heads())] == [("only", 0)]
    assert queue.take(3) == [("only", 0), ("only", 1), ("only", 2)]
    assert queue.take(3) == [("only", 3), ("only", 4)]
