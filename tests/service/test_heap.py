"""Start-up's heap is frozen out of the cyclic collector's walks; what requests allocate is still collected."""

from __future__ import annotations

import gc
from collections.abc import Callable

from service.heap import freeze_startup_heap

from .conftest import ServerThread


def test_a_started_server_has_frozen_its_startup_heap(make_server: Callable[..., ServerThread]) -> None:
    gc.unfreeze()
    try:
        with make_server():
            assert gc.get_freeze_count() > 10_000  # torch, the models, the app
    finally:
        gc.unfreeze()


def test_cycles_made_after_the_freeze_are_still_collected() -> None:
    try:
        assert freeze_startup_heap() > 0

        class Node:
            pass

        first, second = Node(), Node()
        first.other, second.other = second, first  # a cycle: only the cyclic collector frees it
        del first, second
        assert gc.collect() >= 2
    finally:
        gc.unfreeze()
