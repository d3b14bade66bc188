"""Keep freed memory in the process for reuse, on Linux with glibc (training on the CPU).

glibc serves allocations above its mmap threshold (at most 32 MiB) with fresh mmaps and returns
them to the OS when freed, and trims freed memory at the heap's top. A training step frees and
reallocates the same large activations every step, so each step pays the kernel for faulting in
and zeroing those pages again: at 64x64x3 that was a third of the VAE/GAN step's time
(docs/PERFORMANCE.md). With mmap off and trimming pushed to 2 GiB, freed blocks stay in the heap
and the next step reuses them, as PyTorch's CUDA allocator keeps freed GPU memory. The cost: the
process holds on to its peak memory until it exits.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_MAX = -4
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int: 2 GiB is as far as trimming can be pushed


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed memory for reuse; False where this is not glibc."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not Linux, or a libc without mallopt (musl)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
