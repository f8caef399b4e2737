"""How much a write batch slows when another thread of the same process holds the GIL part of the time.

The in-process server's engine thread shares the GIL with the event loop; each torch call of a write gives the
GIL up and must win it back. This times `Engine.write` of one batch alone, then beside a thread that holds the
GIL in 1 ms bursts for `--duty` of the time (as a busy event loop does), at each `--switch-interval`
(`sys.setswitchinterval`).

    .venv/bin/python scripts/gil_probe.py --batch 31 --duty 0.5 --switch-interval 0.005,0.001,0.0002
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import torch

from model.engine import Engine


def batch_ms(engine: Engine, X: torch.Tensor, repeats: int) -> float:
    engine.write(X)
    start = time.perf_counter()
    for _ in range(repeats):
        engine.write(X)
    return 1000.0 * (time.perf_counter() - start) / repeats


def busy(duty: float, stop: threading.Event) -> None:
    """Hold the GIL (pure Python work) for 1 ms, sleep for the rest of the duty cycle, until `stop`."""
    while not stop.is_set():
        start = time.perf_counter()
        while time.perf_counter() - start < 0.001:
            sum(range(100))
        time.sleep(0.001 * (1.0 - duty) / duty)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="checkpoints/binary128")
    parser.add_argument("--batch", type=int, default=31, help="memories per write (N = 32 patterns each)")
    parser.add_argument("--duty", type=float, default=0.5, help="share of the time the other thread holds the GIL")
    parser.add_argument("--switch-interval", default="0.005", help="comma-separated sys.setswitchinterval values")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    engine = Engine.from_checkpoint(args.checkpoint, "cpu", write_precision="auto")
    generator = torch.Generator().manual_seed(0)
    X = torch.randint(0, 2, (args.batch, 32, engine.info.input_dim), generator=generator).float() * 2 - 1
    for interval in (float(v) for v in args.switch_interval.split(",")):
        sys.setswitchinterval(interval)
        alone = batch_ms(engine, X, args.repeats)
        stop = threading.Event()
        other = threading.Thread(target=busy, args=(args.duty, stop))
        other.start()
        beside = batch_ms(engine, X, args.repeats)
        stop.set()
        other.join()
        print(
            f"switch interval {interval:g} s, {engine.write_dtype_name} products: a batch of {args.batch} writes "
            f"{alone:.1f} ms alone, {beside:.1f} ms beside a thread holding the GIL {args.duty:.0%} of the time"
        )


if __name__ == "__main__":
    main()
