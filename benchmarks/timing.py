"""Wall-clock timing shared by the benchmarks: device-synchronised, after a warm-up call."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> list[float]:
    """Seconds of each of `repeats` calls of fn(), after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times
